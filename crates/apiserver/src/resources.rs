//! The live resource registry: the built-in resources plus those of established
//! CustomResourceDefinitions. Routing and discovery read it; the CRD controller rebuilds it.
//!
//! CRD-derived entries are leaked to get the `&'static ResourceInfo` the rest of the server
//! uses; they change only when CRDs change, so the leak is bounded by CRD edits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rkube_apimachinery::registry::{self, ResourceInfo};
use serde_json::Value;

/// One served group with its versions, preferred first.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub versions: Vec<String>,
}

/// A CRD version's schema and printer columns.
#[derive(Clone, Debug)]
pub struct CrdVersion {
    pub schema: Option<Value>,
    pub printer_columns: Vec<Value>,
    /// `.spec.replicas`-style paths of the scale subresource, if any.
    pub scale: Option<Value>,
}

#[derive(Default)]
struct Dynamic {
    resources: Vec<&'static ResourceInfo>,
    groups: Vec<Group>,
    versions: HashMap<(String, String, String), Arc<CrdVersion>>,
}

#[derive(Default)]
pub struct Resources {
    dynamic: RwLock<Dynamic>,
}

impl Resources {
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
        registry::find(group, version, plural).or_else(|| {
            let d = self.dynamic.read().ok()?;
            d.resources
                .iter()
                .copied()
                .find(|r| r.group == group && r.version == version && r.plural == plural)
        })
    }

    /// Resources of one group-version, built-in or custom.
    pub fn resources_in(&self, group: &str, version: &str) -> Vec<&'static ResourceInfo> {
        let builtin = registry::resources_in(group, version);
        if !builtin.is_empty() {
            return builtin;
        }
        let Ok(d) = self.dynamic.read() else {
            return Vec::new();
        };
        let mut out: Vec<&'static ResourceInfo> = d
            .resources
            .iter()
            .copied()
            .filter(|r| r.group == group && r.version == version)
            .collect();
        out.sort_by_key(|r| r.plural);
        out
    }

    /// Every served group in discovery order: built-in first, then CRD groups.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = registry::groups()
            .into_iter()
            .map(|g| Group {
                name: g.name.to_string(),
                versions: g.versions.iter().map(|v| v.to_string()).collect(),
            })
            .collect();
        if let Ok(d) = self.dynamic.read() {
            out.extend(d.groups.iter().cloned());
        }
        out
    }

    pub fn crd_version(&self, group: &str, version: &str, plural: &str) -> Option<Arc<CrdVersion>> {
        let d = self.dynamic.read().ok()?;
        d.versions
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Replaces the custom resources with those of `crds` (established ones only).
    pub fn set_crds(&self, crds: &[Arc<Value>]) {
        let mut resources = Vec::new();
        let mut versions = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for crd in crds {
            let Some(parsed) = parse_crd(crd) else {
                continue;
            };
            for v in &parsed.versions {
                let info: &'static ResourceInfo = Box::leak(Box::new(ResourceInfo {
                    group: leak(&parsed.group),
                    version: leak(&v.name),
                    kind: leak(&parsed.kind),
                    plural: leak(&parsed.plural),
                    singular: leak(&parsed.singular),
                    namespaced: parsed.namespaced,
                    short_names: leak_list(&parsed.short_names),
                    categories: leak_list(&parsed.categories),
                    verbs: &[
                        "create",
                        "delete",
                        "deletecollection",
                        "get",
                        "list",
                        "patch",
                        "update",
                        "watch",
                    ],
                    subresources: leak_subresources(
                        &parsed.group,
                        &v.name,
                        &parsed.kind,
                        v.status,
                        v.scale.is_some(),
                    ),
                    storage_prefix: leak(&format!("{}/{}", parsed.group, parsed.plural)),
                }));
                resources.push(info);
                versions.insert(
                    (parsed.group.clone(), v.name.clone(), parsed.plural.clone()),
                    Arc::new(CrdVersion {
                        schema: v.schema.clone(),
                        printer_columns: v.printer_columns.clone(),
                        scale: v.scale.clone(),
                    }),
                );
            }
            let mut vs: Vec<String> = parsed.versions.iter().map(|v| v.name.clone()).collect();
            sort_versions(&mut vs);
            match groups.iter_mut().find(|g| g.name == parsed.group) {
                Some(g) => {
                    for v in vs {
                        if !g.versions.contains(&v) {
                            g.versions.push(v);
                        }
                    }
                    sort_versions(&mut g.versions);
                }
                None => groups.push(Group {
                    name: parsed.group.clone(),
                    versions: vs,
                }),
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        if let Ok(mut d) = self.dynamic.write() {
            *d = Dynamic {
                resources,
                groups,
                versions,
            };
        }
    }
}

