//! Expected cells are hand-derived from the upstream print functions
//! (pkg/printers/internalversion/printers.go, Kubernetes 1.33) for realistic
//! objects, so a regression here means `kubectl get` output would differ
//! from a real cluster.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::*;

fn now() -> OffsetDateTime {
    OffsetDateTime::parse("2024-06-01T12:00:00Z", &Rfc3339).expect("valid now")
}

/// RFC 3339 timestamp `secs` seconds before [`now`].
fn ago(secs: i64) -> String {
    (now() - Duration::seconds(secs))
        .format(&Rfc3339)
        .expect("formattable")
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn meta(name: &str, age_secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(age_secs)})
}

fn table(group: &str, kind: &str, objs: &[Value]) -> Value {
    table_for(group, kind, objs, now(), TableOptions::default())
}

fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    let t = table(group, kind, &[obj]);
    let cells = t["rows"][0]["cells"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ncols = t["columnDefinitions"].as_array().map_or(0, Vec::len);
    // Every upstream printer (except IPAddress) emits one cell per column.
    if kind != "IPAddress" {
        assert_eq!(cells.len(), ncols, "{kind}: cells {cells:?}");
    }
    cells
}

fn col_names(group: &str, kind: &str) -> Vec<(String, i64)> {
    column_definitions(group, kind)
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["priority"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- pods

fn pod(name: &str, spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, 5 * MIN),
        "spec": spec,
        "status": status,
    })
}

fn one_container() -> Value {
    json!({"containers": [{"name": "web", "image": "nginx:1.25"}]})
}

fn pod_cells(p: Value) -> Vec<Value> {
    cells("", "Pod", p)
}

#[test]
fn pod_pending_unscheduled() {
    let c = pod_cells(pod("web", one_container(), json!({"phase": "Pending"})));
    assert_eq!(
        c,
        vec![
            json!("web"),
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("5m"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_container_creating() {
    let mut spec = one_container();
    spec["nodeName"] = json!("node-1");
    let c = pod_cells(pod(
        "web",
        spec,
        json!({
            "phase": "Pending",
            "containerStatuses": [{
                "name": "web", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}
            }]
        }),
    ));
    assert_eq!(c[1], json!("0/1"));
    assert_eq!(c[2], json!("ContainerCreating"));
    assert_eq!(c[3], json!("0"));
    assert_eq!(c[6], json!("node-1"));
}

#[test]
fn pod_running() {
    let mut spec = one_container();
    spec["nodeName"] = json!("node-1");
    let c = pod_cells(pod(
        "web",
        spec,
        json!({
            "phase": "Running",
            "podIP": "10.244.1.5",
            "podIPs": [{"ip": "10.244.1.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": ago(4 * MIN)}}
            }]
        }),
    ));
    assert_eq!(
        c,
        vec![
            json!("web"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.244.1.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_crash_loop_back_off_with_restarts() {
    let spec = json!({"containers": [
        {"name": "app", "image": "app:1"},
        {"name": "sidecar", "image": "envoy:1"}
    ]});
    let c = pod_cells(pod(
        "app",
        spec,
        json!({
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0,
                 "state": {"running": {"startedAt": ago(4 * MIN)}}},
                {"name": "sidecar", "ready": false, "restartCount": 5,
                 "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                     "finishedAt": ago(3 * MIN)}}}
            ]
        }),
    ));
    assert_eq!(c[1], json!("1/2"));
    assert_eq!(c[2], json!("CrashLoopBackOff"));
    assert_eq!(c[3], json!("5 (3m ago)"));
}

#[test]
fn pod_completed_has_row_condition() {
    let p = pod(
        "job-x",
        one_container(),
        json!({
            "phase": "Succeeded",
            "containerStatuses": [{
                "name": "web", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
            }]
        }),
    );
    let t = table("", "Pod", std::slice::from_ref(&p));
    let row = &t["rows"][0];
    assert_eq!(row["cells"][1], json!("0/1"));
    assert_eq!(row["cells"][2], json!("Completed"));
    assert_eq!(
        row["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
    );
}

#[test]
fn pod_failed_error_and_exit_code() {
    let failed = |term: Value| {
        pod_cells(pod(
            "x",
            one_container(),
            json!({"phase": "Failed", "containerStatuses": [{
                "name": "web", "ready": false, "restartCount": 0,
                "state": {"terminated": term}
            }]}),
        ))
    };
    assert_eq!(
        failed(json!({"exitCode": 1, "reason": "Error"}))[2],
        json!("Error")
    );
    assert_eq!(failed(json!({"exitCode": 137}))[2], json!("ExitCode:137"));
    assert_eq!(
        failed(json!({"exitCode": 0, "signal": 9}))[2],
        json!("Signal:9")
    );
    let evicted = pod_cells(pod(
        "x",
        one_container(),
        json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
    ));
    assert_eq!(evicted[2], json!("Evicted"));
    let t = table(
        "",
        "Pod",
        &[pod("x", one_container(), json!({"phase": "Failed"}))],
    );
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], json!("Failed"));
    assert_eq!(
        t["rows"][0]["conditions"][0]["message"],
        json!("The pod failed.")
    );
}

#[test]
fn pod_terminating() {
    let mut p = pod(
        "web",
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{
            "name": "web", "ready": true, "restartCount": 0,
            "state": {"running": {}}
        }]}),
    );
    p["metadata"]["deletionTimestamp"] = json!(ago(10));
    let c = pod_cells(p.clone());
    assert_eq!(c[1], json!("1/1"));
    assert_eq!(c[2], json!("Terminating"));
    // A terminal pod being deleted keeps its phase reason.
    p["status"] = json!({"phase": "Succeeded"});
    assert_eq!(pod_cells(p)[2], json!("Succeeded"));
}

#[test]
fn pod_node_lost_unknown() {
    let mut p = pod(
        "web",
        one_container(),
        json!({"phase": "Running", "reason": "NodeLost", "containerStatuses": [{
            "name": "web", "ready": true, "restartCount": 0, "state": {"running": {}}
        }]}),
    );
    p["metadata"]["deletionTimestamp"] = json!(ago(60));
    assert_eq!(pod_cells(p)[2], json!("Unknown"));
}

fn init_spec() -> Value {
    json!({
        "initContainers": [
            {"name": "init-a", "image": "busybox"},
            {"name": "init-b", "image": "busybox"}
        ],
        "containers": [{"name": "web", "image": "nginx"}]
    })
}

