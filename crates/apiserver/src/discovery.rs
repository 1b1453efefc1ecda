//! Discovery: `/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]` in the legacy form and
//! the aggregated form (`apidiscovery.k8s.io` v2 and v2beta1) that kubectl 1.27+ asks for.
//! kubectl only reads the aggregated form when the reply's Content-Type names it exactly.

use rkube_apimachinery::registry::ResourceInfo;

use crate::resources::Resources;
use serde_json::{json, Value};

/// Which discovery document the client accepts, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Legacy,
    V2,
    V2Beta1,
}

impl Flavor {
    pub fn negotiate(accept: &str) -> Flavor {
        for part in accept.split(',') {
            let p = part.replace(' ', "");
            if p.contains("as=APIGroupDiscoveryList") && p.contains("g=apidiscovery.k8s.io") {
                if p.contains("v=v2beta1") {
                    return Flavor::V2Beta1;
                }
                if p.contains("v=v2") {
                    return Flavor::V2;
                }
            }
            if p.starts_with("application/json") || p.starts_with("*/*") {
                return Flavor::Legacy;
            }
        }
        Flavor::Legacy
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Flavor::Legacy => "application/json",
            Flavor::V2 => "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            Flavor::V2Beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Flavor::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
            _ => "apidiscovery.k8s.io/v2",
        }
    }
}

/// `/api` in the requested flavor.
pub fn core_root(flavor: Flavor, server_address: &str, res: &Resources) -> Value {
    match flavor {
        Flavor::Legacy => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }),
        f => aggregated(f, true, res),
    }
}

/// `/apis` in the requested flavor.
pub fn groups_root(flavor: Flavor, res: &Resources) -> Value {
    match flavor {
        Flavor::Legacy => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": res.groups().iter().filter(|g| !g.name.is_empty()).map(|g| group_json(&g.name, res)).collect::<Vec<_>>(),
        }),
        f => aggregated(f, false, res),
    }
}

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn group_json(name: &str, res: &Resources) -> Value {
    let Some(g) = res.groups().into_iter().find(|g| g.name == name) else {
        return Value::Null;
    };
    let Some(preferred) = g.versions.first() else {
        return Value::Null;
    };
    json!({
        "name": g.name,
        "versions": g.versions.iter().map(|v| json!({"groupVersion": gv(&g.name, v), "version": v})).collect::<Vec<_>>(),
        "preferredVersion": {"groupVersion": gv(&g.name, preferred), "version": preferred},
    })
}

/// `/apis/<group>`: an `APIGroup`, or `None` for an unknown group.
pub fn group(name: &str, res: &Resources) -> Option<Value> {
    let mut g = group_json(name, res);
    if g.is_null() || name.is_empty() {
        return None;
    }
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// `/api/v1` or `/apis/<group>/<version>`: an `APIResourceList`, or `None`.
pub fn resource_list(group: &str, version: &str, res: &Resources) -> Option<Value> {
    let resources = res.resources_in(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for r in resources {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        out.push(e);
        for s in r.subresources {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.differs_from(r) {
                e["group"] = json!(s.group);
                e["version"] = json!(s.version);
            }
            out.push(e);
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv(group, version),
        "resources": out,
    }))
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": r.scope(),
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|s| {
                let (g, v) = if s.differs_from(r) {
                    (s.group, s.version)
                } else {
                    ("", "")
                };
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": g, "version": v, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
        e["subresources"] = Value::Array(subs);
    }
    e
}

fn aggregated(flavor: Flavor, core: bool, res: &Resources) -> Value {
    let items: Vec<Value> = res
        .groups()
        .iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v,
                        "resources": res.resources_in(&g.name, v).into_iter().map(aggregated_resource).collect::<Vec<_>>(),
                        "freshness": "Current",
                    })
                })
                .collect();
            json!({"metadata": {"name": g.name, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": flavor.api_version(),
        "metadata": {},
        "items": items,
    })
}

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": format!("v1.33.0+rkube-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let k132 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(Flavor::negotiate(k132), Flavor::V2);
        let k127 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(Flavor::negotiate(k127), Flavor::V2Beta1);
        assert_eq!(Flavor::negotiate("application/json, */*"), Flavor::Legacy);
    }

    #[test]
    fn aggregated_core_has_pods() {
        let v = core_root(Flavor::V2, "127.0.0.1:6443", &Resources::default());
        let res = &v["items"][0]["versions"][0]["resources"];
        let pods = res
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"][0], "po");
        assert_eq!(pods["scope"], "Namespaced");
    }
}
