//! PodTopologySpread: `DoNotSchedule` constraints filter (the skew between the node's domain
//! and the emptiest domain may not exceed maxSkew), `ScheduleAnyway` constraints score.
//!
//! Only nodes that pass the constraint's inclusion policies and carry every constraint's
//! topology key count as domains, as upstream does.

use std::collections::HashMap;

use crate::cache::Cache;
use crate::node::{NodeData, NodeInfo};
use crate::pod::{tolerated, PodInfo, SpreadConstraint};

use super::{node_affinity, Status, MAX_NODE_SCORE};

pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

fn has_all_keys(node: &NodeData, cs: &[SpreadConstraint]) -> bool {
    cs.iter().all(|c| node.labels.contains_key(&c.topology_key))
}

/// nodeAffinityPolicy / nodeTaintsPolicy: whether `node` counts for constraint `c`.
fn included(c: &SpreadConstraint, pod: &PodInfo, node: &NodeData) -> bool {
    if c.honor_node_affinity && !node_affinity::matches(pod, node) {
        return false;
    }
    if c.honor_taints {
        let blocked = node.taints.iter().any(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(&pod.tolerations, t)
        });
        if blocked {
            return false;
        }
    }
    true
}

/// Pods on a node that a constraint counts: same namespace, not terminating, selected.
fn count_matching(c: &SpreadConstraint, pods: &[std::sync::Arc<PodInfo>], ns: &str) -> i64 {
    let Some(sel) = &c.selector else { return 0 };
    pods.iter()
        .filter(|p| !p.terminating && p.namespace == ns && sel.matches(&p.labels))
        .count() as i64
}

fn matches(c: &SpreadConstraint, p: &PodInfo, ns: &str) -> bool {
    !p.terminating && p.namespace == ns && c.selector.as_ref().is_some_and(|s| s.matches(&p.labels))
}

/// PreFilter state: matching pods per domain, per hard constraint.
#[derive(Clone, Debug, Default)]
pub struct FilterState {
    constraints: Vec<SpreadConstraint>,
    counts: Vec<HashMap<String, i64>>,
}

impl FilterState {
    pub fn new(pod: &PodInfo, cache: &Cache) -> Option<Self> {
        let constraints: Vec<SpreadConstraint> =
            pod.spread.iter().filter(|c| c.hard).cloned().collect();
        if constraints.is_empty() {
            return None;
        }
        let mut counts = vec![HashMap::new(); constraints.len()];
        for info in cache.nodes() {
            let Some(node) = &info.node else { continue };
            if !has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !included(c, pod, node) {
                    continue;
                }
                let v = node.labels[&c.topology_key].clone();
                *counts[i].entry(v).or_insert(0) += count_matching(c, &info.pods, &pod.namespace);
            }
        }
        Some(FilterState {
            constraints,
            counts,
        })
    }

    /// Adds or removes `other` on `node` (preemption, nominated pods).
    pub fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeData, delta: i64) {
        if !has_all_keys(node, &self.constraints) {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if included(c, pod, node) && matches(c, other, &pod.namespace) {
                *self.counts[i]
                    .entry(node.labels[&c.topology_key].clone())
                    .or_insert(0) += delta;
            }
        }
    }

    pub fn filter(&self, pod: &PodInfo, node: &NodeData) -> Result<(), Status> {
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(v) = node.labels.get(&c.topology_key) else {
                return Err(Status::unresolvable(REASON_MISSING_LABEL));
            };
            let counts = &self.counts[i];
            let domains = counts.len() as i32;
            let mut min = counts
                .values()
                .copied()
                .min()
                .unwrap_or(i64::from(i32::MAX));
            if c.min_domains.is_some_and(|m| domains < m) {
                min = 0;
            }
            let self_match = i64::from(c.selector.as_ref().is_some_and(|s| s.matches(&pod.labels)));
            let here = counts.get(v).copied().unwrap_or(0);
            if here + self_match - min > i64::from(c.max_skew) {
                return Err(Status::unschedulable(REASON));
            }
        }
        Ok(())
    }
}

/// PreScore state for `ScheduleAnyway` constraints over the nodes that passed the filters.
#[derive(Debug)]
pub struct ScoreState<'a> {
    constraints: Vec<SpreadConstraint>,
    /// Matching pods per domain (not for the hostname key: counted per node when scoring).
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
    namespace: String,
    /// The system default constraints (the pod has none of its own): nodes missing a key
    /// are scored without that constraint rather than ignored, and the hostname counts
    /// come from the cache's label groups.
    system: Option<HashMap<&'a str, i64>>,
}

