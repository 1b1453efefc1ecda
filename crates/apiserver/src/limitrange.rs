//! LimitRange admission for pods (upstream's LimitRanger): containers get the namespace's
//! default limits and requests, then every Container and Pod item's min, max and
//! maxLimitRequestRatio are enforced, with upstream's messages.

use rkube_apimachinery::quantity::parse_milli;
use rkube_apimachinery::quota::{format, pod_resources};
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
    for item in &items {
        let kind = item["type"].as_str().unwrap_or("");
        let scopes: Vec<(RequestsLimits, &str)> = match kind {
            "Container" => pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| (container_resources(c), "Container"))
                .collect(),
            "Pod" => vec![(
                (pod_resources(pod, "requests"), pod_resources(pod, "limits")),
                "Pod",
            )],
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

fn check(item: &Value, what: &str, requests: &Amounts, limits: &Amounts, errors: &mut Vec<String>) {
    for (res, min_s, min) in quantities(item, "min") {
        match requests.get(&res) {
            Some(r) if *r < min => errors.push(format!(
                "minimum {res} usage per {what} is {min_s}, but request is {}",
                format(&res, *r)
            )),
            None => errors.push(format!(
                "minimum {res} usage per {what} is {min_s}.  No request is specified"
            )),
            _ => {}
        }
    }
    for (res, max_s, max) in quantities(item, "max") {
        match limits.get(&res) {
            Some(l) if *l > max => errors.push(format!(
                "maximum {res} usage per {what} is {max_s}, but limit is {}",
                format(&res, *l)
            )),
            None => errors.push(format!(
                "maximum {res} usage per {what} is {max_s}.  No limit is specified"
            )),
            _ => {}
        }
    }
    for (res, ratio_s, ratio) in quantities(item, "maxLimitRequestRatio") {
        let (Some(l), Some(r)) = (limits.get(&res), requests.get(&res)) else {
            continue;
        };
        if *r > 0 && l * 1000 / r > ratio {
            errors.push(format!(
                "{res} max limit to request ratio per {what} is {ratio_s}, but provided ratio is {:.6}",
                *l as f64 / *r as f64
            ));
        }
    }
}
