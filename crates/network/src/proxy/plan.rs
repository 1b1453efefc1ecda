//! From one Service and its endpoints to the nftables objects it needs (kube-proxy's
//! nftables-mode shape: shared verdict maps point at per-service chains, which pick an
//! endpoint chain at random, which DNATs).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::model::{Endpoint, EndpointSlice, Protocol, Service, TrafficPolicy};

/// The shared maps elements live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapName {
    /// `ip . proto . port` → verdict, for cluster, external and load-balancer IPs.
    ServiceIps,
    /// `proto . port` → verdict, for node ports on local addresses.
    ServiceNodePorts,
    /// Same keys, consulted in the filter hooks for new connections: reject or drop.
    NoEndpointServices,
    NoEndpointNodePorts,
    /// `ip . proto . port . slot` → `endpoint ip . port`: the shared pick chains' DNAT map.
    Endpoints,
    /// `proto . port . slot` → `endpoint ip . port`, for node ports.
    NodePortEndpoints,
    /// Set of `endpoint . endpoint` pairs: a DNATed packet from an endpoint to itself
    /// (hairpin) is masqueraded.
    Hairpin,
}

impl MapName {
    pub fn as_str(self) -> &'static str {
        match self {
            MapName::ServiceIps => "service-ips",
            MapName::ServiceNodePorts => "service-nodeports",
            MapName::NoEndpointServices => "no-endpoint-services",
            MapName::NoEndpointNodePorts => "no-endpoint-nodeports",
            MapName::Endpoints => "endpoints",
            MapName::NodePortEndpoints => "nodeport-endpoints",
            MapName::Hairpin => "hairpin",
        }
    }
}

/// Settings that shape the rules of every Service.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// This node's name: endpoints with it are "local".
    pub node_name: String,
    /// The cluster's pod CIDR: traffic to a cluster IP from outside it is masqueraded, and
    /// pods are let through to all endpoints of `externalTrafficPolicy: Local` Services.
    pub cluster_cidr: Option<Ipv4Net>,
    /// Masquerade all traffic to cluster IPs (kube-proxy's `--masquerade-all`).
    pub masquerade_all: bool,
}

/// Everything one Service contributes to the table. Ordered maps, so that two plans of the
/// same input compare equal and diffs are deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePlan {
    /// Chain name → its rules.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Set name → its definition (the part inside `{ }`).
    pub sets: BTreeMap<String, String>,
    /// (map, key) → verdict or data.
    pub elements: BTreeMap<(MapName, String), String>,
    /// Shared chains this plan jumps to (the `pick-N` family), with their rules. Written
    /// once, kept until the next full sync.
    pub shared_chains: BTreeMap<String, Vec<String>>,
    /// Set elements other Services may need too (hairpin pairs): reference-counted.
    pub shared_elements: BTreeSet<(MapName, String)>,
}

/// The endpoints of one Service port, by the Service's port name and protocol.
pub fn endpoints_for<'a>(
    slices: &[&'a EndpointSlice],
    port_name: &str,
    protocol: Protocol,
) -> Vec<(&'a Endpoint, u16)> {
    let mut out: Vec<(&Endpoint, u16)> = Vec::new();
    for slice in slices {
        let Some(port) = slice
            .ports
            .iter()
            .find(|p| p.name == port_name && p.protocol == protocol)
        else {
            continue;
        };
        for ep in &slice.endpoints {
            // Slices overlap while they are being rebalanced: first one wins.
            if !out.iter().any(|(e, p)| e.ip == ep.ip && *p == port.port) {
                out.push((ep, port.port));
            }
        }
    }
    out.sort_by_key(|(e, p)| (e.ip, *p));
    out
}

/// Which endpoints take traffic, as kube-proxy's `CategorizeEndpoints`: ready ones; when
/// none is ready, those still serving while terminating (so rolling updates drain instead
/// of failing). `local` restricts to this node.
fn usable<'a>(eps: &[(&'a Endpoint, u16)], node: &str, local: bool) -> Vec<(&'a Endpoint, u16)> {
    let on_node = |e: &Endpoint| !local || e.node_name.as_deref() == Some(node);
    let ready: Vec<_> = eps
        .iter()
        .filter(|(e, _)| e.ready && !e.terminating && on_node(e))
        .cloned()
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    eps.iter()
        .filter(|(e, _)| e.serving && e.terminating && on_node(e))
        .cloned()
        .collect()
}

