//! Comparing two objects of one type: which fields were added, changed or removed.

use super::*;

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

impl Typed<'_> {
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
}
