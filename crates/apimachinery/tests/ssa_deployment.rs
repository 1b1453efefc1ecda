//! End-to-end behaviour of apply and update on realistic objects, checked against what
//! a Kubernetes API server produces (upstream integration tests, the Server-Side Apply
//! documentation, and managedFields as seen on real clusters).

use rkube_apimachinery::ssa::{
    apply, record_update, ApplyError, ApplyOptions, FieldSet, TypeSet, LAST_APPLIED_ANNOTATION,
};
use serde_json::{json, Value};

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:05:00Z";
const T2: &str = "2024-05-01T10:10:00Z";

fn opts(api_version: &str, time: &str) -> ApplyOptions {
    let mut o = ApplyOptions::new(api_version, time);
    o.ignore_status = true;
    o
}

/// Pretends to be the storage layer: assigns identity on create, as the REST layer does.
fn persist(mut obj: Value) -> Value {
    let meta = obj["metadata"].as_object_mut().expect("metadata");
    meta.entry("uid")
        .or_insert(json!("0d4e2f9c-1111-2222-3333-444455556666"));
    meta.entry("creationTimestamp")
        .or_insert(json!("2024-05-01T09:00:00Z"));
    obj
}

fn entries(obj: &Value) -> &Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
}

/// The FieldsV1 bytes of one manager's entry, re-serialized canonically (upstream
/// order), so expectations can be written as upstream's exact strings.
fn fields_of(obj: &Value, manager: &str, operation: &str) -> String {
    let e = entries(obj)
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
        .unwrap_or_else(|| {
            panic!(
                "no {operation} entry for {manager} in {}",
                obj["metadata"]["managedFields"]
            )
        });
    FieldSet::from_fields_v1(&e["fieldsV1"])
        .expect("decode")
        .to_fields_v1_string()
}

fn deployment(replicas: i64, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": containers}
            }
        }
    })
}

