//! The kubectl-compatible command-line client behind `rkube kubectl` (and the binary run
//! through a symlink named `kubectl`).
//!
//! It speaks to any Kubernetes API server, not only rkube's: kubeconfig handling, output
//! and errors follow kubectl so scripts written for kubectl keep working. Built-in resource
//! types resolve without discovery requests and the runtime is single-threaded, which keeps
//! a command's wall time close to its requests' round trips.

pub mod cli;
pub mod cmd;
pub mod ctx;
pub mod error;
pub mod printer;
pub mod resource;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use ctx::Ctx;
use error::Error;

/// Runs kubectl with `args` (`args[0]` is the program name) and returns its exit code.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            if !text.is_empty() {
                eprintln!("{text}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// clap's own messages for help and version go to stdout with exit 0; mistakes print as
/// kubectl prints them and exit 1.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::UnknownArgument => {
            let arg = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let flag = arg.split('=').next().unwrap_or_default();
            let what = if flag.starts_with("--") {
                format!("unknown flag: {flag}")
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {arg}",
                    flag.trim_start_matches('-').chars().next().unwrap_or('?')
                )
            };
            eprintln!("error: {what}\nSee 'kubectl --help' for usage.");
            ExitCode::FAILURE
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first}\nSee 'kubectl --help' for usage.");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Get(a) => cmd::get::run(&Ctx::connect(&cli.global).await?, a).await,
    }
}
