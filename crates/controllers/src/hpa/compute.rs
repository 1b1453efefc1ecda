//! Per-metric replica proposals (upstream's `computeReplicasForMetrics` and
//! `computeStatusForResourceMetric`).

use std::sync::Arc;

use anyhow::anyhow;
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, HorizontalPodAutoscaler, MetricSpec, MetricStatus, MetricTarget,
    MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use tracing::debug;

use super::calc::{milli_quantity, milli_value, resource_replicas, Target};
use super::metrics::{resource_metrics, PodUsage};
use super::reconcile::{set_condition, Conditions};
use super::{target, HpaController};
use crate::events::object_ref;

/// The default metric when none is given: 80 % CPU utilization (upstream's defaulting).
fn metric_specs(hpa: &HorizontalPodAutoscaler) -> Vec<MetricSpec> {
    let given = hpa
        .spec
        .as_ref()
        .and_then(|s| s.metrics.clone())
        .unwrap_or_default();
    if !given.is_empty() {
        return given;
    }
    serde_json::from_value(serde_json::json!([{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]))
    .unwrap_or_default()
}

/// A metric that could not be computed: the event reason and the error.
struct MetricError {
    reason: &'static str,
    message: String,
}

struct Computed {
    replicas: i32,
    name: String,
    status: MetricStatus,
}

impl HpaController {
    /// The largest proposal over the metrics (-1 when none can be used), its metric's name,
    /// the metric statuses, and the first error.
    pub(super) async fn compute_replicas(
        &self,
        hpa: &HorizontalPodAutoscaler,
        scale: &Scale,
        current: i32,
        conds: &mut Conditions,
        now: Timestamp,
    ) -> (i32, String, Vec<MetricStatus>, Option<anyhow::Error>) {
        let hpa_ref = object_ref("autoscaling/v2", "HorizontalPodAutoscaler", &hpa.metadata);
        let ns = hpa.namespace().unwrap_or_default();
        let selector_str = scale
            .status
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        if selector_str.is_empty() {
            self.recorder
                .warning(hpa_ref, "SelectorRequired", "selector is required".into());
            set_condition(
                conds,
                "ScalingActive",
                false,
                "InvalidSelector",
                "the HPA target's scale is missing a selector".into(),
                now,
            );
            return (
                -1,
                String::new(),
                vec![],
                Some(anyhow!("selector is required")),
            );
        }
        let selector = match target::parse_selector(&selector_str) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("couldn't convert selector into a corresponding internal selector object: {e:#}");
                self.recorder
                    .warning(hpa_ref, "InvalidSelector", msg.clone());
                set_condition(
                    conds,
                    "ScalingActive",
                    false,
                    "InvalidSelector",
                    msg.clone(),
                    now,
                );
                return (-1, String::new(), vec![], Some(anyhow!(msg)));
            }
        };
        let pods: Vec<Arc<Pod>> = self
            .pods
            .list(&ns)
            .into_iter()
            .filter(|p| selector.matches(p.metadata.labels.as_ref()))
            .collect();
        let pod_refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let specs = metric_specs(hpa);
        let mut usage: Option<Result<Vec<PodUsage>, String>> = None;
        let (mut replicas, mut metric) = (0, String::new());
        let mut statuses = Vec::new();
        let mut invalid = 0;
        let mut first: Option<(String, MetricError)> = None;
        for spec in &specs {
            match self
                .compute_metric(
                    spec,
                    current,
                    &ns,
                    &selector_str,
                    &pod_refs,
                    &mut usage,
                    now,
                )
                .await
            {
                Ok(c) => {
                    if replicas == 0 || c.replicas > replicas {
                        replicas = c.replicas;
                        metric = c.name;
                    }
                    statuses.push(c.status);
                }
                Err(e) => {
                    self.recorder
                        .warning(hpa_ref.clone(), e.reason, e.message.clone());
                    invalid += 1;
                    if first.is_none() {
                        first = Some((spec.type_.clone(), e));
                    }
                }
            }
        }
        let err = first.as_ref().map(|(_, e)| {
            anyhow!(
                "invalid metrics ({invalid} invalid out of {}), first error is: {}",
                specs.len(),
                e.message
            )
        });
        // All metrics failed, or some did and the rest would scale down: do nothing.
        if invalid >= specs.len() || (invalid > 0 && replicas < current) {
            if let Some((_, e)) = &first {
                set_condition(
                    conds,
                    "ScalingActive",
                    false,
                    e.reason,
                    format!(
                        "the HPA was unable to compute the replica count: {}",
                        e.message
                    ),
                    now,
                );
            }
            return (-1, String::new(), statuses, err);
        }
        set_condition(
            conds,
            "ScalingActive",
            true,
            "ValidMetricFound",
            format!("the HPA was able to successfully calculate a replica count from {metric}"),
            now,
        );
        (replicas, metric, statuses, err)
    }

    #[allow(clippy::too_many_arguments)]
    async fn compute_metric(
        &self,
        spec: &MetricSpec,
        current: i32,
        ns: &str,
        selector: &str,
        pods: &[&Pod],
        usage: &mut Option<Result<Vec<PodUsage>, String>>,
        now: Timestamp,
    ) -> Result<Computed, MetricError> {
        let (resource, container, target, reason) = match spec.type_.as_str() {
            "Resource" => {
                let r = spec.resource.as_ref().ok_or_else(|| MetricError {
                    reason: "FailedGetResourceMetric",
                    message: "resource metric without a resource".into(),
                })?;
                (
                    r.name.clone(),
                    None,
                    r.target.clone(),
                    "FailedGetResourceMetric",
                )
            }
            "ContainerResource" => {
                let r = spec
                    .container_resource
                    .as_ref()
                    .ok_or_else(|| MetricError {
                        reason: "FailedGetContainerResourceMetric",
                        message: "container resource metric without a container".into(),
                    })?;
                (
                    r.name.clone(),
                    Some(r.container.clone()),
                    r.target.clone(),
                    "FailedGetContainerResourceMetric",
                )
            }
            other => {
                // Pods, Object and External metrics need custom or external metrics APIs,
                // which this cluster does not serve.
                let reason = match other {
                    "Pods" => "FailedGetPodsMetric",
                    "Object" => "FailedGetObjectMetric",
                    "External" => "FailedGetExternalMetric",
                    _ => "InvalidMetricSourceType",
                };
                return Err(MetricError {
                    reason,
                    message: format!(
                        "unable to get {other} metric: no custom or external metrics API is served"
                    ),
                });
            }
        };
        let fail = |m: String| MetricError { reason, message: m };
        if usage.is_none() {
            let got = self
                .metrics
                .pod_usage(ns, selector)
                .await
                .map_err(|e| format!("{e:#}"))
                .and_then(|u| {
                    if u.is_empty() {
                        Err("no metrics returned from resource metrics API".to_string())
                    } else {
                        Ok(u)
                    }
                });
            *usage = Some(got);
        }
        let samples = match usage.as_ref() {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(fail(format!("failed to get {resource} utilization: unable to get metrics for resource {resource}: {e}"))),
            None => return Err(fail("no metrics".into())),
        };
        let metrics = resource_metrics(samples, &resource, container.as_deref());
        let calc_target = calc_target(&target).map_err(&fail)?;
        let what = if matches!(calc_target, Target::Utilization(_)) {
            "utilization"
        } else {
            "usage"
        };
        let p = resource_replicas(
            current,
            &calc_target,
            &resource,
            container.as_deref(),
            pods,
            metrics,
            &self.cfg.calc,
            now,
        )
        .map_err(|e| fail(format!("failed to get {resource} {what}: {e}")))?;
        debug!(resource = %resource, replicas = p.replicas, utilization = ?p.utilization, "metric proposal");
        let name = match (&calc_target, &container) {
            (Target::Utilization(_), None) => {
                format!("{resource} resource utilization (percentage of request)")
            }
            (Target::Utilization(_), Some(_)) => {
                format!("{resource} container resource utilization (percentage of request)")
            }
            (Target::AverageValue(_), None) => format!("{resource} resource"),
            (Target::AverageValue(_), Some(_)) => format!("{resource} container resource"),
        };
        let current_value = MetricValueStatus {
            average_utilization: p.utilization,
            average_value: Some(milli_quantity(p.raw)),
            value: None,
        };
        let status = match container {
            None => MetricStatus {
                type_: "Resource".into(),
                resource: Some(ResourceMetricStatus {
                    name: resource,
                    current: current_value,
                }),
                ..Default::default()
            },
            Some(c) => MetricStatus {
                type_: "ContainerResource".into(),
                container_resource: Some(ContainerResourceMetricStatus {
                    container: c,
                    name: resource,
                    current: current_value,
                }),
                ..Default::default()
            },
        };
        Ok(Computed {
            replicas: p.replicas,
            name,
            status,
        })
    }
}

fn calc_target(t: &MetricTarget) -> Result<Target, String> {
    if let Some(v) = &t.average_value {
        return milli_value(v)
            .map(Target::AverageValue)
            .ok_or_else(|| format!("invalid averageValue {:?}", v.0));
    }
    match t.average_utilization {
        Some(u) => Ok(Target::Utilization(u)),
        None => Err("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into()),
    }
}
