//! Builds the routing table and certificate map from API objects. Pure: the watch layer feeds
//! it reflector snapshots, tests feed it hand-written objects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, IngressServiceBackend};
use kube::ResourceExt;

use crate::annotations;
use crate::model::{Backend, IngressInfo, PathMatch, Route, RoutingTable};
use crate::tls::{self, CertMap};

/// `spec.controller` of IngressClasses this controller implements.
pub const CONTROLLER: &str = "rkube.io/ingress";
/// Class names always served: ours and ingress-nginx's, so nginx manifests work unchanged.
pub const CLASS_NAMES: [&str; 2] = ["rkube", "nginx"];
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The objects the table is built from.
#[derive(Default, Clone)]
pub struct Objects {
    pub ingresses: Vec<Arc<Ingress>>,
    pub classes: Vec<Arc<IngressClass>>,
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
    pub secrets: Vec<Arc<Secret>>,
}

/// An Ingress refused because of its annotations or paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rejection {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub reason: String,
}

#[derive(Default)]
pub struct Built {
    pub table: RoutingTable,
    pub certs: CertMap,
    /// `(namespace, name)` of Ingresses served.
    pub served: Vec<(String, String)>,
    pub rejected: Vec<Rejection>,
    /// Problems that did not refuse the Ingress (missing Secret, bad annotation value, ...).
    pub warnings: Vec<String>,
}

/// Whether this controller serves `ing`: class `rkube`/`nginx` (by field or the legacy
/// annotation), a class whose controller is ours, or no class at all (we are the default).
pub fn is_ours(ing: &Ingress, classes: &[Arc<IngressClass>]) -> bool {
    let class = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| ing.annotations().get(CLASS_ANNOTATION).map(String::as_str));
    match class {
        None | Some("") => true,
        Some(c) if CLASS_NAMES.contains(&c) => true,
        Some(c) => classes.iter().any(|k| {
            k.name_any() == c
                && k.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
        }),
    }
}

struct Index<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    secrets: HashMap<(&'a str, &'a str), &'a Secret>,
    backends: HashMap<(String, String, String), Arc<Backend>>,
}

impl<'a> Index<'a> {
    fn new(o: &'a Objects) -> Self {
        let ns_name = |m: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            (
                m.namespace.as_deref().unwrap_or(""),
                m.name.as_deref().unwrap_or(""),
            )
        };
        let mut slices: HashMap<_, Vec<_>> = HashMap::new();
        for s in &o.slices {
            let ns = s.metadata.namespace.as_deref().unwrap_or("");
            if let Some(svc) = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
            {
                slices.entry((ns, svc.as_str())).or_default().push(&**s);
            }
        }
        Index {
            services: o
                .services
                .iter()
                .map(|s| (ns_name(&s.metadata), &**s))
                .collect(),
            slices,
            secrets: o
                .secrets
                .iter()
                .map(|s| (ns_name(&s.metadata), &**s))
                .collect(),
            backends: HashMap::new(),
        }
    }

    /// Resolves a Service backend to ready endpoints: Service port (by number or name) →
    /// EndpointSlice port with the same name. Unresolvable backends have no endpoints (503).
    fn backend(&mut self, ns: &str, b: &IngressServiceBackend) -> Arc<Backend> {
        let port = b.port.as_ref();
        let port_key = match port {
            Some(p) => p
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| p.number.map(|n| n.to_string()))
                .unwrap_or_default(),
            None => String::new(),
        };
        let key = (ns.to_string(), b.name.clone(), port_key.clone());
        if let Some(be) = self.backends.get(&key) {
            return be.clone();
        }
        let name = format!("{ns}/{}:{port_key}", b.name);
        let svc_port: Option<&ServicePort> = self
            .services
            .get(&(ns, b.name.as_str()))
            .and_then(|s| s.spec.as_ref())
            .and_then(|s| s.ports.as_ref())
            .and_then(|ports| {
                ports.iter().find(|sp| match port {
                    Some(p) if p.name.as_deref().is_some_and(|n| !n.is_empty()) => {
                        sp.name.as_deref() == p.name.as_deref()
                    }
                    Some(p) => p.number == Some(sp.port),
                    None => ports.len() == 1,
                })
            });
        let mut endpoints = Vec::new();
        if let Some(sp) = svc_port {
            let want = sp.name.as_deref().unwrap_or("");
            let mut seen = HashSet::new();
            for slice in self
                .slices
                .get(&(ns, b.name.as_str()))
                .into_iter()
                .flatten()
            {
                if slice.address_type == "FQDN" {
                    continue;
                }
                let Some(p) = slice
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref().unwrap_or("") == want)
                    .and_then(|p| p.port)
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    continue;
                };
                for ep in &slice.endpoints {
                    // Unset readiness means ready (EndpointSlice API semantics).
                    let ready = ep.conditions.as_ref().and_then(|c| c.ready) != Some(false);
                    if !ready {
                        continue;
                    }
                    for a in &ep.addresses {
                        if let Ok(ip) = a.parse::<IpAddr>() {
                            let sa = SocketAddr::new(ip, p);
                            if seen.insert(sa) {
                                endpoints.push(sa);
                            }
                        }
                    }
                }
            }
        }
        endpoints.sort();
        let be = Arc::new(Backend::new(name, endpoints));
        self.backends.insert(key, be.clone());
        be
    }

    fn cert(&self, ns: &str, secret: &str) -> Result<Arc<rustls::sign::CertifiedKey>, String> {
        let s = self
            .secrets
            .get(&(ns, secret))
            .ok_or_else(|| format!("TLS Secret {ns}/{secret} not found"))?;
        let data = s.data.as_ref();
        let get = |k: &str| data.and_then(|d| d.get(k)).map(|b| b.0.as_slice());
        match (get("tls.crt"), get("tls.key")) {
            (Some(c), Some(k)) => {
                tls::certified_key(c, k).map_err(|e| format!("TLS Secret {ns}/{secret}: {e}"))
            }
            _ => Err(format!("TLS Secret {ns}/{secret} lacks tls.crt/tls.key")),
        }
    }
}

