//! The HorizontalPodAutoscaler controller (autoscaling/v2, upstream's
//! `pkg/controller/podautoscaler`): every sync period each HPA reads its target's `scale`
//! subresource, pod usage from the resource metrics API, proposes a replica count per
//! metric ([`calc`]), takes the largest, normalizes it ([`normalize`]: stabilization,
//! rate policies, min/max), updates the scale, and reports status, conditions (AbleToScale,
//! ScalingActive, ScalingLimited) and events as upstream does.

pub mod calc;
mod compute;
pub mod metrics;
pub mod normalize;
mod reconcile;
mod target;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use metrics::{MetricsApi, MetricsSource, PodUsage};
pub use target::parse_selector;

use crate::events::Recorder;
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::meta_key;
use normalize::{Recommendation, ScaleEvent};

const COMPONENT: &str = "horizontal-pod-autoscaler";
const WORKERS: usize = 2;

/// Tunables (upstream's `--horizontal-pod-autoscaler-*` flags).
#[derive(Clone, Debug)]
pub struct HpaConfig {
    /// How often every HPA is reconciled (`--horizontal-pod-autoscaler-sync-period`).
    pub sync_period: Duration,
    /// Scale-down stabilization without `behavior` (`…-downscale-stabilization`).
    pub downscale_stabilization: Duration,
    pub calc: calc::CalcConfig,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            sync_period: Duration::from_secs(15),
            downscale_stabilization: Duration::from_secs(300),
            calc: calc::CalcConfig::default(),
        }
    }
}

/// What the controller remembers per HPA between syncs.
#[derive(Default)]
struct Memory {
    recommendations: Vec<Recommendation>,
    scale_up: Vec<ScaleEvent>,
    scale_down: Vec<ScaleEvent>,
}

pub struct HpaController {
    client: Client,
    cfg: HpaConfig,
    metrics: Arc<dyn MetricsSource>,
    hpas: Arc<Cache<HorizontalPodAutoscaler>>,
    pods: Arc<Cache<Pod>>,
    queue: Arc<WorkQueue>,
    memory: Mutex<HashMap<String, Memory>>,
    /// Keys with a resync timer running (one per HPA, however often it syncs).
    timers: Mutex<HashSet<String>>,
    recorder: Recorder,
}

impl HpaController {
    pub fn new(
        client: Client,
        cfg: HpaConfig,
        metrics: Arc<dyn MetricsSource>,
        hpas: &mut Informer<HorizontalPodAutoscaler>,
        pods: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(HpaController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            cfg,
            metrics,
            hpas: hpas.cache(),
            pods: pods.cache(),
            queue: WorkQueue::new(cancel),
            memory: Mutex::new(HashMap::new()),
            timers: Mutex::new(HashSet::new()),
        });
        let weak = Arc::downgrade(&this);
        hpas.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            match (old, new) {
                // Our own status writes must not start extra syncs: only spec changes do.
                (Some(o), Some(n)) if o.spec == n.spec => {}
                (_, Some(n)) => c.queue.add(meta_key(&n.metadata)),
                (Some(o), None) => {
                    c.memory
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&meta_key(&o.metadata));
                }
                (None, None) => {}
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.hpas.wait_synced().await; self.pods.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("horizontal pod autoscaler controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "horizontal-pod-autoscaler", move |key| {
                let c = this.clone();
                async move {
                    let r = c.sync(&key).await;
                    c.resync_later(&key);
                    r
                }
            })
            .await;
    }

    /// Queues `key` again after the sync period unless a timer for it is already running.
    fn resync_later(self: &Arc<Self>, key: &str) {
        if !self
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string())
        {
            return;
        }
        let (this, key, period) = (Arc::downgrade(self), key.to_string(), self.cfg.sync_period);
        let cancel_queue = self.queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            if let Some(c) = this.upgrade() {
                c.timers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if c.hpas
                    .get(
                        crate::util::split_key(&key).0,
                        crate::util::split_key(&key).1,
                    )
                    .is_some()
                {
                    cancel_queue.add(key);
                }
            }
        });
    }
}
