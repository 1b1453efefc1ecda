//! Update validation: fields upstream refuses to change once set, with its messages.

use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::Cause;
use serde_json::Value;

fn at<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    v.pointer(ptr).filter(|x| !x.is_null())
}

fn immutable(causes: &mut Vec<Cause>, field: &str, new: Option<&Value>) {
    let shown = new.map(|v| v.to_string()).unwrap_or_else(|| "null".into());
    causes.push(Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {shown}: field is immutable"),
    ));
}

/// Causes of a 422 for changing `old` into `new`.
pub fn validate_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let changed = |ptr: &str| at(old, ptr) != at(new, ptr);
    match (info.group, info.kind) {
        ("apps", "Deployment")
        | ("apps", "ReplicaSet")
        | ("apps", "StatefulSet")
        | ("apps", "DaemonSet") => {
            if changed("/spec/selector") {
                immutable(&mut causes, "spec.selector", at(new, "/spec/selector"));
            }
            if info.kind == "StatefulSet" {
                for f in ["serviceName", "podManagementPolicy", "volumeClaimTemplates"] {
                    if changed(&format!("/spec/{f}")) {
                        causes.push(Cause::new(
                            "FieldValueForbidden",
                            "spec",
                            "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                        ));
                        break;
                    }
                }
            }
        }
        ("batch", "Job") => {
            if changed("/spec/selector") {
                immutable(&mut causes, "spec.selector", at(new, "/spec/selector"));
            }
            if changed("/spec/completions") {
                immutable(
                    &mut causes,
                    "spec.completions",
                    at(new, "/spec/completions"),
                );
            }
            // The template may change only while the job is suspended (scheduling directives).
            let suspended = at(new, "/spec/suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if changed("/spec/template") && !suspended {
                immutable(&mut causes, "spec.template", at(new, "/spec/template"));
            }
        }
        ("", "Service") => {
            let old_ip = at(old, "/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("");
            let new_ip = at(new, "/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("");
            let old_ty = at(old, "/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let new_ty = at(new, "/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            if !old_ip.is_empty()
                && old_ip != new_ip
                && old_ty != "ExternalName"
                && new_ty != "ExternalName"
            {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    format!("Invalid value: []string{{\"{new_ip}\"}}: may not change once set"),
                ));
            }
        }
        ("", "ConfigMap") | ("", "Secret") => {
            if at(old, "/immutable").and_then(Value::as_bool) == Some(true) {
                for f in ["data", "binaryData"] {
                    if changed(&format!("/{f}")) {
                        causes.push(Cause::new(
                            "FieldValueForbidden",
                            f,
                            "Forbidden: field is immutable when `immutable` is set",
                        ));
                    }
                }
                if at(new, "/immutable").and_then(Value::as_bool) != Some(true) {
                    causes.push(Cause::new(
                        "FieldValueForbidden",
                        "immutable",
                        "Forbidden: field is immutable when `immutable` is set",
                    ));
                }
            }
            if info.kind == "Secret" && changed("/type") {
                immutable(&mut causes, "type", at(new, "/type"));
            }
        }
        ("", "Pod") => {
            // Only images, activeDeadlineSeconds, tolerations (additions) and a few others
            // may change on a pod.
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                for list in ["containers", "initContainers"] {
                    if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                            c.remove("image");
                            c.remove("resources");
                        }
                    }
                }
                if let Some(m) = s.as_object_mut() {
                    for f in [
                        "activeDeadlineSeconds",
                        "tolerations",
                        "terminationGracePeriodSeconds",
                        "schedulingGates",
                        "nodeName",
                        "ephemeralContainers",
                    ] {
                        m.remove(f);
                    }
                }
                s
            };
            if strip(old) != strip(new) {
                causes.push(Cause::new(
                    "FieldValueForbidden",
                    "spec",
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
            let old_node = at(old, "/spec/nodeName");
            if old_node.is_some() && changed("/spec/nodeName") {
                immutable(&mut causes, "spec.nodeName", at(new, "/spec/nodeName"));
            }
        }
        ("", "PersistentVolumeClaim") => {
            for f in [
                "accessModes",
                "selector",
                "storageClassName",
                "volumeMode",
                "volumeName",
            ] {
                if at(old, &format!("/spec/{f}")).is_some() && changed(&format!("/spec/{f}")) {
                    causes.push(Cause::new(
                        "FieldValueForbidden",
                        "spec",
                        "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                    ));
                    break;
                }
            }
        }
        _ => {}
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_apimachinery::registry::find;
    use serde_json::json;

    #[test]
    fn deployment_selector_is_immutable() {
        let info = find("apps", "v1", "deployments").unwrap();
        let old = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}}});
        let new = json!({"spec": {"selector": {"matchLabels": {"app": "b"}}}});
        let c = validate_update(info, &old, &new);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "spec.selector");
        assert!(validate_update(info, &old, &old).is_empty());
    }

    #[test]
    fn pod_image_may_change_but_not_command() {
        let info = find("", "v1", "pods").unwrap();
        let old =
            json!({"spec": {"containers": [{"name": "a", "image": "x:1", "command": ["sh"]}]}});
        let img =
            json!({"spec": {"containers": [{"name": "a", "image": "x:2", "command": ["sh"]}]}});
        let cmd =
            json!({"spec": {"containers": [{"name": "a", "image": "x:1", "command": ["bash"]}]}});
        assert!(validate_update(info, &old, &img).is_empty());
        assert_eq!(validate_update(info, &old, &cmd).len(), 1);
    }
}