/// A route waiting to be committed once the whole Ingress is known to be valid.
struct Pending {
    host: Option<String>,
    route: Route,
    default: bool,
}

/// Builds everything from `objs`.
pub fn build(objs: &Objects) -> Built {
    let mut out = Built::default();
    let mut idx = Index::new(objs);
    let mut ingresses: Vec<&Ingress> = objs
        .ingresses
        .iter()
        .map(|i| &**i)
        .filter(|i| i.metadata.deletion_timestamp.is_none() && is_ours(i, &objs.classes))
        .collect();
    // Oldest first: on conflicts the first-created Ingress wins, as in ingress-nginx.
    ingresses.sort_by(|a, b| {
        let ts = |i: &Ingress| i.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ts(a)
            .cmp(&ts(b))
            .then_with(|| a.namespace().cmp(&b.namespace()))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    let mut table = RoutingTable::default();
    for ing in ingresses {
        let ns = ing.namespace().unwrap_or_default();
        let name = ing.name_any();
        let key = format!("{ns}/{name}");
        match ingress_routes(ing, &ns, &key, &mut idx, &mut out) {
            Ok(pending) => {
                for p in pending {
                    let h = table.host_mut(p.host.as_deref());
                    if p.default {
                        h.set_default(p.route);
                    } else {
                        h.push(p.route);
                    }
                }
                for t in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
                    for host in t.hosts.iter().flatten() {
                        table.add_tls_host(host);
                        let Some(secret) = t.secret_name.as_deref() else {
                            continue;
                        };
                        match idx.cert(&ns, secret) {
                            Ok(c) => {
                                out.certs.entry(host.to_ascii_lowercase()).or_insert(c);
                            }
                            Err(e) => out.warnings.push(format!("{key}: {e}")),
                        }
                    }
                }
                out.served.push((ns, name));
            }
            Err(reason) => out.rejected.push(Rejection {
                namespace: ns,
                name,
                uid: ing.metadata.uid.clone().unwrap_or_default(),
                resource_version: ing.resource_version().unwrap_or_default(),
                reason,
            }),
        }
    }
    out.table = table.finish();
    out
}

fn ingress_routes(
    ing: &Ingress,
    ns: &str,
    key: &str,
    idx: &mut Index<'_>,
    out: &mut Built,
) -> Result<Vec<Pending>, String> {
    let empty = BTreeMap::new();
    let ann = ing.metadata.annotations.as_ref().unwrap_or(&empty);
    let mut warnings = Vec::new();
    let options = annotations::parse(ann, &mut warnings).map_err(|e| e.to_string())?;
    out.warnings
        .extend(warnings.into_iter().map(|w| format!("{key}: {w}")));
    let regex = options.regex_paths();
    let info = Arc::new(IngressInfo::new(key, options));
    let mut pending = Vec::new();
    let Some(spec) = ing.spec.as_ref() else {
        return Ok(pending);
    };
    let mut hosts: Vec<Option<String>> = Vec::new();
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.clone().filter(|h| !h.is_empty());
        hosts.push(host.clone());
        for p in rule.http.iter().flat_map(|h| h.paths.iter()) {
            let Some(svc) = p.backend.service.as_ref() else {
                out.warnings
                    .push(format!("{key}: resource backends are not supported"));
                continue;
            };
            let path = p.path.as_deref().filter(|s| !s.is_empty()).unwrap_or("/");
            let pm = if regex {
                PathMatch::regex(path).map_err(|e| format!("invalid regex path {path:?}: {e}"))?
            } else if p.path_type == "Exact" {
                PathMatch::Exact(path.to_string())
            } else {
                PathMatch::prefix(path)
            };
            pending.push(Pending {
                host: host.clone(),
                route: Route {
                    path: pm,
                    backend: idx.backend(ns, svc),
                    ingress: info.clone(),
                },
                default: false,
            });
        }
    }
    if let Some(svc) = spec
        .default_backend
        .as_ref()
        .and_then(|b| b.service.as_ref())
    {
        let backend = idx.backend(ns, svc);
        hosts.push(None);
        hosts.sort();
        hosts.dedup();
        for host in hosts {
            pending.push(Pending {
                host,
                route: Route {
                    path: PathMatch::prefix("/"),
                    backend: backend.clone(),
                    ingress: info.clone(),
                },
                default: true,
            });
        }
    }
    Ok(pending)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
