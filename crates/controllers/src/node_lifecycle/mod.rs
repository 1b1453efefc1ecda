//! The node lifecycle controller (upstream's `pkg/controller/nodelifecycle`): watches Nodes
//! and their Leases in `kube-node-lease`; a node whose kubelet has gone silent for the grace
//! period gets Ready (and the pressure conditions) set to Unknown, its pods marked NotReady,
//! and the `node.kubernetes.io/unreachable` taints; a node reporting Ready=False gets the
//! `not-ready` taints; both are removed once it is Ready again. Evicting pods from NoExecute
//! taints is [`crate::taint_eviction`]'s job.

mod health;
pub mod taints;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use health::{assess, Assessment, Health};

use crate::events::{object_ref, Recorder};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{meta_key, ready_condition, split_key};

const COMPONENT: &str = "node-controller";
const WORKERS: usize = 2;
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Timings of the controller (upstream's flags of the same names).
#[derive(Clone, Debug)]
pub struct NodeLifecycleConfig {
    /// `--node-monitor-grace-period`: how long a node may stay silent before it is Unknown.
    pub grace_period: Duration,
    /// `--node-startup-grace-period`: the same for a node that never posted status.
    pub startup_grace_period: Duration,
    /// `--node-monitor-period`: how often node health is checked.
    pub monitor_period: Duration,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: Duration::from_secs(40),
            startup_grace_period: Duration::from_secs(60),
            monitor_period: Duration::from_secs(5),
        }
    }
}

pub struct NodeLifecycleController {
    client: Client,
    cfg: NodeLifecycleConfig,
    nodes: Arc<Cache<Node>>,
    leases: Arc<Cache<Lease>>,
    pods: Arc<Cache<Pod>>,
    /// Node names whose controller taints need reconciling.
    taint_queue: Arc<WorkQueue>,
    /// Pods (keys) that may sit on a node that is not ready.
    pod_queue: Arc<WorkQueue>,
    health: Mutex<HashMap<String, Health>>,
    /// Nodes whose pods could not all be marked NotReady.
    retry: Mutex<HashSet<String>>,
    zones: Mutex<BTreeMap<String, (taints::ZoneState, usize)>>,
    recorder: Recorder,
}

