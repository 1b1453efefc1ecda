//! IPv4 CIDR arithmetic shared by IPAM, the bridge and the routes.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The `n`-th address of `net` counted from its network address, `None` past its end.
pub fn nth(net: Ipv4Net, n: u32) -> Option<Ipv4Addr> {
    let base = u32::from(net.network());
    let size = size(net);
    if u64::from(n) >= size {
        return None;
    }
    Some(Ipv4Addr::from(base.checked_add(n)?))
}

/// How many addresses `net` spans.
pub fn size(net: Ipv4Net) -> u64 {
    1u64 << (32 - u32::from(net.prefix_len()))
}

/// Position of `ip` inside `net` (`None` when outside).
pub fn offset(net: Ipv4Net, ip: Ipv4Addr) -> Option<u32> {
    net.contains(&ip)
        .then(|| u32::from(ip) - u32::from(net.network()))
}

/// The gateway of a pod CIDR: its first usable address (what the CNI bridge plugin and
/// flannel use), kept on the node's bridge.
pub fn gateway(net: Ipv4Net) -> Option<Ipv4Addr> {
    if net.prefix_len() > 30 {
        return None;
    }
    nth(net, 1)
}

/// A locally administered MAC derived from an IPv4 address (`0a:58:` + the address, as
/// OVN-Kubernetes does): stable across restarts and computable by every node, so the bridge
/// and the VXLAN devices need no MAC exchange between nodes.
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x0a, 0x58, o[0], o[1], o[2], o[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn arithmetic() {
        let n = net("10.42.3.0/24");
        assert_eq!(size(n), 256);
        assert_eq!(nth(n, 0), Some(Ipv4Addr::new(10, 42, 3, 0)));
        assert_eq!(nth(n, 255), Some(Ipv4Addr::new(10, 42, 3, 255)));
        assert_eq!(nth(n, 256), None);
        assert_eq!(gateway(n), Some(Ipv4Addr::new(10, 42, 3, 1)));
        assert_eq!(offset(n, Ipv4Addr::new(10, 42, 3, 17)), Some(17));
        assert_eq!(offset(n, Ipv4Addr::new(10, 42, 4, 17)), None);
        // A host-bit-carrying CIDR is normalised to its network.
        assert_eq!(
            nth(net("10.42.3.77/24"), 1),
            Some(Ipv4Addr::new(10, 42, 3, 1))
        );
        assert_eq!(size(net("0.0.0.0/0")), 1 << 32);
        assert_eq!(nth(net("0.0.0.0/0"), u32::MAX), Some(Ipv4Addr::BROADCAST));
        assert_eq!(gateway(net("10.0.0.0/31")), None);
        assert_eq!(
            gateway(net("10.0.0.0/30")),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            mac_from_ip(Ipv4Addr::new(10, 42, 0, 1)),
            [0x0a, 0x58, 10, 42, 0, 1]
        );
    }
}
