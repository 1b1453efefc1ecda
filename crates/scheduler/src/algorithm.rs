//! The scheduling algorithm, pure and synchronous: given the cache and a pod, pick a node or
//! say why none fits. The benchmark and the tests drive it directly; the scheduling loop
//! wraps it with the API calls.
//!
//! As upstream: PreFilter once, filter the nodes round-robin from where the last cycle
//! stopped and only until enough feasible nodes are found (`percentageOfNodesToScore`),
//! score the feasible ones with the default profile's weights, and pick the best (ties
//! broken at random so equal nodes share the load).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::cache::Cache;
use crate::fit_error::FitError;
use crate::node::NodeInfo;
use crate::plugins::{self, weights, CycleState, Status};
use crate::pod::PodInfo;

/// Upstream's floor on how many feasible nodes to look for.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream's floor for the adaptive percentage.
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;
/// Below this many nodes, filtering on one thread beats starting more.
const PARALLEL_THRESHOLD: usize = 512;

#[derive(Clone, Debug)]
pub struct Options {
    /// `percentageOfNodesToScore`; 0 means upstream's adaptive default (50% minus 1% per
    /// 125 nodes, at least 5%), 100 means every node.
    pub percentage_of_nodes_to_score: usize,
    /// Threads to filter with when there are many nodes. Defaults to 1: threads are
    /// started per cycle, and measured (benches/scheduler.rs) that costs far more than it
    /// saves with the default plugins (27 µs per pod at 1,000 nodes on one thread, 440 µs
    /// on two). Worth raising only for pods with expensive filters on very large clusters.
    pub parallelism: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            percentage_of_nodes_to_score: 0,
            parallelism: 1,
        }
    }
}

/// Where a pod goes and how much work it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub node: String,
    pub evaluated: usize,
    pub feasible: usize,
}

/// The scheduling algorithm with its round-robin position and tie-break randomness.
#[derive(Debug)]
pub struct Algorithm {
    opts: Options,
    next_start: usize,
    rng: u64,
}

