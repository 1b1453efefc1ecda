use super::*;
use crate::index::{service_from, slice_from};
use serde_json::json;

fn index() -> Index {
    let mut idx = Index::default();
    idx.replace_namespaces(vec!["ns".into(), "default".into()]);
    let services = [
        json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": {"clusterIP": "10.43.0.5",
            "clusterIPs": ["10.43.0.5", "fd00::5"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}),
        json!({"metadata": {"name": "db", "namespace": "ns"}, "spec": {"clusterIP": "None",
            "ports": [{"name": "pg", "port": 5432}]}}),
        json!({"metadata": {"name": "ext", "namespace": "ns"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
    ];
    let all = services
        .into_iter()
        .map(|v| service_from(&serde_json::from_value(v).unwrap()).unwrap())
        .collect();
    idx.replace_services(all);
    let slice = json!({
        "metadata": {"name": "db-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.42.0.7"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.42.0.8"], "conditions": {"ready": true}},
            {"addresses": ["10.42.0.9"], "hostname": "db-2", "conditions": {"ready": false}}
        ],
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]
    });
    let s = slice_from(&serde_json::from_value(slice).unwrap()).unwrap();
    idx.replace_slices(vec![s]);
    idx
}

fn zone() -> Zone {
    Zone::new("cluster.local", 5).unwrap()
}

fn ask(idx: &Index, name: &str, qtype: RecordType) -> Local {
    let n = Name::from_ascii(name).unwrap();
    answer(idx, &zone(), &n, &n.to_lowercase(), qtype).expect("in zone")
}

fn rdata(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data().to_string()).collect()
}