/// Chain-name-safe spelling of a Service port: `ns/name/proto/port`.
fn port_key(svc: &Service, port_name: &str, proto: Protocol, port: u16) -> String {
    let p = if port_name.is_empty() {
        port.to_string()
    } else {
        port_name.to_string()
    };
    format!("{}/{}/{}/{}", svc.namespace, svc.name, proto.nft(), p)
}

/// Builds the plan of one Service.
pub fn plan_service(cfg: &PlanConfig, svc: &Service, slices: &[&EndpointSlice]) -> ServicePlan {
    let simple = svc.session_affinity_timeout.is_none()
        && svc.internal_traffic_policy == TrafficPolicy::Cluster
        && svc.external_traffic_policy == TrafficPolicy::Cluster;
    if simple {
        return plan_shared(cfg, svc, slices);
    }
    let mut plan = ServicePlan::default();
    for sp in &svc.ports {
        let key = port_key(svc, &sp.name, sp.protocol, sp.port);
        let proto = sp.protocol.nft();
        let all = endpoints_for(slices, &sp.name, sp.protocol);
        let cluster = usable(&all, &cfg.node_name, false);
        let local = usable(&all, &cfg.node_name, true);
        let internal_local = svc.internal_traffic_policy == TrafficPolicy::Local;
        let external_local = svc.external_traffic_policy == TrafficPolicy::Local;
        let internal = if internal_local { &local } else { &cluster };
        let external = if external_local { &local } else { &cluster };
        // No endpoint anywhere: reject (fail fast). Endpoints, but none for this traffic
        // (a Local policy on a node without one): drop, as kube-proxy does.
        let empty_verdict = if cluster.is_empty() {
            "goto reject-chain"
        } else {
            "drop"
        };

        let svc_chain = format!("svc-{key}");
        let local_chain = format!("local-{key}");
        let ext_chain = format!("ext-{key}");
        let affinity = svc.session_affinity_timeout;

        // Endpoint chains for every endpoint that may be picked.
        let mut ep_chains: EpChains = BTreeMap::new();
        for (ep, port) in cluster.iter().chain(local.iter()) {
            if ep_chains.contains_key(&(ep.ip, *port)) {
                continue;
            }
            let chain = format!("ep-{key}__{}/{port}", ep.ip);
            let set = affinity.map(|t| format!("aff{t}-{key}__{}/{port}", ep.ip));
            let mut rules = vec![format!("ip saddr {} jump mark-for-masquerade", ep.ip)];
            if let (Some(set), Some(_)) = (&set, affinity) {
                rules.push(format!("update @{set} {{ ip saddr }}"));
            }
            rules.push(format!("meta l4proto {proto} dnat to {}:{port}", ep.ip));
            plan.chains.insert(chain.clone(), rules);
            if let (Some(set), Some(t)) = (&set, affinity) {
                plan.sets.insert(
                    set.clone(),
                    format!("type ipv4_addr; flags dynamic,timeout; timeout {t}s;"),
                );
            }
            ep_chains.insert((ep.ip, *port), (chain, set));
        }
        let uses_cluster = (!internal_local && !internal.is_empty())
            || (!external.is_empty() && (!external_local || !local.is_empty()));
        if !cluster.is_empty() && uses_cluster {
            let mut first = Vec::new();
            for cip in &svc.cluster_ips {
                if cfg.masquerade_all {
                    first.push(format!(
                        "ip daddr {cip} meta l4proto {proto} th dport {} jump mark-for-masquerade",
                        sp.port
                    ));
                } else if let Some(cc) = cfg.cluster_cidr {
                    first.push(format!(
                        "ip daddr {cip} meta l4proto {proto} th dport {} ip saddr != {cc} jump mark-for-masquerade",
                        sp.port
                    ));
                }
            }
            let rules = balance(&ep_chains, &cluster, first);
            plan.chains.insert(svc_chain.clone(), rules);
        }
        if (internal_local || external_local) && !local.is_empty() {
            let rules = balance(&ep_chains, &local, Vec::new());
            plan.chains.insert(local_chain.clone(), rules);
        }
        let internal_target = if internal_local {
            &local_chain
        } else {
            &svc_chain
        };

        // Cluster IPs.
        for cip in &svc.cluster_ips {
            let k = format!("{cip} . {proto} . {}", sp.port);
            if internal.is_empty() {
                plan.elements
                    .insert((MapName::NoEndpointServices, k), empty_verdict.to_string());
            } else {
                plan.elements
                    .insert((MapName::ServiceIps, k), format!("goto {internal_target}"));
            }
        }

        // External IPs, load-balancer IPs and node ports share the external chain.
        let externals: Vec<Ipv4Addr> = svc
            .external_ips
            .iter()
            .chain(&svc.load_balancer_ips)
            .copied()
            .collect();
        let has_external_entry = !externals.is_empty() || sp.node_port.is_some();
        if has_external_entry && !external.is_empty() {
            let rules = if external_local {
                let mut r = Vec::new();
                // Pods and the node itself may use any endpoint (kube-proxy's short-circuit);
                // everybody else only local ones, keeping the client's address.
                if let Some(cc) = cfg.cluster_cidr {
                    r.push(format!("ip saddr {cc} goto {svc_chain}"));
                }
                r.push("fib saddr type local jump mark-for-masquerade".to_string());
                r.push(format!("fib saddr type local goto {svc_chain}"));
                r.push(format!("goto {local_chain}"));
                r
            } else {
                vec![
                    "jump mark-for-masquerade".to_string(),
                    format!("goto {svc_chain}"),
                ]
            };
            plan.chains.insert(ext_chain.clone(), rules);
        }
        for ip in &externals {
            let k = format!("{ip} . {proto} . {}", sp.port);
            if external.is_empty() {
                plan.elements
                    .insert((MapName::NoEndpointServices, k), empty_verdict.to_string());
            } else {
                plan.elements
                    .insert((MapName::ServiceIps, k), format!("goto {ext_chain}"));
            }
        }
        if let Some(np) = sp.node_port {
            let k = format!("{proto} . {np}");
            if external.is_empty() {
                plan.elements
                    .insert((MapName::NoEndpointNodePorts, k), empty_verdict.to_string());
            } else {
                plan.elements
                    .insert((MapName::ServiceNodePorts, k), format!("goto {ext_chain}"));
            }
        }
    }
    plan
}

