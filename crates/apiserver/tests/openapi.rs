//! End-to-end checks of the generated documents.

use std::collections::BTreeSet;
use std::time::Instant;

use rkube_apiserver::openapi::{
    builtin_resources, OpenApi, ResourceType, PROTOBUF_V2_CONTENT_TYPE,
};
use serde_json::Value;

fn api() -> std::sync::Arc<OpenApi> {
    OpenApi::cached(&builtin_resources())
}

fn v2() -> Value {
    serde_json::from_slice(api().v2_json()).expect("v2 json")
}

fn v3(path: &str) -> Value {
    serde_json::from_slice(api().v3_group_version(path).expect("gv doc")).expect("v3 json")
}

#[test]
fn generation_time() {
    let resources = builtin_resources();
    let start = Instant::now();
    let api = OpenApi::new(&resources);
    let elapsed = start.elapsed();
    let v3_total: usize = api
        .v3_group_versions()
        .filter_map(|gv| api.v3_group_version(gv))
        .map(<[u8]>::len)
        .sum();
    println!(
        "generated in {elapsed:?}: v2 json {} bytes, v2 protobuf {} bytes, v3 root {} bytes, {} v3 docs totalling {} bytes",
        api.v2_json().len(),
        api.v2_protobuf().len(),
        api.v3_root().len(),
        api.v3_group_versions().count(),
        v3_total
    );
    for gv in api.v3_group_versions() {
        println!(
            "  {gv}: {} bytes",
            api.v3_group_version(gv).map_or(0, <[u8]>::len)
        );
    }
    // Manual cross-checks (e.g. decoding with protoc-generated Python):
    // OPENAPI_DUMP_DIR=/tmp/dump cargo test -p openapi generation_time
    if let Ok(dir) = std::env::var("OPENAPI_DUMP_DIR") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("dump dir");
        std::fs::write(dir.join("v2.json"), api.v2_json()).expect("write");
        std::fs::write(dir.join("v2.pb"), api.v2_protobuf()).expect("write");
        std::fs::write(dir.join("v3-root.json"), api.v3_root()).expect("write");
        std::fs::write(
            dir.join("raw-definitions.json"),
            rkube_apiserver::openapi::debug_raw_definitions_json(),
        )
        .expect("write");
        for gv in api.v3_group_versions() {
            let file = format!("v3-{}.json", gv.replace('/', "_"));
            let doc = api.v3_group_version(gv).expect("doc");
            std::fs::write(dir.join(file), doc).expect("write");
        }
    }
    let first = OpenApi::cached(&resources);
    let start = Instant::now();
    let second = OpenApi::cached(&resources);
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    println!("cached lookup in {:?}", start.elapsed());
}

