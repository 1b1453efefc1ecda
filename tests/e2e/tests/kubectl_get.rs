//! `rkube kubectl get` against real kubectl 1.32 on the same cluster.

use rkube_e2e::golden::{assert_exact, assert_same};
use rkube_e2e::Cluster;

#[test]
fn get_prints_what_kubectl_prints() {
    let c = Cluster::start(&["--disable-agent"]);
    c.kubectl(&["create", "namespace", "prod"]).ok();
    c.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
    ])
    .ok();
    c.kubectl(&[
        "create",
        "deployment",
        "api",
        "--image=busybox",
        "-n",
        "prod",
    ])
    .ok();
    c.kubectl(&["run", "p1", "--image=busybox", "-l", "app=x,tier=db"])
        .ok();
    c.kubectl(&[
        "create",
        "service",
        "clusterip",
        "api",
        "--tcp=80:8080",
        "-n",
        "prod",
    ])
    .ok();
    for args in [
        &["get", "pods"][..],
        &["get", "pods", "-A"],
        &["get", "pods", "-o", "wide"],
        &["get", "deploy,rs", "-n", "prod"],
        &["get", "all", "-A"],
        &["get", "ns", "--show-labels"],
        &["get", "po", "-L", "app,tier", "-A"],
        &["get", "pods", "-l", "app=x"],
        &["get", "pod/p1", "deploy/web"],
        &["get", "pods", "--no-headers"],
        &["get", "nodes"],
        &["get", "pod", "nosuch"],
        &["get", "pod", "nosuch", "--ignore-not-found"],
        &["get", "pods", "-n", "empty"],
        &["get", "foo"],
        &["get"],
    ] {
        assert_same(&c, args);
    }
    for args in [
        &["get", "deploy", "web", "-o", "json"][..],
        &["get", "svc", "-n", "prod", "-o", "name"],
        &["get", "deploy", "-A", "-o", "name"],
        &["get", "pods", "-o", "json"],
        &["get", "pods", "-o", "xml"],
    ] {
        assert_exact(&c, args);
    }
}
