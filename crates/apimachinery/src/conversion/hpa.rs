//! autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler.
//!
//! Upstream stores HPAs as autoscaling/v2 and converts through the internal
//! `autoscaling.HorizontalPodAutoscaler` (v2-shaped).
//! `pkg/apis/autoscaling/v1/conversion.go` keeps everything v1 cannot
//! express in four annotations so a v1 client can read-modify-write
//! without losing data:
//!
//! * `autoscaling.alpha.kubernetes.io/metrics`: every spec metric except
//!   CPU-utilization resource metrics, as `[]autoscaling/v1.MetricSpec`
//!   (the v2beta1-shaped types kept in `k8s.io/api/autoscaling/v1`);
//! * `.../current-metrics`: *all* status metrics as `[]v1.MetricStatus`
//!   (including CPU, to keep the raw value next to the percentage);
//! * `.../behavior`: the *internal* `HorizontalPodAutoscalerBehavior`,
//!   which has no json tags, so its keys are Go field names
//!   (`ScaleUp`, `StabilizationWindowSeconds`, ..., `Tolerance`);
//! * `.../conditions`: the status conditions as
//!   `[]v1.HorizontalPodAutoscalerCondition`.
//!
//! Reading them back, an annotation that fails to decode is ignored, and
//! all round-trip annotations (including v2beta2's tolerance ones) are
//! dropped. A v1 object without any usable metric gets the CPU 80% default
//! that autoscaling/v1 used to apply implicitly.
//!
//! Quantities and timestamps are carried verbatim: upstream re-renders them
//! canonically because it round-trips through Go types, while rkube keeps
//! the client's spelling (see `table::quantity` for display).

use serde_json::{Map, Value};

use crate::conversion::gojson::{self, Bad, Obj, Strict};

/// Non-CPU-utilization metric specs in v1 form.
pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// All current metric statuses in v1 form.
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// Status conditions in v1 form.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// The internal behavior struct (Go field names).
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
/// v2beta2's home for `behavior.scaleDown.tolerance`; only ever dropped here.
pub const TOLERANCE_SCALE_DOWN_ANNOTATION: &str =
    "autoscaling.alpha.kubernetes.io/scale-down-tolerance";
/// v2beta2's home for `behavior.scaleUp.tolerance`; only ever dropped here.
pub const TOLERANCE_SCALE_UP_ANNOTATION: &str =
    "autoscaling.alpha.kubernetes.io/scale-up-tolerance";

/// `DropRoundTripHorizontalPodAutoscalerAnnotations` removes exactly these.
const ROUND_TRIP_ANNOTATIONS: [&str; 6] = [
    METRIC_SPECS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
    TOLERANCE_SCALE_DOWN_ANNOTATION,
    TOLERANCE_SCALE_UP_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    CONDITIONS_ANNOTATION,
];

/// `autoscaling.DefaultCPUUtilization`.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

static NULL: Value = Value::Null;

// ---------------------------------------------------------------------------
// Internal (v2-shaped) model. Mirrors `pkg/apis/autoscaling` so the v1
// conversion functions can be written field by field as upstream does.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
struct XRef {
    kind: String,
    name: String,
    api_version: String,
}

#[derive(Clone, Debug, Default)]
struct Ident {
    name: String,
    selector: Option<Value>,
}

#[derive(Clone, Debug, Default)]
struct Target {
    ty: String,
    value: Option<String>,
    average_value: Option<String>,
    average_utilization: Option<i64>,
}

#[derive(Clone, Debug, Default)]
struct Current {
    value: Option<String>,
    average_value: Option<String>,
    average_utilization: Option<i64>,
}

#[derive(Clone, Debug, Default)]
struct ObjectSource {
    described: XRef,
    target: Target,
    metric: Ident,
}

/// Pods and External sources share this shape.
#[derive(Clone, Debug, Default)]
struct IdentTarget {
    metric: Ident,
    target: Target,
}

/// Resource and ContainerResource sources (`container` unused for the
/// former).
#[derive(Clone, Debug, Default)]
struct ResourceSource {
    name: String,
    container: String,
    target: Target,
}

#[derive(Clone, Debug, Default)]
struct MetricSpec {
    ty: String,
    object: Option<ObjectSource>,
    pods: Option<IdentTarget>,
    resource: Option<ResourceSource>,
    container_resource: Option<ResourceSource>,
    external: Option<IdentTarget>,
}

#[derive(Clone, Debug, Default)]
struct ObjectStatus {
    metric: Ident,
    current: Current,
    described: XRef,
}

#[derive(Clone, Debug, Default)]
struct IdentCurrent {
    metric: Ident,
    current: Current,
}

#[derive(Clone, Debug, Default)]
struct ResourceStatus {
    name: String,
    container: String,
    current: Current,
}

#[derive(Clone, Debug, Default)]
struct MetricStatus {
    ty: String,
    object: Option<ObjectStatus>,
    pods: Option<IdentCurrent>,
    resource: Option<ResourceStatus>,
    container_resource: Option<ResourceStatus>,
    external: Option<IdentCurrent>,
}

#[derive(Clone, Debug, Default)]
struct Policy {
    ty: String,
    value: i64,
    period_seconds: i64,
}

