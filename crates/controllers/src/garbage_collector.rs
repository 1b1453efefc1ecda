//! The garbage collector: keeps a graph of every object's ownerReferences (from metadata
//! watches of all resource types) and
//! * deletes dependents whose owners are all gone (background cascading deletion),
//! * for an owner deleted with `propagationPolicy: Foreground` (finalizer
//!   `foregroundDeletion`), deletes its dependents and lets it go once those with
//!   `blockOwnerDeletion` are gone,
//! * for `Orphan` (finalizer `orphan`), removes the owner from its dependents'
//!   ownerReferences and then lets it go.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::resources::served;

const FOREGROUND: &str = "foregroundDeletion";

/// Types the collector never watches, as upstream's `DefaultIgnoredResources`: events are
/// the busiest type and never own anything, and their TTL removes them anyway.
fn ignored(ar: &ApiResource) -> bool {
    ar.plural == "events" && (ar.group.is_empty() || ar.group == "events.k8s.io")
}
const ORPHAN: &str = "orphan";

#[derive(Clone, Debug)]
struct Node {
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    finalizers: Vec<String>,
    deleting: bool,
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    /// owner uid → dependent uids
    dependents: HashMap<String, HashSet<String>>,
    /// Resource types whose initial list has arrived.
    synced: HashSet<String>,
    watched: HashSet<String>,
}

impl Graph {
    fn upsert(&mut self, uid: String, node: Node) {
        if let Some(old) = self.nodes.get(&uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(&uid);
                }
            }
        }
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.nodes.insert(uid, node);
    }

    fn remove(&mut self, uid: &str) {
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(uid);
                }
            }
        }
    }

    fn all_synced(&self) -> bool {
        self.watched.iter().all(|w| self.synced.contains(w))
    }
}

fn type_key(ar: &ApiResource) -> String {
    format!("{}/{}", ar.api_version, ar.plural)
}

pub async fn run(client: Client, cancel: CancellationToken) {
    let graph = Arc::new(Mutex::new(Graph::default()));
    let (tx, mut rx) = mpsc::channel::<String>(4096);
    // Discover types now and every 30 s (CRDs), watching each new one.
    {
        let (client, graph, tx, cancel) =
            (client.clone(), graph.clone(), tx.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                match served(&client).await {
                    Ok(types) => {
                        for t in types
                            .into_iter()
                            .filter(|t| t.supports("delete") && !ignored(&t.resource))
                        {
                            let key = type_key(&t.resource);
                            let new = graph
                                .lock()
                                .map(|mut g| g.watched.insert(key))
                                .unwrap_or(false);
                            if new {
                                tokio::spawn(watch_type(
                                    client.clone(),
                                    t.resource,
                                    graph.clone(),
                                    tx.clone(),
                                    cancel.clone(),
                                ));
                            }
                        }
                    }
                    Err(e) => warn!(error = %e, "garbage collector: discovery failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = cancel.cancelled() => return,
                }
            }
        });
    }
    // Periodically look at every node: owners may vanish while we were not watching.
    {
        let (graph, tx, cancel) = (graph.clone(), tx.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(20)) => {}
                    _ = cancel.cancelled() => return,
                }
                let uids: Vec<String> = graph
                    .lock()
                    .map(|g| {
                        g.nodes
                            .iter()
                            .filter(|(_, n)| !n.owners.is_empty() || n.deleting)
                            .map(|(u, _)| u.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for u in uids {
                    let _ = tx.send(u).await;
                }
            }
        });
    }
    loop {
        let uid = tokio::select! {
            u = rx.recv() => match u { Some(u) => u, None => return },
            _ = cancel.cancelled() => return,
        };
        if !graph.lock().map(|g| g.all_synced()).unwrap_or(false) {
            // Decisions need the whole graph; retry once every type has listed.
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = tx.send(uid).await;
            });
            continue;
        }
        if let Err(e) = reconcile(&client, &graph, &uid, &tx).await {
            debug!(%uid, error = %e, "garbage collector: retrying");
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = tx.send(uid).await;
            });
        }
    }
}

