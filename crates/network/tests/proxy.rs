//! The service proxy on a real node: a scratch namespace with a pod bridge, backend "pods"
//! answering with their name, a client pod, and an "outside" namespace for node ports.
//! nftables lives per namespace, so the host's own ruleset is never touched.

mod common;

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{link, sa, Netns, Server};
use rkube_network::proxy::{
    Endpoint, EndpointPort, EndpointSlice, Protocol, Proxier, ProxierConfig, Service, ServicePort,
    ServiceType, TrafficPolicy,
};
use rkube_network::{BridgeConfig, BridgeNetwork};

const NODE: &str = "node-a";

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => panic!("expected IPv4"),
    }
}

fn service(name: &str, cip: Ipv4Addr, node_port: Option<u16>) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        service_type: if node_port.is_some() {
            ServiceType::NodePort
        } else {
            ServiceType::ClusterIp
        },
        cluster_ips: vec![cip],
        ports: vec![ServicePort {
            name: "".into(),
            protocol: Protocol::Tcp,
            port: 80,
            node_port,
        }],
        ..Default::default()
    }
}

fn slice(name: &str, backends: &[(Ipv4Addr, bool)]) -> EndpointSlice {
    EndpointSlice {
        namespace: "default".into(),
        service_name: name.into(),
        ports: vec![EndpointPort {
            name: "".into(),
            protocol: Protocol::Tcp,
            port: 8080,
        }],
        endpoints: backends
            .iter()
            .map(|(ip, ready)| Endpoint {
                ready: *ready,
                ..Endpoint::ready(*ip, Some(NODE))
            })
            .collect(),
    }
}

/// Names answering `n` connections from `from` to `addr`.
fn names(from: &Netns, addr: std::net::SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let line = from
                .connect(addr, Duration::from_secs(3))
                .expect("connecting through the service");
            line.split(' ').next().unwrap_or_default().to_string()
        })
        .collect()
}

struct Node {
    node: Netns,
    outside: Netns,
    client: Netns,
    client_ip: Ipv4Addr,
    backends: Vec<(Netns, Ipv4Addr)>,
    _servers: Vec<Server>,
    _data: tempfile::TempDir,
}

async fn node() -> Node {
    let data = tempfile::tempdir().unwrap();
    let node = Netns::new("node");
    let outside = Netns::new("out");
    link(&node, "192.168.90.1/24", &outside, "192.168.90.2/24");
    // Unknown destinations (a Service IP that was not DNATed) go nowhere, silently:
    // without the proxy's reject a client would hang.
    node.sh("ip link add blk0 type veth peer name blk1 && ip link set blk0 up && ip link set blk1 up && ip route add default dev blk0");
    let mut cfg = BridgeConfig::new(
        "10.244.5.0/24".parse().unwrap(),
        "10.244.0.0/16".parse().unwrap(),
        data.path(),
    );
    cfg.host_netns = Some(node.path());
    let net = BridgeNetwork::new(cfg).unwrap();
    let client = Netns::new("client");
    let client_ip = v4(net
        .setup("default", "client", "uid-client", &client.path())
        .await
        .unwrap());
    let mut backends = Vec::new();
    let mut servers = Vec::new();
    for i in 1..=3 {
        let pod = Netns::new("be");
        let ip = v4(net
            .setup(
                "default",
                &format!("b{i}"),
                &format!("uid-b{i}"),
                &pod.path(),
            )
            .await
            .unwrap());
        servers.push(pod.serve(sa(ip, 8080), &format!("b{i}")));
        backends.push((pod, ip));
    }
    Node {
        node,
        outside,
        client,
        client_ip,
        backends,
        _servers: servers,
        _data: data,
    }
}

