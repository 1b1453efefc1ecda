//! The resource quota controller: keeps each ResourceQuota's `status.hard` (a copy of the
//! spec) and `status.used` (what the namespace's objects use, by the same rules the API
//! server's admission counts with, scopes included) current. Pod and quota changes sync at once; other
//! counted kinds are caught by a periodic full resync, as upstream's is.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use rkube_apimachinery::quota::{format, in_scope, pod_counts, usage, Usage};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;

const WORKERS: usize = 1;
const RESYNC: Duration = Duration::from_secs(15);

/// Kinds whose objects a quota can count: (group, version, kind, plural).
const COUNTED: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "pods"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("", "v1", "ReplicationController", "replicationcontrollers"),
    ("", "v1", "ResourceQuota", "resourcequotas"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("batch", "v1", "Job", "jobs"),
    ("batch", "v1", "CronJob", "cronjobs"),
];

/// Whether quota resource `name` is counted from objects of `plural` in `group`.
fn counts(name: &str, group: &str, plural: &str) -> bool {
    let count_key = if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    };
    if name == count_key {
        return true;
    }
    if !group.is_empty() {
        return false;
    }
    match plural {
        "pods" => {
            name == "pods"
                || name == "cpu"
                || name == "memory"
                || name.starts_with("requests.") && name != "requests.storage"
                || name.starts_with("limits.")
        }
        "services" => name.starts_with("services"),
        "persistentvolumeclaims" => name == "persistentvolumeclaims" || name == "requests.storage",
        p => name == p,
    }
}

pub struct ResourceQuotaController {
    client: Client,
    quotas: Arc<Cache<ResourceQuota>>,
    queue: Arc<WorkQueue>,
}

impl ResourceQuotaController {
    pub fn new(
        client: Client,
        quota_informer: &mut Informer<ResourceQuota>,
        pod_informer: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(ResourceQuotaController {
            client,
            quotas: quota_informer.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        quota_informer.on(Box::new(move |old, new| {
            if let Some(o) = new.or(old) {
                q.add(o.namespace().unwrap_or_default());
            }
        }));
        let (q, quotas) = (this.queue.clone(), this.quotas.clone());
        pod_informer.on(Box::new(move |old, new| {
            if let Some(p) = new.or(old) {
                let ns = p.namespace().unwrap_or_default();
                if !quotas.list(&ns).is_empty() {
                    q.add(ns);
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = self.quotas.wait_synced() => {}
            _ = cancel.cancelled() => return,
        }
        info!("resourcequota controller started");
        let (queue, quotas, c) = (self.queue.clone(), self.quotas.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RESYNC) => {}
                    _ = c.cancelled() => return,
                }
                let namespaces: BTreeSet<String> = quotas
                    .list_all()
                    .iter()
                    .map(|q| q.namespace().unwrap_or_default())
                    .collect();
                for ns in namespaces {
                    queue.add(ns);
                }
            }
        });
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "resourcequota", move |ns| {
                let c = this.clone();
                async move { c.sync(&ns).await }
            })
            .await;
    }

    /// Recomputes `status` of every quota in namespace `ns`.
    pub async fn sync(&self, ns: &str) -> Result<(), kube::Error> {
        let quotas = self.quotas.list(ns);
        if quotas.is_empty() {
            return Ok(());
        }
        let names: BTreeSet<String> = quotas
            .iter()
            .flat_map(|q| {
                q.spec
                    .as_ref()
                    .and_then(|s| s.hard.as_ref())
                    .map(|h| h.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        // Every counted object with its usage; each quota sums those its scopes select.
        let mut objects: Vec<(&str, &str, Value, Usage)> = Vec::new();
        for (group, version, kind, plural) in COUNTED {
            if !names.iter().any(|n| counts(n, group, plural)) {
                continue;
            }
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
            for obj in api.list(&ListParams::default()).await? {
                let v = serde_json::to_value(&obj).unwrap_or(Value::Null);
                if *plural == "pods" && !pod_counts(&v) {
                    continue;
                }
                let u = usage(group, plural, &v);
                objects.push((group, plural, v, u));
            }
        }
        let api: Api<ResourceQuota> = Api::namespaced(self.client.clone(), ns);
        for q in quotas {
            let hard = q
                .spec
                .as_ref()
                .and_then(|s| s.hard.clone())
                .unwrap_or_default();
            let quota = serde_json::to_value(&*q).unwrap_or_default();
            let mut used = Usage::new();
            for (group, plural, obj, u) in &objects {
                if !in_scope(&quota, group, plural, obj) {
                    continue;
                }
                for (k, n) in u {
                    *used.entry(k.clone()).or_insert(0) += n;
                }
            }
            let mut status_used = serde_json::Map::new();
            for k in hard.keys() {
                let v = used.get(k).copied().unwrap_or(0);
                status_used.insert(k.clone(), json!(format(k, v)));
            }
            let want = json!({"hard": hard, "used": status_used});
            let have =
                serde_json::to_value(q.status.clone().unwrap_or_default()).unwrap_or_default();
            if have.get("hard") == want.get("hard") && have.get("used") == want.get("used") {
                continue;
            }
            api.patch_status(
                &q.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": want})),
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quota_names_map_to_kinds() {
        assert!(super::counts("requests.cpu", "", "pods"));
        assert!(super::counts(
            "count/deployments.apps",
            "apps",
            "deployments"
        ));
        assert!(!super::counts("requests.storage", "", "pods"));
        assert!(super::counts("services.nodeports", "", "services"));
        assert!(super::counts("configmaps", "", "configmaps"));
        assert!(!super::counts("pods", "apps", "deployments"));
    }
}
