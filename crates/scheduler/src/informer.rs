//! Watches of Pods, Nodes, Namespaces and PodDisruptionBudgets (kube-runtime watchers with backoff), turned into
//! messages for the scheduling loop. A (re)list is delivered as one `*Synced` message with
//! every object, so the loop can drop what disappeared while the watch was down.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
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
use crate::selector::Labels;

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
