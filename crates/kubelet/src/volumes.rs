//! Pod volumes under `agent/pods/<uid>/volumes/`: emptyDir (disk or Memory), hostPath,
//! configMap, secret, downwardAPI and projected — the file-backed ones written with the
//! kubelet's atomic writer (`..data` symlink swap) so updates reach running containers
//! whole — and each container's volumeMounts (subPath, readOnly).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, KeyToPath, Pod, Volume};
use rkube_runtime::container::Mount;

use crate::spec::{field_ref, Lookup};
use crate::Agent;

/// A volume that cannot be set up yet: the pod stays in ContainerCreating with a
/// `FailedMount` event carrying this text.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

fn err(volume: &str, message: impl Into<String>) -> VolumeError {
    VolumeError {
        volume: volume.into(),
        message: message.into(),
    }
}

pub(crate) fn volume_dir(agent: &Agent, pod: &Pod, plugin: &str, name: &str) -> PathBuf {
    agent
        .config
        .pod_dir(pod.metadata.uid.as_deref().unwrap_or(""))
        .join("volumes")
        .join(format!("kubernetes.io~{plugin}"))
        .join(name)
}

/// Files of a file-backed volume: relative path → (content, mode).
type Files = BTreeMap<String, (Vec<u8>, u32)>;

/// Writes `files` into `dir` atomically: a fresh `..<ts>` directory, then `..data` swapped
/// to it with a rename, then top-level symlinks `name → ..data/name`.
pub fn atomic_write(dir: &Path, files: &Files) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join("..data");
    if let Ok(target) = std::fs::read_link(&data_link) {
        let current = dir.join(&target);
        let same = files.iter().all(|(k, (v, _))| {
            std::fs::read(current.join(k))
                .map(|c| &c == v)
                .unwrap_or(false)
        }) && count_files(&current) == files.len();
        if same {
            return Ok(());
        }
    }
    let stamp = format!("..{}", chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S.%f"));
    let ts_dir = dir.join(&stamp);
    std::fs::create_dir_all(&ts_dir)?;
    for (rel, (content, mode)) in files {
        let p = ts_dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, content)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))?;
    }
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&stamp, &tmp_link)?;
    let old = std::fs::read_link(&data_link).ok();
    std::fs::rename(&tmp_link, &data_link)?;
    // Top-level entries point through ..data.
    let tops: std::collections::BTreeSet<String> = files
        .keys()
        .filter_map(|k| k.split('/').next().map(String::from))
        .collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{top}"), &link)?;
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with("..") && !tops.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if let Some(old) = old {
        if old != Path::new(&stamp) {
            let _ = std::fs::remove_dir_all(dir.join(old));
        }
    }
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn project(
    data: BTreeMap<String, Vec<u8>>,
    items: &Option<Vec<KeyToPath>>,
    mode: u32,
    volume: &str,
    what: &str,
) -> Result<Files, VolumeError> {
    let mut files = Files::new();
    match items {
        Some(items) if !items.is_empty() => {
            for it in items {
                let Some(v) = data.get(&it.key) else {
                    return Err(err(
                        volume,
                        format!("{what} references non-existent key {}", it.key),
                    ));
                };
                let m = it.mode.map(|m| m as u32).unwrap_or(mode);
                files.insert(it.path.clone(), (v.clone(), m));
            }
        }
        _ => {
            for (k, v) in data {
                files.insert(k, (v, mode));
            }
        }
    }
    Ok(files)
}

async fn config_map_files(
    lookup: &mut Lookup<'_>,
    volume: &str,
    name: &str,
    items: &Option<Vec<KeyToPath>>,
    mode: u32,
    optional: bool,
) -> Result<Files, VolumeError> {
    match lookup
        .config_map(name)
        .await
        .map_err(|e| err(volume, e.0))?
    {
        Some(cm) => {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                data.insert(k, v.0);
            }
            project(data, items, mode, volume, &format!("configmap {name}"))
        }
        None if optional => Ok(Files::new()),
        None => Err(err(volume, format!("configmap \"{name}\" not found"))),
    }
}

async fn secret_files(
    lookup: &mut Lookup<'_>,
    volume: &str,
    name: &str,
    items: &Option<Vec<KeyToPath>>,
    mode: u32,
    optional: bool,
) -> Result<Files, VolumeError> {
    match lookup.secret(name).await.map_err(|e| err(volume, e.0))? {
        Some(s) => {
            let data = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            project(data, items, mode, volume, &format!("secret {name}"))
        }
        None if optional => Ok(Files::new()),
        None => Err(err(volume, format!("secret \"{name}\" not found"))),
    }
}

