//! The structured merge of an applied configuration into a live object.

use super::*;

impl Typed<'_> {
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
}
