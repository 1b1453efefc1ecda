//! The scheduler cache: every node with the pods bound (or assumed) to it.
//!
//! It is owned by the scheduling loop alone (informer events reach it through a channel), so
//! a scheduling cycle reads it without locks or copies: it *is* the cycle's snapshot. A pod
//! is "assumed" on its node as soon as it is chosen, before the bind call returns, so the
//! next cycle already counts it; the informer's update confirms it and a failed bind forgets
//! it, as upstream's cache does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::node::{NodeData, NodeInfo};
use crate::pod::{Namespaces, PodInfo};

#[derive(Debug, Default)]
pub struct Cache {
    /// Nodes that exist, in a stable order (the filter walks them round-robin).
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Pods on nodes the cache has no Node object for (yet, or any more).
    orphans: HashMap<String, NodeInfo>,
    /// uid → node of every pod in the cache.
    pod_node: HashMap<String, String>,
    assumed: HashSet<String>,
    /// Pending pods nominated to a node by preemption, by node: the room they were promised
    /// is held for them against pods of lower priority.
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    nominated_node: HashMap<String, String>,
    /// Labels of every namespace, for affinity terms' namespace selectors.
    pub namespaces: Namespaces,
    /// PodDisruptionBudgets, which preemption tries not to break.
    pub budgets: crate::disruption::Budgets,
    /// Selectors of Services and controllers, for default topology spreading.
    pub workloads: crate::spreading::Workloads,
    /// The cached pods by namespace and labels, per node.
    label_groups: crate::spreading::LabelGroups,
    /// Nodes with a zone label: with none, default spreading by zone scores nothing.
    zoned_nodes: usize,
    /// Pods in the cluster with required anti-affinity: when zero, the inter-pod affinity
    /// filter has nothing to check for pods without affinity of their own.
    pods_with_required_anti_affinity: usize,
    pods_with_affinity: usize,
}

