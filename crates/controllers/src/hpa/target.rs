//! The scale target: its `scale` subresource (any kind that has one) and the label
//! selector string a Scale reports.

use anyhow::{anyhow, Context};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::Client;

use crate::util::Selector;

/// The API of the target's kind in `ns` (well-known kinds without a discovery round trip).
pub async fn api_for(
    client: &Client,
    ns: &str,
    api_version: &str,
    kind: &str,
) -> anyhow::Result<Api<DynamicObject>> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = match (group, kind) {
        ("apps", "Deployment") => Some("deployments"),
        ("apps", "ReplicaSet") => Some("replicasets"),
        ("apps", "StatefulSet") => Some("statefulsets"),
        ("", "ReplicationController") => Some("replicationcontrollers"),
        _ => None,
    };
    let ar = match plural {
        Some(p) => ApiResource::from_gvk_with_plural(&gvk, p),
        None => kube::discovery::pinned_kind(client, &gvk)
            .await
            .map(|(ar, _)| ar)
            .with_context(|| format!("no resource for {api_version} {kind}"))?,
    };
    Ok(Api::namespaced_with(client.clone(), ns, &ar))
}

/// Splits on commas outside parentheses.
fn split_requirements(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect()
}

fn requirement(key: &str, op: &str, values: Vec<String>) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.trim().to_string(),
        operator: op.to_string(),
        values: Some(values),
    }
}

/// Parses label selector syntax (`a=b,c!=d,e in (f,g),h notin (i),j,!k`).
pub fn parse_selector(s: &str) -> anyhow::Result<Selector> {
    let mut exprs = Vec::new();
    for r in split_requirements(s) {
        let set = |op: &str, key: &str, rest: &str| -> anyhow::Result<LabelSelectorRequirement> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .ok_or_else(|| anyhow!("invalid selector requirement {r:?}"))?;
            let values = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            Ok(requirement(key, op, values))
        };
        let req = if let Some((k, rest)) = r.split_once(" notin ") {
            set("NotIn", k, rest)?
        } else if let Some((k, rest)) = r.split_once(" in ") {
            set("In", k, rest)?
        } else if let Some((k, v)) = r.split_once("!=") {
            requirement(k, "NotIn", vec![v.trim().to_string()])
        } else if let Some((k, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
            requirement(k, "In", vec![v.trim().to_string()])
        } else if let Some(k) = r.strip_prefix('!') {
            LabelSelectorRequirement {
                key: k.trim().into(),
                operator: "DoesNotExist".into(),
                values: None,
            }
        } else {
            LabelSelectorRequirement {
                key: r.into(),
                operator: "Exists".into(),
                values: None,
            }
        };
        exprs.push(req);
    }
    Selector::parse(&LabelSelector {
        match_labels: None,
        match_expressions: Some(exprs),
    })
    .map_err(|e| anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator() {
        let s =
            parse_selector("app=web, tier in (fe, be),env notin (dev),track!=canary,owner,!legacy")
                .unwrap();
        let good = labels(&[
            ("app", "web"),
            ("tier", "be"),
            ("env", "prod"),
            ("owner", "x"),
        ]);
        assert!(s.matches(Some(&good)));
        let mut bad = good.clone();
        bad.insert("legacy".into(), "1".into());
        assert!(!s.matches(Some(&bad)));
        let mut bad = good.clone();
        bad.insert("env".into(), "dev".into());
        assert!(!s.matches(Some(&bad)));
        let mut bad = good;
        bad.remove("owner");
        assert!(!s.matches(Some(&bad)));
        assert!(parse_selector("").unwrap().is_empty());
        assert!(parse_selector("a in b").is_err());
    }
}
