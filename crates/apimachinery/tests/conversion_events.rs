//! core/v1 Event <-> events.k8s.io/v1 Event.

use rkube_apimachinery::conversion::{convert, storage_version, ConversionError};
use serde_json::{json, Value};

fn conv(obj: &Value, group: &str, version: &str) -> Value {
    convert(obj, group, version).expect("conversion succeeds")
}

/// What the kubelet's client-go recorder posts: a core/v1 Event with
/// source, count and first/last timestamps; the recorder also fills
/// reportingComponent/reportingInstance from the source.
fn kubelet_event() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": "web-7c5ddbdf54-x2k9p.17d3f2a1b2c3d4e5",
            "namespace": "default",
            "uid": "5f0c3b5e-1d2a-4c1e-9f3b-2a1b0c9d8e7f",
            "resourceVersion": "48211",
            "creationTimestamp": "2025-05-01T10:00:00Z"
        },
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": "web-7c5ddbdf54-x2k9p",
            "uid": "0d7f8c1a-3b2e-4f5d-8a9b-1c2d3e4f5a6b",
            "apiVersion": "v1",
            "resourceVersion": "48102",
            "fieldPath": "spec.containers{nginx}"
        },
        "reason": "Pulled",
        "message": "Container image \"nginx:1.27\" already present on machine",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2025-05-01T10:00:00Z",
        "lastTimestamp": "2025-05-01T10:05:00Z",
        "count": 3,
        "type": "Normal",
        "eventTime": null,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1"
    })
}

/// What the scheduler's events.k8s.io recorder posts: eventTime in micro
/// precision, a series, reportingController/Instance and an action.
fn scheduler_event() -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": "web-0.1838a1b2c3d4e5f6",
            "namespace": "prod",
            "uid": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            "resourceVersion": "90210",
            "creationTimestamp": "2025-05-01T10:00:00Z"
        },
        "eventTime": "2025-05-01T10:00:00.123456Z",
        "series": {"count": 4, "lastObservedTime": "2025-05-01T10:20:00.654321Z"},
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-control-plane-1",
        "action": "Scheduling",
        "reason": "FailedScheduling",
        "regarding": {
            "kind": "Pod",
            "namespace": "prod",
            "name": "web-0",
            "uid": "77e0c0de-0000-4000-8000-000000000001",
            "apiVersion": "v1",
            "resourceVersion": "90001"
        },
        "related": {"kind": "Node", "name": "node-2", "apiVersion": "v1"},
        "note": "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        "type": "Warning"
    })
}

#[test]
fn kubelet_core_event_reads_as_events_v1() {
    let core = kubelet_event();
    let events = conv(&core, "events.k8s.io", "v1");
    assert_eq!(
        events,
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": core["metadata"],
            "regarding": core["involvedObject"],
            "reason": "Pulled",
            "note": "Container image \"nginx:1.27\" already present on machine",
            "deprecatedSource": {"component": "kubelet", "host": "node-1"},
            "deprecatedFirstTimestamp": "2025-05-01T10:00:00Z",
            "deprecatedLastTimestamp": "2025-05-01T10:05:00Z",
            "deprecatedCount": 3,
            "type": "Normal",
            "eventTime": null,
            "reportingController": "kubelet",
            "reportingInstance": "node-1"
        })
    );
    // And back: nothing lost, nothing added.
    assert_eq!(conv(&events, "", "v1"), core);
}

#[test]
fn scheduler_events_v1_event_stores_as_core_v1() {
    let events = scheduler_event();
    let core = conv(&events, "", "v1");
    assert_eq!(
        core,
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": events["metadata"],
            "involvedObject": events["regarding"],
            "reason": "FailedScheduling",
            "message": events["note"],
            "type": "Warning",
            "eventTime": "2025-05-01T10:00:00.123456Z",
            "series": {"count": 4, "lastObservedTime": "2025-05-01T10:20:00.654321Z"},
            "action": "Scheduling",
            "related": {"kind": "Node", "name": "node-2", "apiVersion": "v1"},
            "reportingComponent": "default-scheduler",
            "reportingInstance": "default-scheduler-control-plane-1"
        })
    );
    assert_eq!(conv(&core, "events.k8s.io", "v1"), events);
}

