//! Watches of Pods, Nodes, Namespaces, PodDisruptionBudgets, and the Services and
//! controllers whose selectors default topology spreading uses (kube-runtime watchers with
//! backoff), turned into messages for the scheduling loop. A (re)list is delivered as one `*Synced` message with
//! every object, so the loop can drop what disappeared while the watch was down.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::disruption::Budget;
use crate::node::NodeData;
use crate::pod::PodInfo;
use crate::selector::{Labels, Selector};
use crate::spreading::{Kind, WorkloadKey};

#[derive(Debug)]
pub enum Msg {
    Pod(Arc<PodInfo>),
    PodDeleted(Arc<PodInfo>),
    PodsSynced(Vec<Arc<PodInfo>>),
    Node(NodeData),
    NodeDeleted(String),
    NodesSynced(Vec<NodeData>),
    Namespace(String, Labels),
    NamespaceDeleted(String),
    NamespacesSynced(Vec<(String, Labels)>),
    Budget(String, Budget),
    BudgetDeleted(String),
    BudgetsSynced(Vec<(String, Budget)>),
    Workload(WorkloadKey, Selector),
    WorkloadDeleted(WorkloadKey),
    WorkloadsSynced(Kind, Vec<(WorkloadKey, Selector)>),
}

/// Runs one watcher, converting objects with `conv` into messages.
async fn watch<K, T>(
    api: Api<K>,
    tx: mpsc::UnboundedSender<Msg>,
    cancel: CancellationToken,
    conv: fn(&K) -> T,
    apply: fn(T) -> Msg,
    delete: fn(T) -> Msg,
    synced: fn(Vec<T>) -> Msg,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let kind = std::any::type_name::<K>()
        .rsplit("::")
        .next()
        .unwrap_or("object");
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut buffer: Vec<T> = Vec::new();
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return,
            item = stream.next() => item,
        };
        let msg = match item {
            None => return,
            Some(Err(e)) => {
                warn!(kind, error = %e, "watch failed; retrying");
                continue;
            }
            Some(Ok(Event::Init)) => {
                buffer.clear();
                continue;
            }
            Some(Ok(Event::InitApply(o))) => {
                buffer.push(conv(&o));
                continue;
            }
            Some(Ok(Event::InitDone)) => synced(std::mem::take(&mut buffer)),
            Some(Ok(Event::Apply(o))) => apply(conv(&o)),
            Some(Ok(Event::Delete(o))) => delete(conv(&o)),
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

fn ns_entry(n: &Namespace) -> (String, Labels) {
    (
        n.metadata.name.clone().unwrap_or_default(),
        n.metadata.labels.clone().unwrap_or_default(),
    )
}

fn budget_entry(b: &PodDisruptionBudget) -> (String, Budget) {
    let key = format!(
        "{}/{}",
        b.metadata.namespace.as_deref().unwrap_or_default(),
        b.metadata.name.as_deref().unwrap_or_default()
    );
    (key, Budget::from_pdb(b))
}

fn workload_key<K: Resource>(kind: Kind, o: &K) -> WorkloadKey {
    let m = o.meta();
    (
        kind,
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

fn service_entry(s: &Service) -> (WorkloadKey, Selector) {
    let labels = s
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    (
        workload_key(Kind::Service, s),
        Selector::from_labels(&labels),
    )
}

fn replicaset_entry(r: &ReplicaSet) -> (WorkloadKey, Selector) {
    let sel = r.spec.as_ref().map(|s| &s.selector);
    (
        workload_key(Kind::ReplicaSet, r),
        sel.map(Selector::compile).unwrap_or_default(),
    )
}

fn statefulset_entry(s: &StatefulSet) -> (WorkloadKey, Selector) {
    let sel = s.spec.as_ref().map(|s| &s.selector);
    (
        workload_key(Kind::StatefulSet, s),
        sel.map(Selector::compile).unwrap_or_default(),
    )
}

fn controller_entry(r: &ReplicationController) -> (WorkloadKey, Selector) {
    let labels = r
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    (
        workload_key(Kind::ReplicationController, r),
        Selector::from_labels(&labels),
    )
}

/// Starts the watches; messages arrive on the returned receiver.
pub fn start(client: &Client, cancel: &CancellationToken) -> mpsc::UnboundedReceiver<Msg> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(watch(
        Api::<Pod>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        |p| Arc::new(PodInfo::from_pod(p)),
        Msg::Pod,
        Msg::PodDeleted,
        Msg::PodsSynced,
    ));
    tokio::spawn(watch(
        Api::<Node>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        NodeData::from_node,
        Msg::Node,
        |n: NodeData| Msg::NodeDeleted(n.name),
        Msg::NodesSynced,
    ));
    tokio::spawn(watch(
        Api::<PodDisruptionBudget>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        budget_entry,
        |(k, b)| Msg::Budget(k, b),
        |(k, _)| Msg::BudgetDeleted(k),
        Msg::BudgetsSynced,
    ));
    let workload = |(k, s)| Msg::Workload(k, s);
    let workload_deleted = |(k, _): (WorkloadKey, Selector)| Msg::WorkloadDeleted(k);
    tokio::spawn(watch(
        Api::<Service>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        service_entry,
        workload,
        workload_deleted,
        |all| Msg::WorkloadsSynced(Kind::Service, all),
    ));
    tokio::spawn(watch(
        Api::<ReplicaSet>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        replicaset_entry,
        workload,
        workload_deleted,
        |all| Msg::WorkloadsSynced(Kind::ReplicaSet, all),
    ));
    tokio::spawn(watch(
        Api::<StatefulSet>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        statefulset_entry,
        workload,
        workload_deleted,
        |all| Msg::WorkloadsSynced(Kind::StatefulSet, all),
    ));
    tokio::spawn(watch(
        Api::<ReplicationController>::all(client.clone()),
        tx.clone(),
        cancel.clone(),
        controller_entry,
        workload,
        workload_deleted,
        |all| Msg::WorkloadsSynced(Kind::ReplicationController, all),
    ));
    tokio::spawn(watch(
        Api::<Namespace>::all(client.clone()),
        tx,
        cancel.clone(),
        ns_entry,
        |(n, l)| Msg::Namespace(n, l),
        |(n, _)| Msg::NamespaceDeleted(n),
        Msg::NamespacesSynced,
    ));
    rx
}
