//! Turns the server's resource registry into REST routes/operations.
//!
//! The shape follows kube-apiserver: one path per collection and per item,
//! per subresource, plus the group-version discovery path. Each operation is
//! tagged with `x-kubernetes-action` and `x-kubernetes-group-version-kind`,
//! which `kubectl explain` (v3) uses to map a resource to its schema and the
//! fieldValidation probe uses to find PATCH operations.

use std::collections::BTreeMap;

use crate::openapi::catalog::Catalog;
use crate::openapi::kinds::{self, KindDef};
use crate::openapi::params::{self, Param};
use crate::openapi::ResourceType;

/// A group/version as served (`""` group is core).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupVersion {
    pub group: String,
    pub version: String,
}

impl GroupVersion {
    /// `api/v1` or `apis/<group>/<version>`: the v3 document key.
    pub(crate) fn doc_path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }

    /// URL prefix of the group-version.
    fn prefix(&self) -> String {
        format!("/{}", self.doc_path())
    }

    /// `AppsV1`, `CoreV1`, `RbacAuthorizationV1`: the operationId infix.
    fn camel(&self) -> String {
        let group = if self.group.is_empty() {
            "Core".to_owned()
        } else {
            group_words(&self.group)
                .iter()
                .map(|w| capitalize(w))
                .collect()
        };
        format!("{group}{}", capitalize(&self.version))
    }

    /// `apps_v1`, `core_v1`, `rbacAuthorization_v1`: the operation tag.
    fn tag(&self) -> String {
        let group = if self.group.is_empty() {
            "core".to_owned()
        } else {
            let words = group_words(&self.group);
            let mut s = String::new();
            for (i, w) in words.iter().enumerate() {
                if i == 0 {
                    s.push_str(w);
                } else {
                    s.push_str(&capitalize(w));
                }
            }
            s
        };
        format!("{group}_{}", self.version)
    }
}

fn group_words(group: &str) -> Vec<&str> {
    group
        .strip_suffix(".k8s.io")
        .unwrap_or(group)
        .split('.')
        .filter(|w| !w.is_empty())
        .collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Request body of an operation.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub def: String,
    pub required: bool,
    pub patch: bool,
}

/// One HTTP operation.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    /// Lowercase HTTP method.
    pub method: &'static str,
    pub id: String,
    pub description: String,
    /// `x-kubernetes-action`.
    pub action: &'static str,
    /// `x-kubernetes-group-version-kind` (group, version, kind); none for
    /// discovery.
    pub gvk: Option<(String, String, String)>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// (status code, description).
    pub responses: Vec<(&'static str, &'static str)>,
    /// Definition name of the 2xx response body.
    pub response: String,
    /// List responses may also be streamed as watch events.
    pub watchable: bool,
    pub tag: String,
}

/// One URL path with its operations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Route {
    pub params: Vec<Param>,
    pub ops: Vec<Op>,
}

/// Everything documented for one group-version.
#[derive(Debug, Default)]
pub(crate) struct GvRoutes {
    /// URL path → route, sorted like upstream's JSON.
    pub routes: BTreeMap<String, Route>,
    /// Definition names the operations reference.
    pub roots: Vec<String>,
}

/// Builds the routes of every documented group-version.
pub(crate) fn build(resources: &[ResourceType]) -> BTreeMap<GroupVersion, GvRoutes> {
    let catalog = Catalog::get();
    let mut out: BTreeMap<GroupVersion, GvRoutes> = BTreeMap::new();
    for rt in resources {
        let gv = GroupVersion {
            group: rt.group.clone(),
            version: rt.version.clone(),
        };
        let (base, sub) = match rt.plural.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (rt.plural.as_str(), None),
        };
        let kind = match sub {
            // Main resources must match exactly so nothing is mis-documented.
            None => kinds::find(&rt.group, &rt.version, &rt.kind),
            // Subresource bodies often live in another group (Scale, Eviction).
            Some(_) => kinds::resolve(&rt.group, &rt.version, &rt.kind),
        };
        let Some(kind) = kind else {
            continue;
        };
        let Some(def) = catalog.name_of(kind) else {
            continue;
        };
        let entry = out.entry(gv.clone()).or_default();
        let ctx = Ctx {
            gv: &gv,
            rt,
            kind,
            def,
            base,
        };
        match sub {
            None => ctx.main(entry, catalog),
            Some(sub) => {
                let parent_kind = resources
                    .iter()
                    .find(|r| r.group == rt.group && r.version == rt.version && r.plural == base)
                    .map_or(rt.kind.as_str(), |r| r.kind.as_str());
                ctx.subresource(entry, sub, parent_kind);
            }
        }
    }
    for (gv, entry) in &mut out {
        let path = format!("{}/", gv.prefix());
        let op = Op {
            method: "get",
            id: format!("get{}APIResources", gv.camel()),
            description: "get available resources".to_owned(),
            action: "",
            gvk: None,
            params: Vec::new(),
            body: None,
            responses: vec![("200", "OK"), ("401", "Unauthorized")],
            response: kinds::API_RESOURCE_LIST.to_owned(),
            watchable: false,
            tag: gv.tag(),
        };
        entry.routes.insert(
            path,
            Route {
                params: Vec::new(),
                ops: vec![op],
            },
        );
        for name in [
            kinds::API_RESOURCE_LIST,
            kinds::STATUS,
            kinds::DELETE_OPTIONS,
            kinds::PATCH,
        ] {
            entry.roots.push(name.to_owned());
        }
        entry.roots.sort();
        entry.roots.dedup();
    }
    out
}

