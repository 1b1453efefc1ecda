//! `rkube kubectl port-forward` against real kubectl 1.32: the same lines printed, and a
//! page fetched through the tunnel from busybox httpd in a pod (by pod, service and named
//! port, over 127.0.0.1 and ::1), plus the argument errors.

mod stream_common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use rkube_e2e::golden::assert_same;
use rkube_e2e::{rkube_bin, Cluster, KUBECTL_1_32};
use stream_common::{apply, cluster, wait_ready};

/// A port-forward left running: its first output lines, then the process for killing.
fn start_forward(
    c: &Cluster,
    program: &str,
    kubectl_args: &[&str],
    lines: usize,
) -> (Child, Vec<String>) {
    let mut cmd = c.command(program);
    cmd.args(kubectl_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("port-forward");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        got.push(l);
    }
    // Keep reading in the background so later lines never block the process.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, got)
}

#[test]
fn port_forward_carries_connections_like_kubectl() {
    let c = cluster("stream-pf");
    apply(
        &c,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: httpd, labels: {app: httpd}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "echo hello-through-the-tunnel > /www/index.html; httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: httpd}
spec:
  selector: {app: httpd}
  ports: [{port: 80, targetPort: http}]
"#,
    );
    wait_ready(&c, &["pod/httpd"]);
    let rkube = rkube_bin().display().to_string();
    for (i, (target, port)) in [
        ("pod/httpd", "8080"),
        ("svc/httpd", "80"),
        ("httpd", "http"),
    ]
    .iter()
    .enumerate()
    {
        let mut outputs = Vec::new();
        for (j, program) in [KUBECTL_1_32, rkube.as_str()].iter().enumerate() {
            let local = 18000 + i * 10 + j;
            let spec = format!("{local}:{port}");
            let mut args = Vec::new();
            if *program == rkube.as_str() {
                args.push("kubectl");
            }
            args.extend(["port-forward", target, spec.as_str()]);
            let (mut child, lines) = start_forward(&c, program, &args, 2);
            for host in ["127.0.0.1", "[::1]"] {
                let got = c.exec(&["curl", "-s", &format!("http://{host}:{local}/")]);
                assert_eq!(
                    got.stdout, "hello-through-the-tunnel\n",
                    "{program} {target}: {got:?}"
                );
            }
            let _ = child.kill();
            let _ = child.wait();
            outputs.push(lines.join("").replace(&local.to_string(), "LOCAL"));
        }
        assert_eq!(outputs[0], outputs[1], "{target}");
        assert!(
            outputs[1].starts_with(
                "Forwarding from 127.0.0.1:LOCAL -> 8080\nForwarding from [::1]:LOCAL -> 8080\n"
            ),
            "{outputs:?}"
        );
    }
    for args in [
        &["port-forward", "httpd"][..],
        &["port-forward"],
        &["port-forward", "httpd", "0"],
        &["port-forward", "httpd", "99999"],
        &["port-forward", "httpd", "abc:80"],
        &["port-forward", "httpd", "80:99999"],
        &["port-forward", "httpd", "nope"],
        &["port-forward", "svc/httpd", "81"],
        &["port-forward", "nope", "80"],
        &["port-forward", "deploy/nope", "80"],
        &["port-forward", "svc/kubernetes", "443"],
    ] {
        assert_same(&c, args);
    }
}
