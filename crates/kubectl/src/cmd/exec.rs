//! `kubectl exec`: runs a command in a container over the remote-command WebSocket, with
//! the remote exit code as ours.

use std::time::Duration;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::pods::{self, Rank};
use crate::remote::{self, Kind, Streams};
use crate::resource::Resolver;
use crate::term;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// POD or TYPE/NAME.
    pub args: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Container name. If omitted, the annotated default or the first container is used.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long = "stdin", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub stdin: bool,
    /// Stdin is a TTY.
    #[arg(short = 't', long = "tty", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub tty: bool,
    /// Only print output from the remote session.
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub quiet: bool,
    /// The length of time to wait until at least one pod is running.
    #[arg(long, default_value = "1m0s")]
    pub pod_running_timeout: String,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let (resource, command): (Option<&String>, Vec<String>) = if !a.command.is_empty() {
        (a.args.first(), a.command.clone())
    } else if a.args.len() > 1 {
        return Err(Error::usage(
            "exec",
            "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead",
        ));
    } else {
        (a.args.first(), Vec::new())
    };
    let Some(resource) = resource else {
        return Err(Error::client(
            "pod, type/name or --filename must be specified",
        ));
    };
    if command.is_empty() {
        return Err(Error::client(
            "you must specify at least one command for the container",
        ));
    }
    let timeout = pod_running_timeout(&a.pod_running_timeout, "exec")?;
    let mut resolver = Resolver::new();
    let (pod, _) = pods::pick_pod(ctx, &mut resolver, resource, timeout, Rank::Attachable).await?;
    let phase = pods::pod_phase(&pod);
    if phase == "Succeeded" || phase == "Failed" {
        return Err(Error::client(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let container = match a.container.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => pods::default_container(&pod, None, a.quiet)?,
    };
    let tty = tty_for(a.stdin, a.tty, a.quiet);
    remote::run(
        ctx,
        pods::namespace(&pod),
        pods::name(&pod),
        &container,
        Kind::Exec(&command),
        Streams {
            stdin: a.stdin,
            tty,
            redraw: false,
        },
    )
    .await
}

/// kubectl's `SetupTTY`: a TTY only with stdin, and only when stdin is a terminal (else a
/// note on stderr and no TTY).
pub fn tty_for(stdin: bool, tty: bool, quiet: bool) -> bool {
    if !stdin || !tty {
        return false;
    }
    if !term::stdin_is_terminal() {
        if !quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        return false;
    }
    true
}

/// Parses `--pod-running-timeout` as kubectl does (a Go duration above zero).
pub fn pod_running_timeout(value: &str, command: &str) -> Result<Duration> {
    match crate::duration::parse_signed(value) {
        Ok((false, d)) if !d.is_zero() => Ok(d),
        Ok(_) => Err(Error::client(
            "--pod-running-timeout must be higher than zero",
        )),
        Err(e) => Err(crate::duration::flag_error(
            command,
            "pod-running-timeout",
            value,
            &e,
        )),
    }
}