#[derive(Clone, Debug, Default)]
struct Rules {
    stabilization_window_seconds: Option<i64>,
    select_policy: Option<String>,
    /// `None` is a nil slice (`null` in the annotation), `Some(vec![])` an
    /// empty one (`[]`); Go keeps the difference.
    policies: Option<Vec<Policy>>,
    tolerance: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Behavior {
    scale_up: Option<Rules>,
    scale_down: Option<Rules>,
}

#[derive(Clone, Debug, Default)]
struct Condition {
    ty: String,
    status: String,
    last_transition_time: Option<String>,
    reason: String,
    message: String,
}

fn cpu_utilization_metric(percent: i64) -> MetricSpec {
    MetricSpec {
        ty: "Resource".into(),
        resource: Some(ResourceSource {
            name: "cpu".into(),
            container: String::new(),
            target: Target {
                ty: "Utilization".into(),
                average_utilization: Some(percent),
                ..Target::default()
            },
        }),
        ..MetricSpec::default()
    }
}

fn cpu_utilization_status(percent: i64) -> MetricStatus {
    MetricStatus {
        ty: "Resource".into(),
        resource: Some(ResourceStatus {
            name: "cpu".into(),
            container: String::new(),
            current: Current {
                average_utilization: Some(percent),
                ..Current::default()
            },
        }),
        ..MetricStatus::default()
    }
}

/// The metrics v1 expresses through `targetCPUUtilizationPercentage`
/// rather than the metrics annotation.
fn is_cpu_utilization(m: &MetricSpec) -> bool {
    m.ty == "Resource"
        && m.resource
            .as_ref()
            .is_some_and(|r| r.name == "cpu" && r.target.average_utilization.is_some())
}

// ---------------------------------------------------------------------------
// Reading the stored v2 object. Stored data already passed validation, so
// these are lenient: a wrongly typed field reads as absent.
// ---------------------------------------------------------------------------

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn opt_int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn opt_quantity(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(gojson::number_text(n)),
        _ => None,
    }
}

fn opt_object<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|o| o.is_object())
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn xref_v2(v: Option<&Value>) -> XRef {
    let v = v.unwrap_or(&NULL);
    XRef {
        kind: text(v, "kind"),
        name: text(v, "name"),
        api_version: text(v, "apiVersion"),
    }
}

fn ident_v2(v: Option<&Value>) -> Ident {
    let v = v.unwrap_or(&NULL);
    Ident {
        name: text(v, "name"),
        selector: opt_object(v, "selector").cloned(),
    }
}

fn target_v2(v: Option<&Value>) -> Target {
    let v = v.unwrap_or(&NULL);
    Target {
        ty: text(v, "type"),
        value: opt_quantity(v, "value"),
        average_value: opt_quantity(v, "averageValue"),
        average_utilization: opt_int(v, "averageUtilization"),
    }
}

fn current_v2(v: Option<&Value>) -> Current {
    let v = v.unwrap_or(&NULL);
    Current {
        value: opt_quantity(v, "value"),
        average_value: opt_quantity(v, "averageValue"),
        average_utilization: opt_int(v, "averageUtilization"),
    }
}

fn resource_source_v2(r: &Value) -> ResourceSource {
    ResourceSource {
        name: text(r, "name"),
        container: text(r, "container"),
        target: target_v2(r.get("target")),
    }
}

fn ident_target_v2(p: &Value) -> IdentTarget {
    IdentTarget {
        metric: ident_v2(p.get("metric")),
        target: target_v2(p.get("target")),
    }
}

fn spec_v2(m: &Value) -> MetricSpec {
    MetricSpec {
        ty: text(m, "type"),
        object: opt_object(m, "object").map(|o| ObjectSource {
            described: xref_v2(o.get("describedObject")),
            target: target_v2(o.get("target")),
            metric: ident_v2(o.get("metric")),
        }),
        pods: opt_object(m, "pods").map(ident_target_v2),
        resource: opt_object(m, "resource").map(resource_source_v2),
        container_resource: opt_object(m, "containerResource").map(resource_source_v2),
        external: opt_object(m, "external").map(ident_target_v2),
    }
}

fn resource_status_v2(r: &Value) -> ResourceStatus {
    ResourceStatus {
        name: text(r, "name"),
        container: text(r, "container"),
        current: current_v2(r.get("current")),
    }
}

fn ident_current_v2(p: &Value) -> IdentCurrent {
    IdentCurrent {
        metric: ident_v2(p.get("metric")),
        current: current_v2(p.get("current")),
    }
}

fn status_v2(m: &Value) -> MetricStatus {
    MetricStatus {
        ty: text(m, "type"),
        object: opt_object(m, "object").map(|o| ObjectStatus {
            metric: ident_v2(o.get("metric")),
            current: current_v2(o.get("current")),
            described: xref_v2(o.get("describedObject")),
        }),
        pods: opt_object(m, "pods").map(ident_current_v2),
        resource: opt_object(m, "resource").map(resource_status_v2),
        container_resource: opt_object(m, "containerResource").map(resource_status_v2),
        external: opt_object(m, "external").map(ident_current_v2),
    }
}

