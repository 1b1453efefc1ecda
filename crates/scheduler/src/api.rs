//! The scheduler's writes to the API: binding, the PodScheduled=False condition with
//! nominatedNodeName, deleting preemption victims, and Events. Events go through a bounded
//! background queue so recording them never slows binding (upstream's broadcaster also
//! drops events when it falls behind).

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::pod::PodInfo;

/// The component name on Events, as upstream's.
pub const COMPONENT: &str = "default-scheduler";

/// Events waiting to be written; more are dropped.
const EVENT_BACKLOG: usize = 8192;
/// Events written at once.
const EVENT_CONCURRENCY: usize = 16;

/// POSTs `pods/<name>/binding` with a v1 Binding to `node`.
pub async fn bind(client: &Client, pod: &PodInfo, node: &str) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    api.create_subresource::<_, serde_json::Value>(
        "binding",
        &pod.name,
        &PostParams::default(),
        &body,
    )
    .await
    .map(|_| ())
}

/// Records why the pod is unschedulable (and, after preemption, the nominated node) in its
/// status, as upstream's `updatePod` does with a strategic merge patch.
pub async fn set_unschedulable(
    client: &Client,
    pod: &PodInfo,
    message: &str,
    nominated_node: Option<&str>,
) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut status = json!({
        "conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": now,
        }]
    });
    if let Some(n) = nominated_node {
        status["nominatedNodeName"] = json!(n);
    }
    api.patch_status(
        &pod.name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"status": status})),
    )
    .await
    .map(|_| ())
}

/// Deletes a preemption victim with its own grace period, only if it is still the same pod.
pub async fn delete_victim(client: &Client, victim: &PodInfo) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &victim.namespace);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(victim.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&victim.name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// An Event about a pod.
#[derive(Clone, Debug)]
pub struct PodEvent {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub type_: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

impl PodEvent {
    pub fn new(
        pod: &PodInfo,
        type_: &'static str,
        reason: &'static str,
        action: &'static str,
        message: String,
    ) -> Self {
        PodEvent {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            resource_version: pod.resource_version.clone(),
            type_,
            reason,
            action,
            message,
        }
    }

    fn to_event(&self, instance: &str) -> Event {
        let now = k8s_openapi::jiff::Timestamp::now();
        let suffix = format!("{:x}", now.as_nanosecond());
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{suffix}", self.name)),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                uid: Some(self.uid.clone()).filter(|u| !u.is_empty()),
                resource_version: Some(self.resource_version.clone()).filter(|r| !r.is_empty()),
                ..Default::default()
            },
            reason: Some(self.reason.into()),
            message: Some(self.message.clone()),
            type_: Some(self.type_.into()),
            action: Some(self.action.into()),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: None,
            }),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(instance.into()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            ..Default::default()
        }
    }
}

/// Hands Events to the background writer.
#[derive(Clone, Debug)]
pub struct EventRecorder {
    tx: mpsc::Sender<PodEvent>,
}

impl EventRecorder {
    /// Starts the writer; it stops with `cancel` (after the backlog is written).
    pub fn start(client: Client, instance: String, cancel: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel::<PodEvent>(EVENT_BACKLOG);
        let instance = Arc::new(instance);
        tokio::spawn(async move {
            let stream = tokio_stream_from(rx, cancel);
            stream
                .for_each_concurrent(EVENT_CONCURRENCY, |ev| {
                    let client = client.clone();
                    let instance = instance.clone();
                    async move {
                        let api: Api<Event> = Api::namespaced(client, &ev.namespace);
                        if let Err(e) = api.create(&PostParams::default(), &ev.to_event(&instance)).await {
                            debug!(pod = %format!("{}/{}", ev.namespace, ev.name), reason = ev.reason, error = %e, "recording event failed");
                        }
                    }
                })
                .await;
        });
        EventRecorder { tx }
    }

    pub fn record(&self, ev: PodEvent) {
        if let Err(e) = self.tx.try_send(ev) {
            warn!(error = %e, "event backlog full; dropping event");
        }
    }
}

/// The receiver as a stream that ends on cancel.
fn tokio_stream_from(
    mut rx: mpsc::Receiver<PodEvent>,
    cancel: CancellationToken,
) -> impl futures::Stream<Item = PodEvent> {
    futures::stream::poll_fn(move |cx| {
        if cancel.is_cancelled() {
            return std::task::Poll::Ready(None);
        }
        rx.poll_recv(cx)
    })
}
