//! Patch requests: which patch a Content-Type names and applying it to the stored object
//! with the machinery in `rkube-apimachinery`.

use rkube_apimachinery::patch::{json_patch, merge_patch, strategic, PatchError};
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

pub fn api_error(e: PatchError) -> ApiError {
    let reason = match e.reason() {
        "" => "InternalError",
        r => r,
    };
    ApiError::new(e.status_code(), reason, e.status_message())
}

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// JSON, merge and strategic merge patches (server-side apply is handled by its own module).
pub fn apply(
    kind: PatchKind,
    info: &ResourceInfo,
    old: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    let patch = parse(body)?;
    match kind {
        PatchKind::Json => json_patch::apply(old, &patch).map_err(api_error),
        PatchKind::Merge => merge_patch::apply(old, &patch).map_err(api_error),
        PatchKind::Strategic => strategic::apply(
            old,
            &patch,
            &strategic::GroupVersionKind {
                group: info.group,
                version: info.version,
                kind: info.kind,
            },
        )
        .map_err(api_error),
        PatchKind::Apply => Err(ApiError::unsupported_media_type(
            "application/apply-patch+yaml",
        )),
    }
}

/// Patches a `Scale`, which has no merge keys: strategic merge behaves as a merge patch.
pub fn apply_scale(kind: PatchKind, old: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch = parse(body)?;
    match kind {
        PatchKind::Json => json_patch::apply(old, &patch).map_err(api_error),
        PatchKind::Merge => merge_patch::apply(old, &patch).map_err(api_error),
        PatchKind::Strategic => strategic::apply_with_schema(
            old,
            &patch,
            rkube_apimachinery::patch::schema::Schema::opaque(),
        )
        .map_err(api_error),
        PatchKind::Apply => Err(ApiError::unsupported_media_type(
            "application/apply-patch+yaml",
        )),
    }
}
