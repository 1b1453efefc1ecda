//! Kubernetes vendor extensions that k8s-openapi's schemas do not carry.
//!
//! kubectl relies on them: `x-kubernetes-patch-merge-key`/`-patch-strategy`
//! drive client-side strategic merge patches (apply/edit), list-type and
//! map-type annotations drive server-side apply. The table was extracted from
//! the upstream v1.33 `swagger.json` (see `tools/gen_tables.py`).

use std::collections::BTreeMap;

use serde_json::Value;

pub(crate) use crate::openapi::extensions_table::{EXTENSIONS, LIST_DOCS, REQUIRED};

/// Adds every known extension to the matching definition/property.
pub(crate) fn apply(defs: &mut BTreeMap<String, Value>) {
    for (def, prop, key, raw) in EXTENSIONS {
        let Ok(value) = serde_json::from_str::<Value>(raw) else {
            continue;
        };
        let Some(target) = defs.get_mut(*def) else {
            continue;
        };
        let target = if prop.is_empty() {
            Some(target)
        } else {
            target.get_mut("properties").and_then(|p| p.get_mut(*prop))
        };
        if let Some(Value::Object(m)) = target {
            m.insert((*key).to_owned(), value);
        }
    }
}
