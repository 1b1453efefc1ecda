//! Answers for names inside the cluster domain (and PTRs for cluster addresses), built from
//! the [`Index`] with the record shapes of the Kubernetes DNS specification as CoreDNS serves
//! them.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Index, Kind, Service};
use crate::names::{self, ClusterName};

/// The schema version the specification asks `dns-version.<zone>` to return.
const SCHEMA_VERSION: &str = "1.1.0";

/// The authoritative zone and its record TTL.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// Lower-case, fully qualified.
    pub name: Name,
    pub ttl: u32,
}

impl Zone {
    pub fn new(domain: &str, ttl: u32) -> anyhow::Result<Self> {
        let mut name = Name::from_ascii(domain.trim_end_matches('.'))
            .map_err(|e| anyhow::anyhow!("invalid cluster domain {domain:?}: {e}"))?
            .to_lowercase();
        name.set_fqdn(true);
        Ok(Zone { name, ttl })
    }

    /// The zone's SOA, shaped like CoreDNS's: `ns.dns.<zone> hostmaster.<zone>`, the serial the
    /// time of the last change, and the record TTL as both TTL and negative-caching minimum so
    /// that clients retry missing names (search-path expansions) after a few seconds.
    pub fn soa(&self, serial: u32) -> Record {
        let join = |prefix: &str| {
            Name::from_ascii(prefix)
                .and_then(|p| p.append_domain(&self.name))
                .unwrap_or_else(|_| self.name.clone())
        };
        let soa = SOA::new(
            join("ns.dns"),
            join("hostmaster"),
            serial,
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(self.name.clone(), self.ttl.min(300), RData::SOA(soa))
    }

    /// `<labels...>.<zone>`.
    fn join(&self, labels: &[&str]) -> Option<Name> {
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))
            .ok()?
            .append_domain(&self.name)
            .ok()
    }
}

/// A locally built answer. `authority` gets the SOA whenever the answer section is empty.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
    /// A CNAME target outside our data that the server should resolve and append.
    pub chase: Option<Name>,
}

impl Local {
    fn records(answers: Vec<Record>, additionals: Vec<Record>) -> Self {
        Local {
            rcode: ResponseCode::NoError,
            answers,
            additionals,
            chase: None,
        }
    }

    fn nodata() -> Self {
        Self::records(Vec::new(), Vec::new())
    }

    fn nxdomain(idx: &Index) -> Self {
        // Before the first list completes, absence proves nothing: CoreDNS answers SERVFAIL.
        let rcode = if idx.synced() {
            ResponseCode::NXDomain
        } else {
            ResponseCode::ServFail
        };
        Local {
            rcode,
            ..Default::default()
        }
    }
}

/// One resolvable thing behind a name: a target host name with an address and maybe a port.
#[derive(Debug, PartialEq)]
struct Hit {
    target: Name,
    ip: IpAddr,
    port: Option<u16>,
}

/// Answers `qname`/`qtype` if the name is inside the zone; `None` means "not ours".
/// `lower` is `qname` lower-cased; answers keep the client's spelling as owner name.
pub(crate) fn answer(
    idx: &Index,
    zone: &Zone,
    qname: &Name,
    lower: &Name,
    qtype: RecordType,
) -> Option<Local> {
    let parsed = names::parse(lower, &zone.name)?;
    let ttl = zone.ttl;
    Some(match parsed {
        ClusterName::Invalid => Local::nxdomain(idx),
        ClusterName::Apex { is_zone } => {
            if is_zone && qtype == RecordType::SOA {
                Local::records(vec![zone.soa(idx.serial())], Vec::new())
            } else {
                Local::nodata()
            }
        }
        ClusterName::DnsVersion => {
            if qtype == RecordType::TXT {
                let txt = TXT::new(vec![SCHEMA_VERSION.to_string()]);
                Local::records(
                    vec![Record::from_rdata(qname.clone(), 28800, RData::TXT(txt))],
                    Vec::new(),
                )
            } else {
                Local::nodata()
            }
        }
        ClusterName::Namespace { ns } => {
            if idx.namespace_exists(&ns) {
                Local::nodata()
            } else {
                Local::nxdomain(idx)
            }
        }
        ClusterName::Pod { ns, ip } => match ip {
            Some(ip) if idx.namespace_exists(&ns) => {
                let hit = Hit {
                    target: qname.clone(),
                    ip,
                    port: None,
                };
                Local::records(addresses(qname, &[hit], qtype, ttl), Vec::new())
            }
            _ => Local::nxdomain(idx),
        },
        ClusterName::Service { ns, svc } => service(idx, zone, qname, qtype, &ns, &svc, None, None),
        ClusterName::Endpoint { ns, svc, endpoint } => {
            service(idx, zone, qname, qtype, &ns, &svc, Some(&endpoint), None)
        }
        ClusterName::Port {
            ns,
            svc,
            port,
            proto,
        } => service(
            idx,
            zone,
            qname,
            qtype,
            &ns,
            &svc,
            None,
            Some((&port, &proto)),
        ),
    })
}

