//! Server-side apply with real kubectl: create, update, conflicts between managers, force,
//! and managedFields as upstream records them.

use rkube_e2e::{Cluster, KUBECTL_1_27, KUBECTL_1_32};

fn deploy(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

fn run(kubectl: &str) {
    let c = Cluster::start(&[]);
    let k = |args: &[&str]| c.kubectl_v(kubectl, args);
    let a = c.file("a.yaml", &deploy(2, "registry.local/web:1"));
    let out = k(&["apply", "--server-side", "--field-manager=alice", "-f", &a])
        .ok()
        .stdout;
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let d = k(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ])
    .ok()
    .json();
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf[0]["manager"], "alice");
    assert_eq!(mf[0]["operation"], "Apply");
    assert!(
        mf[0]["fieldsV1"]["f:spec"]["f:replicas"].is_object(),
        "{mf:?}"
    );
    // Same config again: nothing changes. (The Deployment controller writes status and its
    // revision annotation meanwhile, so compare what the apply owns, not resourceVersion.)
    let before = d["metadata"]["generation"].clone();
    let alice_time = mf[0]["time"].clone();
    k(&["apply", "--server-side", "--field-manager=alice", "-f", &a]).ok();
    let d = k(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ])
    .ok()
    .json();
    assert_eq!(
        d["metadata"]["generation"], before,
        "a no-op apply changes no spec"
    );
    let alice = d["metadata"]["managedFields"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["manager"] == "alice").cloned())
        .unwrap_or_default();
    assert_eq!(
        alice["time"], alice_time,
        "a no-op apply leaves alice's entry alone"
    );
    // Another manager changing alice's field conflicts.
    let b = c.file("b.yaml", &deploy(5, "registry.local/web:1"));
    let r = k(&["apply", "--server-side", "--field-manager=bob", "-f", &b]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("conflict with \"alice\"") && r.stderr.contains(".spec.replicas"),
        "{}",
        r.stderr
    );
    // Forcing takes the field over.
    k(&[
        "apply",
        "--server-side",
        "--field-manager=bob",
        "--force-conflicts",
        "-f",
        &b,
    ])
    .ok();
    let d = k(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ])
    .ok()
    .json();
    assert_eq!(d["spec"]["replicas"], 5);
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    let bob = mf.iter().find(|m| m["manager"] == "bob").unwrap();
    assert!(bob["fieldsV1"]["f:spec"]["f:replicas"].is_object());
    let alice = mf.iter().find(|m| m["manager"] == "alice").unwrap();
    assert!(
        alice["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "{alice}"
    );
    // A client-side edit is recorded as an Update by its manager.
    k(&["label", "deploy", "web", "team=x"]).ok();
    let d = k(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ])
    .ok()
    .json();
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        mf.iter().any(|m| m["operation"] == "Update"
            && m["fieldsV1"]["f:metadata"]["f:labels"]["f:team"].is_object()),
        "{mf:?}"
    );
}

#[test]
fn server_side_apply_kubectl_1_32() {
    run(KUBECTL_1_32);
}

#[test]
fn server_side_apply_kubectl_1_27() {
    run(KUBECTL_1_27);
}