type EpChains = BTreeMap<(Ipv4Addr, u16), (String, Option<String>)>;

/// The rules of a balancing chain: affinity lookups first, then a uniform random pick among
/// `eps` as a cascade (`numgen random mod (N-i) == 0 goto ep_i`, the last one
/// unconditional), the shape of kube-proxy's iptables mode.
///
/// Not kube-proxy nftables mode's `numgen random mod N vmap { … }`: on this kernel every
/// anonymous map costs a scan of all sets of the table to pick its name (a 10,000-Service
/// table took over a minute to load), and one shared named map referenced from every
/// Service chain is re-walked for each reference when the table is validated at commit
/// (tens of seconds per change). Plain rules have neither cost.
fn balance(ep_chains: &EpChains, eps: &[(&Endpoint, u16)], mut rules: Vec<String>) -> Vec<String> {
    let targets: Vec<&(String, Option<String>)> = eps
        .iter()
        .filter_map(|(e, p)| ep_chains.get(&(e.ip, *p)))
        .collect();
    for (ep_chain, set) in &targets {
        if let Some(set) = set {
            rules.push(format!("ip saddr @{set} goto {ep_chain}"));
        }
    }
    let n = targets.len();
    for (i, (ep_chain, _)) in targets.iter().enumerate() {
        if i + 1 < n {
            rules.push(format!("numgen random mod {} 0 goto {ep_chain}", n - i));
        } else {
            rules.push(format!("goto {ep_chain}"));
        }
    }
    rules
}

