//! Node IPAM (upstream's `nodeipam` controller, range allocator): every Node gets a /24 of
//! the cluster CIDR as `spec.podCIDR(s)`, never one another node holds. The agent builds its
//! pod network from it.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;

/// An IPv4 range `base/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = len.parse().ok().filter(|p| *p <= 32)?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Some(Cidr {
            base: u32::from(ip) & mask,
            prefix,
        })
    }

    /// The `i`th subnet of size `/sub` inside this range.
    pub fn subnet(&self, sub: u8, i: u32) -> Option<Cidr> {
        if sub < self.prefix || sub > 32 {
            return None;
        }
        let count = 1u64 << (sub - self.prefix);
        if u64::from(i) >= count {
            return None;
        }
        let size = if sub == 32 { 1 } else { 1u32 << (32 - sub) };
        Some(Cidr {
            base: self.base + i * size,
            prefix: sub,
        })
    }

    pub fn count(&self, sub: u8) -> u32 {
        if sub < self.prefix {
            return 0;
        }
        (1u64 << (sub - self.prefix)).min(u32::MAX as u64) as u32
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// Size of each node's range (upstream's --node-cidr-mask-size default for IPv4).
pub const NODE_MASK: u8 = 24;

pub struct NodeIpamController {
    client: Client,
    cluster: Cidr,
    nodes: Arc<Cache<Node>>,
    queue: Arc<WorkQueue>,
    lock: tokio::sync::Mutex<()>,
}

impl NodeIpamController {
    pub fn new(
        client: Client,
        cluster: Cidr,
        nodes: &mut Informer<Node>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(NodeIpamController {
            client,
            cluster,
            nodes: nodes.cache(),
            queue: WorkQueue::new(cancel),
            lock: tokio::sync::Mutex::new(()),
        });
        let q = this.queue.clone();
        nodes.on(Box::new(move |_old, new| {
            if let Some(n) = new {
                if n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_none() {
                    q.add(n.name_any());
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = self.nodes.wait_synced() => {}
            _ = cancel.cancelled() => return,
        }
        while let Some(name) = self.queue.get().await {
            if let Err(e) = self.sync(&name).await {
                warn!(node = %name, "assign pod CIDR: {e}");
                self.queue.add_rate_limited(name.clone());
            } else {
                self.queue.forget(&name);
            }
            self.queue.done(&name);
        }
    }

    async fn sync(&self, name: &str) -> Result<(), kube::Error> {
        let _guard = self.lock.lock().await;
        let Some(node) = self.nodes.get("", name) else {
            return Ok(());
        };
        if node
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_ref())
            .is_some()
        {
            return Ok(());
        }
        let used: BTreeSet<String> = self
            .nodes
            .list_all()
            .iter()
            .filter_map(|n| n.spec.as_ref()?.pod_cidr.clone())
            .collect();
        let free = (0..self.cluster.count(NODE_MASK))
            .filter_map(|i| self.cluster.subnet(NODE_MASK, i))
            .map(|c| c.to_string())
            .find(|c| !used.contains(c));
        let Some(cidr) = free else {
            warn!(node = %name, cluster = %self.cluster, "no pod CIDR left for node");
            return Ok(());
        };
        let api: Api<Node> = Api::all(self.client.clone());
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})),
        )
        .await?;
        info!(node = %name, %cidr, "assigned pod CIDR");
        // Wait until the cache shows it, so the next node never gets the same range.
        for _ in 0..50 {
            if self
                .nodes
                .get("", name)
                .is_some_and(|n| n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some())
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_of_the_cluster_range() {
        let c = Cidr::parse("10.42.0.0/16").expect("cidr");
        assert_eq!(c.count(24), 256);
        assert_eq!(
            c.subnet(24, 0).map(|s| s.to_string()).as_deref(),
            Some("10.42.0.0/24")
        );
        assert_eq!(
            c.subnet(24, 255).map(|s| s.to_string()).as_deref(),
            Some("10.42.255.0/24")
        );
        assert_eq!(c.subnet(24, 256), None);
        assert_eq!(
            Cidr::parse("10.42.1.7/16")
                .map(|c| c.to_string())
                .as_deref(),
            Some("10.42.0.0/16")
        );
        assert_eq!(Cidr::parse("nope"), None);
    }
}
