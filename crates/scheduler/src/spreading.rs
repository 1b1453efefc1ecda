//! Upstream's system default topology spreading: a pod without topologySpreadConstraints
//! of its own is spread as if it had `kubernetes.io/hostname` maxSkew 3 and
//! `topology.kubernetes.io/zone` maxSkew 5, both ScheduleAnyway, over the pods that its
//! Services and its controller (ReplicaSet, StatefulSet, ReplicationController) select
//! (upstream's `DefaultSelector`). Scoring only; a pod nothing selects is not spread.
//!
//! Counting the selected pods per node on every scheduling cycle would walk every pod in
//! the cluster, so the cache keeps pods grouped by namespace and labels ([`LabelGroups`]):
//! a selector is matched once per group, and the pods of one ReplicaSet form one group.

use std::collections::HashMap;

use crate::pod::{PodInfo, SpreadConstraint};
use crate::selector::{Labels, Selector};

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The kinds whose selectors make up a default selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    ReplicaSet,
    StatefulSet,
    ReplicationController,
}

/// (kind, namespace, name).
pub type WorkloadKey = (Kind, String, String);

/// Selectors of the Services and controllers in the cluster.
#[derive(Debug, Default)]
pub struct Workloads {
    selectors: HashMap<WorkloadKey, Selector>,
    /// Services by namespace: a pod's Services are found by matching each of them.
    services: HashMap<String, HashMap<String, Selector>>,
}

impl Workloads {
    pub fn upsert(&mut self, key: WorkloadKey, selector: Selector) {
        if key.0 == Kind::Service {
            self.services
                .entry(key.1.clone())
                .or_default()
                .insert(key.2.clone(), selector.clone());
        }
        self.selectors.insert(key, selector);
    }

    pub fn remove(&mut self, key: &WorkloadKey) {
        if key.0 == Kind::Service {
            if let Some(m) = self.services.get_mut(&key.1) {
                m.remove(&key.2);
                if m.is_empty() {
                    self.services.remove(&key.1);
                }
            }
        }
        self.selectors.remove(key);
    }

    /// Replaces every entry of `kind` (a relist).
    pub fn replace(&mut self, kind: Kind, all: Vec<(WorkloadKey, Selector)>) {
        let stale: Vec<WorkloadKey> = self
            .selectors
            .keys()
            .filter(|k| k.0 == kind)
            .cloned()
            .collect();
        for k in stale {
            self.remove(&k);
        }
        for (k, s) in all {
            self.upsert(k, s);
        }
    }

    /// Upstream's `DefaultSelector`: the selectors of the Services that select the pod,
    /// and of its controller. `None` when that is empty.
    pub fn default_selector(&self, pod: &PodInfo) -> Option<Selector> {
        let mut sel = Selector::everything();
        for s in self
            .services
            .get(&pod.namespace)
            .into_iter()
            .flat_map(|m| m.values())
        {
            if !s.is_empty() && s.matches(&pod.labels) {
                sel = sel.and(s);
            }
        }
        if let Some((group, kind, name)) = &pod.controller {
            let kind = match (group.as_str(), kind.as_str()) {
                ("apps", "ReplicaSet") => Some(Kind::ReplicaSet),
                ("apps", "StatefulSet") => Some(Kind::StatefulSet),
                ("", "ReplicationController") => Some(Kind::ReplicationController),
                _ => None,
            };
            if let Some(s) = kind.and_then(|k| {
                self.selectors
                    .get(&(k, pod.namespace.clone(), name.clone()))
            }) {
                sel = sel.and(s);
            }
        }
        (!sel.is_empty()).then_some(sel)
    }
}

/// The system default constraints over `selector`. Without `zones` (no node has a zone
/// label) the zone constraint is left out: it would score nothing on any node.
pub fn default_constraints(selector: Selector, zones: bool) -> Vec<SpreadConstraint> {
    [
        (crate::plugins::pod_topology_spread::HOSTNAME_LABEL, 3),
        (ZONE_LABEL, 5),
    ]
    .into_iter()
    .take(if zones { 2 } else { 1 })
    .map(|(key, skew)| SpreadConstraint {
        max_skew: skew,
        topology_key: key.to_string(),
        hard: false,
        selector: Some(selector.clone()),
        min_domains: None,
        honor_node_affinity: true,
        honor_taints: false,
    })
    .collect()
}

