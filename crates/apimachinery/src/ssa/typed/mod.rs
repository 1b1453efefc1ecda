//! Schema-directed walks over JSON values: validation, field-set extraction, merge,
//! comparison and removal.
//!
//! Each walk reproduces the corresponding structured-merge-diff `typed` walker, because
//! the exact rules (when a node is a leaf, when a struct field is recorded, how list
//! order is merged) decide what ends up in managedFields and in the merged object.

use crate::ssa::path::PathElement;
use crate::ssa::schema::{
    resolve, ListDef, ListType, MapDef, MapType, ScalarType, Schema, TypeDef, TypeRef,
};
use crate::ssa::set::FieldSet;
use crate::ssa::value::equals;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

mod compare;
mod merge;
#[cfg(test)]
mod tests;

pub use compare::Comparison;

static NULL: Value = Value::Null;

/// A problem with an object's shape relative to its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// Field path in upstream's notation, e.g. `.spec.containers[name="a"].env`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Several validation errors, printed like upstream's `ValidationErrors`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 {
            return write!(f, "{}", self.0[0]);
        }
        write!(f, "errors:")?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

#[derive(Clone, Copy)]
enum Atom<'a> {
    Scalar(ScalarType),
    List(&'a ListDef),
    Map(&'a MapDef),
}

impl Atom<'_> {
    fn same_kind(&self, other: &Atom<'_>) -> bool {
        matches!(
            (self, other),
            (Atom::Scalar(_), Atom::Scalar(_))
                | (Atom::List(_), Atom::List(_))
                | (Atom::Map(_), Atom::Map(_))
        )
    }
}

/// Picks the shape of `def` that applies to `v`, like upstream's deduceAtom+handleAtom:
/// the value's own shape if allowed, otherwise map, scalar, list in that order (null
/// and mismatched values then fail or read as empty further down).
fn atom_for<'a>(def: &'a TypeDef, v: Option<&Value>) -> Option<Atom<'a>> {
    let by_value = match v {
        Some(Value::Array(_)) => def.list.as_ref().map(Atom::List),
        Some(Value::Object(_)) => def.map.as_ref().map(Atom::Map),
        Some(Value::Null) | None => None,
        Some(_) => def.scalar.map(Atom::Scalar),
    };
    by_value.or_else(|| {
        def.map
            .as_ref()
            .map(Atom::Map)
            .or_else(|| def.scalar.map(Atom::Scalar))
            .or_else(|| def.list.as_ref().map(Atom::List))
    })
}

fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 100 {
        let mut end = 100;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

fn type_name(t: &TypeRef) -> String {
    match t {
        TypeRef::Named(n) => n.clone(),
        _ => "inlined type".to_string(),
    }
}

fn as_list(v: Option<&Value>) -> Option<&Vec<Value>> {
    match v {
        Some(Value::Array(a)) => Some(a),
        _ => None,
    }
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Walkers bound to a schema.
#[derive(Clone, Copy)]
pub struct Typed<'s> {
    schema: &'s dyn Schema,
}

impl<'s> Typed<'s> {
    /// Binds the walkers to a schema.
    pub fn new(schema: &'s dyn Schema) -> Self {
        Typed { schema }
    }

    /// The path element identifying `item` within an associative `list`.
    pub(crate) fn item_pe(&self, list: &ListDef, item: &Value) -> Result<PathElement, String> {
        match &list.list_type {
            ListType::Atomic => Err("invalid indexing of non-associative list".into()),
            ListType::Map(keys) => {
                let m = match item {
                    Value::Object(m) => m,
                    Value::Null => {
                        return Err("associative list with keys may not have a null element".into())
                    }
                    _ => {
                        return Err(
                            "associative list with keys may not have non-map elements".into()
                        )
                    }
                };
                let mut fields = Vec::new();
                for k in keys {
                    if let Some(v) = m.get(k) {
                        fields.push((k.clone(), v.clone()));
                    } else if let Some(d) = self.key_default(list, k)? {
                        fields.push((k.clone(), d));
                    }
                }
                if !keys.is_empty() && fields.is_empty() {
                    let quoted: Vec<String> = keys
                        .iter()
                        .map(|k| crate::ssa::value::go_quote(k))
                        .collect();
                    return Err(format!(
                        "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                        quoted.join(" ")
                    ));
                }
                Ok(PathElement::key(fields))
            }
            ListType::Set => match item {
                Value::Object(_) => {
                    Err("associative list without keys has an element that's a map type".into())
                }
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".into())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null".into(),
                ),
                v => Ok(PathElement::Value(v.clone())),
            },
        }
    }

    fn key_default(&self, list: &ListDef, key: &str) -> Result<Option<Value>, String> {
        let def = resolve(self.schema, &list.element).ok_or("invalid elementType for list")?;
        let map = def
            .map
            .as_ref()
            .ok_or("associative list may not have non-map types")?;
        Ok(map.fields.get(key).and_then(|f| f.default.clone()))
    }

    // ----------------------------------------------------------------- validation

    /// Validates `v` against `ty`. Duplicated associative keys are errors unless
    /// `allow_duplicates` (upstream tolerates them in stored objects, never in applied
    /// configurations).
    pub fn validate(
        &self,
        ty: &TypeRef,
        v: &Value,
        allow_duplicates: bool,
    ) -> Result<(), ValidationErrors> {
        let mut errs = Vec::new();
        let mut path = Vec::new();
        self.validate_node(ty, v, allow_duplicates, &mut path, &mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errs))
        }
    }

    fn validate_node(
        &self,
        ty: &TypeRef,
        v: &Value,
        allow_dups: bool,
        path: &mut Vec<PathElement>,
        errs: &mut Vec<ValidationError>,
    ) {
        let err = |errs: &mut Vec<ValidationError>, path: &[PathElement], message: String| {
            errs.push(ValidationError {
                path: path_string(path),
                message,
            });
        };
        let Some(def) = resolve(self.schema, ty) else {
            err(
                errs,
                path,
                format!("schema error: no type found matching: {}", type_name(ty)),
            );
            return;
        };
        let Some(atom) = atom_for(def, Some(v)) else {
            err(
                errs,
                path,
                format!("schema error: invalid atom: {}", type_name(ty)),
            );
            return;
        };
        match atom {
            Atom::Scalar(s) => {
                let ok = matches!(
                    (s, v),
                    (_, Value::Null)
                        | (ScalarType::Numeric, Value::Number(_))
                        | (ScalarType::String, Value::String(_))
                        | (ScalarType::Boolean, Value::Bool(_))
                        | (
                            ScalarType::Untyped,
                            Value::Number(_) | Value::String(_) | Value::Bool(_)
                        )
                );
                if !ok {
                    let what = match s {
                        ScalarType::Numeric => "numeric (int or float)",
                        ScalarType::String => "string",
                        ScalarType::Boolean => "boolean",
                        ScalarType::Untyped => "any scalar",
                    };
                    err(errs, path, format!("expected {what}, got {}", short(v)));
                }
            }
            Atom::List(l) => {
                let items = match v {
                    Value::Null => return,
                    Value::Array(a) => a,
                    other => {
                        err(errs, path, format!("expected list, got {}", short(other)));
                        return;
                    }
                };
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = if l.list_type == ListType::Atomic {
                        PathElement::Index(i as i64)
                    } else {
                        match self.item_pe(l, item) {
                            Ok(pe) => pe,
                            Err(e) => {
                                err(errs, path, format!("element {i}: {e}"));
                                return;
                            }
                        }
                    };
                    if l.list_type != ListType::Atomic {
                        if seen.contains(&pe) && !allow_dups {
                            err(errs, path, format!("duplicate entries for key {pe}"));
                        }
                        seen.insert(pe.clone());
                    }
                    path.push(pe);
                    self.validate_node(&l.element, item, allow_dups, path, errs);
                    path.pop();
                }
            }
            Atom::Map(m) => {
                let entries = match v {
                    Value::Null => return,
                    Value::Object(o) => o,
                    other => {
                        err(errs, path, format!("expected map, got {}", short(other)));
                        return;
                    }
                };
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                for k in keys {
                    path.push(PathElement::Field(k.clone()));
                    match m.lookup(k) {
                        Some((t, _)) => {
                            if let Some(val) = entries.get(k) {
                                self.validate_node(t, val, allow_dups, path, errs);
                            }
                            path.pop();
                        }
                        None => {
                            err(errs, path, "field not declared in schema".into());
                            path.pop();
                            return;
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ field sets

    /// The set of fields `v` sets, as recorded for an applier: leaves, list items (as
    /// whole items and field by field), map entries, empty/null values, and atomic
    /// nodes as single members. Declared struct fields with content are implied by their
    /// children and not recorded.
    pub fn to_field_set(&self, ty: &TypeRef, v: &Value) -> FieldSet {
        let mut set = FieldSet::new();
        let mut path = Vec::new();
        self.field_set_node(ty, v, &mut path, &mut set);
        set
    }

    fn field_set_node(
        &self,
        ty: &TypeRef,
        v: &Value,
        path: &mut Vec<PathElement>,
        set: &mut FieldSet,
    ) {
        let Some(def) = resolve(self.schema, ty) else {
            return;
        };
        let Some(atom) = atom_for(def, Some(v)) else {
            return;
        };
        match atom {
            Atom::Scalar(_) => set.insert(path),
            Atom::List(l) => {
                if l.list_type == ListType::Atomic {
                    set.insert(path);
                    return;
                }
                let Value::Array(items) = v else { return };
                let mut seen = BTreeSet::new();
                let mut dups = BTreeSet::new();
                let pes: Vec<Option<PathElement>> =
                    items.iter().map(|i| self.item_pe(l, i).ok()).collect();
                for pe in pes.iter().flatten() {
                    if !seen.insert(pe.clone()) && dups.insert(pe.clone()) {
                        // Duplicated items are owned as a whole, never field by field.
                        path.push(pe.clone());
                        set.insert(path);
                        path.pop();
                    }
                }
                for (item, pe) in items.iter().zip(pes) {
                    let Some(pe) = pe else { continue };
                    if dups.contains(&pe) {
                        continue;
                    }
                    path.push(pe);
                    self.field_set_node(&l.element, item, path, set);
                    set.insert(path);
                    path.pop();
                }
            }
            Atom::Map(m) => {
                if m.map_type == MapType::Atomic {
                    set.insert(path);
                    return;
                }
                let Value::Object(entries) = v else { return };
                for (k, val) in entries {
                    let (t, declared) = match m.lookup(k) {
                        Some((t, d)) => (t.clone(), d),
                        None => (TypeRef::UntypedAtomic, false),
                    };
                    path.push(PathElement::Field(k.clone()));
                    self.field_set_node(&t, val, path, set);
                    let empty_map = matches!(val, Value::Object(o) if o.is_empty());
                    if val.is_null() || empty_map || !declared {
                        set.insert(path);
                    }
                    path.pop();
                }
            }
        }
    }

    // ---------------------------------------------------------------------- remove

    /// Removes the members of `to_remove` (and everything below them) from `v`.
    /// Containers emptied by the removal become `null`, as upstream leaves them.
    pub fn remove_items(&self, ty: &TypeRef, v: &Value, to_remove: &FieldSet) -> Value {
        let Some(def) = resolve(self.schema, ty) else {
            return v.clone();
        };
        match atom_for(def, Some(v)) {
            None | Some(Atom::Scalar(_)) => v.clone(),
            Some(Atom::List(l)) => {
                let Value::Array(items) = v else {
                    return Value::Null;
                };
                if items.is_empty() || l.list_type == ListType::Atomic {
                    return Value::Null;
                }
                let mut out = Vec::new();
                for item in items {
                    let Ok(pe) = self.item_pe(l, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if to_remove.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    match to_remove.child(&pe).filter(|s| !s.is_empty()) {
                        Some(sub) => out.push(self.remove_items(&l.element, item, sub)),
                        None => out.push(item.clone()),
                    }
                }
                if out.is_empty() {
                    Value::Null
                } else {
                    Value::Array(out)
                }
            }
            Some(Atom::Map(m)) => {
                let Value::Object(entries) = v else {
                    return Value::Null;
                };
                if entries.is_empty() || m.map_type == MapType::Atomic {
                    return Value::Null;
                }
                let mut out = Map::new();
                for (k, val) in entries {
                    let pe = PathElement::Field(k.clone());
                    if to_remove.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    let t = m
                        .lookup(k)
                        .map(|(t, _)| t.clone())
                        .unwrap_or(TypeRef::UntypedAtomic);
                    match to_remove.child(&pe).filter(|s| !s.is_empty()) {
                        Some(sub) => out.insert(k.clone(), self.remove_items(&t, val, sub)),
                        None => out.insert(k.clone(), val.clone()),
                    };
                }
                if out.is_empty() {
                    Value::Null
                } else {
                    Value::Object(out)
                }
            }
        }
    }

    /// Adds declared struct fields that have owned children as members themselves, so
    /// that pruning a manager's fields also removes the struct field that held them.
    pub fn ensure_named_fields_are_members(
        &self,
        set: &FieldSet,
        ty: Option<&TypeRef>,
    ) -> FieldSet {
        let def = ty.and_then(|t| resolve(self.schema, t));
        let map = def.and_then(|d| d.map.as_ref());
        let list = def.and_then(|d| d.list.as_ref());
        let mut out = FieldSet {
            members: set.members.clone(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &set.children {
            let child_ty = match (pe, map, list) {
                (PathElement::Field(name), Some(m), _) => {
                    let found = m.lookup(name);
                    if let Some((_, true)) = found {
                        out.members.insert(pe.clone());
                    }
                    found.map(|(t, _)| t)
                }
                (PathElement::Key(_), _, Some(l)) => Some(&l.element),
                _ => None,
            };
            out.children.insert(
                pe.clone(),
                self.ensure_named_fields_are_members(child, child_ty),
            );
        }
        out
    }
}
