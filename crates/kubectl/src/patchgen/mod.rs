//! Patches computed on the client, as kubectl computes them: the three-way patches of
//! `apply` (last-applied configuration, new manifest, live object) and the two-way patches
//! of `edit`.
//!
//! Built-in kinds get strategic merge patches driven by the merge keys and strategies of
//! their Go types; custom resources get JSON merge patches. The server applies either, so
//! what matters here is producing the same patch kubectl sends: the same list order, the
//! same directives, and `{}` exactly when kubectl would send nothing ("unchanged").

pub mod merge;
pub mod strategic;
mod strategic_merge;

use serde_json::Value;

use rkube_apimachinery::patch::schema::Schema;

use crate::ctx::{MERGE_PATCH, STRATEGIC_PATCH};

/// The patch kubectl sends for one object and its content type.
pub struct Computed {
    pub patch: Value,
    pub content_type: &'static str,
}

impl Computed {
    /// `{}`: nothing to send.
    pub fn is_empty(&self) -> bool {
        self.patch.as_object().is_some_and(|m| m.is_empty())
    }
}

/// The three-way patch of `kubectl apply`: strategic for kinds with compiled-in merge
/// metadata, JSON merge patch otherwise.
pub fn three_way(
    gvk: (&str, &str, &str),
    original: &Value,
    modified: &Value,
    current: &Value,
) -> Result<Computed, String> {
    match Schema::for_kind(gvk.0, gvk.1, gvk.2) {
        Some(schema) => Ok(Computed {
            patch: strategic::three_way(original, modified, current, schema)?,
            content_type: STRATEGIC_PATCH,
        }),
        None => Ok(Computed {
            patch: merge::three_way(original, modified, current)?,
            content_type: MERGE_PATCH,
        }),
    }
}

/// The two-way patch of `kubectl edit` (and `replace`-like diffs) from `original` to
/// `modified`.
pub fn two_way(
    gvk: (&str, &str, &str),
    original: &Value,
    modified: &Value,
) -> Result<Computed, String> {
    match Schema::for_kind(gvk.0, gvk.1, gvk.2) {
        Some(schema) => Ok(Computed {
            patch: strategic::two_way(original, modified, schema)?,
            content_type: STRATEGIC_PATCH,
        }),
        None => Ok(Computed {
            patch: merge::two_way(original, modified),
            content_type: MERGE_PATCH,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patch kubectl 1.32 sent (recorded with -v=8) when applying
    /// `new-deployment.json` over a Deployment applied from a manifest with another label,
    /// one more env var and a second container.
    #[test]
    fn apply_patch_matches_kubectl_byte_for_byte() {
        let parse =
            |s: &str| -> Value { serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}")) };
        let live = parse(include_str!("testdata/live-deployment.json"));
        let new = parse(include_str!("testdata/new-deployment.json"));
        let expected = include_str!("testdata/kubectl-patch-deployment.json").trim();
        let original = parse(
            live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .unwrap_or_default(),
        );
        let modified =
            crate::cmd::apply::modified_configuration(&new).unwrap_or_else(|e| panic!("{e}"));
        let p = three_way(("apps", "v1", "Deployment"), &original, &modified, &live)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.content_type, STRATEGIC_PATCH);
        assert_eq!(crate::printer::go_json(&p.patch), expected);
    }
}
