//! Renders routes + definitions into Swagger 2.0 and OpenAPI 3.0 JSON values
//! shaped like kube-apiserver's `/openapi/v2` and `/openapi/v3/<gv>`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::openapi::catalog::{self, Catalog, V2_REF};
use crate::openapi::kinds;
use crate::openapi::params::Param;
use crate::openapi::routes::{GroupVersion, GvRoutes, Op, Route};

const V3_REF: &str = "#/components/schemas/";

/// Media types kube-apiserver produces for object responses.
const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// Patch content types accepted on PATCH.
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn info() -> Value {
    json!({"title": "Kubernetes", "version": "unversioned"})
}

/// Every served group-version, so `DeleteOptions`/`WatchEvent` carry the
/// same GVK list upstream gives them.
fn shared_gvks(gvs: &BTreeSet<GroupVersion>, kind: &str) -> Vec<(String, String, String)> {
    let mut all: BTreeSet<(String, String)> = gvs
        .iter()
        .map(|gv| (gv.group.clone(), gv.version.clone()))
        .collect();
    all.insert((String::new(), "v1".to_owned()));
    all.into_iter()
        .map(|(g, v)| (g, v, kind.to_owned()))
        .collect()
}

/// Clones the named definitions (v2 or v3 form), adding per-document GVK
/// lists.
fn definitions(
    names: &BTreeSet<String>,
    gvs: &BTreeSet<GroupVersion>,
    v3: bool,
) -> Map<String, Value> {
    let catalog = Catalog::get();
    let source = if v3 { &catalog.defs_v3 } else { &catalog.defs };
    let mut out = Map::new();
    for name in names {
        let Some(def) = source.get(name) else {
            continue;
        };
        let mut def = def.clone();
        let shared = match name.as_str() {
            kinds::DELETE_OPTIONS => Some("DeleteOptions"),
            kinds::WATCH_EVENT => Some("WatchEvent"),
            _ => None,
        };
        if let Some(kind) = shared {
            let gvks = shared_gvks(gvs, kind);
            let refs: Vec<(&str, &str, &str)> = gvks
                .iter()
                .map(|(g, v, k)| (g.as_str(), v.as_str(), k.as_str()))
                .collect();
            catalog::set_gvk(&mut def, &refs);
        }
        out.insert(name.clone(), def);
    }
    out
}

fn gvk_object(gvk: &(String, String, String)) -> Value {
    json!({"group": gvk.0, "kind": gvk.2, "version": gvk.1})
}

fn v2_param(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": p.location,
        "name": p.name,
        "type": p.ty,
        "uniqueItems": true,
    });
    if p.required {
        v["required"] = json!(true);
    }
    v
}

fn v3_param(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": p.location,
        "name": p.name,
        "schema": {"type": p.ty, "uniqueItems": true},
    });
    if p.required {
        v["required"] = json!(true);
    }
    v
}

fn v2_op(op: &Op) -> Value {
    let mut params = Vec::new();
    if let Some(body) = &op.body {
        let mut b = json!({
            "in": "body",
            "name": "body",
            "schema": {"$ref": format!("{V2_REF}{}", body.def)},
        });
        if body.required {
            b["required"] = json!(true);
        }
        params.push(b);
    }
    params.extend(op.params.iter().map(v2_param));
    let mut responses = Map::new();
    for (code, desc) in &op.responses {
        let mut r = json!({"description": desc});
        if code.starts_with('2') {
            r["schema"] = json!({"$ref": format!("{V2_REF}{}", op.response)});
        }
        responses.insert((*code).to_owned(), r);
    }
    let consumes: &[&str] = match &op.body {
        Some(b) if b.patch => PATCH_TYPES,
        _ => &["*/*"],
    };
    let mut produces: Vec<&str> = PRODUCES.to_vec();
    if op.watchable {
        produces.push("application/json;stream=watch");
        produces.push("application/vnd.kubernetes.protobuf;stream=watch");
    }
    let mut v = json!({
        "consumes": consumes,
        "description": op.description,
        "operationId": op.id,
        "produces": produces,
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
    });
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    decorate(&mut v, op);
    v
}

