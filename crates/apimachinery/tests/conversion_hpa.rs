//! autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler.

use rkube_apimachinery::conversion::{
    convert, BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION, METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
};
use serde_json::{json, Value};

fn to_v1(obj: &Value) -> Value {
    convert(obj, "autoscaling", "v1").expect("converts to v1")
}

fn to_v2(obj: &Value) -> Value {
    convert(obj, "autoscaling", "v2").expect("converts to v2")
}

fn annotation<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("annotation {key} missing in {obj:#}"))
}

/// `kubectl autoscale deployment web --min 1 --max 10 --cpu-percent 50`.
fn v1_cpu_hpa() -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "targetCPUUtilizationPercentage": 50
        }
    })
}

#[test]
fn v1_cpu_target_becomes_a_v2_resource_metric_and_back() {
    let v1 = v1_cpu_hpa();
    let v2 = to_v2(&v1);
    assert_eq!(
        v2,
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 10,
                "metrics": [{
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}
                }]
            }
        })
    );
    assert_eq!(to_v1(&v2), v1);
}

#[test]
fn v1_without_target_gets_the_implicit_80_percent() {
    let mut v1 = v1_cpu_hpa();
    v1["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("targetCPUUtilizationPercentage");
    let v2 = to_v2(&v1);
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}
        }])
    );
    // The default is real data now: reading back as v1 shows it.
    assert_eq!(to_v1(&v2)["spec"]["targetCPUUtilizationPercentage"], 80);
    // A v1 -> v1 "conversion" normalizes the same way upstream's trip
    // through the internal type does.
    assert_eq!(to_v1(&v1)["spec"]["targetCPUUtilizationPercentage"], 80);
}

#[test]
fn v1_current_cpu_is_kept_with_its_raw_value() {
    // Upstream saves status metrics in the annotation even when they map to
    // currentCPUUtilizationPercentage, so a v1 -> v2 -> v1 trip of a status
    // that only had the percentage grows the annotation (raw value "0").
    let mut v1 = v1_cpu_hpa();
    v1["status"] =
        json!({"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 30});
    let v2 = to_v2(&v1);
    assert_eq!(
        v2["status"],
        json!({
            "currentReplicas": 2,
            "desiredReplicas": 2,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 30}}}]
        })
    );
    let back = to_v1(&v2);
    assert_eq!(back["status"], v1["status"]);
    assert_eq!(
        annotation(&back, METRIC_STATUSES_ANNOTATION),
        r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":30,"currentAverageValue":"0"}}]"#
    );
}

/// An autoscaling/v1 HPA exactly as a real apiserver served it (GKE
/// autoscaling lab, `kubectl get hpa web -o yaml`); the annotation strings
/// were written by upstream's Go conversion.
fn upstream_v1_web() -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "annotations": {
                "autoscaling.alpha.kubernetes.io/conditions": "[{\"type\":\"AbleToScale\",\"status\":\"True\",\"lastTransitionTime\":\"2021-10-04T14:11:27Z\",\"reason\":\"ScaleDownStabilized\",\"message\":\"recent recommendations were higher than current one, applying the highest recent recommendation\"},{\"type\":\"ScalingActive\",\"status\":\"True\",\"lastTransitionTime\":\"2021-10-04T14:11:27Z\",\"reason\":\"ValidMetricFound\",\"message\":\"the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)\"},{\"type\":\"ScalingLimited\",\"status\":\"False\",\"lastTransitionTime\":\"2021-10-04T14:11:27Z\",\"reason\":\"DesiredWithinRange\",\"message\":\"the desired count is within the acceptable range\"}]",
                "autoscaling.alpha.kubernetes.io/current-metrics": "[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"currentAverageUtilization\":0,\"currentAverageValue\":\"0\"}}]"
            },
            "creationTimestamp": "2021-10-04T14:11:11Z",
            "name": "web",
            "namespace": "default",
            "resourceVersion": "49782",
            "uid": "6587f667-f583-442c-a5eb-ec25bd42de3b"
        },
        "spec": {
            "maxReplicas": 4,
            "minReplicas": 1,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "targetCPUUtilizationPercentage": 1
        },
        "status": {"currentCPUUtilizationPercentage": 0, "currentReplicas": 1, "desiredReplicas": 1}
    })
}

