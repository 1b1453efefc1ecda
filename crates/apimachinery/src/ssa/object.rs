//! Small helpers on objects in Kubernetes JSON shape, shared by apply and update.

use crate::ssa::apply::ApplyOptions;
use crate::ssa::managed::{Managed, ManagerId};
use crate::ssa::path::PathElement;
use crate::ssa::schema::{Schema, TypeRef};
use crate::ssa::set::FieldSet;
use serde_json::{Map, Value};

pub(crate) fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

pub(crate) fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let o = obj.as_object_mut()?;
    let m = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut()
}

pub(crate) fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(Value::Object(m)) = o.get_mut("metadata") {
        m.remove("managedFields");
    }
    o
}

pub(crate) fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    match managed.encode() {
        Some(list) => {
            if let Some(m) = metadata_mut(obj) {
                m.insert("managedFields".into(), list);
            }
        }
        None => {
            if let Some(Value::Object(m)) = obj.get_mut("metadata") {
                m.remove("managedFields");
            }
        }
    }
}

/// `group/version, Kind=kind` as Go prints a GroupVersionKind.
pub(crate) fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    format!("{group}/{version}, Kind={kind}")
}

/// `namespace/name; GVK`, upstream's object description in error messages.
pub(crate) fn object_gvknn(obj: &Value) -> String {
    let ns = get_str(obj, &["metadata", "namespace"]).unwrap_or("");
    let name = get_str(obj, &["metadata", "name"]).unwrap_or("");
    let av = get_str(obj, &["apiVersion"]).unwrap_or("");
    let kind = get_str(obj, &["kind"]).unwrap_or("");
    format!("{ns}/{name}; {}", gvk_string(av, kind))
}

/// Removes `null` entries from maps, as converting to typed objects (or the CRD
/// handler's null pruning) does; the merge and removal steps may leave them behind.
pub(crate) fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for x in m.values_mut() {
                strip_nulls(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Fields that are never owned (upstream's stripMetaManager set).
fn strip_set() -> FieldSet {
    let mut s = FieldSet::new();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        let path: Vec<PathElement> = p.iter().map(|n| PathElement::field(*n)).collect();
        s.insert(&path);
    }
    s
}

pub(crate) fn strip_meta(managed: &mut Managed, id: &ManagerId) {
    if let Some(vs) = managed.fields.get_mut(id) {
        vs.set = vs.set.difference(&strip_set());
        if vs.set.is_empty() {
            managed.fields.remove(id);
        }
    }
}

/// The object's type for the walkers.
pub(crate) fn root_type(schema: &dyn Schema, obj: &Value, opts: &ApplyOptions) -> TypeRef {
    let av = get_str(obj, &["apiVersion"]).unwrap_or(&opts.api_version);
    let kind = get_str(obj, &["kind"])
        .or(opts.kind.as_deref())
        .unwrap_or("");
    schema.root_type(av, kind)
}

/// What a create starts from: the kind's zero object.
pub(crate) fn zero_object(schema: &dyn Schema, obj: &Value, opts: &ApplyOptions) -> Value {
    let av = get_str(obj, &["apiVersion"]).unwrap_or(&opts.api_version);
    let kind = get_str(obj, &["kind"])
        .or(opts.kind.as_deref())
        .unwrap_or("");
    schema.zero_object(av, kind)
}
