//! Patch requests: which patch a Content-Type names and applying it to the stored object.

use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::ApiError;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        match ct {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

pub fn apply(
    kind: PatchKind,
    _info: &ResourceInfo,
    old: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    let patch: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("json: {e}")))?;
    match kind {
        PatchKind::Merge | PatchKind::Strategic => {
            let mut out = old.clone();
            merge(&mut out, &patch);
            Ok(out)
        }
        _ => Err(ApiError::unsupported_media_type("TEMPORARY")),
    }
}

/// Patches a `Scale` (no strategic merge keys: strategic behaves as merge).
pub fn apply_scale(kind: PatchKind, old: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let info = rkube_apimachinery::registry::find("autoscaling", "v1", "horizontalpodautoscalers")
        .ok_or_else(|| ApiError::internal("registry lacks autoscaling/v1"))?;
    apply(
        if kind == PatchKind::Strategic {
            PatchKind::Merge
        } else {
            kind
        },
        info,
        old,
        body,
    )
}
