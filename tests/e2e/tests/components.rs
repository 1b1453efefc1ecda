//! The scheduler and the controller manager as processes of their own: a server started
//! with `--disable-scheduler --disable-controller-manager` makes no ReplicaSets and binds no
//! pods until `rkube controller-manager` and `rkube scheduler` run against it.

use std::process::{Child, Stdio};
use std::time::Duration;

use rkube_e2e::{rkube_bin, Cluster};

/// Kills the process when the test ends, passing or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(c: &Cluster, args: &[&str]) -> Killed {
    Killed(
        c.command(&rkube_bin().display().to_string())
            .args(args)
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rkube"),
    )
}

fn names(c: &Cluster, what: &str) -> Vec<String> {
    c.kubectl(&["get", what, "-o", "name"])
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn scheduler_and_controllers_run_as_processes_of_their_own() {
    let c = Cluster::start(&[
        "--disable-agent",
        "--disable-scheduler",
        "--disable-controller-manager",
    ]);
    let _nodes = spawn(&c, &["agent", "--simulate", "2"]);
    c.wait_until(Duration::from_secs(60), "2 simulated nodes", || {
        names(&c, "nodes").len() == 2
    });
    c.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=busybox:bench",
        "--replicas=2",
    ])
    .ok();
    // Nothing acts on the Deployment while no controller manager runs.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        names(&c, "rs").is_empty(),
        "a ReplicaSet without controllers"
    );

    let _controllers = spawn(&c, &["controller-manager"]);
    c.wait_until(Duration::from_secs(60), "the Deployment's 2 pods", || {
        names(&c, "pods").len() == 2
    });
    // Created but not bound: no scheduler yet.
    std::thread::sleep(Duration::from_secs(2));
    let nodes = c
        .kubectl(&["get", "pods", "-o", "jsonpath={.items[*].spec.nodeName}"])
        .stdout;
    assert_eq!(nodes.trim(), "", "pods bound without a scheduler");

    let _scheduler = spawn(&c, &["scheduler"]);
    c.wait_until(Duration::from_secs(60), "both pods Running", || {
        c.kubectl(&["get", "pods", "-o", "jsonpath={.items[*].status.phase}"])
            .stdout
            .split_whitespace()
            .filter(|p| *p == "Running")
            .count()
            == 2
    });
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .ok();
}