fn rules_v2(r: &Value) -> Rules {
    Rules {
        stabilization_window_seconds: opt_int(r, "stabilizationWindowSeconds"),
        select_policy: opt_text(r, "selectPolicy"),
        policies: r.get("policies").and_then(Value::as_array).map(|ps| {
            ps.iter()
                .map(|p| Policy {
                    ty: text(p, "type"),
                    value: opt_int(p, "value").unwrap_or_default(),
                    period_seconds: opt_int(p, "periodSeconds").unwrap_or_default(),
                })
                .collect()
        }),
        tolerance: opt_quantity(r, "tolerance"),
    }
}

fn behavior_v2(b: &Value) -> Behavior {
    Behavior {
        scale_up: opt_object(b, "scaleUp").map(rules_v2),
        scale_down: opt_object(b, "scaleDown").map(rules_v2),
    }
}

fn condition_v2(c: &Value) -> Condition {
    Condition {
        ty: text(c, "type"),
        status: text(c, "status"),
        last_transition_time: opt_text(c, "lastTransitionTime"),
        reason: text(c, "reason"),
        message: text(c, "message"),
    }
}

// ---------------------------------------------------------------------------
// Writing v2 values (what the internal object serializes to as v2).
// ---------------------------------------------------------------------------

fn put(m: &mut Map<String, Value>, key: &str, v: Value) {
    m.insert(key.to_string(), v);
}

fn put_opt_str(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(s) = v {
        put(m, key, Value::String(s.clone()));
    }
}

fn put_opt_int(m: &mut Map<String, Value>, key: &str, v: Option<i64>) {
    if let Some(i) = v {
        put(m, key, Value::from(i));
    }
}

fn xref_to_v2(x: &XRef) -> Value {
    let mut m = Map::new();
    put(&mut m, "kind", Value::String(x.kind.clone()));
    put(&mut m, "name", Value::String(x.name.clone()));
    if !x.api_version.is_empty() {
        put(&mut m, "apiVersion", Value::String(x.api_version.clone()));
    }
    Value::Object(m)
}

fn ident_to_v2(i: &Ident) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", Value::String(i.name.clone()));
    if let Some(s) = &i.selector {
        put(&mut m, "selector", s.clone());
    }
    Value::Object(m)
}

fn target_to_v2(t: &Target) -> Value {
    let mut m = Map::new();
    put(&mut m, "type", Value::String(t.ty.clone()));
    put_opt_str(&mut m, "value", &t.value);
    put_opt_str(&mut m, "averageValue", &t.average_value);
    put_opt_int(&mut m, "averageUtilization", t.average_utilization);
    Value::Object(m)
}

fn current_to_v2(c: &Current) -> Value {
    let mut m = Map::new();
    put_opt_str(&mut m, "value", &c.value);
    put_opt_str(&mut m, "averageValue", &c.average_value);
    put_opt_int(&mut m, "averageUtilization", c.average_utilization);
    Value::Object(m)
}

fn resource_source_to_v2(r: &ResourceSource, with_container: bool) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", Value::String(r.name.clone()));
    put(&mut m, "target", target_to_v2(&r.target));
    if with_container {
        put(&mut m, "container", Value::String(r.container.clone()));
    }
    Value::Object(m)
}

fn ident_target_to_v2(p: &IdentTarget) -> Value {
    let mut m = Map::new();
    put(&mut m, "metric", ident_to_v2(&p.metric));
    put(&mut m, "target", target_to_v2(&p.target));
    Value::Object(m)
}

fn spec_to_v2(s: &MetricSpec) -> Value {
    let mut m = Map::new();
    put(&mut m, "type", Value::String(s.ty.clone()));
    if let Some(o) = &s.object {
        let mut src = Map::new();
        put(&mut src, "describedObject", xref_to_v2(&o.described));
        put(&mut src, "target", target_to_v2(&o.target));
        put(&mut src, "metric", ident_to_v2(&o.metric));
        put(&mut m, "object", Value::Object(src));
    }
    if let Some(p) = &s.pods {
        put(&mut m, "pods", ident_target_to_v2(p));
    }
    if let Some(r) = &s.resource {
        put(&mut m, "resource", resource_source_to_v2(r, false));
    }
    if let Some(r) = &s.container_resource {
        put(&mut m, "containerResource", resource_source_to_v2(r, true));
    }
    if let Some(e) = &s.external {
        put(&mut m, "external", ident_target_to_v2(e));
    }
    Value::Object(m)
}

fn resource_status_to_v2(r: &ResourceStatus, with_container: bool) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", Value::String(r.name.clone()));
    put(&mut m, "current", current_to_v2(&r.current));
    if with_container {
        put(&mut m, "container", Value::String(r.container.clone()));
    }
    Value::Object(m)
}

fn ident_current_to_v2(p: &IdentCurrent) -> Value {
    let mut m = Map::new();
    put(&mut m, "metric", ident_to_v2(&p.metric));
    put(&mut m, "current", current_to_v2(&p.current));
    Value::Object(m)
}

