//! Wires the workload controllers to shared informers: one watch per type (pods,
//! ReplicaSets, Deployments, Jobs, CronJobs, DaemonSets, StatefulSets, ControllerRevisions,
//! PVCs, Nodes, node Leases, Namespaces, ServiceAccounts, PodDisruptionBudgets, HPAs) serves every controller that reads that type,
//! as kube-controller-manager's shared informer factory does.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolumeClaim, Pod, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::cronjob::CronJobController;
use crate::daemonset::DaemonSetController;
use crate::deployment::DeploymentController;
use crate::disruption::DisruptionController;
use crate::endpointslice::EndpointSliceController;
use crate::hpa::{HpaController, MetricsApi};
use crate::informer::Informer;
use crate::job::JobController;
use crate::node_ipam::{Cidr, NodeIpamController};
use crate::node_lifecycle::NodeLifecycleController;
use crate::replicaset::ReplicaSetController;
use crate::resourcequota::ResourceQuotaController;
use crate::root_ca::RootCaController;
use crate::serviceaccount::ServiceAccountController;
use crate::servicelb::ServiceLbController;
use crate::statefulset::StatefulSetController;
use crate::taint_eviction::TaintEvictionController;

/// Runs the ReplicaSet, Deployment, Job, CronJob, DaemonSet, StatefulSet, ServiceAccount,
/// EndpointSlice/Endpoints, node IPAM, node lifecycle, taint eviction, disruption and HPA
/// controllers with default settings until `cancel` fires. `cluster_cidr` is the pod range
/// nodes get /24s of.
pub async fn run(client: Client, cluster_cidr: Option<Cidr>, cancel: CancellationToken) {
    run_with(client, cluster_cidr, crate::Options::default(), cancel).await;
}

/// [`run`] with the node lifecycle and HPA settings of `opts`.
pub async fn run_with(
    client: Client,
    cluster_cidr: Option<Cidr>,
    opts: crate::Options,
    cancel: CancellationToken,
) {
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
    let mut root_ca_maps = RootCaController::informer(&client);
    let root_ca = RootCaController::new(
        client.clone(),
        &mut namespaces,
        &mut root_ca_maps,
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
    let mut leases = Informer::<Lease>::new(Api::namespaced(
        client.clone(),
        crate::node_lifecycle::NODE_LEASE_NAMESPACE,
    ));
    let lifecycle = NodeLifecycleController::new(
        client.clone(),
        opts.node_lifecycle.clone(),
        &mut nodes,
        &mut leases,
        &mut pods,
        cancel.clone(),
    );
    let eviction =
        TaintEvictionController::new(client.clone(), &mut nodes, &mut pods, cancel.clone());
    let mut pdbs = Informer::<PodDisruptionBudget>::new(Api::all(client.clone()));
    let disruption = DisruptionController::new(
        client.clone(),
        &mut pdbs,
        &mut pods,
        &mut replicasets,
        &mut deployments,
        &mut statefulsets,
        cancel.clone(),
    );
    let mut hpas = Informer::<HorizontalPodAutoscaler>::new(Api::all(client.clone()));
    let hpa = HpaController::new(
        client.clone(),
        opts.hpa.clone(),
        Arc::new(MetricsApi::new(client.clone())),
        &mut hpas,
        &mut pods,
        cancel.clone(),
    );
    let servicelb =
        ServiceLbController::new(client.clone(), &mut services, &mut nodes, cancel.clone());
    let mut quotas = Informer::<ResourceQuota>::new(Api::all(client.clone()));
    let quota =
        ResourceQuotaController::new(client.clone(), &mut quotas, &mut pods, cancel.clone());
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
        root_ca_maps.spawn(cancel.clone()),
        tokio::spawn(root_ca.run(cancel.clone())),
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
        leases.spawn(cancel.clone()),
        pdbs.spawn(cancel.clone()),
        hpas.spawn(cancel.clone()),
        tokio::spawn(lifecycle.run(cancel.clone())),
        tokio::spawn(eviction.run(cancel.clone())),
        tokio::spawn(disruption.run(cancel.clone())),
        tokio::spawn(hpa.run(cancel.clone())),
        tokio::spawn(servicelb.run(cancel.clone())),
        quotas.spawn(cancel.clone()),
        tokio::spawn(quota.run(cancel.clone())),
    ];
    let mut tasks = tasks;
    if let Some(ipam) = ipam {
        tasks.push(tokio::spawn(ipam.run(cancel)));
    }
    futures::future::join_all(tasks).await;
}
