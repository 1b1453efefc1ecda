//! Service cluster IPs and node ports: allocated by the API server on create, as upstream's
//! service REST storage does, from `--service-cidr` and 30000–32767.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rkube_apimachinery::status::{ApiError, Cause};
use serde_json::{json, Value};

use crate::cache::Cache;

pub const NODE_PORT_RANGE: (u16, u16) = (30000, 32767);
/// How long a fresh allocation is remembered before the cache must show it.
const PENDING: Duration = Duration::from_secs(60);

/// An IPv4 range such as 10.43.0.0/16.
#[derive(Clone, Copy, Debug)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        if bits > 30 {
            return None;
        }
        let mask = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
        Some(Cidr {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            bits,
        })
    }

    pub fn size(&self) -> u32 {
        1u32 << (32 - self.bits as u32)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let off = u32::from(ip).wrapping_sub(u32::from(self.base));
        u32::from(ip) >= u32::from(self.base) && off < self.size()
    }

    /// The address at `offset` from the start of the range.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + offset)
    }
}

#[derive(Default)]
pub struct Allocator {
    pending_ips: HashMap<Ipv4Addr, Instant>,
    pending_ports: HashMap<u16, Instant>,
}

fn in_use(cache: &Cache) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
    let services = cache.list("/registry/services/specs/", &|_| true);
    let mut ips: HashSet<Ipv4Addr> = HashSet::new();
    let mut ports = HashSet::new();
    for s in services.items {
        if let Some(list) = s.pointer("/spec/clusterIPs").and_then(Value::as_array) {
            ips.extend(
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|i| i.parse::<Ipv4Addr>().ok()),
            );
        }
        if let Some(ip) = s
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|i| i.parse().ok())
        {
            ips.insert(ip);
        }
        for p in s
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                ports.insert(n as u16);
            }
        }
    }
    (ips, ports)
}

impl Allocator {
    /// Fills `spec.clusterIP(s)` and node ports of a new Service.
    pub fn service(
        &mut self,
        cache: &Cache,
        cidr: Cidr,
        svc: &mut Value,
        name: &str,
    ) -> Result<(), ApiError> {
        let now = Instant::now();
        self.pending_ips
            .retain(|_, t| now.duration_since(*t) < PENDING);
        self.pending_ports
            .retain(|_, t| now.duration_since(*t) < PENDING);
        let (mut ips, mut ports) = in_use(cache);
        ips.extend(self.pending_ips.keys());
        ports.extend(self.pending_ports.keys());
        let invalid = |field: &str, msg: String| {
            ApiError::invalid(
                "",
                "Service",
                name,
                vec![Cause::new("FieldValueInvalid", field, msg)],
            )
        };
        let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty != "ExternalName" {
            let requested = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ip = match requested.as_str() {
                "None" => None,
                "" => {
                    // Random probe, then a scan, skipping the network address and .1 (the
                    // `kubernetes` Service's, requested explicitly at bootstrap).
                    let size = cidr.size();
                    let start = (uuid::Uuid::new_v4().as_u128() % (size as u128 - 2)) as u32 + 1;
                    let found = (0..size - 2)
                        .map(|i| cidr.nth(1 + (start - 1 + i) % (size - 2)))
                        .find(|ip| !ips.contains(ip) && *ip != cidr.nth(1));
                    match found {
                        Some(ip) => Some(ip),
                        None => {
                            return Err(ApiError::internal(
                                "failed to allocate a serviceIP: range is full",
                            ))
                        }
                    }
                }
                s => {
                    let ip: Ipv4Addr = s.parse().map_err(|_| {
                        invalid("spec.clusterIPs", format!("Invalid value: []string{{\"{s}\"}}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
                    })?;
                    if !cidr.contains(ip) {
                        return Err(invalid("spec.clusterIPs", format!(
                            "Invalid value: []string{{\"{s}\"}}: failed to allocate IP {s}: the provided IP ({s}) is not in the valid range. The range of valid IPs is {}/{}",
                            cidr.base, cidr.bits
                        )));
                    }
                    if ips.contains(&ip) {
                        return Err(invalid("spec.clusterIPs", format!(
                            "Invalid value: []string{{\"{s}\"}}: failed to allocate IP {s}: provided IP is already allocated"
                        )));
                    }
                    Some(ip)
                }
            };
            match ip {
                Some(ip) => {
                    self.pending_ips.insert(ip, now);
                    spec.insert("clusterIP".into(), json!(ip.to_string()));
                    spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                }
                None => {
                    spec.insert("clusterIP".into(), json!("None"));
                    spec.insert("clusterIPs".into(), json!(["None"]));
                }
            }
        }
        if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
            let ports_list = spec.get_mut("ports").and_then(Value::as_array_mut);
            for (i, p) in ports_list.into_iter().flatten().enumerate() {
                match p.get("nodePort").and_then(Value::as_u64) {
                    Some(n) => {
                        let n16 = n as u16;
                        if n > u16::MAX as u64 || n16 < NODE_PORT_RANGE.0 || n16 > NODE_PORT_RANGE.1
                        {
                            return Err(invalid(&format!("spec.ports[{i}].nodePort"), format!(
                                "Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {}-{}",
                                NODE_PORT_RANGE.0, NODE_PORT_RANGE.1
                            )));
                        }
                        if ports.contains(&n16) {
                            return Err(invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                format!("Invalid value: {n}: provided port is already allocated"),
                            ));
                        }
                        ports.insert(n16);
                        self.pending_ports.insert(n16, now);
                    }
                    None => {
                        let span = (NODE_PORT_RANGE.1 - NODE_PORT_RANGE.0) as u32 + 1;
                        let start = (uuid::Uuid::new_v4().as_u128() % span as u128) as u32;
                        let found = (0..span)
                            .map(|k| NODE_PORT_RANGE.0 + ((start + k) % span) as u16)
                            .find(|n| !ports.contains(n));
                        let Some(n) = found else {
                            return Err(ApiError::internal(
                                "failed to allocate a nodePort: range is full",
                            ));
                        };
                        ports.insert(n);
                        self.pending_ports.insert(n, now);
                        p["nodePort"] = json!(n);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.43.0.0/16").unwrap();
        assert_eq!(c.size(), 65536);
        assert!(c.contains("10.43.200.1".parse().unwrap()));
        assert!(!c.contains("10.44.0.1".parse().unwrap()));
        assert_eq!(c.nth(10), "10.43.0.10".parse::<Ipv4Addr>().unwrap());
    }
}