/// Upstream's `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(percentage: usize, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let pct = if percentage == 0 {
        (50usize.saturating_sub(all / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE)
    } else {
        percentage
    };
    if pct >= 100 {
        return all;
    }
    (all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Filters one node, also with the pods nominated to it that have at least the pod's
/// priority (their room is promised), as upstream's two-pass check does.
pub fn filter_node(
    pod: &PodInfo,
    state: &CycleState,
    info: &NodeInfo,
    cache: &Cache,
) -> Result<(), Status> {
    if cache.has_nominations() {
        let nominated: Vec<_> = cache
            .nominated_on(info.name())
            .iter()
            .filter(|p| p.uid != pod.uid && p.priority >= pod.priority)
            .cloned()
            .collect();
        if let (false, Some(node)) = (nominated.is_empty(), info.node.as_deref()) {
            let mut with = info.clone();
            let mut st = state.clone();
            for p in nominated {
                st.update(pod, &p, node, &cache.namespaces, 1);
                with.add_pod(p);
            }
            plugins::run_filters(pod, &st, &with)?;
        }
    }
    plugins::run_filters(pod, state, info)
}

struct Found {
    feasible: Vec<usize>,
    failed: Vec<(usize, Status)>,
    processed: usize,
}

impl Algorithm {
    pub fn new(opts: Options) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        Algorithm {
            opts,
            next_start: 0,
            rng: seed | 1,
        }
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Picks a node for `pod`, or explains why none fits.
    pub fn schedule(&mut self, cache: &Cache, pod: &PodInfo) -> Result<Decision, FitError> {
        let nodes = cache.nodes();
        if nodes.is_empty() {
            return Err(FitError::default());
        }
        let state = CycleState::new(pod, cache);
        // A pod that preempted goes to its nominated node when it fits there now.
        if !pod.nominated_node.is_empty() {
            if let Some(info) = cache.node(&pod.nominated_node) {
                if filter_node(pod, &state, info, cache).is_ok() {
                    return Ok(Decision {
                        node: pod.nominated_node.clone(),
                        evaluated: 1,
                        feasible: 1,
                    });
                }
            }
        }
        let want = num_feasible_nodes_to_find(self.opts.percentage_of_nodes_to_score, nodes.len());
        let found = if nodes.len() >= PARALLEL_THRESHOLD && self.opts.parallelism > 1 {
            self.find_parallel(cache, pod, &state, want)
        } else {
            self.find_sequential(cache, pod, &state, want)
        };
        self.next_start = (self.next_start + found.processed) % nodes.len();
        if found.feasible.is_empty() {
            return Err(FitError {
                num_all_nodes: nodes.len(),
                statuses: found
                    .failed
                    .into_iter()
                    .map(|(i, s)| (nodes[i].name().to_string(), s))
                    .collect(),
                post_filter_msg: None,
            });
        }
        let evaluated = found.feasible.len() + found.failed.len();
        let feasible: Vec<&NodeInfo> = found.feasible.iter().map(|&i| &nodes[i]).collect();
        let best = if feasible.len() == 1 {
            0
        } else {
            let scores = score(cache, pod, &feasible);
            self.select(&scores)
        };
        Ok(Decision {
            node: feasible[best].name().to_string(),
            evaluated,
            feasible: feasible.len(),
        })
    }

    /// Index of the highest score; ties broken uniformly at random (reservoir sampling).
    fn select(&mut self, scores: &[i64]) -> usize {
        let mut best = 0;
        let mut ties = 1u64;
        for (i, s) in scores.iter().enumerate().skip(1) {
            if *s > scores[best] {
                best = i;
                ties = 1;
            } else if *s == scores[best] {
                ties += 1;
                // Keep the i-th of `ties` equal nodes with probability 1/ties.
                let pick = self.random() % ties;
                if pick == 0 {
                    best = i;
                }
            }
        }
        best
    }

    fn find_sequential(
        &self,
        cache: &Cache,
        pod: &PodInfo,
        state: &CycleState,
        want: usize,
    ) -> Found {
        let nodes = cache.nodes();
        let n = nodes.len();
        let mut found = Found {
            feasible: Vec::new(),
            failed: Vec::new(),
            processed: 0,
        };
        for k in 0..n {
            let i = (self.next_start + k) % n;
            found.processed += 1;
            match filter_node(pod, state, &nodes[i], cache) {
                Ok(()) => {
                    found.feasible.push(i);
                    if found.feasible.len() >= want {
                        break;
                    }
                }
                Err(s) => found.failed.push((i, s)),
            }
        }
        found
    }

    /// The same over chunks of nodes on several threads; stops handing out chunks once
    /// enough feasible nodes were found. Results are merged in node order.
    fn find_parallel(
        &self,
        cache: &Cache,
        pod: &PodInfo,
        state: &CycleState,
        want: usize,
    ) -> Found {
        let nodes = cache.nodes();
        let n = nodes.len();
        let threads = self.opts.parallelism.min(16);
        let chunk = (n / (threads * 8)).max(16);
        let chunks = n.div_ceil(chunk);
        let next = AtomicUsize::new(0);
        let feasible_count = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Found)>> = Mutex::new(Vec::new());
        let start = self.next_start;
        std::thread::scope(|scope| {
            let work = || loop {
                if feasible_count.load(Ordering::Relaxed) >= want {
                    return;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    return;
                }
                let mut part = Found {
                    feasible: Vec::new(),
                    failed: Vec::new(),
                    processed: 0,
                };
                for k in c * chunk..((c + 1) * chunk).min(n) {
                    let i = (start + k) % n;
                    part.processed += 1;
                    match filter_node(pod, state, &nodes[i], cache) {
                        Ok(()) => part.feasible.push(i),
                        Err(s) => part.failed.push((i, s)),
                    }
                }
                feasible_count.fetch_add(part.feasible.len(), Ordering::Relaxed);
                if let Ok(mut r) = results.lock() {
                    r.push((c, part));
                }
            };
            for _ in 1..threads {
                scope.spawn(work);
            }
            work();
        });
        let mut parts = results.into_inner().unwrap_or_default();
        parts.sort_by_key(|(c, _)| *c);
        let mut found = Found {
            feasible: Vec::new(),
            failed: Vec::new(),
            processed: 0,
        };
        let mut contiguous = true;
        for (expected, (c, part)) in parts.into_iter().enumerate() {
            contiguous &= expected == c;
            if contiguous {
                found.processed += part.processed;
            }
            found.feasible.extend(part.feasible);
            found.failed.extend(part.failed);
        }
        found
    }
}

