//! Removing what a node agent leaves running by design (containers outlive the agent):
//! used when a whole local cluster is deleted.

use std::path::Path;

/// Kills every container (shim and processes) and every shared-PID-namespace init (pause) of
/// the agent whose data dir is `data`, and removes their pod cgroups once empty.
pub fn remove_containers(data: &Path) {
    let mut cgroups = Vec::new();
    let mut killed = Vec::new();
    for entry in std::fs::read_dir(data.join("agent/containers"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = entry.path();
        if let Some(pid) = std::fs::read_to_string(dir.join("shim.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            // SAFETY: signalling a pid recorded by our own shim.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed.push(pid);
        }
        let rec: serde_json::Value = std::fs::read(dir.join("container.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        if let Some(cg) = rec["cgroup_path"].as_str() {
            for pid in procs(cg) {
                // SAFETY: as above; these are the container's processes.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed.push(pid);
            }
            cgroups.push(cg.to_string());
        }
    }
    let mut pods = Vec::new();
    for entry in std::fs::read_dir(data.join("agent/sandboxes"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = entry.path();
        killed.extend(kill_pause(&dir.join("pause.json")));
        // The pod cgroup (`/rkube/pod<uid>`, see the runtime's sandbox module) may hold
        // processes no container record names any more.
        let rec: serde_json::Value = std::fs::read(dir.join("sandbox.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        if let Some(uid) = rec["config"]["uid"].as_str().filter(|u| !u.is_empty()) {
            let cg = format!("/rkube/pod{uid}");
            for pid in procs(&cg) {
                // SAFETY: processes of one of this agent's pods.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed.push(pid);
            }
            pods.push(cg);
        }
    }
    // A PID namespace's init exits only once the kernel has killed and reaped everything in
    // the namespace: wait, so cgroups can go and nothing outlives the delete.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while killed.iter().any(|p| alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for cg in cgroups {
        let Some(pod) = Path::new(&cg).parent() else {
            continue;
        };
        for root in controllers() {
            let _ = std::fs::remove_dir(format!("{root}{cg}"));
            let _ = std::fs::remove_dir(format!("{root}{}", pod.display()));
        }
    }
    for cg in pods {
        for root in controllers() {
            let _ = std::fs::remove_dir(format!("{root}{cg}"));
        }
    }
}

/// Kills a pod's shared PID namespace init recorded in `pause.json` (`{"pid", "ns"}`), only
/// if that pid still is in the recorded namespace (pids are reused).
fn kill_pause(record: &Path) -> Option<i32> {
    let rec = std::fs::read(record)
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())?;
    let pid = i32::try_from(rec["pid"].as_i64()?).ok()?;
    let ns = rec["ns"].as_str()?;
    let current = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if pid > 1 && current == ns {
        // SAFETY: signalling the recorded pause process, checked by its namespace.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        return Some(pid);
    }
    None
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// The cgroup hierarchies' roots: the unified one (v2), or each v1 controller's.
fn controllers() -> Vec<String> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return vec!["/sys/fs/cgroup".into()];
    }
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path().display().to_string())
        .collect()
}

fn procs(cg: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for root in controllers() {
        for l in std::fs::read_to_string(format!("{root}{cg}/cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            if let Ok(p) = l.trim().parse() {
                out.push(p);
            }
        }
    }
    out
}

/// Lazily unmounts everything mounted under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let root = dir.to_string_lossy().to_string();
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
        .filter(|m| m.starts_with(&root))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        if let Ok(c) = std::ffi::CString::new(m) {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