#[test]
fn pod_init_progress() {
    let c = pod_cells(pod(
        "web",
        init_spec(),
        json!({
            "phase": "Pending",
            "conditions": [{"type": "Initialized", "status": "False"}],
            "initContainerStatuses": [
                {"name": "init-a", "ready": false, "restartCount": 0, "state": {"running": {}}},
                {"name": "init-b", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "PodInitializing"}}}
            ],
            "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]
        }),
    ));
    assert_eq!(c[1], json!("0/1"));
    assert_eq!(c[2], json!("Init:0/2"));
    assert_eq!(c[3], json!("0"));

    // First init container done, second running => Init:1/2.
    let c = pod_cells(pod(
        "web",
        init_spec(),
        json!({
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "init-a", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "init-b", "ready": false, "restartCount": 0, "state": {"running": {}}}
            ]
        }),
    ));
    assert_eq!(c[2], json!("Init:1/2"));
}

#[test]
fn pod_init_failures() {
    let c = pod_cells(pod(
        "web",
        init_spec(),
        json!({
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "init-a", "ready": false, "restartCount": 3,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(65)}}}
            ]
        }),
    ));
    assert_eq!(c[2], json!("Init:CrashLoopBackOff"));
    assert_eq!(c[3], json!("3 (65s ago)"));

    let c = pod_cells(pod(
        "web",
        init_spec(),
        json!({
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "init-a", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
            ]
        }),
    ));
    assert_eq!(c[2], json!("Init:Error"));

    let c = pod_cells(pod(
        "web",
        init_spec(),
        json!({
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "init-a", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 2}}}
            ]
        }),
    ));
    assert_eq!(c[2], json!("Init:ExitCode:2"));
}

#[test]
fn pod_initializing() {
    let c = pod_cells(pod(
        "web",
        init_spec(),
        json!({
            "phase": "Pending",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                {"name": "init-a", "ready": true, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "init-b", "ready": true, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ],
            "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]
        }),
    ));
    assert_eq!(c[1], json!("0/1"));
    assert_eq!(c[2], json!("PodInitializing"));
}

#[test]
fn pod_completed_container_with_running_sibling() {
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    let status = |ready: &str| {
        json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]
        })
    };
    let c = pod_cells(pod("p", spec.clone(), status("False")));
    assert_eq!(c[1], json!("1/2"));
    assert_eq!(c[2], json!("NotReady"));
    let c = pod_cells(pod("p", spec, status("True")));
    assert_eq!(c[2], json!("Running"));
}

#[test]
fn pod_sidecar_restartable_init_container() {
    let spec = json!({
        "initContainers": [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}],
        "containers": [{"name": "app", "image": "app"}]
    });
    let c = pod_cells(pod(
        "p",
        spec,
        json!({
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"}
            ],
            "initContainerStatuses": [{
                "name": "proxy", "ready": true, "started": true, "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(10 * MIN)}}
            }],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]
        }),
    ));
    assert_eq!(c[1], json!("2/2"));
    assert_eq!(c[2], json!("Running"));
    assert_eq!(c[3], json!("1 (10m ago)"));
}

#[test]
fn pod_scheduling_gated_and_wide_fields() {
    let mut spec = one_container();
    spec["readinessGates"] = json!([{"conditionType": "example.com/lb"}, {"conditionType": "x"}]);
    let c = pod_cells(pod(
        "p",
        spec,
        json!({
            "phase": "Pending",
            "nominatedNodeName": "node-2",
            "podIPs": [{"ip": "fd00::5"}],
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
                {"type": "example.com/lb", "status": "True"}
            ]
        }),
    ));
    assert_eq!(c[2], json!("SchedulingGated"));
    assert_eq!(c[5], json!("fd00::5"));
    assert_eq!(c[7], json!("node-2"));
    assert_eq!(c[8], json!("1/2"));
}

