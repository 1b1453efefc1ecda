//! The CronJob controller (upstream's `pkg/controller/cronjob`, the v2 controller): creates a
//! Job named `<cronjob>-<scheduled unix minutes>` for the most recent due activation of the
//! schedule (so a repeated sync can never start the same run twice), honours
//! startingDeadlineSeconds, the Allow/Forbid/Replace concurrency policies and suspend, keeps
//! `status.active`, `lastScheduleTime` and `lastSuccessfulTime`, deletes finished Jobs past
//! the history limits, and requeues itself for the next activation.
//!
//! The clock is injectable ([`CronJobController::with_clock`]) so tests can make a schedule
//! due without waiting for the wall clock.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::events::{object_ref, Recorder};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{
    controller_of, controller_ref, error_message, is_already_exists, is_not_found, meta_key,
    split_key,
};
use schedule::{most_recent, zone, Schedule, TOO_MANY};

const WORKERS: usize = 3;
const COMPONENT: &str = "cronjob-controller";
/// The annotation holding the activation a Job was created for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// What the controller calls "now".
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub struct CronJobController {
    client: Client,
    cronjobs: Arc<Cache<CronJob>>,
    jobs: Arc<Cache<Job>>,
    queue: Arc<WorkQueue>,
    recorder: Recorder,
    clock: Clock,
}

/// Whether a Job has finished (a true Complete or Failed condition) and which.
pub fn finished(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    for (t, name) in [("Complete", "Complete"), ("Failed", "Failed")] {
        if conds.iter().any(|c| c.type_ == t && c.status == "True") {
            return Some(name);
        }
    }
    None
}

fn job_ref(job: &Job) -> ObjectReference {
    object_ref("batch/v1", "Job", &job.metadata)
}

impl CronJobController {
    pub fn new(
        client: Client,
        cronjobs: &mut Informer<CronJob>,
        jobs: &mut Informer<Job>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        Self::with_clock(client, cronjobs, jobs, cancel, Arc::new(Timestamp::now))
    }

