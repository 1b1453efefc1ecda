//! InterPodAffinity: required pod affinity and anti-affinity (the incoming pod's, and the
//! anti-affinity of pods already placed), and the preferred terms' score.
//!
//! Counts are kept per topology pair (topology key → value → number of matching pods), so
//! that filtering a node is a look-up per term.

use std::collections::HashMap;

use crate::cache::Cache;
use crate::node::NodeInfo;
use crate::pod::{AffinityTerm, Namespaces, PodInfo};
use crate::selector::Labels;

use super::{Status, MAX_NODE_SCORE};

pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// Upstream's default `hardPodAffinityWeight`.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

type Counts = HashMap<String, HashMap<String, i64>>;

fn bump(counts: &mut Counts, key: &str, labels: &Labels, delta: i64) {
    if let Some(v) = labels.get(key) {
        let e = counts
            .entry(key.to_string())
            .or_default()
            .entry(v.clone())
            .or_insert(0);
        *e += delta;
    }
}

fn count(counts: &Counts, key: &str, value: &str) -> i64 {
    counts
        .get(key)
        .and_then(|m| m.get(value))
        .copied()
        .unwrap_or(0)
}

/// PreFilter state for one pod.
#[derive(Clone, Debug, Default)]
pub struct FilterState {
    /// Existing pods whose required anti-affinity selects the incoming pod.
    existing_anti: Counts,
    /// Existing pods matching all the incoming pod's required affinity terms.
    affinity: Counts,
    /// Existing pods matching one of the incoming pod's required anti-affinity terms.
    anti: Counts,
    /// Whether the incoming pod matches its own affinity terms (the first pod of a group).
    self_match: bool,
    affinity_terms: Vec<AffinityTerm>,
    anti_terms: Vec<AffinityTerm>,
}

impl FilterState {
    /// `None` when there is nothing to check: the pod has no required terms and no pod in
    /// the cluster has required anti-affinity.
    pub fn new(pod: &PodInfo, cache: &Cache) -> Option<Self> {
        let own = !pod.affinity.is_empty() || !pod.anti_affinity.is_empty();
        if !own && cache.pods_with_required_anti_affinity() == 0 {
            return None;
        }
        let ns = &cache.namespaces;
        let mut s = FilterState {
            self_match: pod.affinity.iter().all(|t| t.matches(pod, ns)),
            affinity_terms: pod.affinity.clone(),
            anti_terms: pod.anti_affinity.clone(),
            ..Default::default()
        };
        for info in cache.nodes() {
            if !own && info.pods_with_required_anti_affinity == 0 {
                continue;
            }
            let Some(node) = &info.node else { continue };
            for existing in &info.pods {
                s.update(pod, existing, &node.labels, ns, 1);
            }
        }
        Some(s)
    }

    /// Adds (`delta` 1) or removes (-1) the contribution of `existing` on a node with
    /// `labels`.
    pub fn update(
        &mut self,
        pod: &PodInfo,
        existing: &PodInfo,
        labels: &Labels,
        ns: &Namespaces,
        delta: i64,
    ) {
        if existing.uid == pod.uid {
            return;
        }
        for t in &existing.anti_affinity {
            if t.matches(pod, ns) {
                bump(&mut self.existing_anti, &t.topology_key, labels, delta);
            }
        }
        if !self.affinity_terms.is_empty()
            && self.affinity_terms.iter().all(|t| t.matches(existing, ns))
        {
            for t in &self.affinity_terms {
                bump(&mut self.affinity, &t.topology_key, labels, delta);
            }
        }
        for t in &self.anti_terms {
            if t.matches(existing, ns) {
                bump(&mut self.anti, &t.topology_key, labels, delta);
            }
        }
    }

    fn satisfies_affinity(&self, labels: &Labels) -> bool {
        let mut pods_exist = true;
        for t in &self.affinity_terms {
            let Some(v) = labels.get(&t.topology_key) else {
                return false;
            };
            if count(&self.affinity, &t.topology_key, v) <= 0 {
                pods_exist = false;
            }
        }
        // The first pod of a group with affinity to itself may go anywhere with the labels.
        pods_exist
            || (self.affinity.values().all(|m| m.values().all(|c| *c <= 0)) && self.self_match)
    }

