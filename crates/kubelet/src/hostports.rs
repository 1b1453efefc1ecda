//! Publishes the hostPorts of this node's pods (the CNI `portmap` plugin's job): every pod
//! with an address and a container port with a hostPort gets a DNAT from the node's
//! addresses (or its hostIP) to the pod. hostNetwork pods need none: they listen on the
//! node's addresses themselves.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;
use rkube_network::hostport::{HostPort, HostPorts};
use rkube_network::nft::Nft;
use rkube_network::proxy::Protocol;
use tokio_util::sync::CancellationToken;

use crate::Agent;

/// The host ports `pod` asks for, once it has an address.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    if spec.host_network.unwrap_or(false) {
        return Vec::new();
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Vec::new();
    }
    let Some(pod_ip) = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?;
            let host_ip = p
                .host_ip
                .as_deref()
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
                .filter(|ip| !ip.is_unspecified());
            Some(HostPort {
                protocol: Protocol::from_api(p.protocol.as_deref().unwrap_or("TCP"))?,
                host_ip,
                host_port,
                pod_ip,
                container_port: u16::try_from(p.container_port).ok()?,
            })
        })
        .collect()
}

/// Keeps the host-port table equal to what this node's pods ask for.
pub async fn run(agent: Arc<Agent>, cancel: CancellationToken) {
    let (reader, writer) = reflector::store::<Pod>();
    let cfg =
        watcher::Config::default().fields(&format!("spec.nodeName={}", agent.config.node_name));
    let mut stream = reflector(writer, watcher(Api::<Pod>::all(agent.client.clone()), cfg))
        .default_backoff()
        .touched_objects()
        .boxed();
    let mut table = HostPorts::new(Nft::new(None));
    let mut last: Option<BTreeSet<HostPort>> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => if ev.is_none() { return },
        }
        // Let a burst of pod changes settle into one transaction.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Some(Some(_)) = stream.next().now_or_never() {}
        let want: BTreeSet<HostPort> = reader.state().iter().flat_map(|p| host_ports(p)).collect();
        // The first sync writes the table even when empty (it removes an earlier run's).
        if last.as_ref() == Some(&want) {
            continue;
        }
        match tokio::task::block_in_place(|| table.sync(&want)) {
            Ok(()) => {
                tracing::debug!(node = %agent.config.node_name, ports = want.len(), "host ports synced");
                last = Some(want);
            }
            Err(e) => {
                tracing::warn!(node = %agent.config.node_name, "host ports sync: {e:#}");
                last = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_of_a_pod() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "172.30.0.10"},
                {"containerPort": 9000},
            ]}]},
            "status": {"podIP": "10.42.0.5", "phase": "Running"},
        }))
        .unwrap_or_default();
        let hp = host_ports(&pod);
        assert_eq!(hp.len(), 2);
        assert_eq!(
            (hp[0].host_port, hp[0].container_port, hp[0].host_ip),
            (8080, 80, None)
        );
        assert_eq!(hp[1].protocol, Protocol::Udp);
        assert_eq!(hp[1].host_ip, Some(Ipv4Addr::new(172, 30, 0, 10)));
        let mut done = pod.clone();
        if let Some(s) = done.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        assert!(host_ports(&done).is_empty());
    }
}
