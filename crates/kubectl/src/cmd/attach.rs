//! `kubectl attach`: connects to the stdio of a container's main process.

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::pods::{self, Rank};
use crate::remote::{self, Kind, Streams};
use crate::resource::Resolver;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// POD, TYPE/NAME or TYPE NAME.
    pub args: Vec<String>,
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
    if a.args.is_empty() {
        return Err(Error::client("at least 1 argument is required for attach"));
    }
    if a.args.len() > 2 {
        return Err(Error::client(format!(
            "expected POD, TYPE/NAME, or TYPE NAME, (at most 2 arguments) saw {}: [{}]",
            a.args.len(),
            a.args.join(" ")
        )));
    }
    let timeout = super::exec::pod_running_timeout(&a.pod_running_timeout, "attach")?;
    let arg = match a.args.as_slice() {
        [t, n] => format!("{t}/{n}"),
        [one, ..] => one.clone(),
        [] => String::new(),
    };
    let mut resolver = Resolver::new();
    let (pod, _) = pods::pick_pod(ctx, &mut resolver, &arg, timeout, Rank::Attachable).await?;
    let phase = pods::pod_phase(&pod);
    if phase == "Succeeded" || phase == "Failed" {
        return Err(Error::client(format!(
            "cannot attach a container in a completed pod; current phase is {phase}"
        )));
    }
    attach_to(ctx, &pod, a.container.as_deref(), a.stdin, a.tty, a.quiet).await
}

/// Attaches to `pod` (shared with `run -i`): picks the container, settles the TTY question
/// as kubectl does, and runs the session.
pub async fn attach_to(
    ctx: &Ctx,
    pod: &serde_json::Value,
    container: Option<&str>,
    stdin: bool,
    mut tty: bool,
    quiet: bool,
) -> Result<()> {
    let name = pods::default_container(pod, container, quiet).map_err(|e| {
        Error::client(format!(
            "cannot attach to the container: {}",
            strip_error(&e)
        ))
    })?;
    let spec = pod["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name.as_str()))
        .or_else(|| {
            pod["spec"]["initContainers"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == name.as_str()))
        });
    let container_tty = spec.is_some_and(|c| c["tty"] == true);
    if tty && !container_tty {
        tty = false;
        if !quiet {
            eprintln!("error: Unable to use a TTY - container {name} did not allocate one");
        }
    } else if !tty && container_tty {
        // A TTY container's stream has no stdout/stderr framing; kubectl forces a TTY.
        tty = true;
    }
    let tty = super::exec::tty_for(stdin, tty, quiet);
    if !quiet {
        eprintln!("If you don't see a command prompt, try pressing enter.");
    }
    remote::run(
        ctx,
        pods::namespace(pod),
        pods::name(pod),
        &name,
        Kind::Attach,
        Streams {
            stdin,
            tty,
            redraw: true,
        },
    )
    .await?;
    let restart = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    if !quiet && stdin && tty && restart == "Always" {
        println!(
            "Session ended, resume using 'kubectl attach {} -c {name} -i -t' command when the pod is running",
            pods::name(pod)
        );
    }
    Ok(())
}

fn strip_error(e: &Error) -> String {
    let s = e.to_string();
    s.strip_prefix("error: ").unwrap_or(&s).to_string()
}
