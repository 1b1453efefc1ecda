//! Pod lifecycle on a real node: force deletion cleans up everything at once, graceful
//! deletion runs preStop and honours the grace period, init containers run in order and
//! their failures follow restartPolicy.

use std::time::Duration;

use rkube_e2e::Cluster;

const NODE: &str = "node-a";

fn entries(c: &Cluster, dir: &str) -> usize {
    std::fs::read_dir(c.data_dir().join(dir))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn force_delete_removes_sandbox_containers_and_pod_dir() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: forced}
spec:
  nodeName: node-a
  terminationGracePeriodSeconds: 30
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "trap '' TERM; exec sleep 3600"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/forced",
        "--timeout=60s",
    ])
    .ok();
    assert_eq!(entries(&c, "agent/sandboxes"), 1);
    assert_eq!(entries(&c, "agent/pods"), 1);
    let r = c
        .kubectl(&["delete", "pod", "forced", "--grace-period=0", "--force"])
        .ok();
    assert!(r.stderr.contains("Immediate deletion"), "{}", r.stderr);
    assert!(c.kubectl(&["get", "pod", "forced"]).code != 0);
    // Without waiting for the 30 s grace (the container ignores SIGTERM) or a restart.
    c.wait_until(Duration::from_secs(15), "everything removed", || {
        entries(&c, "agent/sandboxes") == 0
            && entries(&c, "agent/containers") == 0
            && entries(&c, "agent/pods") == 0
    });
}

#[test]
fn graceful_delete_runs_pre_stop_then_sigterm_within_the_grace_period() {
    let c = Cluster::with_node(NODE);
    let host = c.dir.path().join("host-marks");
    c.apply(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: graceful}}
spec:
  nodeName: node-a
  terminationGracePeriodSeconds: 4
  volumes: [{{name: marks, hostPath: {{path: "{}", type: DirectoryOrCreate}}}}]
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "trap 'echo term >> /marks/log; exit 0' TERM; echo started >> /marks/log; while true; do sleep 0.1; done"]
    volumeMounts: [{{name: marks, mountPath: /marks}}]
    lifecycle:
      preStop:
        exec: {{command: ["sh", "-c", "echo prestop >> /marks/log"]}}
  - name: stubborn
    image: busybox:e2e
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
"#,
            host.display()
        ),
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/graceful",
        "--timeout=60s",
    ])
    .ok();
    let started = std::time::Instant::now();
    c.kubectl(&["delete", "pod", "graceful", "--timeout=60s"])
        .ok();
    let took = started.elapsed();
    assert!(c.kubectl(&["get", "pod", "graceful"]).code != 0);
    assert_eq!(
        std::fs::read_to_string(host.join("log")).unwrap_or_default(),
        "started\nprestop\nterm\n",
        "preStop ran before SIGTERM, which the app handled"
    );
    // The stubborn container ignores SIGTERM: it is killed when the 4 s grace runs out,
    // not before and not much after.
    assert!(
        took >= Duration::from_millis(3500) && took < Duration::from_secs(15),
        "deletion took {took:?}"
    );
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=graceful,reason=Killing",
            "-o",
            "jsonpath={.items[*].message}",
        ])
        .ok()
        .stdout;
    assert!(
        events.contains("Stopping container app") && events.contains("Stopping container stubborn"),
        "{events}"
    );
}

#[test]
fn init_containers_run_in_order_before_the_app() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ordered}
spec:
  nodeName: node-a
  restartPolicy: Never
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - name: first
    image: busybox:e2e
    command: ["sh", "-c", "sleep 0.5; echo first >> /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: busybox:e2e
    command: ["sh", "-c", "echo second >> /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "echo app >> /work/order; cat /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
"#,
    );
    c.wait_jsonpath("pod/ordered", "{.status.phase}", "Succeeded", |s| {
        s == "Succeeded"
    });
    assert_eq!(
        c.kubectl(&["logs", "ordered"]).ok().stdout,
        "first\nsecond\napp\n"
    );
    assert_eq!(
        c.jsonpath(
            "pod/ordered",
            "{.status.initContainerStatuses[*].state.terminated.reason}"
        ),
        "Completed Completed"
    );
}

#[test]
fn failing_init_container_follows_restart_policy() {
    let c = Cluster::with_node(NODE);
    c.apply(r#"
apiVersion: v1
kind: Pod
metadata: {name: initnever}
spec:
  nodeName: node-a
  restartPolicy: Never
  initContainers:
  - {name: setup, image: busybox:e2e, command: ["sh", "-c", "exit 2"]}
  containers:
  - {name: app, image: busybox:e2e, command: ["sh", "-c", "echo must-not-run"]}
---
apiVersion: v1
kind: Pod
metadata: {name: initretry}
spec:
  nodeName: node-a
  restartPolicy: OnFailure
  volumes: [{name: d, emptyDir: {}}]
  initContainers:
  - name: setup
    image: busybox:e2e
    command: ["sh", "-c", "if [ -e /d/tried ]; then exit 0; fi; touch /d/tried; exit 1"]
    volumeMounts: [{name: d, mountPath: /d}]
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "n=$(cat /d/n 2>/dev/null || echo 0); echo $((n+1)) > /d/n; echo attempt-$n; [ $n -ge 1 ]"]
    volumeMounts: [{name: d, mountPath: /d}]
"#,
    );
    c.wait_jsonpath("pod/initnever", "{.status.phase}", "Failed", |s| {
        s == "Failed"
    });
    assert_eq!(
        c.jsonpath(
            "pod/initnever",
            "{.status.initContainerStatuses[0].state.terminated.exitCode}"
        ),
        "2"
    );
    assert_eq!(
        c.jsonpath(
            "pod/initnever",
            "{.status.containerStatuses[0].state.waiting.reason}"
        ),
        "PodInitializing"
    );
    // OnFailure: the init container is retried after its failure, then the app is
    // restarted after its non-zero exit and the pod completes.
    c.wait_jsonpath("pod/initretry", "{.status.phase}", "Succeeded", |s| {
        s == "Succeeded"
    });
    assert_eq!(
        c.jsonpath(
            "pod/initretry",
            "{.status.initContainerStatuses[0].restartCount}"
        ),
        "1"
    );
    assert_eq!(
        c.jsonpath(
            "pod/initretry",
            "{.status.containerStatuses[0].restartCount}"
        ),
        "1"
    );
    assert_eq!(c.kubectl(&["logs", "initretry"]).ok().stdout, "attempt-1\n");
    assert_eq!(
        c.kubectl(&["logs", "initretry", "--previous"]).ok().stdout,
        "attempt-0\n"
    );
}