fn v3_op(op: &Op) -> Value {
    let mut responses = Map::new();
    for (code, desc) in &op.responses {
        if *code == "401" {
            continue;
        }
        let schema = json!({"$ref": format!("{V3_REF}{}", op.response)});
        let mut content = Map::new();
        for ct in PRODUCES {
            content.insert((*ct).to_owned(), json!({"schema": schema}));
        }
        if op.watchable {
            for ct in [
                "application/json;stream=watch",
                "application/vnd.kubernetes.protobuf;stream=watch",
            ] {
                content.insert(ct.to_owned(), json!({"schema": schema}));
            }
        }
        responses.insert(
            (*code).to_owned(),
            json!({"content": content, "description": desc}),
        );
    }
    let mut v = json!({
        "description": op.description,
        "operationId": op.id,
        "responses": responses,
        "tags": [op.tag],
    });
    if !op.params.is_empty() {
        v["parameters"] = Value::Array(op.params.iter().map(v3_param).collect());
    }
    if let Some(body) = &op.body {
        let schema = json!({"$ref": format!("{V3_REF}{}", body.def)});
        let types: &[&str] = if body.patch { PATCH_TYPES } else { &["*/*"] };
        let mut content = Map::new();
        for ct in types {
            content.insert((*ct).to_owned(), json!({"schema": schema}));
        }
        let mut rb = json!({"content": content});
        if body.required {
            rb["required"] = json!(true);
        }
        v["requestBody"] = rb;
    }
    decorate(&mut v, op);
    v
}

/// Adds the Kubernetes operation extensions.
fn decorate(v: &mut Value, op: &Op) {
    if !op.action.is_empty() {
        v["x-kubernetes-action"] = json!(op.action);
    }
    if let Some(gvk) = &op.gvk {
        v["x-kubernetes-group-version-kind"] = gvk_object(gvk);
    }
}

fn path_item(route: &Route, op: fn(&Op) -> Value, param: fn(&Param) -> Value) -> Value {
    let mut item = Map::new();
    for o in &route.ops {
        item.insert(o.method.to_owned(), op(o));
    }
    if !route.params.is_empty() {
        item.insert(
            "parameters".to_owned(),
            Value::Array(route.params.iter().map(param).collect()),
        );
    }
    Value::Object(item)
}

fn security() -> (Value, Value) {
    (
        json!([{"BearerToken": []}]),
        json!({"BearerToken": {
            "description": "Bearer Token authentication",
            "in": "header",
            "name": "authorization",
            "type": "apiKey",
        }}),
    )
}

/// The Swagger 2.0 document for all group-versions.
pub(crate) fn v2(all: &BTreeMap<GroupVersion, GvRoutes>) -> Value {
    let catalog = Catalog::get();
    let gvs: BTreeSet<GroupVersion> = all.keys().cloned().collect();
    let mut paths = Map::new();
    let mut roots = BTreeSet::new();
    for routes in all.values() {
        for (path, route) in &routes.routes {
            paths.insert(path.clone(), path_item(route, v2_op, v2_param));
        }
        roots.extend(routes.roots.iter().map(String::as_str));
    }
    let names = catalog.closure(roots);
    let (security, security_definitions) = security();
    json!({
        "definitions": definitions(&names, &gvs, false),
        "info": info(),
        "paths": paths,
        "security": security,
        "securityDefinitions": security_definitions,
        "swagger": "2.0",
    })
}

/// The OpenAPI 3.0 document for one group-version.
pub(crate) fn v3(all: &BTreeMap<GroupVersion, GvRoutes>, gv: &GroupVersion) -> Option<Value> {
    let routes = all.get(gv)?;
    let catalog = Catalog::get();
    let gvs: BTreeSet<GroupVersion> = all.keys().cloned().collect();
    let mut paths = Map::new();
    for (path, route) in &routes.routes {
        paths.insert(path.clone(), path_item(route, v3_op, v3_param));
    }
    let names = catalog.closure(routes.roots.iter().map(String::as_str));
    let schemas = definitions(&names, &gvs, true);
    let (_, security_schemes) = security();
    Some(json!({
        "components": {
            "schemas": schemas,
            "securitySchemes": security_schemes,
        },
        "info": info(),
        "openapi": "3.0.0",
        "paths": paths,
    }))
}

/// Rewrites a v2 schema for OpenAPI 3: refs point into components, and a
/// `$ref` with siblings (description, extensions) is wrapped in `allOf`
/// because v3 ignores `$ref` siblings — and kubectl explain (v3) prints the
/// field description only from that form, as upstream serves it.
pub(crate) fn to_v3_schema(v: &mut Value) {
    let Some(m) = v.as_object_mut() else {
        return;
    };
    if let Some(Value::String(r)) = m.get_mut("$ref") {
        if let Some(name) = r.strip_prefix(V2_REF) {
            *r = format!("{V3_REF}{name}");
        }
        if m.len() > 1 {
            if let Some(r) = m.remove("$ref") {
                m.insert("allOf".to_owned(), json!([{"$ref": r}]));
            }
        }
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(to_v3_schema);
    }
    match m.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(to_v3_schema),
        Some(item) => to_v3_schema(item),
        None => {}
    }
    if let Some(extra) = m.get_mut("additionalProperties") {
        to_v3_schema(extra);
    }
    if let Some(Value::Array(all)) = m.get_mut("allOf") {
        all.iter_mut().for_each(to_v3_schema);
    }
}
