//! The Job controller (upstream's `pkg/controller/job`) and the TTL-after-finished cleanup
//! (upstream's `ttlafterfinished`, folded in here because it reads the same caches).
//!
//! A Job keeps up to `parallelism` pods running until `completions` succeeded (or, with no
//! completions, until one succeeded and the rest finished); replaces failed pods after an
//! exponential back-off; fails with `BackoffLimitExceeded` past `backoffLimit` failures or
//! `DeadlineExceeded` past `activeDeadlineSeconds`; Indexed Jobs run one pod per completion
//! index; suspend deletes the running pods. As upstream 1.33, the interim `FailureTarget` /
//! `SuccessCriteriaMet` condition is set first, the remaining pods are deleted, and the
//! terminal `Failed` / `Complete` condition follows once none is left.
//!
//! Finished pods are counted from the cache and the counts never go down (status.succeeded
//! and status.failed are maxima): pods are not given the `batch.kubernetes.io/job-tracking`
//! finalizer, so a finished pod deleted before this controller saw it is not counted.

mod logic;
mod pods;
mod ttl;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use futures::future::join_all;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use logic::{backoff, format_indexes, INDEX_KEY};
use logic::{failures_after_last_success, parse_indexes, pod_index, remaining_backoff};
use pods::{condition_of, has_condition, pod_for, selector, set_condition};

use crate::claim::{claim, owner_valid, Owner};
use crate::events::{object_ref, Recorder};
use crate::expectations::Expectations;
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::replicaset::{slow_start_batch, BURST_REPLICAS};
use crate::util::{
    controller_of, error_message, is_not_found, is_pod_active, is_pod_ready, meta_key, pod_phase,
    split_key, Selector,
};

const WORKERS: usize = 5;
const COMPONENT: &str = "job-controller";

pub struct JobController {
    client: Client,
    jobs: Arc<Cache<Job>>,
    pods: Arc<Cache<Pod>>,
    queue: Arc<WorkQueue>,
    expectations: Arc<Expectations>,
    recorder: Recorder,
}

fn owning_job(jobs: &Cache<Job>, pod: &Pod) -> Option<String> {
    let r = controller_of(&pod.metadata).filter(|r| r.kind == "Job")?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let job = jobs.get(ns, &r.name)?;
    (job.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| meta_key(&job.metadata))
}

