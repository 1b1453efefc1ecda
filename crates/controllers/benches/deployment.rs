//! How fast a 10,000-replica Deployment comes up: the time until every pod exists (the
//! ReplicaSet controller's create rate through the real API server), and — with the bench
//! marking pods Running and Ready in bulk, as kubelets would — until the Deployment reports
//! them all available. Prints a table; asserts nothing about timings.
//!
//! `cargo bench -p rkube-controllers --bench deployment` (`BENCH_REPLICAS=n` to change size).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let n: i32 = std::env::var("BENCH_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let cl = common::start().await?;
    let c = cl.client.clone();
    common::namespace(&c, "bench").await?;
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), "bench");
    let replicasets: Api<ReplicaSet> = Api::namespaced(c.clone(), "bench");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "bench");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "big"},
        "spec": {
            "replicas": n,
            "selector": {"matchLabels": {"app": "big"}},
            "template": {
                "metadata": {"labels": {"app": "big"}},
                "spec": {"containers": [{"name": "c", "image": "registry.local/app:1"}]}
            }
        }
    }))?;

    let start = Instant::now();
    deployments.create(&PostParams::default(), &d).await?;
    common::wait_for(600, "all pods created", || async {
        let rss = replicasets.list(&ListParams::default()).await?.items;
        let have: i32 = rss
            .iter()
            .map(|r| r.status.as_ref().map(|s| s.replicas).unwrap_or(0))
            .sum();
        Ok((have >= n).then_some(()))
    })
    .await?;
    let created = start.elapsed();

    // Play the kubelets: every pod Running and Ready.
    let ready_start = Instant::now();
    let mut names = Vec::with_capacity(n as usize);
    let mut lp = ListParams::default().limit(1000);
    loop {
        let page = pods.list_metadata(&lp).await?;
        names.extend(page.items.iter().map(|p| p.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    let status = common::running_ready_status();
    let failures = futures::stream::iter(names.iter())
        .map(|name| {
            let (pods, status) = (pods.clone(), status.clone());
            async move {
                pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
            }
        })
        .buffer_unordered(64)
        .filter(|r| futures::future::ready(r.is_err()))
        .count()
        .await;
    let marked = ready_start.elapsed();
    common::wait_for(600, "all available", || async {
        let d = deployments.get("big").await?;
        let st = d.status.unwrap_or_default();
        Ok((st.available_replicas == Some(n)).then_some(()))
    })
    .await?;
    let available = start.elapsed();
    let after_ready = ready_start.elapsed();

    let rate = |count: i32, t: Duration| f64::from(count) / t.as_secs_f64().max(1e-9);
    println!();
    println!("Deployment of {n} replicas (in-process API server, redb store)");
    println!("| phase                                   | seconds | pods/s |");
    println!("|-----------------------------------------|--------:|-------:|");
    println!(
        "| all pods created (RS status.replicas)   | {:7.2} | {:6.0} |",
        created.as_secs_f64(),
        rate(n, created)
    );
    println!(
        "| bench marks pods Ready (bulk patches)   | {:7.2} | {:6.0} |",
        marked.as_secs_f64(),
        rate(n, marked)
    );
    println!(
        "| last Ready patch → availableReplicas=n  | {:7.2} |        |",
        after_ready.saturating_sub(marked).as_secs_f64()
    );
    println!(
        "| total: create → all available           | {:7.2} |        |",
        available.as_secs_f64()
    );
    if failures > 0 {
        println!("({failures} status patches failed)");
    }
    Ok(())
}
