//! Pulls from a registry that demands credentials: without imagePullSecrets the pod is held
//! in ErrImagePull/ImagePullBackOff; with a `kubernetes.io/dockerconfigjson` Secret made by
//! `kubectl create secret docker-registry` the kubelet pulls and the pod runs. The registry
//! (Debian's docker-registry with an htpasswd file) listens inside the cluster's network
//! namespace, where the node pulls from.

use std::time::Duration;

use rkube_e2e::images::{busybox_layer, oci_blobs};
use rkube_e2e::registry::Registry;
use rkube_e2e::Cluster;

const NODE: &str = "node-a";

fn pod(name: &str, image: &str, secrets: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {NODE}\n  restartPolicy: Never\n{secrets}  containers:\n  - name: c\n    image: {image}\n    imagePullPolicy: Always\n    command: [sh, -c, 'echo pulled-with-credentials; sleep 3600']\n"
    )
}

#[test]
fn image_pull_secrets_unlock_a_private_registry() {
    let c = Cluster::start(&["--node-name", NODE]);
    let reg = Registry::start_with(Some(&c.netns), Some(("alice", "s3cret")));
    let work = c.dir.path().join("private-image");
    std::fs::create_dir_all(&work).unwrap();
    let layer = busybox_layer(&work);
    let (gz, config, manifest) = oci_blobs(&work, &layer);
    reg.push_blob("private/busybox", &gz);
    reg.push_blob("private/busybox", &config);
    reg.push_manifest(
        "private/busybox",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    let image = format!("{}/private/busybox:v1", reg.host());

    // No credentials: refused by the registry, reported as upstream does.
    c.kubectl_stdin(
        rkube_e2e::KUBECTL_1_32,
        &["apply", "-f", "-"],
        &pod("anonymous", &image, ""),
    )
    .ok();
    c.wait_until(
        Duration::from_secs(60),
        "ErrImagePull or ImagePullBackOff",
        || {
            let reason = c.jsonpath(
                "pod/anonymous",
                "{.status.containerStatuses[0].state.waiting.reason}",
            );
            reason == "ErrImagePull" || reason == "ImagePullBackOff"
        },
    );

    // With the Secret named in imagePullSecrets the pull succeeds.
    c.kubectl(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", reg.host()),
        "--docker-username=alice",
        "--docker-password=s3cret",
    ])
    .ok();
    c.kubectl_stdin(
        rkube_e2e::KUBECTL_1_32,
        &["apply", "-f", "-"],
        &pod("private", &image, "  imagePullSecrets: [{name: regcred}]\n"),
    )
    .ok();
    c.wait_until(Duration::from_secs(60), "the private pod Running", || {
        c.jsonpath("pod/private", "{.status.phase}") == "Running"
    });
    c.wait_until(Duration::from_secs(30), "its log", || {
        c.kubectl(&["logs", "private"]).stdout == "pulled-with-credentials\n"
    });
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=private",
            "-o",
            "jsonpath={range .items[*]}{.reason} {end}",
        ])
        .stdout;
    assert!(
        events.contains("Pulling") && events.contains("Pulled"),
        "{events}"
    );
    // The anonymous pod is still held back.
    let reason = c.jsonpath(
        "pod/anonymous",
        "{.status.containerStatuses[0].state.waiting.reason}",
    );
    assert!(
        reason == "ErrImagePull" || reason == "ImagePullBackOff",
        "{reason}"
    );
}