fn status_to_v2(s: &MetricStatus) -> Value {
    let mut m = Map::new();
    put(&mut m, "type", Value::String(s.ty.clone()));
    if let Some(o) = &s.object {
        let mut st = Map::new();
        put(&mut st, "metric", ident_to_v2(&o.metric));
        put(&mut st, "current", current_to_v2(&o.current));
        put(&mut st, "describedObject", xref_to_v2(&o.described));
        put(&mut m, "object", Value::Object(st));
    }
    if let Some(p) = &s.pods {
        put(&mut m, "pods", ident_current_to_v2(p));
    }
    if let Some(r) = &s.resource {
        put(&mut m, "resource", resource_status_to_v2(r, false));
    }
    if let Some(r) = &s.container_resource {
        put(&mut m, "containerResource", resource_status_to_v2(r, true));
    }
    if let Some(e) = &s.external {
        put(&mut m, "external", ident_current_to_v2(e));
    }
    Value::Object(m)
}

fn rules_to_v2(r: &Rules) -> Value {
    let mut m = Map::new();
    put_opt_int(
        &mut m,
        "stabilizationWindowSeconds",
        r.stabilization_window_seconds,
    );
    put_opt_str(&mut m, "selectPolicy", &r.select_policy);
    // `policies` is omitempty in v2: an empty list does not survive.
    if let Some(ps) = r.policies.as_ref().filter(|ps| !ps.is_empty()) {
        let items = ps
            .iter()
            .map(|p| {
                let mut pm = Map::new();
                put(&mut pm, "type", Value::String(p.ty.clone()));
                put(&mut pm, "value", Value::from(p.value));
                put(&mut pm, "periodSeconds", Value::from(p.period_seconds));
                Value::Object(pm)
            })
            .collect();
        put(&mut m, "policies", Value::Array(items));
    }
    put_opt_str(&mut m, "tolerance", &r.tolerance);
    Value::Object(m)
}

fn behavior_to_v2(b: &Behavior) -> Value {
    let mut m = Map::new();
    if let Some(r) = &b.scale_up {
        put(&mut m, "scaleUp", rules_to_v2(r));
    }
    if let Some(r) = &b.scale_down {
        put(&mut m, "scaleDown", rules_to_v2(r));
    }
    Value::Object(m)
}