#[test]
fn upstream_v1_object_round_trips_byte_for_byte() {
    let v1 = upstream_v1_web();
    let v2 = to_v2(&v1);
    assert_eq!(
        v2,
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {
                "creationTimestamp": "2021-10-04T14:11:11Z",
                "name": "web",
                "namespace": "default",
                "resourceVersion": "49782",
                "uid": "6587f667-f583-442c-a5eb-ec25bd42de3b"
            },
            "spec": {
                "maxReplicas": 4,
                "minReplicas": 1,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 1}}}]
            },
            "status": {
                "currentReplicas": 1,
                "desiredReplicas": 1,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "0", "averageUtilization": 0}}}],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2021-10-04T14:11:27Z", "reason": "ScaleDownStabilized", "message": "recent recommendations were higher than current one, applying the highest recent recommendation"},
                    {"type": "ScalingActive", "status": "True", "lastTransitionTime": "2021-10-04T14:11:27Z", "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},
                    {"type": "ScalingLimited", "status": "False", "lastTransitionTime": "2021-10-04T14:11:27Z", "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range"}
                ]
            }
        })
    );
    assert_eq!(to_v1(&v2), v1);
}

#[test]
fn upstream_pods_metric_annotations_round_trip() {
    // `kubectl describe hpa` output from a Hazelcast deployment on GKE.
    let v1 = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "my-release-hazelcast",
            "namespace": "default",
            "annotations": {
                "autoscaling.alpha.kubernetes.io/conditions": "[{\"type\":\"AbleToScale\",\"status\":\"True\",\"lastTransitionTime\":\"2019-09-28T13:31:32Z\",\"reason\":\"ReadyForNewScale\",\"message\":\"recommended size matches current size\"}]",
                "autoscaling.alpha.kubernetes.io/current-metrics": "[{\"type\":\"Pods\",\"pods\":{\"metricName\":\"on_heap_ratio\",\"currentAverageValue\":\"99m\"}}]",
                "autoscaling.alpha.kubernetes.io/metrics": "[{\"type\":\"Pods\",\"pods\":{\"metricName\":\"on_heap_ratio\",\"targetAverageValue\":\"850m\"}}]",
                "meta.helm.sh/release-name": "my-release"
            }
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "my-release-hazelcast"},
            "minReplicas": 2,
            "maxReplicas": 10
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2}
    });
    let v2 = to_v2(&v1);
    assert_eq!(
        v2["metadata"]["annotations"],
        json!({"meta.helm.sh/release-name": "my-release"})
    );
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{
            "type": "Pods",
            "pods": {"metric": {"name": "on_heap_ratio"}, "target": {"type": "AverageValue", "averageValue": "850m"}}
        }])
    );
    assert_eq!(
        v2["status"]["currentMetrics"],
        json!([{"type": "Pods", "pods": {"metric": {"name": "on_heap_ratio"}, "current": {"averageValue": "99m"}}}])
    );
    assert_eq!(to_v1(&v2), v1);
}

/// A v2 HPA using every metric source, custom behavior, and a status as
/// the controller writes it. The CPU utilization metric is listed last,
/// which is where v1 -> v2 puts it, so v2 -> v1 -> v2 is exact.
fn v2_rich_hpa() -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "uid": "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            "resourceVersion": "771",
            "generation": 3,
            "labels": {"app": "checkout"},
            "annotations": {"team": "payments"}
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
            "minReplicas": 2,
            "maxReplicas": 20,
            "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}},
                {"type": "Pods", "pods": {
                    "metric": {"name": "packets-per-second", "selector": {"matchLabels": {"tier": "frontend"}}},
                    "target": {"type": "AverageValue", "averageValue": "1k"}
                }},
                {"type": "Object", "object": {
                    "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main-route"},
                    "metric": {"name": "requests-per-second"},
                    "target": {"type": "Value", "value": "10k"}
                }},
                {"type": "External", "external": {
                    "metric": {"name": "queue_messages_ready", "selector": {"matchExpressions": [{"key": "queue", "operator": "In", "values": ["orders", "payments"]}]}},
                    "target": {"type": "Value", "value": "30"}
                }},
                {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}}},
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "selectPolicy": "Min",
                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}, {"type": "Pods", "value": 4, "periodSeconds": 60}]
                }
            }
        },
        "status": {
            "observedGeneration": 3,
            "lastScaleTime": "2025-05-01T09:58:00Z",
            "currentReplicas": 5,
            "desiredReplicas": 6,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "400Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "packets-per-second", "selector": {"matchLabels": {"tier": "frontend"}}}, "current": {"averageValue": "900"}}},
                {"type": "Object", "object": {
                    "metric": {"name": "requests-per-second"},
                    "current": {"value": "12k"},
                    "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main-route"}
                }},
                {"type": "External", "external": {
                    "metric": {"name": "queue_messages_ready", "selector": {"matchExpressions": [{"key": "queue", "operator": "In", "values": ["orders", "payments"]}]}},
                    "current": {"value": "42"}
                }},
                {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "current": {"averageValue": "300m", "averageUtilization": 60}}},
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "350m", "averageUtilization": 70}}}
            ],
            "conditions": [
                {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2025-05-01T09:58:00Z", "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
                {"type": "ScalingActive", "status": "True", "lastTransitionTime": "2025-05-01T09:00:00Z", "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count from external metric queue_messages_ready(&LabelSelector{...})"},
                {"type": "ScalingLimited", "status": "False", "lastTransitionTime": "2025-05-01T09:00:00Z", "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range"}
            ]
        }
    })
}

