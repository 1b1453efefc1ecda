//! Combining the deletions patch and the changes patch of a three-way diff (upstream's
//! `mergeMap` with client-side options: parallel lists and `null`s are kept as directives
//! for the server rather than applied).

use serde_json::Value;

use rkube_apimachinery::patch::schema::{PatchStrategy, Schema};

use super::strategic::{
    index_of, merge_value, normalize_slice_order, slice_element_type, type_tag, Obj,
    DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, RETAIN_KEYS, SET_ELEMENT_ORDER,
};

/// Merges `patch` into `original` (both patches) and returns the combined patch.
pub(super) fn merge_map(mut original: Obj, mut patch: Obj, schema: Schema) -> Result<Obj, String> {
    if let Some(d) = patch.get(DIRECTIVE) {
        return match d.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Obj::new()),
            _ => Err(format!("Unknown patch type: {d} in map: {patch:?}")),
        };
    }
    if let Some(keys) = patch.remove(RETAIN_KEYS) {
        match original.get(RETAIN_KEYS) {
            Some(o) if *o != keys => {
                return Err(format!(
                    "{o} and {keys} are not deep equal: this may happen when calculating the 3-way diff patch"
                ))
            }
            Some(_) => {}
            None => {
                original.insert(RETAIN_KEYS.into(), keys);
            }
        }
    }
    merge_element_order(&mut original, &mut patch, schema)?;
    for (k, pv) in patch {
        if k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || pv.is_null() {
            original.insert(k, pv);
            continue;
        }
        let Some(ov) = original.remove(&k) else {
            original.insert(k, pv);
            continue;
        };
        if type_tag(&ov) != type_tag(&pv) {
            original.insert(k, pv);
            continue;
        }
        let (child, meta) = schema.field(&k);
        let merged = match (ov, pv) {
            (Value::Object(o), Value::Object(p)) => {
                if meta.strategy == PatchStrategy::Replace {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, child)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                if meta.strategy == PatchStrategy::Merge {
                    Value::Array(merge_slice(
                        o,
                        p,
                        child,
                        meta.merge_key.unwrap_or_default(),
                    )?)
                } else {
                    Value::Array(p)
                }
            }
            (_, p) => p,
        };
        original.insert(k, merged);
    }
    Ok(original)
}

/// Handles `$setElementOrder/<list>` keys: the directive is kept once, and the two
/// patches' items for that list are merged and put in the directive's order.
fn merge_element_order(original: &mut Obj, patch: &mut Obj, schema: Schema) -> Result<(), String> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        match original.get(&key) {
            Some(o) if *o != order => {
                return Err("invalid patch format of $setElementOrder list".into())
            }
            Some(_) => {}
            None => {
                original.insert(key.clone(), order.clone());
            }
        }
        let Value::Array(order) = order else {
            return Err("invalid patch format of $setElementOrder list".into());
        };
        let Some((_, list_key)) = key.split_once('/') else {
            return Err("invalid patch format of $setElementOrder list".into());
        };
        let as_list = |v: Option<&Value>| -> Result<Option<Vec<Value>>, String> {
            match v {
                None => Ok(None),
                Some(Value::Array(a)) => Ok(Some(a.clone())),
                Some(other) => Err(format!("expected a list for {list_key}, got {other}")),
            }
        };
        let orig_list = as_list(original.get(list_key))?;
        let patch_list = as_list(patch.get(list_key))?;
        let (child, meta) = schema.field(list_key);
        let mk = meta.merge_key.unwrap_or_default();
        let merged = match (&orig_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => p.clone(),
            (Some(o), Some(p)) => {
                if meta.strategy == PatchStrategy::Merge {
                    merge_slice(o.clone(), p.clone(), child, mk)?
                } else {
                    p.clone()
                }
            }
            (None, None) => continue,
        };
        let maps = !mk.is_empty();
        let (in_order, server_only) = partition(merged, &order, mk, maps)?;
        let o = orig_list.unwrap_or_default();
        let p = patch_list.unwrap_or_default();
        let kind = slice_element_type(&[&o, &p])?;
        let both = normalize_element_order(in_order, server_only, &order, &o, mk, kind == 6)?;
        original.insert(list_key.to_string(), Value::Array(both));
        patch.remove(list_key);
    }
    Ok(())
}

fn partition(
    merged: Vec<Value>,
    by: &[Value],
    mk: &str,
    maps: bool,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for v in merged {
        let found = if maps {
            let want = merge_value(&v, mk)?;
            by.iter()
                .any(|b| b.as_object().and_then(|m| m.get(mk)) == Some(want))
        } else {
            by.contains(&v)
        };
        if found {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: Schema,
    mk: &str,
) -> Result<Vec<Value>, String> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let (original, patch, merged) = if kind != 6 {
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        let merged = super::strategic::dedupe_scalars(both);
        (original, patch, merged)
    } else {
        if mk.is_empty() {
            return Err("cannot merge lists without merge key for type map".into());
        }
        let (original, patch) = without_special_elements(original, patch, mk)?;
        let mut merged = original.clone();
        for v in &patch {
            let want = merge_value(v, mk)?;
            let pos = merged
                .iter()
                .position(|o| o.as_object().and_then(|m| m.get(mk)) == Some(want));
            match pos {
                Some(i) => {
                    let (Some(o), Some(p)) = (merged[i].as_object(), v.as_object()) else {
                        return Err("expected maps in a merged list".into());
                    };
                    merged[i] = Value::Object(merge_map(o.clone(), p.clone(), elem)?);
                }
                None => merged.push(v.clone()),
            }
        }
        (original, patch, merged)
    };
    let maps = kind == 6;
    let (in_patch, server_only) = partition(merged, &patch, mk, maps)?;
    normalize_element_order(in_patch, server_only, &patch, &original, mk, maps)
}

/// Applies `$patch: delete|replace` items of `patch` to `original`.
fn without_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    mk: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        match v.get(DIRECTIVE).map(|d| d.as_str()) {
            None => plain.push(v),
            Some(Some("delete")) => {
                let want = merge_value(&v, mk)?.clone();
                original.retain(|o| o.as_object().and_then(|m| m.get(mk)) != Some(&want));
            }
            Some(Some("replace")) => replace = true,
            Some(Some("merge")) => {
                return Err("merging lists cannot yet be specified in the patch".into())
            }
            Some(_) => return Err(format!("Unknown patch type in list item: {v}")),
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    Ok((original, plain))
}

fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    mk: &str,
    maps: bool,
) -> Result<Vec<Value>, String> {
    let patch = normalize_slice_order(patch, patch_order, mk, maps)?;
    let server_only = normalize_slice_order(server_only, server_order, mk, maps)?;
    // Server-only items go before a patch item only when both sit in the server order
    // and the server item comes first.
    let mut out = Vec::with_capacity(patch.len() + server_only.len());
    let (mut i, mut j) = (0, 0);
    while i < server_only.len() || j < patch.len() {
        if i >= server_only.len() {
            out.push(patch[j].clone());
            j += 1;
        } else if j >= patch.len() {
            out.push(server_only[i].clone());
            i += 1;
        } else {
            let li = index_of(server_order, &server_only[i], mk, maps);
            let ri = index_of(server_order, &patch[j], mk, maps);
            if li >= 0 && ri >= 0 && li < ri {
                out.push(server_only[i].clone());
                i += 1;
            } else {
                out.push(patch[j].clone());
                j += 1;
            }
        }
    }
    Ok(out)
}
