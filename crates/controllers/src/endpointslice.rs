//! The EndpointSlice and Endpoints controllers (upstream's `endpointslice-controller` and
//! `endpoints-controller`, which read the same inputs): for every Service with a selector,
//! the matching pods that have an IP become endpoints with ready/serving/terminating
//! conditions (publishNotReadyAddresses counts every pod as ready), named target ports are
//! resolved per pod, and the results are written as EndpointSlices (one per distinct port
//! set, owned by the Service) and as the legacy Endpoints object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{is_already_exists, is_not_found, is_pod_ready, key, split_key};

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const WORKERS: usize = 2;

/// One endpoint of a Service, before it is written out.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub ip: String,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub node_name: Option<String>,
    pub hostname: Option<String>,
    pub pod: (String, String),
}

/// `(name, port, protocol)` of each Service port, resolved for one pod.
pub type PortSet = Vec<(String, i32, String)>;

fn selector_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A Service's ports with target ports resolved against `pod` (named ports looked up in its
/// containers); `None` when a named port is missing from the pod.
pub fn resolve_ports(svc: &Service, pod: &Pod) -> Option<PortSet> {
    let ports = svc.spec.as_ref()?.ports.clone().unwrap_or_default();
    let mut out = Vec::new();
    for p in ports {
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        let target = match &p.target_port {
            None => p.port,
            Some(IntOrString::Int(n)) => *n,
            Some(IntOrString::String(name)) => {
                let found = pod.spec.as_ref().and_then(|s| {
                    s.containers.iter().find_map(|c| {
                        c.ports.as_ref()?.iter().find_map(|cp| {
                            (cp.name.as_deref() == Some(name.as_str())
                                && cp.protocol.clone().unwrap_or_else(|| "TCP".into()) == protocol)
                                .then_some(cp.container_port)
                        })
                    })
                });
                found?
            }
        };
        out.push((p.name.clone().unwrap_or_default(), target, protocol));
    }
    Some(out)
}

/// The Service's endpoints grouped by resolved port set.
pub fn endpoints_for(svc: &Service, pods: &[Arc<Pod>]) -> BTreeMap<PortSetKey, Vec<Endpoint>> {
    let mut out: BTreeMap<PortSetKey, Vec<Endpoint>> = BTreeMap::new();
    let Some(spec) = &svc.spec else { return out };
    let Some(selector) = spec.selector.clone().filter(|s| !s.is_empty()) else {
        return out;
    };
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    for pod in pods {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        if !selector_matches(&selector, &labels) {
            continue;
        }
        let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|i| !i.is_empty())
        else {
            continue;
        };
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let Some(ports) = resolve_ports(svc, pod) else {
            continue;
        };
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let ready_pod = is_pod_ready(pod);
        let subdomain_match =
            pod.spec.as_ref().and_then(|s| s.subdomain.as_deref()) == svc.metadata.name.as_deref();
        out.entry(PortSetKey(ports)).or_default().push(Endpoint {
            ip,
            ready: publish_not_ready || (ready_pod && !terminating),
            serving: publish_not_ready || ready_pod,
            terminating,
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            hostname: if subdomain_match {
                pod.spec.as_ref().and_then(|s| s.hostname.clone())
            } else {
                None
            },
            pod: (pod.name_any(), pod.metadata.uid.clone().unwrap_or_default()),
        });
    }
    for eps in out.values_mut() {
        eps.sort_by(|a, b| a.ip.cmp(&b.ip));
    }
    out
}

/// A port set usable as a map key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortSetKey(pub PortSet);

impl PortSetKey {
    /// A short stable suffix for the slice name.
    fn suffix(&self) -> String {
        let mut h: u32 = 0x811c9dc5;
        for (n, p, proto) in &self.0 {
            for b in n.bytes().chain(p.to_string().bytes()).chain(proto.bytes()) {
                h ^= b as u32;
                h = h.wrapping_mul(0x01000193);
            }
        }
        format!("{:08x}", h)[..5].to_string()
    }
}

pub struct EndpointSliceController {
    client: Client,
    services: Arc<Cache<Service>>,
    pods: Arc<Cache<Pod>>,
    slices: Arc<Cache<EndpointSlice>>,
    queue: Arc<WorkQueue>,
}