#[test]
fn cluster_ip_a_and_aaaa() {
    let idx = index();
    let a = ask(&idx, "Web.NS.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(rdata(&a.answers), vec!["10.43.0.5"]);
    assert_eq!(a.answers[0].ttl(), 5);
    assert_eq!(a.answers[0].name().to_string(), "Web.NS.svc.cluster.local.");
    assert_eq!(
        rdata(&ask(&idx, "web.ns.svc.cluster.local.", RecordType::AAAA).answers),
        vec!["fd00::5"]
    );
    assert!(ask(&idx, "web.ns.svc.cluster.local.", RecordType::MX)
        .answers
        .is_empty());
}

#[test]
fn srv_for_named_ports() {
    let idx = index();
    let l = ask(
        &idx,
        "_http._tcp.web.ns.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        rdata(&l.answers),
        vec!["0 100 80 web.ns.svc.cluster.local."]
    );
    assert_eq!(rdata(&l.additionals), vec!["10.43.0.5", "fd00::5"]);
    assert_eq!(
        ask(
            &idx,
            "_http._udp.web.ns.svc.cluster.local.",
            RecordType::SRV
        )
        .rcode,
        ResponseCode::NXDomain
    );
    let all = ask(&idx, "web.ns.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        rdata(&all.answers),
        vec![
            "0 50 80 web.ns.svc.cluster.local.",
            "0 50 53 web.ns.svc.cluster.local."
        ]
    );
}

#[test]
fn headless_endpoints_hostnames_and_srv() {
    let idx = index();
    let a = ask(&idx, "db.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(rdata(&a.answers), vec!["10.42.0.7", "10.42.0.8"]);
    assert_eq!(
        rdata(&ask(&idx, "db-0.db.ns.svc.cluster.local.", RecordType::A).answers),
        vec!["10.42.0.7"]
    );
    assert_eq!(
        rdata(&ask(&idx, "10-42-0-8.db.ns.svc.cluster.local.", RecordType::A).answers),
        vec!["10.42.0.8"]
    );
    // Not ready: not published.
    assert_eq!(
        ask(&idx, "db-2.db.ns.svc.cluster.local.", RecordType::A).rcode,
        ResponseCode::NXDomain
    );
    let srv = ask(&idx, "_pg._tcp.db.ns.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        rdata(&srv.answers),
        vec![
            "0 50 5432 db-0.db.ns.svc.cluster.local.",
            "0 50 5432 10-42-0-8.db.ns.svc.cluster.local."
        ]
    );
    assert_eq!(
        srv.additionals[0].name().to_string(),
        "db-0.db.ns.svc.cluster.local."
    );
}

#[test]
fn publish_not_ready_includes_unready_endpoints() {
    let mut idx = index();
    let v = json!({"metadata": {"name": "db", "namespace": "ns"},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}});
    let (k, s) = service_from(&serde_json::from_value(v).unwrap()).unwrap();
    idx.upsert_service(k, s);
    assert_eq!(
        rdata(&ask(&idx, "db-2.db.ns.svc.cluster.local.", RecordType::A).answers),
        vec!["10.42.0.9"]
    );
}

#[test]
fn external_name_is_a_cname_to_chase() {
    let idx = index();
    let l = ask(&idx, "ext.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(rdata(&l.answers), vec!["db.example.com."]);
    assert_eq!(l.chase, Some(Name::from_ascii("db.example.com.").unwrap()));
    assert_eq!(
        ask(&idx, "ext.ns.svc.cluster.local.", RecordType::CNAME).chase,
        None
    );
    assert_eq!(
        ask(&idx, "_x._tcp.ext.ns.svc.cluster.local.", RecordType::SRV).rcode,
        ResponseCode::NXDomain
    );
}

#[test]
fn missing_names_and_namespaces() {
    let idx = index();
    for name in [
        "nope.ns.svc.cluster.local.",
        "www.google.com.ns.svc.cluster.local.",
        "google.com.svc.cluster.local.",
        "x.nope.svc.cluster.local.",
        "other.svc.cluster.local.",
        "1-2-3-4.other.pod.cluster.local.",
        "junk.ns.pod.cluster.local.",
    ] {
        assert_eq!(
            ask(&idx, name, RecordType::A).rcode,
            ResponseCode::NXDomain,
            "{name}"
        );
    }
    for name in [
        "cluster.local.",
        "svc.cluster.local.",
        "ns.svc.cluster.local.",
    ] {
        let l = ask(&idx, name, RecordType::A);
        assert_eq!(
            (l.rcode, l.answers.len()),
            (ResponseCode::NoError, 0),
            "{name}"
        );
    }
    let unsynced = Index::default();
    assert_eq!(
        ask(&unsynced, "nope.ns.svc.cluster.local.", RecordType::A).rcode,
        ResponseCode::ServFail
    );
}

#[test]
fn pods_soa_and_version() {
    let idx = index();
    assert_eq!(
        rdata(&ask(&idx, "10-42-0-99.ns.pod.cluster.local.", RecordType::A).answers),
        vec!["10.42.0.99"]
    );
    let soa = ask(&idx, "cluster.local.", RecordType::SOA);
    let text = rdata(&soa.answers).join("");
    assert!(
        text.starts_with("ns.dns.cluster.local. hostmaster.cluster.local."),
        "{text}"
    );
    assert!(text.ends_with(" 7200 1800 86400 5"), "{text}");
    assert_eq!(
        rdata(&ask(&idx, "dns-version.cluster.local.", RecordType::TXT).answers),
        vec!["1.1.0"]
    );
}

#[test]
fn ptr_for_cluster_ips_and_endpoints() {
    let idx = index();
    let z = zone();
    let q = Name::from_ascii("5.0.43.10.in-addr.arpa.").unwrap();
    let r = reverse(&idx, &z, &q, &"10.43.0.5".parse().unwrap()).unwrap();
    assert_eq!(rdata(&r), vec!["web.ns.svc.cluster.local."]);
    let r = reverse(&idx, &z, &q, &"10.42.0.7".parse().unwrap()).unwrap();
    assert_eq!(rdata(&r), vec!["db-0.db.ns.svc.cluster.local."]);
    assert!(reverse(&idx, &z, &q, &"192.0.2.1".parse().unwrap()).is_none());
}

#[test]
fn outside_the_zone_is_not_ours() {
    let idx = index();
    let n = Name::from_ascii("example.com.").unwrap();
    assert!(answer(&idx, &zone(), &n, &n, RecordType::A).is_none());
}
