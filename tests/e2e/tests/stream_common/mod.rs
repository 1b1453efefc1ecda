//! What the streaming-command golden tests share: a cluster with the busybox image, pod
//! manifests, and comparisons of two runs that used differently named pods.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, Run, KUBECTL_1_32};

pub fn cluster(node: &str) -> Cluster {
    let c = Cluster::start(&["--node-name", node]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    c
}

pub fn apply(c: &Cluster, yaml: &str) {
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml)
        .ok();
}

pub fn wait_ready(c: &Cluster, what: &[&str]) {
    let mut args = vec!["wait", "--for=condition=Ready", "--timeout=90s"];
    args.extend_from_slice(what);
    c.kubectl(&args).ok();
}

/// Asserts two runs agree once `from` is replaced by `to` in the first.
#[track_caller]
pub fn assert_same_renamed(k: &Run, r: &Run, from: &str, to: &str) {
    assert_eq!(k.code, r.code, "exit codes differ:\n{k:?}\n{r:?}");
    assert_eq!(
        k.stdout.replace(from, to),
        r.stdout,
        "stdout differs:\n{k:?}\n{r:?}"
    );
    assert_eq!(
        k.stderr.replace(from, to),
        r.stderr,
        "stderr differs:\n{k:?}\n{r:?}"
    );
}

pub const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: one, labels: {app: one}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "echo line1; echo line2; echo err >&2; echo line3; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: multi, labels: {app: multi}}
spec:
  terminationGracePeriodSeconds: 0
  initContainers:
  - name: setup
    image: busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "echo init-done"]
  containers:
  - name: main
    image: busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "echo from-main; sleep 3600"]
  - name: side
    image: busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "echo from-side; sleep 3600"]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: c
        image: busybox:e2e
        imagePullPolicy: Never
        command: ["sh", "-c", "echo hello-from-$HOSTNAME; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: pend}
spec:
  containers:
  - name: c
    image: nonexistent.invalid/nope:1
---
apiVersion: v1
kind: Service
metadata: {name: nosel}
spec:
  ports: [{port: 80}]
"#;