/// The terminal condition being worked towards: (type, reason, message).
type Finishing = (&'static str, String, String);

impl JobController {
    pub fn new(
        client: Client,
        jobs: &mut Informer<Job>,
        pods: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(JobController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            jobs: jobs.cache(),
            pods: pods.cache(),
            queue: WorkQueue::new(cancel),
            expectations: Arc::new(Expectations::default()),
        });
        let (q, exp) = (this.queue.clone(), this.expectations.clone());
        jobs.on(Box::new(move |old, new| match (old, new) {
            (_, Some(j)) => q.add(meta_key(&j.metadata)),
            (Some(j), None) => {
                exp.delete(&meta_key(&j.metadata));
                q.add(meta_key(&j.metadata));
            }
            _ => {}
        }));
        let weak = Arc::downgrade(&this);
        pods.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            match (old, new) {
                (None, Some(p)) => {
                    if let Some(k) = owning_job(&c.jobs, p) {
                        c.expectations.creation_observed(&k);
                        c.queue.add(k);
                    }
                }
                (Some(o), Some(p)) => {
                    if p.metadata.deletion_timestamp.is_some()
                        && o.metadata.deletion_timestamp.is_none()
                    {
                        if let Some(k) = owning_job(&c.jobs, p) {
                            c.expectations.deletion_observed(&k, &meta_key(&p.metadata));
                        }
                    }
                    for k in [owning_job(&c.jobs, o), owning_job(&c.jobs, p)]
                        .into_iter()
                        .flatten()
                    {
                        c.queue.add(k);
                    }
                }
                (Some(p), None) => {
                    if let Some(k) = owning_job(&c.jobs, p) {
                        c.expectations.deletion_observed(&k, &meta_key(&p.metadata));
                        c.queue.add(k);
                    }
                }
                (None, None) => {}
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.jobs.wait_synced().await; self.pods.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("job controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "job", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Converges one Job.
    pub async fn sync(self: &Arc<Self>, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(job) = self.jobs.get(ns, name) else {
            self.expectations.delete(key);
            return Ok(());
        };
        let now = Timestamp::now();
        let conds = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if has_condition(&conds, "Complete") || has_condition(&conds, "Failed") {
            return self.ttl_after_finished(&job, key, now).await;
        }
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let spec = job.spec.clone().unwrap_or_default();
        let sel = match Selector::parse(&selector(&job)) {
            Ok(s) => s,
            Err(e) => {
                warn!(job = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let jobs_api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let owner = Owner {
            api_version: "batch/v1",
            kind: "Job",
            meta: &job.metadata,
            selector: &sel,
        };
        let (owned, claim_err) = claim(&pods_api, &owner, self.pods.list(ns), || {
            owner_valid(&jobs_api, &job.metadata)
        })
        .await;
        let active: Vec<Arc<Pod>> = owned.iter().filter(|p| is_pod_active(p)).cloned().collect();
        let terminating = owned
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_some()
                    && !matches!(pod_phase(p), "Succeeded" | "Failed")
            })
            .count();
        let finished: Vec<&Pod> = owned
            .iter()
            .filter(|p| matches!(pod_phase(p), "Succeeded" | "Failed"))
            .map(|p| p.as_ref())
            .collect();
        let indexed = spec.completion_mode.as_deref() == Some("Indexed");
        let parallelism = spec.parallelism.unwrap_or(1).max(0);
        let completions = spec.completions;
        let mut st = job.status.clone().unwrap_or_default();
        let mut conds = conds;
        let succeeded_pods = finished
            .iter()
            .filter(|p| pod_phase(p) == "Succeeded")
            .count() as i32;
        let failed_pods = finished.iter().filter(|p| pod_phase(p) == "Failed").count() as i32;
        let mut done_indexes = BTreeSet::new();
        let mut succeeded = st.succeeded.unwrap_or(0).max(succeeded_pods);
        if indexed {
            let c = completions.unwrap_or(0);
            done_indexes = parse_indexes(st.completed_indexes.as_deref().unwrap_or_default(), c);
            done_indexes.extend(
                finished
                    .iter()
                    .filter(|p| pod_phase(p) == "Succeeded")
                    .filter_map(|p| pod_index(p, c)),
            );
            succeeded = st.succeeded.unwrap_or(0).max(done_indexes.len() as i32);
        }
        let mut failed = st.failed.unwrap_or(0).max(failed_pods);
        let job_ref = object_ref("batch/v1", "Job", &job.metadata);
        let suspended = spec.suspend == Some(true);

        let mut finishing: Option<Finishing> = None;
        for (interim, final_) in [
            ("FailureTarget", "Failed"),
            ("SuccessCriteriaMet", "Complete"),
        ] {
            if let Some(c) = condition_of(&conds, interim) {
                finishing = Some((
                    final_,
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                ));
            }
        }
        if finishing.is_none() && !suspended {
            let deadline = spec.active_deadline_seconds.and_then(|ads| {
                let start = st.start_time.as_ref()?.0;
                start.checked_add(SignedDuration::from_secs(ads)).ok()
            });
            let complete = match completions {
                Some(c) if indexed => done_indexes.len() as i32 >= c,
                Some(c) => succeeded >= c,
                None => succeeded > 0 && active.is_empty(),
            };
            if failed > spec.backoff_limit.unwrap_or(6) {
                finishing = Some((
                    "Failed",
                    "BackoffLimitExceeded".into(),
                    "Job has reached the specified backoff limit".into(),
                ));
            } else if deadline.is_some_and(|d| d <= now) {
                finishing = Some((
                    "Failed",
                    "DeadlineExceeded".into(),
                    "Job was active longer than specified deadline".into(),
                ));
            } else if complete {
                finishing = Some((
                    "Complete",
                    "CompletionsReached".into(),
                    "Reached expected number of succeeded pods".into(),
                ));
            } else if let Some(d) = deadline {
                self.queue.add_after(
                    key.to_string(),
                    d.duration_since(now).unsigned_abs() + Duration::from_millis(100),
                );
            }
            if let Some((final_, reason, message)) = &finishing {
                let interim = if *final_ == "Failed" {
                    "FailureTarget"
                } else {
                    "SuccessCriteriaMet"
                };
                set_condition(&mut conds, interim, "True", reason, message);
            }
        }

        let mut manage_err = None;
        if let Some((final_, reason, message)) = &finishing {
            let deleted = self.delete_pods(&pods_api, &job, key, &active).await;
            if *final_ == "Failed" {
                failed += deleted.0;
            }
            manage_err = deleted.1;
            if active.is_empty() && terminating == 0 {
                set_condition(&mut conds, final_, "True", reason, message);
                if *final_ == "Complete" {
                    st.completion_time = Some(Time(now));
                    self.recorder
                        .normal(job_ref.clone(), "Completed", "Job completed".into());
                } else {
                    self.recorder
                        .warning(job_ref.clone(), reason, message.clone());
                }
                info!(job = %key, condition = %final_, reason = %reason, "job finished");
            }
        } else if suspended {
            manage_err = self.delete_pods(&pods_api, &job, key, &active).await.1;
            if !has_condition(&conds, "Suspended") {
                set_condition(
                    &mut conds,
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                );
                self.recorder
                    .normal(job_ref.clone(), "Suspended", "Job suspended".into());
            }
        } else {
            if has_condition(&conds, "Suspended") {
                set_condition(
                    &mut conds,
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                );
                self.recorder
                    .normal(job_ref.clone(), "Resumed", "Job resumed".into());
                st.start_time = Some(Time(now));
            }
            if st.start_time.is_none() {
                st.start_time = Some(Time(now));
                if let Some(ads) = spec.active_deadline_seconds {
                    self.queue.add_after(
                        key.to_string(),
                        Duration::from_secs(ads.max(0) as u64) + Duration::from_millis(100),
                    );
                }
            }
            if self.expectations.satisfied(key) {
                let want = match completions {
                    Some(c) if indexed => parallelism.min(c - done_indexes.len() as i32).max(0),
                    Some(c) => parallelism.min(c - succeeded).max(0),
                    None if succeeded > 0 => 0,
                    None => parallelism,
                };
                let (fails, last) = failures_after_last_success(&finished);
                let wait = remaining_backoff(fails, last, now);
                manage_err = self
                    .manage(
                        &pods_api,
                        &job,
                        key,
                        &active,
                        want,
                        indexed.then_some((completions.unwrap_or(0), &done_indexes)),
                        wait,
                    )
                    .await
                    .err();
            }
        }

        let z = |n: i32| (n > 0).then_some(n);
        st.active = z(active.len() as i32);
        st.ready = Some(active.iter().filter(|p| is_pod_ready(p)).count() as i32);
        st.terminating = Some(terminating as i32);
        st.succeeded = z(succeeded);
        st.failed = z(failed);
        if indexed {
            let s = format_indexes(&done_indexes);
            st.completed_indexes = (!s.is_empty()).then_some(s);
        }
        st.conditions = (!conds.is_empty()).then_some(conds);
        self.update_status(&jobs_api, &job, st).await?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        if let Some(e) = claim_err {
            return Err(anyhow!(e).context("claiming pods"));
        }
        Ok(())
    }

    /// Creates or deletes pods towards `want` active ones. `indexed` carries completions and
    /// the completed indexes of an Indexed Job. `wait` is the back-off still to run before
    /// failed pods may be replaced.
    #[allow(clippy::too_many_arguments)]
    async fn manage(
        self: &Arc<Self>,
        api: &Api<Pod>,
        job: &Job,
        key: &str,
        active: &[Arc<Pod>],
        want: i32,
        indexed: Option<(i32, &BTreeSet<i32>)>,
        wait: Duration,
    ) -> anyhow::Result<()> {
        // Which active pods are surplus, and which indexes still need a pod.
        let mut surplus: Vec<Arc<Pod>> = Vec::new();
        let mut keep: Vec<Arc<Pod>> = Vec::new();
        let missing: Vec<Option<i32>>;
        if let Some((completions, done)) = indexed {
            let mut by_index: HashMap<i32, Arc<Pod>> = HashMap::new();
            let mut sorted = active.to_vec();
            sorted.sort_by_key(|p| std::cmp::Reverse(is_pod_ready(p)));
            for p in sorted {
                match pod_index(&p, completions) {
                    Some(i) if !done.contains(&i) && !by_index.contains_key(&i) => {
                        by_index.insert(i, p);
                    }
                    _ => surplus.push(p),
                }
            }
            let mut running: Vec<(i32, Arc<Pod>)> = by_index.into_iter().collect();
            running.sort_by_key(|(i, _)| *i);
            while running.len() as i32 > want {
                if let Some((_, p)) = running.pop() {
                    surplus.push(p);
                }
            }
            keep.extend(running.iter().map(|(_, p)| p.clone()));
            let taken: BTreeSet<i32> = running.iter().map(|(i, _)| *i).collect();
            let need = (want - keep.len() as i32).max(0) as usize;
            missing = (0..completions)
                .filter(|i| !done.contains(i) && !taken.contains(i))
                .take(need)
                .map(Some)
                .collect();
        } else {
            let mut sorted = active.to_vec();
            // Least valuable first: not ready, then pending, then newest.
            sorted.sort_by_key(|p| {
                (
                    is_pod_ready(p),
                    pod_phase(p) == "Running",
                    std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
                )
            });
            let excess = (active.len() as i32 - want).max(0) as usize;
            surplus.extend(sorted.iter().take(excess).cloned());
            let need = (want - active.len() as i32).max(0) as usize;
            missing = vec![None; need];
        }
        if !surplus.is_empty() {
            let (_, err) = self.delete_pods(api, job, key, &surplus).await;
            return err.map_or(Ok(()), Err);
        }
        if missing.is_empty() {
            return Ok(());
        }
        if !wait.is_zero() {
            debug!(job = %key, wait = ?wait, "backing off before replacing failed pods");
            self.queue
                .add_after(key.to_string(), wait + Duration::from_millis(100));
            return Ok(());
        }
        let mut missing = missing;
        missing.truncate(BURST_REPLICAS);
        let n = missing.len();
        self.expectations.expect_creations(key, n);
        let job_ref = object_ref("batch/v1", "Job", &job.metadata);
        let (created, err) = slow_start_batch(n, 1, |i| {
            let pod = pod_for(job, missing[i]);
            let (api, rec, r) = (api.clone(), self.recorder.clone(), job_ref.clone());
            async move { rec.create_pod(&api, r, &pod).await }
        })
        .await;
        for _ in created..n {
            self.expectations.creation_observed(key);
        }
        err.map_or(Ok(()), |e| Err(anyhow!(e).context("creating pods")))
    }

    /// Deletes `victims`; returns how many were deleted and the first error.
    async fn delete_pods(
        &self,
        api: &Api<Pod>,
        job: &Job,
        key: &str,
        victims: &[Arc<Pod>],
    ) -> (i32, Option<anyhow::Error>) {
        if victims.is_empty() {
            return (0, None);
        }
        self.expectations
            .expect_deletions(key, victims.iter().map(|p| meta_key(&p.metadata)));
        let job_ref = object_ref("batch/v1", "Job", &job.metadata);
        let dp = DeleteParams::default();
        let results = join_all(
            victims
                .iter()
                .map(|p| api.delete(p.metadata.name.as_deref().unwrap_or_default(), &dp)),
        )
        .await;
        let (mut n, mut first) = (0, None);
        for (p, r) in victims.iter().zip(results) {
            let name = p.name_any();
            match r {
                Ok(_) => {
                    n += 1;
                    self.recorder.normal(
                        job_ref.clone(),
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    );
                }
                Err(e) => {
                    self.expectations
                        .deletion_observed(key, &meta_key(&p.metadata));
                    if !is_not_found(&e) {
                        self.recorder.warning(
                            job_ref.clone(),
                            "FailedDelete",
                            format!("Error deleting: {}", error_message(&e)),
                        );
                        first.get_or_insert(anyhow!(e).context("deleting pods"));
                    }
                }
            }
        }
        (n, first)
    }

    async fn update_status(&self, api: &Api<Job>, job: &Job, st: JobStatus) -> anyhow::Result<()> {
        if job.status.as_ref() == Some(&st) {
            return Ok(());
        }
        let mut target = job.clone();
        target.status = Some(st);
        match api
            .replace_status(&job.name_any(), &PostParams::default(), &target)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(e).context("updating job status")),
        }
    }
}