#[test]
fn pod_columns() {
    assert_eq!(
        col_names("", "Pod"),
        vec![
            ("Name".to_string(), 0),
            ("Ready".to_string(), 0),
            ("Status".to_string(), 0),
            ("Restarts".to_string(), 0),
            ("Age".to_string(), 0),
            ("IP".to_string(), 1),
            ("Node".to_string(), 1),
            ("Nominated Node".to_string(), 1),
            ("Readiness Gates".to_string(), 1),
        ]
    );
    let defs = column_definitions("core", "Pod");
    assert_eq!(defs[0]["format"], json!("name"));
    assert_eq!(defs[3]["type"], json!("string"));
    assert!(defs[0]["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("Name must be unique within a namespace.")));
}

// ---------------------------------------------------------------- workloads

fn template(containers: Value) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
}

#[test]
fn deployment() {
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta("web", 2 * DAY + 3 * HOUR),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(json!([
                {"name": "nginx", "image": "nginx:1.25"},
                {"name": "log", "image": "fluent-bit:3"}
            ]))
        },
        "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}
    });
    assert_eq!(
        cells("apps", "Deployment", d),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("2d3h"),
            json!("nginx,log"),
            json!("nginx:1.25,fluent-bit:3"),
            json!("app=web")
        ]
    );
    // A fresh deployment without status.
    let d = json!({"metadata": meta("new", 30), "spec": {"replicas": 0,
        "selector": {"matchLabels": {"app": "new"}}, "template": template(json!([]))}});
    let c = cells("apps", "Deployment", d);
    assert_eq!(c[1..5], [json!("0/0"), json!(0), json!(0), json!("30s")]);
    assert_eq!(
        col_names("apps", "Deployment")
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        vec![
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
}

#[test]
fn replica_set_and_replication_controller() {
    let rs = json!({
        "metadata": meta("web-5d4f8", 3 * HOUR + 2 * MIN),
        "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f8"}},
            "template": template(json!([{"name": "nginx", "image": "nginx:1.25"}]))},
        "status": {"replicas": 3, "readyReplicas": 3}
    });
    assert_eq!(
        cells("apps", "ReplicaSet", rs),
        vec![
            json!("web-5d4f8"),
            json!(3),
            json!(3),
            json!(3),
            json!("3h2m"),
            json!("nginx"),
            json!("nginx:1.25"),
            json!("app=web,pod-template-hash=5d4f8")
        ]
    );
    let rc = json!({
        "metadata": meta("legacy", 9 * DAY),
        "spec": {"replicas": 2, "selector": {"app": "legacy"},
            "template": template(json!([{"name": "c", "image": "i"}]))},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    assert_eq!(
        cells("", "ReplicationController", rc),
        vec![
            json!("legacy"),
            json!(2),
            json!(2),
            json!(1),
            json!("9d"),
            json!("c"),
            json!("i"),
            json!("app=legacy")
        ]
    );
}

#[test]
fn stateful_set_and_daemon_set() {
    let sts = json!({
        "metadata": meta("db", 25 * HOUR),
        "spec": {"replicas": 3, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template(json!([{"name": "pg", "image": "postgres:16"}]))},
        "status": {"replicas": 3, "readyReplicas": 1}
    });
    assert_eq!(
        cells("apps", "StatefulSet", sts),
        vec![
            json!("db"),
            json!("1/3"),
            json!("25h"),
            json!("pg"),
            json!("postgres:16")
        ]
    );
    let ds = json!({
        "metadata": meta("kube-proxy", 400 * DAY),
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.33.0"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 3, "numberAvailable": 2}
    });
    assert_eq!(
        cells("apps", "DaemonSet", ds),
        vec![
            json!("kube-proxy"),
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("kubernetes.io/os=linux"),
            json!("400d"),
            json!("kube-proxy"),
            json!("registry.k8s.io/kube-proxy:v1.33.0"),
            json!("k8s-app=kube-proxy")
        ]
    );
}

#[test]
fn jobs() {
    let done = json!({
        "metadata": meta("pi", 12 * MIN),
        "spec": {"completions": 1, "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "8c1d"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}},
        "status": {"startTime": ago(10 * MIN), "completionTime": ago(7 * MIN), "succeeded": 1,
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                           {"type": "Complete", "status": "True"}]}
    });
    assert_eq!(
        cells("batch", "Job", done),
        vec![
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("3m"),
            json!("12m"),
            json!("pi"),
            json!("perl:5.34"),
            json!("batch.kubernetes.io/controller-uid=8c1d")
        ]
    );
    let running = json!({
        "metadata": meta("work", 100),
        "spec": {"parallelism": 3, "template": {"spec": {"containers": []}}},
        "status": {"startTime": ago(95), "active": 3}
    });
    let c = cells("batch", "Job", running);
    assert_eq!(c[1..4], [json!("Running"), json!("0/1 of 3"), json!("95s")]);
    let failed = json!({
        "metadata": meta("bad", 100),
        "spec": {"completions": 2},
        "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}
    });
    let c = cells("batch", "Job", failed);
    assert_eq!(c[1..4], [json!("Failed"), json!("0/2"), json!("")]);
    let suspended = json!({
        "metadata": meta("s", 100),
        "spec": {"completions": 1, "suspend": true},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]}
    });
    assert_eq!(cells("batch", "Job", suspended)[1], json!("Suspended"));
}

#[test]
fn cron_job() {
    let cj = json!({
        "metadata": meta("hello", 3 * DAY),
        "spec": {"schedule": "*/1 * * * *", "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "hello", "image": "busybox:1.36"}]}}}}},
        "status": {"active": [{"name": "hello-28611", "namespace": "default"}],
            "lastScheduleTime": ago(45)}
    });
    assert_eq!(
        cells("batch", "CronJob", cj),
        vec![
            json!("hello"),
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("45s"),
            json!("3d"),
            json!("hello"),
            json!("busybox:1.36"),
            json!("<none>")
        ]
    );
    let cj = json!({
        "metadata": meta("nightly", 3 * DAY),
        "spec": {"schedule": "0 0 * * *", "timeZone": "Europe/Berlin", "suspend": true,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}
    });
    let c = cells("batch", "CronJob", cj);
    assert_eq!(
        c[2..6],
        [
            json!("Europe/Berlin"),
            json!("True"),
            json!(0),
            json!("<none>")
        ]
    );
}

#[test]
fn horizontal_pod_autoscaler() {
    let hpa = json!({
        "apiVersion": "autoscaling/v2",
        "metadata": meta("web", 20 * MIN),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "100Mi"}}}
            ]
        },
        "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": 23, "averageValue": "115m"}}},
            {"type": "Resource", "resource": {"name": "memory",
                "current": {"averageValue": "52428800"}}}
        ]}
    });
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", hpa),
        vec![
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 23%/50%, memory: 52428800/100Mi"),
            json!("2"),
            json!(10),
            json!(3),
            json!("20m")
        ]
    );
    // Three metrics, no status yet: truncated to two.
    let hpa = json!({
        "metadata": meta("many", 60),
        "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}, "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}}
            ]}
    });
    let c = cells("autoscaling", "HorizontalPodAutoscaler", hpa);
    assert_eq!(c[2], json!("cpu: <unknown>/80%, <unknown>/1k + 1 more..."));
    assert_eq!(c[3], json!("1"));
    // autoscaling/v1 shape.
    let v1 = json!({
        "apiVersion": "autoscaling/v1",
        "metadata": meta("v1", 60),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1,
            "maxReplicas": 4, "targetCPUUtilizationPercentage": 80},
        "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 40}
    });
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", v1)[2],
        json!("cpu: 40%/80%")
    );
    // No metrics at all: defaulted to 80% CPU.
    let bare = json!({"metadata": meta("bare", 60),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", bare)[2],
        json!("cpu: <unknown>/80%")
    );
}

#[test]
fn pod_disruption_budget() {
    let pdb = json!({
        "metadata": meta("web-pdb", 2 * HOUR),
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}
    });
    assert_eq!(
        cells("policy", "PodDisruptionBudget", pdb),
        vec![
            json!("web-pdb"),
            json!("2"),
            json!("N/A"),
            json!(1),
            json!("120m")
        ]
    );
    let pdb = json!({"metadata": meta("p2", 60), "spec": {"maxUnavailable": "25%"}});
    let c = cells("policy", "PodDisruptionBudget", pdb);
    assert_eq!(c[1..4], [json!("N/A"), json!("25%"), json!(0)]);
}