fn downward_files(
    pod: &Pod,
    items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile],
    mode: u32,
    node_ip: &str,
) -> Files {
    let mut files = Files::new();
    for it in items {
        let value = if let Some(f) = &it.field_ref {
            field_ref(pod, &f.field_path, node_ip).unwrap_or_default()
        } else if let Some(r) = &it.resource_field_ref {
            let c = pod.spec.as_ref().and_then(|s| {
                s.containers
                    .iter()
                    .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
            });
            c.and_then(|c| {
                crate::spec::resource_field_ref(
                    c,
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1),
                    crate::node::capacity(Path::new("/")).memory_kib * 1024,
                )
            })
            .unwrap_or_default()
        } else {
            String::new()
        };
        let m = it.mode.map(|m| m as u32).unwrap_or(mode);
        files.insert(it.path.clone(), (value.into_bytes(), m));
    }
    files
}

/// Sets up one volume and returns its directory (or file, for hostPath files).
async fn setup(
    agent: &Agent,
    pod: &Pod,
    v: &Volume,
    lookup: &mut Lookup<'_>,
) -> Result<PathBuf, VolumeError> {
    let name = v.name.as_str();
    let node_ip = agent.config.node_ip.to_string();
    if let Some(hp) = &v.host_path {
        let p = PathBuf::from(&hp.path);
        let kind = hp.type_.clone().unwrap_or_default();
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(err(
                    name,
                    format!("hostPath type check failed: {} is not a {what}", hp.path),
                ))
            }
        };
        match kind.as_str() {
            "DirectoryOrCreate" => {
                std::fs::create_dir_all(&p).map_err(|e| err(name, e.to_string()))?;
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
            }
            "FileOrCreate" => {
                if let Some(parent) = p.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                if !p.exists() {
                    std::fs::write(&p, b"").map_err(|e| err(name, e.to_string()))?;
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
                }
            }
            "Directory" => check(p.is_dir(), "directory")?,
            "File" => check(p.is_file(), "file")?,
            "Socket" | "CharDevice" | "BlockDevice" => check(p.exists(), &kind.to_lowercase())?,
            _ => {}
        }
        return Ok(p);
    }
    if let Some(ed) = &v.empty_dir {
        let dir = volume_dir(agent, pod, "empty-dir", name);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| err(name, e.to_string()))?;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
            if ed.medium.as_deref() == Some("Memory") {
                let size = ed
                    .size_limit
                    .as_ref()
                    .and_then(|q| rkube_apimachinery::quantity::parse_value(&q.0));
                let opts = match size {
                    Some(s) => format!("mode=1777,size={s}"),
                    None => "mode=1777".to_string(),
                };
                mount_tmpfs(&dir, &opts).map_err(|e| err(name, e))?;
            }
        }
        return Ok(dir);
    }
    let (plugin, files) = if let Some(cm) = &v.config_map {
        let mode = cm.default_mode.unwrap_or(0o644) as u32;
        let files = config_map_files(
            lookup,
            name,
            &cm.name,
            &cm.items,
            mode,
            cm.optional == Some(true),
        )
        .await?;
        ("configmap", files)
    } else if let Some(s) = &v.secret {
        let mode = s.default_mode.unwrap_or(0o644) as u32;
        let sname = s.secret_name.clone().unwrap_or_default();
        let files = secret_files(
            lookup,
            name,
            &sname,
            &s.items,
            mode,
            s.optional == Some(true),
        )
        .await?;
        ("secret", files)
    } else if let Some(d) = &v.downward_api {
        let mode = d.default_mode.unwrap_or(0o644) as u32;
        (
            "downward-api",
            downward_files(pod, d.items.as_deref().unwrap_or(&[]), mode, &node_ip),
        )
    } else if let Some(p) = &v.projected {
        let mode = p.default_mode.unwrap_or(0o644) as u32;
        let mut files = Files::new();
        for src in p.sources.clone().unwrap_or_default() {
            if let Some(cm) = &src.config_map {
                files.extend(
                    config_map_files(
                        lookup,
                        name,
                        &cm.name,
                        &cm.items,
                        mode,
                        cm.optional == Some(true),
                    )
                    .await?,
                );
            }
            if let Some(s) = &src.secret {
                files.extend(
                    secret_files(
                        lookup,
                        name,
                        &s.name,
                        &s.items,
                        mode,
                        s.optional == Some(true),
                    )
                    .await?,
                );
            }
            if let Some(d) = &src.downward_api {
                files.extend(downward_files(
                    pod,
                    d.items.as_deref().unwrap_or(&[]),
                    mode,
                    &node_ip,
                ));
            }
            if let Some(t) = &src.service_account_token {
                let current = volume_dir(agent, pod, "projected", name).join(&t.path);
                let token = crate::token::for_pod(
                    &agent.client,
                    pod,
                    t.audience.as_deref(),
                    t.expiration_seconds.unwrap_or(3600),
                    std::fs::read(current).ok(),
                )
                .await
                .map_err(|e| err(name, e))?;
                files.insert(t.path.clone(), (token, mode));
            }
        }
        ("projected", files)
    } else {
        // Unsupported volume types get an empty directory so the pod can still start.
        let dir = volume_dir(agent, pod, "empty-dir", name);
        std::fs::create_dir_all(&dir).map_err(|e| err(name, e.to_string()))?;
        return Ok(dir);
    };
    let dir = volume_dir(agent, pod, plugin, name);
    atomic_write(&dir, &files).map_err(|e| err(name, e.to_string()))?;
    Ok(dir)
}

