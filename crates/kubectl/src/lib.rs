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
pub mod duration;
pub mod error;
pub mod manifest;
pub mod patchgen;
pub mod pods;
pub mod printer;
pub mod remote;
pub mod resource;
pub mod targets;
pub mod term;
pub mod write;

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
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let last = args.last().and_then(|a| a.to_str()).unwrap_or_default();
            return usage_error(e, &command_path(&args), last);
        }
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
/// The subcommand path the arguments name (`rollout status`), for usage hints.
fn command_path(args: &[std::ffi::OsString]) -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut path = Vec::new();
    for a in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if a.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd.find_subcommand(a).cloned() else {
            if path.is_empty() {
                continue;
            }
            break;
        };
        path.push(a.to_string());
        cmd = sub;
    }
    path.join(" ")
}

fn usage_error(e: clap::Error, path: &str, last_arg: &str) -> ExitCode {
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
            eprintln!("error: {what}\nSee '{}' for usage.", help_for(path));
            ExitCode::FAILURE
        }
        ErrorKind::InvalidValue
            if last_arg.starts_with('-') && e.to_string().contains("a value is required") =>
        {
            let what = match last_arg.strip_prefix("--") {
                Some(_) => last_arg.to_string(),
                None => format!("'{}' in {last_arg}", last_arg.trim_start_matches('-')),
            };
            eprintln!(
                "error: flag needs an argument: {what}\nSee '{}' for usage.",
                help_for(path)
            );
            ExitCode::FAILURE
        }
        ErrorKind::InvalidSubcommand if path.is_empty() => {
            let arg = e
                .get(clap::error::ContextKind::InvalidSubcommand)
                .map(|a| a.to_string())
                .unwrap_or_default();
            eprintln!("error: unknown command \"{arg}\" for \"kubectl\"");
            ExitCode::FAILURE
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first}\nSee '{}' for usage.", help_for(path));
            ExitCode::FAILURE
        }
    }
}

fn help_for(path: &str) -> String {
    if path.is_empty() {
        "kubectl --help".into()
    } else {
        format!("kubectl {path} --help")
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Get(a) => cmd::get::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Describe(a) => cmd::describe::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Apply(a) => cmd::apply::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Create(a) => cmd::create::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Delete(a) => cmd::delete::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Replace(a) => cmd::replace::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Patch(a) => cmd::patch::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Edit(a) => cmd::edit::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Logs(a) => cmd::logs::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Exec(a) => cmd::exec::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Attach(a) => cmd::attach::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::PortForward(a) => {
            cmd::port_forward::run(&Ctx::connect(&cli.global).await?, a).await
        }
        Command::Run(a) => cmd::run::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Top(a) => cmd::top::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Scale(a) => cmd::scale::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Set(a) => cmd::set::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Rollout(a) => cmd::rollout::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Expose(a) => cmd::expose::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Label(a) => cmd::label::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Annotate(a) => cmd::annotate::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Wait(a) => cmd::wait::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::ClusterInfo(a) => {
            cmd::cluster_info::run(&Ctx::connect(&cli.global).await?, a).await
        }
        Command::Version(a) => cmd::version::run(&cli.global, a).await,
        Command::ApiResources(a) => {
            cmd::api_resources::run(&Ctx::connect(&cli.global).await?, a).await
        }
        Command::Explain(a) => cmd::explain::run(&Ctx::connect(&cli.global).await?, a).await,
        Command::Config(a) => cmd::config::run(&cli.global, a).await,
    }
}
