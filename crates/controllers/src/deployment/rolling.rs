//! The two rollout strategies (upstream's `rolling.go` and `recreate.go`).
//!
//! RollingUpdate alternates two moves until the new ReplicaSet has every replica: scale the
//! new ReplicaSet up while the total stays within `replicas + maxSurge`, and scale old ones
//! down while the available pods stay at least `replicas − maxUnavailable` (unhealthy old
//! pods go first, since removing them costs no availability).
//!
//! Recreate scales every old ReplicaSet to zero, waits until none of their pods is left
//! running, then scales the new one up.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use super::progress;
use super::sync::all_of;
use super::util::{self as du, Rs};
use super::DeploymentController;
use crate::util::pod_phase;

/// How many replicas the new ReplicaSet should have now.
pub(super) fn new_rs_new_replicas(d: &Deployment, all: &[Rs], new: &ReplicaSet) -> i32 {
    let want = du::replicas(d);
    let current_new = du::rs_replicas(new);
    if !du::is_rolling(d) {
        return want;
    }
    let max_total = want + du::max_surge(d);
    let current = du::replica_count(all);
    if current >= max_total {
        return current_new;
    }
    let up = (max_total - current).min(want - current_new);
    current_new + up
}

/// How many old replicas may go now without availability falling below the minimum,
/// counting unavailable new pods as already missing.
pub(super) fn max_scaled_down(d: &Deployment, all: &[Rs], new: &ReplicaSet) -> i32 {
    let min_available = du::replicas(d) - du::max_unavailable(d);
    let new_unavailable = du::rs_replicas(new) - du::rs_available(new);
    du::replica_count(all) - min_available - new_unavailable
}

impl DeploymentController {
    pub(super) async fn rollout_rolling(
        &self,
        d: &mut Deployment,
        rs_list: &[Rs],
    ) -> anyhow::Result<()> {
        let (new, mut old) = self.get_all_rs_and_sync_revision(d, rs_list, true).await?;
        let Some(mut new) = new else {
            return Ok(());
        };
        let all = all_of(&old, Some(&new));
        let (scaled_up, updated) = self.reconcile_new_rs(&all, &new, d).await?;
        if scaled_up {
            new = updated;
            return self
                .sync_rollout_status(&all_of(&old, Some(&new)), Some(&new), d)
                .await;
        }
        let scaled_down = self.reconcile_old_rss(&all, &mut old, &new, d).await?;
        if scaled_down {
            return self
                .sync_rollout_status(&all_of(&old, Some(&new)), Some(&new), d)
                .await;
        }
        let st = d.status.clone().unwrap_or_default();
        if progress::complete(d, &st) {
            self.cleanup(&old, d).await?;
        }
        self.sync_rollout_status(&all_of(&old, Some(&new)), Some(&new), d)
            .await
    }

    async fn reconcile_new_rs(
        &self,
        all: &[Rs],
        new: &Rs,
        d: &Deployment,
    ) -> anyhow::Result<(bool, Rs)> {
        let want = du::replicas(d);
        let have = du::rs_replicas(new);
        if have == want {
            return Ok((false, new.clone()));
        }
        if have > want {
            return self.scale_rs_if_needed(new, want, d).await;
        }
        let target = new_rs_new_replicas(d, all, new);
        self.scale_rs_if_needed(new, target, d).await
    }

    async fn reconcile_old_rss(
        &self,
        all: &[Rs],
        old: &mut [Rs],
        new: &Rs,
        d: &Deployment,
    ) -> anyhow::Result<bool> {
        if du::replica_count(old) == 0 {
            return Ok(false);
        }
        let max_down = max_scaled_down(d, all, new);
        if max_down <= 0 {
            return Ok(false);
        }
        let cleaned = self.cleanup_unhealthy(old, d, max_down).await?;
        let all = all_of(old, Some(new));
        // Upstream budgets this step by status.availableReplicas alone; an old ReplicaSet
        // that was just scaled down still reports its former availability until its
        // controller looks again, so the spec-based bound caps it too.
        let scaled = self
            .scale_down_old_for_rolling(&all, old, d, max_down - cleaned)
            .await?;
        Ok(cleaned + scaled > 0)
    }

