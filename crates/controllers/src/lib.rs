//! The controller manager: one module per controller, each following the Kubernetes
//! pattern — informers (kube-rs watchers) feed a work queue of keys, and an idempotent
//! `reconcile(key)` converges the cluster. Controllers are API clients like any other: they
//! never touch the store.

pub mod garbage_collector;
pub mod namespace;
mod resources;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Runs every controller until `cancel` fires.
pub async fn run(client: Client, cancel: CancellationToken) {
    info!("controller manager starting");
    let gc = tokio::spawn(garbage_collector::run(client.clone(), cancel.clone()));
    let ns = tokio::spawn(namespace::run(client.clone(), cancel.clone()));
    let _ = tokio::join!(gc, ns);
}
