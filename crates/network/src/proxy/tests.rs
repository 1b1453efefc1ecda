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
        "ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade",
        "add chain ip rkube-proxy pick-2\n",
        "add rule ip rkube-proxy pick-2 ip saddr != 10.42.0.0/16 jump mark-for-masquerade\n\
         add rule ip rkube-proxy pick-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @endpoints\n",
        "add element ip rkube-proxy endpoints { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080, 10.43.0.10 . tcp . 80 . 1 : 10.42.1.5 . 8080 }\n",
        "add element ip rkube-proxy hairpin { 10.42.0.5 . 10.42.0.5, 10.42.1.5 . 10.42.1.5 }\n",
        "add element ip rkube-proxy service-ips { 10.43.0.10 . tcp . 80 : goto pick-2 }\n",
    ] {
        assert!(script.contains(needle), "missing {needle:?} in\n{script}");
    }
    assert!(!script.contains("svc-"), "no chain of its own:\n{script}");
    assert_eq!(stats.chains_written, 1);
    assert_eq!(stats.elements_added, 5);
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

    // s7's third endpoint stops being ready: a few map elements, no rule (the first
    // two-endpoint Service also creates the shared pick-2 chain).
    slices[7].endpoints[2].ready = false;
    let (script, stats) = sync(&mut p, &services, &slices);
    assert!(!stats.full);
    assert_eq!(stats.changed_services, 1);
    assert_eq!((stats.elements_added, stats.elements_deleted), (1, 3));
    assert_eq!(
        script,
        "delete element ip rkube-proxy sync-canary { 1 }\n\
         add chain ip rkube-proxy pick-2\n\
         delete element ip rkube-proxy service-ips { 10.43.1.7 . tcp . 80 }\n\
         delete element ip rkube-proxy endpoints { 10.43.1.7 . tcp . 80 . 2 }\n\
         delete element ip rkube-proxy hairpin { 10.42.2.17 . 10.42.2.17 }\n\
         add rule ip rkube-proxy pick-2 ip saddr != 10.42.0.0/16 jump mark-for-masquerade\n\
         add rule ip rkube-proxy pick-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @endpoints\n\
         add element ip rkube-proxy service-ips { 10.43.1.7 . tcp . 80 : goto pick-2 }\n\
         add element ip rkube-proxy sync-canary { 1 }\n"
    );
    // The next such change is elements only. Slots follow the sorted endpoints, so a
    // replaced endpoint can move the others' slots too.
    slices[8].endpoints[0].ip = ip("10.42.9.9");
    let (script, _) = sync(&mut p, &services, &slices);
    assert_eq!(
        script,
        "delete element ip rkube-proxy sync-canary { 1 }\n\
         delete element ip rkube-proxy endpoints { 10.43.1.8 . tcp . 80 . 0, 10.43.1.8 . tcp . 80 . 1, 10.43.1.8 . tcp . 80 . 2 }\n\
         delete element ip rkube-proxy hairpin { 10.42.0.18 . 10.42.0.18 }\n\
         add element ip rkube-proxy endpoints { 10.43.1.8 . tcp . 80 . 0 : 10.42.1.18 . 8080, 10.43.1.8 . tcp . 80 . 1 : 10.42.2.18 . 8080, 10.43.1.8 . tcp . 80 . 2 : 10.42.9.9 . 8080 }\n\
         add element ip rkube-proxy hairpin { 10.42.9.9 . 10.42.9.9 }\n\
         add element ip rkube-proxy sync-canary { 1 }\n",
        "slots follow the sorted endpoints"
    );

    // Deleting a Service removes its elements, and no chain.
    let (script, stats) = sync(&mut p, &services[1..], &slices);
    assert_eq!(stats.changed_services, 0);
    assert!(
        script.contains("delete element ip rkube-proxy service-ips { 10.43.1.0 . tcp . 80 }"),
        "{script}"
    );
    assert_eq!(stats.elements_deleted, 1 + 3 + 3, "{script}");
    assert!(!script.contains("chain"), "{script}");
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
    let add = script
        .find("add element ip rkube-proxy service-ips { 10.43.0.10 . tcp . 80 : goto pick-1 }")
        .unwrap();
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
    // Removing b must not delete a's elements (only b's own hairpin pair goes).
    let (script, _) = sync(&mut p, &[a], &slices);
    assert!(!script.contains("service-ips"), "{script}");
    assert!(!script.contains("endpoints"), "{script}");
    assert!(script.contains("delete element ip rkube-proxy hairpin { 10.42.0.6 . 10.42.0.6 }"));
}

#[test]
fn several_slices_per_service_and_duplicates() {
    let mut p = proxier();
    let services = vec![svc("web", "10.43.0.10", 80), svc("web", "10.43.0.99", 80)];
    let mut slices = vec![
        slice("web", 8080, &[("10.42.0.5", "node-a")]),
        slice("other", 8080, &[("10.42.0.7", "node-a")]),
        slice("web", 8080, &[("10.42.1.5", "node-b")]),
    ];
    let (script, stats) = sync(&mut p, &services, &slices);
    assert_eq!(stats.changed_services, 1, "the second listing is skipped");
    assert!(!script.contains("10.43.0.99"), "{script}");
    assert!(
        script.contains("goto pick-2"),
        "both slices merged:\n{script}"
    );

    let (script, _) = sync(&mut p, &services, &slices);
    assert_eq!(script, "", "no change, no transaction");

    // A change in the second slice, or one slice fewer, is a change.
    slices[2].endpoints[0].ready = false;
    let (script, stats) = sync(&mut p, &services, &slices);
    assert_eq!(stats.changed_services, 1);
    assert!(script.contains("goto pick-1"), "{script}");
    slices[2].endpoints[0].ready = true;
    sync(&mut p, &services, &slices);
    slices.pop();
    let (script, stats) = sync(&mut p, &services, &slices);
    assert_eq!(stats.changed_services, 1);
    assert!(script.contains("goto pick-1"), "{script}");
}
