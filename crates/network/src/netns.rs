//! Running work inside another network namespace.
//!
//! Namespaces are per thread on Linux, so "do X in namespace N" means: a fresh thread that
//! `setns`'s into N, does X, and ends — the caller's own thread (and the tokio workers) never
//! change namespace. Sockets keep the namespace they were created in, which is what makes
//! this enough for netlink and for listening sockets in tests.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{anyhow, Context};

/// Moves the calling thread into the network namespace open at `ns`.
pub fn enter(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns only reads the fd; on failure nothing changed.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Opens a network namespace file (a bind-mounted `/proc/<pid>/ns/net`).
pub fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("opening network namespace {}", path.display()))
}

/// Runs `f` in the network namespace at `netns` (or right here when `None`), on a thread of
/// its own that ends afterwards.
pub fn run_in<T, F>(netns: Option<&Path>, f: F) -> anyhow::Result<T>
where
    T: Send,
    F: FnOnce() -> anyhow::Result<T> + Send,
{
    let Some(path) = netns else {
        return f();
    };
    let file = open(path)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            enter(&file).with_context(|| format!("setns into {}", path.display()))?;
            f()
        })
        .join()
        .map_err(|_| anyhow!("thread working in {} panicked", path.display()))?
    })
}
