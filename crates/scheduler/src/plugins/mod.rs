//! Filter and score plugins of upstream's default profile, in upstream's order.
//!
//! A filter says whether a pod may run on a node (and why not, in upstream's words); a score
//! ranks the nodes that passed. Both read the precomputed [`PodInfo`] and [`NodeInfo`] only;
//! plugins that look at other pods (inter-pod affinity, topology spread) first build a
//! per-cycle state over the whole cache once ("PreFilter"/"PreScore"), so the per-node work
//! is a few map look-ups.

use std::borrow::Cow;

use crate::cache::Cache;
use crate::node::{NodeData, NodeInfo};
use crate::pod::{Namespaces, PodInfo};

pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_ports;
pub mod node_resources;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

/// Upstream's highest node score.
pub const MAX_NODE_SCORE: i64 = 100;

/// Weights of the score plugins in upstream's default profile.
pub mod weights {
    pub const TAINT_TOLERATION: i64 = 3;
    pub const NODE_AFFINITY: i64 = 2;
    pub const NODE_RESOURCES_FIT: i64 = 1;
    pub const POD_TOPOLOGY_SPREAD: i64 = 2;
    pub const INTER_POD_AFFINITY: i64 = 2;
    pub const BALANCED_ALLOCATION: i64 = 1;
}

/// Why a filter rejected a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Preemption might help (removing pods could make room).
    Unschedulable,
    /// Preemption cannot help (labels, taints, ...).
    UnschedulableAndUnresolvable,
}

/// A filter's rejection: a code and upstream's reason strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Status {
    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Self {
        Status {
            code,
            reasons: vec![reason.into()],
        }
    }

    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Unschedulable, reason)
    }

    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, reason)
    }
}

/// Per-cycle state of the filters that look at other pods.
#[derive(Clone, Debug, Default)]
pub struct CycleState {
    pub inter_pod: Option<inter_pod_affinity::FilterState>,
    pub spread: Option<pod_topology_spread::FilterState>,
}

impl CycleState {
    /// PreFilter: computes the state for `pod` over the whole cache.
    pub fn new(pod: &PodInfo, cache: &Cache) -> Self {
        CycleState {
            inter_pod: inter_pod_affinity::FilterState::new(pod, cache),
            spread: pod_topology_spread::FilterState::new(pod, cache),
        }
    }

    /// Accounts for `other` being added (`delta` 1) to or removed (-1) from `node`, as
    /// preemption and nominated pods need (upstream's AddPod/RemovePod extensions).
    pub fn update(
        &mut self,
        pod: &PodInfo,
        other: &PodInfo,
        node: &NodeData,
        ns: &Namespaces,
        delta: i64,
    ) {
        if let Some(s) = &mut self.inter_pod {
            s.update(pod, other, &node.labels, ns, delta);
        }
        if let Some(s) = &mut self.spread {
            s.update(pod, other, node, delta);
        }
    }
}

/// Runs every filter in upstream's order and stops at the first rejection, as upstream does.
pub fn run_filters(pod: &PodInfo, state: &CycleState, info: &NodeInfo) -> Result<(), Status> {
    let Some(node) = info.node.as_deref() else {
        return Err(Status::unresolvable("node(s) not found"));
    };
    node_unschedulable::filter(pod, node)?;
    node_unschedulable::filter_node_name(pod, node)?;
    taint_toleration::filter(pod, node)?;
    node_affinity::filter(pod, node)?;
    node_ports::filter(pod, info)?;
    node_resources::filter(pod, info, node)?;
    if let Some(s) = &state.spread {
        s.filter(pod, node)?;
    }
    if let Some(s) = &state.inter_pod {
        s.filter(node)?;
    }
    Ok(())
}

/// Upstream's `DefaultNormalizeScore`: scales to 0..=100 by the maximum, optionally reversed.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::sync::Arc;

    use crate::node::{NodeData, NodeInfo};
    use crate::pod::{PodInfo, Taint};
    use crate::resources::Resources;
    use crate::selector::Labels;

    pub fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn node(name: &str, kv: &[(&str, &str)]) -> NodeData {
        NodeData {
            name: name.into(),
            labels: labels(kv),
            allocatable: Resources {
                milli_cpu: 4000,
                memory: 8 << 30,
                ..Default::default()
            },
            allowed_pods: 110,
            ..Default::default()
        }
    }

    pub fn tainted(mut n: NodeData, key: &str, value: &str, effect: &str) -> NodeData {
        n.taints.push(Taint {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        });
        n
    }

    pub fn info(n: NodeData, pods: Vec<PodInfo>) -> NodeInfo {
        let mut i = NodeInfo::new(Some(Arc::new(n)));
        for p in pods {
            i.add_pod(Arc::new(p));
        }
        i
    }

    pub fn pod(name: &str, kv: &[(&str, &str)]) -> PodInfo {
        PodInfo {
            uid: format!("uid-{name}"),
            name: name.into(),
            namespace: "default".into(),
            labels: labels(kv),
            scheduler_name: "default-scheduler".into(),
            ..Default::default()
        }
    }

    /// Parses a pod from JSON through the same path the informer uses.
    pub fn pod_json(v: serde_json::Value) -> PodInfo {
        let p: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(v).unwrap_or_else(|e| panic!("test pod: {e}"));
        PodInfo::from_pod(&p)
    }
}