#[test]
fn definitions_have_descriptions() {
    let doc = v2();
    let defs = doc["definitions"].as_object().expect("definitions");
    for name in [
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.apps.v1.DeploymentList",
        "io.k8s.api.apps.v1.DeploymentSpec",
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "io.k8s.api.core.v1.Pod",
        "io.k8s.api.core.v1.PodSpec",
        "io.k8s.api.core.v1.Container",
        "io.k8s.api.core.v1.Service",
        "io.k8s.api.core.v1.Endpoints",
        "io.k8s.api.core.v1.ConfigMap",
        "io.k8s.api.core.v1.Secret",
        "io.k8s.api.core.v1.Namespace",
        "io.k8s.api.core.v1.Node",
        "io.k8s.api.core.v1.Event",
        "io.k8s.api.core.v1.ServiceAccount",
        "io.k8s.api.core.v1.ResourceQuota",
        "io.k8s.api.core.v1.LimitRange",
        "io.k8s.api.core.v1.PersistentVolume",
        "io.k8s.api.core.v1.PersistentVolumeClaim",
        "io.k8s.api.core.v1.ReplicationController",
        "io.k8s.api.core.v1.PodTemplate",
        "io.k8s.api.core.v1.Binding",
        "io.k8s.api.apps.v1.ReplicaSet",
        "io.k8s.api.apps.v1.StatefulSet",
        "io.k8s.api.apps.v1.DaemonSet",
        "io.k8s.api.apps.v1.ControllerRevision",
        "io.k8s.api.batch.v1.Job",
        "io.k8s.api.batch.v1.CronJob",
        "io.k8s.api.networking.v1.Ingress",
        "io.k8s.api.networking.v1.IngressClass",
        "io.k8s.api.networking.v1.NetworkPolicy",
        "io.k8s.api.discovery.v1.EndpointSlice",
        "io.k8s.api.coordination.v1.Lease",
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
        "io.k8s.api.autoscaling.v1.Scale",
        "io.k8s.api.events.v1.Event",
        "io.k8s.api.policy.v1.PodDisruptionBudget",
        "io.k8s.api.policy.v1.Eviction",
        "io.k8s.api.scheduling.v1.PriorityClass",
        "io.k8s.api.rbac.v1.Role",
        "io.k8s.api.rbac.v1.RoleBinding",
        "io.k8s.api.rbac.v1.ClusterRole",
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        "io.k8s.api.storage.v1.StorageClass",
        "io.k8s.api.certificates.v1.CertificateSigningRequest",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    ] {
        let def = defs.get(name).unwrap_or_else(|| panic!("{name} missing"));
        let desc = def["description"].as_str().unwrap_or_default();
        assert!(!desc.is_empty(), "{name} has no description");
    }
    // Lists for every kind with a list verb.
    for rt in builtin_resources() {
        if rt.plural.contains('/') || !rt.verbs.iter().any(|v| v == "list") {
            continue;
        }
        let listed = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, item)| item.get("get"))
            .filter(|op| {
                op["x-kubernetes-action"] == "list"
                    && op["x-kubernetes-group-version-kind"]["kind"] == rt.kind.as_str()
                    && op["x-kubernetes-group-version-kind"]["group"] == rt.group.as_str()
            })
            .filter_map(|op| op["responses"]["200"]["schema"]["$ref"].as_str())
            .next()
            .unwrap_or_else(|| panic!("no list op for {}", rt.kind));
        let list_name = listed.trim_start_matches("#/definitions/");
        assert!(list_name.ends_with("List"), "{list_name}");
        let gvk = &defs[list_name]["x-kubernetes-group-version-kind"][0];
        assert_eq!(gvk["kind"], format!("{}List", rt.kind));
    }
    // Property descriptions come through (kubectl explain prints them).
    let strategy = &defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(
        strategy["$ref"],
        "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy"
    );
    assert!(strategy["description"]
        .as_str()
        .is_some_and(|d| d.contains("deployment strategy")));
}

