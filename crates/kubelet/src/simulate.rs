//! Simulated nodes, as kwok makes them: `rkube agent --simulate N` registers N Nodes that
//! renew their Leases and report the pods bound to them as Running and Ready — without
//! running anything. They exist for scale tests and benchmarks of the scheduler and
//! controllers; no other test uses them in place of a real agent.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What simulated nodes look like.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Nodes are `<prefix>-<i>`.
    pub prefix: String,
    pub count: usize,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            prefix: "sim".into(),
            count: 1,
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: crate::node::MAX_PODS,
        }
    }
}

fn now() -> String {
    crate::time::now()
}

fn node_object(cfg: &SimConfig, name: &str) -> serde_json::Value {
    let t = now();
    let resources = json!({"cpu": cfg.cpu, "memory": cfg.memory, "pods": cfg.pods.to_string(), "ephemeral-storage": "100Gi"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "simulated",
            },
            "annotations": {"rkube.io/simulated": "true"},
        },
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "simulated node is posting ready status", "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "", "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "", "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "", "lastHeartbeatTime": t, "lastTransitionTime": t},
            ],
            "nodeInfo": {"kubeletVersion": crate::node::KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "simulated", "osImage": "simulated", "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        },
    })
}

/// Registers the nodes, keeps their Leases fresh and runs their pods on paper until
/// `cancel` fires.
pub async fn run(client: Client, cfg: SimConfig, cancel: CancellationToken) -> anyhow::Result<()> {
    let names: Vec<String> = (0..cfg.count)
        .map(|i| format!("{}-{i}", cfg.prefix))
        .collect();
    let nodes: Api<Node> = Api::all(client.clone());
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for name in &names {
        let (nodes, cfg, name, limit) = (nodes.clone(), cfg.clone(), name.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            register(&nodes, &cfg, &name).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    info!(count = cfg.count, prefix = %cfg.prefix, "simulated nodes registered");
    let leases = tokio::spawn(renew_leases(client.clone(), names.clone(), cancel.clone()));
    run_pods(client, names.into_iter().collect(), cancel.clone()).await;
    leases.abort();
    Ok(())
}

async fn register(nodes: &Api<Node>, cfg: &SimConfig, name: &str) -> anyhow::Result<()> {
    let obj: Node = serde_json::from_value(node_object(cfg, name))?;
    match nodes.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    // Status is a subresource: write it explicitly (also refreshes a re-registered node).
    let status = json!({"status": node_object(cfg, name)["status"]});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// One Lease renewal per node every 10 s, spread over the period, as a real agent renews
/// its own (a merge patch: cheaper for the API server than an apply, and what kubelets do).
async fn renew_leases(client: Client, names: Vec<String>, cancel: CancellationToken) {
    let period = crate::node::LEASE_RENEW;
    let gap = period / names.len().max(1) as u32;
    loop {
        for name in &names {
            if cancel.is_cancelled() {
                return;
            }
            if let Err(e) = crate::node::renew_lease_of(&client, name).await {
                warn!(node = %name, "renew lease: {e:#}");
            }
            tokio::time::sleep(gap).await;
        }
    }
}

/// Where the simulator writes: the API server, or a fake in tests.
#[async_trait::async_trait]
trait PodWriter: Send + Sync + 'static {
    async fn patch_status(&self, ns: &str, name: &str, status: &Value) -> Result<(), kube::Error>;
    async fn delete(&self, ns: &str, name: &str) -> Result<(), kube::Error>;
}

struct ApiWriter(Client);

#[async_trait::async_trait]
impl PodWriter for ApiWriter {
    async fn patch_status(&self, ns: &str, name: &str, status: &Value) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.0.clone(), ns);
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .map(|_| ())
    }

    async fn delete(&self, ns: &str, name: &str) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.0.clone(), ns);
        api.delete(name, &DeleteParams::default().grace_period(0))
            .await
            .map(|_| ())
    }
}

/// Attempts at one status write before the pod is left for its next watch event.
const STATUS_ATTEMPTS: u32 = 5;
const STATUS_BACKOFF: Duration = Duration::from_millis(if cfg!(test) { 5 } else { 200 });

/// Answers for the pods bound to simulated nodes. `claimed` holds the pods (by
/// namespace/name/uid) whose Running status is written or being written; a key leaves it
/// when the write gives up (so the next event retries) and when the pod is gone (so the set
/// follows the cluster instead of growing for ever).
struct Simulator<W> {
    own: HashSet<String>,
    writer: Arc<W>,
    claimed: Arc<Mutex<HashSet<String>>>,
    /// Keys met during a (re)list; at its end everything else is dropped from `claimed`.
    relisting: Option<HashSet<String>>,
    ip: AtomicU32,
    limit: Arc<Semaphore>,
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}/{}",
        pod.namespace().unwrap_or_default(),
        pod.name_any(),
        pod.uid().unwrap_or_default()
    )
}

