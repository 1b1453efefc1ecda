//! Golden-ish checks of the generated transactions (no kernel needed).

use std::net::Ipv4Addr;

use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn svc(name: &str, cip: &str, port: u16) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        cluster_ips: vec![ip(cip)],
        ports: vec![ServicePort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port,
            node_port: None,
        }],
        ..Default::default()
    }
}

fn slice(name: &str, port: u16, eps: &[(&str, &str)]) -> EndpointSlice {
    EndpointSlice {
        namespace: "default".into(),
        service_name: name.into(),
        ports: vec![EndpointPort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port,
        }],
        endpoints: eps
            .iter()
            .map(|(i, n)| Endpoint::ready(ip(i), Some(n)))
            .collect(),
    }
}

fn proxier() -> Proxier {
    Proxier::new(ProxierConfig::new(
        "node-a",
        Some("10.42.0.0/16".parse().unwrap()),
    ))
}

fn sync(p: &mut Proxier, services: &[Service], slices: &[EndpointSlice]) -> (String, SyncStats) {
    let mut out = String::new();
    let stats = p
        .sync_with(services, slices, |s| {
            out = s.to_string();
            Ok(())
        })
        .unwrap();
    (out, stats)
}

#[test]
fn full_sync_has_skeleton_and_service() {
    let mut p = proxier();
    let (script, stats) = sync(
        &mut p,
        &[svc("web", "10.43.0.10", 80)],
        &[slice(
            "web",
            8080,
            &[("10.42.0.5", "node-a"), ("10.42.1.5", "node-b")],
        )],
    );
    assert!(stats.full);
    assert!(script.starts_with("table ip rkube-proxy {}\ndelete table ip rkube-proxy\n"));
    for needle in [
        "map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }",
        "ip daddr . meta l4proto . th dport vmap @service-ips",
        "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
        "add chain ip rkube-proxy svc-default/web/tcp/http\n",
        "add rule ip rkube-proxy svc-default/web/tcp/http ip daddr 10.43.0.10 meta l4proto tcp th dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade\n",
        "add rule ip rkube-proxy svc-default/web/tcp/http numgen random mod 2 0 goto ep-default/web/tcp/http__10.42.0.5/8080\n\
         add rule ip rkube-proxy svc-default/web/tcp/http goto ep-default/web/tcp/http__10.42.1.5/8080\n",
        "add rule ip rkube-proxy ep-default/web/tcp/http__10.42.0.5/8080 ip saddr 10.42.0.5 jump mark-for-masquerade\n",
        "add rule ip rkube-proxy ep-default/web/tcp/http__10.42.0.5/8080 meta l4proto tcp dnat to 10.42.0.5:8080\n",
        "add element ip rkube-proxy service-ips { 10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/http }\n",
    ] {
        assert!(script.contains(needle), "missing {needle:?} in\n{script}");
    }
    assert_eq!(stats.chains_written, 3);
    assert_eq!(stats.elements_added, 1);
}

#[test]
fn unchanged_input_writes_nothing_and_one_endpoint_change_is_small() {
    let mut p = proxier();
    let services: Vec<Service> = (0..50)
        .map(|i| svc(&format!("s{i}"), &format!("10.43.1.{i}"), 80))
        .collect();
    let mut slices: Vec<EndpointSlice> = (0..50)
        .map(|i| {
            slice(
                &format!("s{i}"),
                8080,
                &[
                    (&format!("10.42.0.{}", i + 10), "node-a"),
                    (&format!("10.42.1.{}", i + 10), "node-b"),
                    (&format!("10.42.2.{}", i + 10), "node-c"),
                ],
            )
        })
        .collect();
    let (_, stats) = sync(&mut p, &services, &slices);
    assert_eq!(stats.changed_services, 50);

    let (script, stats) = sync(&mut p, &services, &slices);
    assert_eq!(script, "", "no change, no transaction");
    assert_eq!(stats.changed_services, 0);

    // s7's third endpoint stops being ready.
    slices[7].endpoints[2].ready = false;
    let (script, stats) = sync(&mut p, &services, &slices);
    assert!(!stats.full);
    assert_eq!(stats.changed_services, 1);
    assert_eq!(
        stats.chains_written, 1,
        "only the service chain is rewritten"
    );
    assert_eq!(stats.chains_deleted, 1, "the endpoint chain goes");
    assert_eq!(stats.elements_added + stats.elements_deleted, 0);
    assert_eq!(
        script,
        "flush chain ip rkube-proxy svc-default/s7/tcp/http\n\
         flush chain ip rkube-proxy ep-default/s7/tcp/http__10.42.2.17/8080\n\
         add rule ip rkube-proxy svc-default/s7/tcp/http ip daddr 10.43.1.7 meta l4proto tcp th dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade\n\
         add rule ip rkube-proxy svc-default/s7/tcp/http numgen random mod 2 0 goto ep-default/s7/tcp/http__10.42.0.17/8080\n\
         add rule ip rkube-proxy svc-default/s7/tcp/http goto ep-default/s7/tcp/http__10.42.1.17/8080\n\
         delete chain ip rkube-proxy ep-default/s7/tcp/http__10.42.2.17/8080\n"
    );

    // Deleting a Service removes its element before its chains.
    let (script, stats) = sync(&mut p, &services[1..], &slices);
    assert_eq!(stats.changed_services, 0);
    let del_elem = script
        .find("delete element ip rkube-proxy service-ips { 10.43.1.0 . tcp . 80 }")
        .unwrap();
    let del_chain = script
        .find("delete chain ip rkube-proxy svc-default/s0/tcp/http")
        .unwrap();
    assert!(del_elem < del_chain, "{script}");
    assert_eq!(stats.chains_deleted, 4);
}

