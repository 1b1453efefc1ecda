//! Query-name parsing: what a name inside the cluster domain refers to, and which address a
//! reverse (`in-addr.arpa` / `ip6.arpa`) name stands for.
//!
//! The shapes follow the Kubernetes DNS specification as CoreDNS's kubernetes plugin reads it:
//! everything is relative to the zone, the last label is `svc` or `pod`, the one before it the
//! namespace, then the service (or the dashed pod IP), then an endpoint hostname or a
//! `_port._proto` pair.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// What a (lower-cased) name inside the cluster zone asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterName {
    /// The zone itself, or `svc.<zone>` / `pod.<zone>`: they exist but hold no addresses.
    Apex { is_zone: bool },
    /// `dns-version.<zone>`, the schema version TXT record the specification requires.
    DnsVersion,
    /// `<ns>.svc.<zone>` or `<ns>.pod.<zone>`: exists iff the namespace does.
    Namespace { ns: String },
    /// `<svc>.<ns>.svc.<zone>`.
    Service { ns: String, svc: String },
    /// `<endpoint>.<svc>.<ns>.svc.<zone>`: an endpoint hostname (or its dashed IP).
    Endpoint {
        ns: String,
        svc: String,
        endpoint: String,
    },
    /// `_<port>._<proto>.<svc>.<ns>.svc.<zone>`.
    Port {
        ns: String,
        svc: String,
        port: String,
        proto: String,
    },
    /// `<a-b-c-d>.<ns>.pod.<zone>`; `None` when the label is not a dashed IP.
    Pod { ns: String, ip: Option<IpAddr> },
    /// Anything else under the zone; such names never exist.
    Invalid,
}

/// Classifies `name` relative to `zone`; `None` when the name is outside the zone.
/// Both names must already be lower-cased (the index stores lower-case keys).
pub(crate) fn parse(name: &Name, zone: &Name) -> Option<ClusterName> {
    if !zone.zone_of(name) {
        return None;
    }
    let extra = usize::from(name.num_labels()) - usize::from(zone.num_labels());
    let mut labels = Vec::with_capacity(extra);
    for raw in name.iter().take(extra) {
        match std::str::from_utf8(raw) {
            Ok(s) => labels.push(s),
            Err(_) => return Some(ClusterName::Invalid),
        }
    }
    Some(classify(&labels))
}

/// `labels` are the query's labels left of the zone, leftmost first.
fn classify(labels: &[&str]) -> ClusterName {
    let own = |s: &str| s.to_string();
    match labels {
        [] => ClusterName::Apex { is_zone: true },
        ["svc"] | ["pod"] => ClusterName::Apex { is_zone: false },
        ["dns-version"] => ClusterName::DnsVersion,
        [ns, "svc"] | [ns, "pod"] => ClusterName::Namespace { ns: own(ns) },
        [svc, ns, "svc"] => ClusterName::Service {
            ns: own(ns),
            svc: own(svc),
        },
        [ep, svc, ns, "svc"] => ClusterName::Endpoint {
            ns: own(ns),
            svc: own(svc),
            endpoint: own(ep),
        },
        [port, proto, svc, ns, "svc"] => ClusterName::Port {
            ns: own(ns),
            svc: own(svc),
            port: own(port.strip_prefix('_').unwrap_or(port)),
            proto: own(proto.strip_prefix('_').unwrap_or(proto)),
        },
        [pod, ns, "pod"] => ClusterName::Pod {
            ns: own(ns),
            ip: pod_ip(pod),
        },
        _ => ClusterName::Invalid,
    }
}

/// Reads the dashed pod-IP label the way CoreDNS does: three dashes and no `--` is IPv4,
/// anything else is IPv6 with `-` for `:`.
fn pod_ip(label: &str) -> Option<IpAddr> {
    let text = if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".")
    } else {
        label.replace('-', ":")
    };
    text.parse().ok()
}

/// The DNS label for an endpoint without a hostname: its IP with dashes, as CoreDNS names it.
pub(crate) fn dashed_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let s = v6.to_string().replace(':', "-");
            if s.ends_with('-') {
                format!("{s}0")
            } else {
                s
            }
        }
    }
}

