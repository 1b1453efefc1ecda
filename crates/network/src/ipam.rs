//! Host-local IPAM, with the CNI `host-local` plugin's on-disk semantics.
//!
//! The state is a directory (`<data-dir>/agent/ipam/`): one file per allocated address,
//! named after the address and holding the pod uid, plus `last_reserved_ip.0` so that
//! allocation goes round-robin and a just-released address is not handed out again at once
//! (a late packet for the old pod would reach the new one). Because the files are the state,
//! allocations survive agent restarts, and because a file is published with `link(2)` (which
//! fails if the name exists) two allocators can never hand out one address twice — across
//! threads or processes. A `flock` on `lock` serialises whole allocations so that the
//! "is this uid already allocated?" scan and the reservation are one step.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use ipnet::Ipv4Net;

use crate::cidr;

const LAST_RESERVED: &str = "last_reserved_ip.0";
const LOCK: &str = "lock";

/// Address allocation out of one subnet, persisted in a directory.
#[derive(Debug, Clone)]
pub struct HostLocalIpam {
    dir: PathBuf,
    subnet: Ipv4Net,
}

/// Holds the directory's `flock` until dropped.
struct DirLock(File);

impl Drop for DirLock {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and open; unlocking cannot violate memory safety.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl HostLocalIpam {
    /// Opens (creating if needed) the state directory for `subnet`. The subnet's network
    /// address, gateway (first address) and broadcast address are never handed out.
    pub fn new(dir: impl Into<PathBuf>, subnet: Ipv4Net) -> anyhow::Result<Self> {
        let dir = dir.into();
        if subnet.prefix_len() > 30 {
            bail!("pod CIDR {subnet} is too small for a gateway and pods");
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(HostLocalIpam {
            dir,
            subnet: subnet.trunc(),
        })
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> anyhow::Result<DirLock> {
        let path = self.dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: plain syscall on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
        Ok(DirLock(file))
    }

    /// Every allocation on disk: address and owning pod uid.
    pub fn allocations(&self) -> anyhow::Result<Vec<(Ipv4Addr, String)>> {
        let mut out = Vec::new();
        for entry in
            fs::read_dir(&self.dir).with_context(|| format!("reading {}", self.dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let owner = match fs::read_to_string(entry.path()) {
                Ok(s) => s.lines().next().unwrap_or_default().trim().to_string(),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", entry.path().display()))
                }
            };
            out.push((ip, owner));
        }
        out.sort();
        Ok(out)
    }

    fn find(&self, uid: &str) -> anyhow::Result<Option<Ipv4Addr>> {
        Ok(self
            .allocations()?
            .into_iter()
            .find(|(ip, owner)| owner == uid && self.subnet.contains(ip))
            .map(|(ip, _)| ip))
    }

    /// The address of pod `uid`, allocating one if it has none (idempotent).
    pub fn allocate(&self, uid: &str) -> anyhow::Result<Ipv4Addr> {
        if uid.is_empty() || uid.contains(['\n', '/']) {
            bail!("invalid pod uid {uid:?}");
        }
        let _lock = self.lock()?;
        if let Some(ip) = self.find(uid)? {
            return Ok(ip);
        }
        let size = cidr::size(self.subnet);
        // Usable range: from the address after the gateway up to the one before broadcast.
        let (first, last) = (2u64, size - 2);
        let count = last - first + 1;
        let start = self
            .last_reserved()
            .and_then(|ip| cidr::offset(self.subnet, ip))
            .map(|o| u64::from(o) + 1)
            .filter(|o| (first..=last).contains(o))
            .unwrap_or(first);
        let tmp = self.dir.join(format!(".tmp-{uid}-{}", std::process::id()));
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            // No fsync, as upstream's host-local plugin: the reservation must outlive the
            // agent, not the machine (after a reboot every sandbox is new anyway).
            writeln!(f, "{uid}\neth0")?;
        }
        let result = (|| {
            for i in 0..count {
                let off = first + (start - first + i) % count;
                let Some(ip) = u32::try_from(off)
                    .ok()
                    .and_then(|o| cidr::nth(self.subnet, o))
                else {
                    continue;
                };
                let path = self.dir.join(ip.to_string());
                match fs::hard_link(&tmp, &path) {
                    Ok(()) => {
                        self.write_last_reserved(ip)?;
                        tracing::debug!(%ip, uid, "allocated pod address");
                        return Ok(ip);
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        return Err(anyhow!(e).context(format!("reserving {}", path.display())))
                    }
                }
            }
            bail!("no free address left in {}", self.subnet)
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    /// Releases the address of pod `uid`; returns it, or `None` when it had none.
    pub fn release(&self, uid: &str) -> anyhow::Result<Option<Ipv4Addr>> {
        let _lock = self.lock()?;
        let mut released = None;
        for (ip, owner) in self.allocations()? {
            if owner == uid {
                let path = self.dir.join(ip.to_string());
                match fs::remove_file(&path) {
                    Ok(()) => released = Some(ip),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", path.display()))
                    }
                }
            }
        }
        if let Some(ip) = released {
            tracing::debug!(%ip, uid, "released pod address");
        }
        Ok(released)
    }

    fn last_reserved(&self) -> Option<Ipv4Addr> {
        fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn write_last_reserved(&self, ip: Ipv4Addr) -> anyhow::Result<()> {
        let path = self.dir.join(LAST_RESERVED);
        let tmp = self.dir.join(format!(".{LAST_RESERVED}.tmp"));
        fs::write(&tmp, ip.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;

    fn ipam(dir: &Path, cidr: &str) -> HostLocalIpam {
        HostLocalIpam::new(dir.join("agent/ipam"), cidr.parse().unwrap()).unwrap()
    }

    #[test]
    fn allocates_round_robin_and_idempotently() {
        let tmp = tempfile::tempdir().unwrap();
        let ipam = ipam(tmp.path(), "10.42.0.0/24");
        let a = ipam.allocate("pod-a").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(ipam.allocate("pod-a").unwrap(), a, "same uid, same address");
        let b = ipam.allocate("pod-b").unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 42, 0, 3));
        assert_eq!(ipam.release("pod-a").unwrap(), Some(a));
        assert_eq!(ipam.release("pod-a").unwrap(), None);
        // Round robin: a freed address is not reused at once.
        assert_eq!(ipam.allocate("pod-c").unwrap(), Ipv4Addr::new(10, 42, 0, 4));
        let owners: Vec<_> = ipam.allocations().unwrap();
        assert_eq!(
            owners,
            vec![
                (b, "pod-b".to_string()),
                (Ipv4Addr::new(10, 42, 0, 4), "pod-c".to_string())
            ]
        );
    }

    #[test]
    fn exhausts_then_wraps() {
        let tmp = tempfile::tempdir().unwrap();
        let ipam = ipam(tmp.path(), "10.9.0.0/29"); // .2 ..= .6 usable
        let got: Vec<_> = (0..5)
            .map(|i| ipam.allocate(&format!("p{i}")).unwrap())
            .collect();
        assert_eq!(got.first(), Some(&Ipv4Addr::new(10, 9, 0, 2)));
        assert_eq!(got.last(), Some(&Ipv4Addr::new(10, 9, 0, 6)));
        assert!(ipam.allocate("p5").is_err(), "subnet is full");
        ipam.release("p1").unwrap();
        assert_eq!(ipam.allocate("p5").unwrap(), Ipv4Addr::new(10, 9, 0, 3));
        assert!(HostLocalIpam::new(tmp.path().join("x"), "10.0.0.0/31".parse().unwrap()).is_err());
        assert!(ipam.allocate("bad/uid").is_err());
    }

    #[test]
    fn survives_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let first = ipam(tmp.path(), "10.42.1.0/24");
        let a = first.allocate("pod-a").unwrap();
        let b = first.allocate("pod-b").unwrap();
        drop(first);
        let second = ipam(tmp.path(), "10.42.1.0/24");
        assert_eq!(second.allocate("pod-a").unwrap(), a);
        assert_eq!(second.allocate("pod-b").unwrap(), b);
        let c = second.allocate("pod-c").unwrap();
        assert!(c != a && c != b);
        assert_eq!(
            u32::from(c),
            u32::from(b) + 1,
            "continues after the last reserved"
        );
    }

    #[test]
    fn no_duplicates_under_concurrency() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        // Separate instances per thread, as separate processes would have.
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let dir = dir.clone();
                let results = results.clone();
                std::thread::spawn(move || {
                    let ipam = ipam(&dir, "10.42.2.0/24");
                    for i in 0..25 {
                        let uid = format!("t{t}-p{i}");
                        let ip = ipam.allocate(&uid).unwrap();
                        // Allocating again from a racing instance returns the same address.
                        assert_eq!(ipam.allocate(&uid).unwrap(), ip);
                        results.lock().unwrap().push(ip);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all = results.lock().unwrap().clone();
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 200);
        assert_eq!(unique.len(), 200, "an address was handed out twice");
        assert_eq!(ipam(&dir, "10.42.2.0/24").allocations().unwrap().len(), 200);
    }
}
