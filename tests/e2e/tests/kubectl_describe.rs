//! `rkube kubectl describe` against real kubectl 1.32 on the same cluster and objects.
//!
//! Controllers keep writing (events, heartbeats, lease renewals), so an object can change
//! between the two runs of a comparison; [`assert_same_settled`] retries a few times and
//! asserts on the last attempt, so a real difference still fails.

use std::time::Duration;

use rkube_e2e::golden::{assert_exact, assert_same, normalize};
use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, KUBECTL_1_32};

mod describe_manifests;
use describe_manifests::{CRD, CSR, MORE, OBJECTS, RUNNING, WIDGET};

/// Like `assert_same`, retried while the cluster is still changing underneath.
#[track_caller]
fn assert_same_settled(c: &Cluster, args: &[&str]) {
    for _ in 0..5 {
        let (k, r) = c.both(args);
        if k.code == r.code
            && normalize(&k.stdout) == normalize(&r.stdout)
            && normalize(&k.stderr) == normalize(&r.stderr)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    assert_same(c, args);
}

fn apply(c: &Cluster, yaml: &str) {
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml)
        .ok();
}

#[test]
fn describe_matches_kubectl_for_control_plane_objects() {
    let c = Cluster::start(&["--disable-agent"]);
    apply(&c, OBJECTS);
    apply(&c, MORE);
    c.kubectl_stdin(KUBECTL_1_32, &["create", "-f", "-"], CSR)
        .ok();
    c.wait_until(Duration::from_secs(30), "replica set created", || {
        c.kubectl(&["get", "rs", "-l", "app=web", "-o", "name"])
            .stdout
            .contains("replicaset")
    });
    for args in [
        &["describe", "deploy", "web"][..],
        &["describe", "deployment/web"],
        &["describe", "rs"],
        &["describe", "pods", "-l", "app=web"],
        &["describe", "svc", "web"],
        &["describe", "cm", "cfg2"],
        &["describe", "configmaps", "-A", "-l", "a=b"],
        &["describe", "secret", "sec"],
        &["describe", "ns", "default"],
        &["describe", "ns", "limits"],
        &["describe", "ing", "ing"],
        &["describe", "node", "fake-node"],
        &["describe", "sts", "db"],
        &["describe", "ds", "agent"],
        &["describe", "job", "job1"],
        &["describe", "cj", "cj"],
        &["describe", "ep", "manual"],
        &["describe", "sa", "robot"],
        &["describe", "pvc"],
        &["describe", "quota", "-n", "limits"],
        &["describe", "limits", "-n", "limits"],
        &["describe", "pdb", "pdb1"],
        &["describe", "pc", "high"],
        &["describe", "rolebinding", "rb1"],
        &["describe", "role", "r1"],
        &["describe", "clusterrole", "c1"],
        &["describe", "hpa", "web"],
        &["describe", "sc", "fast"],
        &["describe", "ingressclass", "nginx"],
        &["describe", "pv", "pv1"],
        &["describe", "rc", "rc1"],
        &["describe", "endpointslices"],
        &["describe", "lease", "-n", "kube-system"],
        &["describe", "netpol"],
        &["describe", "csr", "alice"],
    ] {
        assert_same_settled(&c, args);
    }
    // Several objects: the blank lines between them, the prefix match and its blank
    // line after each object, --show-events=false.
    for args in [
        &["describe", "cm", "cfg", "cfg2"][..],
        &["describe", "cm", "cf"],
        &["describe", "configmap", "cfg2", "--show-events=false"],
        &["describe", "deploy", "we", "--show-events=false"],
        &["describe", "secrets"],
        &["describe", "all"],
        &["describe", "pods,svc"],
        &["describe", "deploy/web", "svc/web"],
        &["describe", "svc", "-A"],
        &["describe", "svc,deploy", "web", "nosuch"],
    ] {
        assert_same_settled(&c, args);
    }
    let f = c.file("sec.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg2}\n");
    assert_same_settled(&c, &["describe", "-f", &f]);
    // A directory: its manifests in name order, other files ignored.
    let dir = c.dir.path().join("manifests");
    std::fs::create_dir_all(dir.join("sub")).expect("manifest dir");
    std::fs::write(
        dir.join("b.yml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg2}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("a.json"),
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}}"#,
    )
    .expect("write");
    std::fs::write(dir.join("notes.txt"), "not a manifest").expect("write");
    std::fs::write(
        dir.join("sub/c.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
    )
    .expect("write");
    let dir = dir.display().to_string();
    assert_same_settled(&c, &["describe", "-f", &dir]);
    assert_same_settled(&c, &["describe", "-f", &dir, "-R"]);
    // Errors and empty results, exactly as kubectl prints them.
    for args in [
        &["describe", "pods", "nosuch"][..],
        &["describe", "pods/nosuch"],
        &["describe", "pods", "a", "b"],
        &["describe", "cm", "cfg2", "nosuch"],
        &["describe"],
        &["describe", "pods", "-n", "kube-public"],
        &["describe", "pods", "-A", "-l", "app=none"],
        &["describe", "nosuchtype"],
        &["describe", "cm", "cfg2", "-l", "a=b"],
        &["describe", "pod/x", "svc/web"],
        &["describe", "cm/cfg2", "pods/zz", "cm/nosuch"],
        &["describe", "-f", "/nonexistent.yaml"],
    ] {
        assert_exact(&c, args);
    }
}