fn lock(m: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<W: PodWriter> Simulator<W> {
    fn new(own: HashSet<String>, writer: W) -> Self {
        Simulator {
            own,
            writer: Arc::new(writer),
            claimed: Arc::default(),
            relisting: None,
            ip: AtomicU32::new(1),
            limit: Arc::new(Semaphore::new(64)),
        }
    }

    async fn handle(&mut self, ev: watcher::Event<Pod>) {
        let pod = match ev {
            watcher::Event::Init => {
                self.relisting = Some(HashSet::new());
                return;
            }
            watcher::Event::InitDone => {
                if let Some(listed) = self.relisting.take() {
                    lock(&self.claimed).retain(|k| listed.contains(k));
                }
                return;
            }
            watcher::Event::Delete(p) => {
                lock(&self.claimed).remove(&pod_key(&p));
                return;
            }
            watcher::Event::InitApply(p) => {
                if let Some(listed) = self.relisting.as_mut() {
                    listed.insert(pod_key(&p));
                }
                p
            }
            watcher::Event::Apply(p) => p,
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            return;
        };
        if !self.own.contains(node) {
            return;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        if pod.metadata.deletion_timestamp.is_some() {
            let permit = self.limit.clone().acquire_owned().await;
            let writer = self.writer.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let _ = writer.delete(&ns, &name).await;
            });
            return;
        }
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        let key = pod_key(&pod);
        if running || !lock(&self.claimed).insert(key.clone()) {
            return;
        }
        let n = self.ip.fetch_add(1, Ordering::Relaxed);
        let pod_ip = format!("10.{}.{}.{}", 200 + (n >> 16) % 50, (n >> 8) & 255, n & 255);
        let status = running_status(&pod, &pod_ip);
        let permit = self.limit.clone().acquire_owned().await;
        let (writer, claimed) = (self.writer.clone(), self.claimed.clone());
        tokio::spawn(async move {
            let _permit = permit;
            for attempt in 1..=STATUS_ATTEMPTS {
                match writer.patch_status(&ns, &name, &status).await {
                    Ok(()) => return,
                    // Gone: nothing to retry.
                    Err(kube::Error::Api(e)) if e.code == 404 => break,
                    Err(e) => {
                        warn!(pod = %name, attempt, "simulated status: {e}");
                        tokio::time::sleep(STATUS_BACKOFF * attempt).await;
                    }
                }
            }
            lock(&claimed).remove(&key);
        });
    }
}

/// Watches every pod and answers for those bound to a simulated node: Running and Ready
/// at once; deleted at once when their deletion starts.
async fn run_pods(client: Client, own: HashSet<String>, cancel: CancellationToken) {
    let pods: Api<Pod> = Api::all(client.clone());
    let mut sim = Simulator::new(own, ApiWriter(client));
    let stream = watcher(pods, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let ev = tokio::select! {
            ev = stream.next() => ev,
            _ = cancel.cancelled() => return,
        };
        match ev {
            None => return,
            Some(Ok(ev)) => sim.handle(ev).await,
            Some(Err(e)) => warn!("pod watch: {e}"),
        }
    }
}

fn running_status(pod: &Pod, pod_ip: &str) -> serde_json::Value {
    let t = now();
    let containers: Vec<_> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": t}},
            })
        })
        .collect();
    let cond = |ty: &str| json!({"type": ty, "status": "True", "lastTransitionTime": t});
    json!({"status": {
        "phase": "Running",
        "hostIP": "",
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": t,
        "qosClass": crate::status::qos_class(pod),
        "conditions": [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")],
        "containerStatuses": containers,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Fails the first `fail` status writes with a 500, then records them.
    #[derive(Default)]
    struct Fake {
        fail: AtomicUsize,
        calls: AtomicUsize,
        written: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl PodWriter for Arc<Fake> {
        async fn patch_status(&self, ns: &str, name: &str, _: &Value) -> Result<(), kube::Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) > 0 {
                self.fail.fetch_sub(1, Ordering::SeqCst);
                let status = serde_json::from_value(
                    json!({"code": 500, "message": "etcdserver: leader changed"}),
                )
                .unwrap();
                return Err(kube::Error::Api(Box::new(status)));
            }
            self.written.lock().unwrap().push(format!("{ns}/{name}"));
            Ok(())
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), kube::Error> {
            Ok(())
        }
    }

    fn pod(name: &str, node: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
        }))
        .unwrap()
    }

    fn sim(fail: usize) -> (Simulator<Arc<Fake>>, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        fake.fail.store(fail, Ordering::SeqCst);
        let own = ["sim-0".to_string()].into_iter().collect();
        (Simulator::new(own, fake.clone()), fake)
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn failed_status_write_is_retried() {
        let (mut s, fake) = sim(2);
        s.handle(watcher::Event::Apply(pod("a", "sim-0"))).await;
        until("the status write", || {
            fake.written.lock().unwrap().len() == 1
        })
        .await;
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
        assert_eq!(*fake.written.lock().unwrap(), ["default/a"]);
    }

    #[tokio::test]
    async fn a_write_that_gave_up_is_retried_on_the_next_event() {
        let (mut s, fake) = sim(STATUS_ATTEMPTS as usize);
        s.handle(watcher::Event::Apply(pod("a", "sim-0"))).await;
        until("giving up", || lock(&s.claimed).is_empty()).await;
        assert!(fake.written.lock().unwrap().is_empty());
        s.handle(watcher::Event::Apply(pod("a", "sim-0"))).await;
        until("the status write", || {
            fake.written.lock().unwrap().len() == 1
        })
        .await;
    }

    #[tokio::test]
    async fn pods_are_answered_once_and_forgotten_when_gone() {
        let (mut s, fake) = sim(0);
        s.handle(watcher::Event::Apply(pod("a", "sim-0"))).await;
        s.handle(watcher::Event::Apply(pod("b", "sim-0"))).await;
        s.handle(watcher::Event::Apply(pod("other", "real-node")))
            .await;
        until("two writes", || fake.written.lock().unwrap().len() == 2).await;
        // An update before the Running status arrives is not answered twice.
        s.handle(watcher::Event::Apply(pod("a", "sim-0"))).await;
        assert_eq!(lock(&s.claimed).len(), 2);

        s.handle(watcher::Event::Delete(pod("a", "sim-0"))).await;
        assert_eq!(lock(&s.claimed).len(), 1);
        // A relist that no longer holds b (deleted while the watch was down) drops it.
        s.handle(watcher::Event::Init).await;
        s.handle(watcher::Event::InitDone).await;
        assert!(lock(&s.claimed).is_empty());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
    }
}
