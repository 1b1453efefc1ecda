//! `rkube cluster kubeconfig` prints the cluster's admin kubeconfig, which reaches it, and
//! `rkube cluster delete` leaves nothing behind: no namespaces, bridge, processes (agents,
//! servers, shims, shared-PID-namespace inits, containers), mounts, pod cgroups or files.

use std::path::Path;
use std::process::{Command, Stdio};

use rkube_e2e::images::busybox_image;
use rkube_e2e::multinode::MultiNode;
use rkube_e2e::rkube_bin;

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

fn pid_in(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Every pid recorded under a node's data dir: rkube, shims, pause processes.
fn recorded_pids(data: &Path) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    if let Some(p) = pid_in(&data.join("rkube.pid")) {
        out.push(("rkube".to_string(), p));
    }
    for e in std::fs::read_dir(data.join("agent/containers"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some(p) = pid_in(&e.path().join("shim.pid")) {
            out.push((format!("shim {}", e.path().display()), p));
        }
    }
    for e in std::fs::read_dir(data.join("agent/sandboxes"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let rec: serde_json::Value = std::fs::read(e.path().join("pause.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        if let Some(p) = rec["pid"].as_i64() {
            out.push((format!("pause {}", e.path().display()), p as i32));
        }
    }
    out
}

/// Live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && alive(pid) {
            out.push(format!("{pid}: {cmd}"));
        }
    }
    out
}

#[test]
fn cluster_kubeconfig_reaches_the_cluster_and_delete_leaves_nothing() {
    let c = MultiNode::create(2);
    let root = c.dir.path().join(&c.name);

    // `rkube cluster kubeconfig NAME` prints the kubeconfig file, and it works.
    let out = Command::new(rkube_bin())
        .args(["cluster", "kubeconfig", &c.name, "--dir"])
        .arg(c.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("rkube cluster kubeconfig");
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        printed,
        std::fs::read_to_string(&c.kubeconfig).expect("kubeconfig")
    );
    let kc = c.dir.path().join("printed-kubeconfig");
    std::fs::write(&kc, &printed).expect("write kubeconfig");
    let nodes = c
        .kubectl_cmd(&kc)
        .args(["get", "nodes", "-o", "name"])
        .output()
        .expect("kubectl");
    let nodes = String::from_utf8_lossy(&nodes.stdout).to_string();
    assert_eq!(nodes, format!("node/{}\nnode/{}\n", c.node(0), c.node(1)));
    let out = Command::new(rkube_bin())
        .args(["cluster", "kubeconfig", "no-such-cluster", "--dir"])
        .arg(c.dir.path())
        .output()
        .expect("rkube cluster kubeconfig");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cluster \"no-such-cluster\" not found"),
        "{out:?}"
    );

    // A plain pod on node 0 and a pod sharing its PID namespace (a pause init) on node 1.
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let marker = format!("sleep 37{}", std::process::id() % 100 + 10);
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: plain}}
spec:
  nodeName: {n0}
  terminationGracePeriodSeconds: 30
  containers:
  - {{name: c, image: busybox:e2e, command: ["sh", "-c", "exec {marker}"]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: shared}}
spec:
  nodeName: {n1}
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 30
  containers:
  - {{name: a, image: busybox:e2e, command: ["sh", "-c", "exec {marker}"]}}
  - {{name: b, image: busybox:e2e, command: ["sh", "-c", "exec {marker}"]}}
"#,
        n0 = c.node(0),
        n1 = c.node(1)
    ));
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/plain",
        "pod/shared",
        "--timeout=90s",
    ])
    .ok();
    let uids = c
        .kubectl(&["get", "pods", "-o", "jsonpath={.items[*].metadata.uid}"])
        .ok()
        .stdout;
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("cluster.json")).expect("cluster.json"))
            .expect("cluster.json");
    let bridge = state["bridge"].as_str().expect("bridge").to_string();
    let mut pids = Vec::new();
    for i in 0..2 {
        pids.extend(recorded_pids(&c.data_dir(i)));
    }
    assert!(
        pids.iter().any(|(what, _)| what.starts_with("pause")),
        "the shareProcessNamespace pod has a pause process: {pids:?}"
    );
    assert!(pids.iter().all(|(_, p)| alive(*p)), "{pids:?}");
    let containers = Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .expect("pgrep");
    let containers: Vec<i32> = String::from_utf8_lossy(&containers.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(containers.len(), 3, "three containers running");

    let out = Command::new(rkube_bin())
        .args(["cluster", "delete", &c.name, "--dir"])
        .arg(c.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("rkube cluster delete");
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let netns = String::from_utf8_lossy(&netns.stdout).to_string();
    assert!(
        !netns.contains(&format!("rkc-{}-", c.name)),
        "namespaces left: {netns}"
    );
    let link = Command::new("ip")
        .args(["link", "show", &bridge])
        .output()
        .expect("ip");
    assert!(!link.status.success(), "bridge {bridge} left");
    for (what, p) in &pids {
        assert!(!alive(*p), "{what} (pid {p}) still running");
    }
    for p in &containers {
        assert!(!alive(*p), "container process {p} still running");
    }
    let left = processes_mentioning(&root.display().to_string());
    assert!(left.is_empty(), "processes of the cluster left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let root_s = root.display().to_string();
    let under: Vec<&str> = mounts.lines().filter(|l| l.contains(&root_s)).collect();
    assert!(under.is_empty(), "mounts left: {under:?}");
    assert!(!root.exists(), "{} left", root.display());
    for uid in uids.split_whitespace() {
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .expect("cgroups")
            .flatten()
        {
            let cg = e.path().join(format!("rkube/pod{uid}"));
            assert!(!cg.exists(), "{} left", cg.display());
        }
        let cg = Path::new("/sys/fs/cgroup").join(format!("rkube/pod{uid}"));
        assert!(!cg.exists(), "{} left", cg.display());
    }
}
