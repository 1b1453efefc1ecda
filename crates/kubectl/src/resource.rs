//! Resource types as kubectl names them (`po`, `deploy`, `deployments.apps`,
//! `deployment.v1.apps`, a kind, a CRD's plural) and the URLs they live at.
//!
//! Built-in types resolve from the compiled-in registry without a request, which is most of
//! why `get pods` is fast; anything else (custom resources, aggregated APIs) resolves through
//! the server's discovery documents, fetched once per run.

use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{Error, Result};

/// One resource type in one group-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
}

impl ResourceType {
    fn from_builtin(r: &rkube_apimachinery::registry::ResourceInfo) -> Self {
        ResourceType {
            group: r.group.into(),
            version: r.version.into(),
            kind: r.kind.into(),
            plural: r.plural.into(),
            singular: r.singular.into(),
            namespaced: r.namespaced,
            short_names: r.short_names.iter().map(|s| s.to_string()).collect(),
            categories: r.categories.iter().map(|s| s.to_string()).collect(),
            verbs: r.verbs.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection URL, in `ns` when the type is namespaced (`None`: all namespaces).
    pub fn collection_path(&self, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{ns}/{}", self.prefix(), self.plural)
            }
            _ => format!("{}/{}", self.prefix(), self.plural),
        }
    }

    /// One object's URL.
    pub fn object_path(&self, ns: &str, name: &str) -> String {
        format!("{}/{}", self.collection_path(Some(ns)), name)
    }

    /// `deployments.apps`, `pods` — how server messages and kubectl name the resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `deployment.apps`, `pod` — the prefix of `-o name` and of multi-type tables.
    pub fn kind_prefix(&self) -> String {
        let k = self.kind.to_lowercase();
        if self.group.is_empty() {
            k
        } else {
            format!("{k}.{}", self.group)
        }
    }

    fn matches(&self, name: &str) -> bool {
        let n = name.to_lowercase();
        self.plural == n
            || self.singular == n
            || self.kind.to_lowercase() == n
            || self.short_names.contains(&n)
    }
}

/// Resolves type names, fetching discovery only when the built-in table does not know one.
#[derive(Default)]
pub struct Resolver {
    discovered: Option<Vec<ResourceType>>,
    /// Types of group-versions fetched one by one for manifests' `apiVersion`s.
    by_version: Vec<ResourceType>,
}

impl Resolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves `name` (`po`, `deployments.apps`, `deployment.v1.apps`, `Pod`, a CRD plural).
    pub async fn resolve(&mut self, ctx: &Ctx, name: &str) -> Result<ResourceType> {
        if let Some(r) = builtin(name) {
            return Ok(r);
        }
        let all = self.discovered(ctx).await?;
        find_in(all, name).ok_or_else(|| {
            Error::client(format!(
                "the server doesn't have a resource type \"{name}\""
            ))
        })
    }

    /// Every resource type the server serves (preferred versions), discovered once.
    pub async fn discovered(&mut self, ctx: &Ctx) -> Result<&[ResourceType]> {
        if self.discovered.is_none() {
            self.discovered = Some(discover(ctx).await?);
        }
        Ok(self.discovered.as_deref().unwrap_or_default())
    }

    /// The types in a category (`all`), in discovery order.
    pub async fn category(&mut self, ctx: &Ctx, category: &str) -> Result<Vec<ResourceType>> {
        if category == "all" {
            // The built-in members of `all`, in the order kubectl lists them.
            return Ok(rkube_apimachinery::registry::in_category("all")
                .into_iter()
                .map(ResourceType::from_builtin)
                .collect());
        }
        Ok(self
            .discovered(ctx)
            .await?
            .iter()
            .filter(|r| r.categories.iter().any(|c| c == category))
            .cloned()
            .collect())
    }
}

/// Splits `deployments.v1.apps` / `deployments.apps` / `deploy` into (resource, version, group).
fn split_qualified(name: &str) -> (&str, Option<&str>, Option<&str>) {
    let Some((res, rest)) = name.split_once('.') else {
        return (name, None, None);
    };
    if let Some((v, g)) = rest.split_once('.') {
        if v.starts_with('v') && v[1..].starts_with(|c: char| c.is_ascii_digit()) {
            return (res, Some(v), Some(g));
        }
    }
    (res, None, Some(rest))
}

fn builtin(name: &str) -> Option<ResourceType> {
    use rkube_apimachinery::registry;
    let (res, version, group) = split_qualified(name);
    let candidates = registry::builtin().iter().filter(|r| {
        ResourceType::from_builtin(r).matches(res)
            && group.is_none_or(|g| r.group == g || (g == "core" && r.group.is_empty()))
            && version.is_none_or(|v| r.version == v)
    });
    // The preferred version of the first group that has the name (kubectl's priority:
    // core first, then the groups in discovery order).
    let mut best: Option<&registry::ResourceInfo> = None;
    for r in candidates {
        let preferred = registry::preferred_version(r.group) == Some(r.version);
        match best {
            None => best = Some(r),
            Some(b) if b.group == r.group && preferred => best = Some(r),
            _ => {}
        }
    }
    best.map(ResourceType::from_builtin)
}

