//! Events the agent records for `kubectl describe pod` (Pulling, Pulled, Created, Started,
//! Killing, BackOff, …), written as core/v1 Events from component `kubelet`. A repeat of an
//! identical event updates the first one's `count` and `lastTimestamp` instead of adding an
//! object (upstream's event correlator), so a crash loop stays one `BackOff (x12)` line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Identical events remembered for de-duplication (upstream's LRU holds 4096).
const MAX_REMEMBERED: usize = 4096;

/// Writes events; failures are logged, never fatal (events are best effort upstream too).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    host: String,
    seen: Arc<Mutex<Correlator>>,
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

/// What makes two events the same: the object, the type, reason and message.
pub type Key = (String, String, String, String, String, String);

/// Remembers the events written, by [`Key`].
#[derive(Default)]
pub struct Correlator {
    events: HashMap<Key, Seen>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub name: String,
    pub count: i32,
}

/// What to do with an event.
#[derive(Debug, PartialEq)]
pub enum Decision {
    Create,
    /// Bump the existing event `name` to `count`.
    Update {
        name: String,
        count: i32,
    },
}

impl Correlator {
    pub fn observe(&mut self, key: &Key) -> Decision {
        match self.events.get_mut(key) {
            Some(s) => {
                s.count += 1;
                Decision::Update {
                    name: s.name.clone(),
                    count: s.count,
                }
            }
            None => Decision::Create,
        }
    }

    /// Records a newly created event.
    pub fn created(&mut self, key: Key, name: String) {
        if self.events.len() >= MAX_REMEMBERED {
            self.events.clear();
        }
        self.events.insert(key, Seen { name, count: 1 });
    }

    /// Forgets an event that could not be updated (deleted or expired on the server).
    pub fn forget(&mut self, key: &Key) {
        self.events.remove(key);
    }
}

fn key(obj: &Involved<'_>, type_: &str, reason: &str, message: &str) -> Key {
    (
        format!("{}/{}", obj.namespace, obj.kind),
        format!("{}/{}", obj.name, obj.uid),
        obj.field_path.clone().unwrap_or_default(),
        type_.to_string(),
        reason.to_string(),
        message.to_string(),
    )
}

impl Recorder {
    pub fn new(client: kube::Client, host: &str) -> Self {
        Recorder {
            client,
            host: host.to_string(),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Correlator> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one event (`type_` is `Normal` or `Warning`).
    pub async fn record(&self, obj: &Involved<'_>, type_: &str, reason: &str, message: &str) {
        let now = crate::time::now();
        let ns = if obj.namespace.is_empty() {
            "default"
        } else {
            obj.namespace
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(self.client.clone(), ns);
        let k = key(obj, type_, reason, message);
        let decision = self.seen().observe(&k);
        if let Decision::Update { name, count } = decision {
            let patch = json!({"count": count, "lastTimestamp": now});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(reason, "update event {name}: {e}");
                    self.seen().forget(&k);
                }
            }
        }
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
        let ev: k8s_openapi::api::core::v1::Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("encode event: {e}");
                return;
            }
        };
        match api.create(&Default::default(), &ev).await {
            Ok(_) => self.seen().created(k, name),
            Err(e) => tracing::debug!(reason, "record event: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(field: Option<&str>) -> Involved<'static> {
        Involved {
            kind: "Pod",
            namespace: "default",
            name: "p",
            uid: "u1",
            field_path: field.map(String::from),
            api_version: "v1",
        }
    }

    #[test]
    fn identical_events_update_the_first_one() {
        let mut c = Correlator::default();
        let k = key(
            &obj(Some("spec.containers{app}")),
            "Warning",
            "BackOff",
            "m",
        );
        assert_eq!(c.observe(&k), Decision::Create);
        c.created(k.clone(), "p.1".into());
        for n in 2..=4 {
            assert_eq!(
                c.observe(&k),
                Decision::Update {
                    name: "p.1".into(),
                    count: n
                }
            );
        }
    }

    #[test]
    fn any_difference_makes_a_new_event() {
        let mut c = Correlator::default();
        let base = key(
            &obj(Some("spec.containers{app}")),
            "Warning",
            "BackOff",
            "m",
        );
        c.created(base, "p.1".into());
        for other in [
            key(
                &obj(Some("spec.containers{app}")),
                "Warning",
                "BackOff",
                "other",
            ),
            key(&obj(Some("spec.containers{app}")), "Normal", "BackOff", "m"),
            key(&obj(Some("spec.containers{app}")), "Warning", "Failed", "m"),
            key(
                &obj(Some("spec.containers{sidecar}")),
                "Warning",
                "BackOff",
                "m",
            ),
            key(&obj(None), "Warning", "BackOff", "m"),
        ] {
            assert_eq!(c.observe(&other), Decision::Create, "{other:?}");
        }
    }

    #[test]
    fn a_lost_event_is_created_again() {
        let mut c = Correlator::default();
        let k = key(&obj(None), "Normal", "Pulled", "m");
        c.created(k.clone(), "p.1".into());
        c.forget(&k);
        assert_eq!(c.observe(&k), Decision::Create);
    }
}
