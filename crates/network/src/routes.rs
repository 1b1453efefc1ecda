//! Routes to the other nodes' pod CIDRs.
//!
//! host-gw (flannel's name): a peer whose InternalIP is on one of our connected subnets is
//! reached with a plain route `podCIDR via nodeIP`; pod-to-pod traffic keeps its addresses
//! and costs nothing. A peer behind a router cannot be a gateway, so with VXLAN enabled it
//! goes through `rkube.1` (VNI 1, UDP 8472, flannel's layout): `podCIDR via <peer's
//! podCIDR network address> dev rkube.1 onlink`, a permanent ARP entry for that address and
//! an FDB entry sending its MAC to the peer's InternalIP. The VTEP MACs are derived from the
//! pod CIDRs ([`cidr::mac_from_ip`]), so nodes need not publish them.
//!
//! Our routes carry protocol [`nl::RTPROT_RKUBE`]: sync reads them back from the kernel and
//! changes only the difference, so it needs no state to survive a restart.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{anyhow, Context};
use ipnet::{IpNet, Ipv4Net};

use crate::bridge::{BridgeNetwork, Inner};
use crate::cidr;
use crate::nl::{Netlink, OwnRoute};

pub const VXLAN_DEVICE: &str = "rkube.1";
pub const VXLAN_VNI: u32 = 1;
pub const VXLAN_PORT: u16 = 8472;

/// VXLAN neighbours programmed by this process (to remove the ones whose node left).
#[derive(Debug, Default)]
pub struct RouteState {
    vxlan_peers: BTreeMap<Ipv4Net, Ipv4Addr>,
}

/// What [`BridgeNetwork::sync_routes`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RouteSyncStats {
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub vxlan_peers: usize,
}

impl BridgeNetwork {
    /// Makes the routes to other nodes' pod CIDRs match `peers` (pod CIDR, node InternalIP),
    /// touching only routes that changed. Our own pod CIDR and IPv6 entries are ignored.
    pub async fn sync_routes(&self, peers: &[(IpNet, IpAddr)]) -> anyhow::Result<RouteSyncStats> {
        let peers: Vec<(Ipv4Net, Ipv4Addr)> = peers
            .iter()
            .filter_map(|(net, ip)| match (net, ip) {
                (IpNet::V4(n), IpAddr::V4(i)) => Some((n.trunc(), *i)),
                _ => None,
            })
            .collect();
        let stats = self.on_host(move |inner| inner.sync_routes(&peers)).await?;
        if stats.added + stats.removed > 0 {
            tracing::info!(?stats, "synced routes to peer pod CIDRs");
        }
        Ok(stats)
    }
}

impl Inner {
    fn sync_routes(&self, peers: &[(Ipv4Net, Ipv4Addr)]) -> anyhow::Result<RouteSyncStats> {
        let mut nl = Netlink::open()?;
        let mut state = self
            .host_lock
            .lock()
            .map_err(|_| anyhow!("pod network lock poisoned"))?;
        let mut stats = RouteSyncStats::default();

        let mut desired: Vec<OwnRoute> = Vec::new();
        let mut vxlan: BTreeMap<Ipv4Net, Ipv4Addr> = BTreeMap::new();
        for &(net, node_ip) in peers {
            if net == self.cfg.pod_cidr {
                continue;
            }
            let (oif, via) = nl
                .route_get(node_ip)
                .with_context(|| format!("looking up the route to node {node_ip}"))?;
            let on_link = oif.is_some() && via.is_none();
            if on_link || !self.cfg.vxlan {
                if !on_link {
                    tracing::warn!(%node_ip, pod_cidr = %net,
                        "peer is not on our L2 segment and VXLAN is off; host-gw route may not work");
                }
                desired.push(OwnRoute {
                    dst: net,
                    gateway: Some(node_ip),
                    oif,
                    onlink: false,
                });
            } else {
                vxlan.insert(net, node_ip);
            }
        }
        let vx_index = if vxlan.is_empty() {
            None
        } else {
            Some(self.ensure_vxlan(&mut nl)?)
        };
        if let Some(dev) = vx_index {
            for (&net, &node_ip) in &vxlan {
                let vtep = net.network();
                nl.replace_neighbour(dev, vtep, cidr::mac_from_ip(vtep))?;
                nl.replace_fdb(dev, cidr::mac_from_ip(vtep), node_ip)?;
                desired.push(OwnRoute {
                    dst: net,
                    gateway: Some(vtep),
                    oif: Some(dev),
                    onlink: true,
                });
            }
        }
        // Forget VXLAN neighbours of peers that left or moved to host-gw.
        if let Some(dev) = nl.link_index(crate::routes::VXLAN_DEVICE)? {
            for (net, node_ip) in &state.vxlan_peers {
                if vxlan.get(net) != Some(node_ip) {
                    let vtep = net.network();
                    nl.del_fdb(dev, cidr::mac_from_ip(vtep), *node_ip)?;
                    if !vxlan.contains_key(net) {
                        nl.del_neighbour(dev, vtep)?;
                    }
                }
            }
        }
        stats.vxlan_peers = vxlan.len();
        state.vxlan_peers = vxlan;

        let current = nl.own_routes()?;
        for route in &current {
            let wanted = desired.iter().any(|d| same_route(d, route));
            if !wanted {
                nl.del_route(route)
                    .with_context(|| format!("deleting route to {}", route.dst))?;
                stats.removed += 1;
            }
        }
        for route in &desired {
            if current.iter().any(|c| same_route(route, c)) {
                stats.unchanged += 1;
                continue;
            }
            nl.replace_route(route.dst, route.gateway, route.oif, route.onlink)
                .with_context(|| {
                    format!("adding route to {} via {:?}", route.dst, route.gateway)
                })?;
            stats.added += 1;
        }
        Ok(stats)
    }

    fn ensure_vxlan(&self, nl: &mut Netlink) -> anyhow::Result<u32> {
        let vtep = self.cfg.pod_cidr.network();
        let idx = match nl.link_index(VXLAN_DEVICE)? {
            Some(i) => i,
            None => {
                let mtu = self.mtu(nl);
                nl.add_vxlan(
                    VXLAN_DEVICE,
                    VXLAN_VNI,
                    VXLAN_PORT,
                    self.cfg.node_ip,
                    mtu,
                    cidr::mac_from_ip(vtep),
                )
                .context("creating the VXLAN device")?;
                tracing::info!(
                    device = VXLAN_DEVICE,
                    vni = VXLAN_VNI,
                    port = VXLAN_PORT,
                    "created VXLAN device"
                );
                nl.link_index(VXLAN_DEVICE)?
                    .ok_or_else(|| anyhow!("{VXLAN_DEVICE} vanished"))?
            }
        };
        let addr = Ipv4Net::new(vtep, 32)?;
        if !nl.addresses(idx)?.contains(&addr) {
            nl.add_address(idx, addr)?;
        }
        nl.set_up(idx)?;
        Ok(idx)
    }
}

/// Routes are equal for sync purposes when destination, gateway and (when we asked for one)
/// device match.
fn same_route(desired: &OwnRoute, current: &OwnRoute) -> bool {
    desired.dst == current.dst
        && desired.gateway == current.gateway
        && (desired.oif.is_none() || desired.oif == current.oif)
}
