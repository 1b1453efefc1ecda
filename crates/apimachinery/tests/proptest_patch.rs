//! Property tests for the three PATCH flavours: arbitrary documents and arbitrary patches
//! (directive keys, `null`s, deep nesting, big arrays) never panic and answer `Ok` or a
//! [`PatchError`]; merge patch follows RFC 7386's laws; strategic merge keeps merge keys
//! unique.
//!
//! The default case count is modest so the file runs in a few seconds; scale it up with
//! e.g. `PROPTEST_CASES=20000 cargo test -p rkube-apimachinery --test proptest_patch`.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::Config;
use rkube_apimachinery::patch::schema::Schema;
use rkube_apimachinery::patch::strategic::GroupVersionKind;
use rkube_apimachinery::patch::{json_patch, merge_patch, strategic, PatchError};
use serde_json::{json, Map, Number, Value};

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Object keys: mostly names that mean something to the strategic merge schema of Pods
/// and Deployments, plus every directive key form (well and badly formed).
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations",
            "finalizers", "spec", "template", "containers", "initContainers", "image",
            "ports", "containerPort", "protocol", "env", "value", "volumeMounts",
            "mountPath", "volumes", "tolerations", "selector", "matchLabels", "replicas",
            "strategy", "rollingUpdate", "args", "command", "status", "conditions", "type",
        ])
        .prop_map(str::to_string),
        2 => prop::sample::select(vec![
            "$patch", "$retainKeys", "$setElementOrder/containers",
            "$setElementOrder/finalizers", "$setElementOrder/ports", "$setElementOrder/env",
            "$setElementOrder/", "$setElementOrder", "$setElementOrder/a/b",
            "$deleteFromPrimitiveList/finalizers", "$deleteFromPrimitiveList/args",
            "$deleteFromPrimitiveList/containers", "$deleteFromPrimitiveList",
            "$deleteFromPrimitiveList/", "$retainKeysX", "$", "$patchX",
        ])
        .prop_map(str::to_string),
        2 => "[a-z$/~0-9]{0,6}",
        1 => any::<String>(),
    ]
}

/// Scalars, including the strings the directives look for.
fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "replace",
            "delete",
            "merge",
            "",
            "web",
            "sidecar",
            "a",
            "b",
            "c",
            "nginx",
            "foregroundDeletion",
            "orphan",
            "kubernetes",
            "-1",
            "0",
            "/",
            "~",
            "~1",
            "$patch",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        "[a-z0-9./~-]{0,8}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

/// Arbitrary JSON: up to 6 levels, objects keyed by [`arb_key`].
fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Arbitrary JSON object (what API objects and most patches are).
fn arb_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((arb_key(), arb_json()), 0..8)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

/// JSON without `null` anywhere (for the merge patch diff law).
fn arb_json_no_nulls() -> impl Strategy<Value = Value> {
    arb_json().prop_map(|mut v| {
        remove_nulls(&mut v);
        v
    })
}

fn remove_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(remove_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(remove_nulls);
        }
        Value::Null => *v = Value::Bool(false),
        _ => {}
    }
}

/// JSON pointers, valid and not: `""`, `/`, `/-`, `~` escapes, negative and huge indices.
fn arb_pointer() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        arb_key(),
        prop::sample::select(vec![
            "-",
            "0",
            "1",
            "2",
            "-1",
            "-2",
            "00",
            "01",
            "7",
            "18446744073709551616",
            "99999999999999999999",
            "~",
            "~0",
            "~1",
            "~2",
            "",
        ])
        .prop_map(str::to_string),
    ];
    prop_oneof![
        1 => Just(String::new()),
        1 => any::<String>(),
        8 => prop::collection::vec(token, 0..5).prop_map(|tokens| {
            tokens.iter().map(|t| format!("/{t}")).collect::<String>()
        }),
    ]
}

/// One JSON patch operation: usually well-formed, sometimes with wrong or missing fields.
fn arb_operation() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        6 => prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"])
            .prop_map(|s| Value::String(s.to_string())),
        1 => arb_leaf(),
    ];
    let path = prop_oneof![5 => arb_pointer().prop_map(Value::String), 1 => arb_leaf()];
    let from = prop::option::of(prop_oneof![
        5 => arb_pointer().prop_map(Value::String),
        1 => arb_leaf(),
    ]);
    let value = prop::option::of(arb_json());
    (op, prop::option::of(path), from, value).prop_map(|(op, path, from, value)| {
        let mut m = Map::new();
        m.insert("op".to_string(), op);
        if let Some(p) = path {
            m.insert("path".to_string(), p);
        }
        if let Some(f) = from {
            m.insert("from".to_string(), f);
        }
        if let Some(v) = value {
            m.insert("value".to_string(), v);
        }
        Value::Object(m)
    })
}

