//! One HPA sync (upstream's `reconcileAutoscaler` and `computeReplicasForMetrics`).

use std::sync::Arc;

use anyhow::{anyhow, Context};
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, PostParams};
use kube::ResourceExt;
use tracing::info;

use super::normalize::{
    fill_behavior, normalize_behavior, normalize_default, record_event, Recommendation,
};
use super::{target, HpaController};
use crate::events::object_ref;
use crate::util::{error_message, split_key};

pub(super) type Conditions = Vec<HorizontalPodAutoscalerCondition>;

pub(super) fn set_condition(
    conds: &mut Conditions,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" };
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(Time(now));
            }
            c.status = status.into();
            c.reason = Some(reason.into());
            c.message = Some(message);
        }
        None => conds.push(HorizontalPodAutoscalerCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message),
            last_transition_time: Some(Time(now)),
        }),
    }
}

impl HpaController {
    pub(super) async fn sync(self: &Arc<Self>, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(hpa) = self.hpas.get(ns, name) else {
            return Ok(());
        };
        let now = Timestamp::now();
        let hpa_ref = object_ref("autoscaling/v2", "HorizontalPodAutoscaler", &hpa.metadata);
        let spec = hpa.spec.clone().unwrap_or_default();
        let old = hpa.status.clone().unwrap_or_default();
        let mut conds = old.conditions.clone().unwrap_or_default();
        let tref = &spec.scale_target_ref;
        let reference = format!("{}/{}/{}", tref.kind, ns, tref.name);
        let got = async {
            let api = target::api_for(
                &self.client,
                ns,
                tref.api_version.as_deref().unwrap_or(""),
                &tref.kind,
            )
            .await?;
            let scale = api
                .get_scale(&tref.name)
                .await
                .map_err(|e| anyhow!(error_message(&e)))?;
            anyhow::Ok((api, scale))
        }
        .await;
        let (api, mut scale) = match got {
            Ok(x) => x,
            Err(e) => {
                self.recorder
                    .warning(hpa_ref, "FailedGetScale", format!("{e:#}"));
                set_condition(
                    &mut conds,
                    "AbleToScale",
                    false,
                    "FailedGetScale",
                    format!(
                        "the HPA controller was unable to get the target's current scale: {e:#}"
                    ),
                    now,
                );
                let status = HorizontalPodAutoscalerStatus {
                    conditions: Some(conds),
                    ..old.clone()
                };
                self.write_status(&hpa, status).await?;
                return Err(e.context(format!("getting the scale of {reference}")));
            }
        };
        set_condition(
            &mut conds,
            "AbleToScale",
            true,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale".into(),
            now,
        );
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        {
            let mut mem = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            let m = mem.entry(key.to_string()).or_default();
            if m.recommendations.is_empty() {
                m.recommendations.push(Recommendation {
                    replicas: current,
                    at: now,
                });
            }
        }
        let mut statuses = Vec::new();
        let mut desired = 0;
        let mut reason = String::new();
        if current == 0 && min != 0 {
            set_condition(
                &mut conds,
                "ScalingActive",
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero".into(),
                now,
            );
        } else if current > max {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            desired = max;
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            desired = min;
        } else {
            let (proposal, metric, computed, err) = self
                .compute_replicas(&hpa, &scale, current, &mut conds, now)
                .await;
            statuses = computed;
            if proposal < 0 {
                let e = err.unwrap_or_else(|| anyhow!("no metric could be computed"));
                self.recorder.warning(hpa_ref, "FailedComputeMetricsReplicas", format!("failed to compute desired number of replicas based on listed metrics for {reference}: {e:#}"));
                let status = HorizontalPodAutoscalerStatus {
                    current_replicas: Some(current),
                    current_metrics: (!statuses.is_empty()).then_some(statuses),
                    conditions: Some(conds),
                    ..old.clone()
                };
                self.write_status(&hpa, status).await?;
                return Err(e);
            }
            desired = proposal;
            if desired > current {
                reason = format!("{metric} above target");
            } else if desired < current {
                reason = "All metrics below target".into();
            }
            desired = self.normalize(key, &hpa, current, desired, min, max, &mut conds, now);
        }
        let rescale = desired != current && !(current == 0 && min != 0);
        if rescale {
            if let Some(s) = scale.spec.as_mut() {
                s.replicas = Some(desired);
            } else {
                scale.spec = Some(k8s_openapi::api::autoscaling::v1::ScaleSpec {
                    replicas: Some(desired),
                });
            }
            if let Err(e) = replace_scale(&api, &tref.name, &scale).await {
                self.recorder.warning(
                    hpa_ref,
                    "FailedRescale",
                    format!("New size: {desired}; reason: {reason}; error: {e:#}"),
                );
                set_condition(
                    &mut conds,
                    "AbleToScale",
                    false,
                    "FailedUpdateScale",
                    format!("the HPA controller was unable to update the target scale: {e:#}"),
                    now,
                );
                let status = HorizontalPodAutoscalerStatus {
                    current_replicas: Some(current),
                    current_metrics: (!statuses.is_empty()).then_some(statuses),
                    conditions: Some(conds),
                    ..old.clone()
                };
                self.write_status(&hpa, status).await?;
                return Err(e.context(format!("failed to rescale {reference}")));
            }
            set_condition(
                &mut conds,
                "AbleToScale",
                true,
                "SucceededRescale",
                format!("the HPA controller was able to update the target scale to {desired}"),
                now,
            );
            self.recorder.normal(
                hpa_ref,
                "SuccessfulRescale",
                format!("New size: {desired}; reason: {reason}"),
            );
            info!(hpa = %key, target = %reference, from = current, to = desired, %reason, "rescaled");
            self.record_scale_event(key, &hpa, current, desired, now);
        } else {
            desired = current;
        }
        let status = HorizontalPodAutoscalerStatus {
            observed_generation: hpa.metadata.generation,
            current_replicas: Some(current),
            desired_replicas: desired,
            current_metrics: (!statuses.is_empty()).then_some(statuses),
            last_scale_time: if rescale {
                Some(Time(now))
            } else {
                old.last_scale_time.clone()
            },
            conditions: Some(conds),
        };
        self.write_status(&hpa, status).await
    }