fn mount_tmpfs(dir: &Path, opts: &str) -> Result<(), String> {
    let c_dir =
        std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    let c_opts = std::ffi::CString::new(opts).map_err(|e| e.to_string())?;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c_opts.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(format!("mount tmpfs: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Unmounts every tmpfs below a pod directory (before it is removed).
pub fn unmount_all(pod_dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = pod_dir.to_string_lossy().to_string();
    for line in mounts.lines() {
        if let Some(mp) = line.split_whitespace().nth(4) {
            if mp.starts_with(&prefix) {
                if let Ok(c) = std::ffi::CString::new(mp) {
                    // SAFETY: valid C string; MNT_DETACH never blocks.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
    }
}

/// Sets up the volumes container `c` mounts and returns its mounts.
pub async fn mounts(
    agent: &Agent,
    pod: &Pod,
    c: &Container,
    lookup: &mut Lookup<'_>,
) -> Result<Vec<Mount>, VolumeError> {
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for vm in c.volume_mounts.clone().unwrap_or_default() {
        let Some(v) = volumes.iter().find(|v| v.name == vm.name) else {
            return Err(err(&vm.name, "volume not found in pod spec"));
        };
        let mut host = setup(agent, pod, v, lookup).await?;
        let sub = vm.sub_path.clone().unwrap_or_default();
        if !sub.is_empty() {
            if sub.split('/').any(|p| p == "..") || sub.starts_with('/') {
                return Err(err(&vm.name, format!("invalid subPath {sub:?}")));
            }
            host = host.join(&sub);
            if !host.exists() {
                std::fs::create_dir_all(&host).map_err(|e| err(&vm.name, e.to_string()))?;
            }
        }
        let file_backed = v.config_map.is_some()
            || v.secret.is_some()
            || v.downward_api.is_some()
            || v.projected.is_some();
        out.push(Mount {
            container_path: vm.mount_path.clone(),
            host_path: host,
            readonly: vm.read_only.unwrap_or(false) || file_backed,
        });
    }
    Ok(out)
}

/// Rewrites the file-backed volumes of a running pod, so ConfigMap and Secret updates reach
/// mounted files.
pub async fn refresh(agent: &Agent, pod: &Pod) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut lookup = Lookup::new(&agent.client, &ns);
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default()
    {
        if v.config_map.is_some()
            || v.secret.is_some()
            || v.projected.is_some()
            || v.downward_api.is_some()
        {
            if let Err(e) = setup(agent, pod, &v, &mut lookup).await {
                tracing::debug!(volume = %v.name, "refresh volume: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writer_swaps_data_and_removes_stale_keys() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("vol");
        let mut files = Files::new();
        files.insert("a".into(), (b"1".to_vec(), 0o644));
        files.insert("b".into(), (b"2".to_vec(), 0o600));
        atomic_write(&dir, &files).expect("write");
        assert_eq!(std::fs::read_to_string(dir.join("a")).expect("a"), "1");
        let first = std::fs::read_link(dir.join("..data")).expect("link");
        files.remove("b");
        files.insert("a".into(), (b"changed".to_vec(), 0o644));
        atomic_write(&dir, &files).expect("rewrite");
        assert_eq!(
            std::fs::read_to_string(dir.join("a")).expect("a"),
            "changed"
        );
        assert!(!dir.join("b").exists());
        assert!(!dir.join(first).exists());
        // Unchanged content keeps the same ..data.
        let now = std::fs::read_link(dir.join("..data")).expect("link");
        atomic_write(&dir, &files).expect("same");
        assert_eq!(std::fs::read_link(dir.join("..data")).expect("link"), now);
    }
}