/// Every pointer into `doc` plus the positions one could add at (`/-`, one past the end,
/// a new member), so generated operations usually hit something.
fn pointers(doc: &Value, prefix: &str, out: &mut Vec<String>) {
    out.push(prefix.to_string());
    match doc {
        Value::Object(m) => {
            out.push(format!("{prefix}/new"));
            for (k, v) in m {
                pointers(v, &format!("{prefix}/{}", json_patch::escape_token(k)), out);
            }
        }
        Value::Array(items) => {
            out.push(format!("{prefix}/-"));
            out.push(format!("{prefix}/{}", items.len()));
            for (i, v) in items.iter().enumerate() {
                pointers(v, &format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A document and a JSON patch whose paths mostly point into it.
fn arb_doc_and_targeted_patch() -> impl Strategy<Value = (Value, Value)> {
    arb_json().prop_flat_map(|doc| {
        let mut paths = Vec::new();
        pointers(&doc, "", &mut paths);
        let path = prop_oneof![
            4 => prop::sample::select(paths.clone()),
            1 => arb_pointer(),
        ];
        let op = prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"]);
        let value = prop_oneof![arb_leaf(), arb_json()];
        let operation = (op, path.clone(), path, value).prop_map(
            |(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}),
        );
        (
            Just(doc),
            prop::collection::vec(operation, 1..4).prop_map(Value::Array),
        )
    })
}

fn arb_json_patch() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::collection::vec(arb_operation(), 0..8).prop_map(Value::Array),
        1 => prop::collection::vec(prop_oneof![arb_operation(), arb_json()], 0..4)
            .prop_map(Value::Array),
        1 => arb_json(),
    ]
}

/// Kinds strategic merge patch is applied to: built-in ones with list metadata, one
/// without (a custom resource, which must be refused) and unknown versions.
fn arb_gvk() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    prop::sample::select(vec![
        ("", "v1", "Pod"),
        ("apps", "v1", "Deployment"),
        ("apps", "v1", "DaemonSet"),
        ("batch", "v1", "Job"),
        ("", "v1", "Service"),
        ("", "v1", "Node"),
        ("", "v1", "ConfigMap"),
        ("", "v1", "Namespace"),
        ("example.com", "v1", "Widget"),
        ("apps", "v9", "Deployment"),
    ])
}

/// A container: merge key `name` from a small set so patches collide with live items.
fn arb_container() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["web", "sidecar", "init", "log", "proxy", "db"]);
    let image = prop::option::of(prop::sample::select(vec!["nginx", "busybox", "redis"]));
    let ports = prop::option::of(prop::collection::vec(
        (1u16..5, prop::option::of(Just("TCP"))).prop_map(|(p, proto)| {
            let mut m = Map::new();
            m.insert("containerPort".to_string(), json!(p));
            if let Some(proto) = proto {
                m.insert("protocol".to_string(), json!(proto));
            }
            Value::Object(m)
        }),
        0..3,
    ));
    (name, image, ports).prop_map(|(name, image, ports)| {
        let mut m = Map::new();
        m.insert("name".to_string(), json!(name));
        if let Some(image) = image {
            m.insert("image".to_string(), json!(image));
        }
        if let Some(ports) = ports {
            m.insert("ports".to_string(), Value::Array(ports));
        }
        Value::Object(m)
    })
}

/// A live containers list: distinct names, as validation guarantees for stored objects.
fn arb_live_containers() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(arb_container(), 0..6).prop_map(|items| {
        let mut seen = BTreeSet::new();
        items
            .into_iter()
            .filter(|c| seen.insert(c["name"].as_str().unwrap_or_default().to_string()))
            .collect()
    })
}

/// A patch item for a containers list: a container, maybe with a `$patch` directive
/// (well formed or not), or something that is not a container at all.
fn arb_patch_container() -> impl Strategy<Value = Value> {
    let directive = prop::option::of(prop::sample::select(vec![
        "delete", "replace", "merge", "bogus",
    ]));
    prop_oneof![
        8 => (arb_container(), directive, any::<bool>()).prop_map(|(c, d, keep_name)| {
            let mut c = c;
            if let (Some(d), Value::Object(m)) = (d, &mut c) {
                m.insert("$patch".to_string(), json!(d));
                if !keep_name {
                    m.remove("name");
                }
            }
            c
        }),
        1 => arb_json(),
    ]
}

