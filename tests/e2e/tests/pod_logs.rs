//! `kubectl logs --previous` of a restarted container, and logs and port-forward addressed
//! through a Deployment (`deploy/NAME`), with kubectl 1.32 and 1.27.

use std::time::Duration;

use rkube_e2e::{Cluster, KUBECTL_1_27, KUBECTL_1_32};

const NODE: &str = "node-a";

fn apply(c: &Cluster, yaml: &str) {
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml)
        .ok();
}

#[test]
fn logs_previous_shows_the_attempt_before_the_restart() {
    let c = Cluster::with_node(NODE);
    // The first attempt prints run-0 and fails; the second prints run-1 and stays up.
    apply(
        &c,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: twice}
spec:
  nodeName: node-a
  volumes: [{name: d, emptyDir: {}}]
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "n=$(cat /d/n 2>/dev/null || echo 0); echo run-$n; echo $((n+1)) > /d/n; [ $n -ge 1 ] && exec sleep 3600; exit 1"]
    volumeMounts: [{name: d, mountPath: /d}]
"#,
    );
    c.wait_until(Duration::from_secs(60), "restarted and running", || {
        c.kubectl(&[
            "get",
            "pod",
            "twice",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}/{.status.containerStatuses[0].state.running.startedAt}",
        ])
        .stdout
        .starts_with("1/20")
    });
    c.wait_until(Duration::from_secs(10), "current log", || {
        c.kubectl(&["logs", "twice"]).stdout == "run-1\n"
    });
    for kubectl in [KUBECTL_1_32, KUBECTL_1_27] {
        let r = c.kubectl_v(kubectl, &["logs", "twice", "--previous"]).ok();
        assert_eq!(r.stdout, "run-0\n", "{kubectl}");
        let r = c
            .kubectl_v(kubectl, &["logs", "twice", "-p", "--timestamps"])
            .ok();
        assert!(
            r.stdout.starts_with("20") && r.stdout.ends_with(" run-0\n"),
            "{kubectl}: {}",
            r.stdout
        );
    }
    let r = c.kubectl(&["logs", "twice", "--since=1h"]).ok();
    assert_eq!(r.stdout, "run-1\n");
}

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: webd}
spec:
  replicas: 1
  selector: {matchLabels: {app: webd}}
  template:
    metadata: {labels: {app: webd}}
    spec:
      containers:
      - name: web
        image: busybox:e2e
        command: ["sh", "-c", "echo webd-started; mkdir -p /www && echo webd-page > /www/index.html && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
"#;

/// `kubectl port-forward` in the background; returns once it listens.
fn port_forward(c: &Cluster, kubectl: &str, target: &str, ports: &[&str]) -> std::process::Child {
    use std::io::BufRead;
    let mut child = c
        .command(kubectl)
        .args(["port-forward", target])
        .args(ports)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("port-forward");
    let out = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(out).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert!(first.starts_with("Forwarding from 127.0.0.1:"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    child
}

#[test]
fn logs_and_port_forward_through_a_deployment_with_both_kubectls() {
    let c = Cluster::with_node(NODE);
    apply(&c, DEPLOY);
    c.kubectl(&["rollout", "status", "deployment/webd", "--timeout=90s"])
        .ok();
    for kubectl in [KUBECTL_1_32, KUBECTL_1_27] {
        let r = c.kubectl_v(kubectl, &["logs", "deploy/webd"]).ok();
        assert_eq!(r.stdout, "webd-started\n", "{kubectl}");
        let r = c
            .kubectl_v(kubectl, &["logs", "deployment/webd", "-c", "web"])
            .ok();
        assert_eq!(r.stdout, "webd-started\n", "{kubectl}");
    }
    for (kubectl, port) in [(KUBECTL_1_32, 18180), (KUBECTL_1_27, 28180)] {
        let mapping = format!("{port}:8080");
        let mut pf = port_forward(&c, kubectl, "deployment/webd", &[&mapping]);
        let r = c.exec(&[
            "sh",
            "-c",
            &format!(
                "for i in 1 2 3 4; do curl -s --max-time 5 http://127.0.0.1:{port}/ & done; wait"
            ),
        ]);
        let _ = pf.kill();
        let _ = pf.wait();
        assert_eq!(r.stdout.matches("webd-page").count(), 4, "{kubectl}: {r:?}");
    }
}