fn condition_to_v2(c: &Condition) -> Value {
    let mut m = Map::new();
    put(&mut m, "type", Value::String(c.ty.clone()));
    put(&mut m, "status", Value::String(c.status.clone()));
    put_opt_str(&mut m, "lastTransitionTime", &c.last_transition_time);
    if !c.reason.is_empty() {
        put(&mut m, "reason", Value::String(c.reason.clone()));
    }
    if !c.message.is_empty() {
        put(&mut m, "message", Value::String(c.message.clone()));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Encoding annotations: internal -> autoscaling/v1 types -> Go json.Marshal.
// Field order follows k8s.io/api/autoscaling/v1/types.go; a non-pointer
// `resource.Quantity` that the internal object lacks encodes as "0".
// ---------------------------------------------------------------------------

fn quantity(q: &str) -> String {
    gojson::string(q)
}

fn quantity_or_zero(q: &Option<String>) -> String {
    quantity(q.as_deref().unwrap_or("0"))
}

fn xref_json(x: &XRef) -> String {
    Obj::new()
        .str("kind", &x.kind)
        .str("name", &x.name)
        .str_omitempty("apiVersion", &x.api_version)
        .end()
}

fn selector_json(s: &Option<Value>) -> Option<String> {
    s.as_ref().map(gojson::selector)
}

fn spec_v1_json(s: &MetricSpec) -> String {
    let mut out = Obj::new().str("type", &s.ty);
    if let Some(o) = &s.object {
        let src = Obj::new()
            .raw("target", xref_json(&o.described))
            .str("metricName", &o.metric.name)
            .raw("targetValue", quantity_or_zero(&o.target.value))
            .opt("selector", selector_json(&o.metric.selector))
            .opt(
                "averageValue",
                o.target.average_value.as_deref().map(quantity),
            )
            .end();
        out = out.raw("object", src);
    }
    if let Some(p) = &s.pods {
        let src = Obj::new()
            .str("metricName", &p.metric.name)
            .raw(
                "targetAverageValue",
                quantity_or_zero(&p.target.average_value),
            )
            .opt("selector", selector_json(&p.metric.selector))
            .end();
        out = out.raw("pods", src);
    }
    if let Some(r) = &s.resource {
        out = out.raw("resource", resource_source_v1_json(r, false));
    }
    if let Some(r) = &s.container_resource {
        out = out.raw("containerResource", resource_source_v1_json(r, true));
    }
    if let Some(e) = &s.external {
        let src = Obj::new()
            .str("metricName", &e.metric.name)
            .opt("metricSelector", selector_json(&e.metric.selector))
            .opt("targetValue", e.target.value.as_deref().map(quantity))
            .opt(
                "targetAverageValue",
                e.target.average_value.as_deref().map(quantity),
            )
            .end();
        out = out.raw("external", src);
    }
    out.end()
}

fn resource_source_v1_json(r: &ResourceSource, with_container: bool) -> String {
    let obj = Obj::new()
        .str("name", &r.name)
        .opt(
            "targetAverageUtilization",
            r.target.average_utilization.map(|u| u.to_string()),
        )
        .opt(
            "targetAverageValue",
            r.target.average_value.as_deref().map(quantity),
        );
    if with_container {
        obj.str("container", &r.container).end()
    } else {
        obj.end()
    }
}

fn status_v1_json(s: &MetricStatus) -> String {
    let mut out = Obj::new().str("type", &s.ty);
    if let Some(o) = &s.object {
        let st = Obj::new()
            .raw("target", xref_json(&o.described))
            .str("metricName", &o.metric.name)
            .raw("currentValue", quantity_or_zero(&o.current.value))
            .opt("selector", selector_json(&o.metric.selector))
            .opt(
                "averageValue",
                o.current.average_value.as_deref().map(quantity),
            )
            .end();
        out = out.raw("object", st);
    }
    if let Some(p) = &s.pods {
        let st = Obj::new()
            .str("metricName", &p.metric.name)
            .raw(
                "currentAverageValue",
                quantity_or_zero(&p.current.average_value),
            )
            .opt("selector", selector_json(&p.metric.selector))
            .end();
        out = out.raw("pods", st);
    }
    if let Some(r) = &s.resource {
        out = out.raw("resource", resource_status_v1_json(r, false));
    }
    if let Some(r) = &s.container_resource {
        out = out.raw("containerResource", resource_status_v1_json(r, true));
    }
    if let Some(e) = &s.external {
        let st = Obj::new()
            .str("metricName", &e.metric.name)
            .opt("metricSelector", selector_json(&e.metric.selector))
            .raw("currentValue", quantity_or_zero(&e.current.value))
            .opt(
                "currentAverageValue",
                e.current.average_value.as_deref().map(quantity),
            )
            .end();
        out = out.raw("external", st);
    }
    out.end()
}

fn resource_status_v1_json(r: &ResourceStatus, with_container: bool) -> String {
    let obj = Obj::new()
        .str("name", &r.name)
        .opt(
            "currentAverageUtilization",
            r.current.average_utilization.map(|u| u.to_string()),
        )
        .raw(
            "currentAverageValue",
            quantity_or_zero(&r.current.average_value),
        );
    if with_container {
        obj.str("container", &r.container).end()
    } else {
        obj.end()
    }
}

/// The internal `HorizontalPodAutoscalerBehavior`: Go field names, no
/// `omitempty`, so unset pointers and nil slices appear as `null`.
fn behavior_json(b: &Behavior) -> String {
    Obj::new()
        .nullable("ScaleUp", b.scale_up.as_ref().map(rules_json))
        .nullable("ScaleDown", b.scale_down.as_ref().map(rules_json))
        .end()
}

fn rules_json(r: &Rules) -> String {
    let policies = r.policies.as_ref().map(|ps| {
        gojson::array(ps.iter().map(|p| {
            Obj::new()
                .str("Type", &p.ty)
                .raw("Value", p.value.to_string())
                .raw("PeriodSeconds", p.period_seconds.to_string())
                .end()
        }))
    });
    Obj::new()
        .nullable(
            "StabilizationWindowSeconds",
            r.stabilization_window_seconds.map(|i| i.to_string()),
        )
        .nullable(
            "SelectPolicy",
            r.select_policy.as_deref().map(gojson::string),
        )
        .nullable("Policies", policies)
        .nullable("Tolerance", r.tolerance.as_deref().map(quantity))
        .end()
}

/// `lastTransitionTime` is a `metav1.Time` struct: `omitempty` has no
/// effect and the zero time marshals as `null`.
fn condition_v1_json(c: &Condition) -> String {
    Obj::new()
        .str("type", &c.ty)
        .str("status", &c.status)
        .nullable(
            "lastTransitionTime",
            c.last_transition_time.as_deref().map(gojson::string),
        )
        .str_omitempty("reason", &c.reason)
        .str_omitempty("message", &c.message)
        .end()
}

// ---------------------------------------------------------------------------
// Decoding annotations: Go json.Unmarshal into autoscaling/v1 types, then
// the v1 -> internal conversion functions.
// ---------------------------------------------------------------------------

type Fields = Map<String, Value>;

fn xref_from_v1(m: Option<&Fields>) -> Strict<XRef> {
    let Some(m) = m else {
        return Ok(XRef::default());
    };
    Ok(XRef {
        kind: gojson::get_string(m, "kind")?,
        name: gojson::get_string(m, "name")?,
        api_version: gojson::get_string(m, "apiVersion")?,
    })
}

fn resource_source_from_v1(r: &Fields) -> Strict<ResourceSource> {
    let utilization = gojson::get_i32(r, "targetAverageUtilization")?;
    let average = gojson::get_quantity(r, "targetAverageValue")?;
    Ok(ResourceSource {
        name: gojson::get_string(r, "name")?,
        container: gojson::get_string(r, "container")?,
        target: Target {
            ty: if utilization.is_none() {
                "AverageValue"
            } else {
                "Utilization"
            }
            .into(),
            value: None,
            average_value: average,
            average_utilization: utilization,
        },
    })
}

fn spec_from_v1(v: &Value) -> Strict<MetricSpec> {
    let Some(m) = gojson::as_object(v)? else {
        return Ok(MetricSpec::default());
    };
    let mut out = MetricSpec {
        ty: gojson::get_string(m, "type")?,
        ..MetricSpec::default()
    };
    if let Some(o) = gojson::get_object(m, "object")? {
        let average = gojson::get_quantity(o, "averageValue")?;
        out.object = Some(ObjectSource {
            described: xref_from_v1(gojson::get_object(o, "target")?)?,
            target: Target {
                ty: if average.is_none() {
                    "Value"
                } else {
                    "AverageValue"
                }
                .into(),
                // `Value: &in.TargetValue`: always set, zero when missing.
                value: Some(gojson::get_quantity(o, "targetValue")?.unwrap_or_else(|| "0".into())),
                average_value: average,
                average_utilization: None,
            },
            metric: Ident {
                name: gojson::get_string(o, "metricName")?,
                selector: gojson::get_selector(o, "selector")?,
            },
        });
    }
    if let Some(p) = gojson::get_object(m, "pods")? {
        out.pods = Some(IdentTarget {
            metric: Ident {
                name: gojson::get_string(p, "metricName")?,
                selector: gojson::get_selector(p, "selector")?,
            },
            target: Target {
                ty: "AverageValue".into(),
                average_value: Some(
                    gojson::get_quantity(p, "targetAverageValue")?.unwrap_or_else(|| "0".into()),
                ),
                ..Target::default()
            },
        });
    }
    if let Some(r) = gojson::get_object(m, "resource")? {
        let mut src = resource_source_from_v1(r)?;
        src.container.clear();
        out.resource = Some(src);
    }
    if let Some(r) = gojson::get_object(m, "containerResource")? {
        out.container_resource = Some(resource_source_from_v1(r)?);
    }
    if let Some(e) = gojson::get_object(m, "external")? {
        let value = gojson::get_quantity(e, "targetValue")?;
        out.external = Some(IdentTarget {
            metric: Ident {
                name: gojson::get_string(e, "metricName")?,
                selector: gojson::get_selector(e, "metricSelector")?,
            },
            target: Target {
                ty: if value.is_none() {
                    "AverageValue"
                } else {
                    "Value"
                }
                .into(),
                value,
                average_value: gojson::get_quantity(e, "targetAverageValue")?,
                average_utilization: None,
            },
        });
    }
    Ok(out)
}

fn resource_status_from_v1(r: &Fields) -> Strict<ResourceStatus> {
    Ok(ResourceStatus {
        name: gojson::get_string(r, "name")?,
        container: gojson::get_string(r, "container")?,
        current: Current {
            value: None,
            // `AverageValue: &in.CurrentAverageValue`: always set.
            average_value: Some(
                gojson::get_quantity(r, "currentAverageValue")?.unwrap_or_else(|| "0".into()),
            ),
            average_utilization: gojson::get_i32(r, "currentAverageUtilization")?,
        },
    })
}

fn status_from_v1(v: &Value) -> Strict<MetricStatus> {
    let Some(m) = gojson::as_object(v)? else {
        return Ok(MetricStatus::default());
    };
    let mut out = MetricStatus {
        ty: gojson::get_string(m, "type")?,
        ..MetricStatus::default()
    };
    if let Some(o) = gojson::get_object(m, "object")? {
        out.object = Some(ObjectStatus {
            metric: Ident {
                name: gojson::get_string(o, "metricName")?,
                selector: gojson::get_selector(o, "selector")?,
            },
            current: Current {
                value: Some(gojson::get_quantity(o, "currentValue")?.unwrap_or_else(|| "0".into())),
                average_value: gojson::get_quantity(o, "averageValue")?,
                average_utilization: None,
            },
            described: xref_from_v1(gojson::get_object(o, "target")?)?,
        });
    }
    if let Some(p) = gojson::get_object(m, "pods")? {
        out.pods = Some(IdentCurrent {
            metric: Ident {
                name: gojson::get_string(p, "metricName")?,
                selector: gojson::get_selector(p, "selector")?,
            },
            current: Current {
                average_value: Some(
                    gojson::get_quantity(p, "currentAverageValue")?.unwrap_or_else(|| "0".into()),
                ),
                ..Current::default()
            },
        });
    }
    if let Some(r) = gojson::get_object(m, "resource")? {
        let mut st = resource_status_from_v1(r)?;
        st.container.clear();
        out.resource = Some(st);
    }
    if let Some(r) = gojson::get_object(m, "containerResource")? {
        out.container_resource = Some(resource_status_from_v1(r)?);
    }
    if let Some(e) = gojson::get_object(m, "external")? {
        out.external = Some(IdentCurrent {
            metric: Ident {
                name: gojson::get_string(e, "metricName")?,
                selector: gojson::get_selector(e, "metricSelector")?,
            },
            current: Current {
                value: Some(gojson::get_quantity(e, "currentValue")?.unwrap_or_else(|| "0".into())),
                average_value: gojson::get_quantity(e, "currentAverageValue")?,
                average_utilization: None,
            },
        });
    }
    Ok(out)
}

fn policy_from_json(v: &Value) -> Strict<Policy> {
    let Some(m) = gojson::as_object(v)? else {
        return Ok(Policy::default());
    };
    Ok(Policy {
        ty: gojson::get_string(m, "Type")?,
        value: gojson::get_i32(m, "Value")?.unwrap_or_default(),
        period_seconds: gojson::get_i32(m, "PeriodSeconds")?.unwrap_or_default(),
    })
}

fn rules_from_json(m: &Fields) -> Strict<Rules> {
    let policies = match gojson::get_array(m, "Policies")? {
        Some(ps) => Some(
            ps.iter()
                .map(policy_from_json)
                .collect::<Strict<Vec<_>>>()?,
        ),
        None => None,
    };
    Ok(Rules {
        stabilization_window_seconds: gojson::get_i32(m, "StabilizationWindowSeconds")?,
        select_policy: gojson::get_opt_string(m, "SelectPolicy")?,
        policies,
        tolerance: gojson::get_quantity(m, "Tolerance")?,
    })
}

fn behavior_from_json(v: &Value) -> Strict<Behavior> {
    let Some(m) = gojson::as_object(v)? else {
        return Ok(Behavior::default());
    };
    Ok(Behavior {
        scale_up: gojson::get_object(m, "ScaleUp")?
            .map(rules_from_json)
            .transpose()?,
        scale_down: gojson::get_object(m, "ScaleDown")?
            .map(rules_from_json)
            .transpose()?,
    })
}

fn condition_from_v1(v: &Value) -> Strict<Condition> {
    let Some(m) = gojson::as_object(v)? else {
        return Ok(Condition::default());
    };
    Ok(Condition {
        ty: gojson::get_string(m, "type")?,
        status: gojson::get_string(m, "status")?,
        last_transition_time: gojson::get_time(m, "lastTransitionTime")?,
        reason: gojson::get_string(m, "reason")?,
        message: gojson::get_string(m, "message")?,
    })
}

/// `json.Unmarshal` of a whole annotation into a Go slice.
fn decode_list<T>(enc: &str, item: fn(&Value) -> Strict<T>) -> Strict<Vec<T>> {
    match serde_json::from_str::<Value>(enc).map_err(|_| Bad)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(item).collect(),
        _ => Err(Bad),
    }
}

// ---------------------------------------------------------------------------
// Annotation plumbing on metadata.
// ---------------------------------------------------------------------------

fn annotation<'a>(meta: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    meta?.get("annotations")?.get(key)?.as_str()
}