/// A containers patch list. Names are distinct, as in patches kubectl computes: a list
/// that replaces the live one (`$patch: replace`, or no live list) is taken verbatim, so
/// duplicates in the patch would legitimately survive (validation rejects them later).
fn arb_patch_containers(max: usize) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(arb_patch_container(), 0..max).prop_map(|items| {
        let mut seen = BTreeSet::new();
        items
            .into_iter()
            .filter(|c| match c.get("name") {
                Some(n) => seen.insert(n.to_string()),
                None => true,
            })
            .collect()
    })
}

/// `$setElementOrder/containers` contents: names as the order directive lists them.
fn arb_order() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop::collection::vec(
            prop::sample::select(vec!["web", "sidecar", "init", "log", "proxy", "db"])
                .prop_map(|n| json!({ "name": n })),
            0..6,
        )
        .prop_map(Value::Array),
        1 => arb_json(),
    ]
}

fn finalizer() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "kubernetes", "orphan"]).prop_map(str::to_string)
}

/// Wraps a pod spec for `kind`; returns the object and the JSON pointer to `containers`.
fn wrap_spec(kind: &str, spec: Value, metadata: Value) -> (Value, &'static str) {
    if kind == "Deployment" {
        (
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                "spec": {"template": {"spec": spec}}
            }),
            "/spec/template/spec",
        )
    } else {
        (
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}),
            "/spec",
        )
    }
}

/// A live Pod or Deployment with distinct container names and finalizers, and a
/// strategic patch touching `containers`, `initContainers` and `finalizers` with every
/// directive the list merge knows about.
fn arb_workload_case() -> impl Strategy<Value = (&'static str, Value, Value)> {
    let kind = prop::sample::select(vec!["Pod", "Deployment"]);
    let live = (
        arb_live_containers(),
        arb_live_containers(),
        prop::collection::btree_set(finalizer(), 0..4),
    );
    let patch_spec = (
        prop::option::of(arb_patch_containers(6)),
        prop::option::of(arb_order()),
        prop::option::of(arb_patch_containers(3)),
        prop::option::of(prop_oneof![
            Just(json!(["containers"])),
            Just(json!(["containers", "initContainers"])),
            arb_json(),
        ]),
        prop::option::of(prop::sample::select(vec!["replace", "delete", "bogus"])),
    );
    let patch_meta = (
        prop::option::of(prop::collection::vec(finalizer(), 0..4)),
        prop::option::of(prop::collection::vec(finalizer(), 0..3)),
        prop::option::of(prop::collection::vec(finalizer(), 0..4)),
    );
    (kind, live, patch_spec, patch_meta).prop_map(
        |(
            kind,
            (containers, init, finalizers),
            (p_containers, p_order, p_init, p_retain, p_directive),
            (p_finalizers, p_delete_finalizers, p_finalizer_order),
        )| {
            let spec = json!({"containers": containers, "initContainers": init});
            let (live, _) = wrap_spec(kind, spec, json!({"name": "x", "finalizers": finalizers}));

            let mut spec_patch = Map::new();
            if let Some(c) = p_containers {
                spec_patch.insert("containers".to_string(), Value::Array(c));
            }
            if let Some(o) = p_order {
                spec_patch.insert("$setElementOrder/containers".to_string(), o);
            }
            if let Some(i) = p_init {
                spec_patch.insert("initContainers".to_string(), Value::Array(i));
            }
            if let Some(r) = p_retain {
                spec_patch.insert("$retainKeys".to_string(), r);
            }
            if let Some(d) = p_directive {
                spec_patch.insert("$patch".to_string(), json!(d));
            }
            let mut meta_patch = Map::new();
            if let Some(f) = p_finalizers {
                meta_patch.insert("finalizers".to_string(), json!(f));
            }
            if let Some(f) = p_delete_finalizers {
                meta_patch.insert("$deleteFromPrimitiveList/finalizers".to_string(), json!(f));
            }
            if let Some(f) = p_finalizer_order {
                meta_patch.insert("$setElementOrder/finalizers".to_string(), json!(f));
            }
            let (patch, _) = wrap_spec(kind, Value::Object(spec_patch), Value::Object(meta_patch));
            (kind, live, patch)
        },
    )
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn assert_classified(e: &PatchError) {
    assert!(
        matches!(e.status_code(), 400 | 413 | 415 | 422 | 500),
        "unexpected status for {e:?}"
    );
    // Message rendering walks the offending values; it must not panic either.
    let _ = e.status_message();
    let _ = e.reason();
}

fn has_directive_key(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            k == "$patch"
                || k == "$retainKeys"
                || k.starts_with("$setElementOrder/")
                || k.starts_with("$deleteFromPrimitiveList/")
                || has_directive_key(v)
        }),
        Value::Array(items) => items.iter().any(has_directive_key),
        _ => false,
    }
}

