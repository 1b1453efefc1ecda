//! The controller manager: one module per controller, each following the Kubernetes
//! pattern — informers (kube-rs watchers) feed a work queue of keys, and an idempotent
//! `reconcile(key)` converges the cluster. Controllers are API clients like any other: they
//! never touch the store.
//!
//! Like kube-controller-manager, the controllers run only while this process holds the
//! `kube-system/kube-controller-manager` Lease ([`leader`]).

mod claim;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpointslice;
mod events;
mod expectations;
pub mod garbage_collector;
mod history;
pub mod hpa;
pub mod informer;
pub mod job;
pub use rkube_leader as leader;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
mod pod_order;
mod queue;
pub mod replicaset;
pub mod resourcequota;
mod resources;
pub mod root_ca;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
pub mod taint_eviction;
mod util;
pub mod workloads;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use hpa::HpaConfig;
pub use leader::LeaderElectionConfig;
pub use node_lifecycle::NodeLifecycleConfig;

/// The Lease the controller manager campaigns for (upstream's name and namespace).
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "kube-controller-manager";

/// How [`run_with`] runs the controllers.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pod range nodes get /24s of (e.g. `10.42.0.0/16`); `None` disables node IPAM.
    pub cluster_cidr: Option<String>,
    pub node_lifecycle: NodeLifecycleConfig,
    pub hpa: HpaConfig,
    /// Lease and timings to campaign with; `None` runs without leader election (a single
    /// manager that never shares the cluster).
    pub leader_election: Option<LeaderElectionConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cluster_cidr: None,
            node_lifecycle: NodeLifecycleConfig::default(),
            hpa: HpaConfig::default(),
            leader_election: Some(LeaderElectionConfig::new(LEASE_NAMESPACE, LEASE_NAME)),
        }
    }
}

/// Campaigns for the controller manager's Lease and runs every controller while holding it,
/// until `cancel` fires. `cluster_cidr` (e.g. `10.42.0.0/16`) enables node IPAM.
pub async fn run(client: Client, cluster_cidr: Option<&str>, cancel: CancellationToken) {
    let opts = Options {
        cluster_cidr: cluster_cidr.map(String::from),
        ..Options::default()
    };
    run_with(client, opts, cancel).await;
}

/// [`run`] with every setting explicit.
pub async fn run_with(client: Client, opts: Options, cancel: CancellationToken) {
    match opts.leader_election.clone() {
        Some(cfg) => {
            let elector = leader::LeaderElector::new(client.clone(), cfg);
            elector
                .run(cancel, |lead| {
                    run_controllers(client.clone(), opts.clone(), lead)
                })
                .await;
        }
        None => run_controllers(client, opts, cancel).await,
    }
}

/// Every controller, until `cancel` (the end of leadership or of the process).
async fn run_controllers(client: Client, opts: Options, cancel: CancellationToken) {
    let cidr = opts
        .cluster_cidr
        .as_deref()
        .and_then(node_ipam::Cidr::parse);
    info!("controller manager starting");
    let gc = tokio::spawn(garbage_collector::run(client.clone(), cancel.clone()));
    let ns = tokio::spawn(namespace::run(client.clone(), cancel.clone()));
    let workloads = tokio::spawn(workloads::run_with(
        client.clone(),
        cidr,
        opts,
        cancel.clone(),
    ));
    let _ = tokio::join!(gc, ns, workloads);
    info!("controller manager stopped");
}
