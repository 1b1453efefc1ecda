//! LimitRange admission for pods (upstream's LimitRanger): containers get the namespace's
//! default limits and requests, then every Container and Pod item's min, max and
//! maxLimitRequestRatio are enforced, with upstream's messages.

use rkube_apimachinery::quantity::parse_milli;
use rkube_apimachinery::quota::format;
use rkube_apimachinery::status::ApiError;
use serde_json::{json, Map, Value};

use crate::ApiServer;

fn quantities(item: &Value, field: &str) -> Vec<(String, String, i128)> {
    item.get(field)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let s = v.as_str()?;
                    Some((k.clone(), s.to_string(), parse_milli(s)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn resources_mut<'a>(c: &'a mut Value, field: &str) -> Option<&'a mut Map<String, Value>> {
    let r = c
        .as_object_mut()?
        .entry("resources")
        .or_insert_with(|| json!({}));
    r.as_object_mut()?
        .entry(field)
        .or_insert_with(|| json!({}))
        .as_object_mut()
}

/// Applies defaults to the pod and checks it; `Err` is the 403 to return.
pub fn admit(srv: &ApiServer, ns: &str, name: &str, pod: &mut Value) -> Result<(), ApiError> {
    let ranges = srv
        .cache
        .list(&format!("/registry/limitranges/{ns}/"), &|_| true);
    if ranges.items.is_empty() {
        return Ok(());
    }
    let items: Vec<Value> = ranges
        .items
        .iter()
        .flat_map(|lr| {
            lr.pointer("/spec/limits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    apply(&items, name, pod)
}

/// Defaults then checks `pod` against the `spec.limits` items of the namespace's ranges.
fn apply(items: &[Value], name: &str, pod: &mut Value) -> Result<(), ApiError> {
    // Defaults first (every Container item), on containers and init containers alike.
    for item in items.iter().filter(|i| i["type"] == "Container") {
        let defaults = quantities(item, "default");
        let default_requests = quantities(item, "defaultRequest");
        for list in ["containers", "initContainers"] {
            let Some(cs) = pod
                .pointer_mut(&format!("/spec/{list}"))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for c in cs {
                if let Some(limits) = resources_mut(c, "limits") {
                    for (k, s, _) in &defaults {
                        limits.entry(k.clone()).or_insert_with(|| json!(s));
                    }
                }
                let limits = c
                    .pointer("/resources/limits")
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(requests) = resources_mut(c, "requests") {
                    for (k, s, _) in &default_requests {
                        requests.entry(k.clone()).or_insert_with(|| json!(s));
                    }
                    // A limit without a request means a request of the same size.
                    if let Some(l) = limits.as_object() {
                        for (k, v) in l {
                            requests.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
            }
        }
    }
    let mut errors = Vec::new();
    for item in items {
        let kind = item["type"].as_str().unwrap_or("");
        let scopes: Vec<(RequestsLimits, &str)> = match kind {
            // Init containers are held to the Container bounds too.
            "Container" => ["containers", "initContainers"]
                .iter()
                .filter_map(|list| pod.pointer(&format!("/spec/{list}")))
                .filter_map(Value::as_array)
                .flatten()
                .map(|c| (container_resources(c), "Container"))
                .collect(),
            "Pod" => vec![(pod_totals(pod), "Pod")],
            _ => continue,
        };
        for ((requests, limits), what) in scopes {
            check(item, what, &requests, &limits, &mut errors);
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let detail = if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    };
    Err(ApiError::forbidden(format!(
        "pods {name:?} is forbidden: {detail}"
    )))
}

type Amounts = std::collections::BTreeMap<String, i128>;
type RequestsLimits = (Amounts, Amounts);

fn container_resources(c: &Value) -> RequestsLimits {
    let read = |field: &str| -> Amounts {
        c.pointer(&format!("/resources/{field}"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), parse_milli(v.as_str()?)?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    (read("requests"), read("limits"))
}

/// What the pod as a whole asks for, as upstream's LimitRanger sums it: the containers
/// plus sidecars (restartable init containers), or the largest init container (with the
/// sidecars started before it) if that is more. Overhead is not counted.
fn pod_totals(pod: &Value) -> RequestsLimits {
    let list = |field: &str| {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let add = |to: &mut Amounts, from: &Amounts| {
        for (k, v) in from {
            *to.entry(k.clone()).or_insert(0) += v;
        }
    };
    let take_max = |to: &mut Amounts, from: &Amounts| {
        for (k, v) in from {
            let e = to.entry(k.clone()).or_insert(*v);
            *e = (*e).max(*v);
        }
    };
    let (mut requests, mut limits) = (Amounts::new(), Amounts::new());
    for c in list("containers") {
        let (r, l) = container_resources(&c);
        add(&mut requests, &r);
        add(&mut limits, &l);
    }
    let (mut sidecars_r, mut sidecars_l) = (Amounts::new(), Amounts::new());
    let (mut init_r, mut init_l) = (Amounts::new(), Amounts::new());
    for c in list("initContainers") {
        let (r, l) = container_resources(&c);
        if c["restartPolicy"] == "Always" {
            add(&mut requests, &r);
            add(&mut limits, &l);
            add(&mut sidecars_r, &r);
            add(&mut sidecars_l, &l);
            take_max(&mut init_r, &sidecars_r);
            take_max(&mut init_l, &sidecars_l);
        } else {
            let (mut r, mut l) = (r, l);
            add(&mut r, &sidecars_r);
            add(&mut l, &sidecars_l);
            take_max(&mut init_r, &r);
            take_max(&mut init_l, &l);
        }
    }
    take_max(&mut requests, &init_r);
    take_max(&mut limits, &init_l);
    (requests, limits)
}

/// Upstream's minConstraint, maxConstraint and limitRequestRatioConstraint, in its order.
fn check(item: &Value, what: &str, requests: &Amounts, limits: &Amounts, errors: &mut Vec<String>) {
    for (res, min_s, min) in quantities(item, "min") {
        match (requests.get(&res), limits.get(&res)) {
            (None, _) => errors.push(format!(
                "minimum {res} usage per {what} is {min_s}.  No request is specified"
            )),
            (Some(r), _) if *r < min => errors.push(format!(
                "minimum {res} usage per {what} is {min_s}, but request is {}",
                format(&res, *r)
            )),
            (_, Some(l)) if *l < min => errors.push(format!(
                "minimum {res} usage per {what} is {min_s}, but limit is {}",
                format(&res, *l)
            )),
            _ => {}
        }
    }
    for (res, max_s, max) in quantities(item, "max") {
        match (limits.get(&res), requests.get(&res)) {
            (None, _) => errors.push(format!(
                "maximum {res} usage per {what} is {max_s}.  No limit is specified"
            )),
            (Some(l), _) if *l > max => errors.push(format!(
                "maximum {res} usage per {what} is {max_s}, but limit is {}",
                format(&res, *l)
            )),
            (_, Some(r)) if *r > max => errors.push(format!(
                "maximum {res} usage per {what} is {max_s}, but request is {}",
                format(&res, *r)
            )),
            _ => {}
        }
    }
    for (res, ratio_s, ratio) in quantities(item, "maxLimitRequestRatio") {
        let r = requests.get(&res).copied().unwrap_or(0);
        let l = limits.get(&res).copied().unwrap_or(0);
        if r == 0 {
            errors.push(format!(
                "{res} max limit to request ratio per {what} is {ratio_s}, but no request is specified or request is 0"
            ));
        } else if l == 0 {
            errors.push(format!(
                "{res} max limit to request ratio per {what} is {ratio_s}, but no limit is specified or limit is 0"
            ));
        } else if l * 1000 > ratio * r {
            errors.push(format!(
                "{res} max limit to request ratio per {what} is {ratio_s}, but provided ratio is {:.6}",
                l as f64 / r as f64
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value, init: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers, "initContainers": init}})
    }

    fn c(name: &str, resources: Value) -> Value {
        json!({"name": name, "image": "busybox", "resources": resources})
    }

    /// The refusal's message without the `pods "p" is forbidden: ` prefix.
    fn refusal(items: Value, mut p: Value) -> String {
        let items = items.as_array().cloned().unwrap_or_default();
        let e = apply(&items, "p", &mut p).unwrap_err();
        assert_eq!(e.code, 403);
        e.message
            .strip_prefix("pods \"p\" is forbidden: ")
            .unwrap_or_else(|| panic!("{}", e.message))
            .to_string()
    }

    #[test]
    fn min_wants_a_request_at_least_as_big() {
        let items = json!([{"type": "Container", "min": {"cpu": "100m"}}]);
        let p = pod(
            json!([c("a", json!({"requests": {"cpu": "50m"}}))]),
            json!([]),
        );
        assert_eq!(
            refusal(items.clone(), p),
            "minimum cpu usage per Container is 100m, but request is 50m"
        );
        let p = pod(json!([c("a", json!({}))]), json!([]));
        assert_eq!(
            refusal(items.clone(), p),
            "minimum cpu usage per Container is 100m.  No request is specified"
        );
        let p = pod(
            json!([c(
                "a",
                json!({"requests": {"cpu": "200m"}, "limits": {"cpu": "50m"}})
            )]),
            json!([]),
        );
        assert_eq!(
            refusal(items.clone(), p),
            "minimum cpu usage per Container is 100m, but limit is 50m"
        );
        let mut ok = pod(
            json!([c("a", json!({"requests": {"cpu": "100m"}}))]),
            json!([]),
        );
        apply(items.as_array().unwrap(), "p", &mut ok).unwrap();
    }

    #[test]
    fn max_limit_request_ratio() {
        let items = json!([{"type": "Container", "maxLimitRequestRatio": {"memory": "2"}}]);
        let p = pod(
            json!([c(
                "a",
                json!({"requests": {"memory": "100Mi"}, "limits": {"memory": "300Mi"}})
            )]),
            json!([]),
        );
        assert_eq!(
            refusal(items.clone(), p),
            "memory max limit to request ratio per Container is 2, but provided ratio is 3.000000"
        );
        let p = pod(json!([c("a", json!({}))]), json!([]));
        assert_eq!(
            refusal(items.clone(), p),
            "memory max limit to request ratio per Container is 2, but no request is specified or request is 0"
        );
        let p = pod(
            json!([c("a", json!({"requests": {"memory": "100Mi"}}))]),
            json!([]),
        );
        assert_eq!(
            refusal(items.clone(), p),
            "memory max limit to request ratio per Container is 2, but no limit is specified or limit is 0"
        );
        let mut ok = pod(
            json!([c(
                "a",
                json!({"requests": {"memory": "100Mi"}, "limits": {"memory": "200Mi"}})
            )]),
            json!([]),
        );
        apply(items.as_array().unwrap(), "p", &mut ok).unwrap();
    }

    #[test]
    fn pod_items_bound_the_sum_and_the_largest_init_container() {
        let items = json!([{"type": "Pod", "max": {"cpu": "1", "memory": "512Mi"}}]);
        let small = json!({"limits": {"cpu": "300m", "memory": "100Mi"}});
        let p = pod(
            json!([c("a", small.clone()), c("b", small.clone())]),
            json!([]),
        );
        let mut ok = p.clone();
        apply(items.as_array().unwrap(), "p", &mut ok).unwrap();
        // Containers add up.
        let big = json!({"limits": {"cpu": "600m", "memory": "100Mi"}});
        let p = pod(json!([c("a", big.clone()), c("b", big)]), json!([]));
        assert_eq!(
            refusal(items.clone(), p),
            "maximum cpu usage per Pod is 1, but limit is 1200m"
        );
        // An init container counts when it is bigger than the containers together.
        let init = json!({"limits": {"cpu": "100m", "memory": "1Gi"}});
        let p = pod(
            json!([c("a", small.clone()), c("b", small.clone())]),
            json!([c("i", init)]),
        );
        assert_eq!(
            refusal(items.clone(), p),
            "maximum memory usage per Pod is 512Mi, but limit is 1Gi"
        );
        // A sidecar (restartable init container) adds to the containers.
        let mut sidecar = c("s", json!({"limits": {"cpu": "500m", "memory": "10Mi"}}));
        sidecar["restartPolicy"] = json!("Always");
        let p = pod(
            json!([c("a", small.clone()), c("b", small)]),
            json!([sidecar]),
        );
        assert_eq!(
            refusal(items.clone(), p),
            "maximum cpu usage per Pod is 1, but limit is 1100m"
        );
        // Every violation is listed.
        let items = json!([{"type": "Pod", "min": {"cpu": "2"}, "max": {"memory": "1Gi"}}]);
        let p = pod(
            json!([c("a", json!({"requests": {"cpu": "1"}}))]),
            json!([]),
        );
        assert_eq!(
            refusal(items, p),
            "[minimum cpu usage per Pod is 2, but request is 1, maximum memory usage per Pod is 1Gi.  No limit is specified]"
        );
    }

    #[test]
    fn init_containers_get_defaults_and_container_bounds() {
        let items = json!([{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "1"}}]);
        let mut p = pod(json!([c("a", json!({}))]), json!([c("i", json!({}))]));
        apply(items.as_array().unwrap(), "p", &mut p).unwrap();
        for path in [
            "/spec/containers/0/resources",
            "/spec/initContainers/0/resources",
        ] {
            assert_eq!(
                p.pointer(path),
                Some(&json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "100m"}})),
                "{path}"
            );
        }
        let p = pod(
            json!([c("a", json!({}))]),
            json!([c("i", json!({"limits": {"cpu": "2"}}))]),
        );
        assert_eq!(
            refusal(items, p),
            "maximum cpu usage per Container is 1, but limit is 2"
        );
    }
}
