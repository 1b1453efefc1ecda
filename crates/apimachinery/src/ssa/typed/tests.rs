use super::*;
use crate::ssa::schema::TypeSet;
use serde_json::json;

fn pod_spec_type(s: &TypeSet) -> TypeRef {
    s.root_type("v1", "Pod")
}

#[test]
fn field_set_of_apply_config_matches_upstream_shape() {
    let s = TypeSet::builtin();
    let t = Typed::new(&s);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}],
                 "securityContext": {}}
    });
    let set = t.to_field_set(&pod_spec_type(&s), &pod);
    assert_eq!(
        set.to_fields_v1_string(),
        r#"{"f:apiVersion":{},"f:kind":{},"f:metadata":{"f:labels":{"f:app":{}},"f:name":{}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}},"f:securityContext":{}}}"#
    );
}

#[test]
fn merge_keeps_live_only_items_and_config_order() {
    let s = TypeSet::builtin();
    let t = Typed::new(&s);
    let ty = pod_spec_type(&s);
    let live = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}, {"name": "c", "image": "1"}]}});
    let cfg = json!({"spec": {"containers": [{"name": "c", "image": "2"}, {"name": "d", "image": "2"}, {"name": "a", "image": "2"}]}});
    let merged = t.merge(&ty, &live, &cfg).unwrap();
    let names: Vec<&str> = merged["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "c", "d", "a"]);
    assert_eq!(merged["spec"]["containers"][3]["image"], "2");
}

#[test]
fn compare_reports_structure() {
    let s = TypeSet::builtin();
    let t = Typed::new(&s);
    let ty = pod_spec_type(&s);
    let old = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "a", "image": "1"}]}});
    let new = json!({"metadata": {"labels": {"a": "2", "b": "1"}}, "spec": {"containers": [{"name": "b", "image": "1"}]}});
    let c = t.compare(&ty, &old, &new).unwrap();
    let strs = |s: &FieldSet| s.paths().iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(strs(&c.modified), [".metadata.labels.a"]);
    assert_eq!(
        strs(&c.added),
        [
            ".metadata.labels.b",
            r#".spec.containers[name="b"]"#,
            r#".spec.containers[name="b"].image"#,
            r#".spec.containers[name="b"].name"#
        ]
    );
    assert_eq!(strs(&c.removed)[0], r#".spec.containers[name="a"]"#);
}

/// structured-merge-diff's typed/merge_test.go "associative list" triplets.
#[test]
fn upstream_associative_list_merge_triplets() {
    use crate::ssa::schema::{FieldDef, ListDef, MapDef, MapType, TypeDef};
    let scalar = |s| {
        TypeRef::inline(TypeDef {
            scalar: Some(s),
            ..Default::default()
        })
    };
    let mut el = std::collections::BTreeMap::new();
    for (n, t) in [
        ("key", scalar(ScalarType::String)),
        ("id", scalar(ScalarType::Numeric)),
        ("bv", scalar(ScalarType::Boolean)),
        ("nv", scalar(ScalarType::Numeric)),
        ("value", TypeRef::Deduced),
    ] {
        el.insert(
            n.to_string(),
            FieldDef {
                ty: t,
                default: None,
            },
        );
    }
    let element = TypeRef::inline(TypeDef {
        map: Some(MapDef {
            fields: el,
            rest: None,
            map_type: MapType::Granular,
        }),
        ..Default::default()
    });
    let list = |element, list_type| {
        TypeRef::inline(TypeDef {
            list: Some(ListDef { element, list_type }),
            ..Default::default()
        })
    };
    let mut root = std::collections::BTreeMap::new();
    root.insert(
        "list".to_string(),
        FieldDef {
            ty: list(element, ListType::Map(vec!["key".into(), "id".into()])),
            default: None,
        },
    );
    root.insert(
        "atomicList".to_string(),
        FieldDef {
            ty: list(scalar(ScalarType::String), ListType::Atomic),
            default: None,
        },
    );
    let ty = TypeRef::inline(TypeDef {
        map: Some(MapDef {
            fields: root,
            rest: None,
            map_type: MapType::Granular,
        }),
        ..Default::default()
    });
    let s = TypeSet::default();
    let t = Typed::new(&s);
    let cases = [
        (
            r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
            r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
            r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}"#,
            r#"{"list":[{"key":"a","id":2,"value":{"a":"a"}}]}"#,
            r#"{"list":[{"key":"a","id":1,"value":{"a":"a"}},{"key":"a","id":2,"value":{"a":"a"}}]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1},{"key":"b","id":1}]}"#,
            r#"{"list":[{"key":"a","id":1},{"key":"a","id":2}]}"#,
            r#"{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":2}]}"#,
        ),
        (
            r#"{"list":[{"key":"b","id":2}]}"#,
            r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
            r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
            r#"{"list":[{"key":"c","id":3},{"key":"b","id":2}]}"#,
            r#"{"list":[{"key":"a","id":1},{"key":"c","id":3},{"key":"b","id":2}]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}"#,
            r#"{"list":[{"key":"c","id":3},{"key":"a","id":1}]}"#,
            r#"{"list":[{"key":"b","id":2},{"key":"c","id":3},{"key":"a","id":1}]}"#,
        ),
        (
            r#"{"atomicList":["a","a","a"]}"#,
            r#"{"atomicList":null}"#,
            r#"{"atomicList":null}"#,
        ),
        (
            r#"{"atomicList":["a","b","c"]}"#,
            r#"{"atomicList":[]}"#,
            r#"{"atomicList":[]}"#,
        ),
        (
            r#"{"atomicList":["a","a","a"]}"#,
            r#"{"atomicList":["a","a"]}"#,
            r#"{"atomicList":["a","a"]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1,"bv":true},{"key":"b","id":2},{"key":"a","id":1,"bv":false,"nv":2}]}"#,
            r#"{"list":[{"key":"a","id":1,"nv":3},{"key":"c","id":3},{"key":"b","id":2}]}"#,
            r#"{"list":[{"key":"a","id":1,"nv":3},{"key":"c","id":3},{"key":"b","id":2}]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
            r#"{"list":[]}"#,
            r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
        ),
        (
            r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
            r#"{}"#,
            r#"{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}"#,
        ),
    ];
    for (i, (l, r, o)) in cases.iter().enumerate() {
        let (l, r, o): (Value, Value, Value) = (
            serde_json::from_str(l).unwrap(),
            serde_json::from_str(r).unwrap(),
            serde_json::from_str(o).unwrap(),
        );
        t.validate(&ty, &l, true).unwrap();
        t.validate(&ty, &r, false).unwrap();
        assert_eq!(t.merge(&ty, &l, &r).unwrap(), o, "case {i}");
    }
}

#[test]
fn validation_rejects_duplicates_and_missing_keys() {
    let s = TypeSet::builtin();
    let t = Typed::new(&s);
    let ty = pod_spec_type(&s);
    let dup = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
    let e = t.validate(&ty, &dup, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#".spec.containers: duplicate entries for key [name="a"]"#
    );
    assert!(t.validate(&ty, &dup, true).is_ok());
    let nokey = json!({"spec": {"containers": [{"image": "a"}]}});
    let e = t.validate(&ty, &nokey, false).unwrap_err();
    assert!(e.to_string().starts_with(".spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"]"));
}
