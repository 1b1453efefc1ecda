//! A real cluster for the controller tests: an in-process API server on a temporary redb
//! store, the controller manager connected to it over HTTPS with its own certificate, and a
//! client for the test. No kubelet runs: [`FakeKubelet`] plays the node the way upstream's
//! integration tests do, writing pod status through `pods/status`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub struct Cluster {
    pub client: Client,
    pub cancel: CancellationToken,
    /// A serving configuration signed by the cluster CA for 127.0.0.1: what a fake kubelet
    /// presents so that the API server's node proxy (and so metrics.k8s.io) trusts it.
    pub kubelet_tls: Arc<tokio_rustls::rustls::ServerConfig>,
    started: rkube_apiserver::Started,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    /// A client authenticated as `user` in `system:masters` (e.g. a second controller
    /// manager).
    pub async fn client_as(&self, user: &str) -> anyhow::Result<Client> {
        client_for(&self.started, user).await
    }

    /// An admin client that does not retry 429s (kube's default does, for minutes when the
    /// server keeps refusing — as the eviction API does while a budget forbids it).
    pub async fn client_without_retry(&self) -> anyhow::Result<Client> {
        let yaml = self
            .started
            .component_kubeconfig("test-admin", &["system:masters"])
            .map_err(|e| anyhow!("{e}"))?;
        let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        cfg.default_retry = false;
        Ok(Client::try_from(cfg)?)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn client_for(started: &rkube_apiserver::Started, user: &str) -> anyhow::Result<Client> {
    let yaml = started
        .component_kubeconfig(user, &["system:masters"])
        .map_err(|e| anyhow!("{e}"))?;
    let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Client::try_from(cfg)?)
}

/// Starts the API server and (unless `controllers` is false) the controller manager.
pub async fn start_with(controllers: bool) -> anyhow::Result<Cluster> {
    start_opts(controllers.then(rkube_controllers::Options::default)).await
}

/// Starts the API server and, given options, the controller manager with them.
pub async fn start_opts(
    controllers: Option<rkube_controllers::Options>,
) -> anyhow::Result<Cluster> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let tmp = tempfile::tempdir()?;
    std::fs::create_dir_all(tmp.path().join("db"))?;
    let store: Arc<dyn rkube_store::Store> = Arc::new(rkube_store::RedbStore::open(
        tmp.path().join("db/state.redb"),
    )?);
    let cancel = CancellationToken::new();
    let started = rkube_apiserver::start(
        rkube_apiserver::Config {
            listen: "127.0.0.1:0".parse()?,
            tls_dir: tmp.path().join("tls"),
            kubeconfigs: vec![],
            node_ips: vec!["127.0.0.1".parse()?],
            cluster_domain: "cluster.local".into(),
            service_cidr: rkube_apiserver::Cidr::parse("10.43.0.0/16")
                .ok_or_else(|| anyhow!("bad service CIDR"))?,
        },
        store,
        cancel.clone(),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    if let Some(opts) = controllers {
        let cm = client_for(&started, "system:kube-controller-manager").await?;
        tokio::spawn(rkube_controllers::run_with(cm, opts, cancel.clone()));
    }
    let client = client_for(&started, "test-admin").await?;
    let kubelet_tls = Arc::new(started.pki.server_config().map_err(|e| anyhow!("{e}"))?);
    Ok(Cluster {
        client,
        cancel,
        kubelet_tls,
        started,
        _tmp: tmp,
    })
}

pub async fn start() -> anyhow::Result<Cluster> {
    start_with(true).await
}

pub async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &ns).await?;
    Ok(())
}

/// Polls `f` until it returns `Some`, failing after `secs` seconds with `what`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(anyhow!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Active (not finished, not terminating) pods in `ns`.
pub async fn active_pods(client: &Client, ns: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            p.metadata.deletion_timestamp.is_none()
                && !matches!(phase, Some("Failed") | Some("Succeeded"))
        })
        .collect())
}

/// What a kubelet would write for a started, ready pod.
pub fn running_ready_status() -> serde_json::Value {
    let now = jiff::Timestamp::now().to_string();
    json!({"status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
    }})
}

pub async fn mark_ready(client: &Client, ns: &str, name: &str) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&running_ready_status()),
    )
    .await
    .with_context(|| format!("marking {name} ready"))?;
    Ok(())
}

pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Plays the node: marks every new pod in a namespace Running and Ready (after `delay`),
/// while `enabled`.
pub struct FakeKubelet {
    pub enabled: Arc<AtomicBool>,
}

impl FakeKubelet {
    pub fn spawn(client: &Client, ns: &str, delay: Duration, cancel: CancellationToken) -> Self {
        let enabled = Arc::new(AtomicBool::new(true));
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let (client, ns, flag) = (client.clone(), ns.to_string(), enabled.clone());
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            loop {
                let p = tokio::select! {
                    p = stream.next() => p,
                    _ = cancel.cancelled() => return,
                };
                let Some(Ok(pod)) = p else {
                    if p.is_none() {
                        return;
                    }
                    continue;
                };
                if !flag.load(Ordering::SeqCst)
                    || is_ready(&pod)
                    || pod.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                let (client, ns, name) = (client.clone(), ns.clone(), pod.name_any());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = mark_ready(&client, &ns, &name).await;
                });
            }
        });
        FakeKubelet { enabled }
    }

    pub fn pause(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }
}

/// Plays the kubelet finishing a pod: phase `Succeeded` or `Failed`, its container
/// terminated `finished_secs_ago` seconds ago (0 for now).
pub async fn finish_pod(
    client: &Client,
    ns: &str,
    name: &str,
    phase: &str,
    finished_secs_ago: i64,
) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(finished_secs_ago);
    let code = if phase == "Succeeded" { 0 } else { 1 };
    let patch = json!({"status": {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": at.to_string()}],
        "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "finishedAt": at.to_string()}},
        }],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("finishing {name} as {phase}"))?;
    Ok(())
}

/// Creates a Node object (no kubelet behind it) with optional taints.
pub async fn node(client: &Client, name: &str, taints: serde_json::Value) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let n = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints},
    }))?;
    api.create(&PostParams::default(), &n).await?;
    Ok(())
}
