//! `rkube agent`: joins a cluster with a token and runs the node agent (kubelet, runtime,
//! pod network, service proxy, DNS) until SIGINT/SIGTERM. The agent inside `rkube server`
//! is started through [`spawn_kubelet`] too.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// URL of a server to join, e.g. https://10.0.0.1:6443; several, comma-separated, for
    /// clusters of several servers (the agent fails over between them).
    #[arg(long, env = "RKUBE_URL", required_unless_present = "simulate")]
    pub server: Option<String>,
    /// Join token (from the server's <data-dir>/server/token or `rkube token create`).
    #[arg(long, env = "RKUBE_TOKEN", required_unless_present = "simulate")]
    pub token: Option<String>,
    /// Register N simulated nodes (like kwok) that report their pods Running without
    /// running them; for scale tests and benchmarks. Needs --kubeconfig with admin rights.
    #[arg(long, value_name = "N", requires = "kubeconfig")]
    pub simulate: Option<usize>,
    /// Name prefix of simulated nodes.
    #[arg(long, default_value = "sim")]
    pub simulate_prefix: String,
    /// Kubeconfig for --simulate.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Directory for the agent's state.
    #[arg(long, default_value = "/var/lib/rkube", env = "RKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Name of this node (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// IP address to advertise for this node.
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Port of the node's ingress controller for HTTP (0: off).
    #[arg(long, default_value_t = 80)]
    pub ingress_http_port: u16,
    /// Port of the node's ingress controller for HTTPS (0: off).
    #[arg(long, default_value_t = 443)]
    pub ingress_https_port: u16,
    /// Run no ingress controller on this node.
    #[arg(long)]
    pub disable_ingress: bool,
    /// Node labels, KEY=VALUE. Repeatable.
    #[arg(long = "node-label")]
    pub node_labels: Vec<String>,
}

/// What the node agent needs beyond its API client.
pub struct NodeParams {
    pub node_name: String,
    pub node_ip: IpAddr,
    pub data_dir: PathBuf,
    pub cluster_cidr: Option<String>,
    pub cluster_dns: IpAddr,
    pub cluster_domain: String,
    pub node_labels: Vec<(String, String)>,
    pub server_tls: rkube_kubelet::server::ServerTls,
    pub ingress: rkube_ingress::IngressConfig,
}

/// The node's ingress controller settings: listeners on all addresses (port 0: off), the
/// node's IP for Ingress status. The IngressClass is the server's to create.
pub fn ingress_config(
    enabled: bool,
    http: u16,
    https: u16,
    node_ip: IpAddr,
) -> rkube_ingress::IngressConfig {
    let listen = |port: u16| {
        (port != 0)
            .then(|| std::net::SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port))
    };
    rkube_ingress::IngressConfig {
        enabled,
        http: listen(http),
        https: listen(https),
        node_ips: vec![node_ip.to_string()],
        ensure_ingress_class: false,
        ..Default::default()
    }
}