fn contains_null_in_array(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(contains_null_in_array),
        Value::Array(items) => items
            .iter()
            .any(|i| i.is_null() || contains_null_anywhere(i)),
        _ => false,
    }
}

fn contains_null_anywhere(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(contains_null_anywhere),
        Value::Array(items) => items.iter().any(contains_null_anywhere),
        _ => false,
    }
}

/// RFC 7386 patch that turns `source` into `target` (both objects without nulls).
fn merge_diff(source: &Map<String, Value>, target: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for key in source.keys() {
        if !target.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    for (key, want) in target {
        match (source.get(key), want) {
            (Some(have), want) if have == want => {}
            (Some(Value::Object(have)), Value::Object(want)) => {
                patch.insert(key.clone(), Value::Object(merge_diff(have, want)));
            }
            _ => {
                patch.insert(key.clone(), want.clone());
            }
        }
    }
    patch
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name").map(|n| n.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_unique(what: &str, keys: &[String], result: &Value) {
    let distinct: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "{what} not unique in {result}");
}

/// Nested `{"a":{"a":...}}` (or arrays) `depth` levels deep around `leaf`.
fn nested(depth: usize, arrays: bool, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = if arrays {
            Value::Array(vec![v])
        } else {
            json!({ "spec": v })
        };
    }
    v
}

// ---------------------------------------------------------------------------------------
// JSON patch
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_patch_never_panics(doc in arb_json(), patch in arb_json_patch()) {
        match json_patch::apply(&doc, &patch) {
            Ok(_) => {}
            Err(e) => {
                assert_classified(&e);
                // Decoding fails with 400/413, applying with 422 only.
                if json_patch::JsonPatch::from_value(&patch).is_ok() {
                    prop_assert_eq!(e.status_code(), 422, "{:?}", e);
                }
            }
        }
        if let Ok(p) = json_patch::JsonPatch::from_value(&patch) {
            let _ = p.apply_with_copy_limit(&doc, Some(64));
            let _ = p.apply_with_copy_limit(&doc, None);
        }
    }

    #[test]
    fn json_patch_targeted_never_panics((doc, patch) in arb_doc_and_targeted_patch()) {
        match json_patch::apply(&doc, &patch) {
            Ok(_) => {}
            Err(e) => {
                assert_classified(&e);
                prop_assert_eq!(e.status_code(), 422, "{:?}", e);
            }
        }
    }

    #[test]
    fn json_patch_from_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Err(e) = json_patch::JsonPatch::from_slice(&body) {
            assert_classified(&e);
        }
    }

    #[test]
    fn json_patch_from_text_never_panics(doc in arb_json(), patch in arb_json_patch()) {
        // Same documents, through the byte path the handler uses.
        let body = patch.to_string();
        if let Ok(p) = json_patch::JsonPatch::from_slice(body.as_bytes()) {
            let _ = p.apply(&doc);
        }
    }

    #[test]
    fn json_patch_empty_is_identity(doc in arb_json()) {
        prop_assert_eq!(json_patch::apply(&doc, &json!([])), Ok(doc));
    }

    #[test]
    fn json_patch_test_of_present_member_succeeds(doc in arb_object(), key in arb_key()) {
        if let Some(v) = doc.get(&key) {
            let path = format!("/{}", json_patch::escape_token(&key));
            let patch = json!([{"op": "test", "path": path, "value": v}]);
            prop_assert_eq!(json_patch::apply(&doc, &patch), Ok(doc.clone()));
        }
    }

    #[test]
    fn json_patch_add_then_remove_is_identity(
        doc in arb_object(), key in arb_key(), value in arb_json()
    ) {
        if doc.get(&key).is_none() {
            let path = format!("/{}", json_patch::escape_token(&key));
            let patch = json!([
                {"op": "add", "path": path, "value": value},
                {"op": "remove", "path": path}
            ]);
            prop_assert_eq!(json_patch::apply(&doc, &patch), Ok(doc.clone()));
        }
    }

    #[test]
    fn json_pointer_tokens_round_trip(token in any::<String>()) {
        prop_assert_eq!(
            json_patch::unescape_token(&json_patch::escape_token(&token)),
            token
        );
    }
}