async fn watch_type(
    client: Client,
    ar: ApiResource,
    graph: Arc<Mutex<Graph>>,
    tx: mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &ar);
    let key = type_key(&ar);
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    loop {
        let ev = tokio::select! {
            e = stream.next() => e,
            _ = cancel.cancelled() => return,
        };
        let mut touched: Vec<String> = Vec::new();
        match ev {
            Some(Ok(watcher::Event::Apply(o))) | Some(Ok(watcher::Event::InitApply(o))) => {
                if let Some((uid, node)) = to_node(&ar, &o) {
                    touched.push(uid.clone());
                    if let Ok(mut g) = graph.lock() {
                        // Dependents of a node being deleted need a look too.
                        if node.deleting {
                            touched.extend(g.dependents.get(&uid).into_iter().flatten().cloned());
                        }
                        g.upsert(uid, node);
                    }
                }
            }
            Some(Ok(watcher::Event::Delete(o))) => {
                if let Some(uid) = o.metadata.uid.clone() {
                    if let Ok(mut g) = graph.lock() {
                        touched.extend(g.dependents.get(&uid).into_iter().flatten().cloned());
                        // Owners waiting in foreground for this dependent.
                        if let Some(n) = g.nodes.get(&uid) {
                            touched.extend(n.owners.iter().map(|o| o.uid.clone()));
                        }
                        g.remove(&uid);
                    }
                }
            }
            Some(Ok(watcher::Event::Init)) => {}
            Some(Ok(watcher::Event::InitDone)) => {
                if let Ok(mut g) = graph.lock() {
                    g.synced.insert(key.clone());
                }
            }
            Some(Err(e)) => {
                debug!(resource = %key, error = %e, "garbage collector watch error; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            None => return,
        }
        for u in touched {
            let _ = tx.send(u).await;
        }
    }
}

fn to_node(ar: &ApiResource, o: &PartialObjectMeta<DynamicObject>) -> Option<(String, Node)> {
    let uid = o.metadata.uid.clone()?;
    Some((
        uid,
        Node {
            resource: ar.clone(),
            namespace: o.metadata.namespace.clone(),
            name: o.name_any(),
            owners: o.metadata.owner_references.clone().unwrap_or_default(),
            finalizers: o.metadata.finalizers.clone().unwrap_or_default(),
            deleting: o.metadata.deletion_timestamp.is_some(),
        },
    ))
}

fn api_for(client: &Client, n: &Node) -> Api<DynamicObject> {
    match &n.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &n.resource),
        None => Api::all_with(client.clone(), &n.resource),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

async fn reconcile(
    client: &Client,
    graph: &Arc<Mutex<Graph>>,
    uid: &str,
    tx: &mpsc::Sender<String>,
) -> Result<(), kube::Error> {
    // Each dependent with whether it has dependents of its own.
    let (node, dependents) = {
        let Ok(g) = graph.lock() else { return Ok(()) };
        let Some(n) = g.nodes.get(uid).cloned() else {
            return Ok(());
        };
        let deps: Vec<(String, Node, bool)> = g
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let has_own = g.dependents.get(d).is_some_and(|s| !s.is_empty());
                g.nodes.get(d).map(|n| (d.clone(), n.clone(), has_own))
            })
            .collect();
        (n, deps)
    };
    let api = api_for(client, &node);

    if node.deleting && node.finalizers.iter().any(|f| f == ORPHAN) {
        for (duid, dep, _) in &dependents {
            let owners: Vec<&OwnerReference> = dep.owners.iter().filter(|o| o.uid != uid).collect();
            let patch = json!({"metadata": {"ownerReferences": owners, "uid": duid}});
            match api_for(client, dep)
                .patch(&dep.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        remove_finalizer(&api, &node, ORPHAN).await?;
        info!(name = %node.name, kind = %node.resource.kind, orphaned = dependents.len(), "orphaned dependents");
        return Ok(());
    }

    if node.deleting && node.finalizers.iter().any(|f| f == FOREGROUND) {
        // Every dependent is deleted (in the foreground only if it has dependents of its
        // own), but as upstream the owner waits only for those that block its deletion.
        let mut waiting = 0;
        for (_, dep, has_own) in &dependents {
            let blocks = dep
                .owners
                .iter()
                .any(|o| o.uid == uid && o.block_owner_deletion == Some(true));
            if blocks {
                waiting += 1;
            }
            if !dep.deleting {
                let policy = if *has_own {
                    DeleteParams::foreground()
                } else {
                    DeleteParams::background()
                };
                match api_for(client, dep).delete(&dep.name, &policy).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) && blocks => waiting -= 1,
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if waiting == 0 {
            remove_finalizer(&api, &node, FOREGROUND).await?;
            info!(name = %node.name, kind = %node.resource.kind, "foreground deletion complete");
        }
        return Ok(());
    }

    // Dangling: every owner gone (checked against the API, not just the graph).
    if node.owners.is_empty() || node.deleting {
        return Ok(());
    }
    let mut alive = false;
    for o in &node.owners {
        let present = graph
            .lock()
            .map(|g| g.nodes.contains_key(&o.uid))
            .unwrap_or(true);
        if present || owner_exists(client, &node, o).await? {
            alive = true;
            break;
        }
    }
    if !alive {
        match api.delete(&node.name, &DeleteParams::background()).await {
            Ok(_) => {
                info!(name = %node.name, kind = %node.resource.kind, "deleted dependent whose owners are gone")
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        let _ = tx.try_send(uid.to_string());
    }
    Ok(())
}

/// Looks an owner up by name and checks its uid (the graph may lag behind).
async fn owner_exists(
    client: &Client,
    dependent: &Node,
    o: &OwnerReference,
) -> Result<bool, kube::Error> {
    let (group, version) = match o.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), o.api_version.clone()),
    };
    let discovered = crate::resources::served(client).await?;
    let Some(t) = discovered
        .into_iter()
        .find(|t| t.resource.group == group && t.resource.kind == o.kind)
    else {
        // Unknown kind: its owner cannot exist.
        return Ok(false);
    };
    let _ = version;
    let api: Api<DynamicObject> = match (&dependent.namespace, t.namespaced) {
        (Some(ns), true) => Api::namespaced_with(client.clone(), ns, &t.resource),
        _ => Api::all_with(client.clone(), &t.resource),
    };
    match api.get_metadata_opt(&o.name).await? {
        Some(m) => Ok(m.metadata.uid.as_deref() == Some(o.uid.as_str())),
        None => Ok(false),
    }
}

async fn remove_finalizer(
    api: &Api<DynamicObject>,
    node: &Node,
    finalizer: &str,
) -> Result<(), kube::Error> {
    let rest: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
    let patch = json!({"metadata": {"finalizers": rest}});
    match api
        .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(group: &str, plural: &str) -> ApiResource {
        ApiResource {
            group: group.into(),
            version: "v1".into(),
            api_version: if group.is_empty() {
                "v1".into()
            } else {
                format!("{group}/v1")
            },
            kind: "X".into(),
            plural: plural.into(),
        }
    }

    #[test]
    fn events_are_not_watched() {
        assert!(ignored(&ar("", "events")));
        assert!(ignored(&ar("events.k8s.io", "events")));
        assert!(!ignored(&ar("", "pods")));
        assert!(!ignored(&ar("example.com", "events")));
    }
}