fn nginx() -> Value {
    json!({"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]})
}

const NGINX_APPLY_FIELDS: &str = r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#;

#[test]
fn apply_creates_the_object_owned_by_the_applier() {
    let schema = TypeSet::builtin();
    let cfg = deployment(3, json!([nginx()]));
    let out = apply(None, &cfg, "kubectl", false, &schema, &opts("apps/v1", T0)).unwrap();

    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.14.2"
    );
    assert_eq!(out["status"], json!({}), "zero status of a new Deployment");
    assert!(
        out["metadata"].get("creationTimestamp").is_none(),
        "nulls from the zero object are dropped"
    );
    let mf = entries(&out);
    assert_eq!(mf.len(), 1);
    let e = &mf[0];
    assert_eq!(e["manager"], "kubectl");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["time"], T0);
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert!(e.get("subresource").is_none());
    // What `kubectl apply --server-side` of this manifest shows on a real cluster: the
    // atomic LabelSelector is one field, the port key includes the defaulted protocol.
    assert_eq!(fields_of(&out, "kubectl", "Apply"), NGINX_APPLY_FIELDS);
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let schema = TypeSet::builtin();
    let cfg = deployment(3, json!([nginx()]));
    let created =
        persist(apply(None, &cfg, "kubectl", false, &schema, &opts("apps/v1", T0)).unwrap());
    let again = apply(
        Some(&created),
        &cfg,
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert_eq!(
        again, created,
        "no-op apply must not even bump the timestamp"
    );
}

#[test]
fn applying_without_a_container_removes_it() {
    let schema = TypeSet::builtin();
    let sidecar = json!({"name": "sidecar", "image": "busybox", "args": ["sleep", "1d"]});
    let cfg = deployment(3, json!([nginx(), sidecar]));
    let live = persist(apply(None, &cfg, "kubectl", false, &schema, &opts("apps/v1", T0)).unwrap());
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Drop the sidecar and nginx's port (upstream TestApplyRemoveContainerPort).
    let cfg2 = deployment(3, json!([{"name": "nginx", "image": "nginx:1.14.2"}]));
    let out = apply(
        Some(&live),
        &cfg2,
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    let containers = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["name"], "nginx");
    assert!(
        containers[0].get("ports").is_none(),
        "port owned only by the applier is pruned"
    );
    assert_eq!(entries(&out)[0]["time"], T1);
    assert_eq!(
        fields_of(&out, "kubectl", "Apply"),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
    );
}

/// The live object as `kubectl apply` (client-side) leaves it: created by an Update from
/// `kubectl-client-side-apply`, after defaulting.
fn client_side_applied(replicas: i64, with_annotation: bool) -> Value {
    let mut obj = deployment(replicas, json!([nginx()]));
    if with_annotation {
        let last = format!(
            "{}\n",
            rkube_apimachinery::ssa::value::to_go_json(&deployment(replicas, json!([nginx()])))
        );
        obj["metadata"]["annotations"] = json!({ LAST_APPLIED_ANNOTATION: last });
    }
    // Defaults the API server adds on create.
    obj["spec"]["progressDeadlineSeconds"] = json!(600);
    obj["spec"]["revisionHistoryLimit"] = json!(10);
    obj["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    let c = &mut obj["spec"]["template"]["spec"];
    c["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    c["containers"][0]["ports"][0]["protocol"] = json!("TCP");
    c["containers"][0]["resources"] = json!({});
    c["containers"][0]["terminationMessagePath"] = json!("/dev/termination-log");
    c["containers"][0]["terminationMessagePolicy"] = json!("File");
    c["dnsPolicy"] = json!("ClusterFirst");
    c["restartPolicy"] = json!("Always");
    c["schedulerName"] = json!("default-scheduler");
    c["securityContext"] = json!({});
    c["terminationGracePeriodSeconds"] = json!(30);
    let schema = TypeSet::builtin();
    persist(record_update(
        None,
        &obj,
        "kubectl-client-side-apply",
        &schema,
        &opts("apps/v1", T0),
    ))
}

#[test]
fn update_on_create_records_fields_like_upstream() {
    let live = client_side_applied(3, true);
    let mf = entries(&live);
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0]["operation"], "Update");
    assert_eq!(mf[0]["time"], T0);
    // The classic managedFields of a client-side applied Deployment.
    assert_eq!(
        fields_of(&live, "kubectl-client-side-apply", "Update"),
        concat!(
            r#"{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{}}},"#,
            r#""f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"#,
            r#""f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"#,
            r#""f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"#,
            r#""f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"#,
            r#""f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"#,
            r#""f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#
        )
    );
}

#[test]
fn changing_a_field_owned_by_client_side_apply_conflicts() {
    let schema = TypeSet::builtin();
    let live = client_side_applied(3, false);
    let err = apply(
        Some(&live),
        &deployment(5, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap_err();
    assert_eq!(err.code(), 409);
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    let status = err.status();
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["code"], 409);
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"}])
    );
    match err {
        ApplyError::Conflicts(c) => {
            assert_eq!(c[0].manager, "kubectl-client-side-apply");
            assert_eq!(c[0].api_version.as_deref(), Some("apps/v1"));
            assert_eq!(c[0].field(), ".spec.replicas");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn force_moves_ownership_to_the_applier() {
    let schema = TypeSet::builtin();
    let live = client_side_applied(3, false);
    let out = apply(
        Some(&live),
        &deployment(5, json!([nginx()])),
        "kubectl",
        true,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    // Unchanged fields the applier also set are now shared; replicas moved entirely.
    assert_eq!(fields_of(&out, "kubectl", "Apply"), NGINX_APPLY_FIELDS);
    let csa = fields_of(&out, "kubectl-client-side-apply", "Update");
    assert!(!csa.contains("f:replicas"), "{csa}");
    assert!(csa.contains("f:revisionHistoryLimit"));
    // Apply entries sort before Update entries.
    assert_eq!(entries(&out)[0]["manager"], "kubectl");
    assert_eq!(entries(&out)[1]["manager"], "kubectl-client-side-apply");
    // Other fields were not touched.
    assert_eq!(out["spec"]["strategy"], live["spec"]["strategy"]);
}

#[test]
fn kubectl_takes_over_client_side_apply_fields_recorded_in_last_applied() {
    let schema = TypeSet::builtin();
    let live = client_side_applied(3, true);
    // Upgrading `kubectl apply` to `--server-side` with a changed replica count does not
    // conflict: the annotation proves kubectl set replicas=3 before.
    let cfg = deployment(5, json!([nginx()]));
    let out = apply(
        Some(&live),
        &cfg,
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    let annotation = out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .unwrap();
    assert_eq!(
        annotation,
        format!("{}\n", rkube_apimachinery::ssa::value::to_go_json(&cfg)),
        "annotation kept in sync"
    );
    // Another manager gets no such pass.
    let err = apply(
        Some(&live),
        &cfg,
        "my-tool",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Conflicts(_)));

    // After `kubectl scale`, replicas no longer match the annotation: conflict again.
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(7);
    let scaled = record_update(
        Some(&live),
        &scaled,
        "kubectl",
        &schema,
        &opts("apps/v1", T1),
    );
    let err = apply(
        Some(&scaled),
        &cfg,
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T2),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn two_appliers_own_different_containers_of_one_list() {
    let schema = TypeSet::builtin();
    let base = persist(
        apply(
            None,
            &deployment(3, json!([nginx()])),
            "team-a",
            false,
            &schema,
            &opts("apps/v1", T0),
        )
        .unwrap(),
    );
    let sidecar = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [{"name": "logger", "image": "fluent-bit:2"}]}}}
    });
    let both = apply(
        Some(&base),
        &sidecar,
        "team-b",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    let names: Vec<&str> = both["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx", "logger"]);
    assert_eq!(
        fields_of(&both, "team-b", "Apply"),
        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"logger\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
    );
    assert_eq!(fields_of(&both, "team-a", "Apply"), NGINX_APPLY_FIELDS);

    // team-a re-applies its own view (without the logger): the logger survives because
    // team-a never owned it.
    let again = apply(
        Some(&both),
        &deployment(3, json!([nginx()])),
        "team-a",
        false,
        &schema,
        &opts("apps/v1", T2),
    )
    .unwrap();
    assert_eq!(again, both);

    // team-b dropping its container removes it, and its now-empty entry disappears.
    let mut no_logger = sidecar.clone();
    no_logger["spec"]["template"]["spec"]["containers"] = json!([]);
    let out = apply(
        Some(&both),
        &no_logger,
        "team-b",
        false,
        &schema,
        &opts("apps/v1", T2),
    )
    .unwrap();
    let containers = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["name"], "nginx");
}