#[allow(clippy::too_many_arguments)]
fn service(
    idx: &Index,
    zone: &Zone,
    qname: &Name,
    qtype: RecordType,
    ns: &str,
    name: &str,
    endpoint: Option<&str>,
    port: Option<(&str, &str)>,
) -> Local {
    let Some(svc) = idx.service(ns, name) else {
        return Local::nxdomain(idx);
    };
    if let Kind::ExternalName(target) = &svc.kind {
        // External names have no endpoints or ports; only the bare service name exists.
        if endpoint.is_some() || port.is_some() {
            return Local::nxdomain(idx);
        }
        let Some(target) = target else {
            return Local::nodata();
        };
        let cname =
            Record::from_rdata(qname.clone(), zone.ttl, RData::CNAME(CNAME(target.clone())));
        let mut local = Local::records(vec![cname], Vec::new());
        if qtype != RecordType::CNAME {
            local.chase = Some(target.clone());
        }
        return local;
    }
    let Some(hits) = hits(idx, zone, svc, ns, name, endpoint, port) else {
        return Local::nxdomain(idx);
    };
    match qtype {
        RecordType::SRV => {
            let (answers, additionals) = srv(qname, &hits, zone.ttl);
            Local::records(answers, additionals)
        }
        _ => Local::records(addresses(qname, &hits, qtype, zone.ttl), Vec::new()),
    }
}

/// Everything a service name (optionally narrowed to one endpoint or one port) resolves to;
/// `None` when the narrowed name does not exist.
fn hits(
    idx: &Index,
    zone: &Zone,
    svc: &Service,
    ns: &str,
    name: &str,
    endpoint: Option<&str>,
    port: Option<(&str, &str)>,
) -> Option<Vec<Hit>> {
    let port_matches =
        |p: &crate::index::Port| port.is_none_or(|(n, proto)| p.name == n && p.proto == proto);
    let mut out = Vec::new();
    match (&svc.kind, endpoint) {
        (Kind::ClusterIp(ips), None) => {
            let target = zone.join(&[name, ns, "svc"])?;
            let ports: Vec<Option<u16>> = if svc.ports.is_empty() && port.is_none() {
                vec![None]
            } else {
                svc.ports
                    .iter()
                    .filter(|p| port_matches(p))
                    .map(|p| Some(p.port))
                    .collect()
            };
            if ports.is_empty() {
                return None;
            }
            for p in ports {
                out.extend(ips.iter().map(|ip| Hit {
                    target: target.clone(),
                    ip: *ip,
                    port: p,
                }));
            }
            Some(out)
        }
        // Headless services, and endpoint names of any service (as CoreDNS answers them).
        _ => {
            for slice in idx.slices_of(ns, name) {
                let ports: Vec<Option<u16>> = if slice.ports.is_empty() && port.is_none() {
                    vec![None]
                } else {
                    slice
                        .ports
                        .iter()
                        .filter(|p| port_matches(p))
                        .map(|p| Some(p.port))
                        .collect()
                };
                for ep in slice
                    .endpoints
                    .iter()
                    .filter(|e| e.ready || svc.publish_not_ready)
                {
                    for ip in &ep.addresses {
                        let label = ep.label(ip);
                        if endpoint.is_some_and(|want| want != label) {
                            continue;
                        }
                        let Some(target) = zone.join(&[&label, name, ns, "svc"]) else {
                            continue;
                        };
                        out.extend(ports.iter().map(|p| Hit {
                            target: target.clone(),
                            ip: *ip,
                            port: *p,
                        }));
                    }
                }
            }
            // Like CoreDNS, a headless name without (ready) endpoints does not exist.
            (!out.is_empty()).then_some(out)
        }
    }
}