#[tokio::test]
async fn cluster_ip_nodeport_affinity_and_reject() {
    let n = node().await;
    let b: Vec<Ipv4Addr> = n.backends.iter().map(|(_, ip)| *ip).collect();
    let mut cfg = ProxierConfig::new(NODE, Some("10.244.0.0/16".parse().unwrap()));
    cfg.netns = Some(n.node.path());
    let mut proxier = Proxier::new(cfg);

    let web_ip = Ipv4Addr::new(10, 96, 0, 10);
    let empty_ip = Ipv4Addr::new(10, 96, 0, 11);
    let sticky_ip = Ipv4Addr::new(10, 96, 0, 12);
    let self_ip = Ipv4Addr::new(10, 96, 0, 13);
    let mut sticky = service("sticky", sticky_ip, None);
    sticky.session_affinity_timeout = Some(600);
    let services = vec![
        service("web", web_ip, Some(30080)),
        service("empty", empty_ip, Some(30081)),
        sticky,
        service("self", self_ip, None),
    ];
    let all_ready: Vec<(Ipv4Addr, bool)> = b.iter().map(|ip| (*ip, true)).collect();
    let mut slices = vec![
        slice("web", &all_ready),
        slice("sticky", &all_ready),
        slice("self", &[(b[0], true)]),
    ];
    let stats = proxier.sync(&services, &slices).unwrap();
    assert!(stats.full);
    assert_eq!(stats.changed_services, 4);

    // ClusterIP spreads over all three backends; pods keep their source address.
    let seen: BTreeSet<String> = names(&n.client, sa(web_ip, 80), 40).into_iter().collect();
    assert_eq!(
        seen,
        ["b1", "b2", "b3"].map(String::from).into_iter().collect()
    );
    let line = n
        .client
        .connect(sa(web_ip, 80), Duration::from_secs(3))
        .unwrap();
    assert!(line.ends_with(&format!(" {}", n.client_ip)), "{line}");
    // The node itself reaches the cluster IP too.
    assert!(n
        .node
        .connect(sa(web_ip, 80), Duration::from_secs(3))
        .unwrap()
        .starts_with('b'));

    // b2 stops being ready: out of the rotation, with a one-Service transaction.
    slices[0] = slice("web", &[(b[0], true), (b[1], false), (b[2], true)]);
    let stats = proxier.sync(&services, &slices).unwrap();
    assert_eq!((stats.full, stats.changed_services), (false, 1));
    let seen: BTreeSet<String> = names(&n.client, sa(web_ip, 80), 30).into_iter().collect();
    assert_eq!(seen, ["b1", "b3"].map(String::from).into_iter().collect());

    // No endpoints: refused at once, from a pod, from the node and on the node port.
    for (who, addr) in [
        (&n.client, sa(empty_ip, 80)),
        (&n.node, sa(empty_ip, 80)),
        (&n.outside, sa(Ipv4Addr::new(192, 168, 90, 1), 30081)),
    ] {
        let start = Instant::now();
        let err = who
            .connect(addr, Duration::from_secs(5))
            .expect_err("no endpoints must fail");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{addr}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "refused quickly, not after a timeout"
        );
    }

    // NodePort on the node's address, from outside: masqueraded (externalTrafficPolicy Cluster).
    let np = sa(Ipv4Addr::new(192, 168, 90, 1), 30080);
    let line = n.outside.connect(np, Duration::from_secs(3)).unwrap();
    assert!(
        line.starts_with('b') && line.ends_with(" 10.244.5.1"),
        "{line}"
    );
    // ... and from a pod, to the node's address.
    assert!(n
        .client
        .connect(np, Duration::from_secs(3))
        .unwrap()
        .starts_with('b'));

    // Session affinity: one client, one backend.
    let seen: BTreeSet<String> = names(&n.client, sa(sticky_ip, 80), 15)
        .into_iter()
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let from_node: BTreeSet<String> = names(&n.node, sa(sticky_ip, 80), 10).into_iter().collect();
    assert_eq!(from_node.len(), 1, "{from_node:?}");

    // Hairpin: b1 reaching itself through a Service is masqueraded to the gateway.
    let line = n.backends[0]
        .0
        .connect(sa(self_ip, 80), Duration::from_secs(3))
        .unwrap();
    assert_eq!(line, "b1 10.244.5.1");

    // Removing a Service takes its rules away (and then it refuses).
    let stats = proxier.sync(&services[..3], &slices).unwrap();
    assert_eq!(stats.changed_services, 0);
    assert!(stats.elements_deleted >= 2);
    let table = n.node.sh("nft list table ip rkube-proxy");
    assert!(!table.contains("10.96.0.13"), "{table}");
    assert!(!table.contains("default/self/"), "{table}");

    // A fresh Proxier (agent restart) rebuilds the table in one go and keeps working.
    let mut cfg = ProxierConfig::new(NODE, Some("10.244.0.0/16".parse().unwrap()));
    cfg.netns = Some(n.node.path());
    let mut again = Proxier::new(cfg);
    assert!(again.sync(&services, &slices).unwrap().full);
    assert!(n
        .client
        .connect(sa(web_ip, 80), Duration::from_secs(3))
        .unwrap()
        .starts_with('b'));

    again.flush().unwrap();
    assert!(!n.node.try_sh("nft list table ip rkube-proxy"));
}

