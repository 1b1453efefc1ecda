//! Where pod usage comes from: the resource metrics API (`metrics.k8s.io/v1beta1`
//! PodMetrics), behind a trait so the calculator can be driven by any source.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::Client;
use serde::Deserialize;

use super::calc::{milli_value, PodMetric, PodMetrics};

/// One container's usage.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ContainerUsage {
    pub name: String,
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

/// One pod's sample, as PodMetrics carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct PodUsage {
    pub name: String,
    pub timestamp: Timestamp,
    pub window: Duration,
    pub containers: Vec<ContainerUsage>,
}

/// A source of pod usage samples.
pub trait MetricsSource: Send + Sync {
    /// Samples of the pods in `namespace` matching `selector` (label selector syntax).
    fn pod_usage<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PodUsage>>>;
}

/// The resource metrics API served by the API server.
pub struct MetricsApi {
    client: Client,
}

impl MetricsApi {
    pub fn new(client: Client) -> Self {
        MetricsApi { client }
    }
}

#[derive(Deserialize)]
struct Fields {
    timestamp: Option<String>,
    window: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerUsage>,
}

fn pod_metrics_resource() -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "PodMetrics".into(),
        plural: "pods".into(),
    }
}

impl MetricsSource for MetricsApi {
    fn pod_usage<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PodUsage>>> {
        Box::pin(async move {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &pod_metrics_resource());
            let list = api.list(&ListParams::default().labels(selector)).await?;
            let mut out = Vec::new();
            for item in list.items {
                let name = item.metadata.name.clone().unwrap_or_default();
                let f: Fields = serde_json::from_value(item.data)?;
                out.push(PodUsage {
                    name,
                    timestamp: f
                        .timestamp
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_else(Timestamp::now),
                    window: f
                        .window
                        .as_deref()
                        .and_then(parse_duration)
                        .unwrap_or_default(),
                    containers: f.containers,
                });
            }
            Ok(out)
        })
    }
}

/// A Go duration (`10s`, `1m30s`, `500ms`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += Duration::from_secs_f64(value * scale);
    }
    Some(total)
}

/// One resource's usage per pod in milli-units (of `container` only, if given). Pods
/// lacking the resource in any counted container are left out (upstream's
/// `getPodMetrics` / `getContainerMetrics`).
pub fn resource_metrics(
    samples: &[PodUsage],
    resource: &str,
    container: Option<&str>,
) -> PodMetrics {
    let mut out = PodMetrics::new();
    for s in samples {
        let counted: Vec<&ContainerUsage> = s
            .containers
            .iter()
            .filter(|c| container.is_none_or(|want| c.name == want))
            .collect();
        if counted.is_empty() {
            continue;
        }
        let values: Option<Vec<i64>> = counted
            .iter()
            .map(|c| c.usage.get(resource).and_then(milli_value))
            .collect();
        if let Some(v) = values {
            out.insert(
                s.name.clone(),
                PodMetric {
                    value: v.iter().sum(),
                    timestamp: s.timestamp,
                    window: s.window,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(name: &str, containers: &[(&str, &[(&str, &str)])]) -> PodUsage {
        PodUsage {
            name: name.into(),
            timestamp: Timestamp::UNIX_EPOCH,
            window: Duration::from_secs(10),
            containers: containers
                .iter()
                .map(|(n, u)| ContainerUsage {
                    name: n.to_string(),
                    usage: u
                        .iter()
                        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn sums_containers_and_skips_incomplete_pods() {
        let samples = [
            usage(
                "a",
                &[("app", &[("cpu", "250m")]), ("side", &[("cpu", "50m")])],
            ),
            usage(
                "b",
                &[("app", &[("cpu", "1")]), ("side", &[("memory", "1Mi")])],
            ),
            usage("c", &[]),
        ];
        let m = resource_metrics(&samples, "cpu", None);
        assert_eq!(m.len(), 1);
        assert_eq!(m["a"].value, 300);
        let m = resource_metrics(&samples, "cpu", Some("app"));
        assert_eq!((m["a"].value, m["b"].value), (250, 1000));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("x"), None);
    }
}