#[test]
fn deployment_strategy_and_gvk() {
    let doc = v2();
    let defs = &doc["definitions"];
    let strategy = &defs["io.k8s.api.apps.v1.DeploymentStrategy"];
    let props: BTreeSet<&str> = strategy["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(props, BTreeSet::from(["rollingUpdate", "type"]));
    assert_eq!(strategy["type"], "object");
    assert_eq!(
        defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        defs["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    // Upstream does not require metadata.
    assert!(defs["io.k8s.api.apps.v1.Deployment"]
        .get("required")
        .is_none());
    // Special apimachinery representations kubectl's v2 parser understands.
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
        "int-or-string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
        "date-time"
    );
}

#[test]
fn patch_metadata() {
    let doc = v2();
    let defs = &doc["definitions"];
    let pod_spec = &defs["io.k8s.api.core.v1.PodSpec"]["properties"];
    for (field, key, strategy) in [
        ("containers", "name", "merge"),
        ("initContainers", "name", "merge"),
        ("volumes", "name", "merge,retainKeys"),
    ] {
        assert_eq!(
            pod_spec[field]["x-kubernetes-patch-merge-key"], key,
            "{field}"
        );
        assert_eq!(
            pod_spec[field]["x-kubernetes-patch-strategy"], strategy,
            "{field}"
        );
    }
    let container = &defs["io.k8s.api.core.v1.Container"]["properties"];
    assert_eq!(
        container["ports"]["x-kubernetes-patch-merge-key"],
        "containerPort"
    );
    assert_eq!(container["env"]["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(
        container["volumeMounts"]["x-kubernetes-patch-merge-key"],
        "mountPath"
    );
    assert_eq!(
        container["ports"]["x-kubernetes-list-map-keys"],
        serde_json::json!(["containerPort", "protocol"])
    );
    let status = &defs["io.k8s.api.apps.v1.DeploymentStatus"]["properties"];
    assert_eq!(status["conditions"]["x-kubernetes-patch-merge-key"], "type");
    assert_eq!(status["conditions"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
            ["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    assert_eq!(
        defs["io.k8s.api.core.v1.ConfigMapKeySelector"]["x-kubernetes-map-type"],
        "atomic"
    );
    assert_eq!(
        defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]["x-kubernetes-list-map-keys"],
        serde_json::json!(["port", "protocol"])
    );
}

/// Collects every `$ref` target under `v`.
fn refs(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                if k == "$ref" {
                    if let Some(r) = c.as_str() {
                        out.insert(r.strip_prefix(prefix).unwrap_or(r).to_owned());
                    }
                } else {
                    refs(c, prefix, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| refs(c, prefix, out)),
        _ => {}
    }
}

/// What kube-openapi's v2 `proto.ParseSchema` (kubectl 1.20 validation and
/// explain) rejects: arrays without one item schema, unknown types.
fn check_v2_schema(path: &str, s: &Value) {
    if s.get("$ref").is_some() {
        return;
    }
    match s.get("type").and_then(Value::as_str) {
        Some("array") => {
            let items = s
                .get("items")
                .unwrap_or_else(|| panic!("{path}: array without items"));
            assert!(items.is_object(), "{path}: items must be one schema");
            check_v2_schema(&format!("{path}[]"), items);
        }
        Some("object") | None => {}
        Some(t) => assert!(
            ["string", "integer", "number", "boolean"].contains(&t),
            "{path}: unknown type {t}"
        ),
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            check_v2_schema(&format!("{path}.{k}"), p);
        }
    }
    if let Some(extra) = s.get("additionalProperties").filter(|v| v.is_object()) {
        check_v2_schema(&format!("{path}{{}}"), extra);
    }
    for key in ["oneOf", "anyOf", "allOf", "$schema", "nullable"] {
        assert!(s.get(key).is_none(), "{path}: unexpected {key}");
    }
}

#[test]
fn v2_is_self_contained_and_parseable() {
    let doc = v2();
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().expect("definitions");
    let mut targets = BTreeSet::new();
    refs(&doc, "#/definitions/", &mut targets);
    for t in &targets {
        assert!(defs.contains_key(t), "dangling $ref {t}");
    }
    for (name, def) in defs {
        check_v2_schema(name, def);
    }
    // GVKs are unique across definitions (kubectl indexes models by GVK).
    let mut seen = BTreeSet::new();
    for def in defs.values() {
        for gvk in def["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert!(seen.insert(gvk.to_string()), "duplicate GVK {gvk}");
        }
    }
    println!(
        "{} definitions, {} paths",
        defs.len(),
        doc["paths"].as_object().map_or(0, |p| p.len())
    );
}

#[test]
fn v3_root_and_group_versions() {
    let api = api();
    let root: Value = serde_json::from_slice(api.v3_root()).expect("root json");
    let paths = root["paths"].as_object().expect("paths");
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/autoscaling/v2",
        "apis/networking.k8s.io/v1",
    ] {
        let url = paths[gv]["serverRelativeURL"].as_str().expect("url");
        let hash = api.v3_group_version_hash(gv).expect("hash");
        assert_eq!(url, format!("/openapi/v3/{gv}?hash={hash}"));
        assert_eq!(hash.len(), 128);
    }
    assert_eq!(
        api.v3_group_version("/openapi/v3/apis/apps/v1?hash=x"),
        api.v3_group_version("apis/apps/v1")
    );

    let apps = v3("apis/apps/v1");
    assert_eq!(apps["openapi"], "3.0.0");
    let schemas = apps["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.api.core.v1.PodSpec",
        "io.k8s.api.autoscaling.v1.Scale",
    ] {
        assert!(schemas.contains_key(name), "{name} missing from apps/v1");
    }
    assert!(!schemas.contains_key("io.k8s.api.batch.v1.Job"));
    // Field descriptions ride next to an allOf-wrapped ref (as upstream).
    let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(
        strategy["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
    );
    assert!(strategy["description"].is_string());

    let item = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    assert_eq!(
        item["patch"]["x-kubernetes-group-version-kind"],
        serde_json::json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    assert_eq!(item["get"]["x-kubernetes-action"], "get");
}

#[test]
fn every_v3_doc_is_complete_and_patch_has_field_validation() {
    let api = api();
    for gv in api.v3_group_versions() {
        let doc = v3(gv);
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut targets = BTreeSet::new();
        refs(&doc, "#/components/schemas/", &mut targets);
        for t in &targets {
            assert!(schemas.contains_key(t), "{gv}: dangling $ref {t}");
        }
        let mut patches = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["patch", "put", "post"] {
                let Some(op) = item.get(method) else { continue };
                let has = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query");
                assert!(has, "{gv} {method} {path} lacks fieldValidation");
                assert!(op["x-kubernetes-group-version-kind"].is_object(), "{path}");
                patches += usize::from(method == "patch");
            }
        }
        // Every kind named by an operation has a schema with that GVK
        // (kubectl explain looks schemas up by it).
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("item").values() {
                let Some(gvk) = op.get("x-kubernetes-group-version-kind") else {
                    continue;
                };
                let found = schemas.values().any(|s| {
                    s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .is_some_and(|l| l.contains(gvk))
                });
                assert!(found, "{gv}: no schema for {gvk}");
            }
        }
        let _ = patches;
    }
}

#[test]
fn handler_negotiation() {
    let api = api();
    let json = api
        .handle("/openapi/v2", None, Some("application/json"), None)
        .expect("v2");
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.body, api.v2_json());

    let pb = api
        .handle(
            "/openapi/v2",
            None,
            Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
            None,
        )
        .expect("v2 pb");
    assert_eq!(pb.header("content-type"), Some(PROTOBUF_V2_CONTENT_TYPE));
    assert_eq!(pb.body, api.v2_protobuf());
    let etag = pb.header("etag").expect("etag").to_owned();
    let not_modified = api
        .handle("/openapi/v2", None, Some("application/json"), Some(&etag))
        .expect("304");
    assert_eq!(not_modified.status, 304);

    let root = api.handle("/openapi/v3", None, None, None).expect("root");
    assert_eq!(root.status, 200);
    let hash = api.v3_group_version_hash("apis/apps/v1").expect("hash");
    let ok = api
        .handle(
            "/openapi/v3/apis/apps/v1",
            Some(&format!("hash={hash}")),
            Some("application/json"),
            None,
        )
        .expect("gv");
    assert_eq!(ok.status, 200);
    assert!(ok.header("cache-control").is_some());
    let moved = api
        .handle("/openapi/v3/apis/apps/v1", Some("hash=OLD"), None, None)
        .expect("gv");
    assert_eq!(moved.status, 301);
    assert_eq!(
        moved.header("location"),
        Some(format!("/openapi/v3/apis/apps/v1?hash={hash}").as_str())
    );
    let missing = api
        .handle("/openapi/v3/apis/nope/v1", None, None, None)
        .expect("404");
    assert_eq!(missing.status, 404);
    assert!(api.handle("/api/v1", None, None, None).is_none());
}

#[test]
fn free_functions_and_custom_registry() {
    let resources = vec![
        ResourceType::new(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            &["get", "list", "patch"],
        ),
        ResourceType::new(
            "apps",
            "v1",
            "Scale",
            "deployments/scale",
            true,
            &["get", "patch", "update"],
        ),
        ResourceType::new("example.com", "v1", "Widget", "widgets", true, &["get"]),
    ];
    let root: Value =
        serde_json::from_slice(&rkube_apiserver::openapi::v3_root(&resources)).expect("root");
    let keys: Vec<&String> = root["paths"].as_object().expect("paths").keys().collect();
    assert_eq!(keys, vec!["apis/apps/v1"]);
    let doc: Value = serde_json::from_slice(
        &rkube_apiserver::openapi::v3_group_version("apis/apps/v1", &resources).expect("doc"),
    )
    .expect("json");
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        serde_json::json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );
    assert_eq!(
        scale["patch"]["operationId"],
        "patchAppsV1NamespacedDeploymentScale"
    );
    assert!(doc["paths"]
        .get("/apis/apps/v1/namespaces/{namespace}/deployments")
        .is_some());
    assert!(
        rkube_apiserver::openapi::v3_group_version("apis/example.com/v1", &resources).is_none()
    );
    let v2: Value =
        serde_json::from_slice(&rkube_apiserver::openapi::v2_json(&resources)).expect("v2");
    assert!(v2["definitions"].get("io.k8s.api.core.v1.Pod").is_none());
    assert!(v2["definitions"]
        .get("io.k8s.api.core.v1.PodSpec")
        .is_some());
    assert!(!rkube_apiserver::openapi::v2_protobuf(&resources).is_empty());
}