#[test]
fn no_endpoints_rejects_and_not_ready_are_excluded() {
    let mut p = proxier();
    let mut sl = slice("web", 8080, &[("10.42.0.5", "node-a")]);
    sl.endpoints[0].ready = false;
    let (script, _) = sync(&mut p, &[svc("web", "10.43.0.10", 80)], &[sl.clone()]);
    assert!(script.contains("add element ip rkube-proxy no-endpoint-services { 10.43.0.10 . tcp . 80 : goto reject-chain }"), "{script}");
    assert!(
        !script.contains("add chain ip rkube-proxy svc-"),
        "{script}"
    );
    // Becoming ready moves the key from the reject map to the service map.
    sl.endpoints[0].ready = true;
    let (script, _) = sync(&mut p, &[svc("web", "10.43.0.10", 80)], &[sl.clone()]);
    let del = script
        .find("delete element ip rkube-proxy no-endpoint-services { 10.43.0.10 . tcp . 80 }")
        .unwrap();
    let add = script.find("add element ip rkube-proxy service-ips { 10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/http }").unwrap();
    assert!(del < add);
    // Terminating-but-serving endpoints are used only when nothing is ready.
    sl.endpoints[0].ready = false;
    sl.endpoints[0].terminating = true;
    let (script, _) = sync(&mut p, &[svc("web", "10.43.0.10", 80)], &[sl]);
    assert_eq!(script, "", "still the same single endpoint");
}

#[test]
fn nodeport_local_policy_and_affinity() {
    let mut p = proxier();
    let mut s = svc("web", "10.43.0.10", 80);
    s.service_type = ServiceType::NodePort;
    s.ports[0].node_port = Some(30080);
    s.external_traffic_policy = TrafficPolicy::Local;
    s.session_affinity_timeout = Some(60);
    s.external_ips = vec![ip("192.0.2.9")];
    let sl = slice(
        "web",
        8080,
        &[("10.42.0.5", "node-a"), ("10.42.1.5", "node-b")],
    );
    let (script, _) = sync(&mut p, &[s.clone()], std::slice::from_ref(&sl));
    for needle in [
        "add element ip rkube-proxy service-nodeports { tcp . 30080 : goto ext-default/web/tcp/http }",
        "192.0.2.9 . tcp . 80 : goto ext-default/web/tcp/http",
        "add rule ip rkube-proxy ext-default/web/tcp/http ip saddr 10.42.0.0/16 goto svc-default/web/tcp/http\n",
        "add rule ip rkube-proxy ext-default/web/tcp/http fib saddr type local jump mark-for-masquerade\n",
        "add rule ip rkube-proxy ext-default/web/tcp/http goto local-default/web/tcp/http\n",
        "add rule ip rkube-proxy local-default/web/tcp/http ip saddr @aff60-default/web/tcp/http__10.42.0.5/8080 goto ep-default/web/tcp/http__10.42.0.5/8080\n",
        "add rule ip rkube-proxy local-default/web/tcp/http goto ep-default/web/tcp/http__10.42.0.5/8080\n",
        "add set ip rkube-proxy aff60-default/web/tcp/http__10.42.1.5/8080 { type ipv4_addr; flags dynamic,timeout; timeout 60s; }",
        "add rule ip rkube-proxy ep-default/web/tcp/http__10.42.1.5/8080 update @aff60-default/web/tcp/http__10.42.1.5/8080 { ip saddr }\n",
    ] {
        assert!(script.contains(needle), "missing {needle:?} in\n{script}");
    }
    // On a node without a local endpoint, external traffic is dropped, not rejected.
    let mut q = Proxier::new(ProxierConfig::new("node-z", None));
    let (script, _) = sync(&mut q, &[s], &[sl]);
    assert!(
        script.contains("no-endpoint-nodeports { tcp . 30080 : drop }"),
        "{script}"
    );
    assert!(
        script.contains("service-ips { 10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/http }"),
        "{script}"
    );
}

#[test]
fn conflicting_keys_are_not_stolen() {
    let mut p = proxier();
    let a = svc("a", "10.43.0.10", 80);
    let b = svc("b", "10.43.0.10", 80);
    let slices = [
        slice("a", 1, &[("10.42.0.5", "n")]),
        slice("b", 2, &[("10.42.0.6", "n")]),
    ];
    let (script, _) = sync(&mut p, &[a.clone(), b.clone()], &slices);
    assert_eq!(
        script.matches("10.43.0.10 . tcp . 80 :").count(),
        1,
        "{script}"
    );
    // Removing b must not delete a's element.
    let (script, _) = sync(&mut p, &[a], &slices);
    assert!(!script.contains("delete element"), "{script}");
}
