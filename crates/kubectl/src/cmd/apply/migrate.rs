//! Moving an object from client-side to server-side apply, as kubectl does after a
//! server-side apply (client-go's `csaupgrade`): the fields owned by the managers that
//! client-side applied it (those `Update` entries owning the last-applied annotation) are
//! merged into the server-side manager's `Apply` entry, so fields later dropped from the
//! manifest are removed instead of staying owned by the old manager.

use serde_json::{json, Map, Value};

use super::LAST_APPLIED;

/// Whether a managedFields entry owns the last-applied annotation.
fn owns_last_applied(entry: &Value) -> bool {
    entry["fieldsV1"]["f:metadata"]["f:annotations"]
        .get(format!("f:{LAST_APPLIED}"))
        .is_some()
}

/// Managers with an `Apply` entry owning the last-applied annotation.
pub fn apply_owns_last_applied(managed: &[Value]) -> bool {
    managed
        .iter()
        .any(|e| e["operation"] == "Apply" && owns_last_applied(e))
}

fn is(entry: &Value, manager: &str, operation: &str) -> bool {
    entry["manager"] == manager
        && entry["operation"] == operation
        && entry["subresource"].as_str().unwrap_or_default().is_empty()
}

/// The union of two field sets in their trie form (`"."` marks a node that is itself a
/// member when it also has children; an empty object is a member leaf).
fn union(a: &Value, b: &Value) -> Value {
    fn split(v: &Value) -> (bool, Map<String, Value>) {
        let m = v.as_object().cloned().unwrap_or_default();
        let member = m.is_empty() || m.contains_key(".");
        let children = m.into_iter().filter(|(k, _)| k != ".").collect();
        (member, children)
    }
    let (am, mut ac) = split(a);
    let (bm, bc) = split(b);
    for (k, bv) in bc {
        let merged = match ac.get(&k) {
            Some(av) => union(av, &bv),
            None => bv,
        };
        ac.insert(k, merged);
    }
    if !ac.is_empty() && (am || bm) {
        ac.insert(".".into(), json!({}));
    }
    Value::Object(ac)
}

/// The root of a field set has no member marker of its own.
fn union_root(a: &Value, b: &Value) -> Value {
    let mut u = union(a, b);
    if let Some(m) = u.as_object_mut() {
        m.remove(".");
    }
    u
}

fn upgraded(managed: &[Value], csa: &str, ssa: &str) -> Vec<Value> {
    let mut fields = managed.to_vec();
    let target = match fields.iter().position(|e| is(e, ssa, "Apply")) {
        Some(i) => i,
        None => match fields.iter().position(|e| is(e, csa, "Update")) {
            Some(i) => {
                fields[i]["operation"] = json!("Apply");
                fields[i]["manager"] = json!(ssa);
                i
            }
            None => return fields,
        },
    };
    let api_version = fields[target]["apiVersion"].clone();
    if let Some(src) = fields
        .iter()
        .find(|e| is(e, csa, "Update") && e["apiVersion"] == api_version)
        .cloned()
    {
        fields[target]["fieldsV1"] = union_root(&fields[target]["fieldsV1"], &src["fieldsV1"]);
    }
    fields.retain(|e| !is(e, csa, "Update"));
    fields
}

/// The JSON patch that migrates `obj`'s managed fields to `ssa`, or `None` when there is
/// nothing to migrate.
pub fn migration_patch(obj: &Value, ssa: &str) -> Option<Value> {
    let managed: Vec<Value> = obj["metadata"]["managedFields"].as_array()?.clone();
    let mut csa: Vec<String> = managed
        .iter()
        .filter(|e| e["operation"] == "Update" && owns_last_applied(e))
        .filter_map(|e| e["manager"].as_str().map(String::from))
        .collect();
    csa.sort();
    csa.dedup();
    let mut fields = managed.clone();
    for name in &csa {
        fields = upgraded(&fields, name, ssa);
    }
    if fields == managed {
        return None;
    }
    Some(json!([
        {"op": "replace", "path": "/metadata/managedFields", "value": fields},
        {"op": "replace", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_side_owners_fold_into_the_apply_manager() {
        let obj = json!({"metadata": {"resourceVersion": "7", "managedFields": [
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:b": {}},
              "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}}},
            {"manager": "other", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:c": {}}}},
        ]}});
        let p = migration_patch(&obj, "kubectl").unwrap_or_else(|| panic!("patch"));
        let fields = p[0]["value"].as_array().unwrap_or_else(|| panic!("list"));
        assert_eq!(fields.len(), 2);
        assert_eq!(
            fields[0]["fieldsV1"],
            json!({"f:data": {".": {}, "f:a": {}, "f:b": {}},
                   "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}})
        );
        assert_eq!(p[1]["value"], "7");
        let done = json!({"metadata": {"managedFields": [fields[0].clone(), fields[1].clone()]}});
        assert!(migration_patch(&done, "kubectl").is_none());
        assert!(apply_owns_last_applied(fields));
    }
}
