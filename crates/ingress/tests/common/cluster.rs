//! An in-process API server on a temporary redb store (the pattern of the controller tests),
//! for exercising the watch layer against real watches.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use kube::Client;
use tokio_util::sync::CancellationToken;

pub struct Cluster {
    pub client: Client,
    pub cancel: CancellationToken,
    _tmp: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn start() -> anyhow::Result<Cluster> {
    super::init_tracing();
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
    let yaml = started
        .component_kubeconfig("test-admin", &["system:masters"])
        .map_err(|e| anyhow!("{e}"))?;
    let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Cluster {
        client: Client::try_from(cfg)?,
        cancel,
        _tmp: tmp,
    })
}

/// Polls `f` until it returns `Some`, failing after `limit` with `what`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(anyhow!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
