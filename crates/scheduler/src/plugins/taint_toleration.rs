//! TaintToleration: NoSchedule and NoExecute taints must be tolerated; untolerated
//! PreferNoSchedule taints only lower the node's score.

use crate::node::NodeData;
use crate::pod::{PodInfo, Toleration};

/// The first NoSchedule/NoExecute taint the pod does not tolerate, in upstream's words.
pub fn filter(pod: &PodInfo, node: &NodeData) -> Result<(), super::Status> {
    let untolerated = node.taints.iter().find(|t| {
        (t.effect == "NoSchedule" || t.effect == "NoExecute")
            && !pod.tolerations.iter().any(|tol| tol.tolerates(t))
    });
    match untolerated {
        None => Ok(()),
        Some(t) => Err(super::Status::unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key, t.value
        ))),
    }
}

/// The number of PreferNoSchedule taints the pod does not tolerate (fewer is better; the
/// scores are normalised reversed).
pub fn score(pod: &PodInfo, node: &NodeData) -> i64 {
    if !node.taints.iter().any(|t| t.effect == "PreferNoSchedule") {
        return 0;
    }
    let tols: Vec<&Toleration> = pod
        .tolerations
        .iter()
        .filter(|t| t.effect.is_empty() || t.effect == "PreferNoSchedule")
        .collect();
    node.taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule" && !tols.iter().any(|tol| tol.tolerates(t)))
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::plugins::{default_normalize, Code};

    fn tol(key: &str, exists: bool, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: key.into(),
            exists,
            value: value.into(),
            effect: effect.into(),
        }
    }

    #[test]
    fn untolerated_taints_are_reported_with_key_and_value() {
        let n = tainted(node("n", &[]), "dedicated", "gpu", "NoSchedule");
        let mut p = pod("p", &[]);
        let err = filter(&p, &n).err();
        assert_eq!(
            err.as_ref().map(|e| e.code),
            Some(Code::UnschedulableAndUnresolvable)
        );
        assert_eq!(
            err.map(|e| e.reasons[0].to_string()).as_deref(),
            Some("node(s) had untolerated taint {dedicated: gpu}")
        );
        p.tolerations
            .push(tol("dedicated", false, "cpu", "NoSchedule"));
        assert!(filter(&p, &n).is_err(), "wrong value");
        p.tolerations.push(tol("dedicated", false, "gpu", ""));
        assert!(
            filter(&p, &n).is_ok(),
            "empty effect tolerates every effect"
        );
        let p2 = PodInfo {
            tolerations: vec![tol("", true, "", "")],
            ..pod("p2", &[])
        };
        assert!(
            filter(&p2, &n).is_ok(),
            "empty key with Exists tolerates everything"
        );
        let soft = tainted(node("s", &[]), "k", "", "PreferNoSchedule");
        assert!(filter(&pod("p", &[]), &soft).is_ok());
        let exec = tainted(
            node("e", &[]),
            "node.kubernetes.io/unreachable",
            "",
            "NoExecute",
        );
        assert_eq!(
            filter(&pod("p", &[]), &exec)
                .err()
                .map(|e| e.reasons[0].to_string())
                .as_deref(),
            Some("node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
        );
    }

    #[test]
    fn prefer_no_schedule_scores() {
        let p = pod("p", &[]);
        let a = node("a", &[]);
        let b = tainted(
            tainted(node("b", &[]), "x", "", "PreferNoSchedule"),
            "y",
            "",
            "PreferNoSchedule",
        );
        let c = tainted(node("c", &[]), "x", "", "PreferNoSchedule");
        let mut s = vec![score(&p, &a), score(&p, &b), score(&p, &c)];
        assert_eq!(s, vec![0, 2, 1]);
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 0, 50]);
        let tolerant = PodInfo {
            tolerations: vec![tol("x", true, "", "PreferNoSchedule")],
            ..pod("t", &[])
        };
        assert_eq!(score(&tolerant, &b), 1);
    }
}