    /// As [`CronJobController::new`] with a custom clock (tests).
    pub fn with_clock(
        client: Client,
        cronjobs: &mut Informer<CronJob>,
        jobs: &mut Informer<Job>,
        cancel: CancellationToken,
        clock: Clock,
    ) -> Arc<Self> {
        let this = Arc::new(CronJobController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            cronjobs: cronjobs.cache(),
            jobs: jobs.cache(),
            queue: WorkQueue::new(cancel),
            clock,
        });
        let q = this.queue.clone();
        cronjobs.on(Box::new(move |old, new| {
            if let Some(c) = new.or(old) {
                q.add(meta_key(&c.metadata));
            }
        }));
        let q = this.queue.clone();
        jobs.on(Box::new(move |old, new| {
            for j in [old, new].into_iter().flatten() {
                if let Some(r) = controller_of(&j.metadata).filter(|r| r.kind == "CronJob") {
                    let ns = j.metadata.namespace.as_deref().unwrap_or_default();
                    q.add(crate::util::key(ns, &r.name));
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.cronjobs.wait_synced().await; self.jobs.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("cronjob controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "cronjob", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    fn requeue_for_next(&self, key: &str, s: &Schedule, tz: &jiff::tz::TimeZone, now: Timestamp) {
        if let Some(next) = s.next(now, tz) {
            let wait = next.duration_since(now).unsigned_abs() + Duration::from_millis(100);
            self.queue.add_after(key.to_string(), wait);
        }
    }

    /// Converges one CronJob.
    pub async fn sync(&self, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(cj) = self.cronjobs.get(ns, name) else {
            return Ok(());
        };
        let now = (self.clock)();
        let cj_ref = object_ref("batch/v1", "CronJob", &cj.metadata);
        let mut status = cj.status.clone().unwrap_or_default();
        let owned: Vec<Arc<Job>> = self
            .jobs
            .list(ns)
            .into_iter()
            .filter(|j| {
                controller_of(&j.metadata).is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref())
            })
            .collect();
        let jobs_api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        self.reconcile_active(&jobs_api, &cj_ref, &owned, &mut status)
            .await;

        let result = self.schedule(&cj, key, &owned, &mut status, now).await;
        let cleanup = self.cleanup_history(&cj, &owned).await;
        self.update_status(&cj, status).await?;
        result?;
        cleanup
    }

    /// Drops finished and vanished Jobs from `status.active`, adopts running ones it lost
    /// track of, and advances `lastSuccessfulTime`.
    async fn reconcile_active(
        &self,
        api: &Api<Job>,
        cj_ref: &ObjectReference,
        owned: &[Arc<Job>],
        st: &mut CronJobStatus,
    ) {
        let mut active = st.active.take().unwrap_or_default();
        for j in owned {
            let in_active = active.iter().any(|r| r.uid == j.metadata.uid);
            match finished(j) {
                Some(cond) => {
                    if in_active {
                        active.retain(|r| r.uid != j.metadata.uid);
                        self.recorder.normal(
                            cj_ref.clone(),
                            "SawCompletedJob",
                            format!("Saw completed job: {}, condition: {cond}", j.name_any()),
                        );
                    }
                    if cond == "Complete" {
                        let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
                        if done.as_ref().is_some_and(|d| {
                            st.last_successful_time.as_ref().is_none_or(|l| d.0 > l.0)
                        }) {
                            st.last_successful_time = done;
                        }
                    }
                }
                None if !in_active && j.metadata.deletion_timestamp.is_none() => {
                    self.recorder.warning(
                        cj_ref.clone(),
                        "UnexpectedJob",
                        format!(
                            "Saw a job that the controller did not create or forgot: {}",
                            j.name_any()
                        ),
                    );
                    active.push(job_ref(j));
                }
                None => {}
            }
        }
        // A reference missing from the cache may just be newer than the cache: ask the API
        // before dropping it, as upstream does.
        let mut kept = Vec::with_capacity(active.len());
        for r in active {
            if owned.iter().any(|j| j.metadata.uid == r.uid) {
                kept.push(r);
                continue;
            }
            let name = r.name.clone().unwrap_or_default();
            match api.get_opt(&name).await {
                Ok(Some(j)) if j.metadata.uid == r.uid => kept.push(r),
                Ok(_) => self.recorder.normal(
                    cj_ref.clone(),
                    "MissingJob",
                    format!("Active job went missing: {name}"),
                ),
                Err(e) => {
                    debug!(job = %name, error = %e, "could not check active job");
                    kept.push(r);
                }
            }
        }
        let active = kept;
        st.active = (!active.is_empty()).then_some(active);
    }

    async fn schedule(
        &self,
        cj: &CronJob,
        key: &str,
        owned: &[Arc<Job>],
        st: &mut CronJobStatus,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let spec = cj.spec.clone().unwrap_or_default();
        let cj_ref = object_ref("batch/v1", "CronJob", &cj.metadata);
        if cj.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let sched = match Schedule::parse(&spec.schedule) {
            Ok(s) => s,
            Err(e) => {
                self.recorder.warning(
                    cj_ref,
                    "UnparseableSchedule",
                    format!("unparseable schedule: {:?} : {e}", spec.schedule),
                );
                return Ok(());
            }
        };
        let tz = match zone(spec.time_zone.as_deref(), &sched) {
            Ok(tz) => tz,
            Err(e) => {
                self.recorder.warning(
                    cj_ref,
                    "UnknownTimeZone",
                    format!(
                        "invalid timeZone: {:?}: {e}",
                        spec.time_zone.as_deref().unwrap_or_default()
                    ),
                );
                return Ok(());
            }
        };
        if spec.suspend == Some(true) {
            debug!(cronjob = %key, "suspended");
            return Ok(());
        }
        let created = cj
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(now);
        let mut earliest = st
            .last_schedule_time
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(created);
        if let Some(sds) = spec.starting_deadline_seconds {
            if let Ok(limit) = now.checked_sub(jiff::SignedDuration::from_secs(sds)) {
                earliest = earliest.max(limit);
            }
        }
        let (due, missed) = most_recent(&sched, earliest, now, &tz);
        if missed > TOO_MANY {
            self.recorder.warning(
                cj_ref.clone(),
                "TooManyMissedTimes",
                format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"),
            );
        }
        let Some(scheduled) = due else {
            self.requeue_for_next(key, &sched, &tz, now);
            return Ok(());
        };
        self.requeue_for_next(key, &sched, &tz, now);
        if let Some(sds) = spec.starting_deadline_seconds {
            if scheduled
                .checked_add(jiff::SignedDuration::from_secs(sds))
                .is_ok_and(|deadline| deadline < now)
            {
                self.recorder.warning(
                    cj_ref,
                    "MissSchedule",
                    format!(
                        "Missed scheduled time to start a job: {}",
                        scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")
                    ),
                );
                return Ok(());
            }
        }
        let job_name = format!("{}-{}", cj.name_any(), scheduled.as_second().div_euclid(60));
        // Already started (our status write may have been lost): record it as scheduled.
        if owned.iter().any(|j| j.name_any() == job_name) {
            if st
                .last_schedule_time
                .as_ref()
                .is_none_or(|t| t.0 < scheduled)
            {
                st.last_schedule_time = Some(Time(scheduled));
            }
            return Ok(());
        }
        if owned.iter().any(|j| j.name_any() == job_name)
            || st
                .last_schedule_time
                .as_ref()
                .is_some_and(|t| t.0 >= scheduled)
        {
            return Ok(());
        }
        let active = st.active.clone().unwrap_or_default();
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        let ns = cj.metadata.namespace.as_deref().unwrap_or_default();
        let jobs_api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        if policy == "Forbid" && !active.is_empty() {
            self.recorder.normal(
                cj_ref,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            );
            return Ok(());
        }
        if policy == "Replace" {
            for r in &active {
                let name = r.name.clone().unwrap_or_default();
                let dp = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..Default::default()
                };
                match jobs_api.delete(&name, &dp).await {
                    Ok(_) => self.recorder.normal(
                        cj_ref.clone(),
                        "SuccessfulDelete",
                        format!("Deleted job {name}"),
                    ),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        self.recorder.warning(
                            cj_ref.clone(),
                            "FailedDelete",
                            format!("Deleted job: {}", error_message(&e)),
                        );
                        return Err(anyhow!(e).context("deleting active job"));
                    }
                }
            }
            st.active = None;
        }
        let job = job_from_template(cj, &job_name, scheduled, &tz);
        let created = match jobs_api.create(&PostParams::default(), &job).await {
            Ok(j) => j,
            Err(e) if is_already_exists(&e) => match jobs_api.get_opt(&job_name).await? {
                Some(j)
                    if controller_of(&j.metadata)
                        .is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref()) =>
                {
                    j
                }
                _ => return Ok(()),
            },
            Err(e) => {
                self.recorder.warning(
                    cj_ref,
                    "FailedCreate",
                    format!("Error creating job: {}", error_message(&e)),
                );
                return Err(anyhow!(e).context("creating job"));
            }
        };
        info!(cronjob = %key, job = %job_name, "created job");
        self.recorder.normal(
            cj_ref,
            "SuccessfulCreate",
            format!("Created job {job_name}"),
        );
        if finished(&created).is_none() {
            let mut active = st.active.take().unwrap_or_default();
            if !active.iter().any(|r| r.uid == created.metadata.uid) {
                active.push(job_ref(&created));
            }
            st.active = Some(active);
        }
        st.last_schedule_time = Some(Time(scheduled));
        Ok(())
    }

    /// Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit (default 3) and
    /// failedJobsHistoryLimit (default 1).
    async fn cleanup_history(&self, cj: &CronJob, owned: &[Arc<Job>]) -> anyhow::Result<()> {
        let spec = cj.spec.clone().unwrap_or_default();
        let ns = cj.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let cj_ref = object_ref("batch/v1", "CronJob", &cj.metadata);
        for (cond, limit) in [
            ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
            ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
        ] {
            let mut done: Vec<&Arc<Job>> = owned
                .iter()
                .filter(|j| finished(j) == Some(cond) && j.metadata.deletion_timestamp.is_none())
                .collect();
            let excess = done.len().saturating_sub(limit.max(0) as usize);
            if excess == 0 {
                continue;
            }
            done.sort_by_key(|j| {
                let start = j
                    .status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map(|t| t.0);
                (
                    start.is_some(),
                    start,
                    j.metadata.creation_timestamp.as_ref().map(|t| t.0),
                )
            });
            for j in done.into_iter().take(excess) {
                let name = j.name_any();
                let dp = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..Default::default()
                };
                match api.delete(&name, &dp).await {
                    Ok(_) => self.recorder.normal(
                        cj_ref.clone(),
                        "SuccessfulDelete",
                        format!("Deleted job {name}"),
                    ),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(anyhow!(e).context("deleting old job")),
                }
            }
        }
        Ok(())
    }