/// The address a full reverse name stands for; `None` for partial names and everything else.
pub(crate) fn reverse_ip(name: &Name) -> Option<IpAddr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    match labels.as_slice() {
        [d, c, b, a, arpa1, arpa2]
            if arpa1.eq_ignore_ascii_case(b"in-addr") && arpa2.eq_ignore_ascii_case(b"arpa") =>
        {
            let octet = |l: &[u8]| std::str::from_utf8(l).ok()?.parse::<u8>().ok();
            Some(IpAddr::V4(Ipv4Addr::new(
                octet(a)?,
                octet(b)?,
                octet(c)?,
                octet(d)?,
            )))
        }
        [nibbles @ .., ip6, arpa]
            if nibbles.len() == 32
                && ip6.eq_ignore_ascii_case(b"ip6")
                && arpa.eq_ignore_ascii_case(b"arpa") =>
        {
            let mut value: u128 = 0;
            for l in nibbles.iter().rev() {
                let [c] = l else { return None };
                let digit = char::from(*c).to_digit(16)?;
                value = (value << 4) | u128::from(digit);
            }
            Some(IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> Option<ClusterName> {
        let zone = Name::from_ascii("cluster.local.").unwrap();
        parse(&Name::from_ascii(name).unwrap().to_lowercase(), &zone)
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn cluster_shapes() {
        assert_eq!(p("example.com."), None);
        assert_eq!(p("local."), None);
        assert_eq!(
            p("cluster.local."),
            Some(ClusterName::Apex { is_zone: true })
        );
        assert_eq!(
            p("svc.cluster.local."),
            Some(ClusterName::Apex { is_zone: false })
        );
        assert_eq!(
            p("dns-version.cluster.local."),
            Some(ClusterName::DnsVersion)
        );
        assert_eq!(
            p("default.svc.cluster.local."),
            Some(ClusterName::Namespace { ns: s("default") })
        );
        assert_eq!(
            p("Kubernetes.Default.SVC.Cluster.Local."),
            Some(ClusterName::Service {
                ns: s("default"),
                svc: s("kubernetes")
            })
        );
        assert_eq!(
            p("web-0.web.ns.svc.cluster.local."),
            Some(ClusterName::Endpoint {
                ns: s("ns"),
                svc: s("web"),
                endpoint: s("web-0")
            })
        );
        assert_eq!(
            p("_http._tcp.web.ns.svc.cluster.local."),
            Some(ClusterName::Port {
                ns: s("ns"),
                svc: s("web"),
                port: s("http"),
                proto: s("tcp")
            })
        );
        assert_eq!(
            p("10-42-0-7.ns.pod.cluster.local."),
            Some(ClusterName::Pod {
                ns: s("ns"),
                ip: Some("10.42.0.7".parse().unwrap())
            })
        );
        assert_eq!(
            p("fd00--1.ns.pod.cluster.local."),
            Some(ClusterName::Pod {
                ns: s("ns"),
                ip: Some("fd00::1".parse().unwrap())
            })
        );
        assert_eq!(
            p("nope.ns.pod.cluster.local."),
            Some(ClusterName::Pod {
                ns: s("ns"),
                ip: None
            })
        );
        // Search-path expansions of external names must be recognised as ours (fast NXDOMAIN).
        assert_eq!(
            p("www.example.com.svc.cluster.local."),
            Some(ClusterName::Endpoint {
                ns: s("com"),
                svc: s("example"),
                endpoint: s("www")
            })
        );
        assert_eq!(
            p("a.b.c.d.e.f.svc.cluster.local."),
            Some(ClusterName::Invalid)
        );
        assert_eq!(
            p("x.default.other.cluster.local."),
            Some(ClusterName::Invalid)
        );
    }

    #[test]
    fn dashed_names() {
        assert_eq!(dashed_ip(&"10.42.1.9".parse().unwrap()), "10-42-1-9");
        assert_eq!(dashed_ip(&"fd00::".parse().unwrap()), "fd00--0");
        assert_eq!(
            pod_ip(&dashed_ip(&"fd00::5".parse().unwrap())),
            Some("fd00::5".parse().unwrap())
        );
    }

    #[test]
    fn reverse_names() {
        let r = |n: &str| reverse_ip(&Name::from_ascii(n).unwrap());
        assert_eq!(
            r("10.0.43.10.in-addr.arpa."),
            Some("10.43.0.10".parse().unwrap())
        );
        assert_eq!(
            r("10.0.43.10.IN-ADDR.ARPA."),
            Some("10.43.0.10".parse().unwrap())
        );
        assert_eq!(r("0.43.10.in-addr.arpa."), None);
        assert_eq!(r("300.0.43.10.in-addr.arpa."), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
        assert_eq!(r(v6), Some("fd00::1".parse().unwrap()));
        assert_eq!(r("example.com."), None);
    }
}
