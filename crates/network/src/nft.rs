//! Feeding scripts to the `nft` CLI.
//!
//! One `nft -f -` invocation is one netlink batch, which the kernel applies atomically: a
//! whole sync either lands or leaves the previous ruleset in place, and the packet path
//! never sees a half-written table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// Runs `nft` in a given network namespace (the caller's when `None`).
#[derive(Debug, Clone, Default)]
pub struct Nft {
    netns: Option<PathBuf>,
}

impl Nft {
    pub fn new(netns: Option<PathBuf>) -> Self {
        Nft { netns }
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
        let out = self.spawn_in(|| {
            let mut child = Command::new("nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("running nft (is the nftables package installed?)")?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(script.as_bytes())
                    .context("writing to nft")?;
            }
            child.wait_with_output().context("waiting for nft")
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!("nft -f - failed ({}): {}", out.status, stderr.trim());
        }
        Ok(())
    }

    /// Runs `nft <args>` and returns its standard output.
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
