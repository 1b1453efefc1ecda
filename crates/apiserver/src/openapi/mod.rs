//! OpenAPI documents (`/openapi/v2`, `/openapi/v3`) for rkube's built-in
//! types, shaped like kube-apiserver v1.33 serves them.
//!
//! kubectl depends on these: `kubectl explain` reads the schemas and their
//! descriptions, `kubectl apply/edit` derive strategic-merge-patch metadata
//! from them and (1.23+) probe PATCH operations for the `fieldValidation`
//! parameter before sending `fieldValidation=Strict`; older kubectl (1.20)
//! validates manifests client-side against the v2 protobuf document.
//!
//! Schemas are generated from k8s-openapi's `schemars` impls (upstream names
//! and descriptions), then patched with the Kubernetes vendor extensions
//! k8s-openapi lacks. Everything is computed once per resource set: build an
//! [`OpenApi`] at startup (or use [`OpenApi::cached`]) and serve its bytes.
//!
//! ```no_run
//! let api = openapi::OpenApi::new(&openapi::builtin_resources());
//! let reply = api.handle("/openapi/v2", None, Some("application/json"), None);
//! assert_eq!(reply.map(|r| r.status), Some(200));
//! ```

mod catalog;
mod extensions;
mod extensions_table;
mod http;
mod kinds;
mod params;
mod proto;
mod render;
mod routes;
mod sha512;
mod yaml;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use http::{Reply, PROTOBUF_V2_CONTENT_TYPE};

/// One served resource (or subresource), as the API server's registry knows
/// it. Only kinds with a built-in schema are documented; others are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    /// Kind of the request/response body (`Scale` for `deployments/scale`).
    pub kind: String,
    /// Plural resource name; `parent/sub` for subresources (`pods/status`).
    pub plural: String,
    pub namespaced: bool,
    /// Kubernetes verbs: get, list, watch, create, update, patch, delete,
    /// deletecollection.
    pub verbs: Vec<String>,
}

