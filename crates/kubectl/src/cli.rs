//! Command-line shape: kubectl's global flags (accepted before or after the command) and
//! one subcommand per kubectl command, each with its flags in its own module.

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl",
    about = "kubectl controls the Kubernetes cluster manager.",
    disable_version_flag = true,
    args_override_self = true
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
    /// Show details of a specific resource or group of resources.
    Describe(cmd::describe::Args),
    /// Apply a configuration to a resource by file name or stdin.
    Apply(cmd::apply::Args),
    /// Create a resource from a file or from stdin.
    Create(cmd::create::Args),
    /// Delete resources by file names, stdin, resources and names, or by resources and label selector.
    Delete(cmd::delete::Args),
    /// Replace a resource by file name or stdin.
    Replace(cmd::replace::Args),
    /// Update fields of a resource.
    Patch(cmd::patch::Args),
    /// Edit a resource on the server.
    Edit(cmd::edit::Args),
    /// Print the logs for a container in a pod.
    Logs(cmd::logs::Args),
    /// Execute a command in a container.
    Exec(cmd::exec::Args),
    /// Attach to a running container.
    Attach(cmd::attach::Args),
    /// Forward one or more local ports to a pod.
    PortForward(cmd::port_forward::Args),
    /// Run a particular image on the cluster.
    Run(cmd::run::Args),
    /// Display resource (CPU/memory) usage.
    Top(cmd::top::Args),
    /// Set a new size for a deployment, replica set, or replication controller.
    Scale(cmd::scale::Args),
    /// Set specific features on objects.
    Set(cmd::set::Args),
    /// Manage the rollout of a resource.
    Rollout(cmd::rollout::Args),
    /// Take a replication controller, service, deployment or pod and expose it as a new Kubernetes service.
    Expose(cmd::expose::Args),
    /// Update the labels on a resource.
    Label(cmd::label::Args),
    /// Update the annotations on a resource.
    Annotate(cmd::annotate::Args),
    /// Experimental: Wait for a specific condition on one or many resources.
    Wait(cmd::wait::Args),
    /// Display cluster information.
    ClusterInfo(cmd::cluster_info::Args),
    /// Print the client and server version information.
    Version(cmd::version::Args),
    /// Print the supported API resources on the server.
    ApiResources(cmd::api_resources::Args),
    /// Get documentation for a resource.
    Explain(cmd::explain::Args),
    /// Modify kubeconfig files.
    Config(cmd::config::Args),
}
