//! The pod network (bridge, veth per pod, host-local IPAM, routes between nodes) and the
//! service proxy (one nftables table built around shared maps).
//!
//! - [`BridgeNetwork`] (`bridge`, `ipam`, `routes`, `sysctl`): what the CNI `bridge` and
//!   `host-local` plugins plus flannel's host-gw/VXLAN backends do, over netlink.
//! - [`proxy::Proxier`]: kube-proxy's nftables mode — a pure data model of Services and
//!   endpoints in, minimal atomic nftables transactions out (libnftables in-process, or
//!   `nft -f -`).
//!
//! Everything that touches the kernel can be pointed at another network namespace
//! ([`BridgeConfig::host_netns`], [`proxy::ProxierConfig::netns`]); the tests build whole
//! nodes inside scratch namespaces that way.

pub mod bridge;
pub mod cidr;
pub mod hostport;
pub mod ipam;
mod libnft;
pub mod netns;
pub mod nft;
pub mod nl;
pub mod proxy;
pub mod routes;
pub mod sysctl;

pub use bridge::{BridgeConfig, BridgeNetwork};
pub use ipam::HostLocalIpam;
pub use routes::RouteSyncStats;
