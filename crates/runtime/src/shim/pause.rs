//! `rkube shim pause <sandbox-dir>`: PID 1 of a pod's shared PID namespace
//! (shareProcessNamespace), in place of Kubernetes' pause container.
//!
//! Sandboxes pin their other namespaces without a process, but a PID namespace dies with its
//! first process, so pods that share one get this minimal init: it forks into the
//! background, unshares a new PID namespace, and its child becomes that namespace's PID 1,
//! reaps the orphans the containers leave it, and exits on SIGTERM or SIGINT (the kernel
//! then kills everything left in the namespace). The host pid goes back to the agent on
//! fd 3 (`OK <pid>`), which records it with the namespace's identity in `pause.json`.

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

pub(super) fn pause(dir: &Path) -> i32 {
    // SAFETY: fd 3 is the sync pipe the agent passes; nothing else in this process owns it.
    let mut sync = unsafe { File::from_raw_fd(3) };
    // SAFETY: the shim is single-threaded here; the child only continues this function.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            let _ = writeln!(sync, "ERR fork: {e}");
            return 1;
        }
    }
    let _ = nix::unistd::setsid();
    super::redirect_stderr(&dir.join("pause.log"));
    // Blocked before the fork, so the init inherits the mask and no early SIGTERM is lost:
    // a namespace's init only receives (from outside) the signals it handles or blocks.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        let _ = writeln!(sync, "ERR block signals: {e}");
        return 1;
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID) {
        let _ = writeln!(sync, "ERR new pid namespace: {e}");
        return 1;
    }
    // SAFETY: still single-threaded; the child runs `init` and never returns here.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            let _ = writeln!(sync, "OK {child}");
            0
        }
        Ok(ForkResult::Child) => {
            drop(sync);
            init(&signals)
        }
        Err(e) => {
            let _ = writeln!(sync, "ERR fork init: {e}");
            1
        }
    }
}

/// The namespace's PID 1: reap children, leave on SIGTERM/SIGINT.
fn init(signals: &SigSet) -> i32 {
    let _ = std::env::set_current_dir("/");
    // Shows as `pause` in the containers' `ps`, as upstream's pause does.
    let _ = nix::sys::prctl::set_name(c"pause");
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            },
            Ok(_) => return 0,
            Err(e) => {
                tracing::warn!("wait for signals: {e}");
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    }
}
