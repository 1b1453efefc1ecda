//! Feeding nftables scripts to the kernel: through libnftables in-process (see
//! `libnft`), or the `nft` CLI when the library cannot be used.
//!
//! One script is one netlink batch, which the kernel applies atomically: a whole sync
//! either lands or leaves the previous ruleset in place, and the packet path never sees a
//! half-written table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{anyhow, bail, Context};

use crate::libnft::{self, Session, Unsent};

/// Runs nftables scripts in a given network namespace (the caller's when `None`: for
/// [`Nft::apply`], the namespace of the thread that calls it first). Clones share one
/// libnftables session, started on the first [`Nft::apply`] and ended with the last clone.
#[derive(Debug, Clone, Default)]
pub struct Nft {
    netns: Option<PathBuf>,
    session: Arc<Mutex<SessionState>>,
}

#[derive(Debug, Default)]
enum SessionState {
    #[default]
    NotStarted,
    Running(Session),
    /// No library (or [`Nft::cli_only`]): the CLI it is.
    Unavailable,
}

impl Nft {
    pub fn new(netns: Option<PathBuf>) -> Self {
        Nft {
            netns,
            session: Arc::default(),
        }
    }

    /// Always uses the `nft` command for [`Nft::apply`] (tests compare the two ways).
    pub fn cli_only(netns: Option<PathBuf>) -> Self {
        Nft {
            netns,
            session: Arc::new(Mutex::new(SessionState::Unavailable)),
        }
    }

    /// Whether [`Nft::apply`] has been running scripts through libnftables.
    pub fn in_process(&self) -> bool {
        let state = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        matches!(*state, SessionState::Running(_))
    }

    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// Runs `f` on a thread inside our namespace, where `nft` is spawned: the child inherits
    /// the thread's namespace, so no `pre_exec` hook is needed and the standard library can
    /// use `posix_spawn` — a fork would copy the page tables of the whole (large) agent
    /// process, which at 10,000 Services costs more than the transaction itself.
    fn spawn_in<T: Send>(&self, f: impl FnOnce() -> anyhow::Result<T> + Send) -> anyhow::Result<T> {
        crate::netns::run_in(self.netns.as_deref(), f)
    }

    /// Applies `script` as one transaction.
    pub fn apply(&self, script: &str) -> anyhow::Result<()> {
        // Held across the transaction: a session runs one script at a time anyway.
        let mut state = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        if let SessionState::NotStarted = *state {
            if !libnft::available() {
                *state = SessionState::Unavailable;
            } else {
                // A failure here may pass (a namespace not mounted yet): try again next time.
                match Session::start(self.netns.as_deref()) {
                    Ok(s) => *state = SessionState::Running(s),
                    Err(e) => tracing::warn!("running the nft command this time: {e:#}"),
                }
            }
        }
        if let SessionState::Running(session) = &*state {
            match session.run(script) {
                Ok(result) => return result,
                Err(Unsent::Gone) => {
                    tracing::warn!("the nftables thread is gone; restarting it next time");
                    *state = SessionState::NotStarted;
                }
                Err(Unsent::Lost) => {
                    *state = SessionState::NotStarted;
                    return Err(anyhow!("the nftables thread died during a transaction"));
                }
            }
        }
        drop(state);
        self.apply_cli(script.as_bytes())
    }

    /// [`Nft::apply`] through `nft -f -`.
    fn apply_cli(&self, script: &[u8]) -> anyhow::Result<()> {
        let out = self.spawn_in(|| {
            let mut child = Command::new("nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("running nft (is the nftables package installed?)")?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(script).context("writing to nft")?;
            }
            child.wait_with_output().context("waiting for nft")
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!("nft -f - failed ({}): {}", out.status, stderr.trim());
        }
        Ok(())
    }

    /// Runs the `nft` command with `args` and returns its standard output.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.spawn_in(|| {
            Command::new("nft")
                .args(args)
                .stdin(Stdio::null())
                .output()
                .context("running nft")
        })?;
        if !out.status.success() {
            bail!(
                "nft {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
