//! Wires the workload controllers to shared informers: one watch per type (pods,
//! ReplicaSets, Deployments, Jobs, CronJobs, DaemonSets, StatefulSets, ControllerRevisions,
//! PVCs, Nodes, Namespaces, ServiceAccounts) serves every controller that reads that type,
//! as kube-controller-manager's shared informer factory does.

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::cronjob::CronJobController;
use crate::daemonset::DaemonSetController;
use crate::deployment::DeploymentController;
use crate::endpointslice::EndpointSliceController;
use crate::informer::Informer;
use crate::job::JobController;
use crate::node_ipam::{Cidr, NodeIpamController};
use crate::replicaset::ReplicaSetController;
use crate::serviceaccount::ServiceAccountController;
use crate::statefulset::StatefulSetController;

/// Runs the ReplicaSet, Deployment, Job, CronJob, DaemonSet, StatefulSet, ServiceAccount,
/// EndpointSlice/Endpoints and node IPAM controllers until `cancel` fires. `cluster_cidr` is the pod range nodes get /24s of.
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
    let mut jobs = Informer::<Job>::new(Api::all(client.clone()));
    let mut cronjobs = Informer::<CronJob>::new(Api::all(client.clone()));
    let mut daemonsets = Informer::<DaemonSet>::new(Api::all(client.clone()));
    let mut statefulsets = Informer::<StatefulSet>::new(Api::all(client.clone()));
    let mut revisions = Informer::<ControllerRevision>::new(Api::all(client.clone()));
    let mut claims = Informer::<PersistentVolumeClaim>::new(Api::all(client.clone()));
    let job = JobController::new(client.clone(), &mut jobs, &mut pods, cancel.clone());
    let cron = CronJobController::new(client.clone(), &mut cronjobs, &mut jobs, cancel.clone());
    let ds = DaemonSetController::new(
        client.clone(),
        &mut daemonsets,
        &mut pods,
        &mut nodes,
        &mut revisions,
        cancel.clone(),
    );
    let sts = StatefulSetController::new(
        client.clone(),
        &mut statefulsets,
        &mut pods,
        &mut claims,
        &mut revisions,
        cancel.clone(),
    );
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
        jobs.spawn(cancel.clone()),
        cronjobs.spawn(cancel.clone()),
        daemonsets.spawn(cancel.clone()),
        statefulsets.spawn(cancel.clone()),
        revisions.spawn(cancel.clone()),
        claims.spawn(cancel.clone()),
        tokio::spawn(job.run(cancel.clone())),
        tokio::spawn(cron.run(cancel.clone())),
        tokio::spawn(ds.run(cancel.clone())),
        tokio::spawn(sts.run(cancel.clone())),
    ];
    let mut tasks = tasks;
    if let Some(ipam) = ipam {
        tasks.push(tokio::spawn(ipam.run(cancel)));
    }
    futures::future::join_all(tasks).await;
}
