//! NodeUnschedulable (cordoned nodes) and NodeName (a pod asking for one node).

use crate::node::NodeData;
use crate::pod::{tolerated, PodInfo, Taint};

pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const REASON_NODE_NAME: &str = "node(s) didn't match the requested node name";

/// A cordoned node takes only pods tolerating `node.kubernetes.io/unschedulable:NoSchedule`.
pub fn filter(pod: &PodInfo, node: &NodeData) -> Result<(), super::Status> {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        value: String::new(),
        effect: "NoSchedule".into(),
    };
    if tolerated(&pod.tolerations, &taint) {
        return Ok(());
    }
    Err(super::Status::unresolvable(REASON_UNSCHEDULABLE))
}

/// A pod with `spec.nodeName` fits only that node. (Pending pods have none; kept for the
/// preemption and benchmark paths that reuse the filters.)
pub fn filter_node_name(pod: &PodInfo, node: &NodeData) -> Result<(), super::Status> {
    if pod.node_name.is_empty() || pod.node_name == node.name {
        return Ok(());
    }
    Err(super::Status::unresolvable(REASON_NODE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::plugins::Code;
    use crate::pod::Toleration;

    #[test]
    fn cordoned_nodes_need_the_toleration() {
        let mut n = node("n", &[]);
        let mut p = pod("p", &[]);
        assert!(filter(&p, &n).is_ok());
        n.unschedulable = true;
        let err = filter(&p, &n).err();
        assert_eq!(
            err.as_ref().map(|e| e.code),
            Some(Code::UnschedulableAndUnresolvable)
        );
        assert_eq!(
            err.map(|e| e.reasons[0].to_string()).as_deref(),
            Some(REASON_UNSCHEDULABLE)
        );
        p.tolerations.push(Toleration {
            key: "node.kubernetes.io/unschedulable".into(),
            exists: true,
            value: String::new(),
            effect: "NoSchedule".into(),
        });
        assert!(filter(&p, &n).is_ok());
    }

    #[test]
    fn node_name() {
        let mut p = pod("p", &[]);
        p.node_name = "a".into();
        assert!(filter_node_name(&p, &node("a", &[])).is_ok());
        assert!(filter_node_name(&p, &node("b", &[])).is_err());
    }
}