impl ResourceType {
    /// Convenience constructor from string slices.
    pub fn new(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        verbs: &[&str],
    ) -> Self {
        ResourceType {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
}

/// Every built-in resource (and its status/scale/other subresources) this
/// crate has a schema for, with upstream's verbs. Useful as a default
/// registry and in tests. Subresources are listed under their parent's
/// group-version, as discovery does; their body kind (`Scale`, `Eviction`)
/// is resolved to its own group by name.
pub fn builtin_resources() -> Vec<ResourceType> {
    use kinds::Shape;
    let mut out = Vec::new();
    for k in kinds::KINDS {
        if k.shape == Shape::SubresourceOnly {
            continue;
        }
        out.push(ResourceType::new(
            k.group,
            k.version,
            k.kind,
            k.plural,
            k.namespaced,
            k.shape.verbs(),
        ));
        let sub_verbs: &[&str] = &["get", "patch", "update"];
        if matches!(
            k.shape,
            Shape::CrudStatus | Shape::CrudStatusScale | Shape::Namespace
        ) {
            out.push(ResourceType::new(
                k.group,
                k.version,
                k.kind,
                &format!("{}/status", k.plural),
                k.namespaced,
                sub_verbs,
            ));
        }
        if k.shape == Shape::CrudStatusScale {
            out.push(ResourceType::new(
                k.group,
                k.version,
                "Scale",
                &format!("{}/scale", k.plural),
                k.namespaced,
                sub_verbs,
            ));
        }
        for (group, parent, sub, kind, verbs) in kinds::EXTRA_SUBRESOURCES {
            if *group == k.group && *parent == k.plural {
                out.push(ResourceType::new(
                    k.group,
                    k.version,
                    kind,
                    &format!("{parent}/{sub}"),
                    k.namespaced,
                    verbs,
                ));
            }
        }
    }
    out
}

/// A precomputed document and its validator.
#[derive(Debug, Clone)]
struct Doc {
    bytes: Vec<u8>,
    /// Uppercase hex SHA-512 of the JSON bytes (upstream's ETag and `hash`).
    hash: String,
}

impl Doc {
    fn json(value: &serde_json::Value) -> Doc {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let hash = sha512::hex_upper(&bytes);
        Doc { bytes, hash }
    }
}

/// All OpenAPI documents for one resource set, serialized up front so
/// serving is a lookup.
#[derive(Debug, Clone)]
pub struct OpenApi {
    v2_json: Doc,
    v2_protobuf: Vec<u8>,
    v3_root: Doc,
    /// `api/v1`, `apis/apps/v1`, ... → document.
    v3: BTreeMap<String, Doc>,
    /// v2 definitions by name, for server-side field validation.
    definitions: Arc<serde_json::Map<String, serde_json::Value>>,
    /// (group, version, kind) → definition name.
    kinds: Arc<std::collections::HashMap<(String, String, String), String>>,
}

impl OpenApi {
    /// Generates every document for `resources`.
    pub fn new(resources: &[ResourceType]) -> OpenApi {
        let all = routes::build(resources);
        let v2_value = render::v2(&all);
        let v2_json = Doc::json(&v2_value);
        let v2_protobuf = proto::encode_document(&v2_value);
        let mut v3 = BTreeMap::new();
        for gv in all.keys() {
            if let Some(doc) = render::v3(&all, gv) {
                v3.insert(gv.doc_path(), Doc::json(&doc));
            }
        }
        let mut root_paths = serde_json::Map::new();
        for (path, doc) in &v3 {
            root_paths.insert(
                path.clone(),
                serde_json::json!({
                    "serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)
                }),
            );
        }
        let v3_root = Doc::json(&serde_json::json!({ "paths": root_paths }));
        let definitions = v2_value
            .get("definitions")
            .and_then(serde_json::Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut kinds = std::collections::HashMap::new();
        for (name, def) in &definitions {
            let gvks = def
                .get("x-kubernetes-group-version-kind")
                .and_then(serde_json::Value::as_array);
            for gvk in gvks.into_iter().flatten() {
                let field = |k: &str| {
                    gvk.get(k)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                kinds.insert(
                    (field("group"), field("version"), field("kind")),
                    name.clone(),
                );
            }
        }
        OpenApi {
            v2_json,
            v2_protobuf,
            v3_root,
            v3,
            definitions: Arc::new(definitions),
            kinds: Arc::new(kinds),
        }
    }

    /// Returns the documents for `resources`, reusing an earlier result for
    /// the same resource set (the server may call this per request). A few
    /// recent sets are kept so alternating callers do not rebuild.
    pub fn cached(resources: &[ResourceType]) -> Arc<OpenApi> {
        const KEEP: usize = 4;
        type Entries = Mutex<Vec<(Vec<ResourceType>, Arc<OpenApi>)>>;
        static CACHE: Entries = Mutex::new(Vec::new());
        let mut entries = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = entries.iter().position(|(k, _)| k.as_slice() == resources) {
            let hit = entries.remove(i);
            let api = Arc::clone(&hit.1);
            entries.insert(0, hit);
            return api;
        }
        let api = Arc::new(OpenApi::new(resources));
        entries.insert(0, (resources.to_vec(), Arc::clone(&api)));
        entries.truncate(KEEP);
        api
    }

    /// Removes fields the kind's schema does not declare (as decoding into the typed object
    /// does upstream) and returns their paths, e.g. `spec.replcas`. Kinds without a schema
    /// are left alone.
    pub fn prune_unknown(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        obj: &mut serde_json::Value,
    ) -> Vec<String> {
        let mut pruned = Vec::new();
        if let Some(name) =
            self.kinds
                .get(&(group.to_string(), version.to_string(), kind.to_string()))
        {
            if let Some(def) = self.definitions.get(name) {
                prune_schema(&self.definitions, def, obj, "", &mut pruned, 0);
            }
        }
        pruned
    }

    /// Swagger 2.0 JSON (`/openapi/v2`, `Accept: application/json`).
    pub fn v2_json(&self) -> &[u8] {
        &self.v2_json.bytes
    }

    /// gnostic `openapi.v2.Document` protobuf of the same document.
    pub fn v2_protobuf(&self) -> &[u8] {
        &self.v2_protobuf
    }

    /// ETag value (unquoted) shared by both v2 representations.
    pub fn v2_etag(&self) -> &str {
        &self.v2_json.hash
    }

    /// `/openapi/v3` discovery document.
    pub fn v3_root(&self) -> &[u8] {
        &self.v3_root.bytes
    }

    /// ETag value (unquoted) of the v3 discovery document.
    pub fn v3_root_etag(&self) -> &str {
        &self.v3_root.hash
    }

    /// OpenAPI 3.0 JSON for a group-version path such as `apis/apps/v1`
    /// (a leading `/openapi/v3/` or `/` and a `?query` are tolerated).
    pub fn v3_group_version(&self, path: &str) -> Option<&[u8]> {
        self.v3_doc(path).map(|d| d.bytes.as_slice())
    }

    /// The `hash`/ETag of a group-version document.
    pub fn v3_group_version_hash(&self, path: &str) -> Option<&str> {
        self.v3_doc(path).map(|d| d.hash.as_str())
    }

    /// Group-version paths with a v3 document (`api/v1`, `apis/apps/v1`, ...).
    pub fn v3_group_versions(&self) -> impl Iterator<Item = &str> {
        self.v3.keys().map(String::as_str)
    }

    fn v3_doc(&self, path: &str) -> Option<&Doc> {
        self.v3.get(normalize_v3_path(path))
    }
}

/// Strips `/openapi/v3/`, slashes and any query from a v3 path.
fn normalize_v3_path(path: &str) -> &str {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_prefix("/openapi/v3").unwrap_or(path);
    path.trim_matches('/')
}

/// Swagger 2.0 JSON for `resources` (cached; see [`OpenApi::cached`]).
pub fn v2_json(resources: &[ResourceType]) -> Vec<u8> {
    OpenApi::cached(resources).v2_json().to_vec()
}

/// gnostic protobuf v2 document for `resources` (cached).
pub fn v2_protobuf(resources: &[ResourceType]) -> Vec<u8> {
    OpenApi::cached(resources).v2_protobuf().to_vec()
}

/// `/openapi/v3` discovery document for `resources` (cached).
pub fn v3_root(resources: &[ResourceType]) -> Vec<u8> {
    OpenApi::cached(resources).v3_root().to_vec()
}

/// OpenAPI 3.0 document of one group-version (`apis/apps/v1`), if served.
pub fn v3_group_version(path: &str, resources: &[ResourceType]) -> Option<Vec<u8>> {
    OpenApi::cached(resources)
        .v3_group_version(path)
        .map(<[u8]>::to_vec)
}

#[doc(hidden)]
/// Dumps k8s-openapi's definitions before the upstream tables are applied
/// (input of `tools/gen_tables.py`).
pub fn debug_raw_definitions_json() -> Vec<u8> {
    serde_json::to_vec_pretty(&catalog::raw_definitions()).unwrap_or_default()
}

fn prune_schema(
    defs: &serde_json::Map<String, serde_json::Value>,
    schema: &serde_json::Value,
    obj: &mut serde_json::Value,
    path: &str,
    pruned: &mut Vec<String>,
    depth: usize,
) {
    use serde_json::Value;
    if depth > 64 {
        return;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(def) = r.strip_prefix("#/definitions/").and_then(|n| defs.get(n)) {
            prune_schema(defs, def, obj, path, pruned, depth + 1);
        }
        return;
    }
    if schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return;
    }
    match obj {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            // An object schema that names no fields (RawExtension, JSON) accepts anything.
            if props.is_none() && additional.is_none() {
                return;
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let sub = props.and_then(|p| p.get(&k)).or(additional);
                match (sub, map.get_mut(&k)) {
                    (Some(sub), Some(v)) => prune_schema(defs, sub, v, &child, pruned, depth + 1),
                    (None, _) => {
                        map.remove(&k);
                        pruned.push(child);
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_schema(defs, sub, item, &format!("{path}[{i}]"), pruned, depth + 1);
                }
            }
        }
        _ => {}
    }
}
