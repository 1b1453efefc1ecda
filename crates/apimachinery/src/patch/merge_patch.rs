//! JSON merge patch (RFC 7386) as kube-apiserver applies it (`jsonpatch.MergePatch`).
//!
//! Objects merge key by key, `null` deletes a key, anything else replaces the target.
//! Like upstream, `null`s inside newly added values are dropped (also inside objects
//! nested in arrays), so they never reach storage.

use serde_json::{Map, Value};

use super::PatchError;

/// Merges `patch` into `target` in place with RFC 7386 semantics.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        let mut replacement = patch.clone();
        prune_nulls(&mut replacement);
        *target = replacement;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        merge_maps(target_map, patch_map);
    }
}

fn merge_maps(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
            continue;
        }
        match target.get_mut(key) {
            Some(current) if current.is_object() && value.is_object() => merge(current, value),
            Some(current) if current.is_object() => {
                // Upstream hands back a non-object patch value as is when the target is
                // an object.
                *current = value.clone();
            }
            _ => {
                let mut added = value.clone();
                prune_nulls(&mut added);
                target.insert(key.clone(), added);
            }
        }
    }
}

/// Removes `null` object members recursively (array elements are kept, their objects
/// are pruned), as upstream does for values that do not merge into an existing object.
fn prune_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                prune_nulls(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                prune_nulls(v);
            }
        }
        _ => {}
    }
}

/// Applies a merge patch to an API object like the PATCH handler: the patch must be a
/// JSON object (or array, which upstream returns as the new document); `null` or a
/// scalar patch is `Invalid JSON Patch` (400), a `null` document is an error (500).
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    match patch {
        Value::Object(_) => {}
        Value::Array(_) => {
            let mut out = patch.clone();
            prune_nulls(&mut out);
            return Ok(out);
        }
        _ => return Err(PatchError::BadRequest("Invalid JSON Patch".to_string())),
    }
    if doc.is_null() {
        return Err(PatchError::Internal("Invalid JSON Document".to_string()));
    }
    let mut out = doc.clone();
    merge(&mut out, patch);
    Ok(out)
}

/// [`apply`] for a raw request body; undecodable JSON is `Invalid JSON Patch` (400).
pub fn apply_slice(doc: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|_| PatchError::BadRequest("Invalid JSON Patch".to_string()))?;
    apply(doc, &patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(doc: Value, patch: Value) -> Value {
        apply(&doc, &patch).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rfc7386_examples() {
        // The test vectors of RFC 7386 appendix A (object-rooted ones).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (doc, patch, want) in cases {
            assert_eq!(ok(doc.clone(), patch.clone()), want, "{doc} + {patch}");
        }
    }

    #[test]
    fn kubernetes_style_patches() {
        let pod = json!({
            "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}},
            "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
        });
        let out = ok(
            pod,
            json!({
                "metadata": {"labels": {"tier": null, "new": "1"}},
                "spec": {"containers": [{"name": "a", "image": "z", "args": null}]}
            }),
        );
        assert_eq!(
            out,
            json!({
                "metadata": {"name": "p", "labels": {"app": "web", "new": "1"}},
                "spec": {"containers": [{"name": "a", "image": "z"}]}
            })
        );
    }

    #[test]
    fn bad_patches() {
        let doc = json!({"a": 1});
        assert_eq!(
            apply(&doc, &Value::Null),
            Err(PatchError::BadRequest("Invalid JSON Patch".to_string()))
        );
        assert_eq!(
            apply(&doc, &json!(5)).map_err(|e| e.status_code()),
            Err(400)
        );
        assert_eq!(
            apply_slice(&doc, b"{").map_err(|e| e.status_code()),
            Err(400)
        );
        assert_eq!(
            apply(&Value::Null, &json!({})).map_err(|e| e.status_code()),
            Err(500)
        );
    }
}
