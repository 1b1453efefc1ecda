//! `rkube server`: opens the store and runs the control-plane roles until SIGINT/SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rkube_store::{EtcdStore, RedbStore, Store};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Flags follow k3s where k3s has one.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Directory holding the server's and the local agent's state.
    #[arg(long, default_value = "/var/lib/rkube", env = "RKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// HTTPS port of the API server.
    #[arg(long, default_value_t = 6443)]
    pub https_listen_port: u16,
    /// Also write the admin kubeconfig here.
    #[arg(long)]
    pub write_kubeconfig: Option<PathBuf>,
    /// Join token for agents (default: generated into <data-dir>/server/token).
    #[arg(long, env = "RKUBE_TOKEN")]
    pub token: Option<String>,
    /// etcd v3 endpoints (comma-separated http://host:port); default: the embedded store.
    #[arg(long, env = "RKUBE_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
    /// Pod network range.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,
    /// Service IP range.
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: String,
    /// Cluster DNS service IP.
    #[arg(long, default_value = "10.43.0.10")]
    pub cluster_dns: IpAddr,
    /// Cluster domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Name of the local node (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// IP address to advertise for the local node.
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Run only the control plane, no local node agent.
    #[arg(long)]
    pub disable_agent: bool,
    /// Do not run the scheduler (run `rkube scheduler` elsewhere).
    #[arg(long)]
    pub disable_scheduler: bool,
    /// Do not run the controllers (run `rkube controller-manager` elsewhere).
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// Port of the local node's ingress controller for HTTP (0: off).
    #[arg(long, default_value_t = 80)]
    pub ingress_http_port: u16,
    /// Port of the local node's ingress controller for HTTPS (0: off).
    #[arg(long, default_value_t = 443)]
    pub ingress_https_port: u16,
    /// Do not run a packaged component (dns, ingress, servicelb, ...). Repeatable.
    #[arg(long)]
    pub disable: Vec<String>,
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rkube-server")
        .build()
        .context("start async runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let store = open_store(&args).await?;
    let revision = store
        .current_revision()
        .await
        .context("read store revision")?;
    let node_ip = args.node_ip.unwrap_or_else(default_node_ip);
    if args.datastore_endpoint.is_some() {
        crate::bootstrap::share_ca(
            store.as_ref(),
            &args.data_dir.join("server/tls"),
            args.token.as_deref(),
        )
        .await?;
    }
    let mut kubeconfigs = vec![args.data_dir.join("kubeconfig")];
    if let Some(k) = &args.write_kubeconfig {
        kubeconfigs.push(k.clone());
    }
    let config = rkube_apiserver::Config {
        listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.https_listen_port),
        tls_dir: args.data_dir.join("server/tls"),
        kubeconfigs,
        node_ips: vec![node_ip],
        cluster_domain: args.cluster_domain.clone(),
        service_cidr: rkube_apiserver::Cidr::parse(&args.service_cidr)
            .with_context(|| format!("invalid --service-cidr {:?}", args.service_cidr))?,
    };
    let shutdown = CancellationToken::new();
    let api = rkube_apiserver::start(config, store, shutdown.clone())
        .await
        .context("start API server")?;
    let token_dir = args.data_dir.join("server");
    let token = rkube_apiserver::join::ensure_server_token(
        &token_dir,
        api.pki.ca_cert_pem(),
        args.token.as_deref(),
    )
    .with_context(|| format!("write the join token under {}", token_dir.display()))?;
    api.enable_join(rkube_apiserver::join::JoinConfig {
        token_dir,
        agent_settings: serde_json::json!({
            "clusterCIDR": args.cluster_cidr,
            "clusterDNS": args.cluster_dns.to_string(),
            "clusterDomain": args.cluster_domain,
        }),
    });
    tracing::debug!(len = token.len(), "join token ready");
    if !args.disable_controller_manager {
        let cidr = args.cluster_cidr.clone();
        let cancel = shutdown.clone();
        spawn_component(
            &api,
            "rkube-controllers",
            "system:kube-controller-manager",
            move |client| async move { rkube_controllers::run(client, Some(&cidr), cancel).await },
        )
        .context("start the controller manager")?;
    }
    {
        let client = component_client(&api, "system:kube-controller-manager", &[])
            .await
            .context("bootstrap credentials")?;
        if let Err(e) = rkube_dns::ensure_service(client, args.cluster_dns).await {
            tracing::warn!("kube-dns Service: {e:#}");
        }
    }
    if !args
        .disable
        .iter()
        .any(|d| d == "ingress" || d == "traefik")
    {
        let client = component_client(&api, "system:kube-controller-manager", &[])
            .await
            .context("ingress class credentials")?;
        tokio::spawn(rkube_ingress::status::ensure_ingress_class(
            client,
            shutdown.clone(),
        ));
    }
    if !args.disable_scheduler {
        let cancel = shutdown.clone();
        spawn_component(
            &api,
            "rkube-scheduler",
            "system:kube-scheduler",
            move |client| rkube_scheduler::run(client, cancel),
        )
        .context("start the scheduler")?;
    }
    let agent = if args.disable_agent {
        None
    } else {
        Some(start_agent(&args, &api, node_ip, shutdown.clone()).await?)
    };
    info!(
        revision,
        url = %api.url,
        data_dir = %args.data_dir.display(),
        millis = started.elapsed().as_millis() as u64,
        "rkube server ready"
    );
    shutdown_signal().await;
    info!("shutting down");
    shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), api.task).await;
    if let Some(agent) = agent {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), agent).await;
    }
    Ok(())
}