#[test]
fn update_takes_ownership_and_then_apply_conflicts() {
    let schema = TypeSet::builtin();
    let live = persist(
        apply(
            None,
            &deployment(3, json!([nginx()])),
            "kubectl",
            false,
            &schema,
            &opts("apps/v1", T0),
        )
        .unwrap(),
    );
    // A controller scales and bumps the image through a regular update.
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(10);
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    let updated = record_update(
        Some(&live),
        &edited,
        "kube-controller-manager",
        &schema,
        &opts("apps/v1", T1),
    );
    assert_eq!(
        fields_of(&updated, "kube-controller-manager", "Update"),
        r#"{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{"f:image":{}}}}}}}"#
    );
    let applier = fields_of(&updated, "kubectl", "Apply");
    assert!(
        !applier.contains("f:replicas") && !applier.contains("f:image"),
        "{applier}"
    );
    assert_eq!(entries(&updated)[1]["time"], T1);

    let err = apply(
        Some(&updated),
        &deployment(3, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T2),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kube-controller-manager\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
    );
    let causes = err.status()["details"]["causes"].clone();
    assert_eq!(
        causes[1]["field"],
        ".spec.template.spec.containers[name=\"nginx\"].image"
    );
    assert_eq!(
        causes[1]["message"],
        "conflict with \"kube-controller-manager\" using apps/v1"
    );

    // A no-op update leaves everything, including timestamps, alone.
    let same = record_update(
        Some(&updated),
        &updated,
        "kube-controller-manager",
        &schema,
        &opts("apps/v1", T2),
    );
    assert_eq!(same, updated);
}

