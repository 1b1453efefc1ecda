//! Upstream's replica calculator (`pkg/controller/podautoscaler/replica_calculator.go`) for
//! resource metrics: usage against container requests, a 10 % tolerance, and the careful
//! treatment of pods without metrics (assumed at 100 % on a scale-down, 0 % on a scale-up)
//! and of pods not yet ready (their CPU ignored, and counted as 0 % on a scale-up), so a
//! rollout or a slow start never causes flapping.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// One pod's usage of one resource, in milli-units.
#[derive(Clone, Debug, PartialEq)]
pub struct PodMetric {
    pub value: i64,
    pub timestamp: Timestamp,
    pub window: Duration,
}

pub type PodMetrics = HashMap<String, PodMetric>;

/// Tunables (upstream's flags).
#[derive(Clone, Debug)]
pub struct CalcConfig {
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    pub initial_readiness_delay: Duration,
}

impl Default for CalcConfig {
    fn default() -> Self {
        CalcConfig {
            tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
        }
    }
}

/// A Quantity in milli-units, rounded up as `Quantity.MilliValue()` does.
pub fn milli_value(q: &Quantity) -> Option<i64> {
    let s = q.0.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (neg, num) = match num.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    // value = mantissa * 10^(exp10 - frac.len()) * 2^exp2
    let (mut exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        e => (e.strip_prefix(['e', 'E'])?.parse().ok()?, 0),
    };
    exp10 += 3 - frac.len() as i32;
    let mut v = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        v = v.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let d = 10i128
            .checked_pow(exp10.unsigned_abs())
            .unwrap_or(i128::MAX);
        v = (v + d - 1) / d;
    }
    let v = i64::try_from(v).unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

/// A milli-value as a canonical decimal Quantity (`250m`, `2`).
pub fn milli_quantity(v: i64) -> Quantity {
    if v % 1000 == 0 {
        Quantity(format!("{}", v / 1000))
    } else {
        Quantity(format!("{v}m"))
    }
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    crate::util::ready_condition(pod)
}

/// Sorts the selected pods (upstream's `groupPods`): ready ones with metrics are counted;
/// Pending and (for CPU) not-yet-ready pods are unready; pods without metrics are missing;
/// terminating and failed pods are ignored.
pub struct Groups {
    pub ready: usize,
    pub unready: HashSet<String>,
    pub missing: HashSet<String>,
    pub ignored: HashSet<String>,
}

