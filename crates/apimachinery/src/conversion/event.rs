//! core/v1 Event <-> events.k8s.io/v1 Event.
//!
//! Upstream stores Events as core/v1 and converts through the internal
//! `core.Event`, which has a home for every field of both external versions,
//! so the mapping is a lossless rename (`pkg/apis/events/v1/conversion.go`
//! plus the generated code for the fields sharing a name):
//!
//! | core/v1              | events.k8s.io/v1         |
//! |----------------------|--------------------------|
//! | `involvedObject`     | `regarding`              |
//! | `message`            | `note`                   |
//! | `source`             | `deprecatedSource`       |
//! | `firstTimestamp`     | `deprecatedFirstTimestamp` |
//! | `lastTimestamp`      | `deprecatedLastTimestamp`  |
//! | `count`              | `deprecatedCount`        |
//! | `reportingComponent` | `reportingController`    |
//! | `reportingInstance`, `reason`, `type`, `action`, `related`, `eventTime`, `series` | same name |
//!
//! Notably `source.component` is *not* copied into `reportingController`
//! (nor the reverse): the two live side by side in the internal type.
//! Fields unknown to the source version are dropped, as decoding into the
//! typed struct would.

use serde_json::{Map, Value};

/// (core/v1 name, events.k8s.io/v1 name) for every Event field but metadata.
const FIELDS: [(&str, &str); 14] = [
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

/// `core.EventSeries` (internal) only has these two; anything else a
/// client sent (such as the long-removed `state`) does not survive.
const SERIES_FIELDS: [&str; 2] = ["count", "lastObservedTime"];

/// Direction of an Event conversion.
#[derive(Clone, Copy)]
pub(crate) enum Direction {
    CoreToEvents,
    EventsToCore,
}

/// Converts an Event object between core/v1 and events.k8s.io/v1.
pub(crate) fn convert(obj: &Map<String, Value>, dir: Direction, api_version: &str) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.to_string()));
    if let Some(kind) = obj.get("kind") {
        out.insert("kind".into(), kind.clone());
    }
    if let Some(meta) = obj.get("metadata") {
        out.insert("metadata".into(), meta.clone());
    }
    for (core, events) in FIELDS {
        let (from, to) = match dir {
            Direction::CoreToEvents => (core, events),
            Direction::EventsToCore => (events, core),
        };
        if let Some(v) = obj.get(from) {
            let v = if from == "series" {
                series(v)
            } else {
                v.clone()
            };
            out.insert(to.to_string(), v);
        }
    }
    Value::Object(out)
}

fn series(v: &Value) -> Value {
    match v.as_object() {
        Some(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| SERIES_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => v.clone(),
    }
}
