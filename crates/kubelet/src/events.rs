//! Events the agent records for `kubectl describe pod` (Pulling, Pulled, Created, Started,
//! Killing, BackOff, …), written as core/v1 Events from component `kubelet`.

use serde_json::json;

/// Writes events; failures are logged, never fatal (events are best effort upstream too).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    host: String,
}

/// The object an event is about.
pub struct Involved<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    /// `spec.containers{app}` for container events.
    pub field_path: Option<String>,
    pub api_version: &'a str,
}

impl Recorder {
    pub fn new(client: kube::Client, host: &str) -> Self {
        Recorder {
            client,
            host: host.to_string(),
        }
    }

    /// Records one event (`type_` is `Normal` or `Warning`).
    pub async fn record(&self, obj: &Involved<'_>, type_: &str, reason: &str, message: &str) {
        let now = crate::time::now();
        let ns = if obj.namespace.is_empty() {
            "default"
        } else {
            obj.namespace
        };
        let name = format!(
            "{}.{:x}",
            obj.name,
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let mut involved = json!({
            "kind": obj.kind, "namespace": obj.namespace, "name": obj.name, "uid": obj.uid,
            "apiVersion": obj.api_version,
        });
        if let Some(fp) = &obj.field_path {
            involved["fieldPath"] = json!(fp);
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": "kubelet", "host": self.host},
            "reportingComponent": "kubelet",
            "reportingInstance": self.host,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(self.client.clone(), ns);
        let ev: k8s_openapi::api::core::v1::Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("encode event: {e}");
                return;
            }
        };
        if let Err(e) = api.create(&Default::default(), &ev).await {
            tracing::debug!(reason, "record event: {e}");
        }
    }
}
