//! ServiceAccount admission for pods (upstream's ServiceAccount plugin): a pod runs as
//! `default` unless it names an account, and — unless the pod or its account turns
//! `automountServiceAccountToken` off — every container mounts a `kube-api-access-…`
//! projected volume at `/var/run/secrets/kubernetes.io/serviceaccount` holding a token for
//! the account (the kubelet requests it), the cluster CA (`kube-root-ca.crt`) and the
//! namespace, which is what in-cluster clients read.
//!
//! Departure: upstream refuses a pod whose account does not exist yet; here it is admitted
//! and its token volume waits for the account (the kubelet retries), so pods created in
//! the instant before the controller makes a namespace's `default` account still start.

use serde_json::{json, Value};

use crate::ApiServer;

/// Where in-cluster clients look for the token, CA and namespace.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const VOLUME_PREFIX: &str = "kube-api-access-";
/// Upstream's token lifetime for these volumes (an hour and a bit, so a token never
/// expires at a round time).
const EXPIRATION_SECONDS: i64 = 3607;
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Admits a new pod in `ns`.
pub fn admit(srv: &ApiServer, ns: &str, pod: &mut Value) {
    if pod["metadata"]["annotations"]
        .get(MIRROR_ANNOTATION)
        .is_some()
    {
        return;
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let name = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(name));
    spec.insert("serviceAccount".into(), json!(name));
    let automount = match spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
    {
        Some(b) => b,
        // The account as the watch cache holds it (upstream reads its informer).
        None => srv
            .cache
            .get(&format!("/registry/serviceaccounts/{ns}/{name}"))
            .and_then(|sa| sa["automountServiceAccountToken"].as_bool())
            .unwrap_or(true),
    };
    if automount {
        mount(spec);
    }
}

/// Adds the token volume (unless the pod has one) and mounts it in every container and
/// init container that mounts nothing at [`MOUNT_PATH`] yet.
fn mount(spec: &mut serde_json::Map<String, Value>) {
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if !volumes.is_array() {
        *volumes = json!([]);
    }
    let existing = volumes.as_array().and_then(|vs| {
        vs.iter()
            .filter_map(|v| v["name"].as_str())
            .find(|n| n.starts_with(VOLUME_PREFIX))
            .map(str::to_string)
    });
    let volume = match existing {
        Some(n) => n,
        None => {
            let n = format!("{VOLUME_PREFIX}{}", crate::admission::random_suffix());
            if let Some(vs) = volumes.as_array_mut() {
                vs.push(json!({
                    "name": n,
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": EXPIRATION_SECONDS, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                        ],
                        "defaultMode": 420
                    }
                }));
            }
            n
        }
    };
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs {
            let mounts = c
                .as_object_mut()
                .map(|o| o.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(Value::Array(mounts)) = mounts else {
                continue;
            };
            if mounts.iter().any(|m| m["mountPath"] == MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": volume, "readOnly": true, "mountPath": MOUNT_PATH}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_container_mounts_one_volume() {
        let mut s = spec(json!({
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}]
        }));
        mount(&mut s);
        let vols = s["volumes"].as_array().cloned().unwrap_or_default();
        assert_eq!(vols.len(), 1);
        let vname = vols[0]["name"].as_str().unwrap_or("").to_string();
        assert!(
            vname.starts_with("kube-api-access-") && vname.len() == 21,
            "{vname}"
        );
        assert_eq!(
            vols[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(
            s["initContainers"][0]["volumeMounts"][0]["name"],
            vname.as_str()
        );
        assert_eq!(s["containers"][0]["volumeMounts"][0]["readOnly"], true);
        // A container that mounts its own volume there keeps it.
        assert_eq!(
            s["containers"][1]["volumeMounts"].as_array().map(Vec::len),
            Some(1)
        );
        // Admitting again (a pod that already has the volume) adds nothing.
        mount(&mut s);
        assert_eq!(s["volumes"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            s["containers"][0]["volumeMounts"].as_array().map(Vec::len),
            Some(1)
        );
    }
}
