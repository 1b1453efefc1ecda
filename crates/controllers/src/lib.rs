//! The controller manager: one module per controller, each following the Kubernetes
//! pattern — informers (kube-rs watchers) feed a work queue of keys, and an idempotent
//! `reconcile(key)` converges the cluster. Controllers are API clients like any other: they
//! never touch the store.

mod claim;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpointslice;
mod events;
mod expectations;
pub mod garbage_collector;
mod history;
pub mod informer;
pub mod job;
pub mod namespace;
pub mod node_ipam;
mod pod_order;
mod queue;
pub mod replicaset;
mod resources;
pub mod serviceaccount;
pub mod statefulset;
mod util;
pub mod workloads;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Runs every controller until `cancel` fires. `cluster_cidr` (e.g. `10.42.0.0/16`) enables
/// node IPAM.
pub async fn run(client: Client, cluster_cidr: Option<&str>, cancel: CancellationToken) {
    let cidr = cluster_cidr.and_then(node_ipam::Cidr::parse);
    info!("controller manager starting");
    let gc = tokio::spawn(garbage_collector::run(client.clone(), cancel.clone()));
    let ns = tokio::spawn(namespace::run(client.clone(), cancel.clone()));
    let workloads = tokio::spawn(workloads::run(client.clone(), cidr, cancel.clone()));
    let _ = tokio::join!(gc, ns, workloads);
}
