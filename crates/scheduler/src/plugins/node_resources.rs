//! NodeResourcesFit (filter; LeastAllocated score) and NodeResourcesBalancedAllocation.

use std::borrow::Cow;

use crate::node::{NodeData, NodeInfo};
use crate::pod::PodInfo;

use super::{Status, MAX_NODE_SCORE};

/// The pod's requests must fit in the node's allocatable minus what its pods request, and
/// the node must allow one more pod. Every shortfall is reported, as upstream does.
pub fn filter(pod: &PodInfo, info: &NodeInfo, node: &NodeData) -> Result<(), Status> {
    let mut reasons: Vec<Cow<'static, str>> = Vec::new();
    if info.pods.len() as i64 + 1 > node.allowed_pods {
        reasons.push("Too many pods".into());
    }
    let req = &pod.requests;
    let (alloc, used) = (&node.allocatable, &info.requested);
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push("Insufficient cpu".into());
    }
    if req.memory > 0 && req.memory > alloc.memory - used.memory {
        reasons.push("Insufficient memory".into());
    }
    if req.ephemeral_storage > 0
        && req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
    {
        reasons.push("Insufficient ephemeral-storage".into());
    }
    for (name, want) in &req.scalar {
        if *want == 0 {
            continue;
        }
        let have = alloc.scalar.get(name).copied().unwrap_or(0)
            - used.scalar.get(name).copied().unwrap_or(0);
        if *want > have {
            reasons.push(format!("Insufficient {name}").into());
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Status {
            code: super::Code::Unschedulable,
            reasons,
        })
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// LeastAllocated over cpu and memory (weight 1 each), with upstream's non-zero request
/// defaults so that pods without requests still spread.
pub fn least_allocated_score(pod: &PodInfo, info: &NodeInfo, node: &NodeData) -> i64 {
    let pairs = [
        (
            info.non_zero_cpu + pod.non_zero_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            info.non_zero_mem + pod.non_zero_mem,
            node.allocatable.memory,
        ),
    ];
    let (mut sum, mut weights) = (0, 0);
    for (req, cap) in pairs {
        if cap == 0 {
            continue;
        }
        sum += least_requested(req, cap);
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        sum / weights
    }
}

/// BalancedAllocation: favours nodes whose cpu and memory use stay alike after placing the
/// pod (one minus the standard deviation of the two fractions). Uses the real requests.
pub fn balanced_allocation_score(pod: &PodInfo, info: &NodeInfo, node: &NodeData) -> i64 {
    let pairs = [
        (
            info.requested.milli_cpu + pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            info.requested.memory + pod.requests.memory,
            node.allocatable.memory,
        ),
    ];
    let mut fractions = [0.0f64; 2];
    let mut len = 0;
    for (req, cap) in pairs {
        if cap != 0 {
            fractions[len] = (req as f64 / cap as f64).min(1.0);
            len += 1;
        }
    }
    let std = if len == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// BalancedAllocation skips pods that request nothing (upstream's PreScore skip).
pub fn balanced_allocation_applies(pod: &PodInfo) -> bool {
    pod.requests.milli_cpu != 0 || pod.requests.memory != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::plugins::Code;
    use crate::resources::Resources;

    fn req(name: &str, cpu: i64, mem: i64) -> PodInfo {
        PodInfo {
            requests: Resources {
                milli_cpu: cpu,
                memory: mem,
                ..Default::default()
            },
            non_zero_cpu: if cpu == 0 { 100 } else { cpu },
            non_zero_mem: if mem == 0 { 200 << 20 } else { mem },
            ..pod(name, &[])
        }
    }

    #[test]
    fn fit_reports_every_shortfall() {
        let n = node("n", &[]);
        let i = info(n.clone(), vec![req("a", 3000, 6 << 30)]);
        assert!(filter(&req("p", 1000, 2 << 30), &i, &n).is_ok());
        let err = filter(&req("p", 1001, (2 << 30) + 1), &i, &n).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(Code::Unschedulable));
        let reasons: Vec<String> = err
            .into_iter()
            .flat_map(|e| e.reasons)
            .map(|r| r.into_owned())
            .collect();
        assert_eq!(reasons, vec!["Insufficient cpu", "Insufficient memory"]);

        let mut gpu = req("g", 0, 0);
        gpu.requests.scalar.insert("nvidia.com/gpu".into(), 1);
        assert_eq!(
            filter(&gpu, &i, &n)
                .err()
                .map(|e| e.reasons[0].to_string())
                .as_deref(),
            Some("Insufficient nvidia.com/gpu")
        );
        let mut full = n.clone();
        full.allowed_pods = 1;
        assert_eq!(
            filter(&req("p", 0, 0), &i, &full)
                .err()
                .map(|e| e.reasons[0].to_string())
                .as_deref(),
            Some("Too many pods")
        );
    }

    #[test]
    fn least_allocated_and_balanced() {
        let n = node("n", &[]); // 4 cpu, 8Gi
        let empty = info(n.clone(), vec![]);
        let half = info(n.clone(), vec![req("a", 2000, 4 << 30)]);
        let p = req("p", 1000, 2 << 30);
        // (4000-1000)/4000 = 75, same for memory.
        assert_eq!(least_allocated_score(&p, &empty, &n), 75);
        assert_eq!(least_allocated_score(&p, &half, &n), 25);
        assert_eq!(balanced_allocation_score(&p, &empty, &n), 100);
        let skewed = req("s", 2000, 0);
        // cpu 0.5, memory 0: std 0.25 → 75.
        assert_eq!(balanced_allocation_score(&skewed, &empty, &n), 75);
        // No requests: non-zero defaults count for least allocated.
        let none = req("z", 0, 0);
        assert_eq!(least_allocated_score(&none, &empty, &n), (97 + 97) / 2);
        assert!(!balanced_allocation_applies(&none));
    }
}
