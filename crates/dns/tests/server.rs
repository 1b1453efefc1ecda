//! End-to-end: a real API server, Services and EndpointSlices created through it, and DNS
//! queries over UDP/TCP against the server on loopback.

mod common;

use common::{rdata, tcp_query, udp_query, wait, Cluster, FakeUpstream, Result};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

const WEB: &str = "web.default.svc.cluster.local.";

#[tokio::test]
async fn cluster_ip_a_srv_ptr_updates_and_deletion() -> Result<()> {
    let c = Cluster::start().await?;
    let svc: Service = c
        .create(
            "default",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
        )
        .await?;
    let ip = svc.spec.and_then(|s| s.cluster_ip).ok_or("no cluster IP")?;
    let a = wait("web A", || async {
        let m = c
            .query("WEB.Default.svc.Cluster.Local.", RecordType::A)
            .await
            .ok()?;
        (!m.answers().is_empty()).then_some(m)
    })
    .await?;
    assert!(a.authoritative());
    assert_eq!(rdata(a.answers()), vec![ip.clone()]);
    assert_eq!(a.answers()[0].ttl(), 5);

    let srv = c
        .query("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV)
        .await?;
    assert_eq!(rdata(srv.answers()), vec![format!("0 100 80 {WEB}")]);
    assert_eq!(rdata(srv.additionals()), vec![ip.clone()]);
    assert_eq!(srv.additionals()[0].name().to_string(), WEB);

    let octets: Vec<&str> = ip.split('.').rev().collect();
    let ptr = c
        .query(
            &format!("{}.in-addr.arpa.", octets.join(".")),
            RecordType::PTR,
        )
        .await?;
    assert_eq!(rdata(ptr.answers()), vec![WEB.to_string()]);

    // A port added later shows up once the watch event arrives.
    let api: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let patch = json!({"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "protocol": "TCP"}]}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    wait("metrics SRV", || async {
        let m = c
            .query(
                "_metrics._tcp.web.default.svc.cluster.local.",
                RecordType::SRV,
            )
            .await
            .ok()?;
        (rdata(m.answers()) == vec![format!("0 100 9090 {WEB}")]).then_some(())
    })
    .await?;

    c.delete::<Service>("default", "web").await?;
    let nx = wait("web gone", || async {
        let m = c.query(WEB, RecordType::A).await.ok()?;
        (m.response_code() == ResponseCode::NXDomain).then_some(m)
    })
    .await?;
    let soa = nx.name_servers().first().ok_or("no SOA in authority")?;
    let RData::SOA(soa_data) = soa.data() else {
        return Err("authority is not an SOA".into());
    };
    assert_eq!(soa.name().to_string(), "cluster.local.");
    assert_eq!(soa_data.mname().to_string(), "ns.dns.cluster.local.");
    assert_eq!(soa_data.rname().to_string(), "hostmaster.cluster.local.");
    assert_eq!(soa_data.minimum(), 5);
    Ok(())
}

#[tokio::test]
async fn headless_service_endpoints_hostnames_srv_and_ptr() -> Result<()> {
    let c = Cluster::start().await?;
    let _: Service = c
        .create(
            "default",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}),
        )
        .await?;
    let _: EndpointSlice = c
        .create(
            "default",
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "db-x1", "labels": {"kubernetes.io/service-name": "db"}},
                "addressType": "IPv4",
                "endpoints": [
                    {"addresses": ["10.42.0.7"], "hostname": "db-0", "conditions": {"ready": true}},
                    {"addresses": ["10.42.0.8"], "hostname": "db-1", "conditions": {"ready": true}},
                    {"addresses": ["10.42.0.9"], "hostname": "db-2", "conditions": {"ready": false}}
                ],
                "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}),
        )
        .await?;
    let a = wait("db A", || async {
        let m = c
            .query("db.default.svc.cluster.local.", RecordType::A)
            .await
            .ok()?;
        (m.answers().len() == 2).then_some(m)
    })
    .await?;
    let mut ips = rdata(a.answers());
    ips.sort();
    assert_eq!(ips, vec!["10.42.0.7", "10.42.0.8"]);

    let one = c
        .query("db-1.db.default.svc.cluster.local.", RecordType::A)
        .await?;
    assert_eq!(rdata(one.answers()), vec!["10.42.0.8"]);
    let unready = c
        .query("db-2.db.default.svc.cluster.local.", RecordType::A)
        .await?;
    assert_eq!(unready.response_code(), ResponseCode::NXDomain);

    let srv = c
        .query("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV)
        .await?;
    let mut targets = rdata(srv.answers());
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "0 50 5432 db-0.db.default.svc.cluster.local.",
            "0 50 5432 db-1.db.default.svc.cluster.local."
        ]
    );
    let mut extra: Vec<String> = srv
        .additionals()
        .iter()
        .map(|r| format!("{} {}", r.name(), r.data()))
        .collect();
    extra.sort();
    assert_eq!(
        extra,
        vec![
            "db-0.db.default.svc.cluster.local. 10.42.0.7",
            "db-1.db.default.svc.cluster.local. 10.42.0.8"
        ]
    );

    let ptr = c.query("7.0.42.10.in-addr.arpa.", RecordType::PTR).await?;
    assert_eq!(
        rdata(ptr.answers()),
        vec!["db-0.db.default.svc.cluster.local."]
    );

    // Removing the slice removes the answers.
    c.delete::<EndpointSlice>("default", "db-x1").await?;
    wait("db endpoints gone", || async {
        let m = c
            .query("db.default.svc.cluster.local.", RecordType::A)
            .await
            .ok()?;
        (m.response_code() == ResponseCode::NXDomain).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn external_name_is_a_cname_chased_through_the_upstream() -> Result<()> {
    let c = Cluster::start().await?;
    let _: Service = c
        .create(
            "default",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                "spec": {"type": "ExternalName", "externalName": "db.example.test"}}),
        )
        .await?;
    let m = wait("ext CNAME", || async {
        let m = c
            .query("ext.default.svc.cluster.local.", RecordType::A)
            .await
            .ok()?;
        (!m.answers().is_empty()).then_some(m)
    })
    .await?;
    assert_eq!(rdata(m.answers()), vec!["db.example.test.", "192.0.2.1"]);
    assert_eq!(m.answers()[0].record_type(), RecordType::CNAME);
    Ok(())
}

