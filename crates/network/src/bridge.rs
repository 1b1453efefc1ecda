//! The node's pod network: one Linux bridge holding the gateway address, one veth pair per
//! pod (the CNI `bridge` plugin's shape), addresses from [`HostLocalIpam`].

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use ipnet::Ipv4Net;

use crate::cidr;
use crate::ipam::HostLocalIpam;
use crate::netns;
use crate::nft::Nft;
use crate::nl::{self, Netlink};

/// Default bridge name.
pub const DEFAULT_BRIDGE: &str = "rkube0";
/// Name of the pod-side interface.
pub const POD_IFNAME: &str = "eth0";
/// The nftables table holding the pod network's own rules (egress masquerade).
pub const NAT_TABLE: &str = "rkube";
/// VXLAN encapsulation overhead subtracted from the uplink MTU.
pub const VXLAN_OVERHEAD: u32 = 50;

/// How a node's pod network is set up.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// This node's pod CIDR (`spec.podCIDR`), e.g. 10.42.0.0/24.
    pub pod_cidr: Ipv4Net,
    /// The whole cluster's pod CIDR (10.42.0.0/16): traffic leaving it is masqueraded.
    pub cluster_cidr: Ipv4Net,
    /// Bridge device name.
    pub bridge: String,
    /// Pod MTU; `None` takes the uplink's (minus the VXLAN overhead when VXLAN is on).
    pub mtu: Option<u32>,
    /// `<data-dir>`; IPAM state lives in `<data-dir>/agent/ipam/`.
    pub data_dir: PathBuf,
    /// This node's InternalIP (the VXLAN tunnel source).
    pub node_ip: Option<Ipv4Addr>,
    /// Reach peers that are not on our L2 segment through VXLAN (device `rkube.1`); peers
    /// on the segment always get plain host-gw routes.
    pub vxlan: bool,
    /// The network namespace holding the node side (bridge, routes, nftables). `None` is the
    /// agent's own; tests and multi-node-in-one-process setups point it elsewhere.
    pub host_netns: Option<PathBuf>,
}

impl BridgeConfig {
    pub fn new(pod_cidr: Ipv4Net, cluster_cidr: Ipv4Net, data_dir: impl Into<PathBuf>) -> Self {
        BridgeConfig {
            pod_cidr: pod_cidr.trunc(),
            cluster_cidr: cluster_cidr.trunc(),
            bridge: DEFAULT_BRIDGE.to_string(),
            mtu: None,
            data_dir: data_dir.into(),
            node_ip: None,
            vxlan: false,
            host_netns: None,
        }
    }
}

/// The pod network of one node.
#[derive(Clone)]
pub struct BridgeNetwork {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: BridgeConfig,
    pub(crate) ipam: HostLocalIpam,
    pub(crate) gateway: Ipv4Addr,
    /// Serialises host-side changes (bridge creation, route sync) within this process.
    pub(crate) host_lock: std::sync::Mutex<crate::routes::RouteState>,
    /// Set once the node side (sysctls, bridge, masquerade table) is known to be in place;
    /// a pod setup then only checks that the bridge still exists instead of running `nft`
    /// again, which serialised every pod start behind one process spawn.
    pub(crate) host_ready: std::sync::atomic::AtomicBool,
}

/// Host-side veth name of a pod: derived from its uid so that teardown finds it without
/// state, and short enough for IFNAMSIZ.
pub fn host_veth_name(uid: &str) -> String {
    // FNV-1a: stable across releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("rk{:012x}", h & 0xffff_ffff_ffff)
}

