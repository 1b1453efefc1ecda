//! The CronJob controller against a real API server, on a clock the test moves forward.
//! Only the CronJob controller runs: the test plays the Job controller by writing Job status.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use common::*;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rkube_controllers::cronjob::CronJobController;
use rkube_controllers::informer::Informer;
use serde_json::json;

struct Clock(Arc<AtomicI64>);

impl Clock {
    fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

fn start_controller(cl: &Cluster) -> Clock {
    // The clock stands still at the start of the current minute and moves only when the
    // test says: a clock that followed real time could reach the next activation mid-test
    // and start a job the test did not ask for.
    let now = jiff::Timestamp::now().as_second();
    let offset = Arc::new(AtomicI64::new(now - now.rem_euclid(60)));
    let o = offset.clone();
    let clock = Arc::new(move || {
        jiff::Timestamp::from_second(o.load(Ordering::SeqCst))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    });
    let mut cronjobs = Informer::<CronJob>::new(Api::all(cl.client.clone()));
    let mut jobs = Informer::<Job>::new(Api::all(cl.client.clone()));
    let ctl = CronJobController::with_clock(
        cl.client.clone(),
        &mut cronjobs,
        &mut jobs,
        cl.cancel.clone(),
        clock,
    );
    cronjobs.spawn(cl.cancel.clone());
    jobs.spawn(cl.cancel.clone());
    tokio::spawn(ctl.run(cl.cancel.clone()));
    Clock(offset)
}

/// Makes the controller look again (as the requeue at the next activation would).
async fn nudge(api: &Api<CronJob>, name: &str, n: i64) -> anyhow::Result<()> {
    let p = json!({"metadata": {"annotations": {"test/nudge": n.to_string()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&p))
        .await?;
    Ok(())
}

async fn jobs(c: &Client, ns: &str) -> anyhow::Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(c.clone(), ns);
    let mut list = api.list(&ListParams::default()).await?.items;
    list.sort_by_key(|j| j.name_any());
    Ok(list)
}

async fn finish_job(c: &Client, ns: &str, name: &str, cond: &str) -> anyhow::Result<()> {
    let api: Api<Job> = Api::namespaced(c.clone(), ns);
    let now = jiff::Timestamp::now().to_string();
    let mut st = json!({"conditions": [{"type": cond, "status": "True", "lastTransitionTime": now}], "startTime": now});
    if cond == "Complete" {
        st["completionTime"] = json!(now);
    }
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": st})),
    )
    .await?;
    Ok(())
}

fn cronjob(name: &str, extra: serde_json::Value) -> anyhow::Result<CronJob> {
    let mut spec = json!({
        "schedule": "* * * * *",
        "jobTemplate": {"metadata": {"labels": {"cron": name}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    });
    if let (Some(m), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_forbids_overlap_and_keeps_history() -> anyhow::Result<()> {
    let cl = start_with(false).await?;
    let c = &cl.client;
    let clock = start_controller(&cl);
    namespace(c, "cron1").await?;
    let api: Api<CronJob> = Api::namespaced(c.clone(), "cron1");
    api.create(
        &PostParams::default(),
        &cronjob("tick", json!({"concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 1, "timeZone": "Europe/Berlin"}))?,
    )
    .await?;
    clock.advance(61);
    nudge(&api, "tick", 1).await?;
    let first = wait_for(20, "first job", || async {
        Ok(jobs(c, "cron1").await?.into_iter().next())
    })
    .await?;
    let minutes: i64 = first
        .name_any()
        .strip_prefix("tick-")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let ts = first
        .annotations()
        .get("batch.kubernetes.io/cronjob-scheduled-timestamp")
        .cloned()
        .unwrap_or_default();
    let scheduled: jiff::Timestamp = ts.parse()?;
    assert_eq!(scheduled.as_second(), minutes * 60, "{ts}");
    assert!(
        ts.ends_with("+01:00") || ts.ends_with("+02:00"),
        "Berlin offset expected: {ts}"
    );
    assert_eq!(first.labels().get("cron").map(String::as_str), Some("tick"));
    assert_eq!(
        first.owner_references().first().map(|o| o.kind.as_str()),
        Some("CronJob")
    );
    let cj = wait_for(20, "status.active", || async {
        let cj = api.get("tick").await?;
        let st = cj.status.clone().unwrap_or_default();
        Ok(
            (st.active.as_ref().map(Vec::len) == Some(1) && st.last_schedule_time.is_some())
                .then_some(cj),
        )
    })
    .await?;
    assert_eq!(
        cj.status.and_then(|s| s.last_schedule_time).map(|t| t.0),
        Some(scheduled)
    );

    // Forbid: the next activation is skipped while the first job runs.
    clock.advance(60);
    nudge(&api, "tick", 2).await?;
    let events: Api<Event> = Api::namespaced(c.clone(), "cron1");
    wait_for(20, "JobAlreadyActive event", || async {
        let evs = events.list(&ListParams::default()).await?.items;
        Ok(evs
            .iter()
            .any(|e| e.reason.as_deref() == Some("JobAlreadyActive"))
            .then_some(()))
    })
    .await?;
    assert_eq!(jobs(c, "cron1").await?.len(), 1);

    // Once it completes, the missed activation runs; the history limit of 1 then removes
    // the first job when the second completes.
    finish_job(c, "cron1", &first.name_any(), "Complete").await?;
    let second = wait_for(20, "second job", || async {
        Ok(jobs(c, "cron1")
            .await?
            .into_iter()
            .find(|j| j.name_any() != first.name_any()))
    })
    .await?;
    wait_for(20, "lastSuccessfulTime", || async {
        let st = api.get("tick").await?.status.unwrap_or_default();
        Ok(st.last_successful_time.is_some().then_some(()))
    })
    .await?;
    finish_job(c, "cron1", &second.name_any(), "Complete").await?;
    wait_for(20, "first job deleted by the history limit", || async {
        let names: Vec<String> = jobs(c, "cron1")
            .await?
            .iter()
            .map(|j| j.name_any())
            .collect();
        Ok((names == [second.name_any()]).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_replace() -> anyhow::Result<()> {
    let cl = start_with(false).await?;
    let c = &cl.client;
    let clock = start_controller(&cl);
    namespace(c, "cron2").await?;
    let api: Api<CronJob> = Api::namespaced(c.clone(), "cron2");
    api.create(
        &PostParams::default(),
        &cronjob(
            "rep",
            json!({"concurrencyPolicy": "Replace", "suspend": true}),
        )?,
    )
    .await?;
    clock.advance(61);
    nudge(&api, "rep", 1).await?;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(
        jobs(c, "cron2").await?.is_empty(),
        "a suspended CronJob started a job"
    );

    api.patch(
        "rep",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"suspend": false}})),
    )
    .await?;
    let first = wait_for(20, "first job", || async {
        Ok(jobs(c, "cron2").await?.into_iter().next())
    })
    .await?;
    clock.advance(60);
    nudge(&api, "rep", 2).await?;
    wait_for(20, "replacement job", || async {
        let js = jobs(c, "cron2").await?;
        let live: Vec<&Job> = js
            .iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .collect();
        Ok((live.len() == 1 && live[0].name_any() != first.name_any()).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_runs_jobs_side_by_side_and_failed_history_is_limited() -> anyhow::Result<()> {
    let cl = start_with(false).await?;
    let c = &cl.client;
    let clock = start_controller(&cl);
    namespace(c, "cron3").await?;
    let api: Api<CronJob> = Api::namespaced(c.clone(), "cron3");
    api.create(
        &PostParams::default(),
        &cronjob(
            "par",
            json!({"concurrencyPolicy": "Allow", "failedJobsHistoryLimit": 1, "successfulJobsHistoryLimit": 3}),
        )?,
    )
    .await?;
    clock.advance(61);
    nudge(&api, "par", 1).await?;
    let first = wait_for(20, "first job", || async {
        Ok(jobs(c, "cron3").await?.into_iter().next())
    })
    .await?;

    // Allow: the next activation starts a second job while the first still runs.
    clock.advance(60);
    nudge(&api, "par", 2).await?;
    let both = wait_for(20, "two active jobs", || async {
        let cj = api.get("par").await?;
        let active = cj.status.and_then(|s| s.active).unwrap_or_default();
        Ok((active.len() == 2).then_some(active))
    })
    .await?;
    let js = jobs(c, "cron3").await?;
    assert_eq!(js.len(), 2);
    assert!(both
        .iter()
        .any(|r| r.name.as_deref() == Some(first.name_any().as_str())));
    let second = js
        .into_iter()
        .find(|j| j.name_any() != first.name_any())
        .expect("second job");

    // failedJobsHistoryLimit 1: when both have failed, only the newer is kept.
    finish_job(c, "cron3", &first.name_any(), "Failed").await?;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    finish_job(c, "cron3", &second.name_any(), "Failed").await?;
    wait_for(20, "the older failed job deleted", || async {
        let names: Vec<String> = jobs(c, "cron3")
            .await?
            .iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .map(|j| j.name_any())
            .collect();
        Ok((names == [second.name_any()]).then_some(()))
    })
    .await?;
    // The status write may land just after the deletion: wait for it.
    wait_for(20, "no active jobs", || async {
        let cj = api.get("par").await?;
        let active = cj.status.and_then(|s| s.active).unwrap_or_default();
        Ok(active.is_empty().then_some(()))
    })
    .await?;
    Ok(())
}
