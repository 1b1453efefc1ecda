//! Service account tokens with real kubectl: `kubectl create token` (TokenRequest), the
//! token as a bearer credential, its expiry bounds, and its end when what it is bound to
//! goes.

use std::time::Duration;

use rkube_e2e::{Cluster, Run};

/// kubectl with only a bearer token (no client certificate) for credentials.
fn as_token(c: &Cluster, token: &str, args: &[&str]) -> Run {
    let ca = c
        .kubectl(&[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ])
        .ok()
        .stdout;
    let kc = c.file(
        "token.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    );
    let mut full = vec!["--kubeconfig", kc.as_str()];
    full.extend_from_slice(args);
    c.kubectl(&full)
}

#[test]
fn tokens_authenticate_until_their_account_or_pod_goes() {
    let c = Cluster::start(&["--disable-agent"]);
    c.wait_until(
        Duration::from_secs(20),
        "the default service account",
        || c.kubectl(&["get", "sa", "default"]).code == 0,
    );
    let token = c.kubectl(&["create", "token", "default"]).ok().stdout;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let r = as_token(&c, token, &["get", "sa", "default", "-o", "name"]);
    assert_eq!(r.ok().stdout.trim(), "serviceaccount/default");

    // A token that is not ours, or altered, is refused as upstream refuses it.
    let mut forged = token.to_string();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [forged.as_str(), "not-a-token"] {
        let r = as_token(&c, bad, &["get", "pods"]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            r.stderr
                .contains("error: You must be logged in to the server (Unauthorized)"),
            "{r:?}"
        );
    }

    // Lifetimes under ten minutes are invalid; TokenRequest's own errors.
    let r = c.kubectl(&["create", "token", "default", "--duration=5m"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("may not specify a duration less than 10 minutes"),
        "{r:?}"
    );
    let r = c.kubectl(&["create", "token", "nosuch"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("error: failed to create token: serviceaccounts \"nosuch\" not found"),
        "{r:?}"
    );

    // Bound to a pod: valid while that pod exists.
    c.kubectl(&["run", "holder", "--image=busybox", "--restart=Never"])
        .ok();
    let bound = c
        .kubectl(&[
            "create",
            "token",
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=holder",
        ])
        .ok()
        .stdout;
    let bound = bound.trim();
    assert_eq!(as_token(&c, bound, &["get", "pods"]).code, 0);
    c.kubectl(&["delete", "pod", "holder", "--grace-period=0", "--force"]);
    c.wait_until(Duration::from_secs(20), "the pod gone", || {
        c.kubectl(&["get", "pod", "holder"]).code != 0
    });
    assert_eq!(as_token(&c, bound, &["get", "pods"]).code, 1);

    // A service account deleted and created again does not take old tokens back.
    c.kubectl(&["create", "sa", "robot"]).ok();
    let old = c.kubectl(&["create", "token", "robot"]).ok().stdout;
    assert_eq!(as_token(&c, old.trim(), &["get", "pods"]).code, 0);
    c.kubectl(&["delete", "sa", "robot"]).ok();
    c.kubectl(&["create", "sa", "robot"]).ok();
    assert_eq!(as_token(&c, old.trim(), &["get", "pods"]).code, 1);
}

/// A pod mounts its account's token, the cluster CA and its namespace where in-cluster
/// clients look (`multinode.rs` uses them from inside a pod, where node addresses are real).
#[test]
fn pods_mount_a_token_the_ca_and_their_namespace() {
    let c = Cluster::with_node("node-a");
    c.wait_until(
        Duration::from_secs(20),
        "the default service account",
        || c.kubectl(&["get", "sa", "default"]).code == 0,
    );
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: app, image: busybox:e2e, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: quiet}
spec:
  automountServiceAccountToken: false
  containers:
  - {name: app, image: busybox:e2e, command: ["sleep", "3600"]}
"#,
    );
    // An account may turn automount off for its pods too.
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: hush}\nautomountServiceAccountToken: false\n");
    c.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: hushed}\nspec:\n  serviceAccountName: hush\n  containers:\n  - {name: app, image: busybox:e2e}\n");
    assert_eq!(c.jsonpath("pod/hushed", "{.spec.volumes}"), "");
    assert_eq!(c.jsonpath("pod/hushed", "{.spec.serviceAccount}"), "hush");
    for p in ["client", "quiet"] {
        c.wait_jsonpath(&format!("pod/{p}"), "{.status.phase}", "Running", |s| {
            s == "Running"
        });
    }
    assert_eq!(
        c.jsonpath("pod/client", "{.spec.serviceAccountName}"),
        "default"
    );
    let vol = c.jsonpath("pod/client", "{.spec.volumes[0].name}");
    assert!(vol.starts_with("kube-api-access-"), "{vol}");
    let dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    let cat = |f: &str| {
        c.kubectl(&["exec", "client", "--", "cat", &format!("{dir}/{f}")])
            .ok()
            .stdout
    };
    assert_eq!(cat("namespace"), "default");
    let ca = c.jsonpath("configmap/kube-root-ca.crt", "{.data.ca\\.crt}");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(cat("ca.crt").trim(), ca.trim());
    let token = cat("token");
    assert_eq!(
        as_token(&c, &token, &["get", "pod", "client", "-o", "name"])
            .ok()
            .stdout
            .trim(),
        "pod/client"
    );
    // Without automount: no volume, nothing at the path.
    assert_eq!(c.jsonpath("pod/quiet", "{.spec.volumes}"), "");
    assert_ne!(
        c.kubectl(&["exec", "quiet", "--", "ls", dir]).code,
        0,
        "nothing mounted"
    );
    // The token ends with its pod.
    c.kubectl(&["delete", "pod", "client", "--grace-period=1"])
        .ok();
    c.wait_until(Duration::from_secs(30), "the pod gone", || {
        c.kubectl(&["get", "pod", "client"]).code != 0
    });
    assert_eq!(as_token(&c, &token, &["get", "pods"]).code, 1);
}
