//! The HorizontalPodAutoscaler end to end: a fake kubelet serves `/stats/summary` over TLS
//! (with a certificate of the cluster CA, as a real kubelet's), the API server turns it
//! into `metrics.k8s.io` PodMetrics, and the controller — reading them through the real
//! metrics client — scales a Deployment up to its maximum and back down.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rkube_controllers::{HpaConfig, NodeLifecycleConfig, Options};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const NS: &str = "hpa";

/// Serves every pod of [`NS`] as using `millicores` of CPU, until `cancel`.
async fn fake_kubelet(cluster: &Cluster, millicores: Arc<AtomicU64>) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let acceptor = tokio_rustls::TlsAcceptor::from(cluster.kubelet_tls.clone());
    let (client, cancel) = (cluster.client.clone(), cluster.cancel.clone());
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                c = listener.accept() => match c { Ok((tcp, _)) => tcp, Err(_) => return },
                _ = cancel.cancelled() => return,
            };
            let (acceptor, client, m) = (acceptor.clone(), client.clone(), millicores.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = summary(&client, m.load(Ordering::SeqCst))
                    .await
                    .unwrap_or_default();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Ok(port)
}

async fn summary(client: &Client, millicores: u64) -> anyhow::Result<String> {
    let now = jiff::Timestamp::now().to_string();
    let pods = active_pods(client, NS).await?;
    let cpu = json!({"time": now, "usageNanoCores": millicores * 1_000_000});
    let pods: Vec<_> = pods
        .iter()
        .map(|p| {
            json!({
                "podRef": {"name": p.name_any(), "namespace": NS, "uid": p.metadata.uid},
                "cpu": cpu,
                "containers": [{"name": "c", "cpu": cpu, "memory": {"workingSetBytes": 1 << 20}}],
            })
        })
        .collect();
    Ok(json!({
        "node": {"nodeName": "n1", "cpu": cpu, "memory": {"workingSetBytes": 1 << 30}},
        "pods": pods,
    })
    .to_string())
}

/// Plays the kubelet's pod status: every pod Running and Ready, started an hour ago (past
/// the HPA's CPU initialization period).
fn run_pods(client: Client, cancel: CancellationToken) {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client.clone(), NS);
        let hour_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600)).to_string();
        while !cancel.is_cancelled() {
            for p in api
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default()
            {
                if p.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .is_some()
                {
                    continue;
                }
                let status = json!({"status": {
                    "phase": "Running", "startTime": hour_ago,
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": hour_ago}],
                }});
                let _ = api
                    .patch_status(
                        &p.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(status),
                    )
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

async fn wait_replicas(c: &Client, want: i32) -> anyhow::Result<()> {
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), NS);
    wait_for(40, &format!("deployment scaled to {want}"), || async {
        let d = deploys.get("web").await?;
        Ok((d.spec.and_then(|s| s.replicas) == Some(want)).then_some(()))
    })
    .await
}

fn condition(h: &HorizontalPodAutoscaler, type_: &str) -> (String, String) {
    h.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
        .unwrap_or_default()
}

async fn rescale_event(c: &Client, message: &str) -> anyhow::Result<()> {
    let events: Api<Event> = Api::namespaced(c.clone(), NS);
    wait_for(10, &format!("event {message:?}"), || async {
        let evs = events.list(&ListParams::default()).await?.items;
        Ok(evs
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("SuccessfulRescale")
                    && e.message.as_deref() == Some(message)
            })
            .then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_a_deployment_on_cpu_utilization() -> anyhow::Result<()> {
    let opts = Options {
        hpa: HpaConfig {
            sync_period: Duration::from_millis(500),
            downscale_stabilization: Duration::from_secs(2),
            ..HpaConfig::default()
        },
        // The fake node posts no heartbeats: keep the lifecycle controller out of the way.
        node_lifecycle: NodeLifecycleConfig {
            grace_period: Duration::from_secs(3600),
            startup_grace_period: Duration::from_secs(3600),
            ..NodeLifecycleConfig::default()
        },
        ..Options::default()
    };
    let cl = common::start_opts(Some(opts)).await?;
    let c = cl.client.clone();
    namespace(&c, NS).await?;
    let usage = Arc::new(AtomicU64::new(100));
    let port = fake_kubelet(&cl, usage.clone()).await?;
    node(&c, "n1", json!([])).await?;
    let nodes: Api<Node> = Api::all(c.clone());
    nodes
        .patch_status(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            }})),
        )
        .await?;
    run_pods(c.clone(), cl.cancel.clone());
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), NS);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}]}
            }
        }
    }))?;
    deploys.create(&PostParams::default(), &d).await?;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(c.clone(), NS);
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}],
        }
    }))?;
    hpas.create(&PostParams::default(), &hpa).await?;

    // 100 % of request against a 50 % target: 1 → 2, then 2 → 4 capped at maxReplicas 3.
    rescale_event(
        &c,
        "New size: 2; reason: cpu resource utilization (percentage of request) above target",
    )
    .await?;
    wait_replicas(&c, 3).await?;
    let h = wait_for(20, "HPA status at 3", || async {
        let h = hpas.get("web").await?;
        let s = h.status.clone().unwrap_or_default();
        let util = s
            .current_metrics
            .as_ref()
            .and_then(|m| m.first())
            .and_then(|m| m.resource.as_ref())
            .and_then(|r| r.current.average_utilization);
        let done = s.current_replicas == Some(3) && s.desired_replicas == 3 && util == Some(100);
        Ok(done.then_some(h))
    })
    .await?;
    let s = h.status.clone().unwrap_or_default();
    let metric = s.current_metrics.unwrap_or_default().remove(0);
    let resource = metric.resource.unwrap_or_default();
    assert_eq!(
        (metric.type_.as_str(), resource.name.as_str()),
        ("Resource", "cpu")
    );
    assert_eq!(
        resource.current.average_value.map(|q| q.0),
        Some("100m".to_string())
    );
    assert!(s.last_scale_time.is_some());
    assert_eq!(condition(&h, "AbleToScale").0, "True");
    assert_eq!(
        condition(&h, "ScalingActive"),
        ("True".into(), "ValidMetricFound".into())
    );
    assert_eq!(
        condition(&h, "ScalingLimited"),
        ("True".into(), "TooManyReplicas".into())
    );

    // Load drops to 10 %: after the (shortened) stabilization window, back to the minimum.
    usage.store(10, Ordering::SeqCst);
    wait_replicas(&c, 1).await?;
    rescale_event(&c, "New size: 1; reason: All metrics below target").await?;
    // The event and the status are separate writes: wait for the status too.
    wait_for(20, "ScalingLimited False", || async {
        let h = hpas.get("web").await?;
        Ok((condition(&h, "ScalingLimited").0 == "False").then_some(()))
    })
    .await?;
    Ok(())
}
