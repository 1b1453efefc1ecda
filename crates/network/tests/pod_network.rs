//! The pod network on real namespaces: each "node" is a scratch network namespace holding
//! a `BridgeNetwork`'s host side, each "pod" another namespace.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{eventually, link, sa, Netns};
use rkube_network::{BridgeConfig, BridgeNetwork};

fn network(node: &Netns, pod_cidr: &str, data: &std::path::Path) -> BridgeNetwork {
    let mut cfg = BridgeConfig::new(
        pod_cidr.parse().unwrap(),
        "10.244.0.0/16".parse().unwrap(),
        data,
    );
    cfg.host_netns = Some(node.path());
    BridgeNetwork::new(cfg).unwrap()
}

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => panic!("expected IPv4"),
    }
}

fn ping(from: &Netns, to: Ipv4Addr) -> bool {
    eventually(Duration::from_secs(5), || {
        from.try_sh(&format!("busybox ping -c1 -W1 {to}"))
            .then_some(())
    })
    .is_some()
}

#[tokio::test]
async fn pods_on_one_node_talk_and_reach_host() {
    let data = tempfile::tempdir().unwrap();
    let node = Netns::new("node");
    let (p1, p2) = (Netns::new("pod"), Netns::new("pod"));
    let net = network(&node, "10.244.7.0/24", data.path());

    let ip1 = v4(net
        .setup("default", "p1", "uid-1", &p1.path())
        .await
        .unwrap());
    let ip2 = v4(net
        .setup("default", "p2", "uid-2", &p2.path())
        .await
        .unwrap());
    assert_eq!(ip1, Ipv4Addr::new(10, 244, 7, 2));
    assert_eq!(ip2, Ipv4Addr::new(10, 244, 7, 3));
    // Idempotent: same uid, same address, still connected.
    assert_eq!(
        v4(net
            .setup("default", "p1", "uid-1", &p1.path())
            .await
            .unwrap()),
        ip1
    );

    // Node side as the brief wants it.
    assert_eq!(node.sh("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");
    let br = node.sh("ip -o addr show dev rkube0");
    assert!(br.contains("10.244.7.1/24"), "{br}");
    assert!(p1
        .sh("ip route show default")
        .contains("via 10.244.7.1 dev eth0"));
    assert!(node
        .sh("ip -d link show master rkube0")
        .contains("hairpin on"));
    assert!(node.sh("nft list table ip rkube").contains("masquerade"));

    if !ping(&p1, ip2) {
        panic!(
            "pod to pod failed\nnode: {}\n{}\np1: {}\n{}\np2: {}",
            node.sh("ip -d link; ip addr; bridge link"),
            node.sh("nft list ruleset"),
            p1.sh("ip -d link; ip addr; ip route; ip neigh"),
            p1.sh("busybox ping -c1 -W1 10.244.7.1 || true"),
            p2.sh("ip addr; ip route; ip neigh")
        );
    }
    assert!(
        ping(&p2, Ipv4Addr::new(10, 244, 7, 1)),
        "pod to host (gateway)"
    );
    let _srv = p2.serve(sa(ip2, 8080), "p2");
    let line = p1.connect(sa(ip2, 8080), Duration::from_secs(3)).unwrap();
    assert_eq!(
        line,
        format!("p2 {ip1}"),
        "same-node pod traffic keeps its source"
    );
    // A server on the node is reachable from a pod.
    let _host = node.serve(sa(Ipv4Addr::new(10, 244, 7, 1), 9090), "node");
    assert_eq!(
        p1.connect(
            sa(Ipv4Addr::new(10, 244, 7, 1), 9090),
            Duration::from_secs(3)
        )
        .unwrap(),
        format!("node {ip1}")
    );

    // Teardown frees the address and the interface; the next pod gets a fresh address,
    // and the released one comes back only after the range wraps.
    net.teardown("default", "p1", "uid-1", &p1.path())
        .await
        .unwrap();
    net.teardown("default", "p1", "uid-1", &p1.path())
        .await
        .unwrap(); // twice is fine
    assert!(!p1.try_sh("ip link show eth0"));
    assert!(net
        .ipam()
        .allocations()
        .unwrap()
        .iter()
        .all(|(ip, _)| *ip != ip1));

    // A new BridgeNetwork over the same data dir (an agent restart) keeps the allocations.
    drop(net);
    let net = network(&node, "10.244.7.0/24", data.path());
    assert_eq!(
        v4(net
            .setup("default", "p2", "uid-2", &p2.path())
            .await
            .unwrap()),
        ip2
    );
    let p3 = Netns::new("pod");
    let ip3 = v4(net
        .setup("default", "p3", "uid-3", &p3.path())
        .await
        .unwrap());
    assert_eq!(ip3, Ipv4Addr::new(10, 244, 7, 4));
    assert!(ping(&p3, ip2));
}

#[tokio::test]
async fn pods_on_two_nodes_talk_without_nat_over_host_gw() {
    let data = tempfile::tempdir().unwrap();
    let (n1, n2) = (Netns::new("node"), Netns::new("node"));
    link(&n1, "192.168.77.1/24", &n2, "192.168.77.2/24");
    let net1 = network(&n1, "10.244.1.0/24", &data.path().join("n1"));
    let net2 = network(&n2, "10.244.2.0/24", &data.path().join("n2"));
    let (p1, p2) = (Netns::new("pod"), Netns::new("pod"));
    let ip1 = v4(net1
        .setup("default", "a", "uid-a", &p1.path())
        .await
        .unwrap());
    let ip2 = v4(net2
        .setup("default", "b", "uid-b", &p2.path())
        .await
        .unwrap());

    let peers = vec![
        (
            "10.244.1.0/24".parse().unwrap(),
            "192.168.77.1".parse().unwrap(),
        ),
        (
            "10.244.2.0/24".parse().unwrap(),
            "192.168.77.2".parse().unwrap(),
        ),
    ];
    let s1 = net1.sync_routes(&peers).await.unwrap();
    assert_eq!((s1.added, s1.removed), (1, 0));
    net2.sync_routes(&peers).await.unwrap();
    assert!(n1
        .sh("ip route show 10.244.2.0/24")
        .contains("via 192.168.77.2"));
    // Again: nothing to change.
    let again = net1.sync_routes(&peers).await.unwrap();
    assert_eq!((again.added, again.removed, again.unchanged), (0, 0, 1));

    let _srv = p2.serve(sa(ip2, 8080), "b");
    let line = eventually(Duration::from_secs(5), || {
        p1.connect(sa(ip2, 8080), Duration::from_secs(2)).ok()
    })
    .expect("pod on node 1 reaches pod on node 2");
    assert_eq!(
        line,
        format!("b {ip1}"),
        "the source address survives the trip"
    );

    // A peer that leaves loses its route; others are untouched.
    let gone = net1.sync_routes(&peers[..1]).await.unwrap();
    assert_eq!((gone.added, gone.removed), (0, 1));
    assert_eq!(n1.sh("ip route show 10.244.2.0/24").trim(), "");
}

#[tokio::test]
async fn pods_across_a_router_use_vxlan() {
    let data = tempfile::tempdir().unwrap();
    let (n1, r, n2) = (Netns::new("node"), Netns::new("rtr"), Netns::new("node"));
    link(&n1, "192.168.81.1/24", &r, "192.168.81.254/24");
    link(&r, "192.168.82.254/24", &n2, "192.168.82.2/24");
    r.sh("sysctl -qw net.ipv4.ip_forward=1");
    n1.sh("ip route add default via 192.168.81.254");
    n2.sh("ip route add default via 192.168.82.254");

    let mk = |node: &Netns, cidr: &str, ip: &str, dir: &str| {
        let mut cfg = BridgeConfig::new(
            cidr.parse().unwrap(),
            "10.244.0.0/16".parse().unwrap(),
            data.path().join(dir),
        );
        cfg.host_netns = Some(node.path());
        cfg.vxlan = true;
        cfg.node_ip = Some(ip.parse().unwrap());
        BridgeNetwork::new(cfg).unwrap()
    };
    let net1 = mk(&n1, "10.244.1.0/24", "192.168.81.1", "n1");
    let net2 = mk(&n2, "10.244.2.0/24", "192.168.82.2", "n2");
    let (p1, p2) = (Netns::new("pod"), Netns::new("pod"));
    let ip1 = v4(net1
        .setup("default", "a", "uid-a", &p1.path())
        .await
        .unwrap());
    let ip2 = v4(net2
        .setup("default", "b", "uid-b", &p2.path())
        .await
        .unwrap());
    assert!(
        p1.sh("ip link show eth0").contains("mtu 1450"),
        "VXLAN leaves room for the header"
    );
    let peers = vec![
        (
            "10.244.1.0/24".parse().unwrap(),
            "192.168.81.1".parse().unwrap(),
        ),
        (
            "10.244.2.0/24".parse().unwrap(),
            "192.168.82.2".parse().unwrap(),
        ),
    ];
    assert_eq!(net1.sync_routes(&peers).await.unwrap().vxlan_peers, 1);
    net2.sync_routes(&peers).await.unwrap();
    assert!(n1.sh("ip route show 10.244.2.0/24").contains("dev rkube.1"));

    let _srv = p2.serve(sa(ip2, 8080), "b");
    let line = eventually(Duration::from_secs(5), || {
        p1.connect(sa(ip2, 8080), Duration::from_secs(2)).ok()
    })
    .expect("pod to pod through the VXLAN tunnel");
    assert_eq!(line, format!("b {ip1}"));
}
