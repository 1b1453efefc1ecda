//! hostPort: a pod's container port published on the node's addresses (the CNI `portmap`
//! plugin's job), in a table of its own so the service proxy's table stays independent.
//!
//! Two maps DNAT new connections: `hostports` for ports published on every local address
//! (no hostIP), `hostip-ports` for ports bound to one hostIP. A pod reaching its own host
//! port is masqueraded (the `hairpin` set), or its reply would bypass the DNAT. Like the
//! proxier, the first sync writes the whole table in one transaction (deleting what an
//! earlier run left), later syncs send only the elements that changed.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::nft::Nft;
use crate::proxy::Protocol;

/// Default table name.
pub const TABLE: &str = "rkube-hostports";

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    pub protocol: Protocol,
    /// The node address the port is bound to; `None` for all of them.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub pod_ip: Ipv4Addr,
    pub container_port: u16,
}

impl HostPort {
    fn map(&self) -> &'static str {
        if self.host_ip.is_some() {
            "hostip-ports"
        } else {
            "hostports"
        }
    }

    fn key(&self) -> String {
        match self.host_ip {
            Some(ip) => format!("{ip} . {} . {}", self.protocol.nft(), self.host_port),
            None => format!("{} . {}", self.protocol.nft(), self.host_port),
        }
    }

    fn element(&self) -> String {
        format!("{} : {} . {}", self.key(), self.pod_ip, self.container_port)
    }
}

/// Keeps the host-port table equal to the wanted set.
pub struct HostPorts {
    nft: Nft,
    table: String,
    /// What the kernel holds, as far as we know; `None` until the first (full) sync and
    /// after a failed one.
    applied: Option<BTreeSet<HostPort>>,
}

impl HostPorts {
    pub fn new(nft: Nft) -> Self {
        Self::with_table(nft, TABLE)
    }

    pub fn with_table(nft: Nft, table: &str) -> Self {
        HostPorts {
            nft,
            table: table.to_string(),
            applied: None,
        }
    }

    /// Makes the table publish exactly `want`. Two pods asking for the same port: the
    /// first in order wins (the scheduler's host-port filter keeps that from happening).
    pub fn sync(&mut self, want: &BTreeSet<HostPort>) -> anyhow::Result<()> {
        let mut taken = BTreeSet::new();
        let want: BTreeSet<HostPort> = want
            .iter()
            .filter(|h| taken.insert((h.map(), h.key())))
            .copied()
            .collect();
        let script = match &self.applied {
            None => self.full(&want),
            Some(have) => {
                if *have == want {
                    return Ok(());
                }
                self.delta(have, &want)
            }
        };
        match self.nft.apply(&script) {
            Ok(()) => {
                self.applied = Some(want);
                Ok(())
            }
            Err(e) => {
                self.applied = None;
                Err(e)
            }
        }
    }

    /// Removes the table (agent uninstall, tests).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let t = &self.table;
        self.applied = None;
        self.nft
            .apply(&format!("table ip {t} {{}}\ndelete table ip {t}\n"))
    }

    fn full(&self, want: &BTreeSet<HostPort>) -> String {
        let t = &self.table;
        let mut s = skeleton(t);
        for h in want {
            add(&mut s, t, h);
        }
        s
    }

    fn delta(&self, have: &BTreeSet<HostPort>, want: &BTreeSet<HostPort>) -> String {
        let t = &self.table;
        let mut s = String::new();
        for h in have.difference(want) {
            let _ = writeln!(s, "delete element ip {t} {} {{ {} }}", h.map(), h.key());
            if !want.iter().any(|w| w.pod_ip == h.pod_ip) {
                let _ = writeln!(s, "delete element ip {t} hairpin {{ {0} . {0} }}", h.pod_ip);
            }
        }
        for h in want.difference(have) {
            // `add` of an element that exists is not an error.
            add(&mut s, t, h);
        }
        s
    }
}

fn add(s: &mut String, t: &str, h: &HostPort) {
    let _ = writeln!(s, "add element ip {t} {} {{ {} }}", h.map(), h.element());
    let _ = writeln!(s, "add element ip {t} hairpin {{ {0} . {0} }}", h.pod_ip);
}

/// The table, replacing any earlier one in the same transaction. Host ports on 127.0.0.0/8
/// are not published (as node ports are not): that would need route_localnet.
fn skeleton(t: &str) -> String {
    format!(
        "table ip {t} {{}}
delete table ip {t}
table ip {t} {{
\tmap hostports {{ typeof ip protocol . tcp dport : ip daddr . tcp dport; }}
\tmap hostip-ports {{ typeof ip daddr . ip protocol . tcp dport : ip daddr . tcp dport; }}
\tset hairpin {{ type ipv4_addr . ipv4_addr; }}
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat - 10; policy accept;
\t\tdnat ip to ip daddr . meta l4proto . th dport map @hostip-ports
\t\tfib daddr type local ip daddr != 127.0.0.0/8 dnat ip to meta l4proto . th dport map @hostports
\t}}
\tchain output {{
\t\ttype nat hook output priority -110; policy accept;
\t\tdnat ip to ip daddr . meta l4proto . th dport map @hostip-ports
\t\tfib daddr type local ip daddr != 127.0.0.0/8 dnat ip to meta l4proto . th dport map @hostports
\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat - 10; policy accept;
\t\tct status dnat ip saddr . ip daddr @hairpin masquerade
\t}}
}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(port: u16, pod: [u8; 4], host_ip: Option<[u8; 4]>) -> HostPort {
        HostPort {
            protocol: Protocol::Tcp,
            host_ip: host_ip.map(Ipv4Addr::from),
            host_port: port,
            pod_ip: Ipv4Addr::from(pod),
            container_port: 80,
        }
    }

    #[test]
    fn full_then_deltas() {
        let h = HostPorts::new(Nft::new(None));
        let a = hp(8080, [10, 42, 0, 5], None);
        let b = hp(53, [10, 42, 0, 6], Some([172, 30, 0, 10]));
        let full = h.full(&[a, b].into_iter().collect());
        assert!(full
            .contains("add element ip rkube-hostports hostports { tcp . 8080 : 10.42.0.5 . 80 }"));
        assert!(full.contains(
            "add element ip rkube-hostports hostip-ports { 172.30.0.10 . tcp . 53 : 10.42.0.6 . 80 }"
        ));
        let have: BTreeSet<_> = [a, b].into_iter().collect();
        let want: BTreeSet<_> = [a].into_iter().collect();
        let d = h.delta(&have, &want);
        assert_eq!(
            d,
            "delete element ip rkube-hostports hostip-ports { 172.30.0.10 . tcp . 53 }\n\
             delete element ip rkube-hostports hairpin { 10.42.0.6 . 10.42.0.6 }\n"
        );
        // The same pod keeps its hairpin element when one of its ports changes.
        let a2 = HostPort {
            host_port: 8081,
            ..a
        };
        let d = h.delta(&want, &[a2].into_iter().collect());
        assert!(d.contains("delete element ip rkube-hostports hostports { tcp . 8080 }"));
        assert!(
            d.contains("add element ip rkube-hostports hostports { tcp . 8081 : 10.42.0.5 . 80 }")
        );
    }
}
