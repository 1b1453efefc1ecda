//! The client-side `kubectl apply` annotation: which fields it lets `kubectl` take over
//! without conflict, and keeping it in sync on server-side apply.

use crate::ssa::apply::ApplyOptions;
use crate::ssa::object::{get_str, metadata_mut, root_type};
use crate::ssa::schema::Schema;
use crate::ssa::set::FieldSet;
use crate::ssa::typed::Typed;
use crate::ssa::value::to_go_json;
use serde_json::{Map, Value};

/// Annotation written by client-side `kubectl apply`.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Fields the client-side `kubectl apply` annotation claims and that still hold the
/// annotated value: conflicts on these are expected when migrating to server-side
/// apply and are overridden.
pub(crate) fn allowed_from_last_applied(
    schema: &dyn Schema,
    live: &Value,
    opts: &ApplyOptions,
) -> Option<FieldSet> {
    let raw = get_str(live, &["metadata", "annotations", LAST_APPLIED_ANNOTATION])
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(raw).ok()?;
    if !last.is_object() || get_str(&last, &["apiVersion"]) != Some(opts.api_version.as_str()) {
        return None;
    }
    let typed = Typed::new(schema);
    let ty = root_type(schema, &last, opts);
    typed.validate(&ty, &last, false).ok()?;
    typed.validate(&ty, live, false).ok()?;
    let set = typed.to_field_set(&ty, &last);
    let cmp = typed.compare(&ty, &last, live).ok()?;
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// The annotation value `kubectl` would write for this configuration.
pub(crate) fn build_last_applied(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(Value::Object(ann)) = c.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
        ann.remove(LAST_APPLIED_ANNOTATION);
    }
    let mut s = to_go_json(&c);
    s.push('\n');
    s
}

pub(crate) fn set_last_applied(obj: &mut Value, value: String) {
    let Some(meta) = metadata_mut(obj) else {
        return;
    };
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(ann) = ann else { return };
    ann.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(value));
    let size: usize = ann
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        ann.remove(LAST_APPLIED_ANNOTATION);
    }
}