/// Pods that count for spreading (not terminating), by namespace and labels, counted per
/// node.
#[derive(Debug, Default)]
pub struct LabelGroups {
    groups: HashMap<String, HashMap<Labels, HashMap<String, i64>>>,
}

impl LabelGroups {
    /// Adds (`delta` 1) or removes (-1) a pod on its node.
    pub fn update(&mut self, pod: &PodInfo, delta: i64) {
        if pod.terminating || pod.node_name.is_empty() {
            return;
        }
        let by_labels = self.groups.entry(pod.namespace.clone()).or_default();
        let nodes = match by_labels.get_mut(&pod.labels) {
            Some(n) => n,
            None => by_labels.entry(pod.labels.clone()).or_default(),
        };
        let n = nodes.entry(pod.node_name.clone()).or_insert(0);
        *n += delta;
        if *n <= 0 {
            nodes.remove(&pod.node_name);
            if nodes.is_empty() {
                by_labels.remove(&pod.labels);
                if by_labels.is_empty() {
                    self.groups.remove(&pod.namespace);
                }
            }
        }
    }

    /// Pods in `namespace` that `selector` selects, per node.
    pub fn per_node(&self, namespace: &str, selector: &Selector) -> HashMap<&str, i64> {
        let mut matched = self
            .groups
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(labels, _)| selector.matches(labels))
            .map(|(_, nodes)| nodes);
        let Some(first) = matched.next() else {
            return HashMap::new();
        };
        let mut out: HashMap<&str, i64> = HashMap::with_capacity(first.len());
        out.extend(first.iter().map(|(k, v)| (k.as_str(), *v)));
        for nodes in matched {
            for (node, n) in nodes {
                *out.entry(node.as_str()).or_insert(0) += n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;

    fn on(name: &str, node: &str, kv: &[(&str, &str)]) -> PodInfo {
        PodInfo {
            node_name: node.into(),
            ..pod(name, kv)
        }
    }

    #[test]
    fn default_selector_merges_services_and_the_controller() {
        let mut w = Workloads::default();
        let labels = |kv: &[(&str, &str)]| -> Labels {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        w.upsert(
            (Kind::Service, "default".into(), "web".into()),
            Selector::from_labels(&labels(&[("app", "web")])),
        );
        w.upsert(
            (Kind::Service, "default".into(), "other".into()),
            Selector::from_labels(&labels(&[("app", "other")])),
        );
        w.upsert(
            (Kind::ReplicaSet, "default".into(), "web-1".into()),
            Selector::from_labels(&labels(&[("app", "web"), ("hash", "1")])),
        );
        let mut p = pod("p", &[("app", "web"), ("hash", "1")]);
        assert!(w.default_selector(&pod("bare", &[("x", "y")])).is_none());
        let by_service = w.default_selector(&p).unwrap();
        assert!(by_service.matches(&labels(&[("app", "web"), ("hash", "2")])));
        p.controller = Some(("apps".into(), "ReplicaSet".into(), "web-1".into()));
        let both = w.default_selector(&p).unwrap();
        assert!(!both.matches(&labels(&[("app", "web"), ("hash", "2")])));
        assert!(both.matches(&labels(&[("app", "web"), ("hash", "1")])));
        w.replace(Kind::Service, Vec::new());
        p.controller = None;
        assert!(w.default_selector(&p).is_none());
    }

    #[test]
    fn label_groups_count_per_node() {
        let mut g = LabelGroups::default();
        for (i, n) in ["a", "a", "b"].iter().enumerate() {
            g.update(&on(&format!("w{i}"), n, &[("app", "web")]), 1);
        }
        g.update(&on("d", "a", &[("app", "db")]), 1);
        let sel = Selector::from_labels(&[("app".to_string(), "web".to_string())].into());
        let counts = g.per_node("default", &sel);
        assert_eq!((counts["a"], counts["b"]), (2, 1));
        assert!(g.per_node("other", &sel).is_empty());
        g.update(&on("w0", "a", &[("app", "web")]), -1);
        g.update(&on("w2", "b", &[("app", "web")]), -1);
        let counts = g.per_node("default", &sel);
        assert_eq!(counts.get("a"), Some(&1));
        assert_eq!(counts.get("b"), None);
        let mut gone = on("t", "a", &[("app", "web")]);
        gone.terminating = true;
        g.update(&gone, 1);
        assert_eq!(
            g.per_node("default", &sel)["a"],
            1,
            "terminating pods do not count"
        );
    }
}
