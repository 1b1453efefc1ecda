//! The ingress controller on the node, end to end with real kubectl and curl: host and path
//! routing to three Services, TLS from a Secret chosen by SNI, the redirect to https, the
//! rate limit's 429, and the Ingress's status listing the node.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, KUBECTL_1_32};

fn backend(name: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: httpd
        image: busybox:e2e
        command: ["sh", "-c", "mkdir -p /www/api && echo {name} > /www/index.html && echo {name}-api > /www/api/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe:
          tcpSocket: {{port: http}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: {name}-service}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"#
    )
}

const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  annotations:
    nginx.ingress.kubernetes.io/rate-limit: "5"
spec:
  ingressClassName: nginx
  tls:
  - hosts: [api.example.com, admin.example.com]
    secretName: app-tls
  rules:
  - host: api.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api-service, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: frontend-service, port: {name: http}}}}
  - host: admin.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: admin-service, port: {number: 80}}}}
"#;

#[test]
fn hosts_paths_tls_redirect_and_rate_limit() {
    let c = Cluster::start(&["--node-name", "ingress-node"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let mut all = String::new();
    for b in ["api", "frontend", "admin"] {
        all.push_str(&backend(b));
        all.push_str("\n---\n");
    }
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], &all)
        .ok();
    // A certificate for both hosts, as a kubernetes.io/tls Secret.
    let (crt, key) = (c.file("tls.crt", ""), c.file("tls.key", ""));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.example.com",
            "-addext",
            "subjectAltName=DNS:api.example.com,DNS:admin.example.com",
            "-keyout",
            &key,
            "-out",
            &crt,
        ])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.kubectl(&[
        "create", "secret", "tls", "app-tls", "--cert", &crt, "--key", &key,
    ])
    .ok();
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], INGRESS)
        .ok();
    for b in ["api", "frontend", "admin"] {
        c.kubectl(&[
            "rollout",
            "status",
            &format!("deployment/{b}"),
            "--timeout=90s",
        ])
        .ok();
    }
    // The default class exists, and the node reports itself in the Ingress's status.
    let class = c
        .kubectl(&["get", "ingressclass", "rkube", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"],
        "true"
    );
    c.wait_until(Duration::from_secs(20), "the Ingress's address", || {
        !c.kubectl(&[
            "get",
            "ingress",
            "app",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])
        .stdout
        .is_empty()
    });

    let curl = |args: &[&str]| {
        let mut argv = vec!["curl", "-s", "--max-time", "5"];
        argv.extend_from_slice(args);
        c.exec(&argv)
    };
    let resolve = [
        "--resolve",
        "api.example.com:443:127.0.0.1",
        "--resolve",
        "admin.example.com:443:127.0.0.1",
        "--resolve",
        "api.example.com:80:127.0.0.1",
    ];
    let get = |url: &str| {
        let mut a: Vec<&str> = resolve.to_vec();
        a.extend(["--cacert", &crt, url]);
        curl(&a).stdout.trim().to_string()
    };
    let mut got = String::new();
    c.wait_until(Duration::from_secs(20), "the ingress to route", || {
        got = get("https://api.example.com/api/");
        got == "api-api"
    });
    // Host and path rules; the certificate verifies against the Secret's (SNI chose it).
    assert_eq!(get("https://api.example.com/"), "frontend");
    assert_eq!(get("https://api.example.com/index.html"), "frontend");
    assert_eq!(get("https://admin.example.com/"), "admin");
    // Plain HTTP to a TLS host is redirected.
    let mut a: Vec<&str> = resolve.to_vec();
    a.extend([
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "http://api.example.com/x",
    ]);
    let r = curl(&a).stdout;
    assert_eq!(r.trim(), "308 https://api.example.com/x", "{r}");
    // Past the rate limit (5 rps, burst 25): 429. One curl, one kept-alive connection, so
    // the 60 requests come well inside the burst's refill time even on a loaded machine.
    let script = format!(
        "curl -s -w '\\ncode=%{{http_code}}\\n' --cacert {crt} --resolve api.example.com:443:127.0.0.1 'https://api.example.com/?[1-60]'"
    );
    let codes = c.exec(&["sh", "-c", &script]).stdout;
    assert!(codes.lines().any(|l| l == "code=200"), "{codes}");
    assert!(codes.lines().any(|l| l == "code=429"), "{codes}");
}
