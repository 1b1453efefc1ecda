//! The Job controller against a real API server; the test plays the kubelet by finishing pods.

mod common;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

fn job(name: &str, spec: serde_json::Value) -> anyhow::Result<Job> {
    let mut s = json!({
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        }
    });
    if let (Some(m), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        m.extend(extra.clone());
    }
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": s}),
    )?)
}

fn condition(j: &Job, t: &str) -> Option<(String, String)> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

async fn job_pods(c: &Client, ns: &str, job: &str) -> anyhow::Result<Vec<Pod>> {
    Ok(active_pods(c, ns)
        .await?
        .into_iter()
        .filter(|p| p.labels().get("job-name").map(String::as_str) == Some(job))
        .collect())
}

async fn wait_condition(api: &Api<Job>, name: &str, t: &str) -> anyhow::Result<Job> {
    wait_for(40, &format!("{name} {t}"), || async {
        let j = api.get(name).await?;
        Ok(condition(&j, t).is_some().then_some(j))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_to_completion_within_parallelism() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "job1").await?;
    let api: Api<Job> = Api::namespaced(c.clone(), "job1");
    let created = api
        .create(
            &PostParams::default(),
            &job("pi", json!({"completions": 3, "parallelism": 2}))?,
        )
        .await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    let mut finished = 0;
    while finished < 3 {
        let pods = wait_for(30, "job pods", || async {
            let ps = job_pods(c, "job1", "pi").await?;
            let want = (3 - finished).min(2);
            Ok((ps.len() == want).then_some(ps))
        })
        .await?;
        assert!(pods.len() <= 2, "parallelism exceeded: {}", pods.len());
        let p = &pods[0];
        assert!(
            p.name_any().starts_with("pi-") && p.name_any().len() == "pi-".len() + 5,
            "{}",
            p.name_any()
        );
        for k in ["job-name", "batch.kubernetes.io/job-name"] {
            assert_eq!(p.labels().get(k).map(String::as_str), Some("pi"));
        }
        for k in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
            assert_eq!(p.labels().get(k), Some(&uid));
        }
        finish_pod(c, "job1", &p.name_any(), "Succeeded", 0).await?;
        finished += 1;
        wait_for(30, "succeeded count", || async {
            let st = api.get("pi").await?.status.unwrap_or_default();
            Ok((st.succeeded.unwrap_or(0) as usize == finished).then_some(()))
        })
        .await?;
    }
    let j = wait_condition(&api, "pi", "Complete").await?;
    assert_eq!(
        condition(&j, "Complete").map(|c| c.0).as_deref(),
        Some("CompletionsReached")
    );
    assert!(condition(&j, "SuccessCriteriaMet").is_some());
    let st = j.status.unwrap_or_default();
    assert_eq!((st.succeeded, st.active, st.failed), (Some(3), None, None));
    assert!(st.start_time.is_some() && st.completion_time.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_limit_fails_the_job() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "job2").await?;
    let api: Api<Job> = Api::namespaced(c.clone(), "job2");
    api.create(
        &PostParams::default(),
        &job("flaky", json!({"backoffLimit": 1}))?,
    )
    .await?;
    let mut failed = Vec::new();
    for _ in 0..2 {
        let p = wait_for(30, "a new pod", || async {
            let ps = job_pods(c, "job2", "flaky").await?;
            Ok(ps.into_iter().find(|p| !failed.contains(&p.name_any())))
        })
        .await?;
        // Failed an hour ago: the back-off has already passed.
        finish_pod(c, "job2", &p.name_any(), "Failed", 3600).await?;
        failed.push(p.name_any());
    }
    let j = wait_condition(&api, "flaky", "Failed").await?;
    let (reason, message) = condition(&j, "Failed").unwrap_or_default();
    assert_eq!(reason, "BackoffLimitExceeded");
    assert_eq!(message, "Job has reached the specified backoff limit");
    assert!(condition(&j, "FailureTarget").is_some());
    assert_eq!(j.status.and_then(|s| s.failed), Some(2));
    assert!(job_pods(c, "job2", "flaky").await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_failure_delays_the_replacement() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "job3").await?;
    let api: Api<Job> = Api::namespaced(c.clone(), "job3");
    api.create(
        &PostParams::default(),
        &job("slow", json!({"backoffLimit": 3}))?,
    )
    .await?;
    let p = wait_for(30, "pod", || async {
        Ok(job_pods(c, "job3", "slow").await?.into_iter().next())
    })
    .await?;
    // Failed 5 s ago: the first back-off (10 s) still has ~5 s to run.
    finish_pod(c, "job3", &p.name_any(), "Failed", 5).await?;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        job_pods(c, "job3", "slow").await?.is_empty(),
        "replaced before the back-off ended"
    );
    wait_for(10, "replacement after back-off", || async {
        Ok(job_pods(c, "job3", "slow").await?.into_iter().next())
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_and_ttl() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "job4").await?;
    let api: Api<Job> = Api::namespaced(c.clone(), "job4");
    api.create(
        &PostParams::default(),
        &job(
            "late",
            json!({"activeDeadlineSeconds": 2, "parallelism": 2, "completions": 4}),
        )?,
    )
    .await?;
    wait_for(30, "pods", || async {
        Ok((job_pods(c, "job4", "late").await?.len() == 2).then_some(()))
    })
    .await?;
    let j = wait_condition(&api, "late", "Failed").await?;
    let (reason, message) = condition(&j, "Failed").unwrap_or_default();
    assert_eq!(
        (reason.as_str(), message.as_str()),
        (
            "DeadlineExceeded",
            "Job was active longer than specified deadline"
        )
    );
    assert!(job_pods(c, "job4", "late").await?.is_empty());

    api.create(
        &PostParams::default(),
        &job("short", json!({"ttlSecondsAfterFinished": 1}))?,
    )
    .await?;
    let p = wait_for(30, "pod", || async {
        Ok(job_pods(c, "job4", "short").await?.into_iter().next())
    })
    .await?;
    finish_pod(c, "job4", &p.name_any(), "Succeeded", 0).await?;
    wait_condition(&api, "short", "Complete").await?;
    wait_for(30, "TTL deletion", || async {
        Ok(api.get_opt("short").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_runs_each_index() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "job5").await?;
    let api: Api<Job> = Api::namespaced(c.clone(), "job5");
    api.create(
        &PostParams::default(),
        &job(
            "idx",
            json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3}),
        )?,
    )
    .await?;
    let pods = wait_for(30, "3 pods", || async {
        let ps = job_pods(c, "job5", "idx").await?;
        Ok((ps.len() == 3).then_some(ps))
    })
    .await?;
    let key = "batch.kubernetes.io/job-completion-index";
    let mut indexes: Vec<String> = Vec::new();
    for p in &pods {
        let i = p.annotations().get(key).cloned().unwrap_or_default();
        assert_eq!(p.labels().get(key), Some(&i));
        assert!(
            p.name_any().starts_with(&format!("idx-{i}-")),
            "{}",
            p.name_any()
        );
        let hostname = p.spec.as_ref().and_then(|s| s.hostname.clone());
        assert_eq!(hostname, Some(format!("idx-{i}")));
        indexes.push(i);
    }
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
    let by_index = |i: &str| {
        pods.iter()
            .find(|p| p.annotations().get(key).map(String::as_str) == Some(i))
            .map(|p| p.name_any())
            .unwrap_or_default()
    };
    // Index 1 fails: replaced by a new pod for the same index.
    finish_pod(c, "job5", &by_index("1"), "Failed", 3600).await?;
    let replacement = wait_for(30, "replacement for index 1", || async {
        let ps = job_pods(c, "job5", "idx").await?;
        Ok(ps
            .into_iter()
            .find(|p| p.annotations().get(key).map(String::as_str) == Some("1")))
    })
    .await?;
    finish_pod(c, "job5", &replacement.name_any(), "Succeeded", 0).await?;
    wait_for(30, "completedIndexes 1", || async {
        let st = api.get("idx").await?.status.unwrap_or_default();
        Ok((st.completed_indexes.as_deref() == Some("1")).then_some(()))
    })
    .await?;
    for i in ["0", "2"] {
        finish_pod(c, "job5", &by_index(i), "Succeeded", 0).await?;
    }
    let j = wait_condition(&api, "idx", "Complete").await?;
    let st = j.status.unwrap_or_default();
    assert_eq!(st.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!((st.succeeded, st.failed), (Some(3), Some(1)));
    Ok(())
}