fn find_in(all: &[ResourceType], name: &str) -> Option<ResourceType> {
    let (res, version, group) = split_qualified(name);
    all.iter()
        .find(|r| {
            r.matches(res)
                && group.is_none_or(|g| r.group == g)
                && version.is_none_or(|v| r.version == v)
        })
        .cloned()
}

/// Legacy discovery: `/api/v1`, then the preferred version of every group in `/apis`.
async fn discover(ctx: &Ctx) -> Result<Vec<ResourceType>> {
    let mut out = Vec::new();
    let core = ctx.get_json("/api/v1").await?;
    collect(&core, "", "v1", &mut out);
    let groups = ctx.get_json("/apis").await?;
    let gvs: Vec<(String, String)> = groups["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .filter_map(|g| {
                    let name = g["name"].as_str()?;
                    let v = g["preferredVersion"]["version"].as_str()?;
                    Some((name.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let docs = futures::future::join_all(
        gvs.iter()
            .map(|(g, v)| ctx.get_json_owned(format!("/apis/{g}/{v}"))),
    )
    .await;
    for ((g, v), doc) in gvs.iter().zip(docs) {
        // A group whose document fails (an unavailable aggregated API) is left out, as
        // kubectl does after printing its warning.
        if let Ok(doc) = doc {
            collect(&doc, g, v, &mut out);
        }
    }
    Ok(out)
}

fn collect(list: &Value, group: &str, version: &str, out: &mut Vec<ResourceType>) {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for r in list["resources"].as_array().into_iter().flatten() {
        let Some(plural) = r["name"].as_str() else {
            continue;
        };
        if plural.contains('/') {
            continue;
        }
        let kind = r["kind"].as_str().unwrap_or_default().to_string();
        let singular = match r["singularName"].as_str() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => kind.to_lowercase(),
        };
        out.push(ResourceType {
            group: group.into(),
            version: version.into(),
            kind,
            plural: plural.into(),
            singular,
            namespaced: r["namespaced"].as_bool().unwrap_or(false),
            short_names: strings(&r["shortNames"]),
            categories: strings(&r["categories"]),
            verbs: strings(&r["verbs"]),
        });
    }
}

impl Ctx {
    /// [`Ctx::get_json`] taking an owned path, for joining many requests.
    pub async fn get_json_owned(&self, path: String) -> Result<Value> {
        self.get_json(&path).await
    }
}

impl Resolver {
    /// The type of an object from its `apiVersion` and `kind` (manifests): built-ins from
    /// the registry, anything else from the group-version's discovery document. `None`
    /// when the server does not serve that kind in that version.
    pub async fn resolve_kind(
        &mut self,
        ctx: &Ctx,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<ResourceType>> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if let Some(r) = rkube_apimachinery::registry::builtin()
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
        {
            return Ok(Some(ResourceType::from_builtin(r)));
        }
        if let Some(r) = self
            .by_version
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
        {
            return Ok(Some(r.clone()));
        }
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let doc = match ctx.get_json(&path).await {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        collect(&doc, group, version, &mut found);
        let hit = found.iter().find(|r| r.kind == kind).cloned();
        self.by_version.extend(found);
        Ok(hit)
    }
}

/// A `TYPE/NAME` or `TYPE` argument split into its parts.
pub fn split_type_name(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('/') {
        Some((t, n)) => (t, Some(n)),
        None => (arg, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_resolve_like_kubectl() {
        let r = builtin("deploy").unwrap_or_else(|| panic!("deploy"));
        assert_eq!((r.group.as_str(), r.version.as_str()), ("apps", "v1"));
        assert_eq!(r.kind_prefix(), "deployment.apps");
        assert_eq!(r.qualified_plural(), "deployments.apps");
        assert_eq!(
            r.object_path("prod", "web"),
            "/apis/apps/v1/namespaces/prod/deployments/web"
        );
        let p = builtin("po").unwrap_or_else(|| panic!("po"));
        assert_eq!(p.collection_path(None), "/api/v1/pods");
        assert_eq!(p.kind_prefix(), "pod");
        assert!(builtin("deployments.apps").is_some());
        assert!(builtin("deployment.v1.apps").is_some());
        assert!(builtin("Service").is_some());
        assert!(builtin("hpa").is_some_and(|h| h.version == "v2"));
        assert!(builtin("nosuch").is_none());
        let n = builtin("no").unwrap_or_else(|| panic!("no"));
        assert!(!n.namespaced);
        assert_eq!(n.object_path("x", "n1"), "/api/v1/nodes/n1");
    }
}
