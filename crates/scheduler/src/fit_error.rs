//! Why a pod fits no node, worded exactly as upstream's `FitError` so users (and tools that
//! parse the message) see what they know: "0/3 nodes are available: 1 node(s) were
//! unschedulable, 2 Insufficient cpu. preemption: ..."

use std::collections::HashMap;

use crate::plugins::Status;

/// Upstream's message when the cluster has no nodes at all.
pub const NO_NODES_MSG: &str = "no nodes available to schedule pods";

#[derive(Clone, Debug, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// The rejection of each node that was filtered, by node name.
    pub statuses: Vec<(String, Status)>,
    /// What preemption said ("preemption: ...").
    pub post_filter_msg: Option<String>,
}

/// "N reason" entries, counted and sorted as strings (upstream's `sort.Strings`).
pub fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in reasons {
        *counts.entry(r).or_insert(0) += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

fn separate(out: &mut String, msg: &str) {
    out.push(' ');
    out.push_str(msg.trim_end_matches('.'));
    out.push('.');
}

impl FitError {
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 {
            return NO_NODES_MSG.to_string();
        }
        let mut out = format!("0/{} nodes are available:", self.num_all_nodes);
        let reasons = self
            .statuses
            .iter()
            .flat_map(|(_, s)| s.reasons.iter().map(|r| r.as_ref()));
        let h = histogram(reasons);
        if !h.is_empty() {
            separate(&mut out, &h);
        }
        if let Some(p) = &self.post_filter_msg {
            separate(&mut out, p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::Status;

    fn st(reasons: &[&'static str]) -> Status {
        Status {
            code: crate::plugins::Code::Unschedulable,
            reasons: reasons.iter().map(|r| (*r).into()).collect(),
        }
    }

    #[test]
    fn upstream_format() {
        let e = FitError {
            num_all_nodes: 3,
            statuses: vec![
                ("a".into(), st(&["Insufficient memory"])),
                ("b".into(), st(&["Insufficient memory"])),
                ("c".into(), st(&["Insufficient memory"])),
            ],
            post_filter_msg: Some(
                "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
                    .into(),
            ),
        };
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn reasons_are_counted_and_sorted_as_strings() {
        let mut statuses = vec![("u".to_string(), st(&["node(s) were unschedulable"]))];
        for i in 0..10 {
            statuses.push((
                format!("n{i}"),
                st(&["Insufficient cpu", "Insufficient memory"]),
            ));
        }
        statuses.push((
            "t".into(),
            st(&["node(s) had untolerated taint {dedicated: gpu}"]),
        ));
        statuses.push((
            "t2".into(),
            st(&["node(s) had untolerated taint {dedicated: gpu}"]),
        ));
        let e = FitError {
            num_all_nodes: 13,
            statuses,
            post_filter_msg: None,
        };
        assert_eq!(
            e.message(),
            "0/13 nodes are available: 1 node(s) were unschedulable, 10 Insufficient cpu, 10 Insufficient memory, 2 node(s) had untolerated taint {dedicated: gpu}."
        );
        assert_eq!(FitError::default().message(), NO_NODES_MSG);
    }
}
