//! TTL-after-finished (upstream's `ttlafterfinished` controller): a finished Job with
//! `ttlSecondsAfterFinished` is deleted, with its pods in the foreground, that long after it
//! finished.

use std::time::Duration;

use anyhow::anyhow;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::ResourceExt;
use tracing::info;

use super::pods::condition_of;
use super::JobController;
use crate::util::is_not_found;

impl JobController {
    /// Deletes a finished Job `ttlSecondsAfterFinished` after it finished (with its pods, in
    /// the foreground, as upstream's TTL controller), or looks again when that time comes.
    pub(super) async fn ttl_after_finished(
        &self,
        job: &Job,
        key: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
            return Ok(());
        };
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let st = job.status.clone().unwrap_or_default();
        let conds = st.conditions.unwrap_or_default();
        let finished_at = st.completion_time.map(|t| t.0).or_else(|| {
            ["Complete", "Failed"].iter().find_map(|t| {
                condition_of(&conds, t)?
                    .last_transition_time
                    .as_ref()
                    .map(|t| t.0)
            })
        });
        let Some(expire) = finished_at.and_then(|f| {
            f.checked_add(SignedDuration::from_secs(i64::from(ttl)))
                .ok()
        }) else {
            return Ok(());
        };
        if expire > now {
            self.queue.add_after(
                key.to_string(),
                expire.duration_since(now).unsigned_abs() + Duration::from_millis(100),
            );
            return Ok(());
        }
        let api: Api<Job> = Api::namespaced(
            self.client.clone(),
            job.metadata.namespace.as_deref().unwrap_or_default(),
        );
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions {
                uid: job.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&job.name_any(), &dp).await {
            Ok(_) => {
                info!(job = %key, "deleted finished job after its TTL");
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(e).context("deleting expired job")),
        }
    }
}
