//! LimitRange and ResourceQuota admission with real kubectl: defaults filled in, limits
//! enforced with upstream's messages, quotas counted (and shown in status) and enforced.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, KUBECTL_1_32};

fn pod(name: &str, ns: &str, resources: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: busybox:e2e\n    command: [sleep, '3600']\n    resources: {resources}\n"
    )
}

#[test]
fn limit_ranges_default_and_bound_and_quotas_count_and_refuse() {
    let c = Cluster::start(&["--node-name", "admission-node"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let apply = |yaml: &str| c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml);
    apply(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: limited}
---
apiVersion: v1
kind: LimitRange
metadata: {name: cpu, namespace: limited}
spec:
  limits:
  - type: Container
    default: {cpu: 500m}
    defaultRequest: {cpu: 100m}
    max: {cpu: "1"}
---
apiVersion: v1
kind: Namespace
metadata: {name: quoted}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: quoted}
spec:
  hard: {pods: "2", requests.cpu: "1"}
"#,
    )
    .ok();

    // LimitRange: defaults are filled in; a container over the max is refused.
    apply(&pod("plain", "limited", "{}")).ok();
    let res = c
        .kubectl(&[
            "get",
            "pod",
            "plain",
            "-n",
            "limited",
            "-o",
            "jsonpath={.spec.containers[0].resources}",
        ])
        .ok()
        .stdout;
    assert_eq!(
        res,
        r#"{"limits":{"cpu":"500m"},"requests":{"cpu":"100m"}}"#
    );
    let r = apply(&pod("big", "limited", "{limits: {cpu: '2'}}"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
        ),
        "{}",
        r.stderr
    );

    // ResourceQuota: counted, shown in status, enforced.
    apply(&pod("one", "quoted", "{requests: {cpu: 600m}}")).ok();
    let r = apply(&pod("two", "quoted", "{requests: {cpu: 600m}}"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("pods \"two\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1"),
        "{}",
        r.stderr
    );
    let r = apply(&pod("bare", "quoted", "{}"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("failed quota: compute: must specify requests.cpu"),
        "{}",
        r.stderr
    );
    apply(&pod("small", "quoted", "{requests: {cpu: 300m}}")).ok();
    c.wait_until(Duration::from_secs(30), "the quota's status", || {
        c.kubectl(&[
            "get",
            "quota",
            "compute",
            "-n",
            "quoted",
            "-o",
            "jsonpath={.status.used.pods} {.status.used.requests\\.cpu}",
        ])
        .stdout
            == "2 900m"
    });
    let r = apply(&pod("three", "quoted", "{requests: {cpu: 50m}}"));
    assert!(
        r.stderr
            .contains("exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"),
        "{}",
        r.stderr
    );
    // Deleting a pod frees its share.
    c.kubectl(&["delete", "pod", "one", "-n", "quoted", "--wait=true"])
        .ok();
    c.wait_until(Duration::from_secs(30), "room in the quota", || {
        apply(&pod("three", "quoted", "{requests: {cpu: 50m}}")).code == 0
    });
}
