//! Deletion with each cascade policy and namespace deletion, through the garbage collector
//! and the namespace controller.

use std::time::Duration;

use rkube_e2e::{Cluster, KUBECTL_1_32};

fn owner_and_child(c: &Cluster, name: &str) {
    let owner = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], &owner)
        .ok();
    let uid = c
        .kubectl(&["get", "cm", name, "-o", "jsonpath={.metadata.uid}"])
        .ok()
        .stdout;
    let child = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-child\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {name}\n    uid: {uid}\n    blockOwnerDeletion: true\nstringData:\n  k: v\n"
    );
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], &child)
        .ok();
    // The garbage collector learns of dependents from its watches, as upstream's does; a
    // delete racing the child's creation would find no dependent to wait for or orphan.
    std::thread::sleep(Duration::from_secs(1));
}

fn gone(c: &Cluster, what: &str) -> bool {
    c.kubectl(&["get", what]).code != 0
}

#[test]
fn cascading_deletes() {
    let c = Cluster::start(&[]);
    // Background: the owner goes at once, the garbage collector removes the child.
    owner_and_child(&c, "bg");
    c.kubectl(&["delete", "cm", "bg", "--cascade=background"])
        .ok();
    c.wait_until(Duration::from_secs(30), "background child deleted", || {
        gone(&c, "secret/bg-child")
    });

    // Foreground: the child goes first, then the owner; kubectl waits for both.
    owner_and_child(&c, "fg");
    c.kubectl(&[
        "delete",
        "cm",
        "fg",
        "--cascade=foreground",
        "--timeout=30s",
    ])
    .ok();
    assert!(gone(&c, "cm/fg"));
    assert!(gone(&c, "secret/fg-child"));

    // Orphan: the child stays, without the ownerReference.
    owner_and_child(&c, "or");
    c.kubectl(&["delete", "cm", "or", "--cascade=orphan", "--timeout=30s"])
        .ok();
    assert!(gone(&c, "cm/or"));
    let child = c
        .kubectl(&["get", "secret", "or-child", "-o", "json"])
        .ok()
        .json();
    assert!(
        child["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|o| o.is_empty()),
        "{child}"
    );
}

#[test]
fn deleting_a_namespace_deletes_its_content() {
    let c = Cluster::start(&[]);
    c.kubectl(&["create", "namespace", "doomed"]).ok();
    c.kubectl(&[
        "create",
        "configmap",
        "a",
        "-n",
        "doomed",
        "--from-literal=x=y",
    ])
    .ok();
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "b",
        "-n",
        "doomed",
        "--from-literal=x=y",
    ])
    .ok();
    let out = c
        .kubectl(&["delete", "namespace", "doomed", "--timeout=60s"])
        .ok()
        .stdout;
    assert!(out.contains("namespace \"doomed\" deleted"), "{out}");
    assert!(gone(&c, "namespace/doomed"));
    // Creating in a namespace being deleted is refused; after it is gone, it is NotFound.
    let r = c.kubectl(&["create", "configmap", "late", "-n", "doomed"]);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

/// An owning ConfigMap and a Secret depending on it that carries a finalizer of its own,
/// so that its deletion waits until the test lets it go.
fn owner_and_held_child(c: &Cluster, name: &str, block: bool) {
    let owner = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], &owner)
        .ok();
    let uid = c
        .kubectl(&["get", "cm", name, "-o", "jsonpath={.metadata.uid}"])
        .ok()
        .stdout;
    let child = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-child\n  finalizers: [example.com/hold]\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {name}\n    uid: {uid}\n    blockOwnerDeletion: {block}\nstringData:\n  k: v\n"
    );
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], &child)
        .ok();
    // The garbage collector learns of dependents from its watches, as upstream's does; a
    // delete racing the child's creation would find no dependent to wait for or orphan.
    std::thread::sleep(Duration::from_secs(1));
}

fn object(c: &Cluster, what: &str) -> Option<serde_json::Value> {
    let r = c.kubectl(&["get", what, "-o", "json"]);
    (r.code == 0).then(|| r.json())
}

fn release(c: &Cluster, what: &str) {
    c.kubectl(&[
        "patch",
        what,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .ok();
}

#[test]
fn foreground_deletion_waits_for_blocking_dependents_only() {
    let c = Cluster::start(&["--disable-agent"]);

    // A blocking dependent: the owner stays, marked foregroundDeletion, until the child
    // (deleted by the garbage collector, held by its finalizer) is gone.
    owner_and_held_child(&c, "fgb", true);
    c.kubectl(&[
        "delete",
        "cm",
        "fgb",
        "--cascade=foreground",
        "--wait=false",
    ])
    .ok();
    c.wait_until(Duration::from_secs(30), "the child's deletion", || {
        object(&c, "secret/fgb-child")
            .is_some_and(|s| !s["metadata"]["deletionTimestamp"].is_null())
    });
    let owner = object(&c, "cm/fgb").expect("the owner waits for its blocking dependent");
    assert!(!owner["metadata"]["deletionTimestamp"].is_null(), "{owner}");
    assert_eq!(
        owner["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"]),
        "{owner}"
    );
    release(&c, "secret/fgb-child");
    c.wait_until(
        Duration::from_secs(30),
        "owner gone after its child",
        || gone(&c, "cm/fgb"),
    );
    assert!(gone(&c, "secret/fgb-child"));

    // A dependent without blockOwnerDeletion is deleted too, but the owner does not wait.
    owner_and_held_child(&c, "fgn", false);
    c.kubectl(&[
        "delete",
        "cm",
        "fgn",
        "--cascade=foreground",
        "--wait=false",
    ])
    .ok();
    c.wait_until(Duration::from_secs(30), "owner gone", || gone(&c, "cm/fgn"));
    c.wait_until(Duration::from_secs(30), "the child's deletion", || {
        object(&c, "secret/fgn-child")
            .is_some_and(|s| !s["metadata"]["deletionTimestamp"].is_null())
    });
    release(&c, "secret/fgn-child");
    c.wait_until(Duration::from_secs(30), "child gone", || {
        gone(&c, "secret/fgn-child")
    });
}