#[test]
fn v2_rich_hpa_reads_as_v1_with_exact_annotations() {
    let v2 = v2_rich_hpa();
    let v1 = to_v1(&v2);

    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(
        v1["spec"],
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
            "minReplicas": 2,
            "maxReplicas": 20,
            "targetCPUUtilizationPercentage": 70
        })
    );
    assert_eq!(
        v1["status"],
        json!({
            "observedGeneration": 3,
            "lastScaleTime": "2025-05-01T09:58:00Z",
            "currentReplicas": 5,
            "desiredReplicas": 6,
            "currentCPUUtilizationPercentage": 70
        })
    );
    assert_eq!(annotation(&v1, "team"), "payments");
    assert_eq!(v1["metadata"]["labels"], json!({"app": "checkout"}));

    // Field order, omitempty and quoting as Go's json.Marshal of the
    // autoscaling/v1 annotation types produces them.
    assert_eq!(
        annotation(&v1, METRIC_SPECS_ANNOTATION),
        concat!(
            r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"512Mi"}},"#,
            r#"{"type":"Pods","pods":{"metricName":"packets-per-second","targetAverageValue":"1k","selector":{"matchLabels":{"tier":"frontend"}}}},"#,
            r#"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main-route","apiVersion":"networking.k8s.io/v1"},"metricName":"requests-per-second","targetValue":"10k"}},"#,
            r#"{"type":"External","external":{"metricName":"queue_messages_ready","metricSelector":{"matchExpressions":[{"key":"queue","operator":"In","values":["orders","payments"]}]},"targetValue":"30"}},"#,
            r#"{"type":"ContainerResource","containerResource":{"name":"cpu","targetAverageUtilization":60,"container":"app"}}]"#
        )
    );
    assert_eq!(
        annotation(&v1, METRIC_STATUSES_ANNOTATION),
        concat!(
            r#"[{"type":"Resource","resource":{"name":"memory","currentAverageValue":"400Mi"}},"#,
            r#"{"type":"Pods","pods":{"metricName":"packets-per-second","currentAverageValue":"900","selector":{"matchLabels":{"tier":"frontend"}}}},"#,
            r#"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main-route","apiVersion":"networking.k8s.io/v1"},"metricName":"requests-per-second","currentValue":"12k"}},"#,
            r#"{"type":"External","external":{"metricName":"queue_messages_ready","metricSelector":{"matchExpressions":[{"key":"queue","operator":"In","values":["orders","payments"]}]},"currentValue":"42"}},"#,
            r#"{"type":"ContainerResource","containerResource":{"name":"cpu","currentAverageUtilization":60,"currentAverageValue":"300m","container":"app"}},"#,
            r#"{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":70,"currentAverageValue":"350m"}}]"#
        )
    );
    // The internal behavior type has no json tags: Go field names, nil
    // pointers as null (1.33 added Tolerance at the end of HPAScalingRules).
    assert_eq!(
        annotation(&v1, BEHAVIOR_ANNOTATION),
        concat!(
            r#"{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":null},"#,
            r#""ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Min","Policies":[{"Type":"Percent","Value":10,"PeriodSeconds":60},{"Type":"Pods","Value":4,"PeriodSeconds":60}],"Tolerance":null}}"#
        )
    );
    // Go escapes & < > in strings (HTML-safe encoding).
    assert_eq!(
        annotation(&v1, CONDITIONS_ANNOTATION),
        concat!(
            r#"[{"type":"AbleToScale","status":"True","lastTransitionTime":"2025-05-01T09:58:00Z","reason":"ReadyForNewScale","message":"recommended size matches current size"},"#,
            r#"{"type":"ScalingActive","status":"True","lastTransitionTime":"2025-05-01T09:00:00Z","reason":"ValidMetricFound","message":"the HPA was able to successfully calculate a replica count from external metric queue_messages_ready(\u0026LabelSelector{...})"},"#,
            r#"{"type":"ScalingLimited","status":"False","lastTransitionTime":"2025-05-01T09:00:00Z","reason":"DesiredWithinRange","message":"the desired count is within the acceptable range"}]"#
        )
    );
}