#[test]
fn shared_ownership_when_values_agree() {
    let schema = TypeSet::builtin();
    let live = persist(
        apply(
            None,
            &deployment(3, json!([nginx()])),
            "a",
            false,
            &schema,
            &opts("apps/v1", T0),
        )
        .unwrap(),
    );
    let out = apply(
        Some(&live),
        &deployment(3, json!([nginx()])),
        "b",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert_eq!(fields_of(&out, "a", "Apply"), fields_of(&out, "b", "Apply"));
    // As upstream, a manager that changed nothing gets no timestamp.
    assert!(entries(&out)
        .iter()
        .find(|e| e["manager"] == "b")
        .unwrap()
        .get("time")
        .is_none());
    // Now any change by one of them conflicts with the other.
    let err = apply(
        Some(&out),
        &deployment(4, json!([nginx()])),
        "a",
        false,
        &schema,
        &opts("apps/v1", T2),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "b": .spec.replicas"#
    );
}

#[test]
fn server_side_apply_docs_configmap_example() {
    // https://kubernetes.io/docs/reference/using-api/server-side-apply/ — "An example
    // object with multiple managers".
    let schema = TypeSet::builtin();
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
        "data": {"key": "some value"}
    });
    let live = persist(
        apply(
            None,
            &cm,
            "kubectl",
            false,
            &schema,
            &opts("v1", "2019-03-30T15:00:00Z"),
        )
        .unwrap(),
    );
    assert_eq!(
        fields_of(&live, "kubectl", "Apply"),
        r#"{"f:data":{"f:key":{}},"f:metadata":{"f:labels":{"f:test-label":{}}}}"#
    );

    let mut edited = live.clone();
    edited["data"]["key"] = json!("new value");
    let out = record_update(
        Some(&live),
        &edited,
        "kube-controller-manager",
        &schema,
        &opts("v1", "2019-03-30T16:00:00.000Z"),
    );
    let expected = json!([
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "2019-03-30T15:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2019-03-30T16:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:key": {}}}}
    ]);
    assert_eq!(out["metadata"]["managedFields"], expected);
    assert_eq!(out["data"]["key"], "new value");
}

