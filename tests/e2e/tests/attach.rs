//! `kubectl attach` to a container's own stdio (through the API server, the kubelet and
//! the container's shim) with kubectl 1.32 (WebSocket) and 1.27 (SPDY), `kubectl run -i`,
//! and a pod sharing one process namespace.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, KUBECTL_1_27, KUBECTL_1_32};

fn cluster() -> Cluster {
    let c = Cluster::start(&["--node-name", "attach-node"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    c
}

fn apply(c: &Cluster, yaml: &str) {
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml)
        .ok();
}

const READER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox:e2e
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "while read x; do echo \"got $x\"; done; echo bye >&2"]
"#;

#[test]
fn attach_delivers_stdin_and_output_with_kubectl_1_32_and_1_27() {
    let c = cluster();
    for (name, kubectl) in [("reader-new", KUBECTL_1_32), ("reader-old", KUBECTL_1_27)] {
        apply(&c, &READER.replace("NAME", name));
        c.kubectl(&[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            &format!("pod/{name}"),
            "--timeout=60s",
        ])
        .ok();
        // stdinOnce: when kubectl's stdin ends, the container's stdin closes and it exits.
        let r = c.kubectl_stdin(kubectl, &["attach", "-i", name], "hi\nthere\n");
        assert_eq!(r.code, 0, "{kubectl}: {r:?}");
        assert!(r.stdout.contains("got hi\ngot there"), "{kubectl}: {r:?}");
        assert!(r.stderr.contains("bye"), "{kubectl}: {r:?}");
        c.wait_until(Duration::from_secs(30), "the reader to finish", || {
            c.kubectl(&["get", "pod", name, "-o", "jsonpath={.status.phase}"])
                .stdout
                == "Succeeded"
        });
        // What went through attach is in the log as well.
        let logs = c.kubectl(&["logs", name]).ok().stdout;
        assert!(logs.contains("got there"), "{logs}");
    }
}

#[test]
fn attach_follows_output_until_the_container_ends_and_run_i_works() {
    let c = cluster();
    apply(
        &c,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:e2e
    command: ["sh", "-c", "sleep 2; for i in 1 2 3; do echo tick$i; sleep 0.5; done"]
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=jsonpath={.status.phase}=Running",
        "pod/ticker",
        "--timeout=60s",
    ])
    .ok();
    let r = c.kubectl(&["attach", "ticker"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("tick3"), "{r:?}");
    // kubectl run -i attaches to the new pod's stdin and reports its output.
    let r = c.kubectl_stdin(
        KUBECTL_1_32,
        &[
            "run",
            "once",
            "-i",
            "--restart=Never",
            "--image=busybox:e2e",
            "--image-pull-policy=Never",
            "--",
            "sh",
            "-c",
            "read x; echo \"said $x\"",
        ],
        "hello\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("said hello"), "{r:?}");
}

#[test]
fn share_process_namespace_lets_containers_see_each_other() {
    let c = cluster();
    apply(
        &c,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: busybox:e2e, command: ["sleep", "3601"]}
  - {name: b, image: busybox:e2e, command: ["sleep", "3602"]}
---
apiVersion: v1
kind: Pod
metadata: {name: private}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: busybox:e2e, command: ["sleep", "3601"]}
  - {name: b, image: busybox:e2e, command: ["sleep", "3602"]}
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/shared",
        "pod/private",
        "--timeout=60s",
    ])
    .ok();
    let ps = c
        .kubectl(&["exec", "shared", "-c", "a", "--", "ps", "-o", "pid,args"])
        .ok()
        .stdout;
    assert!(ps.contains("sleep 3602"), "{ps}");
    let ps = c
        .kubectl(&["exec", "private", "-c", "a", "--", "ps", "-o", "pid,args"])
        .ok()
        .stdout;
    assert!(!ps.contains("sleep 3602"), "{ps}");
}
