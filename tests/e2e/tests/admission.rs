//! LimitRange and ResourceQuota admission with real kubectl: defaults filled in, limits
//! enforced with upstream's messages, quotas (scoped ones too) counted, shown in status and
//! enforced.

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

/// A bare pod manifest (no agent runs: admission is all that is looked at).
fn pending_pod(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: c, image: busybox:e2e}}]\n{spec}"
    )
}

#[test]
fn priority_classes_resolve_pod_priority() {
    let c = Cluster::start(&["--disable-agent"]);
    let apply = |yaml: &str| c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml);
    let get = |name: &str, path: &str| {
        c.kubectl(&["get", "pod", name, "-o", &format!("jsonpath={path}")])
            .ok()
            .stdout
    };
    // The system classes every cluster has.
    let r = c
        .kubectl(&[
            "get",
            "priorityclass",
            "system-node-critical",
            "system-cluster-critical",
            "-o",
            "jsonpath={.items[*].value}",
        ])
        .ok();
    assert_eq!(r.stdout, "2000001000 2000000000");

    apply(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: e2e-high}\nvalue: 1000\npreemptionPolicy: Never\n",
    )
    .ok();
    apply(&pending_pod("prio-high", "  priorityClassName: e2e-high\n")).ok();
    assert_eq!(
        get("prio-high", "{.spec.priority} {.spec.preemptionPolicy}"),
        "1000 Never"
    );
    apply(&pending_pod("prio-none", "")).ok();
    assert_eq!(
        get("prio-none", "{.spec.priority} {.spec.preemptionPolicy}"),
        "0 PreemptLowerPriority"
    );

    let r = apply(&pending_pod("prio-unknown", "  priorityClassName: foo\n"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "pods \"prio-unknown\" is forbidden: no PriorityClass with name foo was found"
        ),
        "{}",
        r.stderr
    );
    let r = apply(&pending_pod(
        "prio-forged",
        "  priorityClassName: e2e-high\n  priority: 2000000000\n",
    ));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("pods \"prio-forged\" is forbidden: the integer value of priority (2000000000) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"),
        "{}",
        r.stderr
    );

    // A globalDefault class applies to pods that name none.
    apply(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: e2e-default}\nvalue: 7\nglobalDefault: true\n",
    )
    .ok();
    apply(&pending_pod("prio-default", "")).ok();
    assert_eq!(
        get("prio-default", "{.spec.priorityClassName} {.spec.priority}"),
        "e2e-default 7"
    );
}

#[test]
fn quotas_on_object_counts_and_node_ports() {
    let c = Cluster::start(&["--disable-agent"]);
    let apply = |yaml: &str| c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml);
    apply(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: counted}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: objects, namespace: counted}
spec:
  hard: {count/configmaps: "3", services.nodeports: "1"}
"#,
    )
    .ok();
    // The namespace's own kube-root-ca.crt counts too, as upstream.
    c.wait_until(
        Duration::from_secs(20),
        "the namespace's CA ConfigMap",
        || {
            c.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "counted"])
                .code
                == 0
        },
    );
    for cm in ["cm-1", "cm-2"] {
        c.kubectl(&["create", "configmap", cm, "-n", "counted"])
            .ok();
    }
    let r = c.kubectl(&["create", "configmap", "cm-3", "-n", "counted"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("configmaps \"cm-3\" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=3, limited: count/configmaps=3"),
        "{}",
        r.stderr
    );

    // ClusterIP Services take no node port; a NodePort Service takes one per port.
    c.kubectl(&[
        "create",
        "service",
        "clusterip",
        "plain",
        "--tcp=80",
        "-n",
        "counted",
    ])
    .ok();
    c.kubectl(&[
        "create", "service", "nodeport", "np-1", "--tcp=80", "-n", "counted",
    ])
    .ok();
    let r = c.kubectl(&[
        "create", "service", "nodeport", "np-2", "--tcp=80", "-n", "counted",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("services \"np-2\" is forbidden: exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"),
        "{}",
        r.stderr
    );
    // A scoped quota counts and limits only the pods its scopes select.
    apply(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: scoped}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: besteffort, namespace: scoped}
spec:
  hard: {pods: "1"}
  scopes: [BestEffort]
"#,
    )
    .ok();
    let create = |yaml: String| c.kubectl_stdin(KUBECTL_1_32, &["create", "-f", "-"], &yaml);
    create(pod("be-1", "scoped", "{}")).ok();
    let r = create(pod("be-2", "scoped", "{}"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("pods \"be-2\" is forbidden: exceeded quota: besteffort, requested: pods=1, used: pods=1, limited: pods=1"),
        "{}",
        r.stderr
    );
    create(pod("burstable", "scoped", "{requests: {cpu: 100m}}")).ok();
    c.wait_until(Duration::from_secs(30), "the scoped quota's status", || {
        c.kubectl(&[
            "get",
            "quota",
            "besteffort",
            "-n",
            "scoped",
            "-o",
            "jsonpath={.status.used.pods}",
        ])
        .stdout
            == "1"
    });
    // Deleting a ConfigMap frees its count.
    c.kubectl(&["delete", "configmap", "cm-1", "-n", "counted"])
        .ok();
    c.wait_until(Duration::from_secs(30), "room for a ConfigMap", || {
        c.kubectl(&["create", "configmap", "cm-3", "-n", "counted"])
            .code
            == 0
    });
}