#[tokio::test]
async fn external_traffic_policy_local_keeps_client_ip() {
    let n = node().await;
    let b: Vec<Ipv4Addr> = n.backends.iter().map(|(_, ip)| *ip).collect();
    let mut cfg = ProxierConfig::new(NODE, Some("10.244.0.0/16".parse().unwrap()));
    cfg.netns = Some(n.node.path());
    let mut proxier = Proxier::new(cfg);
    let mut svc = service("local", Ipv4Addr::new(10, 96, 1, 10), Some(30090));
    svc.external_traffic_policy = TrafficPolicy::Local;
    svc.service_type = ServiceType::LoadBalancer;
    svc.load_balancer_ips = vec![Ipv4Addr::new(192, 168, 90, 1)];
    // b1 is local, b2 is on another node (unreachable here, which is the point).
    let mut sl = slice("local", &[(b[0], true), (b[1], true)]);
    sl.endpoints[1].node_name = Some("node-b".into());
    proxier.sync(&[svc.clone()], &[sl.clone()]).unwrap();

    for _ in 0..10 {
        let line = n
            .outside
            .connect(
                sa(Ipv4Addr::new(192, 168, 90, 1), 30090),
                Duration::from_secs(3),
            )
            .unwrap();
        assert_eq!(
            line, "b1 192.168.90.2",
            "local endpoint only, client address preserved"
        );
        let line = n
            .outside
            .connect(
                sa(Ipv4Addr::new(192, 168, 90, 1), 80),
                Duration::from_secs(3),
            )
            .unwrap();
        assert_eq!(line, "b1 192.168.90.2", "load-balancer IP, same policy");
    }

    // Without a local endpoint, outside traffic is dropped (times out) rather than sent away.
    sl.endpoints[0].node_name = Some("node-b".into());
    proxier.sync(&[svc], &[sl]).unwrap();
    let err = n
        .outside
        .connect(
            sa(Ipv4Addr::new(192, 168, 90, 1), 30090),
            Duration::from_millis(500),
        )
        .expect_err("dropped");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
}