// ---------------------------------------------------------------------------
// A generic protobuf wire-format decoder, to check the v2 protobuf without
// trusting the encoder's own notion of the schema.

#[derive(Debug, Clone)]
enum Wire<'a> {
    /// Varint and fixed-width scalars (values unused by these checks).
    Scalar,
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint too long".into())
}

fn decode(buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, String> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = u32::try_from(key >> 3).map_err(|e| e.to_string())?;
        if field == 0 {
            return Err("field 0".into());
        }
        let value = match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
                Wire::Scalar
            }
            1 => {
                buf.get(pos..pos + 8).ok_or("truncated fixed64")?;
                pos += 8;
                Wire::Scalar
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|e| e.to_string())?;
                let b = buf.get(pos..pos + len).ok_or("truncated bytes")?;
                pos += len;
                Wire::Bytes(b)
            }
            5 => {
                buf.get(pos..pos + 4).ok_or("truncated fixed32")?;
                pos += 4;
                Wire::Scalar
            }
            w => return Err(format!("bad wire type {w}")),
        };
        out.push((field, value));
    }
    Ok(out)
}

fn bytes_fields<'a>(msg: &[(u32, Wire<'a>)], field: u32) -> Vec<&'a [u8]> {
    msg.iter()
        .filter(|(f, _)| *f == field)
        .filter_map(|(_, w)| match w {
            Wire::Bytes(b) => Some(*b),
            _ => None,
        })
        .collect()
}