impl<'a> ScoreState<'a> {
    pub fn new(pod: &PodInfo, cache: &'a Cache, feasible: &[&NodeInfo]) -> Option<Self> {
        if feasible.is_empty() {
            return None;
        }
        if pod.spread.is_empty() {
            let selector = cache.workloads.default_selector(pod)?;
            return Some(Self::system_default(pod, cache, feasible, selector));
        }
        let constraints: Vec<SpreadConstraint> =
            pod.spread.iter().filter(|c| !c.hard).cloned().collect();
        if constraints.is_empty() {
            return None;
        }
        let mut counts = vec![HashMap::new(); constraints.len()];
        let mut ignored = 0;
        for info in feasible {
            let Some(node) = &info.node else { continue };
            if !has_all_keys(node, &constraints) {
                ignored += 1;
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key != HOSTNAME_LABEL {
                    counts[i].insert(node.labels[&c.topology_key].clone(), 0);
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME_LABEL {
                    feasible.len() - ignored
                } else {
                    counts[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        for info in cache.nodes() {
            let Some(node) = &info.node else { continue };
            if !has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !included(c, pod, node) {
                    continue;
                }
                if let Some(n) = counts[i].get_mut(&node.labels[&c.topology_key]) {
                    *n += count_matching(c, &info.pods, &pod.namespace);
                }
            }
        }
        Some(ScoreState {
            constraints,
            counts,
            weights,
            namespace: pod.namespace.clone(),
            system: None,
        })
    }

    /// Upstream's PreScore with `systemDefaulted`: every feasible node takes part, a
    /// missing label counting as the empty domain.
    fn system_default(
        pod: &PodInfo,
        cache: &'a Cache,
        feasible: &[&NodeInfo],
        selector: crate::selector::Selector,
    ) -> Self {
        let constraints =
            crate::spreading::default_constraints(selector.clone(), cache.has_zones());
        fn label<'n>(node: &'n NodeData, key: &str) -> &'n str {
            node.labels.get(key).map_or("", String::as_str)
        }
        let mut counts = vec![HashMap::new(); constraints.len()];
        for info in feasible {
            let Some(node) = &info.node else { continue };
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key != HOSTNAME_LABEL {
                    let v = label(node, &c.topology_key);
                    if !counts[i].contains_key(v) {
                        counts[i].insert(v.to_string(), 0);
                    }
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME_LABEL {
                    feasible.len()
                } else {
                    counts[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let per_node = cache.label_groups().per_node(&pod.namespace, &selector);
        for (name, n) in &per_node {
            let Some(node) = cache.node(name).and_then(|i| i.node.as_deref()) else {
                continue;
            };
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME_LABEL || !included(c, pod, node) {
                    continue;
                }
                if let Some(v) = counts[i].get_mut(label(node, &c.topology_key)) {
                    *v += n;
                }
            }
        }
        ScoreState {
            constraints,
            counts,
            weights,
            namespace: pod.namespace.clone(),
            system: Some(per_node),
        }
    }

    /// `None` for nodes missing a topology key (they score 0 after normalising).
    pub fn score(&self, info: &NodeInfo) -> Option<i64> {
        let node = info.node.as_ref()?;
        if let Some(hostname) = &self.system {
            let mut score = 0.0;
            for (i, c) in self.constraints.iter().enumerate() {
                let Some(v) = node.labels.get(&c.topology_key) else {
                    continue;
                };
                let cnt = if c.topology_key == HOSTNAME_LABEL {
                    hostname.get(node.name.as_str()).copied().unwrap_or(0)
                } else {
                    self.counts[i].get(v).copied().unwrap_or(0)
                };
                score += cnt as f64 * self.weights[i] + f64::from(c.max_skew - 1);
            }
            return Some(score.round() as i64);
        }
        if !has_all_keys(node, &self.constraints) {
            return None;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let v = &node.labels[&c.topology_key];
            let cnt = if c.topology_key == HOSTNAME_LABEL {
                count_matching(c, &info.pods, &self.namespace)
            } else {
                self.counts[i].get(v).copied().unwrap_or(0)
            };
            score += cnt as f64 * self.weights[i] + f64::from(c.max_skew - 1);
        }
        Some(score.round() as i64)
    }
}

/// Fewer matching pods is better: `100 * (max + min - s) / max`; ignored nodes get 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let valid = raw.iter().flatten();
    let min = valid.clone().copied().min().unwrap_or(0);
    let max = valid.copied().max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_NODE_SCORE,
            Some(s) => MAX_NODE_SCORE * (max + min - s) / max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::plugins::Code;
    use serde_json::json;
    use std::sync::Arc;

    fn spread_pod(name: &str, when: &str, extra: serde_json::Value) -> PodInfo {
        let mut c = json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        pod_json(json!({
            "metadata": {"name": name, "uid": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}], "topologySpreadConstraints": [c]}
        }))
    }

    fn cluster(placed: &[&str]) -> Cache {
        let mut c = Cache::new();
        c.upsert_node(node("a1", &[("zone", "a")]));
        c.upsert_node(node("b1", &[("zone", "b")]));
        c.upsert_node(node("c1", &[("zone", "c")]));
        c.upsert_node(node("x", &[]));
        for (i, n) in placed.iter().enumerate() {
            let mut p = spread_pod(&format!("e{i}"), "DoNotSchedule", json!({}));
            p.node_name = n.to_string();
            c.update_bound_pod(Arc::new(p));
        }
        c
    }

    fn check(c: &Cache, p: &PodInfo, node: &str) -> Result<(), Status> {
        let s = FilterState::new(p, c).unwrap_or_default();
        let n = c
            .node(node)
            .and_then(|n| n.node.clone())
            .unwrap_or_default();
        s.filter(p, &n)
    }

    #[test]
    fn max_skew() {
        let c = cluster(&["a1", "b1"]);
        let p = spread_pod("p", "DoNotSchedule", json!({}));
        assert_eq!(
            check(&c, &p, "a1")
                .err()
                .map(|e| (e.code, e.reasons[0].to_string())),
            Some((Code::Unschedulable, REASON.to_string()))
        );
        assert!(check(&c, &p, "c1").is_ok());
        assert_eq!(
            check(&c, &p, "x")
                .err()
                .map(|e| (e.code, e.reasons[0].to_string())),
            Some((
                Code::UnschedulableAndUnresolvable,
                REASON_MISSING_LABEL.to_string()
            ))
        );
    }

    #[test]
    fn min_domains_counts_missing_domains_as_empty() {
        let c = cluster(&["a1", "b1", "c1"]);
        let p = spread_pod("p", "DoNotSchedule", json!({}));
        assert!(check(&c, &p, "a1").is_ok(), "three domains, one each");
        let p = spread_pod("p", "DoNotSchedule", json!({"minDomains": 4}));
        assert!(
            check(&c, &p, "a1").is_err(),
            "fewer domains than minDomains: min is 0"
        );
    }

    #[test]
    fn node_affinity_policy() {
        let c = cluster(&["a1"]);
        let mut p = spread_pod("p", "DoNotSchedule", json!({}));
        p.node_selector = labels(&[("zone", "a")]);
        // Honor (default): only zone a counts, so min = 1 and a1 is fine.
        assert!(check(&c, &p, "a1").is_ok());
        let mut q = spread_pod(
            "q",
            "DoNotSchedule",
            json!({"nodeAffinityPolicy": "Ignore"}),
        );
        q.node_selector = labels(&[("zone", "a")]);
        assert!(check(&c, &q, "a1").is_err());
    }

    #[test]
    fn system_defaults_spread_a_replicasets_pods() {
        use crate::selector::Selector;
        use crate::spreading::Kind;
        let mut c = Cache::new();
        for (n, zone) in [
            ("n1", Some("a")),
            ("n2", Some("a")),
            ("n3", Some("b")),
            ("n4", None),
        ] {
            let mut labels = vec![(HOSTNAME_LABEL, n)];
            if let Some(z) = zone {
                labels.push((crate::spreading::ZONE_LABEL, z));
            }
            c.upsert_node(node(n, &labels));
        }
        c.workloads.upsert(
            (Kind::ReplicaSet, "default".into(), "web-1".into()),
            Selector::from_labels(&labels(&[("app", "web")])),
        );
        let sibling = |name: &str, node: &str| {
            let mut p = pod(name, &[("app", "web")]);
            p.node_name = node.into();
            p.controller = Some(("apps".into(), "ReplicaSet".into(), "web-1".into()));
            Arc::new(p)
        };
        for (i, n) in ["n1", "n1", "n2"].iter().enumerate() {
            c.update_bound_pod(sibling(&format!("w{i}"), n));
        }
        let mut unrelated = pod("db", &[("app", "db")]);
        unrelated.node_name = "n3".into();
        c.update_bound_pod(Arc::new(unrelated));
        let incoming = sibling("new", "");
        let feasible: Vec<&NodeInfo> = c.nodes().iter().collect();
        let Some(s) = ScoreState::new(&incoming, &c, &feasible) else {
            panic!("a ReplicaSet's pod is spread by default")
        };
        let raw: Vec<Option<i64>> = feasible.iter().map(|n| s.score(n)).collect();
        // hostname: weight ln(4+2)=1.79, skew 3 adds 2; zone (a, b, ""): ln(3+2)=1.61,
        // skew 5 adds 4; zone a holds 3 siblings. n4 has no zone: hostname only.
        assert_eq!(raw, vec![Some(14), Some(13), Some(6), Some(2)]);
        let norm = normalize(&raw);
        assert!(
            norm[3] > norm[2] && norm[2] > norm[1] && norm[1] > norm[0],
            "{norm:?}"
        );
        // A pod nothing selects is not spread.
        let bare = pod("bare", &[("x", "y")]);
        assert!(ScoreState::new(&bare, &c, &feasible).is_none());
    }

    #[test]
    fn schedule_anyway_scores_emptier_domains_higher() {
        let c = cluster(&["a1", "a1", "b1"]);
        let p = spread_pod("p", "ScheduleAnyway", json!({}));
        assert!(
            FilterState::new(&p, &c).is_none(),
            "soft constraints do not filter"
        );
        let feasible: Vec<&NodeInfo> = c.nodes().iter().collect();
        let Some(s) = ScoreState::new(&p, &c, &feasible) else {
            panic!("state")
        };
        let raw: Vec<Option<i64>> = feasible.iter().map(|n| s.score(n)).collect();
        // weight ln(3+2) = 1.609: a=2*1.609=3.2→3, b=1.6→2, c=0, x ignored.
        assert_eq!(raw, vec![Some(3), Some(2), Some(0), None]);
        assert_eq!(normalize(&raw), vec![0, 33, 100, 0]);
    }
}
