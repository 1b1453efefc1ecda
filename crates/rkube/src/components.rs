//! The scheduler and the controller manager as processes of their own (`rkube scheduler`,
//! `rkube controller-manager`), for a server started with `--disable-scheduler` or
//! `--disable-controller-manager`: as upstream's separate binaries, they reach the API
//! server through a kubeconfig and take part in the same leader elections, so they can run
//! anywhere and be measured (CPU, memory) apart from the API server.

use std::path::PathBuf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct SchedulerArgs {
    /// Kubeconfig to reach the API server with.
    #[arg(long)]
    pub kubeconfig: PathBuf,
}

#[derive(clap::Args)]
pub struct ControllerManagerArgs {
    /// Kubeconfig to reach the API server with.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Pod network range that node IPAM hands podCIDRs out of.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,
}

pub fn run_scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    run(&args.kubeconfig, |client, cancel| async move {
        rkube_scheduler::run(client, cancel).await;
    })
}

pub fn run_controller_manager(args: ControllerManagerArgs) -> anyhow::Result<()> {
    let cidr = args.cluster_cidr;
    run(&args.kubeconfig, move |client, cancel| async move {
        rkube_controllers::run(client, Some(&cidr), cancel).await;
    })
}

/// Runs `component` with a client from `kubeconfig` until SIGTERM or SIGINT.
fn run<F, Fut>(kubeconfig: &std::path::Path, component: F) -> anyhow::Result<()>
where
    F: FnOnce(kube::Client, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    crate::server::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start async runtime")?;
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("read kubeconfig {}", kubeconfig.display()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .context("client configuration from the kubeconfig")?;
        let client = kube::Client::try_from(config).context("API client")?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(component(client, cancel.clone()));
        crate::server::shutdown_signal().await;
        cancel.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        Ok(())
    })
}
