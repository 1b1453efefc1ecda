//! The scheduler: watches unbound pods, filters and scores nodes, and binds through
//! `pods/binding`. It is an API client like any other and never touches the store.
//!
//! Upstream's kube-scheduler is the specification: the default profile's filters
//! (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
//! PodTopologySpread, InterPodAffinity) and scores with their weights, the queue (priority,
//! then age; backoff; unschedulable pods retried on cluster changes), preemption, the
//! `FailedScheduling` messages word for word, and leader election with a Lease.
//!
//! Layout: [`pod`] and [`node`] parse objects once into what the plugins read; [`cache`] holds
//! nodes with their pods (assumed ones included); [`plugins`] are the filters and scores;
//! [`algorithm`] is the pure algorithm (benchmarks drive it directly); [`preemption`] picks
//! victims; [`queue`] orders pending pods; [`scheduler`] is the loop that ties them to the
//! API; [`leader`] is the reusable Lease-based leader election.
//!
//! Not done (as upstream's defaults would): volume plugins (VolumeBinding, VolumeZone,
//! VolumeRestrictions, NodeVolumeLimits), ImageLocality, system default topology spreading,
//! PodDisruptionBudgets in preemption.

pub mod algorithm;
pub mod api;
pub mod cache;
pub mod disruption;
pub mod fit_error;
mod informer;
pub use rkube_leader as leader;
pub mod node;
pub mod plugins;
pub mod pod;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod scheduler;
pub mod selector;
pub mod spreading;

use kube::Client;
use tokio_util::sync::CancellationToken;

pub use crate::algorithm::{Algorithm, Decision, Options};
pub use crate::leader::{LeaderElectionConfig, LeaderElector};
pub use crate::scheduler::{schedule_loop, SchedulerConfig};

/// The Lease the scheduler holds while it schedules (`kube-system/kube-scheduler`).
pub const LEASE_NAME: &str = "kube-scheduler";
pub const LEASE_NAMESPACE: &str = "kube-system";

/// Runs the scheduler until `cancel`: campaigns for the `kube-system/kube-scheduler` Lease
/// and schedules pods while it holds it (several replicas may run; one schedules).
pub async fn run(client: Client, cancel: CancellationToken) {
    run_with(client, cancel, SchedulerConfig::default()).await;
}

/// [`run`] with a configuration (scheduler name, `percentageOfNodesToScore`, identity).
pub async fn run_with(client: Client, cancel: CancellationToken, cfg: SchedulerConfig) {
    let mut le = LeaderElectionConfig::new(LEASE_NAMESPACE, LEASE_NAME);
    le.identity = cfg.identity.clone();
    let elector = LeaderElector::new(client.clone(), le);
    elector
        .run(cancel, move |lead| {
            schedule_loop(client.clone(), lead, cfg.clone())
        })
        .await;
}
