//! Wires the workload controllers to shared informers: one watch per type (pods,
//! ReplicaSets, Deployments, Namespaces, ServiceAccounts) serves every controller that
//! reads that type, as kube-controller-manager's shared informer factory does.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::deployment::DeploymentController;
use crate::informer::Informer;
use crate::replicaset::ReplicaSetController;
use crate::serviceaccount::ServiceAccountController;

/// Runs the ReplicaSet, Deployment and ServiceAccount controllers until `cancel` fires.
pub async fn run(client: Client, cancel: CancellationToken) {
    let mut pods = Informer::<Pod>::new(Api::all(client.clone()));
    let mut replicasets = Informer::<ReplicaSet>::new(Api::all(client.clone()));
    let mut deployments = Informer::<Deployment>::new(Api::all(client.clone()));
    let mut namespaces = Informer::<Namespace>::new(Api::all(client.clone()));
    let mut accounts = Informer::<ServiceAccount>::new(Api::all(client.clone()));

    let rs = ReplicaSetController::new(client.clone(), &mut replicasets, &mut pods, cancel.clone());
    let deploy = DeploymentController::new(
        client.clone(),
        &mut deployments,
        &mut replicasets,
        &mut pods,
        cancel.clone(),
    );
    let sa = ServiceAccountController::new(client, &mut namespaces, &mut accounts, cancel.clone());

    let tasks = vec![
        pods.spawn(cancel.clone()),
        replicasets.spawn(cancel.clone()),
        deployments.spawn(cancel.clone()),
        namespaces.spawn(cancel.clone()),
        accounts.spawn(cancel.clone()),
        tokio::spawn(rs.run(cancel.clone())),
        tokio::spawn(deploy.run(cancel.clone())),
        tokio::spawn(sa.run(cancel)),
    ];
    futures::future::join_all(tasks).await;
}
