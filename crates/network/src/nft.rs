//! Feeding scripts to the `nft` CLI.
//!
//! One `nft -f -` invocation is one netlink batch, which the kernel applies atomically: a
//! whole sync either lands or leaves the previous ruleset in place, and the packet path
//! never sees a half-written table.

use std::io::Write;
use std::os::unix::process::CommandExt;
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

    fn command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let mut cmd = Command::new("nft");
        cmd.args(args);
        if let Some(path) = &self.netns {
            let file = crate::netns::open(path)?;
            // SAFETY: between fork and exec only async-signal-safe work happens: one setns
            // syscall on an fd opened before the fork (moved into the closure, so it lives
            // as long as the Command).
            unsafe {
                cmd.pre_exec(move || crate::netns::enter(&file));
            }
        }
        Ok(cmd)
    }

    /// Applies `script` as one transaction.
    pub fn apply(&self, script: &str) -> anyhow::Result<()> {
        let mut child = self
            .command(&["-f", "-"])?
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
        let out = child.wait_with_output().context("waiting for nft")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!("nft -f - failed ({}): {}", out.status, stderr.trim());
        }
        Ok(())
    }

    /// Runs `nft <args>` and returns its standard output.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command(args)?
            .stdin(Stdio::null())
            .output()
            .context("running nft")?;
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
