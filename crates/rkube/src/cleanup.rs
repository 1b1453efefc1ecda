//! Removing what a node agent leaves running by design (containers outlive the agent):
//! used when a whole local cluster is deleted.

use std::path::Path;

/// Kills every container (shim and processes) of the agent whose data dir is `data`, and
/// removes their pod cgroups once empty.
pub fn remove_containers(data: &Path) {
    let mut cgroups = Vec::new();
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
        }
        let rec: serde_json::Value = std::fs::read(dir.join("container.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        if let Some(cg) = rec["cgroup_path"].as_str() {
            for pid in procs(cg) {
                // SAFETY: as above; these are the container's processes.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            cgroups.push(cg.to_string());
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    for cg in cgroups {
        let Some(pod) = Path::new(&cg).parent() else {
            continue;
        };
        for root in controllers() {
            let _ = std::fs::remove_dir(format!("{root}{cg}"));
            let _ = std::fs::remove_dir(format!("{root}{}", pod.display()));
        }
    }
}

fn controllers() -> Vec<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
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
