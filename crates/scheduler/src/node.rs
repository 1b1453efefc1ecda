//! A node with what is placed on it: the scheduler cache's unit, kept up to date
//! incrementally (a pod added or removed adjusts the sums) so filters read totals directly.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::pod::{HostPort, PodInfo, Taint};
use crate::resources::{quantity_value, Resources};
use crate::selector::Labels;

/// The parts of a Node object the scheduler reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeData {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
}

impl NodeData {
    pub fn from_node(n: &Node) -> Self {
        let spec = n.spec.clone().unwrap_or_default();
        let alloc = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.clone())
            .unwrap_or_default();
        NodeData {
            name: n.metadata.name.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .taints
                .iter()
                .flatten()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone().unwrap_or_default(),
                    effect: t.effect.clone(),
                })
                .collect(),
            unschedulable: spec.unschedulable.unwrap_or(false),
            allowed_pods: alloc.get("pods").map_or(0, |q| quantity_value("pods", q)),
            allocatable: Resources::from_list(&alloc),
        }
    }
}

/// A node and the pods the scheduler knows (or assumes) run on it.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// `None` while pods name a node the informer has not delivered (or has deleted).
    pub node: Option<Arc<NodeData>>,
    pub pods: Vec<Arc<PodInfo>>,
    pub requested: Resources,
    pub non_zero_cpu: i64,
    pub non_zero_mem: i64,
    pub used_ports: Vec<HostPort>,
    /// Pods with any pod (anti-)affinity, so scoring can skip nodes without them.
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn new(node: Option<Arc<NodeData>>) -> Self {
        NodeInfo {
            node,
            ..Default::default()
        }
    }

    pub fn name(&self) -> &str {
        self.node.as_ref().map_or("", |n| n.name.as_str())
    }

    pub fn add_pod(&mut self, p: Arc<PodInfo>) {
        self.requested.add(&p.requests);
        self.non_zero_cpu += p.non_zero_cpu;
        self.non_zero_mem += p.non_zero_mem;
        self.used_ports.extend(p.host_ports.iter().cloned());
        if p.has_pod_affinity() {
            self.pods_with_affinity += 1;
        }
        if !p.anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(p);
    }

    /// Removes the pod with `uid`; returns it when it was there.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let p = self.pods.swap_remove(i);
        self.requested.sub(&p.requests);
        self.non_zero_cpu -= p.non_zero_cpu;
        self.non_zero_mem -= p.non_zero_mem;
        for hp in &p.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if p.has_pod_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !p.anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        Some(p)
    }
}