#[test]
fn first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
    let schema = TypeSet::builtin();
    let mut live = persist(deployment(3, json!([nginx()])));
    // Updates to an object that has no managedFields do not start tracking...
    live["spec"]["replicas"] = json!(4);
    let still = record_update(
        Some(&live),
        &live,
        "kubectl-edit",
        &schema,
        &opts("apps/v1", T1),
    );
    assert!(still["metadata"].get("managedFields").is_none());
    // ...but the first apply attributes existing fields to "before-first-apply".
    let err = apply(
        Some(&still),
        &deployment(5, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
    let ok = apply(
        Some(&still),
        &deployment(4, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert!(fields_of(&ok, "before-first-apply", "Update").contains("f:replicas"));
}

#[test]
fn managed_fields_can_be_reset_by_updates_but_not_set_by_apply() {
    let schema = TypeSet::builtin();
    let live = persist(
        apply(
            None,
            &deployment(3, json!([nginx()])),
            "kubectl",
            false,
            &schema,
            &opts("apps/v1", T0),
        )
        .unwrap(),
    );
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let out = record_update(
        Some(&live),
        &reset,
        "kubectl-edit",
        &schema,
        &opts("apps/v1", T1),
    );
    assert!(out["metadata"].get("managedFields").is_none());

    let mut cfg = deployment(3, json!([nginx()]));
    cfg["metadata"]["managedFields"] = json!([]);
    let err = apply(
        Some(&live),
        &cfg,
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ApplyError::BadRequest("metadata.managedFields must be nil".into())
    );
    assert_eq!(err.code(), 400);
}

#[test]
fn request_errors_match_upstream() {
    let schema = TypeSet::builtin();
    let err = apply(
        None,
        &deployment(3, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1beta2", T0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Incorrect version specified in apply patch. Specified patch version: apps/v1, expected: apps/v1beta2"
    );
    let mut o = opts("apps/v1", T0);
    o.kind = Some("StatefulSet".into());
    let err = apply(
        None,
        &deployment(3, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &o,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid object type: apps/v1, Kind=Deployment"
    );

    let dup = deployment(
        3,
        json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
    );
    let err = apply(None, &dup, "kubectl", false, &schema, &opts("apps/v1", T0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"failed to create typed patch object (default/nginx-deployment; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="a"]"#
    );
    assert_eq!(err.code(), 500);

    let status = rkube_apimachinery::ssa::validate_patch_options(true, None, None).unwrap();
    assert_eq!(status["code"], 422);
    assert_eq!(
        status["message"],
        r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
    );
    assert!(
        rkube_apimachinery::ssa::validate_patch_options(true, Some("kubectl"), Some(true))
            .is_none()
    );
    let status = rkube_apimachinery::ssa::validate_patch_options(false, None, Some(false)).unwrap();
    assert_eq!(status["details"]["causes"][0]["field"], "force");
}

#[test]
fn status_is_ignored_on_the_main_resource() {
    let schema = TypeSet::builtin();
    let mut cfg = deployment(3, json!([nginx()]));
    cfg["status"] = json!({"replicas": 99});
    let out = apply(None, &cfg, "kubectl", false, &schema, &opts("apps/v1", T0)).unwrap();
    assert_eq!(out["status"], json!({}));
    assert_eq!(fields_of(&out, "kubectl", "Apply"), NGINX_APPLY_FIELDS);

    // Through /status the controller owns conditions, keyed by type.
    let live = persist(out);
    let mut with_status = live.clone();
    with_status["status"] =
        json!({"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]});
    let mut so = ApplyOptions::new("apps/v1", T1);
    so.subresource = Some("status".into());
    so.reset_fields
        .insert(&[rkube_apimachinery::ssa::PathElement::field("spec")]);
    let out = record_update(
        Some(&live),
        &with_status,
        "kube-controller-manager",
        &schema,
        &so,
    );
    let e = entries(&out)
        .iter()
        .find(|e| e["manager"] == "kube-controller-manager")
        .unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        FieldSet::from_fields_v1(&e["fieldsV1"])
            .unwrap()
            .to_fields_v1_string(),
        r#"{"f:status":{"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:status":{},"f:type":{}}},"f:replicas":{}}}"#
    );
}

#[test]
fn finalizers_and_labels_are_shared_granularly() {
    let schema = TypeSet::builtin();
    let cm = |finalizer: &str, label: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "finalizers": [finalizer], "labels": {label: "x"}}})
    };
    let a = persist(
        apply(
            None,
            &cm("example.com/a", "a"),
            "a",
            false,
            &schema,
            &opts("v1", T0),
        )
        .unwrap(),
    );
    let ab = apply(
        Some(&a),
        &cm("example.com/b", "b"),
        "b",
        false,
        &schema,
        &opts("v1", T1),
    )
    .unwrap();
    assert_eq!(
        ab["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b"])
    );
    assert_eq!(ab["metadata"]["labels"], json!({"a": "x", "b": "x"}));
    assert_eq!(
        fields_of(&ab, "b", "Apply"),
        r#"{"f:metadata":{"f:finalizers":{"v:\"example.com/b\"":{}},"f:labels":{"f:b":{}}}}"#
    );
    // An apply that sets only name/namespace owns nothing and leaves no entry
    // (upstream TestApplyRemovesEmptyManagedFields).
    let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare", "namespace": "default"}});
    let out = apply(None, &bare, "x", false, &schema, &opts("v1", T0)).unwrap();
    assert!(out["metadata"].get("managedFields").is_none());
}

#[test]
fn update_managers_are_capped() {
    let schema = TypeSet::builtin();
    let mut live = persist(
        apply(
            None,
            &deployment(1, json!([nginx()])),
            "kubectl",
            false,
            &schema,
            &opts("apps/v1", T0),
        )
        .unwrap(),
    );
    for i in 0..12 {
        let mut next = live.clone();
        next["metadata"]["labels"][format!("l{i}")] = json!("v");
        let t = format!("2024-05-01T11:{i:02}:00Z");
        live = record_update(
            Some(&live),
            &next,
            &format!("updater-{i}"),
            &schema,
            &opts("apps/v1", &t),
        );
    }
    let updaters: Vec<&str> = entries(&live)
        .iter()
        .filter(|e| e["operation"] == "Update")
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(updaters.len(), 10);
    assert!(updaters.contains(&"ancient-changes"));
    let ancient = fields_of(&live, "ancient-changes", "Update");
    assert!(
        ancient.contains("f:l0") && ancient.contains("f:l1") && ancient.contains("f:l2"),
        "{ancient}"
    );
}

#[test]
fn custom_resources_use_their_schema() {
    let mut schema = TypeSet::builtin();
    schema
        .add_crd(
            "example.com/v1",
            "Widget",
            &json!({
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                                  "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }}
                }
            }),
        )
        .unwrap();
    let w = |name: &str, port: i64| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"team": name}},
               "spec": {"ports": [{"name": name, "port": port}], "extra": {"nested": {"k": "v"}}}})
    };
    let a = persist(
        apply(
            None,
            &w("a", 1),
            "a",
            false,
            &schema,
            &opts("example.com/v1", T0),
        )
        .unwrap(),
    );
    assert_eq!(
        fields_of(&a, "a", "Apply"),
        r#"{"f:metadata":{"f:labels":{"f:team":{}}},"f:spec":{"f:extra":{"f:nested":{".":{},"f:k":{}}},"f:ports":{"k:{\"name\":\"a\"}":{".":{},"f:name":{},"f:port":{}}}}}"#
    );
    let err = apply(
        Some(&a),
        &w("b", 2),
        "b",
        false,
        &schema,
        &opts("example.com/v1", T1),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "a": .metadata.labels.team"#
    );

    let undeclared = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"bogus": 1}});
    let err = apply(
        Some(&a),
        &undeclared,
        "b",
        false,
        &schema,
        &opts("example.com/v1", T1),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with(".spec.bogus: field not declared in schema"),
        "{err}"
    );
}

