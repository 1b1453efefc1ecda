//! Command-line shape: kubectl's global flags (accepted before or after the command) and
//! one subcommand per kubectl command, each with its flags in its own module.

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl",
    about = "kubectl controls the Kubernetes cluster manager.",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every kubectl command accepts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalFlags {
    /// Path to the kubeconfig file to use for CLI requests.
    #[arg(long, global = true)]
    pub kubeconfig: Option<String>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The name of the kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(short = 's', long, global = true)]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// If true, the server's certificate will not be checked for validity.
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// The length of time to wait before giving up on a single server request ("0" = none).
    #[arg(long, global = true)]
    pub request_timeout: Option<String>,
    /// Default cache directory (accepted for compatibility; rkube keeps no discovery cache).
    #[arg(long, global = true)]
    pub cache_dir: Option<String>,
    /// Log level verbosity (accepted for compatibility; logs go through RUST_LOG).
    #[arg(short = 'v', long = "v", global = true)]
    pub verbosity: Option<u8>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Display one or many resources.
    Get(cmd::get::Args),
}
