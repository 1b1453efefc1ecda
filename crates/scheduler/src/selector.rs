//! Label selectors and node selector terms, compiled once per pod so that matching them
//! against thousands of nodes or pods does no parsing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

pub type Labels = BTreeMap<String, String>;

/// One requirement of a label or node selector.
#[derive(Clone, Debug, PartialEq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// Node selectors only: the label is an integer greater than the value.
    Gt(String, i64),
    Lt(String, i64),
    /// A malformed requirement: matches nothing (upstream rejects the selector).
    Never,
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::Gt(k, n) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
            Requirement::Never => false,
        }
    }

    fn compile(key: &str, op: &str, values: &[String]) -> Self {
        let key = key.to_string();
        let single_int = || {
            if values.len() == 1 {
                values[0].parse::<i64>().ok()
            } else {
                None
            }
        };
        match op {
            "In" if !values.is_empty() => Requirement::In(key, values.to_vec()),
            "NotIn" if !values.is_empty() => Requirement::NotIn(key, values.to_vec()),
            "Exists" if values.is_empty() => Requirement::Exists(key),
            "DoesNotExist" if values.is_empty() => Requirement::DoesNotExist(key),
            "Gt" => single_int().map_or(Requirement::Never, |n| Requirement::Gt(key, n)),
            "Lt" => single_int().map_or(Requirement::Never, |n| Requirement::Lt(key, n)),
            _ => Requirement::Never,
        }
    }
}

/// A compiled `metav1.LabelSelector`. An empty selector matches everything; a missing one
/// (`None` where it is optional) matches nothing, as upstream treats them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    reqs: Vec<Requirement>,
}

impl Selector {
    pub fn everything() -> Self {
        Selector::default()
    }

    pub fn compile(s: &LabelSelector) -> Self {
        let mut reqs = Vec::new();
        for (k, v) in s.match_labels.iter().flatten() {
            reqs.push(Requirement::In(k.clone(), vec![v.clone()]));
        }
        for LabelSelectorRequirement {
            key,
            operator,
            values,
        } in s.match_expressions.iter().flatten()
        {
            let values = values.clone().unwrap_or_default();
            let r = match operator.as_str() {
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {
                    Requirement::compile(key, operator, &values)
                }
                _ => Requirement::Never,
            };
            reqs.push(r);
        }
        Selector { reqs }
    }

    /// A set-based selector: every label must have its value (a Service's selector).
    pub fn from_labels(labels: &Labels) -> Self {
        Selector {
            reqs: labels
                .iter()
                .map(|(k, v)| Requirement::In(k.clone(), vec![v.clone()]))
                .collect(),
        }
    }

    /// Both selectors' requirements.
    pub fn and(mut self, other: &Selector) -> Self {
        self.reqs.extend(other.reqs.iter().cloned());
        self
    }

    /// No requirements: matches everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Adds `key in (value)` requirements (topology spread's `matchLabelKeys`).
    pub fn with_requirement(mut self, r: Requirement) -> Self {
        self.reqs.push(r);
        self
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.reqs.iter().all(|r| r.matches(labels))
    }
}

/// A compiled node selector term: label expressions and `metadata.name` field expressions.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTerm {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl NodeTerm {
    pub fn compile(t: &NodeSelectorTerm) -> Self {
        let comp = |rs: &Option<Vec<NodeSelectorRequirement>>| -> Vec<Requirement> {
            rs.iter()
                .flatten()
                .map(|r| {
                    Requirement::compile(&r.key, &r.operator, r.values.as_deref().unwrap_or(&[]))
                })
                .collect()
        };
        let fields = t
            .match_fields
            .iter()
            .flatten()
            .map(|r| {
                // Only metadata.name with In/NotIn and one value is valid upstream.
                let values = r.values.as_deref().unwrap_or(&[]);
                if r.key != "metadata.name" || values.len() != 1 {
                    return Requirement::Never;
                }
                Requirement::compile(&r.key, &r.operator, values)
            })
            .collect();
        NodeTerm {
            labels: comp(&t.match_expressions),
            fields,
        }
    }

    /// A term without requirements matches no node (upstream's rule).
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if self.labels.is_empty() && self.fields.is_empty() {
            return false;
        }
        if !self.labels.iter().all(|r| r.matches(labels)) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let fields: Labels = [("metadata.name".to_string(), node_name.to_string())].into();
        self.fields.iter().all(|r| r.matches(&fields))
    }
}

/// Required node affinity: the terms are ORed.
pub fn compile_node_selector(s: &NodeSelector) -> Vec<NodeTerm> {
    s.node_selector_terms
        .iter()
        .map(NodeTerm::compile)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn node_term_operators() {
        let l = labels(&[("zone", "a"), ("cores", "8")]);
        let term = |rs: Vec<NodeSelectorRequirement>| {
            NodeTerm::compile(&NodeSelectorTerm {
                match_expressions: Some(rs),
                match_fields: None,
            })
        };
        assert!(term(vec![req("zone", "In", &["a", "b"])]).matches("n", &l));
        assert!(!term(vec![req("zone", "NotIn", &["a"])]).matches("n", &l));
        assert!(term(vec![req("x", "NotIn", &["a"])]).matches("n", &l));
        assert!(term(vec![req("zone", "Exists", &[])]).matches("n", &l));
        assert!(term(vec![req("x", "DoesNotExist", &[])]).matches("n", &l));
        assert!(term(vec![req("cores", "Gt", &["4"])]).matches("n", &l));
        assert!(!term(vec![req("cores", "Lt", &["4"])]).matches("n", &l));
        assert!(!term(vec![req("cores", "Gt", &["x"])]).matches("n", &l));
        assert!(!term(vec![]).matches("n", &l), "empty term matches nothing");
        let by_name = NodeTerm::compile(&NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.name", "In", &["n1"])]),
        });
        assert!(by_name.matches("n1", &l));
        assert!(!by_name.matches("n2", &l));
    }

    #[test]
    fn label_selector() {
        let s = Selector::compile(&LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        });
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[])));
        assert!(Selector::compile(&LabelSelector::default()).matches(&labels(&[])));
    }
}
