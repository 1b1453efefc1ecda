//! An event recorder with client-go's correlation (`tools/record`): events are written as
//! core/v1 Events by a background task (recording never slows a reconcile), repeated
//! identical events bump `count` on one Event, more than 10 different messages with one
//! reason for one object within 10 minutes are combined into one
//! `(combined from similar events): …` Event, and each object gets a burst of 25 writes
//! refilled at one per 5 minutes — so a 10,000-replica scale-up does not write 10,000 Events.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

const QUEUE: usize = 1000;
const SPAM_BURST: f64 = 25.0;
const SPAM_REFILL: Duration = Duration::from_secs(300);
const AGGREGATE_MAX: usize = 10;
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
const CACHE_LIMIT: usize = 4096;

struct Pending {
    object: ObjectReference,
    type_: &'static str,
    reason: String,
    message: String,
}

/// Records events for one component (`source.component`, e.g. `replicaset-controller`).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
}

impl Recorder {
    pub fn new(client: Client, component: &'static str, cancel: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(client, component, rx, cancel));
        Recorder { tx }
    }

    /// Queues an event; dropped when the queue is full, as upstream's broadcaster does.
    pub fn event(
        &self,
        object: ObjectReference,
        type_: &'static str,
        reason: &str,
        message: String,
    ) {
        let _ = self.tx.try_send(Pending {
            object,
            type_,
            reason: reason.to_string(),
            message,
        });
    }

    pub fn normal(&self, object: ObjectReference, reason: &str, message: String) {
        self.event(object, "Normal", reason, message);
    }

    pub fn warning(&self, object: ObjectReference, reason: &str, message: String) {
        self.event(object, "Warning", reason, message);
    }

    /// Creates `pod` for `owner` and records upstream's `SuccessfulCreate` or
    /// `FailedCreate` event on the owner.
    pub async fn create_pod(
        &self,
        api: &Api<k8s_openapi::api::core::v1::Pod>,
        owner: ObjectReference,
        pod: &k8s_openapi::api::core::v1::Pod,
    ) -> Result<(), kube::Error> {
        match api.create(&PostParams::default(), pod).await {
            Ok(p) => {
                let name = p.metadata.name.unwrap_or_default();
                self.normal(owner, "SuccessfulCreate", format!("Created pod: {name}"));
                Ok(())
            }
            Err(e) => {
                let msg = crate::util::error_message(&e);
                self.warning(owner, "FailedCreate", format!("Error creating: {msg}"));
                Err(e)
            }
        }
    }
}

/// The reference an Event points at.
pub fn object_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

struct Observed {
    name: String,
    namespace: String,
    count: i32,
    first: Time,
}

#[derive(Default)]
struct Correlator {
    /// object → (tokens, last refill)
    spam: HashMap<String, (f64, Instant)>,
    /// object+reason → (distinct messages, window start)
    aggregate: HashMap<String, (HashSet<String>, Instant)>,
    /// event identity → the Event written for it
    seen: HashMap<String, Observed>,
}

