//! Resource usage for `/stats/summary` (the subset metrics consumers read): CPU as a rate
//! (nanocores, from two samples of cumulative counters) and memory as the working set, for
//! the node and every running container, from /proc and the cgroups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rkube_runtime::ContainerState;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::Agent;

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu_ns: u64,
}

/// Cumulative CPU samples and the rates derived from them.
#[derive(Default)]
pub struct Sampler {
    last: Mutex<HashMap<String, (Sample, Option<u64>)>>,
}

impl Sampler {
    /// Records a cumulative value for `key`; returns the rate (nanocores) since the previous.
    fn record(&self, key: &str, cpu_ns: u64) -> Option<u64> {
        let now = Sample {
            at: Instant::now(),
            cpu_ns,
        };
        let mut m = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let rate = m.get(key).and_then(|(prev, _)| {
            let dt = now.at.duration_since(prev.at).as_nanos() as u64;
            (dt > 0).then(|| {
                now.cpu_ns
                    .saturating_sub(prev.cpu_ns)
                    .saturating_mul(1_000_000_000)
                    / dt
            })
        });
        let rate = rate.or_else(|| m.get(key).and_then(|(_, r)| *r));
        m.insert(key.to_string(), (now, rate));
        rate
    }

    fn rate(&self, key: &str) -> Option<u64> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .and_then(|(_, r)| *r)
    }
}

/// Node CPU time in nanoseconds (busy jiffies from /proc/stat; USER_HZ is 100).
fn node_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .take(8)
        .map(|(_, v)| *v)
        .sum();
    busy * 10_000_000
}

fn node_memory_working_set() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let get = |k: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    get("MemTotal:").saturating_sub(get("MemAvailable:"))
}

/// Samples every running container and the node every `period` (and once right away, then
/// after a second, so rates exist soon after start).
pub async fn run(
    agent: Arc<Agent>,
    sampler: Arc<Sampler>,
    period: Duration,
    cancel: CancellationToken,
) {
    let mut first = true;
    loop {
        sample(&agent, &sampler).await;
        let wait = if first {
            Duration::from_secs(1)
        } else {
            period
        };
        first = false;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn sample(agent: &Agent, sampler: &Sampler) {
    sampler.record("node", node_cpu_ns());
    let Ok(containers) = agent.runtime.list_containers().await else {
        return;
    };
    for c in containers
        .iter()
        .filter(|c| c.state == ContainerState::Running)
    {
        if let Some(cg) = agent.runtime.container_cgroup(&c.id) {
            if let Some(ns) = rkube_runtime::cgroups::cpu_usage_nanos(&cg) {
                sampler.record(&c.id, ns);
            }
        }
    }
}

/// The `/stats/summary` document (node and pods; the fields metrics consumers read).
pub async fn summary(agent: &Agent, sampler: &Sampler) -> Value {
    // Containers started since the last sampling tick have no rate yet: take two quick
    // samples so a fresh pod shows up in `kubectl top` at once.
    let running = agent.runtime.list_containers().await.unwrap_or_default();
    let fresh: Vec<(String, String)> = running
        .iter()
        .filter(|c| c.state == ContainerState::Running && sampler.rate(&c.id).is_none())
        .filter_map(|c| Some((c.id.clone(), agent.runtime.container_cgroup(&c.id)?)))
        .collect();
    if !fresh.is_empty() || sampler.rate("node").is_none() {
        for _ in 0..2 {
            sampler.record("node", node_cpu_ns());
            for (id, cg) in &fresh {
                if let Some(ns) = rkube_runtime::cgroups::cpu_usage_nanos(cg) {
                    sampler.record(id, ns);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let now = crate::time::now();
    let node_cpu = node_cpu_ns();
    let containers = agent.runtime.list_containers().await.unwrap_or_default();
    let sandboxes = agent.runtime.list_pod_sandboxes().await.unwrap_or_default();
    let mut pods = Vec::new();
    for sb in sandboxes {
        let mut cs = Vec::new();
        let mut pod_cpu = 0u64;
        let mut pod_mem = 0u64;
        for c in containers.iter().filter(|c| {
            c.state == ContainerState::Running
                && c.labels.get("io.kubernetes.pod.uid") == Some(&sb.config.uid)
        }) {
            let cg = agent.runtime.container_cgroup(&c.id).unwrap_or_default();
            let cpu_total = rkube_runtime::cgroups::cpu_usage_nanos(&cg).unwrap_or(0);
            let rate = sampler.rate(&c.id).unwrap_or(0);
            let mem = rkube_runtime::cgroups::memory_working_set(&cg).unwrap_or(0);
            pod_cpu += rate;
            pod_mem += mem;
            cs.push(json!({
                "name": c.name,
                "startTime": c.started_at.as_deref().map(crate::time::to_seconds),
                "cpu": {"time": now, "usageNanoCores": rate, "usageCoreNanoSeconds": cpu_total},
                "memory": {"time": now, "workingSetBytes": mem},
            }));
        }
        if cs.is_empty() {
            continue;
        }
        pods.push(json!({
            "podRef": {"name": sb.config.name, "namespace": sb.config.namespace, "uid": sb.config.uid},
            "startTime": crate::time::to_seconds(&sb.created_at),
            "containers": cs,
            "cpu": {"time": now, "usageNanoCores": pod_cpu},
            "memory": {"time": now, "workingSetBytes": pod_mem},
        }));
    }
    json!({
        "node": {
            "nodeName": agent.config.node_name,
            "cpu": {"time": now, "usageNanoCores": sampler.rate("node").unwrap_or(0), "usageCoreNanoSeconds": node_cpu},
            "memory": {"time": now, "workingSetBytes": node_memory_working_set()},
        },
        "pods": pods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_two_samples() {
        let s = Sampler::default();
        assert_eq!(s.record("c", 0), None);
        std::thread::sleep(Duration::from_millis(50));
        let r = s.record("c", 25_000_000).unwrap_or(0);
        // 25 ms of CPU in ~50 ms: about half a core.
        assert!((300_000_000..=600_000_000).contains(&r), "{r}");
        assert!(node_cpu_ns() > 0);
        assert!(node_memory_working_set() > 0);
    }
}
