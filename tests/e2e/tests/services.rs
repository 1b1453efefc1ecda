//! A Deployment behind a Service, end to end with real kubectl: pods get addresses from the
//! node's podCIDR, reach each other without NAT, and a ClusterIP spreads requests over every
//! ready replica; a Service without endpoints refuses connections at once.

use std::collections::BTreeSet;
use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::Cluster;

fn cluster() -> Cluster {
    let c = Cluster::start(&["--node-name", "node-a"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    c
}

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: httpd
        image: busybox:e2e
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: api-service}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: c, image: busybox:e2e, command: ["sleep", "3600"]}
"#;

#[test]
fn cluster_ip_spreads_over_ready_replicas_and_pods_talk_directly() {
    let c = cluster();
    c.apply(APP);
    c.kubectl(&["rollout", "status", "deployment/api", "--timeout=90s"])
        .ok();
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=60s",
    ])
    .ok();
    let ips = c
        .kubectl(&[
            "get",
            "pods",
            "-l",
            "app=api",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ])
        .ok()
        .stdout;
    let ips: Vec<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3, "{ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.42.")), "{ips:?}");
    let cidr = c
        .kubectl(&["get", "node", "node-a", "-o", "jsonpath={.spec.podCIDR}"])
        .ok()
        .stdout;
    assert!(
        cidr.starts_with("10.42.") && cidr.ends_with("/24"),
        "{cidr}"
    );

    // Pod to pod, without NAT.
    let direct = c
        .kubectl(&[
            "exec",
            "client",
            "--",
            "wget",
            "-qO-",
            &format!("http://{}:8080/", ips[0]),
        ])
        .ok()
        .stdout;
    assert!(direct.trim().starts_with("api-"), "{direct}");

    // The endpoints: an EndpointSlice and Endpoints with the three ready pods.
    c.wait_until(Duration::from_secs(20), "endpoints", || {
        let eps = c.kubectl(&[
            "get",
            "endpoints",
            "api-service",
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ]);
        eps.stdout.split_whitespace().count() == 3
    });
    let slice = c
        .kubectl(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=api-service",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(slice["items"][0]["ports"][0]["port"], 8080);
    assert_eq!(
        slice["items"][0]["endpoints"].as_array().map(|a| a.len()),
        Some(3)
    );

    // Through the ClusterIP: every replica answers.
    let vip = c
        .kubectl(&[
            "get",
            "svc",
            "api-service",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .ok()
        .stdout;
    let script = format!("for i in $(seq 1 40); do wget -qO- http://{vip}/; done");
    let mut seen = BTreeSet::new();
    c.wait_until(
        Duration::from_secs(30),
        "all replicas behind the service",
        || {
            let out = c
                .kubectl(&["exec", "client", "--", "sh", "-c", &script])
                .stdout;
            seen.extend(out.lines().map(String::from));
            seen.len() >= 3
        },
    );
    assert!(seen.iter().all(|h| h.starts_with("api-")), "{seen:?}");

    // Cluster DNS: the Service by short name (search path) and by its full name.
    let r = c
        .kubectl(&[
            "exec",
            "client",
            "--",
            "wget",
            "-qO-",
            "http://api-service.default.svc.cluster.local/",
        ])
        .ok();
    assert!(r.stdout.starts_with("api-"), "{r:?}");
    let r = c
        .kubectl(&[
            "exec",
            "client",
            "--",
            "wget",
            "-qO-",
            "http://api-service/",
        ])
        .ok();
    assert!(r.stdout.starts_with("api-"), "{r:?}");
    let r = c
        .kubectl(&[
            "exec",
            "client",
            "--",
            "nslookup",
            "api-service.default.svc.cluster.local",
        ])
        .ok();
    assert!(r.stdout.contains(&vip), "{r:?}");
    let r = c.kubectl(&[
        "exec",
        "client",
        "--",
        "nslookup",
        "nope.default.svc.cluster.local",
    ]);
    assert!(
        r.stdout.contains("NXDOMAIN") || r.stderr.contains("NXDOMAIN"),
        "{r:?}"
    );
    let resolv = c
        .kubectl(&["exec", "client", "--", "cat", "/etc/resolv.conf"])
        .ok()
        .stdout;
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local")
            && resolv.contains("nameserver 10.43.0.10")
            && resolv.contains("options ndots:5"),
        "{resolv}"
    );
    let dns_svc = c
        .kubectl(&[
            "get",
            "svc",
            "-n",
            "kube-system",
            "kube-dns",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .ok()
        .stdout;
    assert_eq!(dns_svc, "10.43.0.10");

    // No endpoints: refused at once, not a hang.
    let empty = c
        .kubectl(&["get", "svc", "empty", "-o", "jsonpath={.spec.clusterIP}"])
        .ok()
        .stdout;
    let started = std::time::Instant::now();
    let r = c.kubectl(&[
        "exec",
        "client",
        "--",
        "wget",
        "-qO-",
        &format!("http://{empty}/"),
    ]);
    assert_ne!(r.code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused quickly, took {:?}",
        started.elapsed()
    );
}
