//! The in-memory view of Services, EndpointSlices and Namespaces that every answer is built
//! from. Watch events update it incrementally, so a lookup is a few hash-map probes under a
//! read lock and never reaches the API server.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::Service as K8sService;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::names::dashed_ip;

/// `(namespace, name)`.
pub(crate) type Key = (String, String);

/// A named (or unnamed) port with its lower-cased protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Port {
    pub name: String,
    pub proto: String,
    pub port: u16,
}

/// How a Service is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A virtual IP per family (may be empty while the API server has not allocated one).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answered with the endpoint addresses.
    Headless,
    /// A CNAME to `spec.externalName`; `None` when that is not a valid DNS name.
    ExternalName(Option<Name>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    pub kind: Kind,
    pub ports: Vec<Port>,
    pub publish_not_ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub addresses: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub ready: bool,
}

impl Endpoint {
    /// The DNS label this endpoint answers to for `addr`: its hostname, else its dashed IP.
    pub fn label(&self, addr: &IpAddr) -> String {
        self.hostname.clone().unwrap_or_else(|| dashed_ip(addr))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slice {
    pub service: String,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

/// Which watch streams have completed their first list; NXDOMAIN is only trustworthy after all.
#[derive(Debug, Default)]
struct Synced {
    services: bool,
    slices: bool,
    namespaces: bool,
}

/// The index. Wrapped in a `RwLock` by the server; all methods are plain and synchronous.
#[derive(Debug, Default)]
pub(crate) struct Index {
    services: HashMap<Key, Service>,
    /// Slices by `(namespace, slice name)`.
    slices: HashMap<Key, Slice>,
    /// Slice names per service key.
    by_service: HashMap<Key, BTreeSet<String>>,
    namespaces: HashSet<String>,
    reverse_svc: HashMap<IpAddr, BTreeSet<Key>>,
    /// Endpoint IP → slices holding it, for PTR answers.
    reverse_ep: HashMap<IpAddr, BTreeSet<Key>>,
    serial: u32,
    synced: Synced,
}

fn now_serial() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs & u64::from(u32::MAX)).unwrap_or(0)
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Converts a Service object; `None` when it lacks a name.
pub(crate) fn service_from(svc: &K8sService) -> Option<(Key, Service)> {
    let key = (
        lower(svc.metadata.namespace.as_deref()?),
        lower(svc.metadata.name.as_deref()?),
    );
    let spec = svc.spec.clone().unwrap_or_default();
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.as_deref().unwrap_or("");
        let name = Name::from_ascii(target)
            .ok()
            .filter(|_| !target.is_empty() && target.parse::<IpAddr>().is_err());
        Kind::ExternalName(name.map(|mut n| {
            n.set_fqdn(true);
            n
        }))
    } else if spec.cluster_ip.as_deref() == Some("None") {
        Kind::Headless
    } else {
        let mut texts: Vec<String> = spec.cluster_ips.clone().unwrap_or_default();
        if texts.is_empty() {
            texts.extend(spec.cluster_ip.clone());
        }
        Kind::ClusterIp(texts.iter().filter_map(|t| t.parse().ok()).collect())
    };
    let ports = spec
        .ports
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            Some(Port {
                name: lower(p.name.as_deref().unwrap_or("")),
                proto: lower(p.protocol.as_deref().unwrap_or("TCP")),
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    Some((
        key,
        Service {
            kind,
            ports,
            publish_not_ready,
        },
    ))
}

/// Converts an EndpointSlice; `None` without a name or the `kubernetes.io/service-name` label,
/// or for FQDN slices (not addresses DNS can hand out).
pub(crate) fn slice_from(es: &EndpointSlice) -> Option<(Key, Slice)> {
    let key = (
        lower(es.metadata.namespace.as_deref()?),
        lower(es.metadata.name.as_deref()?),
    );
    let service = lower(
        es.metadata
            .labels
            .as_ref()?
            .get("kubernetes.io/service-name")?,
    );
    if es.address_type == "FQDN" {
        return None;
    }
    let ports = es
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: lower(p.name.as_deref().unwrap_or("")),
                proto: lower(p.protocol.as_deref().unwrap_or("TCP")),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    let endpoints = es
        .endpoints
        .iter()
        .map(|e| Endpoint {
            addresses: e.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            hostname: e.hostname.as_deref().filter(|h| !h.is_empty()).map(lower),
            // The API says a nil ready condition means "unknown" and consumers treat it as ready.
            ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
        })
        .collect();
    Some((
        key,
        Slice {
            service,
            ports,
            endpoints,
        },
    ))
}

impl Index {
    fn touch(&mut self) {
        self.serial = now_serial().max(self.serial.wrapping_add(1));
    }

    /// SOA serial: the time of the last change, as CoreDNS reports it.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Whether every watch has listed once (before that, absence proves nothing).
    pub fn synced(&self) -> bool {
        self.synced.services && self.synced.slices && self.synced.namespaces
    }

    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.namespaces.contains(ns)
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.services.get(&(ns.to_string(), name.to_string()))
    }

    /// The slices of a service.
    pub fn slices_of(&self, ns: &str, name: &str) -> impl Iterator<Item = &Slice> {
        let key = (ns.to_string(), name.to_string());
        self.by_service
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(move |s| self.slices.get(&(key.0.clone(), s.clone())))
    }

    /// Services whose cluster IP is `ip`.
    pub fn services_by_ip(&self, ip: &IpAddr) -> impl Iterator<Item = &Key> {
        self.reverse_svc.get(ip).into_iter().flatten()
    }

    /// `(endpoint label, service key)` for every ready endpoint address equal to `ip`.
    pub fn endpoints_by_ip(&self, ip: &IpAddr) -> Vec<(String, Key)> {
        let mut out = Vec::new();
        for key in self.reverse_ep.get(ip).into_iter().flatten() {
            let Some(slice) = self.slices.get(key) else {
                continue;
            };
            let svc_key = (key.0.clone(), slice.service.clone());
            let publish = self
                .services
                .get(&svc_key)
                .is_some_and(|s| s.publish_not_ready);
            for ep in &slice.endpoints {
                if (ep.ready || publish) && ep.addresses.contains(ip) {
                    out.push((ep.label(ip), svc_key.clone()));
                }
            }
        }
        out
    }

    pub fn upsert_service(&mut self, key: Key, svc: Service) {
        if self.services.get(&key) == Some(&svc) {
            return;
        }
        self.remove_service(&key);
        if let Kind::ClusterIp(ips) = &svc.kind {
            for ip in ips {
                self.reverse_svc.entry(*ip).or_default().insert(key.clone());
            }
        }
        self.services.insert(key, svc);
        self.touch();
    }

    pub fn remove_service(&mut self, key: &Key) {
        let Some(old) = self.services.remove(key) else {
            return;
        };
        if let Kind::ClusterIp(ips) = &old.kind {
            for ip in ips {
                remove_from(&mut self.reverse_svc, ip, key);
            }
        }
        self.touch();
    }

    pub fn upsert_slice(&mut self, key: Key, slice: Slice) {
        if self.slices.get(&key) == Some(&slice) {
            return;
        }
        self.remove_slice(&key);
        for ip in slice.endpoints.iter().flat_map(|e| &e.addresses) {
            self.reverse_ep.entry(*ip).or_default().insert(key.clone());
        }
        let svc_key = (key.0.clone(), slice.service.clone());
        self.by_service
            .entry(svc_key)
            .or_default()
            .insert(key.1.clone());
        self.slices.insert(key, slice);
        self.touch();
    }

    pub fn remove_slice(&mut self, key: &Key) {
        let Some(old) = self.slices.remove(key) else {
            return;
        };
        for ip in old.endpoints.iter().flat_map(|e| &e.addresses) {
            remove_from(&mut self.reverse_ep, ip, key);
        }
        let svc_key = (key.0.clone(), old.service);
        if let Some(set) = self.by_service.get_mut(&svc_key) {
            set.remove(&key.1);
            if set.is_empty() {
                self.by_service.remove(&svc_key);
            }
        }
        self.touch();
    }

    pub fn upsert_namespace(&mut self, name: &str) {
        if self.namespaces.insert(lower(name)) {
            self.touch();
        }
    }

    pub fn remove_namespace(&mut self, name: &str) {
        if self.namespaces.remove(&lower(name)) {
            self.touch();
        }
    }

    /// Replaces all services after a (re-)list, dropping those that vanished meanwhile.
    pub fn replace_services(&mut self, all: Vec<(Key, Service)>) {
        let keep: HashSet<&Key> = all.iter().map(|(k, _)| k).collect();
        let gone: Vec<Key> = self
            .services
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for k in gone {
            self.remove_service(&k);
        }
        for (k, s) in all {
            self.upsert_service(k, s);
        }
        self.synced.services = true;
    }

    /// Replaces all slices after a (re-)list.
    pub fn replace_slices(&mut self, all: Vec<(Key, Slice)>) {
        let keep: HashSet<&Key> = all.iter().map(|(k, _)| k).collect();
        let gone: Vec<Key> = self
            .slices
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for k in gone {
            self.remove_slice(&k);
        }
        for (k, s) in all {
            self.upsert_slice(k, s);
        }
        self.synced.slices = true;
    }

    /// Replaces all namespaces after a (re-)list.
    pub fn replace_namespaces(&mut self, all: Vec<String>) {
        let new: HashSet<String> = all.iter().map(|n| lower(n)).collect();
        if new != self.namespaces {
            self.namespaces = new;
            self.touch();
        }
        self.synced.namespaces = true;
    }
}

fn remove_from(map: &mut HashMap<IpAddr, BTreeSet<Key>>, ip: &IpAddr, key: &Key) {
    if let Some(set) = map.get_mut(ip) {
        set.remove(key);
        if set.is_empty() {
            map.remove(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> (Key, Service) {
        service_from(&serde_json::from_value(v).unwrap()).unwrap()
    }

    #[test]
    fn converts_service_kinds() {
        let (key, s) = svc(json!({"metadata": {"name": "Web", "namespace": "ns"},
            "spec": {"clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5", "fd00::5"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}));
        assert_eq!(key, ("ns".into(), "web".into()));
        assert_eq!(
            s.kind,
            Kind::ClusterIp(vec![
                "10.43.0.5".parse().unwrap(),
                "fd00::5".parse().unwrap()
            ])
        );
        assert_eq!(
            s.ports,
            vec![Port {
                name: "http".into(),
                proto: "tcp".into(),
                port: 80
            }]
        );
        let (_, h) = svc(
            json!({"metadata": {"name": "h", "namespace": "ns"}, "spec": {"clusterIP": "None"}}),
        );
        assert_eq!(h.kind, Kind::Headless);
        let (_, e) = svc(json!({"metadata": {"name": "e", "namespace": "ns"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com"}}));
        assert_eq!(
            e.kind,
            Kind::ExternalName(Some(Name::from_ascii("db.example.com.").unwrap()))
        );
    }

    #[test]
    fn slices_feed_reverse_index_and_are_removed_cleanly() {
        let es: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.42.0.7"], "hostname": "web-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.8"], "conditions": {"ready": false}}
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }))
        .unwrap();
        let (key, slice) = slice_from(&es).unwrap();
        let mut idx = Index::default();
        idx.upsert_slice(key.clone(), slice);
        assert_eq!(idx.slices_of("ns", "web").count(), 1);
        let ip: IpAddr = "10.42.0.7".parse().unwrap();
        assert_eq!(
            idx.endpoints_by_ip(&ip),
            vec![("web-0".to_string(), ("ns".into(), "web".into()))]
        );
        // Not ready and the service does not publish not-ready addresses.
        assert!(idx
            .endpoints_by_ip(&"10.42.0.8".parse().unwrap())
            .is_empty());
        idx.replace_slices(vec![]);
        assert_eq!(idx.slices_of("ns", "web").count(), 0);
        assert!(idx.reverse_ep.is_empty() && idx.by_service.is_empty());
        assert!(!idx.synced());
    }

    #[test]
    fn service_update_moves_reverse_entries() {
        let mut idx = Index::default();
        let (k, s) = svc(
            json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"clusterIP": "10.43.0.9"}}),
        );
        idx.upsert_service(k, s);
        let (k, s) = svc(
            json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"clusterIP": "10.43.0.10"}}),
        );
        idx.upsert_service(k, s);
        assert_eq!(idx.services_by_ip(&"10.43.0.9".parse().unwrap()).count(), 0);
        assert_eq!(
            idx.services_by_ip(&"10.43.0.10".parse().unwrap()).count(),
            1
        );
    }
}