    pub fn filter(&self, node: &crate::node::NodeData) -> Result<(), Status> {
        let labels = &node.labels;
        if !self.satisfies_affinity(labels) {
            return Err(Status::unresolvable(REASON_AFFINITY));
        }
        for t in &self.anti_terms {
            if let Some(v) = labels.get(&t.topology_key) {
                if count(&self.anti, &t.topology_key, v) > 0 {
                    return Err(Status::unschedulable(REASON_ANTI_AFFINITY));
                }
            }
        }
        if !self.existing_anti.is_empty() {
            for (k, v) in labels {
                if count(&self.existing_anti, k, v) > 0 {
                    return Err(Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY));
                }
            }
        }
        Ok(())
    }
}

/// PreScore state: a score per topology pair from preferred terms (both directions) and
/// existing pods' required affinity.
#[derive(Debug, Default)]
pub struct ScoreState {
    scores: Counts,
}

impl ScoreState {
    pub fn new(pod: &PodInfo, cache: &Cache) -> Option<Self> {
        let own = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if !own && cache.pods_with_affinity() == 0 {
            return None;
        }
        let ns = &cache.namespaces;
        let mut s = ScoreState::default();
        for info in cache.nodes() {
            if !own && info.pods_with_affinity == 0 {
                continue;
            }
            let Some(node) = &info.node else { continue };
            let labels = &node.labels;
            for existing in &info.pods {
                if existing.uid == pod.uid || (!own && !existing.has_pod_affinity()) {
                    continue;
                }
                for (w, t) in &pod.preferred_affinity {
                    if t.matches(existing, ns) {
                        bump(&mut s.scores, &t.topology_key, labels, i64::from(*w));
                    }
                }
                for (w, t) in &pod.preferred_anti_affinity {
                    if t.matches(existing, ns) {
                        bump(&mut s.scores, &t.topology_key, labels, -i64::from(*w));
                    }
                }
                if !labels.is_empty() {
                    for t in &existing.affinity {
                        if t.matches(pod, ns) {
                            bump(
                                &mut s.scores,
                                &t.topology_key,
                                labels,
                                HARD_POD_AFFINITY_WEIGHT,
                            );
                        }
                    }
                }
                for (w, t) in &existing.preferred_affinity {
                    if t.matches(pod, ns) {
                        bump(&mut s.scores, &t.topology_key, labels, i64::from(*w));
                    }
                }
                for (w, t) in &existing.preferred_anti_affinity {
                    if t.matches(pod, ns) {
                        bump(&mut s.scores, &t.topology_key, labels, -i64::from(*w));
                    }
                }
            }
        }
        if s.scores.is_empty() {
            return None;
        }
        Some(s)
    }

    pub fn score(&self, info: &NodeInfo) -> i64 {
        let Some(node) = &info.node else { return 0 };
        self.scores
            .iter()
            .filter_map(|(k, m)| node.labels.get(k).and_then(|v| m.get(v)))
            .sum()
    }
}

