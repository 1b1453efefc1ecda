//! The scheduling loop: one task owns the cache and the queue, applies informer events
//! between cycles, schedules one pod per cycle, assumes it on its node and binds in the
//! background (so the next cycle starts at once, as upstream's asynchronous binding).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::algorithm::{Algorithm, Options};
use crate::api::{self, EventRecorder, PodEvent};
use crate::cache::Cache;
use crate::informer::{self, Msg};
use crate::pod::{PodInfo, DEFAULT_SCHEDULER_NAME};
use crate::preemption;
use crate::queue::SchedulingQueue;

/// Bind calls in flight at once.
const BIND_CONCURRENCY: usize = 256;
/// How often parked pods are checked against [`crate::queue::MAX_UNSCHEDULABLE`].
const UNSCHEDULABLE_FLUSH_PERIOD: Duration = Duration::from_secs(30);
/// Cycles between yields to the runtime, so watchers and binders keep up.
const CYCLES_PER_YIELD: u32 = 32;

/// How a scheduler instance runs.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Pods naming another `spec.schedulerName` are left alone.
    pub scheduler_name: String,
    pub options: Options,
    /// Names this instance on Events (`reportingInstance`).
    pub identity: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            options: Options::default(),
            identity: crate::leader::unique_identity(),
        }
    }
}

enum Done {
    Bound { uid: String },
    BindFailed { uid: String, gone: bool },
}

struct Loop {
    client: Client,
    cfg: SchedulerConfig,
    cache: Cache,
    queue: SchedulingQueue,
    alg: Algorithm,
    events: EventRecorder,
    done_tx: mpsc::UnboundedSender<Done>,
    binds: Arc<Semaphore>,
    /// The last unschedulable message reported per pod (no repeats).
    reported: HashMap<String, String>,
    pods_synced: bool,
    nodes_synced: bool,
}