/// `DropRoundTripHorizontalPodAutoscalerAnnotations`: removes the
/// round-trip keys; a map left empty disappears (`omitempty`).
pub(crate) fn drop_round_trip_annotations(meta: &mut Map<String, Value>) {
    let Some(Value::Object(ann)) = meta.get_mut("annotations") else {
        return;
    };
    if !ROUND_TRIP_ANNOTATIONS.iter().any(|k| ann.contains_key(*k)) {
        return;
    }
    for k in ROUND_TRIP_ANNOTATIONS {
        ann.remove(k);
    }
    if ann.is_empty() {
        meta.remove("annotations");
    }
}

fn set_annotations(meta: &mut Map<String, Value>, entries: Vec<(&str, String)>) {
    if entries.is_empty() {
        return;
    }
    let slot = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(ann) = slot {
        for (k, v) in entries {
            ann.insert(k.to_string(), Value::String(v));
        }
    }
}

fn copy_fields(from: &Value, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

// ---------------------------------------------------------------------------
// The conversions.
// ---------------------------------------------------------------------------

/// autoscaling/v2 -> autoscaling/v1
/// (`Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler`
/// and the spec/status helpers it calls).
pub(crate) fn v2_to_v1(obj: &Map<String, Value>, api_version: &str) -> Value {
    let spec = obj.get("spec").unwrap_or(&NULL);
    let status = obj.get("status").filter(|s| !s.is_null());
    let status_v = status.unwrap_or(&NULL);

    let metrics: Vec<MetricSpec> = list(spec, "metrics").iter().map(spec_v2).collect();
    let current: Vec<MetricStatus> = list(status_v, "currentMetrics")
        .iter()
        .map(status_v2)
        .collect();
    let conditions: Vec<Condition> = list(status_v, "conditions")
        .iter()
        .map(condition_v2)
        .collect();
    let behavior = opt_object(spec, "behavior").map(behavior_v2);

    // Everything but CPU utilization goes to the metrics annotation (all CPU
    // utilization metrics are skipped, not only the one that is kept).
    let other: Vec<&MetricSpec> = metrics.iter().filter(|m| !is_cpu_utilization(m)).collect();
    let mut entries = Vec::new();
    if !other.is_empty() {
        entries.push((
            METRIC_SPECS_ANNOTATION,
            gojson::array(other.iter().map(|m| spec_v1_json(m))),
        ));
    }
    if !current.is_empty() {
        entries.push((
            METRIC_STATUSES_ANNOTATION,
            gojson::array(current.iter().map(status_v1_json)),
        ));
    }
    if let Some(b) = &behavior {
        entries.push((BEHAVIOR_ANNOTATION, behavior_json(b)));
    }
    if !conditions.is_empty() {
        entries.push((
            CONDITIONS_ANNOTATION,
            gojson::array(conditions.iter().map(condition_v1_json)),
        ));
    }

    let mut out = Map::new();
    put(
        &mut out,
        "apiVersion",
        Value::String(api_version.to_string()),
    );
    if let Some(kind) = obj.get("kind") {
        put(&mut out, "kind", kind.clone());
    }
    let mut meta = obj.get("metadata").and_then(Value::as_object).cloned();
    if let Some(m) = meta.as_mut() {
        drop_round_trip_annotations(m);
    }
    if !entries.is_empty() {
        set_annotations(meta.get_or_insert_with(Map::new), entries);
    }
    if let Some(m) = meta {
        put(&mut out, "metadata", Value::Object(m));
    }

    let mut out_spec = Map::new();
    copy_fields(
        spec,
        &mut out_spec,
        &["scaleTargetRef", "minReplicas", "maxReplicas"],
    );
    // The first CPU utilization metric wins.
    if let Some(t) = metrics
        .iter()
        .find(|m| is_cpu_utilization(m))
        .and_then(|m| m.resource.as_ref()?.target.average_utilization)
    {
        put(
            &mut out_spec,
            "targetCPUUtilizationPercentage",
            Value::from(t),
        );
    }
    put(&mut out, "spec", Value::Object(out_spec));

    if let Some(status) = status {
        let mut out_status = Map::new();
        copy_fields(
            status,
            &mut out_status,
            &[
                "observedGeneration",
                "lastScaleTime",
                "currentReplicas",
                "desiredReplicas",
            ],
        );
        // Upstream loops without breaking: the last CPU reading wins.
        let cpu = current
            .iter()
            .filter(|m| m.ty == "Resource")
            .filter_map(|m| m.resource.as_ref())
            .filter(|r| r.name == "cpu")
            .filter_map(|r| r.current.average_utilization)
            .next_back();
        if let Some(c) = cpu {
            put(
                &mut out_status,
                "currentCPUUtilizationPercentage",
                Value::from(c),
            );
        }
        put(&mut out, "status", Value::Object(out_status));
    }
    Value::Object(out)
}

/// autoscaling/v1 -> autoscaling/v2
/// (`Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler`
/// followed by the identity-plus-drop internal -> v2 step).
pub(crate) fn v1_to_v2(obj: &Map<String, Value>, api_version: &str) -> Value {
    let meta_in = obj.get("metadata").and_then(Value::as_object);
    let spec = obj.get("spec").unwrap_or(&NULL);
    let status = obj.get("status").filter(|s| !s.is_null());
    let status_v = status.unwrap_or(&NULL);

    let mut metrics: Vec<MetricSpec> = opt_int(spec, "targetCPUUtilizationPercentage")
        .map(cpu_utilization_metric)
        .into_iter()
        .collect();
    if let Some(enc) = annotation(meta_in, METRIC_SPECS_ANNOTATION) {
        if let Ok(other) = decode_list(enc, spec_from_v1) {
            // The explicit CPU target, if any, goes after the others.
            let cpu = metrics.first().cloned();
            metrics = other;
            metrics.extend(cpu);
        }
    }

    let behavior = annotation(meta_in, BEHAVIOR_ANNOTATION)
        .and_then(|enc| serde_json::from_str::<Value>(enc).ok())
        .and_then(|v| behavior_from_json(&v).ok())
        .filter(|b| b.scale_up.is_some() || b.scale_down.is_some());

    let mut current: Vec<MetricStatus> = opt_int(status_v, "currentCPUUtilizationPercentage")
        .map(cpu_utilization_status)
        .into_iter()
        .collect();
    if let Some(enc) = annotation(meta_in, METRIC_STATUSES_ANNOTATION) {
        // The annotation carries more information than the percentage.
        if let Ok(list) = decode_list(enc, status_from_v1) {
            current = list;
        }
    }

    // autoscaling/v1 used to default to 80% CPU in the controller; v2 makes
    // it explicit.
    if metrics.is_empty() {
        metrics.push(cpu_utilization_metric(DEFAULT_CPU_UTILIZATION));
    }

    let conditions = annotation(meta_in, CONDITIONS_ANNOTATION)
        .and_then(|enc| decode_list(enc, condition_from_v1).ok())
        .unwrap_or_default();

    let mut out = Map::new();
    put(
        &mut out,
        "apiVersion",
        Value::String(api_version.to_string()),
    );
    if let Some(kind) = obj.get("kind") {
        put(&mut out, "kind", kind.clone());
    }
    if let Some(meta) = meta_in {
        let mut meta = meta.clone();
        drop_round_trip_annotations(&mut meta);
        put(&mut out, "metadata", Value::Object(meta));
    }

    let mut out_spec = Map::new();
    copy_fields(
        spec,
        &mut out_spec,
        &["scaleTargetRef", "minReplicas", "maxReplicas"],
    );
    put(
        &mut out_spec,
        "metrics",
        Value::Array(metrics.iter().map(spec_to_v2).collect()),
    );
    if let Some(b) = &behavior {
        put(&mut out_spec, "behavior", behavior_to_v2(b));
    }
    put(&mut out, "spec", Value::Object(out_spec));

    if status.is_some() || !current.is_empty() || !conditions.is_empty() {
        let mut out_status = Map::new();
        copy_fields(
            status_v,
            &mut out_status,
            &[
                "observedGeneration",
                "lastScaleTime",
                "currentReplicas",
                "desiredReplicas",
            ],
        );
        if !current.is_empty() {
            put(
                &mut out_status,
                "currentMetrics",
                Value::Array(current.iter().map(status_to_v2).collect()),
            );
        }
        if !conditions.is_empty() {
            put(
                &mut out_status,
                "conditions",
                Value::Array(conditions.iter().map(condition_to_v2).collect()),
            );
        }
        put(&mut out, "status", Value::Object(out_status));
    }
    Value::Object(out)
}
