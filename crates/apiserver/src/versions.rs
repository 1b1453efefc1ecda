//! Resources served in two versions over one stored copy (core and events.k8s.io Events;
//! autoscaling v1 and v2 HorizontalPodAutoscalers): objects are stored in the storage
//! version and converted for each request's version.

use rkube_apimachinery::conversion;
use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::ApiError;
use serde_json::Value;

fn storage(info: &ResourceInfo) -> Option<(&'static str, &'static str)> {
    conversion::storage_version(info.group, info.plural)
        .filter(|(g, v)| (*g, *v) != (info.group, info.version))
}

/// The object as stored, from the request's version.
pub fn to_storage<'a>(
    info: &ResourceInfo,
    obj: &'a Value,
) -> Result<std::borrow::Cow<'a, Value>, ApiError> {
    match storage(info) {
        Some((g, v)) => conversion::convert(obj, g, v)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| ApiError::internal(format!("converting to {g}/{v}: {e}"))),
        None => Ok(std::borrow::Cow::Borrowed(obj)),
    }
}

/// The object in the request's version, from storage.
pub fn to_request(info: &ResourceInfo, obj: Value) -> Value {
    if conversion::storage_version(info.group, info.plural).is_none() {
        return obj;
    }
    let want = info.api_version();
    if obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
        return obj;
    }
    conversion::convert(&obj, info.group, info.version).unwrap_or(obj)
}