impl EndpointSliceController {
    pub fn new(
        client: Client,
        services: &mut Informer<Service>,
        pods: &mut Informer<Pod>,
        slices: &mut Informer<EndpointSlice>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(EndpointSliceController {
            client,
            services: services.cache(),
            pods: pods.cache(),
            slices: slices.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        services.on(Box::new(move |old, new| {
            if let Some(s) = new.or(old) {
                q.add(key(&s.namespace().unwrap_or_default(), &s.name_any()));
            }
        }));
        let q = this.queue.clone();
        let svc_cache = this.services.clone();
        pods.on(Box::new(move |old, new| {
            let mut label_sets = Vec::new();
            for p in [old, new].into_iter().flatten() {
                label_sets.push((
                    p.namespace().unwrap_or_default(),
                    p.metadata.labels.clone().unwrap_or_default(),
                ));
            }
            let mut keys = BTreeSet::new();
            for (ns, labels) in label_sets {
                for s in svc_cache.list(&ns) {
                    let sel = s
                        .spec
                        .as_ref()
                        .and_then(|sp| sp.selector.clone())
                        .unwrap_or_default();
                    if !sel.is_empty() && selector_matches(&sel, &labels) {
                        keys.insert(key(&ns, &s.name_any()));
                    }
                }
            }
            for k in keys {
                q.add(k);
            }
        }));
        let q = this.queue.clone();
        slices.on(Box::new(move |old, new| {
            if let Some(s) = new.or(old) {
                let labels = s.metadata.labels.clone().unwrap_or_default();
                if labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY) {
                    if let Some(svc) = labels.get(SERVICE_NAME_LABEL) {
                        q.add(key(&s.namespace().unwrap_or_default(), svc));
                    }
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async {
                self.services.wait_synced().await;
                self.pods.wait_synced().await;
                self.slices.wait_synced().await;
            } => {}
            _ = cancel.cancelled() => return,
        }
        info!("endpointslice controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "endpointslice", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Converges the Service's EndpointSlices and Endpoints.
    pub async fn sync(&self, svc_key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(svc_key);
        let Some(svc) = self.services.get(ns, name) else {
            // Owned slices go with the Service (garbage collector); Endpoints share its name.
            let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
            return Ok(());
        };
        let has_selector = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        if !has_selector {
            return Ok(());
        }
        let pods = self.pods.list(ns);
        let groups = endpoints_for(&svc, &pods);
        self.write_slices(&svc, ns, name, &groups).await?;
        self.write_endpoints(&svc, ns, name, &groups).await
    }

    async fn write_slices(
        &self,
        svc: &Service,
        ns: &str,
        name: &str,
        groups: &BTreeMap<PortSetKey, Vec<Endpoint>>,
    ) -> Result<(), kube::Error> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let owner = json!([{
            "apiVersion": "v1", "kind": "Service", "name": name,
            "uid": svc.metadata.uid.clone().unwrap_or_default(),
            "controller": true, "blockOwnerDeletion": true,
        }]);
        let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
        // A Service with no endpoints still gets one (empty) slice, as upstream.
        let empty = BTreeMap::from([(
            PortSetKey(
                svc.spec
                    .as_ref()
                    .and_then(|s| s.ports.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| !matches!(p.target_port, Some(IntOrString::String(_))))
                    .map(|p| {
                        let target = match p.target_port {
                            Some(IntOrString::Int(n)) => n,
                            _ => p.port,
                        };
                        (
                            p.name.unwrap_or_default(),
                            target,
                            p.protocol.unwrap_or_else(|| "TCP".into()),
                        )
                    })
                    .collect(),
            ),
            Vec::new(),
        )]);
        let groups = if groups.is_empty() { &empty } else { groups };
        for (ports, eps) in groups {
            let slice_name = format!("{name}-{}", ports.suffix());
            let endpoints: Vec<Value> = eps
                .iter()
                .map(|e| {
                    let mut v = json!({
                        "addresses": [e.ip],
                        "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod.0, "uid": e.pod.1},
                    });
                    if let Some(n) = &e.node_name {
                        v["nodeName"] = json!(n);
                    }
                    if let Some(h) = &e.hostname {
                        v["hostname"] = json!(h);
                    }
                    v
                })
                .collect();
            let ports: Vec<Value> = ports
                .0
                .iter()
                .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto}))
                .collect();
            wanted.insert(
                slice_name.clone(),
                json!({
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {
                        "name": slice_name, "namespace": ns,
                        "labels": {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY},
                        "ownerReferences": owner,
                    },
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": ports,
                }),
            );
        }
        let existing: Vec<Arc<EndpointSlice>> = self
            .slices
            .list(ns)
            .into_iter()
            .filter(|s| {
                let l = s.metadata.labels.clone().unwrap_or_default();
                l.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(name)
                    && l.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY)
            })
            .collect();
        for (slice_name, body) in &wanted {
            let desired: EndpointSlice =
                serde_json::from_value(body.clone()).map_err(kube::Error::SerdeError)?;
            match existing.iter().find(|s| s.name_any() == *slice_name) {
                Some(cur) => {
                    if cur.endpoints == desired.endpoints && cur.ports == desired.ports {
                        continue;
                    }
                    let mut upd = desired.clone();
                    upd.metadata.resource_version = cur.metadata.resource_version.clone();
                    api.replace(slice_name, &PostParams::default(), &upd)
                        .await?;
                }
                None => match api.create(&PostParams::default(), &desired).await {
                    Ok(_) => {}
                    Err(e) if is_already_exists(&e) => {}
                    Err(e) => return Err(e),
                },
            }
        }
        for s in existing {
            if !wanted.contains_key(&s.name_any()) {
                match api.delete(&s.name_any(), &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn write_endpoints(
        &self,
        svc: &Service,
        ns: &str,
        name: &str,
        groups: &BTreeMap<PortSetKey, Vec<Endpoint>>,
    ) -> Result<(), kube::Error> {
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        let subsets: Vec<Value> = groups
            .iter()
            .filter(|(_, eps)| !eps.is_empty())
            .map(|(ports, eps)| {
                let addr = |e: &Endpoint| {
                    let mut v = json!({"ip": e.ip, "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod.0, "uid": e.pod.1}});
                    if let Some(n) = &e.node_name {
                        v["nodeName"] = json!(n);
                    }
                    if let Some(h) = &e.hostname {
                        v["hostname"] = json!(h);
                    }
                    v
                };
                let ready: Vec<Value> = eps.iter().filter(|e| e.ready).map(addr).collect();
                let not_ready: Vec<Value> = eps.iter().filter(|e| !e.ready && !e.terminating).map(addr).collect();
                let mut s = json!({
                    "ports": ports.0.iter().map(|(n, p, proto)| {
                        let mut v = json!({"port": p, "protocol": proto});
                        if !n.is_empty() { v["name"] = json!(n); }
                        v
                    }).collect::<Vec<_>>(),
                });
                if !ready.is_empty() {
                    s["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    s["notReadyAddresses"] = json!(not_ready);
                }
                s
            })
            .filter(|s| s.get("addresses").is_some() || s.get("notReadyAddresses").is_some())
            .collect();
        let labels = svc.metadata.labels.clone().unwrap_or_default();
        let desired: Endpoints = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "subsets": subsets,
        }))
        .map_err(kube::Error::SerdeError)?;
        match api.get_opt(name).await? {
            Some(cur) => {
                if cur.subsets.clone().unwrap_or_default()
                    == desired.subsets.clone().unwrap_or_default()
                {
                    return Ok(());
                }
                let mut upd = desired;
                upd.metadata.resource_version = cur.metadata.resource_version.clone();
                api.replace(name, &PostParams::default(), &upd).await?;
            }
            None => match api.create(&PostParams::default(), &desired).await {
                Ok(_) => {}
                Err(e) if is_already_exists(&e) => {}
                Err(e) => return Err(e),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, port_name: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": port_name, "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip,
                           "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
            }))
            .expect("pod"),
        )
    }

    #[test]
    fn endpoints_resolve_named_ports_and_readiness() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        }))
        .expect("svc");
        let pods = vec![
            pod("a", "10.42.0.2", true, "http"),
            pod("b", "10.42.0.3", false, "http"),
            pod("c", "10.42.0.4", true, "other"),
        ];
        let groups = endpoints_for(&svc, &pods);
        assert_eq!(groups.len(), 1);
        let (ports, eps) = groups.iter().next().expect("group");
        assert_eq!(ports.0, vec![("http".to_string(), 8080, "TCP".to_string())]);
        assert_eq!(eps.len(), 2, "the pod without the named port is left out");
        assert!(eps[0].ready && !eps[1].ready);
    }