/// The shape of Services without affinity or `Local` policies (nearly all of them): no
/// chain of their own. Their map elements jump to a shared `pick-N` chain (N = number of
/// endpoints) that DNATs through the `endpoints` map keyed by the packet's destination and
/// `numgen random mod N`. An endpoint change then only rewrites data-map elements, which
/// the kernel commits without re-validating the table's jump graph (that validation is
/// what makes a chain rewrite cost tens of milliseconds at 10,000 Services).
fn plan_shared(cfg: &PlanConfig, svc: &Service, slices: &[&EndpointSlice]) -> ServicePlan {
    let mut plan = ServicePlan::default();
    for sp in &svc.ports {
        let proto = sp.protocol.nft();
        let all = endpoints_for(slices, &sp.name, sp.protocol);
        let eps = usable(&all, &cfg.node_name, false);
        let externals = svc.external_ips.iter().chain(&svc.load_balancer_ips);
        if eps.is_empty() {
            for ip in svc.cluster_ips.iter().chain(externals) {
                let k = format!("{ip} . {proto} . {}", sp.port);
                plan.elements.insert(
                    (MapName::NoEndpointServices, k),
                    "goto reject-chain".to_string(),
                );
            }
            if let Some(np) = sp.node_port {
                plan.elements.insert(
                    (MapName::NoEndpointNodePorts, format!("{proto} . {np}")),
                    "goto reject-chain".to_string(),
                );
            }
            continue;
        }
        let n = eps.len();
        let mut entry = |map: MapName, ip: &Ipv4Addr, kind: PickKind| {
            let chain = kind.chain(n);
            plan.shared_chains
                .entry(chain.clone())
                .or_insert_with(|| pick_rules(cfg, kind, n));
            plan.elements.insert(
                (map, format!("{ip} . {proto} . {}", sp.port)),
                format!("goto {chain}"),
            );
            for (slot, (ep, port)) in eps.iter().enumerate() {
                plan.elements.insert(
                    (
                        MapName::Endpoints,
                        format!("{ip} . {proto} . {} . {slot}", sp.port),
                    ),
                    format!("{} . {port}", ep.ip),
                );
            }
        };
        for cip in &svc.cluster_ips {
            entry(MapName::ServiceIps, cip, PickKind::Cluster);
        }
        for ip in externals {
            entry(MapName::ServiceIps, ip, PickKind::External);
        }
        if let Some(np) = sp.node_port {
            let chain = PickKind::NodePort.chain(n);
            plan.shared_chains
                .entry(chain.clone())
                .or_insert_with(|| pick_rules(cfg, PickKind::NodePort, n));
            plan.elements.insert(
                (MapName::ServiceNodePorts, format!("{proto} . {np}")),
                format!("goto {chain}"),
            );
            for (slot, (ep, port)) in eps.iter().enumerate() {
                plan.elements.insert(
                    (
                        MapName::NodePortEndpoints,
                        format!("{proto} . {np} . {slot}"),
                    ),
                    format!("{} . {port}", ep.ip),
                );
            }
        }
        for (ep, _) in &eps {
            plan.shared_elements
                .insert((MapName::Hairpin, format!("{} . {}", ep.ip, ep.ip)));
        }
    }
    plan
}

/// Which traffic a shared pick chain serves.
#[derive(Debug, Clone, Copy)]
enum PickKind {
    /// Cluster IPs: masqueraded when coming from outside the pod network.
    Cluster,
    /// External and load-balancer IPs (`externalTrafficPolicy: Cluster`): always masqueraded.
    External,
    /// Node ports on local addresses: always masqueraded, keyed without the address.
    NodePort,
}

impl PickKind {
    fn chain(self, n: usize) -> String {
        match self {
            PickKind::Cluster => format!("pick-{n}"),
            PickKind::External => format!("ext-pick-{n}"),
            PickKind::NodePort => format!("np-pick-{n}"),
        }
    }
}

fn pick_rules(cfg: &PlanConfig, kind: PickKind, n: usize) -> Vec<String> {
    let mut rules = Vec::new();
    match kind {
        PickKind::Cluster if cfg.masquerade_all => {
            rules.push("jump mark-for-masquerade".to_string())
        }
        PickKind::Cluster => {
            if let Some(cc) = cfg.cluster_cidr {
                rules.push(format!("ip saddr != {cc} jump mark-for-masquerade"));
            }
        }
        PickKind::External | PickKind::NodePort => {
            rules.push("jump mark-for-masquerade".to_string())
        }
    }
    let (key, map) = match kind {
        PickKind::NodePort => ("meta l4proto . th dport", MapName::NodePortEndpoints),
        _ => ("ip daddr . meta l4proto . th dport", MapName::Endpoints),
    };
    rules.push(format!(
        "dnat ip to {key} . numgen random mod {n} map @{}",
        map.as_str()
    ));
    rules
}