#[tokio::test]
async fn internal_traffic_policy_local_keeps_pod_traffic_on_the_node() {
    let n = node().await;
    let b: Vec<Ipv4Addr> = n.backends.iter().map(|(_, ip)| *ip).collect();
    let mut cfg = ProxierConfig::new(NODE, Some("10.244.0.0/16".parse().unwrap()));
    cfg.netns = Some(n.node.path());
    let mut proxier = Proxier::new(cfg);
    let cip = Ipv4Addr::new(10, 96, 1, 20);
    let mut svc = service("internal", cip, None);
    svc.internal_traffic_policy = TrafficPolicy::Local;
    // b1 and b2 are on this node, b3 is said to be elsewhere.
    let mut sl = slice("internal", &[(b[0], true), (b[1], true), (b[2], true)]);
    sl.endpoints[2].node_name = Some("node-b".into());
    proxier.sync(&[svc.clone()], &[sl.clone()]).unwrap();
    let seen: BTreeSet<String> = (0..30)
        .map(|_| {
            let line = n
                .client
                .connect(sa(cip, 80), Duration::from_secs(3))
                .unwrap();
            line.split(' ').next().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(
        seen,
        ["b1", "b2"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>(),
        "only this node's endpoints"
    );
    // No endpoint on this node: the Service has none for pods here, though b3 exists.
    for e in sl.endpoints.iter_mut() {
        e.node_name = Some("node-b".into());
    }
    proxier.sync(&[svc], &[sl]).unwrap();
    assert!(n
        .client
        .connect(sa(cip, 80), Duration::from_millis(500))
        .is_err());
}

/// The table as a sorted list of its blocks, each `elements = { … }` list sorted (kernel
/// hash sets list in hash order, chains in creation order), without shared `pick-N` chains
/// nothing jumps to (incremental syncs keep those until the next full one).
fn normalized(table: &str) -> Vec<String> {
    let mut sorted = String::new();
    let mut rest = table;
    while let Some(at) = rest.find("elements = {") {
        let (head, tail) = rest.split_at(at + "elements = {".len());
        sorted.push_str(head);
        let end = tail.find('}').unwrap_or(tail.len());
        let mut items: Vec<&str> = tail[..end]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        items.sort();
        sorted.push_str(&items.join(", "));
        rest = &tail[end..];
    }
    sorted.push_str(rest);
    // The table's own closing brace would stick to whichever block comes last.
    let sorted = sorted.trim_end().trim_end_matches('}').to_string();
    let used = |name: &str| {
        let goto = format!("goto {name}");
        sorted
            .match_indices(&goto)
            .any(|(i, _)| !sorted[i + goto.len()..].starts_with(|c: char| c.is_ascii_digit()))
    };
    let mut blocks: Vec<String> = sorted
        .split("\n\n")
        .map(|b| {
            b.trim()
                .trim_start_matches("table ip rkube-proxy {")
                .trim()
                .to_string()
        })
        .filter(|b| match b.strip_prefix("chain ") {
            Some(r) => {
                let name = r.split(' ').next().unwrap_or_default();
                !name.contains("pick-") || used(name)
            }
            None => true,
        })
        .collect();
    blocks.sort();
    blocks
}

#[tokio::test]
async fn incremental_syncs_match_a_full_rewrite_and_a_flushed_table_recovers() {
    let n = node().await;
    let b: Vec<Ipv4Addr> = n.backends.iter().map(|(_, ip)| *ip).collect();
    let new_proxier = || {
        let mut cfg = ProxierConfig::new(NODE, Some("10.244.0.0/16".parse().unwrap()));
        cfg.netns = Some(n.node.path());
        Proxier::new(cfg)
    };
    let mut proxier = new_proxier();
    let ip_a = Ipv4Addr::new(10, 96, 2, 10);
    let ip_b = Ipv4Addr::new(10, 96, 2, 11);
    let mut sticky = service("b", ip_b, Some(30100));
    sticky.session_affinity_timeout = Some(30);
    let services = vec![service("a", ip_a, Some(30101)), sticky];
    let mut slices = vec![
        slice("a", &[(b[0], true), (b[1], true)]),
        slice("b", &[(b[0], true)]),
    ];
    assert!(proxier.sync(&services, &slices).unwrap().full);

    // A series of changes applied as deltas…
    slices[0] = slice("a", &[(b[1], true), (b[2], true)]);
    slices[1] = slice("b", &[(b[1], true), (b[2], true)]);
    assert!(!proxier.sync(&services, &slices).unwrap().full);
    slices[0] = slice("a", &[(b[2], true)]);
    assert!(!proxier.sync(&services, &slices).unwrap().full);
    let seen: BTreeSet<String> = names(&n.client, sa(ip_a, 80), 10).into_iter().collect();
    assert_eq!(seen, ["b3"].map(String::from).into_iter().collect());
    let delta = normalized(&n.node.sh("nft list table ip rkube-proxy"));

    // …leave the same table as writing it from scratch.
    let mut fresh = new_proxier();
    assert!(fresh.sync(&services, &slices).unwrap().full);
    let full = normalized(&n.node.sh("nft list table ip rkube-proxy"));
    assert_eq!(delta, full);

    // Somebody flushes the ruleset: the next change notices (the canary is gone) and
    // rewrites the table whole, in the same sync.
    n.node.sh("nft flush ruleset");
    slices[0] = slice("a", &[(b[0], true), (b[2], true)]);
    let stats = fresh.sync(&services, &slices).unwrap();
    assert!(stats.full, "{stats:?}");
    let seen: BTreeSet<String> = names(&n.client, sa(ip_a, 80), 30).into_iter().collect();
    assert_eq!(seen, ["b1", "b3"].map(String::from).into_iter().collect());
    // Same after the table is deleted outright.
    n.node.sh("nft delete table ip rkube-proxy");
    slices[0] = slice("a", &[(b[1], true)]);
    assert!(fresh.sync(&services, &slices).unwrap().full);
    assert_eq!(names(&n.client, sa(ip_a, 80), 5), vec!["b2"; 5]);
    fresh.flush().unwrap();
}
