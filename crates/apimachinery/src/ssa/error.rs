//! Why an apply fails: field conflicts in upstream's wording, and the Status to answer.

use crate::ssa::managed::{ManagerId, Operation};
use crate::ssa::path::Path;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One field another manager owns and the request would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Manager name.
    pub manager: String,
    /// Whether that manager applied or updated the field.
    pub operation: Operation,
    /// apiVersion of the owning entry (reported for updaters only, as upstream does).
    pub api_version: Option<String>,
    /// Subresource of the owning entry, if any.
    pub subresource: Option<String>,
    /// The contested field.
    pub path: Path,
    id: ManagerId,
}

impl Conflict {
    pub(crate) fn new(id: &ManagerId, path: Path) -> Self {
        Conflict {
            manager: id.manager.clone(),
            operation: id.operation,
            api_version: (id.operation == Operation::Update).then(|| id.api_version.clone()),
            subresource: (!id.subresource.is_empty()).then(|| id.subresource.clone()),
            path,
            id: id.clone(),
        }
    }

    /// The field in upstream notation, e.g. `.spec.replicas` (Status cause `field`).
    pub fn field(&self) -> String {
        self.path.to_string()
    }

    /// The Status cause message, e.g. `conflict with "kubectl-client-side-apply" using
    /// apps/v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.id.display())
    }
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (HTTP 409).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request is malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The object does not fit its schema, or stored managedFields are unreadable
    /// (upstream reports these as HTTP 500 Internal Server Error).
    #[error("{0}")]
    Invalid(String),
}

/// Upstream's `getConflictMessage`.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!("Apply failed with 1 conflict: {}: {}", c.message(), c.path);
    }
    let mut by_manager: BTreeMap<String, (&ManagerId, Vec<&Path>)> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(c.id.identifier())
            .or_insert_with(|| (&c.id, Vec::new()))
            .1
            .push(&c.path);
    }
    let mut lines = Vec::new();
    for (id, paths) in by_manager.values() {
        lines.push(format!("conflicts with {}:", id.display()));
        for p in paths {
            lines.push(format!("- {p}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

impl ApplyError {
    /// HTTP status code upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::Invalid(_) => 500,
        }
    }

    /// The `meta/v1` Status body upstream returns.
    pub fn status(&self) -> Value {
        let (reason, details) = match self {
            ApplyError::Conflicts(cs) => {
                let causes: Vec<Value> = cs
                    .iter()
                    .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message(), "field": c.field()}))
                    .collect();
                (Some("Conflict"), Some(json!({"causes": causes})))
            }
            ApplyError::BadRequest(_) => (Some("BadRequest"), None),
            ApplyError::Invalid(_) => (None, None),
        };
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.to_string()));
        if let Some(r) = reason {
            s.insert("reason".into(), json!(r));
        }
        if let Some(d) = details {
            s.insert("details".into(), d);
        }
        s.insert("code".into(), json!(self.code()));
        Value::Object(s)
    }
}
