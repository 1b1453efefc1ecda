//! The controller against a real (in-process) API server: IngressClass, routing from watched
//! objects, changes applied within a second, status, refused Ingresses, TLS Secrets.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, wait_for};
use common::*;
use k8s_openapi::api::core::v1::{Event, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn create<K>(api: &Api<K>, v: Value) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &serde_json::from_value(v)?)
        .await?;
    Ok(())
}

/// The backend name answering `host` through the proxy, if any answered 200.
async fn answer(addr: std::net::SocketAddr, host: &str) -> Option<String> {
    let r = try_get(addr, host, "/").await?;
    (r.status == 200).then(|| r.json()["backend"].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn serves_from_watched_objects() -> anyhow::Result<()> {
    let c = cluster::start().await?;
    let client = c.client.clone();
    create(
        &Api::<Namespace>::all(client.clone()),
        json!({"metadata": {"name": "ns"}}),
    )
    .await?;
    let (a, b) = (backend("a").await, backend("b").await);
    let services: Api<Service> = Api::namespaced(client.clone(), "ns");
    create(&services, svc("web", 80)).await?;
    let slices_api: Api<EndpointSlice> = Api::namespaced(client.clone(), "ns");
    create(&slices_api, slices("web", &[a]).remove(0)).await?;

    let (http, https) = (free_addr(), free_addr());
    let cfg = rkube_ingress::IngressConfig {
        http: Some(http),
        https: Some(https),
        node_ips: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    tokio::spawn(rkube_ingress::run(client.clone(), cfg, c.cancel.clone()));

    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "ns");
    create(
        &ingresses,
        ingress(
            "web",
            json!({}),
            json!({"rules": [rule(Some("web.com"), "/", "Prefix", "web")]}),
        ),
    )
    .await?;
    wait_for(Duration::from_secs(10), "web.com served by a", || async {
        Ok(answer(http, "web.com").await.filter(|b| b == "a"))
    })
    .await?;

    // The default IngressClass exists.
    let class = Api::<IngressClass>::all(client.clone())
        .get("rkube")
        .await?;
    assert_eq!(
        class.metadata.annotations.unwrap()["ingressclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(
        class.spec.unwrap().controller.as_deref(),
        Some("rkube.io/ingress")
    );

    // Status lists the node IP.
    wait_for(Duration::from_secs(5), "status.loadBalancer", || async {
        let i = ingresses.get("web").await?;
        let lb = i
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress);
        Ok(lb.filter(|l| l.len() == 1 && l[0].ip.as_deref() == Some("127.0.0.1")))
    })
    .await?;

    // An EndpointSlice change takes effect (within a second, unless the machine is busy).
    let moved = slices("web", &[b]).remove(0);
    slices_api
        .patch(
            "web-0",
            &PatchParams::default(),
            &Patch::Merge(&json!({
            "ports": moved["ports"], "endpoints": moved["endpoints"]})),
        )
        .await?;
    let t = Instant::now();
    wait_for(Duration::from_secs(10), "the endpoint change", || async {
        Ok(answer(http, "web.com").await.filter(|b| b == "b"))
    })
    .await?;
    println!("endpoint change visible after {:?}", t.elapsed());

    // Another controller's class is not ours; snippets are refused with an event.
    create(
        &ingresses,
        ingress(
            "other",
            json!({}),
            json!({"ingressClassName": "traefik",
        "rules": [rule(Some("other.com"), "/", "Prefix", "web")]}),
        ),
    )
    .await?;
    create(
        &ingresses,
        ingress(
            "snippet",
            json!({"nginx.ingress.kubernetes.io/server-snippet": "location /x { return 200; }"}),
            json!({"rules": [rule(Some("snip.com"), "/", "Prefix", "web")]}),
        ),
    )
    .await?;
    let events: Api<Event> = Api::namespaced(client.clone(), "ns");
    let ev = wait_for(Duration::from_secs(5), "Rejected event", || async {
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Rejected")
                    && e.involved_object.name.as_deref() == Some("snippet")
            }))
    })
    .await?;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert!(ev.message.unwrap_or_default().contains("server-snippet"));
    assert_eq!(
        try_get(http, "snip.com", "/").await.map(|r| r.status),
        Some(404)
    );
    assert_eq!(
        try_get(http, "other.com", "/").await.map(|r| r.status),
        Some(404)
    );
    let other = ingresses.get("other").await?;
    assert!(other
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .is_none());

    // A TLS Secret named in spec.tls is served by SNI once created.
    ingresses
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {
            "tls": [{"hosts": ["web.com"], "secretName": "web-tls"}]}})),
        )
        .await?;
    let (secret, pem) = tls_secret("web-tls", "web.com");
    create(&Api::<Secret>::namespaced(client.clone(), "ns"), secret).await?;
    let want = pem_to_der(&pem);
    wait_for(Duration::from_secs(5), "certificate from Secret", || {
        let want = want.clone();
        async move {
            let (_, cert, _) = tls_connect(https, "web.com", &[]).await;
            Ok((cert == want).then_some(()))
        }
    })
    .await?;
    // And the now-TLS host redirects plain HTTP.
    assert_eq!(
        try_get(http, "web.com", "/").await.map(|r| r.status),
        Some(308)
    );
    Ok(())
}