/// Min-max normalisation to 0..=100 (scores may be negative).
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeData;
    use crate::plugins::testutil::*;
    use crate::plugins::Code;
    use serde_json::json;
    use std::sync::Arc;

    fn with_affinity(
        name: &str,
        labels: serde_json::Value,
        affinity: serde_json::Value,
    ) -> PodInfo {
        pod_json(json!({
            "metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels},
            "spec": {"containers": [{"name": "c"}], "affinity": affinity}
        }))
    }

    fn anti(app: &str, key: &str) -> serde_json::Value {
        json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}})
    }

    fn cache(nodes: Vec<NodeData>, pods: Vec<(PodInfo, &str)>) -> Cache {
        let mut c = Cache::new();
        for n in nodes {
            c.upsert_node(n);
        }
        for (mut p, n) in pods {
            p.node_name = n.into();
            c.update_bound_pod(Arc::new(p));
        }
        c
    }

    fn zones() -> Vec<NodeData> {
        vec![
            node("a1", &[("zone", "a"), ("kubernetes.io/hostname", "a1")]),
            node("a2", &[("zone", "a"), ("kubernetes.io/hostname", "a2")]),
            node("b1", &[("zone", "b"), ("kubernetes.io/hostname", "b1")]),
        ]
    }

    fn check(c: &Cache, p: &PodInfo, name: &str) -> Result<(), Status> {
        let s = FilterState::new(p, c).unwrap_or_default();
        let n = c
            .node(name)
            .and_then(|n| n.node.clone())
            .unwrap_or_default();
        s.filter(&n)
    }

    #[test]
    fn anti_affinity_by_zone() {
        let existing = pod_json(
            json!({"metadata": {"name": "w1", "uid": "w1", "namespace": "default", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}),
        );
        let c = cache(zones(), vec![(existing, "a1")]);
        let p = with_affinity("w2", json!({"app": "web"}), anti("web", "zone"));
        let err = check(&c, &p, "a2").err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(Code::Unschedulable));
        assert_eq!(
            err.map(|e| e.reasons[0].to_string()).as_deref(),
            Some(REASON_ANTI_AFFINITY)
        );
        assert!(check(&c, &p, "b1").is_ok());
        let other_ns = pod_json(json!({
            "metadata": {"name": "o", "namespace": "other", "uid": "o", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}], "affinity": anti("web", "zone")}
        }));
        assert!(
            check(&c, &other_ns, "a1").is_ok(),
            "terms default to the pod's namespace"
        );
    }

    #[test]
    fn existing_pods_anti_affinity_applies_to_incoming() {
        let existing = with_affinity(
            "db",
            json!({"app": "db"}),
            anti("web", "kubernetes.io/hostname"),
        );
        let c = cache(zones(), vec![(existing, "a1")]);
        let p = pod_json(
            json!({"metadata": {"name": "w", "uid": "w", "namespace": "default", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}),
        );
        assert_eq!(
            check(&c, &p, "a1")
                .err()
                .map(|e| e.reasons[0].to_string())
                .as_deref(),
            Some(REASON_EXISTING_ANTI_AFFINITY)
        );
        assert!(check(&c, &p, "a2").is_ok());
    }

    #[test]
    fn affinity_and_the_first_pod_of_a_group() {
        let aff = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "zone"}]}});
        let first = with_affinity("c1", json!({"app": "cache"}), aff.clone());
        let empty = cache(zones(), vec![]);
        assert!(
            check(&empty, &first, "a1").is_ok(),
            "matches itself: may start anywhere"
        );
        let stranger = with_affinity("x", json!({"app": "x"}), aff.clone());
        assert_eq!(
            check(&empty, &stranger, "a1")
                .err()
                .map(|e| (e.code, e.reasons[0].to_string())),
            Some((
                Code::UnschedulableAndUnresolvable,
                REASON_AFFINITY.to_string()
            ))
        );
        let c = cache(zones(), vec![(first, "b1")]);
        let second = with_affinity("c2", json!({"app": "cache"}), aff);
        assert!(check(&c, &second, "b1").is_ok());
        assert!(check(&c, &second, "a1").is_err());
    }

    #[test]
    fn namespace_selector() {
        let existing = pod_json(
            json!({"metadata": {"name": "w1", "uid": "w1", "namespace": "prod", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}),
        );
        let mut c = cache(zones(), vec![(existing, "a1")]);
        c.namespaces
            .insert("prod".into(), labels(&[("env", "prod")]));
        let sel = |s: serde_json::Value| {
            json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone", "namespaceSelector": s}]}})
        };
        let p = with_affinity("p", json!({}), sel(json!({"matchLabels": {"env": "prod"}})));
        assert!(check(&c, &p, "a2").is_err());
        let all = with_affinity("p", json!({}), sel(json!({})));
        assert!(
            check(&c, &all, "a2").is_err(),
            "an empty namespace selector selects all"
        );
        let none = with_affinity("p", json!({}), sel(json!({"matchLabels": {"env": "dev"}})));
        assert!(check(&c, &none, "a2").is_ok());
    }

    #[test]
    fn preferred_scores() {
        let existing = pod_json(
            json!({"metadata": {"name": "w1", "uid": "w1", "namespace": "default", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}),
        );
        let c = cache(zones(), vec![(existing, "a1")]);
        let p = with_affinity(
            "p",
            json!({}),
            json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}}]}}),
        );
        let Some(s) = ScoreState::new(&p, &c) else {
            panic!("expected a score state")
        };
        let mut scores: Vec<i64> = c.nodes().iter().map(|n| s.score(n)).collect();
        assert_eq!(scores, vec![-50, -50, 0]);
        normalize(&mut scores);
        assert_eq!(scores, vec![0, 0, 100]);
    }
}
