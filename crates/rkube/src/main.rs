//! `rkube`: Kubernetes in one binary. This file only parses arguments and hands each
//! subcommand to the role that implements it.

mod agent;
mod bootstrap;
mod cleanup;
mod cluster;
mod components;
mod image;
mod join;
mod lb;
mod server;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc returns freed memory to the OS promptly and fragments less than glibc's arenas
/// under the API server's many short-lived JSON allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rkube",
    version,
    about = "Kubernetes in one binary",
    long_about = "rkube runs a Kubernetes cluster from one binary: `rkube server` starts the \
                  control plane (and a node agent), `rkube agent` joins more machines."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server, store, scheduler, controllers) and, unless
    /// --disable-agent, a node agent for this machine.
    Server(server::ServerArgs),
    /// Run a node agent that joins an existing cluster (kubelet, container runtime, pod
    /// network, service proxy, cluster DNS, ingress).
    Agent(agent::AgentArgs),
    /// Local multi-node clusters of network-namespace nodes (like kind).
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Manage join tokens for agents.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// A kubectl-compatible client (also used when rkube is invoked as `kubectl`).
    #[command(disable_help_flag = true)]
    Kubectl {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The per-container shim (started by the agent; not for people).
    #[command(hide = true, disable_help_flag = true)]
    Shim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the scheduler alone, against a server started with --disable-scheduler.
    Scheduler(components::SchedulerArgs),
    /// Run the controllers alone, against a server started with
    /// --disable-controller-manager.
    ControllerManager(components::ControllerManagerArgs),
    /// Manage the node's image store (import OCI or docker archives, list, remove).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Import OCI archives or docker-archive tarballs into the image store.
    Import {
        #[arg(long, default_value = "/var/lib/rkube")]
        data_dir: PathBuf,
        files: Vec<PathBuf>,
    },
    /// List images in the store.
    Ls {
        #[arg(long, default_value = "/var/lib/rkube")]
        data_dir: PathBuf,
    },
    /// Remove images from the store.
    Rm {
        #[arg(long, default_value = "/var/lib/rkube")]
        data_dir: PathBuf,
        images: Vec<String>,
    },
    /// Pull an image from its registry (progress is shown when stderr is a terminal).
    Pull {
        #[arg(long, default_value = "/var/lib/rkube")]
        data_dir: PathBuf,
        /// Registry credentials, USER:PASSWORD.
        #[arg(long)]
        creds: Option<String>,
        image: String,
    },
}

fn main() -> std::process::ExitCode {
    // Invoked through a symlink named `kubectl`: behave as `rkube kubectl`.
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    if argv0
        .as_deref()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "kubectl")
    {
        return rkube_kubectl::main(std::env::args_os());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => match server::run(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rkube server: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Agent(args) => match agent::run(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rkube agent: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Scheduler(args) => match components::run_scheduler(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rkube scheduler: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::ControllerManager(args) => match components::run_controller_manager(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rkube controller-manager: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Token { command } => token::run(command),
        Command::Cluster { command } => cluster::run(command),
        Command::Kubectl { args } => {
            rkube_kubectl::main(std::iter::once("kubectl".to_string()).chain(args))
        }
        Command::Image { command } => image::run(command),
        Command::Shim { args } => {
            std::process::ExitCode::from(rkube_runtime::shim::main(&args).clamp(0, 255) as u8)
        }
    }
}