fn node_on(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

impl NodeLifecycleController {
    pub fn new(
        client: Client,
        cfg: NodeLifecycleConfig,
        nodes: &mut Informer<Node>,
        leases: &mut Informer<Lease>,
        pods: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(NodeLifecycleController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            cfg,
            nodes: nodes.cache(),
            leases: leases.cache(),
            pods: pods.cache(),
            taint_queue: WorkQueue::new(cancel.clone()),
            pod_queue: WorkQueue::new(cancel),
            health: Mutex::new(HashMap::new()),
            retry: Mutex::new(HashSet::new()),
            zones: Mutex::new(BTreeMap::new()),
        });
        let q = this.taint_queue.clone();
        nodes.on(Box::new(move |_old, new| {
            if let Some(n) = new {
                q.add(n.name_any());
            }
        }));
        let (q, node_cache) = (this.pod_queue.clone(), this.nodes.clone());
        pods.on(Box::new(move |_old, new| {
            let Some(pod) = new else { return };
            let Some(node) = node_on(pod).and_then(|n| node_cache.get("", n)) else {
                return;
            };
            if health::ready_status(&node).is_some_and(|s| s != "True") {
                q.add(meta_key(&pod.metadata));
            }
        }));
        this
    }

    /// Runs until `cancel` fires (after the caches have synced).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async {
                self.nodes.wait_synced().await;
                self.leases.wait_synced().await;
                self.pods.wait_synced().await;
            } => {}
            _ = cancel.cancelled() => return,
        }
        info!("node lifecycle controller started");
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        let taints = self
            .taint_queue
            .run_workers(WORKERS, "node-taints", move |key| {
                let c = a.clone();
                async move { c.sync_taints(&key).await }
            });
        let pods = self
            .pod_queue
            .run_workers(WORKERS, "node-pods", move |key| {
                let c = b.clone();
                async move { c.sync_pod(&key).await }
            });
        let monitor = async move {
            let mut tick = tokio::time::interval(c.cfg.monitor_period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => c.monitor().await,
                    _ = cancel.cancelled() => return,
                }
            }
        };
        tokio::join!(taints, pods, monitor);
    }

    /// One health pass over every node (upstream's `monitorNodeHealth`).
    async fn monitor(&self) {
        let nodes = self.nodes.list_all();
        let now = jiff::Timestamp::now();
        {
            let names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
            let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
            h.retain(|k, _| names.contains(k));
        }
        for node in &nodes {
            let name = node.name_any();
            let lease = self.leases.get(NODE_LEASE_NAMESPACE, &name);
            let assessment = {
                let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
                let mut entry = h.remove(&name);
                let a = assess(
                    node,
                    lease.as_deref(),
                    &mut entry,
                    self.cfg.grace_period,
                    self.cfg.startup_grace_period,
                    now,
                );
                if let Some(e) = entry {
                    h.insert(name.clone(), e);
                }
                a
            };
            let mut current = health::ready_status(node).map(String::from);
            if let Some(conditions) = assessment.update {
                match self.write_conditions(node, conditions).await {
                    Ok(()) => current = Some("Unknown".into()),
                    Err(e) => {
                        warn!(node = %name, error = %format!("{e:#}"), "could not mark node unknown");
                        continue;
                    }
                }
            }
            let Some(current) = current else { continue };
            let retry = self
                .retry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&name);
            let became_not_ready = current != "True" && assessment.observed_ready == "True";
            if became_not_ready {
                info!(node = %name, status = %current, "node is not ready");
                self.recorder.normal(
                    object_ref("v1", "Node", &node.metadata),
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                );
            }
            if became_not_ready || (retry && assessment.observed_ready != "True") {
                if let Err(e) = self.mark_pods_not_ready(&name).await {
                    warn!(node = %name, error = %format!("{e:#}"), "could not mark pods not ready");
                    self.retry
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.clone());
                }
            }
        }
        self.check_zones(&nodes);
    }

    /// Recomputes zone states; when they change, every node's NoExecute taints are looked at
    /// again. Leaving "master disruption" gives every node a fresh grace period, as upstream.
    fn check_zones(&self, nodes: &[Arc<Node>]) {
        let states = taints::zone_states(nodes.iter().map(|n| n.as_ref()));
        let all_full = |z: &BTreeMap<String, (taints::ZoneState, usize)>| {
            !z.is_empty()
                && z.values()
                    .all(|(s, _)| *s == taints::ZoneState::FullDisruption)
        };
        let mut last = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        if *last == states {
            return;
        }
        if all_full(&states) && !all_full(&last) {
            warn!(
                "every node is not ready: assuming the controller is cut off; no NoExecute taints"
            );
        }
        if all_full(&last) && !all_full(&states) {
            info!("some nodes are ready again: leaving full disruption mode");
            let now = jiff::Timestamp::now();
            for h in self
                .health
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values_mut()
            {
                h.probe = now;
            }
        }
        *last = states;
        for n in nodes {
            self.taint_queue.add(n.name_any());
        }
    }

    async fn write_conditions(
        &self,
        node: &Node,
        conditions: Vec<k8s_openapi::api::core::v1::NodeCondition>,
    ) -> anyhow::Result<()> {
        let mut updated = node.clone();
        updated
            .status
            .get_or_insert_with(Default::default)
            .conditions = Some(conditions);
        let api: Api<Node> = Api::all(self.client.clone());
        // Optimistic concurrency: a kubelet that just came back wins; we look again later.
        api.replace_status(&node.name_any(), &PostParams::default(), &updated)
            .await
            .context("updating node status")?;
        info!(node = %node.name_any(), "kubelet stopped posting node status; marked Unknown");
        Ok(())
    }

    /// Sets Ready=False on every pod of the node that is not already (upstream's
    /// `MarkPodsNotReady`).
    async fn mark_pods_not_ready(&self, node: &str) -> anyhow::Result<()> {
        let mut first_err = None;
        for pod in self.pods.list_all() {
            if node_on(&pod) != Some(node) {
                continue;
            }
            if let Err(e) = self.mark_pod_not_ready(&pod).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    async fn mark_pod_not_ready(&self, pod: &Pod) -> anyhow::Result<()> {
        let Some(cond) = ready_condition(pod) else {
            return Ok(());
        };
        if cond.status == "False" {
            return Ok(());
        }
        let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        // Strategic merge on the `type` key: only Ready's status and transition time change.
        let patch = json!({"status": {"conditions": [{
            "type": "Ready", "status": "False", "lastTransitionTime": crate::util::now(),
        }]}});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if crate::util::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("marking pod {ns}/{name} not ready")),
        }
        debug!(pod = %format!("{ns}/{name}"), "marked pod not ready");
        self.recorder.warning(
            object_ref("v1", "Pod", &pod.metadata),
            "NodeNotReady",
            "Node is not ready".into(),
        );
        Ok(())
    }

    /// A pod event on a node that is not ready: mark the pod (upstream's `processPod`).
    async fn sync_pod(&self, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(pod) = self.pods.get(ns, name) else {
            return Ok(());
        };
        let Some(node) = node_on(&pod).and_then(|n| self.nodes.get("", n)) else {
            return Ok(());
        };
        if health::ready_status(&node).is_some_and(|s| s != "True") {
            self.mark_pod_not_ready(&pod).await?;
        }
        Ok(())
    }

    /// Brings the controller's taints on one node up to date.
    async fn sync_taints(&self, name: &str) -> anyhow::Result<()> {
        let Some(cached) = self.nodes.get("", name) else {
            return Ok(());
        };
        let policy_for = |node: &Node| {
            if !taints::depends_on_zones(node) {
                return taints::NoExecutePolicy::Apply;
            }
            let zones = taints::zone_states(self.nodes.list_all().iter().map(|n| n.as_ref()));
            taints::no_execute_policy(&zones, &taints::zone_key(node))
        };
        let now = jiff::Timestamp::now();
        if taints::reconcile(&cached, policy_for(&cached), now).is_none() {
            return Ok(());
        }
        // Decide again on the live object: the update must not undo someone else's change.
        let api: Api<Node> = Api::all(self.client.clone());
        let Some(mut node) = api.get_opt(name).await.context("reading node")? else {
            return Ok(());
        };
        let Some(new) = taints::reconcile(&node, policy_for(&node), now) else {
            return Ok(());
        };
        let summary: Vec<String> = new
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        node.spec.get_or_insert_with(Default::default).taints = Some(new);
        api.replace(name, &PostParams::default(), &node)
            .await
            .context("updating node taints")?;
        info!(node = %name, taints = ?summary, "updated node taints");
        Ok(())
    }
}