#[test]
fn service_ports_are_keyed_by_port_and_protocol() {
    let schema = TypeSet::builtin();
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "test-svc"},
                     "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "protocol": "UDP"}, {"port": 80}]}});
    let out = apply(None, &svc, "apply_test", false, &schema, &opts("v1", T0)).unwrap();
    assert_eq!(
        fields_of(&out, "apply_test", "Apply"),
        r#"{"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}},"k:{\"port\":8080,\"protocol\":\"UDP\"}":{".":{},"f:port":{},"f:protocol":{}}},"f:selector":{}}}"#
    );
    // Re-applying with another manager shares everything without conflicts (upstream
    // TestApplyAlsoCreates).
    let live = persist(out);
    assert!(apply(
        Some(&live),
        &svc,
        "apply_test_2",
        false,
        &schema,
        &opts("v1", T1)
    )
    .is_ok());
}

#[test]
fn pruning_keeps_what_others_still_own() {
    let schema = TypeSet::builtin();
    let with_limits = json!([{"name": "nginx", "image": "nginx:1.14.2", "resources": {"limits": {"cpu": "500m"}}}]);
    let live = persist(
        apply(
            None,
            &deployment(3, with_limits),
            "kubectl",
            false,
            &schema,
            &opts("apps/v1", T0),
        )
        .unwrap(),
    );
    // A controller (e.g. a VPA) sets a request through an update.
    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] =
        json!({"memory": "64Mi"});
    let live = record_update(Some(&live), &edited, "vpa", &schema, &opts("apps/v1", T1));
    // The user stops applying resources altogether.
    let out = apply(
        Some(&live),
        &deployment(3, json!([{"name": "nginx", "image": "nginx:1.14.2"}])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T2),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({"requests": {"memory": "64Mi"}})
    );
    assert_eq!(
        fields_of(&out, "vpa", "Update"),
        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{"f:resources":{"f:requests":{".":{},"f:memory":{}}}}}}}}}"#
    );
}

#[test]
fn timestamp_only_changes_are_reverted_for_storage() {
    let schema = TypeSet::builtin();
    let mut cfg = deployment(3, json!([nginx()]));
    let live = persist(apply(None, &cfg, "kubectl", false, &schema, &opts("apps/v1", T0)).unwrap());
    // Clients such as controller-runtime send `creationTimestamp: null`: the merge sees a
    // change (so the time moves) that the REST layer then undoes by restoring metadata.
    cfg["metadata"]["creationTimestamp"] = Value::Null;
    let mut out = apply(
        Some(&live),
        &cfg,
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert_eq!(entries(&out)[0]["time"], T1);
    out["metadata"]["creationTimestamp"] = live["metadata"]["creationTimestamp"].clone();
    assert!(rkube_apimachinery::ssa::ignore_managed_fields_timestamps(
        &mut out, &live
    ));
    assert_eq!(out, live);
    // Real changes keep their new time.
    let mut changed = apply(
        Some(&live),
        &deployment(4, json!([nginx()])),
        "kubectl",
        false,
        &schema,
        &opts("apps/v1", T1),
    )
    .unwrap();
    assert!(!rkube_apimachinery::ssa::ignore_managed_fields_timestamps(
        &mut changed,
        &live
    ));
}

/// structured-merge-diff's merge/multiple_appliers_test.go nested-type cases, on a CRD.
fn list_of_lists_schema() -> TypeSet {
    let mut schema = TypeSet::builtin();
    schema
        .add_crd(
            "example.com/v1",
            "Nested",
            &json!({"type": "object", "properties": {
                "listOfLists": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"},
                        "value": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}}}}),
        )
        .unwrap();
    schema
}

