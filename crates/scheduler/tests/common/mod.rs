//! A real in-process API server (redb store, HTTPS) and helpers to create nodes and pods
//! and wait for what the scheduler does.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub struct Cluster {
    pub client: Client,
    pub cancel: CancellationToken,
    pub started: rkube_apiserver::Started,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Result<Self> {
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
                    .ok_or("bad service CIDR")?,
            },
            store,
            cancel.clone(),
        )
        .await?;
        let client = Self::client_for(&started, "system:kube-scheduler").await?;
        Ok(Cluster {
            client,
            cancel,
            started,
            _tmp: tmp,
        })
    }

    pub async fn client_for(started: &rkube_apiserver::Started, user: &str) -> Result<Client> {
        Self::client_for_groups(started, user, &[]).await
    }

    pub async fn client_for_groups(
        started: &rkube_apiserver::Started,
        user: &str,
        groups: &[&str],
    ) -> Result<Client> {
        let yaml = started.component_kubeconfig(user, groups)?;
        let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// Starts a scheduler (with leader election) that stops with the returned token.
    pub fn scheduler(&self) -> CancellationToken {
        let token = self.cancel.child_token();
        tokio::spawn(rkube_scheduler::run(self.client.clone(), token.clone()));
        token
    }

    pub async fn node(&self, name: &str, cpu: &str, mem: &str, extra: Value) -> Result<()> {
        let mut n = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {
                "capacity": {"cpu": cpu, "memory": mem, "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        });
        merge(&mut n, extra);
        let node: Node = serde_json::from_value(n)?;
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await?;
        Ok(())
    }

    pub async fn pod(&self, name: &str, cpu: &str, extra: Value) -> Result<()> {
        let mut p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}
        });
        merge(&mut p, extra);
        let ns = p["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let pod: Pod = serde_json::from_value(p)?;
        Api::<Pod>::namespaced(self.client.clone(), &ns)
            .create(&PostParams::default(), &pod)
            .await?;
        Ok(())
    }

    pub async fn get_pod(&self, name: &str) -> Result<Pod> {
        Ok(Api::<Pod>::namespaced(self.client.clone(), "default")
            .get(name)
            .await?)
    }

    pub async fn node_of(&self, name: &str) -> Option<String> {
        self.get_pod(name)
            .await
            .ok()
            .and_then(|p| p.spec.and_then(|s| s.node_name))
    }

    /// Waits until the pod is bound and returns its node.
    pub async fn bound(&self, name: &str) -> Result<String> {
        wait(&format!("pod {name} bound"), || async {
            self.node_of(name).await
        })
        .await
    }

    /// The message of the pod's PodScheduled=False condition once it has one.
    pub async fn unschedulable_message(&self, name: &str) -> Result<String> {
        wait(&format!("pod {name} unschedulable"), || async {
            let p = self.get_pod(name).await.ok()?;
            p.status?.conditions?.into_iter().find_map(|c| {
                (c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable"))
                .then(|| c.message.unwrap_or_default())
            })
        })
        .await
    }

    pub async fn events_for(&self, pod: &str) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), "default")
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(pod))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// Polls `f` until it yields a value (20 s at most).
pub async fn wait<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
