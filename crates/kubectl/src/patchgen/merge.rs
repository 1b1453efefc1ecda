//! JSON merge patches (RFC 7386) computed from documents, for kinds without strategic
//! merge metadata (custom resources), as kubectl's `CreateThreeWayJSONMergePatch`.

use serde_json::{Map, Value};

/// The merge patch that turns `a` into `b` (lists are replaced whole).
pub fn two_way(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => Value::Object(diff(a, b)),
        _ => b.clone(),
    }
}

fn diff(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut into = Map::new();
    for (k, bv) in b {
        match (a.get(k), bv) {
            (None, _) => {
                into.insert(k.clone(), bv.clone());
            }
            (Some(Value::Object(ao)), Value::Object(bo)) => {
                let d = diff(ao, bo);
                if !d.is_empty() {
                    into.insert(k.clone(), Value::Object(d));
                }
            }
            (Some(av), _) if av != bv => {
                into.insert(k.clone(), bv.clone());
            }
            _ => {}
        }
    }
    for k in a.keys() {
        if !b.contains_key(k) {
            into.insert(k.clone(), Value::Null);
        }
    }
    into
}

/// Keeps only the `null`s of a patch (`keep_null`) or everything but them.
fn filter_nulls(m: &Map<String, Value>, keep_null: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        match v {
            Value::Null if keep_null => {
                out.insert(k.clone(), Value::Null);
            }
            Value::Null => {}
            // An explicitly empty map is a value, not an empty patch.
            Value::Object(o) if o.is_empty() && !keep_null => {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(o) if o.is_empty() => {}
            Value::Object(o) => {
                let sub = filter_nulls(o, keep_null);
                if !sub.is_empty() {
                    out.insert(k.clone(), Value::Object(sub));
                }
            }
            _ if !keep_null => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    out
}

/// Deletions from `original` to `modified`, plus additions and changes from `current` to
/// `modified`; `apiVersion`, `kind` and the name may not change.
pub fn three_way(original: &Value, modified: &Value, current: &Value) -> Result<Value, String> {
    let obj = |v: &Value| v.as_object().cloned().unwrap_or_default();
    let (original, modified, current) = (obj(original), obj(modified), obj(current));
    let add_and_change = filter_nulls(&diff(&current, &modified), false);
    let deletions = filter_nulls(&diff(&original, &modified), true);
    let mut patch = Value::Object(deletions);
    merge_keep_nulls(&mut patch, &Value::Object(add_and_change));
    let changed = |k: &str| patch.get(k).is_some();
    if changed("apiVersion") || changed("kind") || patch["metadata"].get("name").is_some() {
        return Err("At least one of apiVersion, kind and name was changed".into());
    }
    Ok(patch)
}

/// RFC 7386 merge of one patch into another (the target's `null`s stay).
fn merge_keep_nulls(target: &mut Value, patch: &Value) {
    let (Value::Object(t), Value::Object(p)) = (target, patch) else {
        return;
    };
    for (k, v) in p {
        match t.get_mut(k) {
            Some(cur @ Value::Object(_)) if v.is_object() => merge_keep_nulls(cur, v),
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn three_way_merge_patch() {
        let last = json!({"kind": "W", "spec": {"a": 1, "b": 2}});
        let modified = json!({"kind": "W", "spec": {"a": 3}});
        let live = json!({"kind": "W", "spec": {"a": 1, "b": 2, "c": 9}, "status": {}});
        assert_eq!(
            three_way(&last, &modified, &live).ok(),
            Some(json!({"spec": {"a": 3, "b": null}}))
        );
        assert_eq!(
            three_way(&modified, &modified, &live).ok(),
            Some(json!({"spec": {"a": 3}}))
        );
        assert!(three_way(&last, &json!({"kind": "X"}), &live).is_err());
        assert_eq!(
            two_way(&json!({"a": [1], "b": 1}), &json!({"a": [2]})),
            json!({"a": [2], "b": null})
        );
    }
}
