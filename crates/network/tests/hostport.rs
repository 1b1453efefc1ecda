//! hostPort on real namespaces: a "node" namespace with the pod bridge, a "pod" behind it,
//! and a "client" namespace outside the node reaching the pod through the node's address.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{eventually, link, sa, Netns};
use rkube_network::hostport::{HostPort, HostPorts};
use rkube_network::nft::Nft;
use rkube_network::proxy::Protocol;
use rkube_network::{BridgeConfig, BridgeNetwork};

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => panic!("expected IPv4"),
    }
}

#[tokio::test]
async fn host_ports_reach_the_pod_from_outside_the_node_and_from_the_pod_itself() {
    let data = tempfile::tempdir().unwrap();
    let (node, pod, client) = (
        Netns::new("hpnode"),
        Netns::new("hppod"),
        Netns::new("hpcl"),
    );
    let mut cfg = BridgeConfig::new(
        "10.244.9.0/24".parse().unwrap(),
        "10.244.0.0/16".parse().unwrap(),
        data.path(),
    );
    cfg.host_netns = Some(node.path());
    let net = BridgeNetwork::new(cfg).unwrap();
    let pod_ip = v4(net
        .setup("default", "p", "uid-p", &pod.path())
        .await
        .unwrap());
    // The client sits on a link to the node, as another machine would.
    link(&node, "192.168.77.1/24", &client, "192.168.77.2/24");
    client.sh("ip route add default via 192.168.77.1");
    let node_ip = Ipv4Addr::new(192, 168, 77, 1);
    let _srv = pod.serve(sa(Ipv4Addr::UNSPECIFIED, 80), "pod");
    let _srv2 = pod.serve(sa(Ipv4Addr::UNSPECIFIED, 81), "pod81");

    let mut hp = HostPorts::new(Nft::new(Some(node.path())));
    let open = HostPort {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: 8080,
        pod_ip,
        container_port: 80,
    };
    let bound = HostPort {
        protocol: Protocol::Tcp,
        host_ip: Some(node_ip),
        host_port: 8081,
        pod_ip,
        container_port: 81,
    };
    hp.sync(&[open, bound].into_iter().collect()).unwrap();

    let reach = |from: &Netns, ip: Ipv4Addr, port: u16| {
        eventually(Duration::from_secs(5), || {
            from.connect(sa(ip, port), Duration::from_secs(1)).ok()
        })
    };
    // From outside the node: the pod answers and sees the client's own address.
    assert_eq!(
        reach(&client, node_ip, 8080).as_deref(),
        Some("pod 192.168.77.2")
    );
    assert_eq!(
        reach(&client, node_ip, 8081).as_deref(),
        Some("pod81 192.168.77.2")
    );
    // From the node itself, on the bridge's address too (no hostIP: every local address).
    assert!(reach(&node, Ipv4Addr::new(10, 244, 9, 1), 8080).is_some_and(|r| r.starts_with("pod ")));
    // A pod reaching its own host port (hairpin) is masqueraded, so its reply comes back.
    assert!(reach(&pod, node_ip, 8080).is_some_and(|r| r.starts_with("pod ")));

    // Removing a port takes it off; the other stays.
    hp.sync(&[bound].into_iter().collect::<BTreeSet<_>>())
        .unwrap();
    assert!(client
        .connect(sa(node_ip, 8080), Duration::from_millis(500))
        .is_err());
    assert!(reach(&client, node_ip, 8081).is_some());
    // A fresh writer (agent restart) replaces the table in one transaction.
    let mut again = HostPorts::new(Nft::new(Some(node.path())));
    again.sync(&[open].into_iter().collect()).unwrap();
    assert!(reach(&client, node_ip, 8080).is_some());
    assert!(client
        .connect(sa(node_ip, 8081), Duration::from_millis(500))
        .is_err());
    again.flush().unwrap();
}