#[test]
fn controller_revision_and_pod_template() {
    let cr = json!({
        "metadata": {"name": "web-7d9f8b", "namespace": "default",
            "creationTimestamp": ago(MIN),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                "name": "web", "uid": "1", "controller": true}]},
        "revision": 2
    });
    assert_eq!(
        cells("apps", "ControllerRevision", cr),
        vec![
            json!("web-7d9f8b"),
            json!("statefulset.apps/web"),
            json!(2),
            json!("60s")
        ]
    );
    let orphan = json!({"metadata": meta("o", MIN), "revision": 1});
    assert_eq!(
        cells("apps", "ControllerRevision", orphan)[1],
        json!("<none>")
    );
    let pt = json!({
        "metadata": meta("tmpl", MIN),
        "template": {"metadata": {"labels": {"tier": "fe", "app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "ia"}, {"name": "b", "image": "ib"}]}}
    });
    assert_eq!(
        cells("", "PodTemplate", pt),
        vec![
            json!("tmpl"),
            json!("a,b"),
            json!("ia,ib"),
            json!("app=web,tier=fe")
        ]
    );
}

// ---------------------------------------------------------------- networking

fn svc(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("svc", 7 * DAY + 23 * HOUR), "spec": spec, "status": status})
}

#[test]
fn services() {
    let c = cells(
        "",
        "Service",
        svc(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}),
            json!({"loadBalancer": {}}),
        ),
    );
    assert_eq!(
        c,
        vec![
            json!("svc"),
            json!("ClusterIP"),
            json!("10.96.0.1"),
            json!("<none>"),
            json!("443/TCP"),
            json!("7d23h"),
            json!("<none>")
        ]
    );
    let c = cells(
        "",
        "Service",
        svc(
            json!({"type": "NodePort", "clusterIP": "10.96.12.7", "clusterIPs": ["10.96.12.7"],
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                          {"port": 53, "protocol": "UDP", "nodePort": 30053}]}),
            json!({}),
        ),
    );
    assert_eq!(
        c[1..5],
        [
            json!("NodePort"),
            json!("10.96.12.7"),
            json!("<none>"),
            json!("80:30080/TCP,53:30053/UDP")
        ]
    );
    assert_eq!(c[6], json!("app=web"));
    let lb = |status: Value, external: Value| {
        cells(
            "",
            "Service",
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.96.5.5",
                    "externalIPs": external, "ports": [{"port": 80, "nodePort": 31000}]}),
                status,
            ),
        )[3]
        .clone()
    };
    assert_eq!(
        lb(json!({"loadBalancer": {}}), json!([])),
        json!("<pending>")
    );
    assert_eq!(
        lb(
            json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}}),
            json!([])
        ),
        json!("203.0.113.9,lb.example.com")
    );
    assert_eq!(
        lb(
            json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}),
            json!(["198.51.100.1"])
        ),
        json!("203.0.113.9,198.51.100.1")
    );
    let c = cells(
        "",
        "Service",
        svc(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        ),
    );
    assert_eq!(
        c[1..5],
        [
            json!("ExternalName"),
            json!("<none>"),
            json!("db.example.com"),
            json!("<none>")
        ]
    );
    // Headless service: clusterIP None.
    let c = cells(
        "",
        "Service",
        svc(
            json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}),
            json!({}),
        ),
    );
    assert_eq!(
        c[1..5],
        [
            json!("ClusterIP"),
            json!("None"),
            json!("<none>"),
            json!("5432/TCP")
        ]
    );
}

