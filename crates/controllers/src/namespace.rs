//! Namespace lifecycle: a namespace being deleted is emptied — every namespaced object in it
//! deleted — and then its `kubernetes` finalizer is removed through `/finalize`, after which
//! the API server deletes it (upstream's namespace controller).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::resources::{served, Served};

const FINALIZER: &str = "kubernetes";

pub async fn run(client: Client, cancel: CancellationToken) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1024);
    let api: Api<Namespace> = Api::all(client.clone());
    let feeder = {
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            loop {
                let ev = tokio::select! {
                    e = stream.next() => e,
                    _ = cancel.cancelled() => return,
                };
                match ev {
                    Some(Ok(watcher::Event::Apply(ns)))
                    | Some(Ok(watcher::Event::InitApply(ns))) => {
                        if ns.metadata.deletion_timestamp.is_some() {
                            let _ = tx.send(ns.name_any()).await;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        debug!(error = %e, "namespace watch error; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    None => return,
                }
            }
        })
    };
    loop {
        let name = tokio::select! {
            n = rx.recv() => match n { Some(n) => n, None => break },
            _ = cancel.cancelled() => break,
        };
        match reconcile(&client, &name).await {
            Ok(true) => {}
            Ok(false) => {
                // Content remains (graceful deletions, finalizers): look again shortly.
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = tx.send(name).await;
                });
            }
            Err(e) => {
                warn!(namespace = %name, error = %e, "namespace cleanup failed; retrying");
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = tx.send(name).await;
                });
            }
        }
    }
    feeder.abort();
}

/// Deletes the namespace's content; returns true once the namespace is finalized.
pub async fn reconcile(client: &Client, name: &str) -> Result<bool, kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let Some(ns) = api.get_opt(name).await? else {
        return Ok(true);
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(true);
    }
    let types = served(client).await?;
    let mut remaining = 0usize;
    for t in types.iter().filter(|t| t.namespaced) {
        remaining += empty(client, t, name).await?;
    }
    if remaining > 0 {
        debug!(namespace = %name, remaining, "waiting for namespace content to go");
        return Ok(false);
    }
    let finalizers: Vec<String> = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if finalizers.iter().any(|f| f == FINALIZER) {
        let mut next = ns.clone();
        if let Some(spec) = next.spec.as_mut() {
            spec.finalizers = Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
        }
        api.replace_subresource("finalize", name, &PostParams::default(), &next)
            .await?;
        info!(namespace = %name, "namespace finalized");
    }
    Ok(true)
}

/// Deletes everything of type `t` in `ns`; returns how many objects are still there.
async fn empty(client: &Client, t: &Served, ns: &str) -> Result<usize, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &t.resource);
    let list = api.list_metadata(&ListParams::default()).await?;
    if list.items.is_empty() {
        return Ok(0);
    }
    let dp = DeleteParams::background();
    if t.supports(kube::discovery::verbs::DELETE_COLLECTION) {
        api.delete_collection(&dp, &ListParams::default()).await?;
    } else if t.supports(kube::discovery::verbs::DELETE) {
        for o in &list.items {
            match api.delete(&o.name_any(), &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    } else {
        return Ok(0);
    }
    let after = api.list_metadata(&ListParams::default()).await?;
    Ok(after.items.len())
}