#[test]
fn v2_rich_hpa_round_trips_through_v1_exactly() {
    let v2 = v2_rich_hpa();
    let v1 = to_v1(&v2);
    assert_eq!(to_v2(&v1), v2);
    // And v1 -> v2 -> v1 is stable too.
    assert_eq!(to_v1(&to_v2(&v1)), v1);
}

#[test]
fn v1_client_edits_survive_on_the_v2_side() {
    // A v1 client reads, changes the CPU target and maxReplicas, writes back.
    let mut v1 = to_v1(&v2_rich_hpa());
    v1["spec"]["targetCPUUtilizationPercentage"] = json!(55);
    v1["spec"]["maxReplicas"] = json!(30);
    let v2 = to_v2(&v1);
    let metrics = v2["spec"]["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), 6);
    assert_eq!(metrics[5]["resource"]["target"]["averageUtilization"], 55);
    assert_eq!(v2["spec"]["maxReplicas"], 30);
    assert_eq!(v2["spec"]["behavior"], v2_rich_hpa()["spec"]["behavior"]);
    assert_eq!(v2["metadata"]["annotations"], json!({"team": "payments"}));
}

#[test]
fn cpu_metric_moves_last_as_upstream_does() {
    let v2 = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "a"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "a"},
            "maxReplicas": 3,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 75}}}
            ]
        }
    });
    let v1 = to_v1(&v2);
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    assert_eq!(
        annotation(&v1, METRIC_SPECS_ANNOTATION),
        r#"[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":75}}]"#
    );
    assert!(v1.get("status").is_none());
    let back = to_v2(&v1);
    let metrics = &back["spec"]["metrics"];
    assert_eq!(metrics[0]["resource"]["name"], "memory");
    assert_eq!(metrics[1]["resource"]["name"], "cpu");
}

#[test]
fn v1_non_pointer_quantities_come_back_as_zero() {
    // v1's ObjectMetricSource.targetValue, *MetricStatus current values are
    // plain Quantities, so an unset v2 value returns as "0" (upstream too).
    let v2 = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "q"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "q"},
            "maxReplicas": 3,
            "metrics": [{"type": "Object", "object": {
                "describedObject": {"kind": "Service", "name": "svc"},
                "metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "100"}
            }}]
        },
        "status": {
            "desiredReplicas": 1,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]
        }
    });
    let v1 = to_v1(&v2);
    assert_eq!(
        annotation(&v1, METRIC_SPECS_ANNOTATION),
        r#"[{"type":"Object","object":{"target":{"kind":"Service","name":"svc"},"metricName":"rps","targetValue":"0","averageValue":"100"}}]"#
    );
    assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 12);
    let back = to_v2(&v1);
    assert_eq!(
        back["spec"]["metrics"][0]["object"]["target"],
        json!({"type": "AverageValue", "value": "0", "averageValue": "100"})
    );
    assert_eq!(
        back["status"]["currentMetrics"][0]["resource"]["current"],
        json!({"averageValue": "0", "averageUtilization": 12})
    );
}

