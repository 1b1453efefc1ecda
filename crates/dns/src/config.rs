//! Server configuration and the `/etc/resolv.conf` parser that supplies the default upstreams.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// Everything [`crate::run`] needs besides the API client.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Addresses to serve on; each gets a UDP and a TCP listener (e.g. `10.43.0.10:53`).
    pub listen: Vec<SocketAddr>,
    /// The cluster domain (`cluster.local`), with or without the trailing dot.
    pub cluster_domain: String,
    /// Resolvers that answer every name outside the cluster domain, tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// TTL of cluster records and of the SOA's negative-caching minimum (CoreDNS default: 5).
    pub ttl: u32,
    /// How long one upstream gets to answer before the next one is tried.
    pub upstream_timeout: Duration,
    /// Maximum number of forwarded answers kept in the cache.
    pub cache_size: usize,
}

impl DnsConfig {
    /// A configuration with CoreDNS's defaults and upstreams taken from the node's
    /// `/etc/resolv.conf` (none when the file is missing: every forwarded query then fails
    /// with SERVFAIL, which is what a pod would see with an unreachable upstream anyway).
    pub fn new(listen: Vec<SocketAddr>, cluster_domain: impl Into<String>) -> Self {
        let upstreams =
            upstreams_from_resolv_conf(Path::new("/etc/resolv.conf")).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read /etc/resolv.conf; no upstream resolvers");
                Vec::new()
            });
        DnsConfig {
            listen,
            cluster_domain: cluster_domain.into(),
            upstreams,
            ttl: 5,
            upstream_timeout: Duration::from_secs(2),
            cache_size: 10_000,
        }
    }

    /// Replaces the upstreams (tests and `--resolv-conf`-style overrides).
    pub fn with_upstreams(mut self, upstreams: Vec<SocketAddr>) -> Self {
        self.upstreams = upstreams;
        self
    }
}

/// Reads the `nameserver` lines of a resolv.conf file (port 53 each).
pub fn upstreams_from_resolv_conf(path: &Path) -> std::io::Result<Vec<SocketAddr>> {
    Ok(parse_resolv_conf(&std::fs::read_to_string(path)?))
}

/// Parses resolv.conf text into upstream addresses. Zone ids (`fe80::1%eth0`) are dropped:
/// the scope cannot be expressed in a [`SocketAddr`] parsed from text portably, and
/// link-local resolvers are rare enough on servers that skipping them is the safe choice.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        if let Ok(ip) = addr.parse::<IpAddr>() {
            let sa = SocketAddr::new(ip, 53);
            if !out.contains(&sa) {
                out.push(sa);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nameservers_and_skips_noise() {
        let text = "# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver  2001:db8::1 # v6\n\
                    nameserver fe80::1%eth0\nnameserver 10.0.0.2\n;nameserver 9.9.9.9\noptions ndots:5\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn reads_file() {
        let dir = std::env::temp_dir().join(format!("rkube-dns-resolv-{}", std::process::id()));
        std::fs::write(&dir, "nameserver 192.0.2.53\n").unwrap();
        let got = upstreams_from_resolv_conf(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(got, vec!["192.0.2.53:53".parse::<SocketAddr>().unwrap()]);
    }
}