impl Correlator {
    fn allow(&mut self, object_key: &str) -> bool {
        let now = Instant::now();
        let (tokens, last) = self
            .spam
            .entry(object_key.to_string())
            .or_insert((SPAM_BURST, now));
        let refill = now.duration_since(*last).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        *tokens = (*tokens + refill).min(SPAM_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Returns the (possibly combined) message and the identity deduplication uses.
    fn aggregate(&mut self, agg_key: &str, message: &str) -> (String, String) {
        let now = Instant::now();
        let entry = self
            .aggregate
            .entry(agg_key.to_string())
            .or_insert_with(|| (HashSet::new(), now));
        if now.duration_since(entry.1) > AGGREGATE_WINDOW {
            *entry = (HashSet::new(), now);
        }
        entry.0.insert(message.to_string());
        if entry.0.len() < AGGREGATE_MAX {
            (message.to_string(), format!("{agg_key}\u{0}{message}"))
        } else {
            (
                format!("(combined from similar events): {message}"),
                agg_key.to_string(),
            )
        }
    }

    fn trim(&mut self) {
        if self.seen.len() > CACHE_LIMIT {
            self.seen.clear();
        }
        if self.aggregate.len() > CACHE_LIMIT {
            self.aggregate.clear();
        }
        if self.spam.len() > CACHE_LIMIT {
            self.spam.clear();
        }
    }
}

async fn write_loop(
    client: Client,
    component: &'static str,
    mut rx: mpsc::Receiver<Pending>,
    cancel: CancellationToken,
) {
    let mut c = Correlator::default();
    loop {
        let p = tokio::select! {
            p = rx.recv() => match p { Some(p) => p, None => return },
            _ = cancel.cancelled() => return,
        };
        let o = &p.object;
        let object_key = format!(
            "{}/{}/{}/{}/{}",
            o.kind.as_deref().unwrap_or_default(),
            o.namespace.as_deref().unwrap_or_default(),
            o.name.as_deref().unwrap_or_default(),
            o.uid.as_deref().unwrap_or_default(),
            p.type_
        );
        let agg_key = format!("{object_key}/{}", p.reason);
        let (message, identity) = c.aggregate(&agg_key, &p.message);
        let now = crate::util::now();
        let repeat = c
            .seen
            .get(&identity)
            .map(|s| (s.name.clone(), s.namespace.clone(), s.count + 1));
        if !c.allow(&object_key) {
            continue;
        }
        let namespace = o.namespace.clone().unwrap_or_else(|| "default".to_string());
        let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
        if let Some((name, ns, count)) = repeat {
            let patch = json!({"count": count, "lastTimestamp": now, "message": message});
            let api_ns: Api<Event> = Api::namespaced(client.clone(), &ns);
            match api_ns
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    if let Some(s) = c.seen.get_mut(&identity) {
                        s.count = count;
                    }
                    continue;
                }
                Err(e) if crate::util::is_not_found(&e) => {}
                Err(e) => {
                    debug!(component, error = %e, "could not update event");
                    continue;
                }
            }
        }
        let first = c
            .seen
            .get(&identity)
            .map(|s| s.first.clone())
            .unwrap_or_else(|| now.clone());
        let count = c.seen.get(&identity).map(|s| s.count + 1).unwrap_or(1);
        let nanos = now.0.as_nanosecond();
        let name = format!("{}.{:x}", o.name.as_deref().unwrap_or("event"), nanos);
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: p.object.clone(),
            reason: Some(p.reason.clone()),
            message: Some(message),
            source: Some(EventSource {
                component: Some(component.to_string()),
                host: None,
            }),
            first_timestamp: Some(first.clone()),
            last_timestamp: Some(now),
            count: Some(count),
            type_: Some(p.type_.to_string()),
            reporting_component: Some(component.to_string()),
            reporting_instance: Some(String::new()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ev).await {
            Ok(_) => {
                c.seen.insert(
                    identity,
                    Observed {
                        name,
                        namespace,
                        count,
                        first,
                    },
                );
            }
            Err(e) => debug!(component, error = %e, "could not write event"),
        }
        c.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spam_filter_allows_a_burst_of_25() {
        let mut c = Correlator::default();
        let allowed = (0..40).filter(|_| c.allow("obj")).count();
        assert_eq!(allowed, 25);
        assert!(c.allow("other"));
    }

    #[test]
    fn similar_events_are_combined_after_ten() {
        let mut c = Correlator::default();
        let mut last = (String::new(), String::new());
        for i in 0..12 {
            last = c.aggregate("rs/SuccessfulCreate", &format!("Created pod: p{i}"));
            if i < 9 {
                assert_eq!(last.0, format!("Created pod: p{i}"));
            }
        }
        assert_eq!(last.0, "(combined from similar events): Created pod: p11");
        assert_eq!(last.1, "rs/SuccessfulCreate");
    }
}