#[test]
fn endpoints_and_slices() {
    let ep = json!({"metadata": meta("web", MIN), "subsets": [{
        "addresses": [{"ip": "10.244.1.5"}, {"ip": "10.244.2.7"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]});
    assert_eq!(
        cells("", "Endpoints", ep),
        vec![
            json!("web"),
            json!("10.244.1.5:8080,10.244.2.7:8080"),
            json!("60s")
        ]
    );
    let many = json!({"metadata": meta("many", MIN), "subsets": [{
        "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}, {"ip": "10.0.0.4"}],
        "ports": [{"port": 80}, {"port": 443}]}]});
    assert_eq!(
        cells("", "Endpoints", many)[1],
        json!("10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 5 more...")
    );
    let none = json!({"metadata": meta("none", MIN)});
    assert_eq!(cells("", "Endpoints", none)[1], json!("<none>"));

    let slice = json!({
        "metadata": meta("web-abc12", MIN),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.1.5"], "conditions": {"ready": true}},
            {"addresses": ["10.244.2.7"], "conditions": {"ready": true}}
        ]
    });
    assert_eq!(
        cells("discovery.k8s.io", "EndpointSlice", slice),
        vec![
            json!("web-abc12"),
            json!("IPv4"),
            json!("8080"),
            json!("10.244.1.5,10.244.2.7"),
            json!("60s")
        ]
    );
    let empty = json!({"metadata": meta("e", MIN), "addressType": "IPv6", "ports": [{}]});
    let c = cells("discovery.k8s.io", "EndpointSlice", empty);
    assert_eq!(c[2..4], [json!("*"), json!("<unset>")]);
}

#[test]
fn ingress_and_class() {
    let ing = json!({
        "metadata": meta("web", 2 * DAY),
        "spec": {"ingressClassName": "nginx",
            "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.49.2"}]}}
    });
    assert_eq!(
        cells("networking.k8s.io", "Ingress", ing),
        vec![
            json!("web"),
            json!("nginx"),
            json!("a.example.com,b.example.com"),
            json!("192.168.49.2"),
            json!("80, 443"),
            json!("2d")
        ]
    );
    let many = json!({"metadata": meta("m", 60), "spec": {"rules": [
        {"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d"}, {"host": "e"}]}});
    let c = cells("networking.k8s.io", "Ingress", many);
    assert_eq!(
        c[1..5],
        [
            json!("<none>"),
            json!("a,b,c + 2 more..."),
            json!(""),
            json!("80")
        ]
    );
    let star = json!({"metadata": meta("s", 60), "spec": {"defaultBackend": {}}});
    assert_eq!(cells("networking.k8s.io", "Ingress", star)[2], json!("*"));

    let ic = json!({"metadata": meta("nginx", 60), "spec": {"controller": "k8s.io/ingress-nginx"}});
    assert_eq!(
        cells("networking.k8s.io", "IngressClass", ic),
        vec![
            json!("nginx"),
            json!("k8s.io/ingress-nginx"),
            json!("<none>"),
            json!("60s")
        ]
    );
    let ic = json!({"metadata": meta("ext", 60), "spec": {"controller": "example.com/lb",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        cells("networking.k8s.io", "IngressClass", ic)[2],
        json!("IngressParameters.k8s.example.com/external-lb")
    );
}

#[test]
fn network_policy() {
    let np = json!({"metadata": meta("db", 60), "spec": {
        "podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Ingress"]}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", np),
        vec![json!("db"), json!("role=db"), json!("60s")]
    );
    let all = json!({"metadata": meta("deny-all", 60), "spec": {"podSelector": {}}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", all)[1],
        json!("<none>")
    );
}

// ---------------------------------------------------------------- core

#[test]
fn nodes() {
    let node = json!({
        "metadata": {"name": "cp-1", "creationTimestamp": ago(45 * DAY),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "cp-1"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"}
            ],
            "addresses": [{"type": "InternalIP", "address": "192.168.0.10"},
                          {"type": "Hostname", "address": "cp-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Ubuntu 24.04 LTS",
                "kernelVersion": "6.8.0-45-generic", "containerRuntimeVersion": "containerd://1.7.22"}
        }
    });
    assert_eq!(
        cells("", "Node", node),
        vec![
            json!("cp-1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane"),
            json!("45d"),
            json!("v1.33.1"),
            json!("192.168.0.10"),
            json!("<none>"),
            json!("Ubuntu 24.04 LTS"),
            json!("6.8.0-45-generic"),
            json!("containerd://1.7.22")
        ]
    );
    let worker = json!({
        "metadata": {"name": "w", "creationTimestamp": ago(MIN),
            "labels": {"kubernetes.io/role": "worker", "node-role.kubernetes.io/gpu": "true"}},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
            "addresses": [{"type": "ExternalIP", "address": "203.0.113.4"}]}
    });
    let c = cells("", "Node", worker);
    assert_eq!(c[1..3], [json!("NotReady"), json!("gpu,worker")]);
    assert_eq!(
        c[5..],
        [
            json!("<none>"),
            json!("203.0.113.4"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
    let bare = json!({"metadata": {"name": "b", "creationTimestamp": ago(MIN)}});
    let c = cells("", "Node", bare);
    assert_eq!(c[1..3], [json!("Unknown"), json!("<none>")]);
}

#[test]
fn namespaces_config_secrets_service_accounts() {
    assert_eq!(
        cells(
            "",
            "Namespace",
            json!({"metadata": meta("default", 30 * DAY),
            "status": {"phase": "Active"}})
        ),
        vec![json!("default"), json!("Active"), json!("30d")]
    );
    assert_eq!(
        cells(
            "",
            "Namespace",
            json!({"metadata": meta("old", 60),
            "status": {"phase": "Terminating"}})
        )[1],
        json!("Terminating")
    );
    assert_eq!(
        cells(
            "",
            "ConfigMap",
            json!({"metadata": meta("kube-root-ca.crt", HOUR),
            "data": {"ca.crt": "x", "extra": "y"}, "binaryData": {"b": "AAE="}})
        ),
        vec![json!("kube-root-ca.crt"), json!(3), json!("60m")]
    );
    assert_eq!(
        cells(
            "",
            "Secret",
            json!({"metadata": meta("tls", HOUR), "type": "kubernetes.io/tls",
            "data": {"tls.crt": "", "tls.key": ""}})
        ),
        vec![
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("60m")
        ]
    );
    assert_eq!(
        cells("", "Secret", json!({"metadata": meta("plain", HOUR)}))[1..3],
        [json!("Opaque"), json!(0)]
    );
    assert_eq!(
        cells(
            "",
            "ServiceAccount",
            json!({"metadata": meta("default", 10 * DAY)})
        ),
        vec![json!("default"), json!(0), json!("10d")]
    );
}

#[test]
fn core_events() {
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": meta("web-1.17d4a", 10 * MIN),
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1",
            "fieldPath": "spec.containers{web}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container web in pod web-1\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(10 * MIN),
        "lastTimestamp": ago(2 * MIN),
        "count": 7,
        "type": "Warning"
    });
    assert_eq!(
        cells("", "Event", ev),
        vec![
            json!("2m"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-1"),
            json!("spec.containers{web}"),
            json!("kubelet, node-1"),
            json!("Back-off restarting failed container web in pod web-1"),
            json!("10m"),
            json!(7),
            json!("web-1.17d4a")
        ]
    );
    assert_eq!(
        col_names("", "Event")
            .iter()
            .map(|(n, p)| format!("{n}:{p}"))
            .collect::<Vec<_>>(),
        vec![
            "Last Seen:0",
            "Type:0",
            "Reason:0",
            "Object:0",
            "Subobject:1",
            "Source:1",
            "Message:0",
            "First Seen:1",
            "Count:1",
            "Name:1"
        ]
    );
}

#[test]
fn events_k8s_io_events() {
    let ev = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": meta("web.17d4b", MIN),
        "eventTime": "2024-06-01T11:59:29.876543Z",
        "reportingController": "deployment-controller",
        "reportingInstance": "",
        "action": "ScalingReplicaSet",
        "reason": "ScalingReplicaSet",
        "regarding": {"kind": "Deployment", "namespace": "default", "name": "web"},
        "note": "Scaled up replica set web-5d4f8 to 3",
        "type": "Normal"
    });
    assert_eq!(
        cells("events.k8s.io", "Event", ev),
        vec![
            json!("30s"),
            json!("Normal"),
            json!("ScalingReplicaSet"),
            json!("deployment/web"),
            json!(""),
            json!("deployment-controller"),
            json!("Scaled up replica set web-5d4f8 to 3"),
            json!("30s"),
            json!(1),
            json!("web.17d4b")
        ]
    );
    let series = json!({
        "metadata": meta("s", HOUR),
        "eventTime": ago(HOUR),
        "series": {"count": 12, "lastObservedTime": ago(65)},
        "regarding": {"kind": "Node", "name": "node-1"},
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "reason": "NodeNotReady", "type": "Normal", "note": "x"
    });
    let c = cells("events.k8s.io", "Event", series);
    assert_eq!(c[0], json!("65s"));
    assert_eq!(c[3], json!("node/node-1"));
    assert_eq!(c[5], json!("kubelet, node-1"));
    assert_eq!(c[7], json!("60m"));
    assert_eq!(c[8], json!(12));
}

#[test]
fn resource_quota() {
    let rq = json!({
        "metadata": meta("compute", 5 * MIN),
        "spec": {"hard": {"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "pods": "10"}},
        "status": {
            "hard": {"requests.cpu": "1", "requests.memory": "1024Mi", "limits.cpu": "2", "pods": "10"},
            "used": {"requests.cpu": "500m", "requests.memory": "512Mi", "limits.cpu": "1"}
        }
    });
    assert_eq!(
        cells("", "ResourceQuota", rq),
        vec![
            json!("compute"),
            json!("pods: 0/10, requests.cpu: 500m/1, requests.memory: 512Mi/1Gi"),
            json!("limits.cpu: 1/2"),
            json!("5m")
        ]
    );
}

// ---------------------------------------------------------------- storage

#[test]
fn persistent_volumes_and_claims() {
    let pv = json!({
        "metadata": meta("pv-data", 3 * DAY),
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteOncePod"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data"}},
        "status": {"phase": "Bound"}
    });
    assert_eq!(
        cells("", "PersistentVolume", pv),
        vec![
            json!("pv-data"),
            json!("10Gi"),
            json!("RWO,RWOP"),
            json!("Delete"),
            json!("Bound"),
            json!("default/data"),
            json!("standard"),
            json!("<unset>"),
            json!(""),
            json!("3d"),
            json!("Filesystem")
        ]
    );
    let mut released = json!({
        "metadata": meta("pv-old", DAY),
        "spec": {"capacity": {"storage": "5000Mi"}, "accessModes": ["ReadWriteMany", "ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Block"},
        "status": {"phase": "Failed", "reason": "VolumeFailedRecycle"}
    });
    released["metadata"]["annotations"] =
        json!({"volume.beta.kubernetes.io/storage-class": "slow"});
    let c = cells("", "PersistentVolume", released);
    assert_eq!(
        c[1..9],
        [
            json!("5000Mi"),
            json!("ROX,RWX"),
            json!("Retain"),
            json!("Failed"),
            json!(""),
            json!("slow"),
            json!("<unset>"),
            json!("VolumeFailedRecycle")
        ]
    );
    assert_eq!(c[10], json!("Block"));

    let pvc = json!({
        "metadata": meta("data", 3 * DAY),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1G"}},
            "storageClassName": "standard", "volumeName": "pv-data", "volumeMode": "Filesystem",
            "volumeAttributesClassName": "gold"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1024Mi"}}
    });
    assert_eq!(
        cells("", "PersistentVolumeClaim", pvc),
        vec![
            json!("data"),
            json!("Bound"),
            json!("pv-data"),
            json!("1Gi"),
            json!("RWO"),
            json!("standard"),
            json!("gold"),
            json!("3d"),
            json!("Filesystem")
        ]
    );
    let mut pending = json!({
        "metadata": meta("wait", 30),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}
    });
    assert_eq!(
        cells("", "PersistentVolumeClaim", pending.clone()),
        vec![
            json!("wait"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!(""),
            json!("<unset>"),
            json!("30s"),
            json!("Filesystem")
        ]
    );
    pending["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(
        cells("", "PersistentVolumeClaim", pending)[1],
        json!("Terminating")
    );
}

#[test]
fn storage_classes() {
    let sc = json!({
        "metadata": {"name": "standard", "creationTimestamp": ago(90 * DAY),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"
    });
    assert_eq!(
        cells("storage.k8s.io", "StorageClass", sc),
        vec![
            json!("standard (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!(false),
            json!("90d")
        ]
    );
    let sc = json!({"metadata": meta("fast", 60), "provisioner": "ebs.csi.aws.com",
        "reclaimPolicy": "Retain", "allowVolumeExpansion": true});
    let c = cells("storage.k8s.io", "StorageClass", sc);
    assert_eq!(
        c[0..5],
        [
            json!("fast"),
            json!("ebs.csi.aws.com"),
            json!("Retain"),
            json!("Immediate"),
            json!(true)
        ]
    );
}

// ---------------------------------------------------------------- cluster

#[test]
fn rbac() {
    let rb = json!({
        "metadata": meta("read-pods", 5 * MIN),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [
            {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "User", "name": "joe", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}
        ]
    });
    assert_eq!(
        cells("rbac.authorization.k8s.io", "RoleBinding", rb),
        vec![
            json!("read-pods"),
            json!("Role/pod-reader"),
            json!("5m"),
            json!("jane, joe"),
            json!("devs"),
            json!("ci/builder")
        ]
    );
    let crb = json!({
        "metadata": {"name": "cluster-admin", "creationTimestamp": ago(DAY)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "Group", "name": "system:masters", "apiGroup": "rbac.authorization.k8s.io"}]
    });
    assert_eq!(
        cells("rbac.authorization.k8s.io", "ClusterRoleBinding", crb),
        vec![
            json!("cluster-admin"),
            json!("ClusterRole/cluster-admin"),
            json!("24h"),
            json!(""),
            json!("system:masters"),
            json!("")
        ]
    );
    // Role / ClusterRole have no printer upstream: default table.
    for kind in ["Role", "ClusterRole"] {
        assert!(!has_printer("rbac.authorization.k8s.io", kind));
        let r = json!({"metadata": {"name": "pod-reader", "creationTimestamp": "2024-05-31T12:00:00Z"},
            "rules": []});
        assert_eq!(
            cells("rbac.authorization.k8s.io", kind, r),
            vec![json!("pod-reader"), json!("2024-05-31T12:00:00Z")]
        );
    }
}

#[test]
fn default_table_kinds() {
    assert_eq!(
        col_names("", "LimitRange"),
        vec![("Name".to_string(), 0), ("Created At".to_string(), 0)]
    );
    let defs = column_definitions("apiextensions.k8s.io", "CustomResourceDefinition");
    assert_eq!(defs[1]["type"], json!("date"));
    assert_eq!(defs[0]["format"], json!("name"));
    let crd = json!({"metadata": {"name": "foos.example.com",
        "creationTimestamp": "2024-05-01T08:30:00+02:00"}});
    assert_eq!(
        cells("apiextensions.k8s.io", "CustomResourceDefinition", crd),
        vec![json!("foos.example.com"), json!("2024-05-01T06:30:00Z")]
    );
    let lr = json!({"metadata": {"name": "no-ts"}});
    assert_eq!(
        cells("", "LimitRange", lr),
        vec![json!("no-ts"), json!("0001-01-01T00:00:00Z")]
    );
    // An empty default table has `rows: null` like upstream.
    assert_eq!(table("", "LimitRange", &[])["rows"], Value::Null);
    assert_eq!(table("", "Pod", &[])["rows"], json!([]));
}

#[test]
fn leases_priority_classes_csrs() {
    assert_eq!(
        cells(
            "coordination.k8s.io",
            "Lease",
            json!({"metadata": meta("kube-scheduler", 45 * DAY),
            "spec": {"holderIdentity": "cp-1_3f2a", "leaseDurationSeconds": 15}})
        ),
        vec![json!("kube-scheduler"), json!("cp-1_3f2a"), json!("45d")]
    );
    assert_eq!(
        cells(
            "coordination.k8s.io",
            "Lease",
            json!({"metadata": meta("free", 60), "spec": {}})
        )[1],
        json!("")
    );
    assert_eq!(
        cells(
            "scheduling.k8s.io",
            "PriorityClass",
            json!({
            "metadata": {"name": "system-node-critical", "creationTimestamp": ago(45 * DAY)},
            "value": 2000001000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"})
        ),
        vec![
            json!("system-node-critical"),
            json!(2_000_001_000),
            json!(false),
            json!("45d"),
            json!("PreemptLowerPriority")
        ]
    );
    let csr = json!({
        "metadata": {"name": "csr-8vjrn", "creationTimestamp": ago(3 * MIN)},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "username": "system:node:node-1", "usages": ["client auth"], "request": "LS0t"},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0tLS1C"}
    });
    assert_eq!(
        cells("certificates.k8s.io", "CertificateSigningRequest", csr),
        vec![
            json!("csr-8vjrn"),
            json!("3m"),
            json!("kubernetes.io/kube-apiserver-client-kubelet"),
            json!("system:node:node-1"),
            json!("<none>"),
            json!("Approved,Issued")
        ]
    );
    let pending = json!({
        "metadata": {"name": "p", "creationTimestamp": ago(10)},
        "spec": {"signerName": "example.com/x", "username": "u", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Denied"}, {"type": "Failed"}]}
    });
    let c = cells("certificates.k8s.io", "CertificateSigningRequest", pending);
    assert_eq!(c[4..6], [json!("24h"), json!("Denied,Failed")]);
}

// ---------------------------------------------------------------- table shape

#[test]
fn include_object_modes() {
    let p = pod("web", one_container(), json!({"phase": "Running"}));
    let t = table("", "Pod", std::slice::from_ref(&p));
    assert_eq!(t["kind"], json!("Table"));
    assert_eq!(t["apiVersion"], json!("meta.k8s.io/v1"));
    assert_eq!(t["metadata"], json!({}));
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
               "metadata": p["metadata"]})
    );
    let full = table_for(
        "",
        "Pod",
        std::slice::from_ref(&p),
        now(),
        TableOptions {
            include_object: IncludeObject::Object,
            no_headers: false,
        },
    );
    assert_eq!(full["rows"][0]["object"], p);
    let none = table_for(
        "",
        "Pod",
        std::slice::from_ref(&p),
        now(),
        TableOptions {
            include_object: IncludeObject::None,
            no_headers: true,
        },
    );
    assert_eq!(none["rows"][0]["object"], Value::Null);
    assert_eq!(none["columnDefinitions"], Value::Null);
    // Missing creationTimestamp is serialized as null in PartialObjectMetadata.
    let bare = json!({"metadata": {"name": "x"}});
    let t = table("", "ConfigMap", &[bare]);
    assert_eq!(
        t["rows"][0]["object"]["metadata"],
        json!({"name": "x", "creationTimestamp": null})
    );
    assert_eq!(t["rows"][0]["cells"][2], json!("<unknown>"));

    assert_eq!(IncludeObject::from_query(""), Ok(IncludeObject::Metadata));
    assert_eq!(IncludeObject::from_query("None"), Ok(IncludeObject::None));
    assert_eq!(
        IncludeObject::from_query("Object"),
        Ok(IncludeObject::Object)
    );
    let err = IncludeObject::from_query("all").unwrap_err();
    assert_eq!(err.to_string(), "unrecognized includeObject value: \"all\"");
}

#[test]
fn group_normalization() {
    assert!(has_printer("", "Pod"));
    assert!(has_printer("core", "Pod"));
    assert!(has_printer("v1", "Pod"));
    assert!(has_printer("apps/v1", "Deployment"));
    assert!(!has_printer("apps", "Pod"));
}

#[test]
fn flow_schemas_sorted_by_precedence() {
    let fs = |name: &str, prec: i64| {
        json!({"metadata": meta(name, 60), "spec": {"matchingPrecedence": prec,
            "priorityLevelConfiguration": {"name": "workload-low"},
            "distinguisherMethod": {"type": "ByUser"}},
            "status": {"conditions": [{"type": "Dangling", "status": "False"}]}})
    };
    let t = table(
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        &[fs("b", 1000), fs("exempt", 1), fs("a", 1000)],
    );
    let names: Vec<&Value> = t["rows"]
        .as_array()
        .map(|r| r.iter().map(|r| &r["cells"][0]).collect())
        .unwrap_or_default();
    assert_eq!(names, vec![&json!("exempt"), &json!("a"), &json!("b")]);
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["exempt", "workload-low", 1, "ByUser", "60s", "False"])
    );
}