    /// Writes the status; on a conflict (our copy was stale) retries once on a fresh read.
    async fn update_status(&self, cj: &CronJob, status: CronJobStatus) -> anyhow::Result<()> {
        if cj.status.clone().unwrap_or_default() == status {
            return Ok(());
        }
        let ns = cj.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
        let mut target = cj.clone();
        for attempt in 0..2 {
            target.status = Some(status.clone());
            match api
                .replace_status(&cj.name_any(), &PostParams::default(), &target)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 && attempt == 0 => {
                    match api.get_opt(&cj.name_any()).await? {
                        Some(fresh) => target = fresh,
                        None => return Ok(()),
                    }
                }
                Err(e) => return Err(anyhow!(e).context("updating cronjob status")),
            }
        }
        Ok(())
    }
}

/// Go's RFC 3339 in the CronJob's zone (`Z` for a zero offset).
fn rfc3339(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The Job for one activation: the jobTemplate's labels, annotations and spec, the
/// scheduled-timestamp annotation and a controller reference to the CronJob.
pub fn job_from_template(
    cj: &CronJob,
    name: &str,
    scheduled: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Job {
    let tmpl = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let tm = tmpl.metadata.unwrap_or_default();
    let mut annotations = tm.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cj.metadata.namespace.clone(),
            labels: tm.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref("batch/v1", "CronJob", &cj.metadata)]),
            ..Default::default()
        },
        spec: tmpl.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_and_timestamps_follow_upstream() {
        let cj: CronJob = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "hello", "namespace": "d", "uid": "u1"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"template": {"spec": {"containers": []}}}}}
        }))
        .unwrap_or_default();
        let t: Timestamp = "2024-05-01T10:07:00Z".parse().unwrap_or_default();
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
        let j = job_from_template(&cj, "hello-28575967", t, &tokyo);
        let ann = j.metadata.annotations.unwrap_or_default();
        assert_eq!(
            ann.get(SCHEDULED_TIMESTAMP).map(String::as_str),
            Some("2024-05-01T19:07:00+09:00")
        );
        assert_eq!(rfc3339(t, &jiff::tz::TimeZone::UTC), "2024-05-01T10:07:00Z");
        assert_eq!(t.as_second() / 60, 28575967);
        assert_eq!(
            j.metadata
                .owner_references
                .map(|o| o[0].kind.clone())
                .as_deref(),
            Some("CronJob")
        );
    }
}