    #[test]
    fn publish_not_ready_addresses_counts_every_pod_as_ready() {
        let svc = |publish: bool| -> Service {
            serde_json::from_value(json!({
                "metadata": {"name": "web", "namespace": "ns"},
                "spec": {"selector": {"app": "web"}, "publishNotReadyAddresses": publish,
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            }))
            .expect("svc")
        };
        let mut terminating = (*pod("c", "10.42.0.4", true, "http")).clone();
        terminating.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
        );
        let pods = vec![
            pod("a", "10.42.0.2", true, "http"),
            pod("b", "10.42.0.3", false, "http"),
            Arc::new(terminating),
        ];
        let flags = |publish: bool| -> Vec<(String, bool, bool, bool)> {
            let groups = endpoints_for(&svc(publish), &pods);
            let eps = groups.values().next().expect("a group");
            eps.iter()
                .map(|e| (e.pod.0.clone(), e.ready, e.serving, e.terminating))
                .collect()
        };
        // Without it: the unready pod is neither ready nor serving; the terminating one
        // serves but is not ready.
        assert_eq!(
            flags(false),
            [
                ("a".to_string(), true, true, false),
                ("b".to_string(), false, false, false),
                ("c".to_string(), false, true, true),
            ]
        );
        // With it: all ready and serving (still marked terminating), as upstream.
        assert_eq!(
            flags(true),
            [
                ("a".to_string(), true, true, false),
                ("b".to_string(), true, true, false),
                ("c".to_string(), true, true, true),
            ]
        );
    }
}