#[test]
fn describe_uses_the_generic_describer_for_custom_resources() {
    let c = Cluster::start(&["--disable-agent"]);
    apply(&c, CRD);
    c.wait_until(Duration::from_secs(30), "CRD served", || {
        c.kubectl(&["get", "widgets"]).code == 0
    });
    apply(&c, WIDGET);
    // An event about the widget, repeated, for the Events section's "(xN over …)" age.
    let uid = c
        .kubectl(&["get", "widget", "w1", "-o", "jsonpath={.metadata.uid}"])
        .ok()
        .stdout;
    apply(
        &c,
        &format!(
            r#"
apiVersion: v1
kind: Event
metadata: {{name: w1.repeat}}
involvedObject: {{apiVersion: example.com/v1, kind: Widget, name: w1, namespace: default, uid: "{uid}"}}
reason: Resized
message: "size changed to 3 "
type: Normal
count: 3
firstTimestamp: "2024-01-01T00:00:00Z"
lastTimestamp: "2024-01-02T00:00:00Z"
source: {{component: widget-controller}}
"#
        ),
    );
    for args in [
        &["describe", "widget", "w1"][..],
        &["describe", "widgets"],
        &["describe", "wd/w1", "--show-events=false"],
        &["describe", "crd", "widgets.example.com"],
        &["describe", "widgets", "w"],
    ] {
        assert_same_settled(&c, args);
    }
}

#[test]
fn describe_matches_kubectl_for_running_pods_and_nodes() {
    let c = Cluster::start(&["--node-name", "node-d"]);
    let archive = busybox_image(c.dir.path(), "busybox:e2e");
    c.import_image(&archive);
    c.wait_until(Duration::from_secs(30), "node registered", || {
        c.kubectl(&["get", "node", "node-d"]).code == 0
    });
    apply(&c, RUNNING);
    c.kubectl(&["rollout", "status", "deployment/sleeper", "--timeout=90s"])
        .ok();
    c.wait_until(Duration::from_secs(60), "crasher restarted", || {
        c.kubectl(&[
            "get",
            "pod",
            "crasher",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ])
        .stdout
        .parse::<i32>()
        .unwrap_or(0)
            >= 1
    });
    // A new template makes the first ReplicaSet an old one.
    c.kubectl(&["set", "env", "deployment/sleeper", "MODE=two"])
        .ok();
    c.kubectl(&["rollout", "status", "deployment/sleeper", "--timeout=90s"])
        .ok();
    for args in [
        &["describe", "deployment", "sleeper"][..],
        &["describe", "pods", "-l", "app=sleeper"],
        &["describe", "pod", "crasher"],
        &["describe", "rs", "-l", "app=sleeper"],
        &["describe", "node", "node-d"],
        &["describe", "nodes"],
        &["describe", "pods", "sleeper"],
        &["describe", "svc", "sleeper"],
        &["describe", "ingress", "sleeper"],
        &["describe", "endpoints", "sleeper"],
    ] {
        assert_same_settled(&c, args);
    }
    // The comparisons above covered resolved endpoints, not just `<none>`.
    let svc = c.kubectl(&["describe", "svc", "sleeper"]).ok().stdout;
    assert!(svc.contains(":8080,"), "two ready endpoints in:\n{svc}");
    let ing = c.kubectl(&["describe", "ingress", "sleeper"]).ok().stdout;
    assert!(ing.contains("sleeper:http ("), "{ing}");
}