/// Opens the image store and runtime and runs the kubelet in a task.
pub fn spawn_kubelet(
    client: kube::Client,
    p: NodeParams,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let images =
        rkube_runtime::image::ImageService::open(&p.data_dir).context("open the image store")?;
    let shim = rkube_runtime::ShimCommand {
        program: std::env::current_exe().context("locate the rkube binary for the shim")?,
        args: vec!["shim".into()],
    };
    let runtime = rkube_runtime::Runtime::open(images, shim).context("open the runtime")?;
    {
        let (client, cfg, cancel) = (client.clone(), p.ingress.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = rkube_ingress::run(client, cfg, cancel).await {
                tracing::error!("ingress controller stopped: {e:#}");
            }
        });
    }
    let config = rkube_kubelet::Config {
        server_port: 10250,
        cluster_cidr: p.cluster_cidr,
        server_tls: Some(p.server_tls),
        node_name: p.node_name,
        node_ip: p.node_ip,
        data_dir: p.data_dir,
        cluster_dns: p.cluster_dns,
        cluster_domain: p.cluster_domain,
        node_labels: p.node_labels,
    };
    Ok(tokio::spawn(async move {
        if let Err(e) = rkube_kubelet::run(client, runtime, config, shutdown).await {
            tracing::error!("node agent stopped: {e:#}");
        }
    }))
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    crate::server::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rkube-agent")
        .build()
        .context("start async runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: AgentArgs) -> anyhow::Result<()> {
    if let (Some(count), Some(kubeconfig)) = (args.simulate, &args.kubeconfig) {
        return simulate(count, &args.simulate_prefix, kubeconfig).await;
    }
    let (Some(server), Some(token)) = (args.server.clone(), args.token.clone()) else {
        anyhow::bail!("--server and --token are required");
    };
    let servers: Vec<String> = server
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let addresses = crate::lb::server_addresses(&servers)?;
    let node_name = args
        .node_name
        .clone()
        .unwrap_or_else(rkube_kubelet::node::default_node_name);
    let node_ip = args.node_ip.unwrap_or_else(crate::server::default_node_ip);
    let node_labels = args
        .node_labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--node-label {l:?}: expected KEY=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let joined = {
        let (dir, servers, token, name) = (
            args.data_dir.clone(),
            servers.clone(),
            token,
            node_name.clone(),
        );
        tokio::task::spawn_blocking(move || {
            // The first server that answers takes the join.
            let mut last = None;
            for server in &servers {
                match crate::join::join(&dir, server, &token, &name, &[node_ip]) {
                    Ok(j) => return Ok(j),
                    Err(e) => {
                        tracing::warn!(%server, "join: {e:#}");
                        last = Some(e);
                    }
                }
            }
            Err(last.unwrap_or_else(|| anyhow::anyhow!("no --server given")))
        })
        .await
        .context("join task")??
    };
    let shutdown = CancellationToken::new();
    let lb = crate::lb::start(addresses, shutdown.clone()).await?;
    let client = client_via(&joined.kubeconfig, Some(lb)).await?;
    let setting = |k: &str| joined.settings.get(k).and_then(|v| v.as_str());
    let params = NodeParams {
        node_name: node_name.clone(),
        node_ip,
        data_dir: args.data_dir.clone(),
        cluster_cidr: setting("clusterCIDR").map(str::to_string),
        cluster_dns: setting("clusterDNS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::new(10, 43, 0, 10))),
        cluster_domain: setting("clusterDomain")
            .unwrap_or("cluster.local")
            .to_string(),
        node_labels,
        ingress: ingress_config(
            !args.disable_ingress,
            args.ingress_http_port,
            args.ingress_https_port,
            node_ip,
        ),
        server_tls: rkube_kubelet::server::ServerTls {
            cert_pem: joined.serving_cert_pem,
            key_pem: joined.serving_key_pem,
            client_ca_pem: joined.ca_pem,
        },
    };
    let task = spawn_kubelet(client, params, shutdown.clone())?;
    info!(node = %node_name, %server, "rkube agent ready");
    crate::server::shutdown_signal().await;
    info!("shutting down");
    shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    Ok(())
}

/// A client from a kubeconfig, optionally through the local load balancer at `via`.
async fn client_via(
    path: &std::path::Path,
    via: Option<std::net::SocketAddr>,
) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("read kubeconfig {}", path.display()))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("client config")?;
    if let Some(lb) = via {
        config.cluster_url = format!("https://{lb}")
            .parse()
            .context("load balancer URL")?;
    }
    kube::Client::try_from(config).context("API client")
}

async fn simulate(count: usize, prefix: &str, kubeconfig: &std::path::Path) -> anyhow::Result<()> {
    let client = client_via(kubeconfig, None).await?;
    let cfg = rkube_kubelet::simulate::SimConfig {
        prefix: prefix.to_string(),
        count,
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(rkube_kubelet::simulate::run(client, cfg, shutdown.clone()));
    info!(count, prefix, "simulated nodes running");
    tokio::select! {
        _ = crate::server::shutdown_signal() => {}
        r = task => return r.context("simulator task")?,
    }
    shutdown.cancel();
    Ok(())
}
