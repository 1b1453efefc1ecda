//! Priority and preemption with real kubectl: a pod of higher priority that fits nowhere
//! evicts a lower-priority pod, even one a PodDisruptionBudget covers (budgets are a
//! preference for preemption, as upstream), and is then bound to the freed node.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, KUBECTL_1_32};

fn pod(name: &str, class: &str, cpu_milli: i64) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {name}}}}}\nspec:\n  priorityClassName: {class}\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: busybox:e2e\n    command: [sleep, '3600']\n    resources: {{requests: {{cpu: {cpu_milli}m}}}}\n"
    )
}

fn milli(q: &str) -> i64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().expect("millicores"),
        None => q.parse::<i64>().expect("cores") * 1000,
    }
}

#[test]
fn a_higher_priority_pod_preempts_a_lower_one() {
    let c = Cluster::start(&["--node-name", "preempt-node"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let apply = |yaml: &str| c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml);
    let get = |args: &[&str]| c.kubectl(args).stdout;
    let mut allocatable = String::new();
    c.wait_until(
        Duration::from_secs(60),
        "the node's allocatable CPU",
        || {
            allocatable = get(&[
                "get",
                "node",
                "preempt-node",
                "-o",
                "jsonpath={.status.allocatable.cpu}",
            ]);
            !allocatable.is_empty()
        },
    );
    let allocatable = milli(&allocatable);
    // Each pod takes 60 % of the node: the two cannot run side by side.
    let share = allocatable * 6 / 10;
    apply(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: e2e-low}\nvalue: 10\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: e2e-high}\nvalue: 1000\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: victim}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: victim}}\n",
    )
    .ok();
    apply(&pod("victim", "e2e-low", share)).ok();
    c.wait_until(
        Duration::from_secs(60),
        "the low-priority pod to run",
        || get(&["get", "pod", "victim", "-o", "jsonpath={.status.phase}"]) == "Running",
    );
    apply(&pod("preemptor", "e2e-high", share)).ok();
    c.wait_until(Duration::from_secs(90), "the preemptor to be bound", || {
        get(&["get", "pod", "preemptor", "-o", "jsonpath={.spec.nodeName}"]) == "preempt-node"
    });
    c.wait_until(Duration::from_secs(30), "the victim to be gone", || {
        let r = c.kubectl(&["get", "pod", "victim"]);
        r.code == 1 && r.stderr.contains("pods \"victim\" not found")
    });
    let events = get(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        "jsonpath={.items[*].involvedObject.name}",
    ]);
    assert_eq!(events, "victim");
}