#[tokio::test]
async fn forwarding_caches_truncates_and_fails_cleanly() -> Result<()> {
    let c = Cluster::start().await?;
    let before = c.upstream.count();
    let first = c.query("www.example.test.", RecordType::A).await?;
    assert_eq!(rdata(first.answers()), vec!["192.0.2.1"]);
    assert!(!first.authoritative() && first.recursion_available());
    let again = c.query("WWW.Example.TEST.", RecordType::A).await?;
    assert_eq!(rdata(again.answers()), vec!["192.0.2.1"]);
    assert_eq!(again.answers()[0].name().to_string(), "WWW.Example.TEST.");
    assert!(again.answers()[0].ttl() <= 60);
    assert_eq!(
        c.upstream.count() - before,
        1,
        "second query must come from the cache"
    );

    // Search-path expansions of external names are ours: NXDOMAIN, never forwarded.
    for name in [
        "www.example.test.default.svc.cluster.local.",
        "www.example.test.svc.cluster.local.",
    ] {
        let m = c.query(name, RecordType::A).await?;
        assert_eq!(m.response_code(), ResponseCode::NXDomain, "{name}");
        assert_eq!(m.name_servers().len(), 1, "{name}: SOA expected");
    }
    assert_eq!(c.upstream.count() - before, 1);

    let nx = c.query("nx.example.test.", RecordType::A).await?;
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    assert_eq!(
        c.query("fail.example.test.", RecordType::A)
            .await?
            .response_code(),
        ResponseCode::ServFail
    );

    // The upstream truncates over UDP; we retry over TCP and get every record.
    let big = c.query("big.example.test.", RecordType::A).await?;
    assert_eq!(big.answers().len(), 40);
    // A client without EDNS (512 bytes) gets TC and the full answer over TCP.
    let small = udp_query(c.dns, "big.example.test.", RecordType::A, false).await?;
    assert!(small.truncated());
    let tcp = tcp_query(c.dns, "big.example.test.", RecordType::A).await?;
    assert_eq!(tcp.answers().len(), 40);

    let tcp_cluster = tcp_query(
        c.dns,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(rdata(tcp_cluster.answers()), vec!["10.43.0.1"]);
    Ok(())
}

#[tokio::test]
async fn pods_namespaces_and_dead_upstreams() -> Result<()> {
    // The only upstream is a port nobody answers on.
    let dead = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let dead_addr = dead.local_addr()?;
    drop(dead);
    let upstream = FakeUpstream::start().await?;
    let c = Cluster::start_with_upstreams(upstream, Some(vec![dead_addr])).await?;

    let pod = c
        .query("10-42-0-5.default.pod.cluster.local.", RecordType::A)
        .await?;
    assert_eq!(rdata(pod.answers()), vec!["10.42.0.5"]);
    let nons = c
        .query("10-42-0-5.nosuchns.pod.cluster.local.", RecordType::A)
        .await?;
    assert_eq!(nons.response_code(), ResponseCode::NXDomain);
    let ns = c.query("default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(
        (ns.response_code(), ns.answers().len()),
        (ResponseCode::NoError, 0)
    );

    let m = c.query("www.example.test.", RecordType::A).await?;
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    Ok(())
}