#[test]
fn source_component_does_not_become_reporting_controller() {
    // Upstream keeps source and reportingController as separate fields of
    // the internal Event; neither fills the other.
    let mut core = kubelet_event();
    let obj = core.as_object_mut().expect("object");
    obj.remove("reportingComponent");
    obj.remove("reportingInstance");
    let events = conv(&core, "events.k8s.io", "v1");
    assert!(events.get("reportingController").is_none());
    assert_eq!(events["deprecatedSource"]["component"], "kubelet");

    let mut ev = scheduler_event();
    ev.as_object_mut()
        .expect("object")
        .remove("reportingController");
    let back = conv(&ev, "", "v1");
    assert!(back.get("source").is_none());
    assert!(back.get("reportingComponent").is_none());
}

#[test]
fn fields_unknown_to_the_version_are_dropped() {
    let mut core = kubelet_event();
    core["bogus"] = json!("x");
    core["note"] = json!("core/v1 has no note");
    core["series"] =
        json!({"count": 2, "lastObservedTime": "2025-05-01T10:05:00.000000Z", "state": "Ongoing"});
    let events = conv(&core, "events.k8s.io", "v1");
    assert!(events.get("bogus").is_none());
    assert_eq!(events["note"], core["message"]);
    assert_eq!(
        events["series"],
        json!({"count": 2, "lastObservedTime": "2025-05-01T10:05:00.000000Z"})
    );
}

#[test]
fn event_lists_convert_item_by_item() {
    let mut item = kubelet_event();
    let item_obj = item.as_object_mut().expect("object");
    item_obj.remove("apiVersion");
    item_obj.remove("kind");
    let list = json!({
        "apiVersion": "v1",
        "kind": "EventList",
        "metadata": {"resourceVersion": "48300"},
        "items": [item]
    });
    let out = conv(&list, "events.k8s.io", "v1");
    assert_eq!(out["apiVersion"], "events.k8s.io/v1");
    assert_eq!(out["kind"], "EventList");
    assert_eq!(out["metadata"], json!({"resourceVersion": "48300"}));
    let converted = &out["items"][0];
    assert!(
        converted.get("apiVersion").is_none(),
        "items keep their bare TypeMeta"
    );
    assert_eq!(converted["note"], kubelet_event()["message"]);
    assert_eq!(converted["regarding"]["name"], "web-7c5ddbdf54-x2k9p");
}

#[test]
fn identity_and_errors() {
    let core = kubelet_event();
    assert_eq!(conv(&core, "", "v1"), core);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
    assert_eq!(conv(&pod, "", "v1"), pod);
    assert_eq!(
        convert(&pod, "events.k8s.io", "v1"),
        Err(ConversionError::Unsupported {
            kind: "Pod".into(),
            from: "v1".into(),
            to: "events.k8s.io/v1".into()
        })
    );
    assert_eq!(
        convert(&core, "events.k8s.io", "v1beta1"),
        Err(ConversionError::Unsupported {
            kind: "Event".into(),
            from: "v1".into(),
            to: "events.k8s.io/v1beta1".into()
        })
    );
    assert_eq!(
        convert(&json!([]), "", "v1"),
        Err(ConversionError::NotAnObject)
    );
    assert_eq!(
        convert(&json!({"kind": "Event"}), "", "v1"),
        Err(ConversionError::MissingTypeMeta("apiVersion"))
    );
    assert_eq!(
        convert(&json!({"apiVersion": "v1"}), "", "v1"),
        Err(ConversionError::MissingTypeMeta("kind"))
    );
    let msg = convert(&pod, "apps", "v1").map_err(|e| e.to_string());
    assert_eq!(
        msg,
        Err("no conversion for kind Pod from v1 to apps/v1".to_string())
    );
}

#[test]
fn storage_versions() {
    assert_eq!(storage_version("", "events"), Some(("", "v1")));
    assert_eq!(storage_version("events.k8s.io", "events"), Some(("", "v1")));
    assert_eq!(
        storage_version("autoscaling", "horizontalpodautoscalers"),
        Some(("autoscaling", "v2"))
    );
    assert_eq!(
        storage_version("autoscaling", "horizontalpodautoscalers/status"),
        Some(("autoscaling", "v2"))
    );
    assert_eq!(storage_version("", "pods"), None);
    assert_eq!(storage_version("apps", "deployments"), None);
    assert_eq!(
        storage_version("autoscaling", "horizontalpodautoscalers/scale"),
        None
    );
}
