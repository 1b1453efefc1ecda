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

/// Result of comparing two objects: which leaf/structural paths were added, changed or
/// removed going from the old to the new object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Present only in the new object.
    pub added: FieldSet,
    /// Present in both with different values (leaves only).
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

impl Comparison {
    /// True if the objects are equivalent.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Drops ignored subtrees (reset fields such as `.status`).
    pub fn exclude(&mut self, ignored: &FieldSet) {
        if ignored.is_empty() {
            return;
        }
        self.added = self.added.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.removed = self.removed.recursive_difference(ignored);
    }
}

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

    // ----------------------------------------------------------------------- merge

    /// Merges `rhs` (an applied configuration) into `lhs` (the live object): rhs wins
    /// for leaves and atomic nodes, granular maps merge by key, associative lists merge
    /// by item identity keeping live-only items in place.
    pub fn merge(&self, ty: &TypeRef, lhs: &Value, rhs: &Value) -> Result<Value, ValidationErrors> {
        let mut errs = Vec::new();
        let mut path = Vec::new();
        let out = self.merge_node(ty, Some(lhs), Some(rhs), &mut path, &mut errs);
        if errs.is_empty() {
            Ok(out.unwrap_or(Value::Null))
        } else {
            Err(ValidationErrors(errs))
        }
    }

    fn merge_node(
        &self,
        ty: &TypeRef,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        errs: &mut Vec<ValidationError>,
    ) -> Option<Value> {
        let keep_rhs = || rhs.or(lhs).cloned();
        let Some(def) = resolve(self.schema, ty) else {
            errs.push(ValidationError {
                path: path_string(path),
                message: format!("schema error: no type found matching: {}", type_name(ty)),
            });
            return keep_rhs();
        };
        let atom = if rhs.is_some() {
            atom_for(def, rhs)
        } else {
            atom_for(def, lhs)
        };
        match atom {
            None | Some(Atom::Scalar(_)) => keep_rhs(),
            Some(Atom::List(l)) => {
                let (ll, rl) = (as_list(lhs), as_list(rhs));
                let empty = ll.is_none_or(|v| v.is_empty()) && rl.is_none_or(|v| v.is_empty());
                if l.list_type == ListType::Atomic || empty {
                    return keep_rhs();
                }
                self.merge_list(l, ll, rl, path, errs)
            }
            Some(Atom::Map(m)) => {
                let (lm, rm) = (as_map(lhs), as_map(rhs));
                let empty = lm.is_none_or(|v| v.is_empty()) && rm.is_none_or(|v| v.is_empty());
                if m.map_type == MapType::Atomic || empty {
                    return keep_rhs();
                }
                let mut out = Map::new();
                let mut keys: Vec<&String> = lm
                    .iter()
                    .flat_map(|m| m.keys())
                    .chain(rm.iter().flat_map(|m| m.keys()))
                    .collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let t = m
                        .lookup(k)
                        .map(|(t, _)| t.clone())
                        .unwrap_or(TypeRef::UntypedAtomic);
                    path.push(PathElement::Field(k.clone()));
                    let merged = self.merge_node(
                        &t,
                        lm.and_then(|m| m.get(k)),
                        rm.and_then(|m| m.get(k)),
                        path,
                        errs,
                    );
                    path.pop();
                    if let Some(v) = merged {
                        out.insert(k.clone(), v);
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(Value::Object(out))
                }
            }
        }
    }

    /// Associative-list merge with upstream's ordering: items keep the live order,
    /// except that items present in the configuration follow the configuration's order
    /// and new items are placed right after their predecessor in the configuration.
    fn merge_list(
        &self,
        l: &ListDef,
        lhs: Option<&Vec<Value>>,
        rhs: Option<&Vec<Value>>,
        path: &mut Vec<PathElement>,
        errs: &mut Vec<ValidationError>,
    ) -> Option<Value> {
        let mut local_errs = Vec::new();
        let mut rhs_pes = Vec::new();
        let mut observed_r: BTreeMap<PathElement, &Value> = BTreeMap::new();
        for (i, item) in rhs.into_iter().flatten().enumerate() {
            match self.item_pe(l, item) {
                Ok(pe) => {
                    if observed_r.contains_key(&pe) {
                        local_errs.push(ValidationError {
                            path: path_string(path),
                            message: format!("duplicate entries for key {pe}"),
                        });
                        continue;
                    }
                    observed_r.insert(pe.clone(), item);
                    rhs_pes.push(pe);
                }
                Err(e) => local_errs.push(ValidationError {
                    path: path_string(path),
                    message: format!("element {i}: {e}"),
                }),
            }
        }
        let mut lhs_pes = Vec::new();
        let mut observed_l: BTreeMap<PathElement, &Value> = BTreeMap::new();
        for (i, item) in lhs.into_iter().flatten().enumerate() {
            match self.item_pe(l, item) {
                Ok(pe) => {
                    // Duplicated live items are not merged with the configuration.
                    if observed_l.contains_key(&pe) {
                        observed_l.insert(pe.clone(), &NULL);
                    } else {
                        observed_l.insert(pe.clone(), item);
                    }
                    lhs_pes.push(pe);
                }
                Err(e) => local_errs.push(ValidationError {
                    path: path_string(path),
                    message: format!("element {i}: {e}"),
                }),
            }
        }
        if !local_errs.is_empty() {
            errs.extend(local_errs);
            return None;
        }
        let lhs_items: &[Value] = lhs.map(Vec::as_slice).unwrap_or(&[]);
        let mut shared: VecDeque<&PathElement> = rhs_pes
            .iter()
            .filter(|pe| observed_l.contains_key(*pe))
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out = Vec::new();
        let (ll, rl) = (lhs_pes.len(), rhs_pes.len());
        let (mut li, mut ri) = (0, 0);
        let mut item = |pe: &PathElement,
                        lc: Option<&Value>,
                        rc: Option<&Value>,
                        out: &mut Vec<Value>,
                        errs: &mut Vec<ValidationError>| {
            path.push(pe.clone());
            if let Some(v) = self.merge_node(&l.element, lc, rc, path, errs) {
                out.push(v);
            }
            path.pop();
        };
        while li < ll || ri < rl {
            if li < ll && ri < rl {
                let pe = &lhs_pes[li];
                if *pe == rhs_pes[ri] {
                    merged_rhs.insert(pe);
                    item(
                        pe,
                        observed_l.get(pe).copied(),
                        observed_r.get(pe).copied(),
                        &mut out,
                        errs,
                    );
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if observed_r.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                    // Shared item, but not the one the configuration wants next.
                    li += 1;
                    continue;
                }
            }
            if li < ll {
                let pe = &lhs_pes[li];
                if !observed_r.contains_key(pe) {
                    item(pe, lhs_items.get(li), None, &mut out, errs);
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                }
            }
            if ri < rl {
                let pe = &rhs_pes[ri];
                merged_rhs.insert(pe);
                item(
                    pe,
                    observed_l.get(pe).copied(),
                    observed_r.get(pe).copied(),
                    &mut out,
                    errs,
                );
                ri += 1;
                if next_shared.is_some_and(|n| n == pe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        }
    }

    // --------------------------------------------------------------------- compare

    /// Compares `lhs` (old) with `rhs` (new), each of which has passed [`Typed::validate`].
    pub fn compare(
        &self,
        ty: &TypeRef,
        lhs: &Value,
        rhs: &Value,
    ) -> Result<Comparison, ValidationErrors> {
        let mut cmp = Comparison::default();
        let mut errs = Vec::new();
        let mut path = Vec::new();
        self.compare_node(ty, Some(lhs), Some(rhs), &mut path, &mut cmp, &mut errs);
        if errs.is_empty() {
            Ok(cmp)
        } else {
            Err(ValidationErrors(errs))
        }
    }

    fn compare_node(
        &self,
        ty: &TypeRef,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        cmp: &mut Comparison,
        errs: &mut Vec<ValidationError>,
    ) {
        // Equal subtrees hold no differences. Callers validate both objects first, so
        // walking one (most of an object, on a typical update) would only repeat that.
        if let (Some(l), Some(r)) = (lhs, rhs) {
            if l == r {
                return;
            }
        }
        let Some(def) = resolve(self.schema, ty) else {
            errs.push(ValidationError {
                path: path_string(path),
                message: format!("schema error: no type found matching: {}", type_name(ty)),
            });
            return;
        };
        let alhs = atom_for(def, lhs);
        let arhs = atom_for(def, rhs);
        let in_leaf = match (lhs, rhs) {
            (_, None) => self.compare_atom(alhs, lhs, rhs, path, cmp, errs),
            (None, _) => self.compare_atom(arhs, lhs, rhs, path, cmp, errs),
            _ => match (alhs, arhs) {
                (Some(a), Some(b)) if !a.same_kind(&b) => {
                    self.compare_atom(alhs, lhs, rhs, path, cmp, errs);
                    self.compare_atom(arhs, lhs, rhs, path, cmp, errs)
                }
                _ => self.compare_atom(arhs, lhs, rhs, path, cmp, errs),
            },
        };
        if !in_leaf {
            if lhs.is_none() {
                cmp.added.insert(path);
            } else if rhs.is_none() {
                cmp.removed.insert(path);
            }
        }
    }

    /// Compares with a given shape; returns whether the node was treated as a leaf.
    fn compare_atom(
        &self,
        atom: Option<Atom<'_>>,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        cmp: &mut Comparison,
        errs: &mut Vec<ValidationError>,
    ) -> bool {
        let leaf = |cmp: &mut Comparison, path: &[PathElement]| {
            match (lhs, rhs) {
                (None, _) => cmp.added.insert(path),
                (_, None) => cmp.removed.insert(path),
                (Some(l), Some(r)) => {
                    if !equals(l, r) {
                        cmp.modified.insert(path);
                    }
                }
            }
            true
        };
        match atom {
            None | Some(Atom::Scalar(_)) => leaf(cmp, path),
            Some(Atom::List(l)) => {
                let (ll, rl) = (as_list(lhs), as_list(rhs));
                let empty = ll.is_none_or(|v| v.is_empty()) && rl.is_none_or(|v| v.is_empty());
                if l.list_type == ListType::Atomic || empty {
                    return leaf(cmp, path);
                }
                self.compare_list(l, ll, rl, path, cmp, errs);
                false
            }
            Some(Atom::Map(m)) => {
                let (lm, rm) = (as_map(lhs), as_map(rhs));
                let empty = lm.is_none_or(|v| v.is_empty()) && rm.is_none_or(|v| v.is_empty());
                if m.map_type == MapType::Atomic || empty {
                    return leaf(cmp, path);
                }
                let mut keys: Vec<&String> = lm
                    .iter()
                    .flat_map(|m| m.keys())
                    .chain(rm.iter().flat_map(|m| m.keys()))
                    .collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let t = m
                        .lookup(k)
                        .map(|(t, _)| t.clone())
                        .unwrap_or(TypeRef::UntypedAtomic);
                    path.push(PathElement::Field(k.clone()));
                    self.compare_node(
                        &t,
                        lm.and_then(|m| m.get(k)),
                        rm.and_then(|m| m.get(k)),
                        path,
                        cmp,
                        errs,
                    );
                    path.pop();
                }
                false
            }
        }
    }

    fn compare_list(
        &self,
        l: &ListDef,
        lhs: Option<&Vec<Value>>,
        rhs: Option<&Vec<Value>>,
        path: &mut Vec<PathElement>,
        cmp: &mut Comparison,
        errs: &mut Vec<ValidationError>,
    ) {
        let mut all: Vec<PathElement> = Vec::new();
        let mut lvals: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
        let mut rvals: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
        for (i, item) in lhs.into_iter().flatten().enumerate() {
            match self.item_pe(l, item) {
                Ok(pe) => {
                    let e = lvals.entry(pe.clone()).or_default();
                    if e.is_empty() {
                        all.push(pe);
                    }
                    e.push(item);
                }
                Err(e) => errs.push(ValidationError {
                    path: path_string(path),
                    message: format!("element {i}: {e}"),
                }),
            }
        }
        for (i, item) in rhs.into_iter().flatten().enumerate() {
            match self.item_pe(l, item) {
                Ok(pe) => {
                    let e = rvals.entry(pe.clone()).or_default();
                    if e.is_empty() && !lvals.contains_key(&pe) {
                        all.push(pe);
                    }
                    e.push(item);
                }
                Err(e) => errs.push(ValidationError {
                    path: path_string(path),
                    message: format!("element {i}: {e}"),
                }),
            }
        }
        for pe in all {
            let lv = lvals.get(&pe).map(Vec::as_slice).unwrap_or(&[]);
            let rv = rvals.get(&pe).map(Vec::as_slice).unwrap_or(&[]);
            path.push(pe);
            if lv.len() <= 1 && rv.len() <= 1 {
                self.compare_node(
                    &l.element,
                    lv.first().copied(),
                    rv.first().copied(),
                    path,
                    cmp,
                    errs,
                );
            } else if lv.len() >= 2 && rv.len() >= 2 {
                let same = lv.len() == rv.len() && lv.iter().zip(rv).all(|(a, b)| equals(a, b));
                if !same {
                    cmp.modified.insert(path);
                }
            } else if lv.len() >= 2 {
                if let Some(r) = rv.first() {
                    self.compare_node(&l.element, None, Some(r), path, cmp, errs);
                }
                cmp.removed.insert(path);
            } else {
                if let Some(lf) = lv.first() {
                    self.compare_node(&l.element, Some(lf), None, path, cmp, errs);
                }
                cmp.added.insert(path);
            }
            path.pop();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::schema::TypeSet;
    use serde_json::json;

    fn pod_spec_type(s: &TypeSet) -> TypeRef {
        s.root_type("v1", "Pod")
    }

    #[test]
    fn field_set_of_apply_config_matches_upstream_shape() {
        let s = TypeSet::builtin();
        let t = Typed::new(&s);
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}],
                     "securityContext": {}}
        });
        let set = t.to_field_set(&pod_spec_type(&s), &pod);
        assert_eq!(
            set.to_fields_v1_string(),
            r#"{"f:apiVersion":{},"f:kind":{},"f:metadata":{"f:labels":{"f:app":{}},"f:name":{}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}},"f:securityContext":{}}}"#
        );
    }

    #[test]
    fn merge_keeps_live_only_items_and_config_order() {
        let s = TypeSet::builtin();
        let t = Typed::new(&s);
        let ty = pod_spec_type(&s);
        let live = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}, {"name": "c", "image": "1"}]}});
        let cfg = json!({"spec": {"containers": [{"name": "c", "image": "2"}, {"name": "d", "image": "2"}, {"name": "a", "image": "2"}]}});
        let merged = t.merge(&ty, &live, &cfg).unwrap();
        let names: Vec<&str> = merged["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b", "c", "d", "a"]);
        assert_eq!(merged["spec"]["containers"][3]["image"], "2");
    }

    #[test]
    fn compare_reports_structure() {
        let s = TypeSet::builtin();
        let t = Typed::new(&s);
        let ty = pod_spec_type(&s);
        let old = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "a", "image": "1"}]}});
        let new = json!({"metadata": {"labels": {"a": "2", "b": "1"}}, "spec": {"containers": [{"name": "b", "image": "1"}]}});
        let c = t.compare(&ty, &old, &new).unwrap();
        let strs = |s: &FieldSet| s.paths().iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(strs(&c.modified), [".metadata.labels.a"]);
        assert_eq!(
            strs(&c.added),
            [
                ".metadata.labels.b",
                r#".spec.containers[name="b"]"#,
                r#".spec.containers[name="b"].image"#,
                r#".spec.containers[name="b"].name"#
            ]
        );
        assert_eq!(strs(&c.removed)[0], r#".spec.containers[name="a"]"#);
    }

    /// structured-merge-diff's typed/merge_test.go "associative list" triplets.
    #[test]
    fn upstream_associative_list_merge_triplets() {
        use crate::ssa::schema::{FieldDef, ListDef, MapDef, MapType, TypeDef};
        let scalar = |s| {
            TypeRef::inline(TypeDef {
                scalar: Some(s),
                ..Default::default()
            })
        };
        let mut el = std::collections::BTreeMap::new();
        for (n, t) in [
            ("key", scalar(ScalarType::String)),
            ("id", scalar(ScalarType::Numeric)),
            ("bv", scalar(ScalarType::Boolean)),
            ("nv", scalar(ScalarType::Numeric)),
            ("value", TypeRef::Deduced),
        ] {
            el.insert(
                n.to_string(),
                FieldDef {
                    ty: t,
                    default: None,
                },
            );
        }
        let element = TypeRef::inline(TypeDef {
            map: Some(MapDef {
                fields: el,
                rest: None,
                map_type: MapType::Granular,
            }),
            ..Default::default()
        });
        let list = |element, list_type| {
            TypeRef::inline(TypeDef {
                list: Some(ListDef { element, list_type }),
                ..Default::default()
            })
        };
        let mut root = std::collections::BTreeMap::new();
        root.insert(
            "list".to_string(),
            FieldDef {
                ty: list(element, ListType::Map(vec!["key".into(), "id".into()])),
                default: None,
            },
        );
        root.insert(
            "atomicList".to_string(),
            FieldDef {
                ty: list(scalar(ScalarType::String), ListType::Atomic),
                default: None,
            },
        );
        let ty = TypeRef::inline(TypeDef {
            map: Some(MapDef {
                fields: root,
                rest: None,
                map_type: MapType::Granular,
            }),
            ..Default::default()
        });
        let s = TypeSet::default();
        let t = Typed::new(&s);
        let cases = [
            (
                r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
                r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
                r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
                r#"{"list":[{"key":"a","id":2,"value":{"a":"a"}}]}"#,
                r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}},{"key":"a","id":2,"value":{"a":"a"}}]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1},{"key":"b","id":1}]}"#,
                r#"{"list":[{"key":"a","id":1},{"key":"a","id":2}]}"#,
                r#"{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":2}]}"#,
            ),
            (
                r#"{"list":[{"key":"b","id":2}]}"#,
                r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
                r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
                r#"{"list":[{"key":"c","id":3},{"key":"b","id":2}]}"#,
                r#"{"list":[{"key":"a","id":1},{"key":"c","id":3},{"key":"b","id":2}]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
                r#"{"list":[{"key":"c","id":3},{"key":"a","id":1}]}"#,
                r#"{"list":[{"key":"b","id":2},{"key":"c","id":3},{"key":"a","id":1}]}"#,
            ),
            (
                r#"{"atomicList":["a","a","a"]}"#,
                r#"{"atomicList":null}"#,
                r#"{"atomicList":null}"#,
            ),
            (
                r#"{"atomicList":["a","b","c"]}"#,
                r#"{"atomicList":[]}"#,
                r#"{"atomicList":[]}"#,
            ),
            (
                r#"{"atomicList":["a","a","a"]}"#,
                r#"{"atomicList":["a","a"]}"#,
                r#"{"atomicList":["a","a"]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1,"bv":true},{"key":"b","id":2},{"key":"a","id":1,"bv":false,"nv":2}]}"#,
                r#"{"list":[{"key":"a","id":1,"nv":3},{"key":"c","id":3},{"key":"b","id":2}]}"#,
                r#"{"list":[{"key":"a","id":1,"nv":3},{"key":"c","id":3},{"key":"b","id":2}]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
                r#"{"list":[]}"#,
                r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
            ),
            (
                r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
                r#"{}"#,
                r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
            ),
        ];
        for (i, (l, r, o)) in cases.iter().enumerate() {
            let (l, r, o): (Value, Value, Value) = (
                serde_json::from_str(l).unwrap(),
                serde_json::from_str(r).unwrap(),
                serde_json::from_str(o).unwrap(),
            );
            t.validate(&ty, &l, true).unwrap();
            t.validate(&ty, &r, false).unwrap();
            assert_eq!(t.merge(&ty, &l, &r).unwrap(), o, "case {i}");
        }
    }

    #[test]
    fn validation_rejects_duplicates_and_missing_keys() {
        let s = TypeSet::builtin();
        let t = Typed::new(&s);
        let ty = pod_spec_type(&s);
        let dup = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
        let e = t.validate(&ty, &dup, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#".spec.containers: duplicate entries for key [name="a"]"#
        );
        assert!(t.validate(&ty, &dup, true).is_ok());
        let nokey = json!({"spec": {"containers": [{"image": "a"}]}});
        let e = t.validate(&ty, &nokey, false).unwrap_err();
        assert!(e.to_string().starts_with(".spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"]"));
    }
}