// ---------------------------------------------------------------- CRDs

#[test]
fn custom_resource_printer_columns() {
    let columns = vec![
        json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}),
        json!({"name": "Ready", "type": "string", "description": "Readiness",
               "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
        json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        json!({"name": "Selector", "type": "string", "priority": 1, "jsonPath": ".spec.selector"}),
        json!({"name": "Missing", "type": "string", "jsonPath": ".spec.nope"}),
    ];
    let obj = json!({
        "apiVersion": "example.com/v1", "kind": "Foo",
        "metadata": meta("foo", 5 * MIN),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}}},
        "status": {"conditions": [{"type": "Synced", "status": "True"},
                                  {"type": "Ready", "status": "False"}]}
    });
    let t = table_from_printer_columns(&columns, &[obj], now(), TableOptions::default());
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "foo",
            3,
            "False",
            "5m",
            "{\"matchLabels\":{\"app\":\"x\"}}",
            null
        ])
    );
    let defs = t["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(defs.len(), 6);
    assert_eq!(defs[0]["name"], json!("Name"));
    assert_eq!(
        defs[1]["description"],
        json!("Custom resource definition column (in JSONPath format): .spec.replicas")
    );
    assert_eq!(defs[2]["description"], json!("Readiness"));
    assert_eq!(defs[4]["priority"], json!(1));
    assert_eq!(printer_column_definitions(&columns), defs);

    // No printer columns: Name + Age.
    let t = table_from_printer_columns(
        &[],
        &[json!({"metadata": meta("bar", 2 * HOUR)})],
        now(),
        TableOptions::default(),
    );
    assert_eq!(t["rows"][0]["cells"], json!(["bar", "120m"]));
    assert_eq!(t["columnDefinitions"][1]["name"], json!("Age"));
    assert_eq!(t["columnDefinitions"][1]["type"], json!("date"));

    // Type coercions.
    let cols = vec![
        json!({"name": "N", "type": "number", "jsonPath": ".a"}),
        json!({"name": "I", "type": "integer", "jsonPath": ".b"}),
        json!({"name": "B", "type": "boolean", "jsonPath": ".c"}),
        json!({"name": "S", "type": "string", "jsonPath": ".c"}),
        json!({"name": "D", "type": "date", "jsonPath": ".d"}),
        json!({"name": "X", "type": "integer", "jsonPath": ".c"}),
    ];
    let obj = json!({"metadata": {"name": "t"}, "a": 1.5, "b": 2.9, "c": true, "d": "bogus"});
    let t = table_from_printer_columns(&cols, &[obj], now(), TableOptions::default());
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["t", 1.5, 2, true, "true", "<invalid>", null])
    );
    // A bad JSONPath truncates the column list at that column.
    let cols = vec![
        json!({"name": "A", "type": "string", "jsonPath": ".a"}),
        json!({"name": "Bad", "type": "string", "jsonPath": ".a["}),
        json!({"name": "C", "type": "string", "jsonPath": ".c"}),
    ];
    assert_eq!(printer_column_definitions(&cols).len(), 2);
}