    #[allow(clippy::too_many_arguments)]
    fn normalize(
        &self,
        key: &str,
        hpa: &HorizontalPodAutoscaler,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        conds: &mut Conditions,
        now: Timestamp,
    ) -> i32 {
        let mut mem = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let m = mem.entry(key.to_string()).or_default();
        let behavior = hpa.spec.as_ref().and_then(|s| s.behavior.as_ref());
        let o = match behavior {
            None => normalize_default(
                &mut m.recommendations,
                current,
                desired,
                min,
                max,
                self.cfg.downscale_stabilization,
                now,
            ),
            Some(b) => {
                let (up, down) = fill_behavior(b, self.cfg.downscale_stabilization);
                normalize_behavior(
                    &mut m.recommendations,
                    &m.scale_up,
                    &m.scale_down,
                    &up,
                    &down,
                    current,
                    desired,
                    min,
                    max,
                    now,
                )
            }
        };
        set_condition(conds, "AbleToScale", true, o.able.0, o.able.1.into(), now);
        set_condition(
            conds,
            "ScalingLimited",
            o.limited.0,
            o.limited.1,
            o.limited.2.into(),
            now,
        );
        o.replicas
    }

    fn record_scale_event(
        &self,
        key: &str,
        hpa: &HorizontalPodAutoscaler,
        from: i32,
        to: i32,
        now: Timestamp,
    ) {
        // Rate policies exist only with `behavior`; upstream keeps no events otherwise.
        let Some(b) = hpa.spec.as_ref().and_then(|s| s.behavior.as_ref()) else {
            return;
        };
        let (up, down) = fill_behavior(b, self.cfg.downscale_stabilization);
        let mut mem = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let m = mem.entry(key.to_string()).or_default();
        if to > from {
            record_event(&mut m.scale_up, to - from, &up, now);
        } else {
            record_event(&mut m.scale_down, from - to, &down, now);
        }
    }

    async fn write_status(
        &self,
        hpa: &HorizontalPodAutoscaler,
        status: HorizontalPodAutoscalerStatus,
    ) -> anyhow::Result<()> {
        if hpa.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut updated = hpa.clone();
        updated.status = Some(status);
        let api: Api<HorizontalPodAutoscaler> =
            Api::namespaced(self.client.clone(), &hpa.namespace().unwrap_or_default());
        api.replace_status(&hpa.name_any(), &PostParams::default(), &updated)
            .await
            .context("updating HPA status")?;
        Ok(())
    }
}

async fn replace_scale(
    api: &Api<kube::api::DynamicObject>,
    name: &str,
    scale: &Scale,
) -> anyhow::Result<()> {
    api.replace_scale(name, &PostParams::default(), scale)
        .await
        .map_err(|e| anyhow!(error_message(&e)))?;
    Ok(())
}
