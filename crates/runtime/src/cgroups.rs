//! Pod and container cgroups on cgroup v1 (one hierarchy per controller, as on these
//! machines) and v2 (the unified tree). libcontainer creates and limits the container's own
//! cgroup; this module makes the pod's parent, reads usage and OOM kills, and cleans up.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// v1 controllers that get a pod-level directory (cpuset and the others are created on
/// demand by libcontainer, which also fills cpuset's cpus/mems from the parent).
const V1_POD_CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "pids"];

/// Every v1 controller a container's cgroup may exist in.
const V1_ALL: &[&str] = &[
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "cpuset",
    "devices",
    "freezer",
    "blkio",
    "hugetlb",
    "perf_event",
    "net_cls",
    "net_prio",
    "systemd",
];

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// v2 when the unified hierarchy is mounted at the root with controllers enabled.
pub fn version() -> Version {
    match std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers")) {
        Ok(c) if !c.trim().is_empty() => Version::V2,
        _ => Version::V1,
    }
}

fn dir(controller: Option<&str>, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    match controller {
        Some(c) => Path::new(ROOT).join(c).join(rel),
        None => Path::new(ROOT).join(rel),
    }
}

/// Creates the pod's cgroup directories.
pub fn create_pod(path: &str) -> crate::error::Result<()> {
    let dirs: Vec<PathBuf> = match version() {
        Version::V1 => V1_POD_CONTROLLERS
            .iter()
            .filter(|c| Path::new(ROOT).join(c).exists())
            .map(|c| dir(Some(c), path))
            .collect(),
        Version::V2 => vec![dir(None, path)],
    };
    for d in dirs {
        std::fs::create_dir_all(&d).map_err(|e| {
            crate::error::RuntimeError::io(format!("create cgroup {}", d.display()), e)
        })?;
    }
    Ok(())
}

/// Removes a cgroup and its (empty) children, deepest first; busy ones are left.
fn remove_tree(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(d);
}

/// Removes the pod's cgroup directories (after its containers are gone).
pub fn remove_pod(path: &str) {
    match version() {
        Version::V1 => {
            for c in V1_ALL {
                remove_tree(&dir(Some(c), path));
            }
        }
        Version::V2 => remove_tree(&dir(None, path)),
    }
}

/// How many times the kernel's OOM killer killed a process in the cgroup at `path`.
pub fn oom_kills(path: &str) -> u64 {
    let (file, key) = match version() {
        Version::V1 => (
            dir(Some("memory"), path).join("memory.oom_control"),
            "oom_kill",
        ),
        Version::V2 => (dir(None, path).join("memory.events"), "oom_kill"),
    };
    read_keyed(&file, key).unwrap_or(0)
}

/// Memory in use (working set: usage minus inactive file pages, as cAdvisor computes it).
pub fn memory_working_set(path: &str) -> Option<u64> {
    match version() {
        Version::V1 => {
            let d = dir(Some("memory"), path);
            let usage = read_u64(&d.join("memory.usage_in_bytes"))?;
            let inactive = read_keyed(&d.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            Some(usage.saturating_sub(inactive))
        }
        Version::V2 => {
            let d = dir(None, path);
            let usage = read_u64(&d.join("memory.current"))?;
            let inactive = read_keyed(&d.join("memory.stat"), "inactive_file").unwrap_or(0);
            Some(usage.saturating_sub(inactive))
        }
    }
}

/// Cumulative CPU time in nanoseconds.
pub fn cpu_usage_nanos(path: &str) -> Option<u64> {
    match version() {
        Version::V1 => read_u64(&dir(Some("cpuacct"), path).join("cpuacct.usage")),
        Version::V2 => {
            read_keyed(&dir(None, path).join("cpu.stat"), "usage_usec").map(|u| u * 1000)
        }
    }
}

/// Processes in the cgroup (for killing what a container left behind).
pub fn pids(path: &str) -> Vec<i32> {
    let file = match version() {
        Version::V1 => dir(Some("pids"), path).join("cgroup.procs"),
        Version::V2 => dir(None, path).join("cgroup.procs"),
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn read_keyed(p: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(p)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}