impl BridgeNetwork {
    pub fn new(cfg: BridgeConfig) -> anyhow::Result<Self> {
        let gateway = cidr::gateway(cfg.pod_cidr)
            .ok_or_else(|| anyhow!("pod CIDR {} has no room for a gateway", cfg.pod_cidr))?;
        if !cfg.cluster_cidr.contains(&cfg.pod_cidr) {
            tracing::warn!(pod_cidr = %cfg.pod_cidr, cluster_cidr = %cfg.cluster_cidr,
                "pod CIDR is outside the cluster CIDR");
        }
        let ipam = HostLocalIpam::new(cfg.data_dir.join("agent/ipam"), cfg.pod_cidr)?;
        Ok(BridgeNetwork {
            inner: Arc::new(Inner {
                cfg,
                ipam,
                gateway,
                host_lock: std::sync::Mutex::new(Default::default()),
                host_ready: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.inner.cfg
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.inner.gateway
    }

    pub fn ipam(&self) -> &HostLocalIpam {
        &self.inner.ipam
    }

    /// Runs blocking host-side work in the host namespace, off the async runtime.
    pub(crate) async fn on_host<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> anyhow::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let ns = inner.cfg.host_netns.clone();
            netns::run_in(ns.as_deref(), || f(&inner))
        })
        .await
        .map_err(|e| anyhow!("pod network task failed: {e}"))?
    }

    /// Makes sure the node side exists: sysctls, the bridge with the gateway address, up,
    /// and the egress masquerade rules. Idempotent; `setup` calls it every time, so a bridge
    /// someone deleted comes back with the next pod.
    pub async fn ensure_host(&self) -> anyhow::Result<()> {
        self.on_host(|inner| inner.ensure_host().map(|_| ())).await
    }

    /// Connects the pod's network namespace (`netns`, a bind-mounted `/proc/<pid>/ns/net`)
    /// and returns its address. Calling it again for the same uid returns the same address
    /// and repairs what is missing.
    pub async fn setup(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        netns: &Path,
    ) -> anyhow::Result<IpAddr> {
        let (pod, uid_s, ns_path) = (
            format!("{namespace}/{name}"),
            uid.to_string(),
            netns.to_path_buf(),
        );
        let span_pod = pod.clone();
        let ip = self
            .on_host(move |inner| inner.setup(&uid_s, &ns_path))
            .await
            .with_context(|| format!("pod network setup for {span_pod}"))?;
        tracing::info!(pod = %pod, uid, %ip, "pod network up");
        Ok(IpAddr::V4(ip))
    }

    /// Deletes the pod's veth pair and releases its address. Works when the namespace is
    /// already gone (the host end is found by name).
    pub async fn teardown(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        _netns: &Path,
    ) -> anyhow::Result<()> {
        let uid_s = uid.to_string();
        self.on_host(move |inner| inner.teardown(&uid_s))
            .await
            .with_context(|| format!("pod network teardown for {namespace}/{name}"))?;
        tracing::info!(pod = %format!("{namespace}/{name}"), uid, "pod network down");
        Ok(())
    }
}

impl Inner {
    /// The uplink's MTU: that of the interface carrying the default route, else 1500.
    fn uplink_mtu(nl: &mut Netlink) -> u32 {
        let probe = Ipv4Addr::new(1, 1, 1, 1);
        match nl.route_get(probe) {
            Ok((Some(oif), _)) => nl
                .link_by_index(oif)
                .ok()
                .flatten()
                .and_then(|l| nl::link_mtu(&l))
                .unwrap_or(1500),
            _ => 1500,
        }
    }

    pub(crate) fn mtu(&self, nl: &mut Netlink) -> u32 {
        self.cfg.mtu.unwrap_or_else(|| {
            let up = Self::uplink_mtu(nl);
            if self.cfg.vxlan {
                up.saturating_sub(VXLAN_OVERHEAD)
            } else {
                up
            }
        })
    }

    fn ensure_host(&self) -> anyhow::Result<u32> {
        use std::sync::atomic::Ordering;
        let mut nl = Netlink::open()?;
        let mtu = self.mtu(&mut nl);
        if self.host_ready.load(Ordering::Acquire) {
            if nl.link_index(&self.cfg.bridge)?.is_some() {
                return Ok(mtu);
            }
            // Someone removed the bridge: redo everything.
            self.host_ready.store(false, Ordering::Release);
        }
        crate::sysctl::ensure_pod_network_sysctls()?;
        let _guard = self
            .host_lock
            .lock()
            .map_err(|_| anyhow!("pod network lock poisoned"))?;
        let bridge = match nl.link_index(&self.cfg.bridge)? {
            Some(i) => i,
            None => {
                match nl.add_bridge(&self.cfg.bridge, mtu, cidr::mac_from_ip(self.gateway)) {
                    Err(e) if e.errno() == Some(libc::EEXIST) => {}
                    r => r.with_context(|| format!("creating bridge {}", self.cfg.bridge))?,
                }
                tracing::info!(bridge = %self.cfg.bridge, mtu, "created pod bridge");
                nl.link_index(&self.cfg.bridge)?
                    .ok_or_else(|| anyhow!("bridge {} vanished", self.cfg.bridge))?
            }
        };
        let gw = Ipv4Net::new(self.gateway, self.cfg.pod_cidr.prefix_len())?;
        if !nl.addresses(bridge)?.contains(&gw) {
            nl.add_address(bridge, gw)
                .with_context(|| format!("adding {gw} to {}", self.cfg.bridge))?;
        }
        nl.set_up(bridge)?;
        self.ensure_masquerade()?;
        self.host_ready.store(true, Ordering::Release);
        Ok(mtu)
    }

    /// Pods reaching outside the cluster CIDR leave with the node's address (as flannel's
    /// masquerade rules do); pod-to-pod traffic, same node or not, keeps its source.
    fn ensure_masquerade(&self) -> anyhow::Result<()> {
        let (pod, cluster) = (self.cfg.pod_cidr, self.cfg.cluster_cidr);
        // Recreating the table in one transaction keeps this idempotent and atomic.
        let script = format!(
            "table ip {NAT_TABLE} {{}}\n\
             delete table ip {NAT_TABLE}\n\
             table ip {NAT_TABLE} {{\n\
             \tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr {pod} ip daddr != {{ {cluster}, 224.0.0.0/4 }} masquerade fully-random\n\
             \t}}\n\
             }}\n"
        );
        // We are already inside the host namespace (see `on_host`).
        Nft::new(None)
            .apply(&script)
            .context("installing pod masquerade rules")
    }

