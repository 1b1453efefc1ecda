//! The kernel settings a node with a pod bridge needs.
//!
//! Network sysctls are per network namespace; these functions act on the namespace of the
//! calling thread (see [`crate::netns`]).

use std::path::Path;

use anyhow::Context;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Writes `value` to a sysctl file unless it already holds it.
pub fn set(path: &Path, value: &str) -> anyhow::Result<()> {
    let current =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(path, value)
        .with_context(|| format!("writing {value} to {}", path.display()))?;
    tracing::info!(sysctl = %path.display(), value, "set sysctl");
    Ok(())
}

/// Turns on IPv4 forwarding (pods are routed through the host) and, when `br_netfilter` is
/// there, makes bridged traffic go through nftables — without it a reply from a Service
/// backend to a client on the same bridge skips conntrack and is never un-DNATed.
pub fn ensure_pod_network_sysctls() -> anyhow::Result<()> {
    set(Path::new(IP_FORWARD), "1")?;
    let brnf = Path::new(BRIDGE_NF_CALL_IPTABLES);
    if brnf.exists() {
        set(brnf, "1")?;
    } else {
        tracing::debug!(
            "br_netfilter not loaded; same-bridge Service traffic relies on hairpin masquerade"
        );
    }
    Ok(())
}