/// Schedules pods until `cancel` (no leader election: see [`crate::run`]).
pub async fn schedule_loop(client: Client, cancel: CancellationToken, cfg: SchedulerConfig) {
    let stop = cancel.child_token();
    let mut rx = informer::start(&client, &stop);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let events = EventRecorder::start(client.clone(), cfg.identity.clone(), stop.clone());
    let mut l = Loop {
        alg: Algorithm::new(cfg.options.clone()),
        client,
        cfg,
        cache: Cache::new(),
        queue: SchedulingQueue::new(),
        events,
        done_tx,
        binds: Arc::new(Semaphore::new(BIND_CONCURRENCY)),
        reported: HashMap::new(),
        pods_synced: false,
        nodes_synced: false,
    };
    info!(scheduler = %l.cfg.scheduler_name, "scheduler started");
    let mut last_flush = Instant::now();
    let mut cycles = 0u32;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        while let Ok(m) = rx.try_recv() {
            l.handle(m);
        }
        while let Ok(d) = done_rx.try_recv() {
            l.handle_done(d);
        }
        let now = Instant::now();
        if now.duration_since(last_flush) >= UNSCHEDULABLE_FLUSH_PERIOD {
            last_flush = now;
            l.queue.flush(now);
        } else if l.queue.next_backoff().is_some_and(|t| t <= now) {
            l.queue.flush(now);
        }
        if l.pods_synced && l.nodes_synced {
            if let Some((pod, cycle)) = l.queue.pop() {
                l.schedule_one(pod, cycle);
                cycles += 1;
                if cycles >= CYCLES_PER_YIELD {
                    cycles = 0;
                    tokio::task::yield_now().await;
                }
                continue;
            }
        }
        let wake = l
            .queue
            .next_backoff()
            .unwrap_or(now + UNSCHEDULABLE_FLUSH_PERIOD)
            .min(last_flush + UNSCHEDULABLE_FLUSH_PERIOD);
        tokio::select! {
            _ = cancel.cancelled() => break,
            m = rx.recv() => match m {
                Some(m) => l.handle(m),
                None => break,
            },
            Some(d) = done_rx.recv() => l.handle_done(d),
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    stop.cancel();
    info!("scheduler stopped");
}

impl Loop {
    fn ours(&self, p: &PodInfo) -> bool {
        p.scheduler_name == self.cfg.scheduler_name
    }

    fn handle(&mut self, m: Msg) {
        let now = Instant::now();
        match m {
            Msg::Pod(p) => self.pod_changed(p, now),
            Msg::PodDeleted(p) => self.pod_deleted(&p.uid, now),
            Msg::PodsSynced(all) => {
                // A (re)list: whatever is not listed is gone (assumed pods stay: their
                // bind is in flight).
                let keep: HashSet<String> = all.iter().map(|p| p.uid.clone()).collect();
                for uid in self.cache.pod_uids() {
                    if !keep.contains(&uid) && !self.cache.is_assumed(&uid) {
                        self.cache.remove_pod(&uid);
                    }
                }
                for uid in self.queue.uids() {
                    if !keep.contains(&uid) {
                        self.queue.delete(&uid);
                    }
                }
                self.reported.retain(|u, _| keep.contains(u));
                for p in all {
                    self.pod_changed(p, now);
                }
                self.pods_synced = true;
                self.queue.move_all_unschedulable(now);
            }
            Msg::Node(n) => {
                let changed = self.cache.node(&n.name).and_then(|i| i.node.as_deref()) != Some(&n);
                if changed {
                    self.cache.upsert_node(n);
                    self.queue.move_all_unschedulable(now);
                }
            }
            Msg::NodeDeleted(name) => self.cache.remove_node(&name),
            Msg::NodesSynced(all) => {
                let keep: HashSet<String> = all.iter().map(|n| n.name.clone()).collect();
                let gone: Vec<String> = self
                    .cache
                    .nodes()
                    .iter()
                    .map(|i| i.name().to_string())
                    .filter(|n| !keep.contains(n))
                    .collect();
                for n in gone {
                    self.cache.remove_node(&n);
                }
                for n in all {
                    self.cache.upsert_node(n);
                }
                self.nodes_synced = true;
                self.queue.move_all_unschedulable(now);
            }
            Msg::Namespace(n, labels) => {
                self.cache.namespaces.insert(n, labels);
            }
            Msg::NamespaceDeleted(n) => {
                self.cache.namespaces.remove(&n);
            }
            Msg::NamespacesSynced(all) => self.cache.namespaces = all.into_iter().collect(),
            Msg::Budget(key, b) => {
                self.cache.budgets.insert(key, b);
            }
            Msg::BudgetDeleted(key) => {
                self.cache.budgets.remove(&key);
            }
            Msg::BudgetsSynced(all) => self.cache.budgets = all.into_iter().collect(),
            Msg::Workload(key, selector) => self.cache.workloads.upsert(key, selector),
            Msg::WorkloadDeleted(key) => self.cache.workloads.remove(&key),
            Msg::WorkloadsSynced(kind, all) => self.cache.workloads.replace(kind, all),
        }
    }

    fn pod_changed(&mut self, p: Arc<PodInfo>, now: Instant) {
        if !p.node_name.is_empty() || p.terminal {
            let was_bound = self.cache.remove_pod(&p.uid).is_some();
            self.queue.done(&p.uid);
            self.reported.remove(&p.uid);
            self.cache.update_bound_pod(p.clone());
            if p.terminal && was_bound {
                // Its resources are free now.
                self.queue.move_all_unschedulable(now);
            }
            return;
        }
        if !self.ours(&p) || p.terminating {
            self.queue.delete(&p.uid);
            self.cache.clear_nomination(&p.uid);
            return;
        }
        if self.cache.is_assumed(&p.uid) {
            // Bound by us a moment ago; the informer has not caught up.
            return;
        }
        if p.nominated_node.is_empty() {
            self.cache.clear_nomination(&p.uid);
        } else {
            self.cache.nominate(p.clone(), &p.nominated_node.clone());
        }
        self.queue.add_or_update(p, now);
    }

    fn pod_deleted(&mut self, uid: &str, now: Instant) {
        self.queue.delete(uid);
        self.cache.clear_nomination(uid);
        self.reported.remove(uid);
        if self.cache.remove_pod(uid).is_some() {
            self.queue.move_all_unschedulable(now);
        }
    }

    fn handle_done(&mut self, d: Done) {
        match d {
            Done::Bound { uid } => self.queue.done(&uid),
            Done::BindFailed { uid, gone } => {
                self.cache.forget(&uid);
                if gone {
                    self.queue.done(&uid);
                } else {
                    self.queue.error(&uid, Instant::now());
                }
            }
        }
    }

    fn schedule_one(&mut self, pod: Arc<PodInfo>, cycle: u64) {
        match self.alg.schedule(&self.cache, &pod) {
            Ok(d) => {
                debug!(pod = %pod.key(), node = %d.node, evaluated = d.evaluated, feasible = d.feasible, "scheduled");
                self.cache.assume(&pod, &d.node);
                self.reported.remove(&pod.uid);
                self.spawn_bind(pod, d.node);
            }
            Err(mut fit) => {
                let mut nominated = None;
                match preemption::preempt(&self.cache, &pod, &fit) {
                    Ok(p) => {
                        info!(pod = %pod.key(), node = %p.node, victims = p.victims.len(), "preempting");
                        let mut updated = (*pod).clone();
                        updated.nominated_node = p.node.clone();
                        self.cache.nominate(Arc::new(updated), &p.node);
                        self.spawn_preemption(&pod, &p);
                        nominated = Some(p.node);
                    }
                    Err(msg) => fit.post_filter_msg = Some(msg),
                }
                let message = fit.message();
                debug!(pod = %pod.key(), %message, "unschedulable");
                self.queue.unschedulable(&pod.uid, cycle, Instant::now());
                let already = self
                    .reported
                    .get(&pod.uid)
                    .or(pod.unschedulable_message.as_ref());
                if nominated.is_none() && already == Some(&message) {
                    return;
                }
                self.reported.insert(pod.uid.clone(), message.clone());
                self.events.record(PodEvent::new(
                    &pod,
                    "Warning",
                    "FailedScheduling",
                    "Scheduling",
                    message.clone(),
                ));
                let client = self.client.clone();
                tokio::spawn(async move {
                    if let Err(e) =
                        api::set_unschedulable(&client, &pod, &message, nominated.as_deref()).await
                    {
                        debug!(pod = %pod.key(), error = %e, "updating the PodScheduled condition failed");
                    }
                });
            }
        }
    }

    fn spawn_bind(&self, pod: Arc<PodInfo>, node: String) {
        let client = self.client.clone();
        let tx = self.done_tx.clone();
        let events = self.events.clone();
        let permits = self.binds.clone();
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let res = api::bind(&client, &pod, &node).await;
            let done = match res {
                Ok(()) => {
                    events.record(PodEvent::new(
                        &pod,
                        "Normal",
                        "Scheduled",
                        "Binding",
                        format!("Successfully assigned {} to {node}", pod.key()),
                    ));
                    Done::Bound {
                        uid: pod.uid.clone(),
                    }
                }
                Err(e) => {
                    let gone = matches!(&e, kube::Error::Api(s) if s.code == 404 || s.code == 409);
                    warn!(pod = %pod.key(), %node, error = %e, "binding failed");
                    Done::BindFailed {
                        uid: pod.uid.clone(),
                        gone,
                    }
                }
            };
            let _ = tx.send(done);
        });
    }

    fn spawn_preemption(&self, pod: &PodInfo, p: &preemption::Preemption) {
        let client = self.client.clone();
        let events = self.events.clone();
        let victims = p.victims.clone();
        let node = p.node.clone();
        let preemptor = pod.uid.clone();
        tokio::spawn(async move {
            for v in victims {
                match api::delete_victim(&client, &v).await {
                    Ok(()) => events.record(PodEvent::new(
                        &v,
                        "Normal",
                        "Preempted",
                        "Preempting",
                        format!("Preempted by pod {preemptor} on node {node}"),
                    )),
                    Err(e) => {
                        warn!(victim = %v.key(), error = %e, "deleting preemption victim failed")
                    }
                }
            }
        });
    }
}