// ---------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386)
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merge_patch_never_panics(doc in arb_json(), patch in arb_json()) {
        match merge_patch::apply(&doc, &patch) {
            Ok(_) => {}
            Err(e) => assert_classified(&e),
        }
        let mut target = doc.clone();
        merge_patch::merge(&mut target, &patch);
    }

    #[test]
    fn merge_patch_from_bytes_never_panics(
        doc in arb_json(), body in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        if let Err(e) = merge_patch::apply_slice(&doc, &body) {
            assert_classified(&e);
        }
    }

    #[test]
    fn merge_patch_empty_object_is_identity(doc in arb_object()) {
        prop_assert_eq!(merge_patch::apply(&doc, &json!({})), Ok(doc));
    }

    #[test]
    fn merge_patch_of_diff_reproduces_target(
        source in prop::collection::vec((arb_key(), arb_json_no_nulls()), 0..8),
        target in prop::collection::vec((arb_key(), arb_json_no_nulls()), 0..8),
    ) {
        let source: Map<String, Value> = source.into_iter().collect();
        let target: Map<String, Value> = target.into_iter().collect();
        let patch = Value::Object(merge_diff(&source, &target));
        prop_assert_eq!(
            merge_patch::apply(&Value::Object(source), &patch),
            Ok(Value::Object(target))
        );
    }

    #[test]
    fn merge_patch_result_has_no_added_nulls(doc in arb_object(), patch in arb_object()) {
        // Whatever the patch adds is pruned of nulls; a null-free document stays null-free
        // unless the patch replaces an object member with an array holding nulls, which
        // upstream passes through unpruned.
        if !contains_null_anywhere(&doc) && !contains_null_in_array(&patch) {
            let out = merge_patch::apply(&doc, &patch);
            prop_assert!(out.is_ok());
            if let Ok(out) = out {
                prop_assert!(!contains_null_anywhere(&out), "{}", out);
            }
        }
    }

    #[test]
    fn merge_patch_is_idempotent(doc in arb_object(), patch in arb_object()) {
        // Upstream keeps nulls inside a non-object value that replaces an object, and
        // prunes them the second time round; leave that corner out.
        if !contains_null_in_array(&patch) {
            let once = merge_patch::apply(&doc, &patch);
            prop_assert!(once.is_ok());
            if let Ok(once) = once {
                prop_assert_eq!(merge_patch::apply(&once, &patch), Ok(once.clone()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Strategic merge patch
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn strategic_never_panics(
        (group, version, kind) in arb_gvk(), doc in arb_json(), patch in arb_json()
    ) {
        let gvk = GroupVersionKind::new(group, version, kind);
        match strategic::apply(&doc, &patch, &gvk) {
            Ok(out) => prop_assert!(!has_directive_key(&out), "directive left in {}", out),
            Err(e) => {
                assert_classified(&e);
                if Schema::for_kind(group, version, kind).is_none() {
                    prop_assert_eq!(e.status_code(), 415);
                }
            }
        }
        if let Err(e) = strategic::apply_with_schema(&doc, &patch, Schema::opaque()) {
            assert_classified(&e);
        }
    }

    #[test]
    fn strategic_objects_never_panic(
        (group, version, kind) in arb_gvk(), doc in arb_object(), patch in arb_object()
    ) {
        // Both sides objects, so the merge itself (not the type check) is exercised.
        let gvk = GroupVersionKind::new(group, version, kind);
        match strategic::apply(&doc, &patch, &gvk) {
            Ok(out) => prop_assert!(!has_directive_key(&out), "directive left in {}", out),
            Err(e) => assert_classified(&e),
        }
    }

    #[test]
    fn strategic_workload_lists_never_panic_and_keep_merge_keys_unique(
        (kind, live, patch) in arb_workload_case()
    ) {
        let gvk = if kind == "Deployment" {
            GroupVersionKind::new("apps", "v1", "Deployment")
        } else {
            GroupVersionKind::new("", "v1", "Pod")
        };
        let spec = if kind == "Deployment" { "/spec/template/spec" } else { "/spec" };
        match strategic::apply(&live, &patch, &gvk) {
            Err(e) => assert_classified(&e),
            Ok(out) => {
                prop_assert!(!has_directive_key(&out), "directive left in {}", out);
                for list in ["containers", "initContainers"] {
                    if let Some(items) = out.pointer(&format!("{spec}/{list}")) {
                        assert_unique(list, &names(items), &out);
                    }
                }
                if let Some(Value::Array(f)) = out.pointer("/metadata/finalizers") {
                    let f: Vec<String> = f.iter().map(Value::to_string).collect();
                    assert_unique("finalizers", &f, &out);
                }
            }
        }
    }

    #[test]
    fn strategic_empty_patch_is_identity(
        (group, version, kind) in arb_gvk(), doc in arb_object()
    ) {
        if !has_directive_key(&doc) && Schema::for_kind(group, version, kind).is_some() {
            let gvk = GroupVersionKind::new(group, version, kind);
            prop_assert_eq!(strategic::apply(&doc, &json!({}), &gvk), Ok(doc.clone()));
            prop_assert_eq!(strategic::apply(&doc, &Value::Null, &gvk), Ok(doc));
        }
    }

    #[test]
    fn strategic_untouched_containers_survive(
        containers in arb_live_containers(),
        patch_items in prop::collection::vec(arb_container(), 0..4),
    ) {
        // Without directives, a merge never drops a live container and every patched
        // container ends up with the patch's image.
        let gvk = GroupVersionKind::new("", "v1", "Pod");
        let live = json!({"spec": {"containers": containers}});
        let patch = json!({"spec": {"containers": patch_items}});
        let out = strategic::apply(&live, &patch, &gvk);
        prop_assert!(out.is_ok(), "{:?}", out);
        if let Ok(out) = out {
            let got = names(&out["spec"]["containers"]);
            assert_unique("containers", &got, &out);
            for c in containers.iter().chain(patch_items.iter()) {
                prop_assert!(got.contains(&c["name"].to_string()), "{} lost in {}", c, out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deep nesting and big inputs (deterministic)
// ---------------------------------------------------------------------------------------

/// serde_json refuses to parse more than 128 levels, so request bodies cannot nest
/// deeper than that; check every patch flavour at that depth (objects and arrays).
#[test]
fn deep_nesting_never_panics() {
    let pod = GroupVersionKind::new("", "v1", "Pod");
    for arrays in [false, true] {
        for depth in [1, 16, 64, 127] {
            let doc = nested(depth, arrays, json!({"a": 1}));
            let patch = nested(depth, arrays, json!({"$patch": "delete", "a": null}));
            let patch_obj = json!({ "spec": patch.clone() });
            let doc_obj = json!({ "spec": doc.clone() });
            let _ = merge_patch::apply(&doc_obj, &patch_obj);
            let _ = strategic::apply(&doc_obj, &patch_obj, &pod);
            let _ = strategic::apply_with_schema(&doc_obj, &patch_obj, Schema::opaque());
            let _ = json_patch::apply(
                &doc_obj,
                &json!([{"op": "replace", "path": "/spec", "value": patch}]),
            );
            let text = patch_obj.to_string();
            if let Ok(p) = json_patch::JsonPatch::from_slice(text.as_bytes()) {
                let _ = p.apply(&doc_obj);
            }
            // Directive keys buried deep in values that are copied verbatim.
            let buried = nested(depth, arrays, json!({"$retainKeys": ["x"], "x": 1}));
            let out = strategic::apply(&json!({}), &json!({ "spec": buried }), &pod);
            if let Ok(out) = out {
                assert!(!has_directive_key(&out), "{out}");
            }
        }
    }
    // A pointer 127 tokens deep into the nested document.
    let doc = nested(127, false, json!(1));
    let path = "/spec".repeat(127);
    let patch = json!([{"op": "test", "path": path, "value": 1}]);
    assert_eq!(json_patch::apply(&doc, &patch), Ok(doc));
}

/// Big arrays: many containers, many finalizers, many operations.
#[test]
fn huge_arrays_are_handled() {
    let pod = GroupVersionKind::new("", "v1", "Pod");
    let n = 2_000;
    let containers: Vec<Value> = (0..n).map(|i| json!({"name": format!("c{i}")})).collect();
    let finalizers: Vec<Value> = (0..n).map(|i| json!(format!("f{i}"))).collect();
    let live = json!({
        "metadata": {"finalizers": finalizers},
        "spec": {"containers": containers}
    });
    let reversed: Vec<Value> = (0..n)
        .rev()
        .map(|i| json!({"name": format!("c{i}"), "image": "x"}))
        .collect();
    let order: Vec<Value> = (0..n)
        .rev()
        .map(|i| json!({"name": format!("c{i}")}))
        .collect();
    let deleted: Vec<Value> = (0..n).step_by(2).map(|i| json!(format!("f{i}"))).collect();
    let patch = json!({
        "metadata": {"$deleteFromPrimitiveList/finalizers": deleted},
        "spec": {"containers": reversed, "$setElementOrder/containers": order}
    });
    let out = strategic::apply(&live, &patch, &pod).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["spec"]["containers"].as_array().map(Vec::len), Some(n));
    assert_eq!(
        out["spec"]["containers"][0],
        json!({"name": format!("c{}", n - 1), "image": "x"})
    );
    assert_eq!(
        out["metadata"]["finalizers"].as_array().map(Vec::len),
        Some(n / 2)
    );

    let merged = merge_patch::apply(&live, &json!({"spec": {"containers": []}}));
    assert_eq!(
        merged.map(|v| v["spec"]["containers"].clone()),
        Ok(json!([]))
    );

    // The operation cap: 10 000 operations apply, one more is 413.
    let ops: Vec<Value> = (0..json_patch::MAX_OPERATIONS)
        .map(|_| json!({"op": "add", "path": "/metadata/finalizers/-", "value": "z"}))
        .collect();
    let out = json_patch::apply(&live, &Value::Array(ops.clone()));
    assert_eq!(
        out.map(|v| v["metadata"]["finalizers"].as_array().map(Vec::len)),
        Ok(Some(n + json_patch::MAX_OPERATIONS))
    );
    let mut too_many = ops;
    too_many.push(json!({"op": "test", "path": ""}));
    let err = json_patch::apply(&live, &Value::Array(too_many));
    assert_eq!(err.map_err(|e| e.status_code()), Err(413));

    // `copy` doubling a document is capped by the copy limit, not memory.
    let doubling: Vec<Value> = (0..64)
        .map(|_| json!({"op": "copy", "from": "/spec", "path": "/spec/more"}))
        .collect();
    let err = json_patch::apply(&live, &Value::Array(doubling));
    assert_eq!(err.map_err(|e| e.status_code()), Err(422));
}

/// Guards against vacuous properties: enough generated patches must apply for the
/// checks on successful results to mean something.
#[test]
fn generators_produce_applicable_patches() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut strategic_ok, mut json_ok, mut merged_lists) = (0, 0, 0);
    let n = 500;
    for _ in 0..n {
        let Ok(tree) = arb_workload_case().new_tree(&mut runner) else {
            continue;
        };
        let (kind, live, patch) = tree.current();
        let gvk = if kind == "Deployment" {
            GroupVersionKind::new("apps", "v1", "Deployment")
        } else {
            GroupVersionKind::new("", "v1", "Pod")
        };
        if let Ok(out) = strategic::apply(&live, &patch, &gvk) {
            strategic_ok += 1;
            let spec = if kind == "Deployment" {
                "/spec/template/spec"
            } else {
                "/spec"
            };
            let count = |v: &Value| {
                v.pointer(&format!("{spec}/containers"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            };
            if count(&out) > 1 && count(&live) > 0 {
                merged_lists += 1;
            }
        }
        let Ok(tree) = arb_doc_and_targeted_patch().new_tree(&mut runner) else {
            continue;
        };
        let (doc, patch) = tree.current();
        if json_patch::apply(&doc, &patch).is_ok() {
            json_ok += 1;
        }
    }
    eprintln!(
        "applied: strategic {strategic_ok}/{n} ({merged_lists} merged lists), json {json_ok}/{n}"
    );
    assert!(
        strategic_ok * 5 > n,
        "too few strategic patches apply: {strategic_ok}/{n}"
    );
    assert!(
        merged_lists * 10 > n,
        "too few list merges: {merged_lists}/{n}"
    );
    assert!(
        json_ok * 10 > n,
        "too few JSON patches apply: {json_ok}/{n}"
    );
}