fn string_field(msg: &[(u32, Wire<'_>)], field: u32) -> Vec<String> {
    bytes_fields(msg, field)
        .into_iter()
        .map(|b| String::from_utf8(b.to_vec()).expect("utf8"))
        .collect()
}

fn sub(msg: &[(u32, Wire<'_>)], field: u32) -> Vec<(u32, Wire<'static>)> {
    // Re-decode the first embedded message with a leaked buffer so the
    // helper can return owned data (test-only convenience).
    let b = bytes_fields(msg, field)
        .into_iter()
        .next()
        .expect("field present");
    let leaked: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
    decode(leaked).expect("embedded message decodes")
}

/// `repeated NamedX` entries as (name, value-bytes).
fn named(msg: &[(u32, Wire<'_>)], field: u32) -> Vec<(String, Vec<u8>)> {
    bytes_fields(msg, field)
        .into_iter()
        .map(|b| {
            let m = decode(b).expect("named decodes");
            let name = string_field(&m, 1).into_iter().next().unwrap_or_default();
            let value = bytes_fields(&m, 2)
                .into_iter()
                .next()
                .unwrap_or_default()
                .to_vec();
            (name, value)
        })
        .collect()
}

fn extension_yaml(schema: &[(u32, Wire<'_>)], field: u32, name: &str) -> Option<String> {
    named(schema, field)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, any)| {
            let any = decode(&any).expect("Any decodes");
            string_field(&any, 2).into_iter().next().unwrap_or_default()
        })
}

#[test]
fn protobuf_decodes() {
    let api = api();
    let json = v2();
    let doc = decode(api.v2_protobuf()).expect("document decodes");
    // Document: swagger = 1, info = 2, paths = 8, definitions = 9.
    assert_eq!(string_field(&doc, 1), vec!["2.0"]);
    let info = sub(&doc, 2);
    assert_eq!(string_field(&info, 1), vec!["Kubernetes"]);
    assert_eq!(string_field(&info, 2), vec!["unversioned"]);

    let defs = named(&sub(&doc, 9), 1);
    let json_defs = json["definitions"].as_object().expect("defs");
    assert_eq!(defs.len(), json_defs.len());
    for (name, schema) in &defs {
        let schema = decode(schema).expect("schema decodes");
        let j = &json_defs[name];
        // description = 4
        assert_eq!(
            string_field(&schema, 4)
                .into_iter()
                .next()
                .unwrap_or_default(),
            j["description"].as_str().unwrap_or_default(),
            "{name}"
        );
        // properties = 25 → Properties { repeated NamedSchema = 1 }
        let props: Vec<String> = if bytes_fields(&schema, 25).is_empty() {
            Vec::new()
        } else {
            named(&sub(&schema, 25), 1)
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let json_props: Vec<String> = j["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(props, json_props, "{name}");
        // required = 19
        let req = string_field(&schema, 19);
        let json_req: Vec<String> = j["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(req, json_req, "{name}");
    }

    let find = |name: &str| {
        let (_, bytes) = defs.iter().find(|(n, _)| n == name).expect("def");
        decode(Box::leak(bytes.clone().into_boxed_slice())).expect("decode")
    };
    let strategy = find("io.k8s.api.apps.v1.DeploymentStrategy");
    let props: Vec<String> = named(&sub(&strategy, 25), 1)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(props, vec!["rollingUpdate", "type"]);
    // type = 22 → TypeItem { repeated string value = 1 }
    assert_eq!(string_field(&sub(&strategy, 22), 1), vec!["object"]);
    let rolling = named(&sub(&strategy, 25), 1)
        .into_iter()
        .find(|(n, _)| n == "rollingUpdate")
        .map(|(_, s)| decode(Box::leak(s.into_boxed_slice())).expect("decode"))
        .expect("rollingUpdate");
    assert_eq!(
        string_field(&rolling, 1),
        vec!["#/definitions/io.k8s.api.apps.v1.RollingUpdateDeployment"]
    );

    let deployment = find("io.k8s.api.apps.v1.Deployment");
    assert_eq!(
        extension_yaml(&deployment, 31, "x-kubernetes-group-version-kind").as_deref(),
        Some("- group: apps\n  kind: Deployment\n  version: v1\n")
    );
    let pod = find("io.k8s.api.core.v1.Pod");
    assert_eq!(
        extension_yaml(&pod, 31, "x-kubernetes-group-version-kind").as_deref(),
        Some("- group: \"\"\n  kind: Pod\n  version: v1\n")
    );
    let pod_spec = find("io.k8s.api.core.v1.PodSpec");
    let containers = named(&sub(&pod_spec, 25), 1)
        .into_iter()
        .find(|(n, _)| n == "containers")
        .map(|(_, s)| decode(Box::leak(s.into_boxed_slice())).expect("decode"))
        .expect("containers");
    assert_eq!(
        extension_yaml(&containers, 31, "x-kubernetes-patch-merge-key").as_deref(),
        Some("name\n")
    );
    assert_eq!(
        extension_yaml(&containers, 31, "x-kubernetes-patch-strategy").as_deref(),
        Some("merge\n")
    );
    // items = 23 → ItemsItem { repeated Schema schema = 1 } → $ref
    let items = sub(&containers, 23);
    let item = decode(bytes_fields(&items, 1)[0]).expect("item");
    assert_eq!(
        string_field(&item, 1),
        vec!["#/definitions/io.k8s.api.core.v1.Container"]
    );

    // additionalProperties = 21 → AdditionalPropertiesItem { Schema schema = 1 }
    let labels = named(
        &sub(&find("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), 25),
        1,
    )
    .into_iter()
    .find(|(n, _)| n == "labels")
    .map(|(_, s)| decode(Box::leak(s.into_boxed_slice())).expect("decode"))
    .expect("labels");
    let ap = decode(bytes_fields(&labels, 21)[0]).expect("additionalProperties");
    let ap_schema = decode(bytes_fields(&ap, 1)[0]).expect("schema");
    assert_eq!(string_field(&sub(&ap_schema, 22), 1), vec!["string"]);

    // paths = 8 → Paths { repeated NamedPathItem path = 2 }; PATCH = 8 on
    // PathItem; kubectl's v2 verifier reads the inline query parameter.
    let paths = named(&sub(&doc, 8), 2);
    assert_eq!(
        paths.len(),
        json["paths"].as_object().map_or(0, |p| p.len())
    );
    let (_, item) = paths
        .iter()
        .find(|(n, _)| n == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        .expect("deployment item path");
    let item = decode(item).expect("path item");
    let patch = sub(&item, 8);
    assert_eq!(
        string_field(&patch, 5),
        vec!["patchAppsV1NamespacedDeployment"]
    );
    assert_eq!(
        extension_yaml(&patch, 13, "x-kubernetes-group-version-kind").as_deref(),
        Some("group: apps\nkind: Deployment\nversion: v1\n")
    );
    let query_names: Vec<String> = bytes_fields(&patch, 8)
        .into_iter()
        .filter_map(|pi| {
            let pi = decode(pi).ok()?;
            let param = decode(bytes_fields(&pi, 1).first()?).ok()?;
            let non_body = decode(bytes_fields(&param, 2).first()?).ok()?;
            let query = decode(bytes_fields(&non_body, 3).first()?).ok()?;
            string_field(&query, 4).into_iter().next()
        })
        .collect();
    assert!(
        query_names.iter().any(|n| n == "fieldValidation"),
        "{query_names:?}"
    );
    // Body parameter: Parameter.body_parameter = 1 with schema = 5 → Patch.
    let body_ref = bytes_fields(&patch, 8).into_iter().find_map(|pi| {
        let pi = decode(pi).ok()?;
        let param = decode(bytes_fields(&pi, 1).first()?).ok()?;
        let body = decode(bytes_fields(&param, 1).first()?).ok()?;
        let schema = decode(bytes_fields(&body, 5).first()?).ok()?;
        string_field(&schema, 1).into_iter().next()
    });
    assert_eq!(
        body_ref.as_deref(),
        Some("#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
    );
}