fn address_record(owner: &Name, ip: IpAddr, ttl: u32) -> Record {
    match ip {
        IpAddr::V4(v4) => Record::from_rdata(owner.clone(), ttl, RData::A(A(v4))),
        IpAddr::V6(v6) => Record::from_rdata(owner.clone(), ttl, RData::AAAA(AAAA(v6))),
    }
}

/// A/AAAA records for the hits' addresses (deduplicated); other types get NODATA.
fn addresses(owner: &Name, hits: &[Hit], qtype: RecordType, ttl: u32) -> Vec<Record> {
    let wanted = |ip: &IpAddr| match qtype {
        RecordType::A => ip.is_ipv4(),
        RecordType::AAAA => ip.is_ipv6(),
        RecordType::ANY => true,
        _ => false,
    };
    let mut seen: Vec<IpAddr> = Vec::new();
    for hit in hits {
        if wanted(&hit.ip) && !seen.contains(&hit.ip) {
            seen.push(hit.ip);
        }
    }
    seen.into_iter()
        .map(|ip| address_record(owner, ip, ttl))
        .collect()
}

/// SRV records (equal priority, weights splitting 100 as CoreDNS does) and the targets'
/// addresses for the additional section, so clients need no second round trip.
fn srv(owner: &Name, hits: &[Hit], ttl: u32) -> (Vec<Record>, Vec<Record>) {
    let mut uniq: Vec<(&Name, u16)> = Vec::new();
    for hit in hits {
        if let Some(port) = hit.port {
            if !uniq.contains(&(&hit.target, port)) {
                uniq.push((&hit.target, port));
            }
        }
    }
    let count = u16::try_from(uniq.len()).unwrap_or(u16::MAX).max(1);
    let weight = (100 / count).max(1);
    let answers = uniq
        .iter()
        .map(|(target, port)| {
            let rdata = SRV::new(0, weight, *port, (*target).clone());
            Record::from_rdata(owner.clone(), ttl, RData::SRV(rdata))
        })
        .collect();
    let mut extra: Vec<(&Name, IpAddr)> = Vec::new();
    for hit in hits.iter().filter(|h| h.port.is_some()) {
        if !extra.contains(&(&hit.target, hit.ip)) {
            extra.push((&hit.target, hit.ip));
        }
    }
    let additionals = extra
        .into_iter()
        .map(|(t, ip)| address_record(t, ip, ttl))
        .collect();
    (answers, additionals)
}

/// PTR answers for a cluster address: the service for a cluster IP, else every endpoint name
/// holding that address. `None` when the address is not ours, so the query falls through to
/// the upstreams (CoreDNS's `fallthrough in-addr.arpa ip6.arpa`).
pub(crate) fn reverse(idx: &Index, zone: &Zone, qname: &Name, ip: &IpAddr) -> Option<Vec<Record>> {
    let ptr = |target: Name| Record::from_rdata(qname.clone(), zone.ttl, RData::PTR(PTR(target)));
    if let Some((ns, name)) = idx.services_by_ip(ip).next() {
        return Some(vec![ptr(zone.join(&[name, ns, "svc"])?)]);
    }
    let records: Vec<Record> = idx
        .endpoints_by_ip(ip)
        .into_iter()
        .filter_map(|(label, (ns, name))| zone.join(&[&label, &name, &ns, "svc"]))
        .map(ptr)
        .collect();
    (!records.is_empty()).then_some(records)
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
