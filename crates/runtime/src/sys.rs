//! Thin wrappers over the Linux calls the sandbox and container code needs: namespace
//! pinning, overlay mounts, atomic files.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{Result, RuntimeError};

/// Writes `data` to `path` through a temporary file and a rename, so readers never see half.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| RuntimeError::io(format!("write {}", path.display()), e))
}

/// Writes a record as pretty JSON, atomically.
pub fn save_json<T: serde::Serialize>(path: &Path, value: &T, what: &str) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| RuntimeError::Internal(format!("encode {what}: {e}")))?;
    write_atomic(path, &data)
}

/// Reads a JSON record; a missing file is `NotFound(what)`.
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let data = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RuntimeError::NotFound(what.to_string()),
        _ => RuntimeError::io(format!("read {}", path.display()), e),
    })?;
    serde_json::from_slice(&data)
        .map_err(|e| RuntimeError::Internal(format!("decode {}: {e}", path.display())))
}

/// Names of the directories under `root` that hold `file` (the records of one kind).
pub fn dirs_with(root: &Path, file: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.path().join(file).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

fn clone_flag(kind: &str) -> Result<CloneFlags> {
    Ok(match kind {
        "net" => CloneFlags::CLONE_NEWNET,
        "ipc" => CloneFlags::CLONE_NEWIPC,
        "uts" => CloneFlags::CLONE_NEWUTS,
        other => {
            return Err(RuntimeError::Internal(format!(
                "cannot pin {other} namespace"
            )))
        }
    })
}

/// Creates new namespaces of `kinds` and bind-mounts each onto `dir/<kind>`.
///
/// The work happens on a throw-away thread: unsharing net/ipc/uts affects only the calling
/// thread, so the agent's own threads stay where they are.
pub fn pin_namespaces(dir: &Path, kinds: &[&str], hostname: &str) -> Result<()> {
    let mut flags = CloneFlags::empty();
    for k in kinds {
        flags |= clone_flag(k)?;
    }
    let dir = dir.to_path_buf();
    let kinds: Vec<String> = kinds.iter().map(|s| s.to_string()).collect();
    let hostname = hostname.to_string();
    std::thread::spawn(move || -> Result<()> {
        nix::sched::unshare(flags).map_err(|e| RuntimeError::sys("unshare namespaces", e))?;
        if kinds.iter().any(|k| k == "uts") {
            nix::unistd::sethostname(&hostname)
                .map_err(|e| RuntimeError::sys(format!("set hostname {hostname:?}"), e))?;
        }
        if kinds.iter().any(|k| k == "net") {
            loopback_up()?;
        }
        for k in &kinds {
            let target = dir.join(k);
            std::fs::File::create(&target)
                .map_err(|e| RuntimeError::io(format!("create {}", target.display()), e))?;
            let source = PathBuf::from(format!("/proc/thread-self/ns/{k}"));
            mount(
                Some(&source),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| RuntimeError::sys(format!("pin {k} namespace"), e))?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| RuntimeError::Internal("namespace thread panicked".into()))?
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| RuntimeError::sys("socket for lo", e))?;
    // struct ifreq: 16 bytes of name, then a union whose first member is the flags short.
    let mut req = [0u8; 40];
    req[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a properly sized ifreq buffer that lives across both calls.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, req.as_mut_ptr()) };
    if r < 0 {
        return Err(RuntimeError::io(
            "read lo flags",
            std::io::Error::last_os_error(),
        ));
    }
    let flags = i16::from_ne_bytes([req[16], req[17]]) | libc::IFF_UP as i16;
    req[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: as above.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, req.as_mut_ptr()) };
    if r < 0 {
        return Err(RuntimeError::io(
            "bring lo up",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Unmounts a pinned namespace and removes its file; missing ones are fine.
pub fn unmount_pin(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// Mounts an overlay of `lowerdirs` (topmost first) with `upper`/`work` at `target`.
/// The options must fit in the one page the kernel accepts; an image with so many layers
/// that they do not is refused with a clear error.
pub fn mount_overlay(
    lowerdirs: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<()> {
    let lower = lowerdirs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        return Err(RuntimeError::Internal(format!(
            "overlay options too long ({} bytes for {} layers)",
            data.len(),
            lowerdirs.len()
        )));
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| RuntimeError::sys(format!("mount overlay at {}", target.display()), e))
}

/// Mounts a pod's `/dev/shm`: a tmpfs of containerd's size and flags at `target`.
pub fn mount_shm(target: &Path) -> Result<()> {
    std::fs::create_dir_all(target)
        .map_err(|e| RuntimeError::io(format!("create {}", target.display()), e))?;
    mount(
        Some("shm"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(|e| RuntimeError::sys(format!("mount shm at {}", target.display()), e))
}

/// Lazily unmounts `path` if something is mounted there.
pub fn unmount(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
}

/// Whether `pid` names a live process (zombies count as gone).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A random hex id of `bytes` bytes.
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    hex::encode(buf)
}