#[test]
fn tolerance_travels_inside_the_behavior_annotation() {
    let mut v2 = v2_rich_hpa();
    v2["spec"]["behavior"]["scaleUp"]["tolerance"] = json!("50m");
    let v1 = to_v1(&v2);
    assert!(annotation(&v1, BEHAVIOR_ANNOTATION)
        .contains(r#""PeriodSeconds":15}],"Tolerance":"50m"},"ScaleDown""#));
    assert_eq!(to_v2(&v1), v2);
}

#[test]
fn behavior_annotation_from_upstream_docs_is_understood() {
    // Example from the OpenShift HPA docs (an apiserver before 1.33, so no
    // Tolerance key); partial behavior as well as lower-case keys decode
    // because Go matches json keys case-insensitively.
    let docs = concat!(
        r#"{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}]},"#,
        r#""ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Min","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":60},{"Type":"Percent","Value":10,"PeriodSeconds":60}]}}"#
    );
    let mut v1 = v1_cpu_hpa();
    v1["metadata"]["annotations"] = json!({ BEHAVIOR_ANNOTATION: docs });
    let v2 = to_v2(&v1);
    assert_eq!(
        v2["spec"]["behavior"],
        json!({
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 60}, {"type": "Percent", "value": 10, "periodSeconds": 60}]}
        })
    );
    assert!(v2["metadata"].get("annotations").is_none());
    // Written back by a 1.33 apiserver, the annotation gains Tolerance.
    let expected = docs
        .replace(
            r#"15}]},"ScaleDown""#,
            r#"15}],"Tolerance":null},"ScaleDown""#,
        )
        .replace(r#"60}]}}"#, r#"60}],"Tolerance":null}}"#);
    assert_eq!(annotation(&to_v1(&v2), BEHAVIOR_ANNOTATION), expected);

    let mut lower = v1_cpu_hpa();
    lower["metadata"]["annotations"] =
        json!({ BEHAVIOR_ANNOTATION: r#"{"scaleUp":{"stabilizationWindowSeconds":30}}"# });
    assert_eq!(
        to_v2(&lower)["spec"]["behavior"],
        json!({"scaleUp": {"stabilizationWindowSeconds": 30}})
    );
}

#[test]
fn undecodable_annotations_are_ignored_and_dropped() {
    let mut v1 = v1_cpu_hpa();
    v1["metadata"]["annotations"] = json!({
        METRIC_SPECS_ANNOTATION: "not json",
        METRIC_STATUSES_ANNOTATION: r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":"high"}}]"#,
        CONDITIONS_ANNOTATION: r#"[{"type":"AbleToScale","status":"True","lastTransitionTime":"yesterday"}]"#,
        BEHAVIOR_ANNOTATION: r#"{"ScaleUp":null,"ScaleDown":null}"#,
        "autoscaling.alpha.kubernetes.io/scale-up-tolerance": "0.05",
        "keep": "me"
    });
    v1["status"] =
        json!({"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 20});
    let v2 = to_v2(&v1);
    assert_eq!(v2["metadata"]["annotations"], json!({"keep": "me"}));
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}])
    );
    assert!(v2["spec"].get("behavior").is_none());
    assert_eq!(
        v2["status"],
        json!({
            "currentReplicas": 1,
            "desiredReplicas": 1,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 20}}}]
        })
    );
}

#[test]
fn v2_identity_drops_stale_round_trip_annotations() {
    let mut v2 = v2_rich_hpa();
    v2["metadata"]["annotations"][METRIC_SPECS_ANNOTATION] = json!("[]");
    v2["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/scale-down-tolerance"] =
        json!("0.1");
    assert_eq!(to_v2(&v2), v2_rich_hpa());

    // Reading as v1 also discards them before writing fresh ones.
    let v1 = to_v1(&v2);
    let keys: Vec<&String> = v1["metadata"]["annotations"]
        .as_object()
        .expect("annotations")
        .keys()
        .collect();
    assert_eq!(
        keys,
        vec![
            BEHAVIOR_ANNOTATION,
            CONDITIONS_ANNOTATION,
            METRIC_STATUSES_ANNOTATION,
            METRIC_SPECS_ANNOTATION,
            "team"
        ]
    );
}

#[test]
fn hpa_lists_convert() {
    let list = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscalerList",
        "metadata": {"resourceVersion": "900"},
        "items": [v2_rich_hpa(), to_v2(&v1_cpu_hpa())]
    });
    let out = convert(&list, "autoscaling", "v1").expect("converts");
    assert_eq!(out["apiVersion"], "autoscaling/v1");
    assert_eq!(out["items"][0], to_v1(&v2_rich_hpa()));
    assert_eq!(out["items"][1], v1_cpu_hpa());
}