/// Weighted sum of the default profile's normalised scores for each feasible node.
pub fn score(cache: &Cache, pod: &PodInfo, feasible: &[&NodeInfo]) -> Vec<i64> {
    use plugins::{
        inter_pod_affinity, node_affinity, node_resources, pod_topology_spread, taint_toleration,
    };
    let n = feasible.len();
    let mut total = vec![0i64; n];
    let balanced = node_resources::balanced_allocation_applies(pod);
    let mut taints = vec![0i64; n];
    for (i, info) in feasible.iter().enumerate() {
        let Some(node) = info.node.as_deref() else {
            continue;
        };
        total[i] +=
            weights::NODE_RESOURCES_FIT * node_resources::least_allocated_score(pod, info, node);
        if balanced {
            total[i] += weights::BALANCED_ALLOCATION
                * node_resources::balanced_allocation_score(pod, info, node);
        }
        taints[i] = taint_toleration::score(pod, node);
    }
    plugins::default_normalize(&mut taints, true);
    for (t, s) in total.iter_mut().zip(&taints) {
        *t += weights::TAINT_TOLERATION * s;
    }
    if !pod.preferred_node_terms.is_empty() {
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|i| {
                i.node
                    .as_deref()
                    .map_or(0, |n| node_affinity::score(pod, n))
            })
            .collect();
        plugins::default_normalize(&mut s, false);
        for (t, s) in total.iter_mut().zip(&s) {
            *t += weights::NODE_AFFINITY * s;
        }
    }
    if let Some(state) = inter_pod_affinity::ScoreState::new(pod, cache) {
        let mut s: Vec<i64> = feasible.iter().map(|i| state.score(i)).collect();
        inter_pod_affinity::normalize(&mut s);
        for (t, s) in total.iter_mut().zip(&s) {
            *t += weights::INTER_POD_AFFINITY * s;
        }
    }
    if let Some(state) = pod_topology_spread::ScoreState::new(pod, cache, feasible) {
        let raw: Vec<Option<i64>> = feasible.iter().map(|i| state.score(i)).collect();
        for (t, s) in total.iter_mut().zip(pod_topology_spread::normalize(&raw)) {
            *t += weights::POD_TOPOLOGY_SPREAD * s;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::resources::Resources;
    use std::sync::Arc;

    fn cpu_pod(name: &str, cpu: i64) -> PodInfo {
        PodInfo {
            requests: Resources {
                milli_cpu: cpu,
                ..Default::default()
            },
            non_zero_cpu: cpu,
            non_zero_mem: 200 << 20,
            ..pod(name, &[])
        }
    }

    #[test]
    fn feasible_nodes_to_find() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 100_000), 5000);
        assert_eq!(num_feasible_nodes_to_find(100, 1000), 1000);
        assert_eq!(num_feasible_nodes_to_find(1, 1000), 100);
    }

    #[test]
    fn prefers_the_least_allocated_node_and_explains_failures() {
        let mut c = Cache::new();
        c.upsert_node(node("busy", &[]));
        c.upsert_node(node("idle", &[]));
        c.update_bound_pod(Arc::new(PodInfo {
            node_name: "busy".into(),
            ..cpu_pod("x", 2000)
        }));
        let mut alg = Algorithm::new(Options::default());
        let d = alg.schedule(&c, &cpu_pod("p", 1000));
        assert_eq!(d.map(|d| d.node).ok().as_deref(), Some("idle"));
        let err = alg.schedule(&c, &cpu_pod("big", 3000)).err();
        assert!(err.is_none(), "3 cpus are free on idle");
        let err = alg.schedule(&c, &cpu_pod("huge", 4500)).err();
        assert_eq!(
            err.map(|e| e.message()).as_deref(),
            Some("0/2 nodes are available: 2 Insufficient cpu.")
        );
    }

    #[test]
    fn many_nodes_in_parallel_find_the_one_that_fits() {
        let mut c = Cache::new();
        for i in 0..2000 {
            let mut n = node(&format!("n{i}"), &[]);
            if i != 1234 {
                n.allocatable.milli_cpu = 500;
            }
            c.upsert_node(n);
        }
        let mut alg = Algorithm::new(Options {
            percentage_of_nodes_to_score: 0,
            parallelism: 2,
        });
        for _ in 0..3 {
            let d = alg.schedule(&c, &cpu_pod("p", 1000));
            assert_eq!(
                d.map(|d| (d.node, d.evaluated)).ok(),
                Some(("n1234".to_string(), 2000))
            );
        }
        let err = alg.schedule(&c, &cpu_pod("p", 5000)).err();
        assert_eq!(
            err.map(|e| e.message()).as_deref(),
            Some("0/2000 nodes are available: 2000 Insufficient cpu.")
        );
    }

    #[test]
    fn nominated_pods_hold_their_room() {
        let mut c = Cache::new();
        let mut small = node("n", &[]);
        small.allocatable.milli_cpu = 1000;
        c.upsert_node(small);
        let mut high = cpu_pod("high", 800);
        high.priority = 100;
        c.nominate(Arc::new(high.clone()), "n");
        let mut alg = Algorithm::new(Options::default());
        assert!(alg.schedule(&c, &cpu_pod("low", 500)).is_err());
        let mut higher = cpu_pod("higher", 500);
        higher.priority = 200;
        assert!(
            alg.schedule(&c, &higher).is_ok(),
            "lower-priority nominations do not block"
        );
        high.nominated_node = "n".into();
        assert_eq!(
            alg.schedule(&c, &high).map(|d| d.node).ok().as_deref(),
            Some("n")
        );
    }

    #[test]
    fn preferred_node_affinity_outweighs_least_allocated() {
        let mut c = Cache::new();
        c.upsert_node(node("busy", &[("zone", "a")]));
        c.upsert_node(node("idle", &[("zone", "b")]));
        c.update_bound_pod(Arc::new(PodInfo {
            node_name: "busy".into(),
            ..cpu_pod("x", 3000)
        }));
        let spec = |affinity: serde_json::Value| {
            pod_json(serde_json::json!({
                "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
                "spec": {
                    "containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "200Mi"}}}],
                    "affinity": affinity,
                }
            }))
        };
        let plain = spec(serde_json::json!({}));
        let prefers_a = spec(
            serde_json::json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
            ]}}),
        );
        let nodes: Vec<&NodeInfo> = ["busy", "idle"]
            .iter()
            .map(|n| c.node(n).expect("node"))
            .collect();
        let base = score(&c, &plain, &nodes);
        let pref = score(&c, &prefers_a, &nodes);
        // Least allocated (weight 1) alone favours the idle node...
        assert!(base[1] > base[0], "{base:?}");
        // ...the preference, normalised to 100 and weighted 2 as upstream's default
        // profile, is added on the preferred node only and outweighs it.
        assert_eq!(pref[0] - base[0], 2 * 100, "{base:?} {pref:?}");
        assert_eq!(pref[1], base[1]);
        assert!(pref[0] > pref[1], "{pref:?}");

        let mut alg = Algorithm::new(Options::default());
        assert_eq!(
            alg.schedule(&c, &plain).map(|d| d.node).ok().as_deref(),
            Some("idle")
        );
        assert_eq!(
            alg.schedule(&c, &prefers_a).map(|d| d.node).ok().as_deref(),
            Some("busy")
        );
    }
}
