//! `rkube agent --simulate N` against a real server (`--disable-agent`), driven by real
//! kubectl: the nodes register and stay Ready on fresh Leases, and a Deployment's pods on
//! them are reported Running and Ready, replaced when deleted.

use std::process::Child;
use std::time::Duration;

use rkube_e2e::{rkube_bin, Cluster};

/// The simulator process; killed when the test ends, also when it fails.
struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_simulator(c: &Cluster, nodes: usize, prefix: &str) -> Simulator {
    let log = std::fs::File::create(c.dir.path().join("simulator.log")).expect("log");
    let child = c
        .command(&rkube_bin().display().to_string())
        .args([
            "agent",
            "--simulate",
            &nodes.to_string(),
            "--simulate-prefix",
            prefix,
        ])
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start the simulator");
    Simulator(child)
}

fn ready_nodes(c: &Cluster, prefix: &str) -> Vec<String> {
    let r = c.kubectl(&["get", "nodes", "-o", "json"]).ok();
    r.json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|cond| cond["type"] == "Ready" && cond["status"] == "True")
        })
        .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn renew_time(c: &Cluster, node: &str) -> String {
    let r = c.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        node,
        "-o",
        "jsonpath={.spec.renewTime}",
    ]);
    r.stdout.trim().to_string()
}

/// Names of the pods with `label` that are Running with Ready=True.
fn running_ready(c: &Cluster, label: &str) -> Vec<String> {
    let r = c.kubectl(&["get", "pods", "-l", label, "-o", "json"]).ok();
    r.json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["status"]["phase"] == "Running")
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|cond| cond["type"] == "Ready" && cond["status"] == "True")
        })
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn simulated_nodes_run_a_deployment() {
    let c = Cluster::start(&["--disable-agent"]);
    let _sim = start_simulator(&c, 3, "simtest");
    c.wait_until(Duration::from_secs(60), "3 Ready simulated nodes", || {
        ready_nodes(&c, "simtest-").len() == 3
    });
    let mut names = ready_nodes(&c, "simtest-");
    names.sort();
    assert_eq!(names, ["simtest-0", "simtest-1", "simtest-2"]);

    // Leases are renewed (every 10 s, as a kubelet does).
    c.wait_until(Duration::from_secs(30), "a first lease renewal", || {
        !renew_time(&c, "simtest-0").is_empty()
    });
    let first = renew_time(&c, "simtest-0");
    c.wait_until(
        Duration::from_secs(30),
        "the lease renewTime to advance",
        || {
            let now = renew_time(&c, "simtest-0");
            !now.is_empty() && now > first
        },
    );

    c.kubectl(&[
        "create",
        "deployment",
        "simweb",
        "--image=busybox:simulated",
        "--replicas=6",
    ])
    .ok();
    c.kubectl(&["rollout", "status", "deployment/simweb", "--timeout=120s"])
        .ok();
    c.wait_until(Duration::from_secs(60), "6 pods Running and Ready", || {
        running_ready(&c, "app=simweb").len() == 6
    });
    // The pods are spread over the simulated nodes.
    let pods = c
        .kubectl(&["get", "pods", "-l", "app=simweb", "-o", "json"])
        .ok()
        .json();
    for p in pods["items"].as_array().expect("items") {
        let node = p["spec"]["nodeName"].as_str().unwrap_or("");
        assert!(node.starts_with("simtest-"), "pod on {node:?}");
        assert!(p["status"]["podIP"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty()));
    }
    let available = c
        .kubectl(&[
            "get",
            "deployment",
            "simweb",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ])
        .ok();
    assert_eq!(available.stdout.trim(), "6");

    // A deleted pod disappears (the simulator finishes its deletion) and is replaced.
    let victim = running_ready(&c, "app=simweb")
        .into_iter()
        .next()
        .expect("a pod");
    c.kubectl(&["delete", "pod", &victim, "--timeout=60s"]).ok();
    let gone = c.kubectl(&["get", "pod", &victim]);
    assert_ne!(gone.code, 0);
    assert!(
        gone.stderr
            .contains(&format!("pods \"{victim}\" not found")),
        "{}",
        gone.stderr
    );
    c.wait_until(Duration::from_secs(60), "a replacement Running", || {
        let pods = running_ready(&c, "app=simweb");
        pods.len() == 6 && !pods.contains(&victim)
    });
}