#[test]
fn other_cluster_kinds() {
    let apisvc = json!({"metadata": meta("v1beta1.metrics.k8s.io", 2 * DAY),
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"},
            "group": "metrics.k8s.io", "version": "v1beta1"},
        "status": {"conditions": [{"type": "Available", "status": "False",
            "reason": "MissingEndpoints"}]}});
    assert_eq!(
        cells("apiregistration.k8s.io", "APIService", apisvc),
        vec![
            json!("v1beta1.metrics.k8s.io"),
            json!("kube-system/metrics-server"),
            json!("False (MissingEndpoints)"),
            json!("2d")
        ]
    );
    let local = json!({"metadata": meta("v1.apps", 2 * DAY),
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}});
    assert_eq!(
        cells("apiregistration.k8s.io", "APIService", local)[1..3],
        [json!("Local"), json!("True")]
    );
    assert_eq!(
        cells(
            "storage.k8s.io",
            "CSIDriver",
            json!({"metadata": meta("ebs.csi.aws.com", 60),
            "spec": {"attachRequired": true, "podInfoOnMount": false}})
        ),
        vec![
            json!("ebs.csi.aws.com"),
            json!(true),
            json!(false),
            json!(false),
            json!("<unset>"),
            json!(false),
            json!("Persistent"),
            json!("60s")
        ]
    );
    assert_eq!(
        cells(
            "storage.k8s.io",
            "VolumeAttachment",
            json!({"metadata": meta("csi-123", 60),
            "spec": {"attacher": "ebs.csi.aws.com", "nodeName": "node-1",
                "source": {"persistentVolumeName": "pv-1"}},
            "status": {"attached": true}})
        ),
        vec![
            json!("csi-123"),
            json!("ebs.csi.aws.com"),
            json!("pv-1"),
            json!("node-1"),
            json!(true),
            json!("60s")
        ]
    );
    assert_eq!(
        cells(
            "node.k8s.io",
            "RuntimeClass",
            json!({"metadata": meta("gvisor", 60), "handler": "runsc"})
        ),
        vec![json!("gvisor"), json!("runsc"), json!("60s")]
    );
    assert_eq!(
        cells(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            json!({"metadata": meta("vwc", 60), "webhooks": [{"name": "a"}, {"name": "b"}]})
        ),
        vec![json!("vwc"), json!(2), json!("60s")]
    );
    assert_eq!(
        cells(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            json!({"metadata": meta("b", 60), "spec": {"policyName": "p",
                "paramRef": {"name": "cfg", "parameterNotFoundAction": "Deny"}}})
        ),
        vec![json!("b"), json!("p"), json!("*/cfg"), json!("60s")]
    );
    assert_eq!(
        cells(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            json!({"metadata": meta("workload-low", 60), "spec": {"type": "Limited",
                "limited": {"nominalConcurrencyShares": 100, "limitResponse": {"type": "Queue",
                    "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}}})
        ),
        vec![
            json!("workload-low"),
            json!("Limited"),
            json!(100),
            json!(128),
            json!(6),
            json!(50),
            json!("60s")
        ]
    );
    assert_eq!(
        cells(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            json!({"metadata": meta("exempt", 60), "spec": {"type": "Exempt", "exempt": {}}})
        )[2..6],
        [
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    assert_eq!(
        cells(
            "resource.k8s.io",
            "ResourceClaim",
            json!({"metadata": meta("gpu", 60),
            "status": {"allocation": {}, "reservedFor": [{"resource": "pods", "name": "p"}]}})
        ),
        vec![json!("gpu"), json!("allocated,reserved"), json!("60s")]
    );
    assert_eq!(
        cells(
            "networking.k8s.io",
            "ServiceCIDR",
            json!({"metadata": meta("kubernetes", 60),
            "spec": {"cidrs": ["10.96.0.0/12", "fd00:10:96::/112"]}})
        ),
        vec![
            json!("kubernetes"),
            json!("10.96.0.0/12,fd00:10:96::/112"),
            json!("60s")
        ]
    );
    assert_eq!(
        cells(
            "networking.k8s.io",
            "IPAddress",
            json!({"metadata": meta("10.96.0.1", 60),
            "spec": {"parentRef": {"group": "", "resource": "services",
                "namespace": "default", "name": "kubernetes"}}})
        ),
        vec![
            json!("10.96.0.1"),
            json!("services/default/kubernetes"),
            json!("60s")
        ]
    );
}