    /// Scales old ReplicaSets down by their unavailable pods, oldest first, up to `max`.
    async fn cleanup_unhealthy(
        &self,
        old: &mut [Rs],
        d: &Deployment,
        max: i32,
    ) -> anyhow::Result<i32> {
        old.sort_by(|a, b| du::by_creation(a, b));
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= max {
                break;
            }
            let size = du::rs_replicas(rs);
            let unhealthy = size - du::rs_available(rs);
            if size == 0 || unhealthy <= 0 {
                continue;
            }
            let down = (max - total).min(unhealthy);
            let (_, updated) = self.scale_rs_if_needed(rs, size - down, d).await?;
            *rs = updated;
            total += down;
        }
        Ok(total)
    }

    /// Scales old ReplicaSets down, oldest first, as far as availability above the minimum
    /// allows.
    async fn scale_down_old_for_rolling(
        &self,
        all: &[Rs],
        old: &mut [Rs],
        d: &Deployment,
        cap: i32,
    ) -> anyhow::Result<i32> {
        let min_available = du::replicas(d) - du::max_unavailable(d);
        let available = du::available_replica_count(all);
        if available <= min_available || cap <= 0 {
            return Ok(0);
        }
        let budget = (available - min_available).min(cap);
        old.sort_by(|a, b| du::by_creation(a, b));
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= budget {
                break;
            }
            let size = du::rs_replicas(rs);
            if size == 0 {
                continue;
            }
            let down = size.min(budget - total);
            let (_, updated) = self.scale_rs_if_needed(rs, size - down, d).await?;
            *rs = updated;
            total += down;
        }
        Ok(total)
    }

    pub(super) async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rs_list: &[Rs],
        pods: &HashMap<String, Vec<Arc<Pod>>>,
    ) -> anyhow::Result<()> {
        let (mut new, mut old) = self.get_all_rs_and_sync_revision(d, rs_list, false).await?;
        let mut scaled_down = false;
        for rs in old.iter_mut() {
            if du::rs_replicas(rs) == 0 {
                continue;
            }
            let (scaled, updated) = self.scale_rs_if_needed(rs, 0, d).await?;
            scaled_down |= scaled;
            *rs = updated;
        }
        if scaled_down {
            return self
                .sync_rollout_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
                .await;
        }
        if old_pods_running(new.as_ref(), &old, pods) {
            return self
                .sync_rollout_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
                .await;
        }
        if new.is_none() {
            (new, old) = self.get_all_rs_and_sync_revision(d, rs_list, true).await?;
        }
        if let Some(rs) = new.as_mut() {
            let (_, updated) = self.scale_rs_if_needed(rs, du::replicas(d), d).await?;
            *rs = updated;
        }
        let st = d.status.clone().unwrap_or_default();
        if progress::complete(d, &st) {
            self.cleanup(&old, d).await?;
        }
        self.sync_rollout_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
            .await
    }
}

/// Whether any pod of an old ReplicaSet may still be running (finished pods do not count).
pub(super) fn old_pods_running(
    new: Option<&Rs>,
    old: &[Rs],
    pods: &HashMap<String, Vec<Arc<Pod>>>,
) -> bool {
    if du::actual_replica_count(old) > 0 {
        return true;
    }
    let new_uid = new.and_then(|n| n.metadata.uid.as_deref());
    pods.iter()
        .filter(|(uid, _)| Some(uid.as_str()) != new_uid)
        .flat_map(|(_, ps)| ps.iter())
        .any(|p| !matches!(pod_phase(p), "Failed" | "Succeeded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus,
        RollingUpdateDeployment,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn deploy(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rs(replicas: i32, available: i32) -> Rs {
        Arc::new(ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas,
                available_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn rolling_steps_stay_within_surge_and_unavailability() {
        // 10 replicas, 25%/25%: surge 3, unavailable 2.
        let d = deploy(
            10,
            IntOrString::String("25%".into()),
            IntOrString::String("25%".into()),
        );
        let old = rs(10, 10);
        let new = rs(0, 0);
        let all = vec![old.clone(), new.clone()];
        // First step: the new ReplicaSet may grow to 3 (13 total).
        assert_eq!(new_rs_new_replicas(&d, &all, &new), 3);
        // Old may lose 2 now (13 − 8 − 3 unavailable new = 2).
        let new = rs(3, 0);
        let all = vec![old.clone(), new.clone()];
        assert_eq!(max_scaled_down(&d, &all, &new), 2);
        // Already at 13: no growth until old shrinks.
        assert_eq!(new_rs_new_replicas(&d, &all, &new), 3);
        // Never beyond the target.
        let new = rs(9, 9);
        let all = vec![rs(1, 1), new.clone()];
        assert_eq!(new_rs_new_replicas(&d, &all, &new), 10);
    }

    #[test]
    fn zero_surge_scales_old_down_first() {
        let d = deploy(3, IntOrString::Int(0), IntOrString::Int(1));
        let old = rs(3, 3);
        let new = rs(0, 0);
        let all = vec![old, new.clone()];
        assert_eq!(new_rs_new_replicas(&d, &all, &new), 0);
        assert_eq!(max_scaled_down(&d, &all, &new), 1);
    }

    #[test]
    fn recreate_waits_for_old_pods() {
        let old = vec![rs(0, 0)];
        let mut pods = HashMap::new();
        let with_phase = |phase: &str| Pod {
            status: Some(k8s_openapi::api::core::v1::PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let running = with_phase("Running");
        pods.insert("old-uid".to_string(), vec![Arc::new(running)]);
        assert!(old_pods_running(None, &old, &pods));
        let done = with_phase("Succeeded");
        pods.insert("old-uid".to_string(), vec![Arc::new(done)]);
        assert!(!old_pods_running(None, &old, &pods));
    }
}
