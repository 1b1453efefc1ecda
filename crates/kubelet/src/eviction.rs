//! Local ephemeral storage limits, as the kubelet's eviction manager enforces them for
//! emptyDir volumes on disk: a pod whose emptyDir holds more than its `sizeLimit` is
//! evicted (a Memory emptyDir is bounded by its tmpfs size instead).

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use crate::volumes::volume_dir;
use crate::Agent;

/// How often a pod's emptyDir usage is measured (the eviction manager's housekeeping
/// interval).
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `pod` has any disk emptyDir with a sizeLimit (only those need measuring).
pub fn has_limited_empty_dirs(pod: &Pod) -> bool {
    limited_empty_dirs(pod).next().is_some()
}

fn limited_empty_dirs(pod: &Pod) -> impl Iterator<Item = (&str, &str, u64)> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            let ed = v.empty_dir.as_ref()?;
            if ed.medium.as_deref() == Some("Memory") {
                return None;
            }
            let text = ed.size_limit.as_ref()?.0.as_str();
            let limit = rkube_apimachinery::quantity::parse_value(text)?;
            Some((v.name.as_str(), text, u64::try_from(limit).ok()?))
        })
}

/// The eviction message for the first disk emptyDir over its sizeLimit, with upstream's
/// wording.
pub fn empty_dir_violation(agent: &Agent, pod: &Pod) -> Option<String> {
    limited_empty_dirs(pod).find_map(|(name, text, limit)| {
        let used = disk_usage(&volume_dir(agent, pod, "empty-dir", name));
        (used > limit)
            .then(|| format!("Usage of EmptyDir volume {name:?} exceeds the limit {text:?}. "))
    })
}

/// Bytes of disk a directory tree takes, as `du` counts them (allocated blocks), without
/// following symlinks or crossing into other mounts' subtrees twice.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            total += disk_usage(&entry.path());
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_counts_allocated_blocks_of_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), vec![7u8; 3 << 20]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("link")).unwrap();
        let used = disk_usage(dir.path());
        assert!(used >= 3 << 20, "{used}");
        assert!(used < 4 << 20, "symlinks are not followed: {used}");
    }

    #[test]
    fn only_disk_empty_dirs_with_a_limit_are_watched() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "volumes": [
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "free", "emptyDir": {}},
                {"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}},
            ]},
        }))
        .unwrap();
        let watched: Vec<_> = limited_empty_dirs(&pod).collect();
        assert_eq!(watched, vec![("cache", "1Mi", 1 << 20)]);
    }
}