fn zoned(node: Option<&NodeData>) -> bool {
    node.is_some_and(|n| n.labels.contains_key(crate::spreading::ZONE_LABEL))
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes that exist, each with its pods.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// Uids of every pod in the cache.
    pub fn pod_uids(&self) -> Vec<String> {
        self.pod_node.keys().cloned().collect()
    }

    /// Whether any node carries a zone label.
    pub fn has_zones(&self) -> bool {
        self.zoned_nodes > 0
    }

    /// The pods grouped by namespace and labels.
    pub fn label_groups(&self) -> &crate::spreading::LabelGroups {
        &self.label_groups
    }

    pub fn pod_count(&self) -> usize {
        self.pod_node.len()
    }

    pub fn pods_with_required_anti_affinity(&self) -> usize {
        self.pods_with_required_anti_affinity
    }

    pub fn pods_with_affinity(&self) -> usize {
        self.pods_with_affinity
    }

    /// Adds or replaces a node (its pods stay).
    pub fn upsert_node(&mut self, data: NodeData) {
        let name = data.name.clone();
        let data = Arc::new(data);
        if zoned(Some(&data)) {
            self.zoned_nodes += 1;
        }
        if let Some(&i) = self.index.get(&name) {
            if zoned(self.nodes[i].node.as_deref()) {
                self.zoned_nodes -= 1;
            }
            self.nodes[i].node = Some(data);
            return;
        }
        let mut info = self
            .orphans
            .remove(&name)
            .unwrap_or_else(|| NodeInfo::new(None));
        info.node = Some(data);
        self.index.insert(name, self.nodes.len());
        self.nodes.push(info);
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let mut info = self.nodes.swap_remove(i);
        if zoned(info.node.as_deref()) {
            self.zoned_nodes -= 1;
        }
        if i < self.nodes.len() {
            let moved = self.nodes[i].name().to_string();
            self.index.insert(moved, i);
        }
        if !info.pods.is_empty() {
            info.node = None;
            self.orphans.insert(name.to_string(), info);
        }
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        match self.index.get(name) {
            Some(&i) => &mut self.nodes[i],
            None => self.orphans.entry(name.to_string()).or_default(),
        }
    }

    fn insert_pod(&mut self, pod: Arc<PodInfo>) {
        if pod.has_pod_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pod_node.insert(pod.uid.clone(), pod.node_name.clone());
        self.label_groups.update(&pod, 1);
        let node = pod.node_name.clone();
        self.node_mut(&node).add_pod(pod);
    }

    /// Removes a pod wherever it is; returns it when it was there.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        self.assumed.remove(uid);
        let node = self.pod_node.remove(uid)?;
        let removed = match self.index.get(&node) {
            Some(&i) => self.nodes[i].remove_pod(uid),
            None => {
                let r = self.orphans.get_mut(&node).and_then(|n| n.remove_pod(uid));
                if self.orphans.get(&node).is_some_and(|n| n.pods.is_empty()) {
                    self.orphans.remove(&node);
                }
                r
            }
        };
        if let Some(p) = &removed {
            self.label_groups.update(p, -1);
            if p.has_pod_affinity() {
                self.pods_with_affinity -= 1;
            }
            if !p.anti_affinity.is_empty() {
                self.pods_with_required_anti_affinity -= 1;
            }
        }
        removed
    }

    /// A bound pod from the informer: adds, replaces, or confirms an assumed pod. Pods that
    /// finished hold nothing and leave the cache.
    pub fn update_bound_pod(&mut self, pod: Arc<PodInfo>) {
        self.remove_pod(&pod.uid);
        self.clear_nomination(&pod.uid);
        if pod.terminal || pod.node_name.is_empty() {
            return;
        }
        self.insert_pod(pod);
    }

    /// Counts `pod` on `node` before the bind call returns.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) {
        let mut p = pod.clone();
        p.node_name = node.to_string();
        self.remove_pod(&p.uid);
        self.clear_nomination(&p.uid);
        self.assumed.insert(p.uid.clone());
        self.insert_pod(Arc::new(p));
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.assumed.contains(uid)
    }

    /// Drops an assumed pod whose bind failed.
    pub fn forget(&mut self, uid: &str) {
        if self.assumed.contains(uid) {
            self.remove_pod(uid);
        }
    }

    /// Records that `pod` was promised `node` (status.nominatedNodeName).
    pub fn nominate(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.clear_nomination(&pod.uid);
        if node.is_empty() {
            return;
        }
        self.nominated_node
            .insert(pod.uid.clone(), node.to_string());
        self.nominated
            .entry(node.to_string())
            .or_default()
            .push(pod);
    }

    pub fn clear_nomination(&mut self, uid: &str) {
        if let Some(node) = self.nominated_node.remove(uid) {
            if let Some(list) = self.nominated.get_mut(&node) {
                list.retain(|p| p.uid != uid);
                if list.is_empty() {
                    self.nominated.remove(&node);
                }
            }
        }
    }

    /// Pods nominated to `node`.
    pub fn nominated_on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map_or(&[], Vec::as_slice)
    }

    pub fn has_nominations(&self) -> bool {
        !self.nominated.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Resources;

    fn pod(uid: &str, node: &str, cpu: i64) -> Arc<PodInfo> {
        Arc::new(PodInfo {
            uid: uid.into(),
            node_name: node.into(),
            requests: Resources {
                milli_cpu: cpu,
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn node(name: &str) -> NodeData {
        NodeData {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn pods_before_their_node_and_after_it_goes() {
        let mut c = Cache::new();
        c.update_bound_pod(pod("a", "n1", 100));
        assert!(c.nodes().is_empty());
        c.upsert_node(node("n1"));
        c.upsert_node(node("n2"));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(100));
        c.remove_node("n1");
        assert_eq!(c.nodes().len(), 1);
        assert_eq!(c.nodes()[0].name(), "n2");
        c.upsert_node(node("n1"));
        assert_eq!(c.node("n1").map(|n| n.pods.len()), Some(1));
        assert!(c.remove_pod("a").is_some());
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(0));
    }

    #[test]
    fn assume_confirm_and_forget() {
        let mut c = Cache::new();
        c.upsert_node(node("n1"));
        let p = pod("a", "", 200);
        c.assume(&p, "n1");
        assert!(c.is_assumed("a"));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(200));
        c.forget("a");
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(0));
        c.assume(&p, "n1");
        c.update_bound_pod(pod("a", "n1", 200));
        assert!(!c.is_assumed("a"));
        c.forget("a");
        assert_eq!(
            c.node("n1").map(|n| n.requested.milli_cpu),
            Some(200),
            "a confirmed pod is not forgotten"
        );
        let mut done = (*pod("a", "n1", 200)).clone();
        done.terminal = true;
        c.update_bound_pod(Arc::new(done));
        assert_eq!(c.pod_count(), 0);
    }

    #[test]
    fn nominations() {
        let mut c = Cache::new();
        c.nominate(pod("a", "", 1), "n1");
        c.nominate(pod("a", "", 1), "n2");
        assert!(c.nominated_on("n1").is_empty());
        assert_eq!(c.nominated_on("n2").len(), 1);
        c.clear_nomination("a");
        assert!(!c.has_nominations());
    }
}