fn nested(list: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Nested", "metadata": {"name": "n"}, "listOfLists": list})
}

fn owned(obj: &Value, manager: &str, op: &str) -> Vec<String> {
    let e = entries(obj)
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == op)
        .expect("entry");
    FieldSet::from_fields_v1(&e["fieldsV1"])
        .unwrap()
        .paths()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn upstream_remove_one_keep_one_with_dangling_subitem() {
    let schema = list_of_lists_schema();
    let o = |t| opts("example.com/v1", t);
    let live = persist(
        apply(
            None,
            &nested(json!([{"name": "a"}, {"name": "b", "value": ["c"]}])),
            "apply-one",
            false,
            &schema,
            &o(T0),
        )
        .unwrap(),
    );
    let live = apply(
        Some(&live),
        &nested(json!([{"name": "b", "value": ["d"]}])),
        "apply-two",
        false,
        &schema,
        &o(T0),
    )
    .unwrap();
    assert_eq!(
        live["listOfLists"],
        json!([{"name": "a"}, {"name": "b", "value": ["c", "d"]}])
    );
    let edited = nested(json!([{"name": "a"}, {"name": "b", "value": ["c", "d", "e"]}]));
    let mut edited_full = live.clone();
    edited_full["listOfLists"] = edited["listOfLists"].clone();
    let live = record_update(Some(&live), &edited_full, "controller", &schema, &o(T1));
    let out = apply(
        Some(&live),
        &nested(json!([{"name": "a"}])),
        "apply-one",
        false,
        &schema,
        &o(T2),
    )
    .unwrap();
    assert_eq!(
        out["listOfLists"],
        json!([{"name": "a"}, {"name": "b", "value": ["d", "e"]}])
    );
    assert_eq!(
        owned(&out, "apply-one", "Apply"),
        [
            r#".listOfLists[name="a"]"#,
            r#".listOfLists[name="a"].name"#
        ]
    );
    assert_eq!(
        owned(&out, "apply-two", "Apply"),
        [
            r#".listOfLists[name="b"]"#,
            r#".listOfLists[name="b"].name"#,
            r#".listOfLists[name="b"].value[="d"]"#
        ]
    );
    assert_eq!(
        owned(&out, "controller", "Update"),
        [r#".listOfLists[name="b"].value[="e"]"#]
    );
}

#[test]
fn upstream_remove_one_with_dangling_subitem_keep_one() {
    let schema = list_of_lists_schema();
    let o = |t| opts("example.com/v1", t);
    let live = persist(
        apply(
            None,
            &nested(json!([{"name": "a"}, {"name": "b", "value": ["c"]}])),
            "apply-one",
            false,
            &schema,
            &o(T0),
        )
        .unwrap(),
    );
    let live = apply(
        Some(&live),
        &nested(json!([{"name": "a", "value": ["b"]}])),
        "apply-two",
        false,
        &schema,
        &o(T0),
    )
    .unwrap();
    let mut edited = live.clone();
    edited["listOfLists"] =
        json!([{"name": "a", "value": ["b"]}, {"name": "b", "value": ["c", "d"]}]);
    let live = record_update(Some(&live), &edited, "controller", &schema, &o(T1));
    let out = apply(
        Some(&live),
        &nested(json!([{"name": "a"}])),
        "apply-one",
        false,
        &schema,
        &o(T2),
    )
    .unwrap();
    // The whole item goes, including the controller's sub-item, and the controller's
    // emptied entry disappears.
    assert_eq!(out["listOfLists"], json!([{"name": "a", "value": ["b"]}]));
    assert!(entries(&out).iter().all(|e| e["manager"] != "controller"));
    assert_eq!(
        owned(&out, "apply-two", "Apply"),
        [
            r#".listOfLists[name="a"]"#,
            r#".listOfLists[name="a"].name"#,
            r#".listOfLists[name="a"].value[="b"]"#
        ]
    );
}
