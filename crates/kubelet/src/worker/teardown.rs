//! A pod worker's ending: eviction, graceful termination, and the final delete.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Preconditions};
use kube::Api;
use rkube_runtime::{ContainerState, ContainerStatus};

use super::{pod_key, remove_pod_dir, PodWorker};
use crate::{eviction, probes};

impl PodWorker {
    /// The eviction message when an emptyDir on disk outgrew its sizeLimit (measured every
    /// 10 s at most, as the eviction manager's housekeeping does).
    pub(super) fn storage_violation(&mut self, pod: &Pod) -> Option<String> {
        if !eviction::has_limited_empty_dirs(pod)
            || self
                .storage_checked
                .is_some_and(|t| t.elapsed() < eviction::CHECK_INTERVAL)
        {
            return None;
        }
        self.storage_checked = Some(Instant::now());
        eviction::empty_dir_violation(&self.agent, pod)
    }

    /// Evicts the pod as the kubelet's eviction manager does: its containers are killed at
    /// once and its status becomes Failed with reason Evicted; its owner replaces it.
    pub(super) async fn evict(
        &mut self,
        pod: &Pod,
        uid: &str,
        message: &str,
    ) -> anyhow::Result<()> {
        tracing::info!(pod = %pod_key(pod), message, "evicting pod");
        self.event(pod, None, "Warning", "Evicted", message).await;
        self.evicted = Some(message.to_string());
        self.terminate(pod, Duration::ZERO).await?;
        let runtime = self.containers_of(uid).await?;
        self.report_from(pod, uid, true, runtime).await
    }

    /// Stops every container (preStop hooks, SIGTERM, grace, SIGKILL) and removes the sandbox.
    pub(super) async fn terminate(&mut self, pod: &Pod, grace: Duration) -> anyhow::Result<()> {
        self.probes.stop_all();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let running: Vec<ContainerStatus> = self
            .containers_of(&uid)
            .await?
            .into_iter()
            .filter(|c| c.state == ContainerState::Running)
            .collect();
        let deadline = Instant::now() + grace;
        let mut stops = Vec::new();
        for c in running {
            self.event(
                pod,
                Some(&c.name),
                "Normal",
                "Killing",
                &format!("Stopping container {}", c.name),
            )
            .await;
            let agent = self.agent.clone();
            let spec_c = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.iter().find(|x| x.name == c.name).cloned());
            let pod = pod.clone();
            stops.push(tokio::spawn(async move {
                if let Some(sc) = spec_c {
                    probes::pre_stop(&agent, &pod, &sc, &c, deadline).await;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = agent.runtime.stop_container(&c.id, left).await;
            }));
        }
        for s in stops {
            let _ = s.await;
        }
        if let Some(sb) = self.find_sandbox(&uid).await? {
            self.agent.network_teardown(pod, &sb).await;
            self.agent.runtime.stop_pod_sandbox(&sb).await?;
        }
        Ok(())
    }

    /// The final delete after the containers are gone (the kubelet's part of graceful
    /// deletion), guarded by the uid so a new pod of the same name is never touched.
    pub(super) async fn delete_object(&mut self, pod: &Pod) -> anyhow::Result<()> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.remove_all(&uid).await?;
        let api: Api<Pod> = Api::namespaced(
            self.agent.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api
            .delete(pod.metadata.name.as_deref().unwrap_or(""), &dp)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            // The node authorizer refuses a pod it no longer finds bound to us: gone already
            // (our status write may have completed the deletion).
            Err(kube::Error::Api(e)) if e.code == 403 => {
                match api
                    .get_opt(pod.metadata.name.as_deref().unwrap_or(""))
                    .await?
                {
                    Some(p) if p.metadata.uid.as_deref() == Some(uid.as_str()) => {
                        Err(kube::Error::Api(e).into())
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the pod's sandboxes (with their containers) and its directory.
    pub(super) async fn remove_all(&mut self, uid: &str) -> anyhow::Result<()> {
        for sb in self.agent.runtime.list_pod_sandboxes().await? {
            if sb.config.uid == uid {
                self.agent.runtime.remove_pod_sandbox(&sb.id).await?;
            }
        }
        self.sandbox = None;
        remove_pod_dir(&self.agent.config.pod_dir(uid));
        Ok(())
    }

    /// Keeps the latest two attempts of each container (current and previous, for
    /// `kubectl logs --previous`); older ones are removed.
    pub(super) async fn gc_old_attempts(&self, uid: &str) {
        let Ok(list) = self.containers_of(uid).await else {
            return;
        };
        let mut by_name: HashMap<&str, Vec<&ContainerStatus>> = HashMap::new();
        for c in &list {
            by_name.entry(c.name.as_str()).or_default().push(c);
        }
        for (_, mut v) in by_name {
            v.sort_by_key(|c| std::cmp::Reverse(c.attempt));
            for old in v.iter().skip(2) {
                if old.state != ContainerState::Running {
                    let _ = self.agent.runtime.remove_container(&old.id).await;
                }
            }
        }
    }
}
