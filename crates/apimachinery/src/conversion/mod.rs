//! Conversion between API versions that share one stored copy.
//!
//! Kubernetes serves a few resources in two API versions backed by a single
//! etcd key ("cohabiting" resources). The apiserver stores one version and
//! converts on every write (request version -> storage version) and every
//! read, list and watch (storage version -> requested version). This crate
//! reproduces the upstream (Kubernetes 1.33) conversions on
//! `serde_json::Value` objects in Kubernetes JSON shape:
//!
//! * `Event`: core/v1 (stored) <-> events.k8s.io/v1. A lossless rename:
//!   `involvedObject`/`regarding`, `message`/`note`, `source`/
//!   `deprecatedSource`, `firstTimestamp`/`deprecatedFirstTimestamp`,
//!   `lastTimestamp`/`deprecatedLastTimestamp`, `count`/`deprecatedCount`,
//!   `reportingComponent`/`reportingController`; every other field keeps
//!   its name.
//! * `HorizontalPodAutoscaler`: autoscaling/v2 (stored) <-> autoscaling/v1.
//!   v1 only has `targetCPUUtilizationPercentage` and
//!   `currentCPUUtilizationPercentage`; the rest travels in the
//!   [`METRIC_SPECS_ANNOTATION`], [`METRIC_STATUSES_ANNOTATION`],
//!   [`CONDITIONS_ANNOTATION`] and [`BEHAVIOR_ANNOTATION`] annotations,
//!   whose contents are byte-compatible with Go's `json.Marshal` output.
//!
//! `*List` objects of those kinds are converted item by item.

mod event;
mod gojson;
mod hpa;

use std::fmt;

use serde_json::{Map, Value};

pub use hpa::{
    BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION, METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION, TOLERANCE_SCALE_DOWN_ANNOTATION, TOLERANCE_SCALE_UP_ANNOTATION,
};

/// Why an object could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversionError {
    /// The input is not a JSON object.
    NotAnObject,
    /// `apiVersion` or `kind` is missing or not a string.
    MissingTypeMeta(&'static str),
    /// No conversion exists between these versions for this kind.
    Unsupported {
        /// The object's kind.
        kind: String,
        /// The object's apiVersion.
        from: String,
        /// The requested apiVersion.
        to: String,
    },
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConversionError::NotAnObject => write!(f, "object to convert is not a JSON object"),
            ConversionError::MissingTypeMeta(field) => {
                write!(f, "object to convert has no string {field}")
            }
            ConversionError::Unsupported { kind, from, to } => {
                write!(f, "no conversion for kind {kind} from {from} to {to}")
            }
        }
    }
}

impl std::error::Error for ConversionError {}

/// Returns the (group, version) the shared copy of a cohabiting resource is
/// stored in, or `None` for resources this crate does not convert.
///
/// `resource` is the plural resource name; a `/status` subresource maps to
/// its parent since it shares the object.
pub fn storage_version(group: &str, resource: &str) -> Option<(&'static str, &'static str)> {
    let base = match resource.split_once('/') {
        Some((base, "status")) => base,
        Some(_) => return None,
        None => resource,
    };
    match (group, base) {
        ("" | "events.k8s.io", "events") => Some(("", "v1")),
        ("autoscaling", "horizontalpodautoscalers") => Some(("autoscaling", "v2")),
        _ => None,
    }
}

/// Converts `obj` (which names its own `apiVersion` and `kind`) to
/// `to_group`/`to_version`, returning it with `apiVersion` set.
///
/// An object already in the target version is returned unchanged, except
/// HPAs, which are normalized the way upstream's trip through the internal
/// type normalizes them: autoscaling/v2 loses stray round-trip annotations,
/// autoscaling/v1 is re-derived through v2. Errors if the kind has no
/// conversion between the two versions.
pub fn convert(obj: &Value, to_group: &str, to_version: &str) -> Result<Value, ConversionError> {
    let map = obj.as_object().ok_or(ConversionError::NotAnObject)?;
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or(ConversionError::MissingTypeMeta("apiVersion"))?;
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(ConversionError::MissingTypeMeta("kind"))?;
    let target = join_api_version(to_group, to_version);

    if let (Some(item_kind), Some(Value::Array(items))) =
        (kind.strip_suffix("List"), map.get("items"))
    {
        return convert_list(map, items, item_kind, api_version, &target);
    }
    convert_object(map, kind, api_version, &target)
}

fn convert_list(
    map: &Map<String, Value>,
    items: &[Value],
    item_kind: &str,
    api_version: &str,
    target: &str,
) -> Result<Value, ConversionError> {
    let mut out_items = Vec::with_capacity(items.len());
    for item in items {
        let item_map = item.as_object().ok_or(ConversionError::NotAnObject)?;
        // Items of a typed list usually carry no TypeMeta of their own.
        let own_version = item_map.get("apiVersion").and_then(Value::as_str);
        let own_kind = item_map.get("kind").and_then(Value::as_str);
        let converted = convert_object(
            item_map,
            own_kind.unwrap_or(item_kind),
            own_version.unwrap_or(api_version),
            target,
        )?;
        let converted = match converted {
            Value::Object(mut m) => {
                if own_version.is_none() {
                    m.remove("apiVersion");
                }
                if own_kind.is_none() {
                    m.remove("kind");
                }
                Value::Object(m)
            }
            other => other,
        };
        out_items.push(converted);
    }
    let mut out = map.clone();
    out.insert("apiVersion".into(), Value::String(target.to_string()));
    out.insert("items".into(), Value::Array(out_items));
    Ok(Value::Object(out))
}

fn convert_object(
    map: &Map<String, Value>,
    kind: &str,
    from: &str,
    to: &str,
) -> Result<Value, ConversionError> {
    const CORE_V1: &str = "v1";
    const EVENTS_V1: &str = "events.k8s.io/v1";
    const HPA_V1: &str = "autoscaling/v1";
    const HPA_V2: &str = "autoscaling/v2";

    match (kind, from, to) {
        ("HorizontalPodAutoscaler", HPA_V2, HPA_V2) => {
            let mut out = map.clone();
            if let Some(Value::Object(meta)) = out.get_mut("metadata") {
                hpa::drop_round_trip_annotations(meta);
            }
            Ok(Value::Object(out))
        }
        ("HorizontalPodAutoscaler", HPA_V1, HPA_V1) => match hpa::v1_to_v2(map, HPA_V2) {
            Value::Object(v2) => Ok(hpa::v2_to_v1(&v2, HPA_V1)),
            _ => Err(ConversionError::NotAnObject),
        },
        ("HorizontalPodAutoscaler", HPA_V2, HPA_V1) => Ok(hpa::v2_to_v1(map, to)),
        ("HorizontalPodAutoscaler", HPA_V1, HPA_V2) => Ok(hpa::v1_to_v2(map, to)),
        ("Event", CORE_V1, EVENTS_V1) => {
            Ok(event::convert(map, event::Direction::CoreToEvents, to))
        }
        ("Event", EVENTS_V1, CORE_V1) => {
            Ok(event::convert(map, event::Direction::EventsToCore, to))
        }
        _ if from == to => Ok(Value::Object(map.clone())),
        _ => Err(ConversionError::Unsupported {
            kind: kind.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        }),
    }
}

fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}