/// The node agent inside the server: this machine becomes a node of its own cluster.
async fn start_agent(
    args: &ServerArgs,
    api: &rkube_apiserver::Started,
    node_ip: IpAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let node_name = args
        .node_name
        .clone()
        .unwrap_or_else(rkube_kubelet::node::default_node_name);
    let client = component_client(api, &format!("system:node:{node_name}"), &["system:nodes"])
        .await
        .context("node agent credentials")?;
    let (cert_pem, key_pem) = api
        .pki
        .issue_serving_cert(
            &node_name,
            &[&node_name, "localhost"],
            &[node_ip, IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )
        .context("kubelet serving certificate")?;
    let params = crate::agent::NodeParams {
        node_name,
        node_ip,
        data_dir: args.data_dir.clone(),
        cluster_cidr: Some(args.cluster_cidr.clone()),
        cluster_dns: args.cluster_dns,
        cluster_domain: args.cluster_domain.clone(),
        node_labels: vec![
            (
                "node-role.kubernetes.io/control-plane".into(),
                "true".into(),
            ),
            ("node-role.kubernetes.io/master".into(), "true".into()),
        ],
        ingress: crate::agent::ingress_config(
            !args
                .disable
                .iter()
                .any(|d| d == "ingress" || d == "traefik"),
            args.ingress_http_port,
            args.ingress_https_port,
            node_ip,
        ),
        server_tls: rkube_kubelet::server::ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: api.pki.ca_cert_pem().to_string(),
        },
    };
    crate::agent::spawn_kubelet(client, params, shutdown)
}

/// An API client for an in-process component, with its own client certificate: components
/// reach the API server over HTTPS like any other client.
/// Runs a component (scheduler, controller manager) on a thread and runtime of its own, with
/// its client built there, as its own process would be: under load the kernel then shares
/// the CPU between it and the API server's workers, instead of the component's tasks
/// queueing behind hundreds of requests in one runtime. It stops when `run`'s future ends
/// (the components end on the shutdown token).
fn spawn_component<F, Fut>(
    api: &rkube_apiserver::Started,
    thread: &str,
    user: &str,
    run: F,
) -> anyhow::Result<()>
where
    F: FnOnce(kube::Client) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let kubeconfig = api
        .component_kubeconfig(user, &[])
        .with_context(|| format!("issue a certificate for {user}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the component's runtime")?;
    let user = user.to_string();
    std::thread::Builder::new()
        .name(thread.to_string())
        .spawn(move || {
            rt.block_on(async move {
                match client_from_kubeconfig(&kubeconfig).await {
                    Ok(client) => run(client).await,
                    Err(e) => tracing::error!(user, "component client: {e:#}"),
                }
            })
        })
        .context("start the component's thread")?;
    Ok(())
}

async fn client_from_kubeconfig(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).context("component kubeconfig")?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("component client config")?;
    kube::Client::try_from(config).context("component client")
}

async fn component_client(
    api: &rkube_apiserver::Started,
    user: &str,
    groups: &[&str],
) -> anyhow::Result<kube::Client> {
    let kubeconfig = api
        .component_kubeconfig(user, groups)
        .with_context(|| format!("issue a certificate for {user}"))?;
    client_from_kubeconfig(&kubeconfig).await
}

/// The address of the interface holding the default route (no packet is sent: connecting a
/// UDP socket only picks the route), or loopback on a machine without one.
pub fn default_node_ip() -> IpAddr {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The embedded store under `<data-dir>/server/db/`, or etcd with `--datastore-endpoint`.
pub async fn open_store(args: &ServerArgs) -> anyhow::Result<Arc<dyn Store>> {
    match &args.datastore_endpoint {
        Some(ep) => Ok(Arc::new(
            EtcdStore::connect(ep)
                .await
                .with_context(|| format!("connect to datastore {ep}"))?,
        )),
        None => {
            let path = args.data_dir.join("server/db/state.redb");
            let store = tokio::task::spawn_blocking(move || RedbStore::open(&path))
                .await
                .context("open store task")?
                .context("open embedded store")?;
            Ok(Arc::new(store))
        }
    }
}

pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RKUBE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
