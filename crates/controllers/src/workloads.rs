//! Wires the workload controllers to shared informers: one watch per type (pods,
//! ReplicaSets, Deployments, Namespaces, ServiceAccounts) serves every controller that
//! reads that type, as kube-controller-manager's shared informer factory does.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::deployment::DeploymentController;
use crate::endpointslice::EndpointSliceController;
use crate::informer::Informer;
use crate::node_ipam::{Cidr, NodeIpamController};
use crate::replicaset::ReplicaSetController;
use crate::serviceaccount::ServiceAccountController;

/// Runs the ReplicaSet, Deployment, ServiceAccount, EndpointSlice/Endpoints and node IPAM
/// controllers until `cancel` fires. `cluster_cidr` is the pod range nodes get /24s of.
pub async fn run(client: Client, cluster_cidr: Option<Cidr>, cancel: CancellationToken) {
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
    let sa = ServiceAccountController::new(
        client.clone(),
        &mut namespaces,
        &mut accounts,
        cancel.clone(),
    );
    let mut services = Informer::<Service>::new(Api::all(client.clone()));
    let mut slices = Informer::<EndpointSlice>::new(Api::all(client.clone()));
    let eps = EndpointSliceController::new(
        client.clone(),
        &mut services,
        &mut pods,
        &mut slices,
        cancel.clone(),
    );
    let mut nodes = Informer::<Node>::new(Api::all(client.clone()));
    let ipam = cluster_cidr.map(|c| NodeIpamController::new(client, c, &mut nodes, cancel.clone()));

    let tasks = vec![
        pods.spawn(cancel.clone()),
        replicasets.spawn(cancel.clone()),
        deployments.spawn(cancel.clone()),
        namespaces.spawn(cancel.clone()),
        accounts.spawn(cancel.clone()),
        tokio::spawn(rs.run(cancel.clone())),
        tokio::spawn(deploy.run(cancel.clone())),
        services.spawn(cancel.clone()),
        slices.spawn(cancel.clone()),
        nodes.spawn(cancel.clone()),
        tokio::spawn(eps.run(cancel.clone())),
        tokio::spawn(sa.run(cancel.clone())),
    ];
    let mut tasks = tasks;
    if let Some(ipam) = ipam {
        tasks.push(tokio::spawn(ipam.run(cancel)));
    }
    futures::future::join_all(tasks).await;
}