struct Ctx<'a> {
    gv: &'a GroupVersion,
    rt: &'a ResourceType,
    kind: &'static KindDef,
    def: &'a str,
    base: &'a str,
}

impl Ctx<'_> {
    fn has(&self, verb: &str) -> bool {
        self.rt.verbs.iter().any(|v| v == verb)
    }

    fn gvk(&self) -> Option<(String, String, String)> {
        Some((
            self.kind.group.to_owned(),
            self.kind.version.to_owned(),
            self.kind.kind.to_owned(),
        ))
    }

    /// Collection path (namespaced or cluster-scoped).
    fn collection(&self) -> String {
        if self.rt.namespaced {
            format!(
                "{}/namespaces/{{namespace}}/{}",
                self.gv.prefix(),
                self.base
            )
        } else {
            format!("{}/{}", self.gv.prefix(), self.base)
        }
    }

    fn scope(&self) -> &'static str {
        if self.rt.namespaced {
            "Namespaced"
        } else {
            ""
        }
    }

    fn scope_params(&self) -> Vec<Param> {
        if self.rt.namespaced {
            vec![params::namespace(), params::pretty()]
        } else {
            vec![params::pretty()]
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn op(
        &self,
        method: &'static str,
        id: String,
        description: String,
        action: &'static str,
        params: Vec<Param>,
        body: Option<Body>,
        responses: Vec<(&'static str, &'static str)>,
        response: String,
    ) -> Op {
        Op {
            method,
            id,
            description,
            action,
            gvk: self.gvk(),
            params,
            body,
            responses,
            response,
            watchable: action == "list",
            tag: self.gv.tag(),
        }
    }

    fn main(&self, entry: &mut GvRoutes, catalog: &Catalog) {
        let kind = self.kind.kind;
        let camel = self.gv.camel();
        let scope = self.scope();
        let list_def = catalog
            .list_name_of(self.kind)
            .unwrap_or_else(|| self.def.to_owned());
        let object = self.def.to_owned();
        let status = kinds::STATUS.to_owned();
        let write_body = || {
            Some(Body {
                def: object.clone(),
                required: true,
                patch: false,
            })
        };
        let delete_body = || {
            Some(Body {
                def: kinds::DELETE_OPTIONS.to_owned(),
                required: false,
                patch: false,
            })
        };

        let mut coll = Route {
            params: self.scope_params(),
            ops: Vec::new(),
        };
        if self.has("list") {
            coll.ops.push(self.op(
                "get",
                format!("list{camel}{scope}{kind}"),
                format!("list or watch objects of kind {kind}"),
                "list",
                params::list(),
                None,
                vec![("200", "OK"), ("401", "Unauthorized")],
                list_def.clone(),
            ));
        }
        if self.has("create") {
            coll.ops.push(self.op(
                "post",
                format!("create{camel}{scope}{kind}"),
                format!("create {} {kind}", article(kind)),
                "post",
                params::write(),
                write_body(),
                vec![
                    ("200", "OK"),
                    ("201", "Created"),
                    ("202", "Accepted"),
                    ("401", "Unauthorized"),
                ],
                object.clone(),
            ));
        }
        if self.has("deletecollection") {
            let mut p = params::delete();
            p.extend(params::list());
            coll.ops.push(self.op(
                "delete",
                format!("delete{camel}Collection{scope}{kind}"),
                format!("delete collection of {kind}"),
                "deletecollection",
                p,
                delete_body(),
                vec![("200", "OK"), ("401", "Unauthorized")],
                status.clone(),
            ));
        }

        let mut item = Route {
            params: {
                let mut p = vec![params::name(kind)];
                p.extend(self.scope_params());
                p
            },
            ops: Vec::new(),
        };
        if self.has("get") {
            item.ops.push(self.op(
                "get",
                format!("read{camel}{scope}{kind}"),
                format!("read the specified {kind}"),
                "get",
                Vec::new(),
                None,
                vec![("200", "OK"), ("401", "Unauthorized")],
                object.clone(),
            ));
        }
        if self.has("update") {
            item.ops.push(self.op(
                "put",
                format!("replace{camel}{scope}{kind}"),
                format!("replace the specified {kind}"),
                "put",
                params::write(),
                write_body(),
                vec![("200", "OK"), ("201", "Created"), ("401", "Unauthorized")],
                object.clone(),
            ));
        }
        if self.has("patch") {
            item.ops.push(self.op(
                "patch",
                format!("patch{camel}{scope}{kind}"),
                format!("partially update the specified {kind}"),
                "patch",
                params::patch(),
                Some(Body {
                    def: kinds::PATCH.to_owned(),
                    required: true,
                    patch: true,
                }),
                vec![("200", "OK"), ("201", "Created"), ("401", "Unauthorized")],
                object.clone(),
            ));
        }
        if self.has("delete") {
            item.ops.push(self.op(
                "delete",
                format!("delete{camel}{scope}{kind}"),
                format!("delete {} {kind}", article(kind)),
                "delete",
                params::delete(),
                delete_body(),
                vec![("200", "OK"), ("202", "Accepted"), ("401", "Unauthorized")],
                status.clone(),
            ));
        }

        let mut roots = vec![object.clone()];
        if !coll.ops.is_empty() {
            entry.routes.insert(self.collection(), coll);
        }
        if !item.ops.is_empty() {
            entry
                .routes
                .insert(format!("{}/{{name}}", self.collection()), item);
        }
        if self.has("list") {
            roots.push(list_def.clone());
            if self.rt.namespaced {
                let all = Route {
                    params: vec![params::pretty()],
                    ops: vec![self.op(
                        "get",
                        format!("list{camel}{kind}ForAllNamespaces"),
                        format!("list or watch objects of kind {kind}"),
                        "list",
                        params::list(),
                        None,
                        vec![("200", "OK"), ("401", "Unauthorized")],
                        list_def,
                    )],
                };
                entry
                    .routes
                    .insert(format!("{}/{}", self.gv.prefix(), self.base), all);
            }
        }
        entry.roots.extend(roots);
    }

    fn subresource(&self, entry: &mut GvRoutes, sub: &str, parent_kind: &str) {
        let camel = self.gv.camel();
        let scope = self.scope();
        let suffix = capitalize(sub);
        let object = self.def.to_owned();
        let mut route = Route {
            params: {
                let mut p = vec![params::name(parent_kind)];
                p.extend(self.scope_params());
                p
            },
            ops: Vec::new(),
        };
        let write_body = || {
            Some(Body {
                def: object.clone(),
                required: true,
                patch: false,
            })
        };
        if self.has("get") {
            route.ops.push(self.op(
                "get",
                format!("read{camel}{scope}{parent_kind}{suffix}"),
                format!("read {sub} of the specified {parent_kind}"),
                "get",
                Vec::new(),
                None,
                vec![("200", "OK"), ("401", "Unauthorized")],
                object.clone(),
            ));
        }
        if self.has("create") {
            route.ops.push(self.op(
                "post",
                format!("create{camel}{scope}{parent_kind}{suffix}"),
                format!("create {sub} of {} {parent_kind}", article(parent_kind)),
                "post",
                params::write(),
                write_body(),
                vec![
                    ("200", "OK"),
                    ("201", "Created"),
                    ("202", "Accepted"),
                    ("401", "Unauthorized"),
                ],
                object.clone(),
            ));
        }
        if self.has("update") {
            route.ops.push(self.op(
                "put",
                format!("replace{camel}{scope}{parent_kind}{suffix}"),
                format!("replace {sub} of the specified {parent_kind}"),
                "put",
                params::write(),
                write_body(),
                vec![("200", "OK"), ("201", "Created"), ("401", "Unauthorized")],
                object.clone(),
            ));
        }
        if self.has("patch") {
            route.ops.push(self.op(
                "patch",
                format!("patch{camel}{scope}{parent_kind}{suffix}"),
                format!("partially update {sub} of the specified {parent_kind}"),
                "patch",
                params::patch(),
                Some(Body {
                    def: kinds::PATCH.to_owned(),
                    required: true,
                    patch: true,
                }),
                vec![("200", "OK"), ("201", "Created"), ("401", "Unauthorized")],
                object.clone(),
            ));
        }
        if route.ops.is_empty() {
            return;
        }
        entry
            .routes
            .insert(format!("{}/{{name}}/{sub}", self.collection()), route);
        entry.roots.push(object);
    }
}

/// "a Deployment", "an Ingress".
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}
