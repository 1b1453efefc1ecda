//! Faults, end to end on local multi-node clusters: a node cut off from the network and
//! restored never runs a second copy of a StatefulSet pod, and a server restarted under
//! load loses no acknowledged write while the other node's agent resumes its watches.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::multinode::MultiNode;

fn running_copies(marker: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_partitioned_node_never_runs_a_second_copy_of_a_statefulset_pod() {
    let c = MultiNode::create(3);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let marker = format!("sleep 36{}", std::process::id() % 100 + 10);
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: db}}
spec: {{clusterIP: None, selector: {{app: db}}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{{key: kubernetes.io/hostname, operator: NotIn, values: [{server}]}}]
      tolerations:
      - {{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}}
      - {{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}}
      containers:
      - {{name: c, image: busybox:e2e, command: ["sh", "-c", "exec {marker}"]}}
"#,
        server = c.node(0)
    ));
    c.kubectl(&["wait", "--for=condition=Ready", "pod/db-0", "--timeout=90s"])
        .ok();
    let host = c
        .kubectl(&["get", "pod", "db-0", "-o", "jsonpath={.spec.nodeName}"])
        .ok()
        .stdout;
    let i: u8 = host
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("node index");
    assert_eq!(running_copies(&marker), 1);

    // Cut the node off.
    c.exec_on(i, &["ip", "link", "set", "eth0", "down"]).ok();
    c.wait_until(Duration::from_secs(90), "the node to be lost", || {
        c.kubectl(&[
            "get",
            "node",
            &host,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .stdout
            == "Unknown"
    });
    c.wait_until(
        Duration::from_secs(60),
        "db-0 evicted (terminating)",
        || {
            !c.kubectl(&[
                "get",
                "pod",
                "db-0",
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ])
            .stdout
            .is_empty()
        },
    );
    // While the node cannot confirm the old copy is gone, no second copy starts.
    for _ in 0..20 {
        let node = c
            .kubectl(&["get", "pod", "db-0", "-o", "jsonpath={.spec.nodeName}"])
            .stdout;
        assert!(
            node.is_empty() || node == host,
            "db-0 moved to {node} while {host} was cut off"
        );
        assert!(running_copies(&marker) <= 1);
        std::thread::sleep(Duration::from_millis(500));
    }

    // Restore the link: the node stops the old copy, then db-0 runs again, once.
    c.exec_on(i, &["ip", "link", "set", "eth0", "up"]).ok();
    let gw = {
        let ip = c.ip(i);
        let (net, _) = ip.rsplit_once('.').expect("ip");
        format!("{net}.1")
    };
    c.exec_on(i, &["ip", "route", "replace", "default", "via", &gw])
        .ok();
    c.wait_until(Duration::from_secs(120), "db-0 back and Ready", || {
        let r = c.kubectl(&[
            "get",
            "pod",
            "db-0",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        r.stdout == "|True"
    });
    c.wait_until(Duration::from_secs(30), "exactly one copy running", || {
        running_copies(&marker) == 1
    });
}

#[test]
fn a_server_restarted_under_load_loses_no_acknowledged_write() {
    let c = Arc::new(MultiNode::create(2));
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("load-{n}");
                let r = c.kubectl(&["create", "configmap", &name, "--from-literal=n=1"]);
                if r.code == 0 {
                    acked.lock().expect("lock").push(name);
                }
                n += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    c.restart_node(0);
    c.wait_until(Duration::from_secs(60), "the server back", || {
        c.kubectl(&["get", "--raw", "/readyz"]).code == 0
    });
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 5, "too few writes: {}", acked.len());
    let have = c.kubectl(&["get", "configmaps", "-o", "name"]).ok().stdout;
    for name in &acked {
        assert!(
            have.contains(&format!("configmap/{name}\n")),
            "acknowledged {name} is missing"
        );
    }
    // The other node's agent resumed its watches: a new pod bound to it runs.
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: after}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: busybox:e2e, command: [sleep, '3600']}}\n",
        c.node(1)
    ));
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/after",
        "--timeout=60s",
    ])
    .ok();
}
