//! `rkube kubectl expose` against real kubectl 1.32 on the same cluster.

use rkube_e2e::golden::{assert_exact, assert_same};
use rkube_e2e::Cluster;

fn spec_without_ips(c: &Cluster, name: &str) -> serde_json::Value {
    let mut s = c.kubectl(&["get", "svc", name, "-o", "json"]).ok().json();
    let spec = s["spec"].as_object_mut().expect("spec");
    for k in ["clusterIP", "clusterIPs"] {
        spec.remove(k);
    }
    if let Some(ports) = spec.get_mut("ports").and_then(|p| p.as_array_mut()) {
        for p in ports {
            if let Some(p) = p.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    let mut labels = s["metadata"]["labels"].clone();
    if let Some(l) = labels.as_object_mut() {
        l.remove("app");
    }
    serde_json::json!({"spec": s["spec"], "labels": labels})
}

#[test]
fn expose_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    for n in ["web-k", "web-r"] {
        c.kubectl(&["create", "deployment", n, "--image=busybox", "--port=8080"])
            .ok();
    }
    c.kubectl(&[
        "run",
        "pod-k",
        "--image=busybox",
        "--port=9000",
        "-l",
        "app=p,tier=x",
    ])
    .ok();
    for args in [
        &[
            "expose",
            "deployment",
            "web-k",
            "--dry-run=client",
            "-o",
            "yaml",
        ][..],
        &[
            "expose",
            "deployment/web-k",
            "--port=80",
            "--target-port=8080",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &["expose", "pod", "pod-k", "--dry-run=client", "-o", "yaml"],
        &[
            "expose",
            "pod",
            "pod-k",
            "--port=80",
            "--name=other",
            "--type=NodePort",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "expose",
            "deployment",
            "web-k",
            "--port=80",
            "--dry-run=client",
        ],
        &["expose", "deployment", "nosuch", "--port=80"],
        &["expose"],
    ] {
        assert_exact(&c, args);
    }
    // The real thing, on twin deployments.
    let k = c.kubectl(&[
        "expose",
        "deployment",
        "web-k",
        "--port=80",
        "--target-port=8080",
        "--type=NodePort",
    ]);
    let r = c.rkubectl(&[
        "expose",
        "deployment",
        "web-r",
        "--port=80",
        "--target-port=8080",
        "--type=NodePort",
    ]);
    assert_eq!(
        (k.code, k.stdout.replace("web-k", "web-r")),
        (r.code, r.stdout.clone())
    );
    assert_eq!(
        spec_without_ips(&c, "web-k")["spec"]["ports"],
        spec_without_ips(&c, "web-r")["spec"]["ports"]
    );
    assert_eq!(
        spec_without_ips(&c, "web-k")["spec"]["type"],
        spec_without_ips(&c, "web-r")["spec"]["type"]
    );
    // Exposing again: AlreadyExists, the same message for the same name.
    assert_same(&c, &["expose", "deployment", "web-k", "--port=80"]);
}
