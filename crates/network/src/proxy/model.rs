//! The proxy's input: Services and their endpoints, already resolved from the API objects.
//!
//! Deliberately plain data (no API types) so that the agent can feed it from Service and
//! EndpointSlice informers, and tests and benchmarks can build it by hand.

use std::fmt;
use std::net::Ipv4Addr;

/// A Service port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The nftables keyword.
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Parses the API spelling (`TCP`, `UDP`, `SCTP`).
    pub fn from_api(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.nft())
    }
}

/// `spec.type` (ExternalName Services are DNS-only and never reach the proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ServiceType {
    #[default]
    ClusterIp,
    NodePort,
    LoadBalancer,
}

/// `externalTrafficPolicy` / `internalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    /// Only endpoints on this node; the client's source address is preserved.
    Local,
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// The port's name ("" for a single unnamed port); matches EndpointSlice port names.
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    /// Allocated node port (NodePort and LoadBalancer Services).
    pub node_port: Option<u16>,
}

/// A Service as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub service_type: ServiceType,
    /// `spec.clusterIPs` (IPv4 ones are used; headless Services have none and are skipped).
    pub cluster_ips: Vec<Ipv4Addr>,
    pub ports: Vec<ServicePort>,
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    /// `sessionAffinity: ClientIP` with its timeout in seconds (`None`: no affinity).
    pub session_affinity_timeout: Option<u32>,
}

/// A port of an EndpointSlice: the target port, resolved, under the Service port's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// One endpoint address with its conditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub node_name: Option<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

impl Endpoint {
    /// A ready, serving, non-terminating endpoint.
    pub fn ready(ip: Ipv4Addr, node_name: Option<&str>) -> Self {
        Endpoint {
            ip,
            node_name: node_name.map(str::to_string),
            ready: true,
            serving: true,
            terminating: false,
        }
    }
}

/// An EndpointSlice, reduced: a Service may have several (they are merged).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct EndpointSlice {
    pub namespace: String,
    /// The owning Service's name (label `kubernetes.io/service-name`).
    pub service_name: String,
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// What one [`super::Proxier::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// The table was rebuilt from scratch (first sync).
    pub full: bool,
    pub services: usize,
    /// Services whose rules were rewritten.
    pub changed_services: usize,
    pub chains_written: usize,
    pub chains_deleted: usize,
    pub elements_added: usize,
    pub elements_deleted: usize,
    /// Size of the nftables transaction (0 when nothing changed and nft was not run).
    pub script_bytes: usize,
}