struct ParsedVersion {
    name: String,
    schema: Option<Value>,
    printer_columns: Vec<Value>,
    status: bool,
    scale: Option<Value>,
}

struct ParsedCrd {
    group: String,
    kind: String,
    plural: String,
    singular: String,
    namespaced: bool,
    short_names: Vec<String>,
    categories: Vec<String>,
    versions: Vec<ParsedVersion>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_crd(crd: &Value) -> Option<ParsedCrd> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let versions = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .filter_map(|v| {
            Some(ParsedVersion {
                name: v.get("name")?.as_str()?.to_string(),
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                status: v.pointer("/subresources/status").is_some(),
                scale: v.pointer("/subresources/scale").cloned(),
            })
        })
        .collect();
    Some(ParsedCrd {
        group: spec.get("group")?.as_str()?.to_string(),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind,
        plural,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: strings(names.get("shortNames")),
        categories: strings(names.get("categories")),
        versions,
    })
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
fn sort_versions(vs: &mut [String]) {
    fn key(v: &str) -> (u8, u64, u64) {
        let rest = v.strip_prefix('v').unwrap_or("");
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major = digits.parse().unwrap_or(0);
        let tail = &rest[digits.len()..];
        let (level, minor) = if tail.is_empty() {
            (3, 0)
        } else if let Some(b) = tail.strip_prefix("beta") {
            (2, b.parse().unwrap_or(0))
        } else if let Some(a) = tail.strip_prefix("alpha") {
            (1, a.parse().unwrap_or(0))
        } else {
            (0, 0)
        };
        if digits.is_empty() {
            return (0, 0, 0);
        }
        (level, major, minor)
    }
    vs.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.cmp(b)));
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_list(v: &[String]) -> &'static [&'static str] {
    Box::leak(
        v.iter()
            .map(|s| leak(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

fn leak_subresources(
    group: &str,
    version: &str,
    kind: &str,
    status: bool,
    scale: bool,
) -> &'static [registry::SubresourceInfo] {
    let mut subs = Vec::new();
    if scale {
        subs.push(registry::SubresourceInfo {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: &["get", "patch", "update"],
        });
    }
    if status {
        subs.push(registry::SubresourceInfo {
            name: "status",
            group: leak(group),
            version: leak(version),
            kind: leak(kind),
            verbs: &["get", "patch", "update"],
        });
    }
    Box::leak(subs.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_resources_are_served() {
        let r = Resources::default();
        let crd = Arc::new(json!({"spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {"name": "v1beta1", "served": true, "storage": false},
            {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
        ]}}));
        r.set_crds(&[crd]);
        let w = r.find("example.com", "v1", "widgets").unwrap();
        assert_eq!(w.kind, "Widget");
        assert!(w.subresource("status").is_some());
        assert_eq!(
            w.storage_key(Some("ns"), "a").unwrap(),
            "/registry/example.com/widgets/ns/a"
        );
        let g = r
            .groups()
            .into_iter()
            .find(|g| g.name == "example.com")
            .unwrap();
        assert_eq!(g.versions, vec!["v1", "v1beta1"]);
    }
}