    fn pod_side_ok(netns_file: &std::fs::File, ip: Ipv4Addr) -> bool {
        let check = || -> anyhow::Result<bool> {
            netns::enter(netns_file)?;
            let mut nl = Netlink::open()?;
            let Some(idx) = nl.link_index(POD_IFNAME)? else {
                return Ok(false);
            };
            Ok(nl.addresses(idx)?.iter().any(|a| a.addr() == ip))
        };
        std::thread::scope(|s| {
            s.spawn(check)
                .join()
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(false)
        })
    }

    fn setup(&self, uid: &str, netns_path: &Path) -> anyhow::Result<Ipv4Addr> {
        let mtu = self.ensure_host()?;
        let ns_file = netns::open(netns_path)?;
        let ip = self.ipam.allocate(uid)?;
        let result = self.connect(uid, &ns_file, ip, mtu);
        if result.is_err() {
            // Leave nothing half-done behind: the next attempt starts clean.
            if let Err(e) = self.teardown(uid) {
                tracing::warn!(uid, "cleanup after failed setup: {e:#}");
            }
        }
        result.map(|()| ip)
    }

    fn connect(
        &self,
        uid: &str,
        ns_file: &std::fs::File,
        ip: Ipv4Addr,
        mtu: u32,
    ) -> anyhow::Result<()> {
        let mut nl = Netlink::open()?;
        let host_name = host_veth_name(uid);
        let bridge = nl
            .link_index(&self.cfg.bridge)?
            .ok_or_else(|| anyhow!("bridge {} is missing", self.cfg.bridge))?;
        if let Some(link) = nl.link_by_name(&host_name)? {
            if Self::pod_side_ok(ns_file, ip) {
                if nl::link_master(&link) != Some(bridge) {
                    nl.set_master(link.header.index, bridge)?;
                }
                nl.set_up(link.header.index)?;
                return Ok(());
            }
            // A leftover from an earlier attempt: start over.
            nl.del_link(link.header.index)?;
        }
        match nl.add_veth(&host_name, POD_IFNAME, ns_file.as_raw_fd(), mtu) {
            Err(e) if e.errno() == Some(libc::EEXIST) => {
                // The pod already has an eth0 we did not make (or lost track of): replace it.
                Self::in_pod(ns_file, |nl| {
                    if let Some(i) = nl.link_index(POD_IFNAME)? {
                        nl.del_link(i)?;
                    }
                    Ok(())
                })?;
                nl.add_veth(&host_name, POD_IFNAME, ns_file.as_raw_fd(), mtu)
                    .context("creating veth pair")?;
            }
            r => r.context("creating veth pair")?,
        }
        let host_idx = nl
            .link_index(&host_name)?
            .ok_or_else(|| anyhow!("veth {host_name} vanished"))?;
        nl.set_master(host_idx, bridge)
            .with_context(|| format!("attaching {host_name} to {}", self.cfg.bridge))?;
        nl.set_up(host_idx)?;

        let (gateway, prefix) = (self.gateway, self.cfg.pod_cidr.prefix_len());
        Self::in_pod(ns_file, move |nl| {
            if let Some(lo) = nl.link_index("lo")? {
                nl.set_up(lo)?;
            }
            let eth0 = nl
                .link_index(POD_IFNAME)?
                .ok_or_else(|| anyhow!("{POD_IFNAME} missing in the pod"))?;
            nl.add_address(eth0, Ipv4Net::new(ip, prefix)?)?;
            nl.set_up(eth0)?;
            nl.replace_route(Ipv4Net::default(), Some(gateway), Some(eth0), false)
                .context("default route")?;
            Ok(())
        })
        .context("configuring the pod's interface")
    }

    /// Runs `f` with a netlink socket inside the pod's namespace.
    fn in_pod<F>(ns_file: &std::fs::File, f: F) -> anyhow::Result<()>
    where
        F: FnOnce(&mut Netlink) -> anyhow::Result<()> + Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| {
                netns::enter(ns_file).context("entering the pod's network namespace")?;
                let mut nl = Netlink::open()?;
                f(&mut nl)
            })
            .join()
            .map_err(|_| anyhow!("pod namespace worker panicked"))?
        })
    }

    fn teardown(&self, uid: &str) -> anyhow::Result<()> {
        let mut nl = Netlink::open()?;
        let host_name = host_veth_name(uid);
        if let Some(idx) = nl.link_index(&host_name)? {
            match nl.del_link(idx) {
                Err(e) if e.errno() == Some(libc::ENODEV) => {}
                r => r.with_context(|| format!("deleting {host_name}"))?,
            }
        }
        self.ipam.release(uid)?;
        Ok(())
    }
}