pub fn group_pods(
    pods: &[&Pod],
    metrics: &PodMetrics,
    resource: &str,
    cfg: &CalcConfig,
    now: Timestamp,
) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: HashSet::new(),
        missing: HashSet::new(),
        ignored: HashSet::new(),
    };
    let secs = |d: Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = crate::util::pod_phase(pod);
        if pod.metadata.deletion_timestamp.is_some() || phase == "Failed" {
            g.ignored.insert(name);
            continue;
        }
        if phase == "Pending" {
            g.unready.insert(name);
            continue;
        }
        let Some(metric) = metrics.get(&name) else {
            g.missing.insert(name);
            continue;
        };
        if resource == "cpu" {
            let cond = ready_condition(pod);
            let start = pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0);
            let unready = match (cond, start) {
                (Some(c), Some(start)) => {
                    let transition = c.last_transition_time.as_ref().map_or(start, |t| t.0);
                    if start
                        .saturating_add(secs(cfg.cpu_initialization_period))
                        .is_ok_and(|t| t > now)
                    {
                        // Initialising: ignore the sample unless the pod is ready and a full
                        // metric window has passed since it became so.
                        c.status == "False"
                            || metric.timestamp
                                < transition
                                    .saturating_add(secs(metric.window))
                                    .unwrap_or(Timestamp::MAX)
                    } else {
                        // Unready and never ready since the start.
                        c.status == "False"
                            && start
                                .saturating_add(secs(cfg.initial_readiness_delay))
                                .is_ok_and(|t| t > transition)
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(name);
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

/// Each pod's summed request for `resource` (of `container` only, if given), counting
/// restartable init containers (sidecars) as upstream does.
pub fn pod_requests(
    pods: &[&Pod],
    container: Option<&str>,
    resource: &str,
) -> Result<HashMap<String, i64>, String> {
    let mut out = HashMap::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let mut sum = 0i64;
        for c in spec.containers.iter().chain(sidecars) {
            if container.is_some_and(|want| want != c.name) {
                continue;
            }
            let req = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r: &BTreeMap<String, Quantity>| r.get(resource))
                .and_then(milli_value);
            match req {
                Some(v) => sum += v,
                None => {
                    return Err(format!(
                        "missing request for {resource} in container {} of Pod {name}",
                        c.name
                    ))
                }
            }
        }
        out.insert(name, sum);
    }
    Ok(out)
}

/// (usage ratio, utilization %, average raw usage) over pods with both a metric and a request.
pub fn utilization_ratio(
    metrics: &PodMetrics,
    requests: &HashMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let (mut total, mut req_total, mut n) = (0i64, 0i64, 0i64);
    for (pod, m) in metrics {
        let Some(r) = requests.get(pod) else { continue };
        total += m.value;
        req_total += r;
        n += 1;
    }
    if req_total == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = ((total * 100) / req_total) as i32;
    Ok((
        f64::from(utilization) / f64::from(target),
        utilization,
        total / n,
    ))
}

fn plain_ratio(metrics: &PodMetrics, target: i64) -> (f64, i64) {
    let total: i64 = metrics.values().map(|m| m.value).sum();
    let usage = total / metrics.len().max(1) as i64;
    (usage as f64 / target as f64, usage)
}

/// What a resource metric proposes.
#[derive(Debug, PartialEq)]
pub struct Proposal {
    pub replicas: i32,
    /// Average utilization in percent of request (utilization targets only).
    pub utilization: Option<i32>,
    /// Average usage in milli-units.
    pub raw: i64,
}

/// How the ratio is computed: against requests (utilization %) or raw average value.
pub enum Target {
    Utilization(i32),
    AverageValue(i64),
}

/// Upstream's `GetResourceReplicas` / `GetRawResourceReplicas`.
#[allow(clippy::too_many_arguments)]
pub fn resource_replicas(
    current: i32,
    target: &Target,
    resource: &str,
    container: Option<&str>,
    pods: &[&Pod],
    mut metrics: PodMetrics,
    cfg: &CalcConfig,
    now: Timestamp,
) -> Result<Proposal, String> {
    if pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let g = group_pods(pods, &metrics, resource, cfg, now);
    metrics.retain(|p, _| !g.ignored.contains(p) && !g.unready.contains(p));
    if metrics.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let requests = match target {
        Target::Utilization(_) => pod_requests(pods, container, resource)?,
        Target::AverageValue(_) => HashMap::new(),
    };
    let ratio = |m: &PodMetrics| -> Result<(f64, Option<i32>, i64), String> {
        match target {
            Target::Utilization(t) => {
                utilization_ratio(m, &requests, *t).map(|(r, u, raw)| (r, Some(u), raw))
            }
            Target::AverageValue(t) => {
                let (r, u) = plain_ratio(m, *t);
                Ok((r, None, u))
            }
        }
    };
    let (usage_ratio, utilization, raw) = ratio(&metrics)?;
    let keep = Proposal {
        replicas: current,
        utilization,
        raw,
    };
    let scale_up_with_unready = !g.unready.is_empty() && usage_ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        if (1.0 - usage_ratio).abs() <= cfg.tolerance {
            return Ok(keep);
        }
        return Ok(Proposal {
            replicas: (usage_ratio * g.ready as f64).ceil() as i32,
            ..keep
        });
    }
    if !g.missing.is_empty() {
        for pod in &g.missing {
            let value = if usage_ratio < 1.0 {
                // Scale-down: a pod without metrics is assumed at the target (at least 100 %).
                match target {
                    Target::Utilization(t) => {
                        requests.get(pod).copied().unwrap_or(0) * i64::from((*t).max(100)) / 100
                    }
                    Target::AverageValue(t) => *t,
                }
            } else if usage_ratio > 1.0 {
                0
            } else {
                continue;
            };
            metrics.insert(
                pod.clone(),
                PodMetric {
                    value,
                    timestamp: now,
                    window: Duration::ZERO,
                },
            );
        }
    }
    if scale_up_with_unready {
        for pod in &g.unready {
            metrics.insert(
                pod.clone(),
                PodMetric {
                    value: 0,
                    timestamp: now,
                    window: Duration::ZERO,
                },
            );
        }
    }
    let (new_ratio, _, _) = ratio(&metrics)?;
    if (1.0 - new_ratio).abs() <= cfg.tolerance
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        // Too small a change, or the assumptions would reverse the direction.
        return Ok(keep);
    }
    let replicas = (new_ratio * metrics.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(keep);
    }
    Ok(Proposal { replicas, ..keep })
}

#[cfg(test)]
#[path = "calc_tests.rs"]
mod tests;
