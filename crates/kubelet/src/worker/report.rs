//! What a pod worker tells the API: the pod's status, events, and the files of volumes
//! that show API data.

use std::time::Instant;

use k8s_openapi::api::core::v1::{HostIP, Pod, PodIP};
use kube::api::{Patch, PatchParams};
use kube::Api;
use rkube_runtime::ContainerStatus;
use serde_json::Value;

use super::{field_path, sync_frequency, PodWorker};
use crate::events::Involved;
use crate::{status, volumes};

impl PodWorker {
    /// Rewrites the file-backed volumes (ConfigMap, Secret, downwardAPI, projected) every
    /// sync period, as the kubelet's periodic pod sync does, and at once when the pod's
    /// labels or annotations change (downwardAPI files show them).
    pub(super) async fn refresh_volumes(&mut self, pod: &Pod, sandbox: &str) {
        let meta = serde_json::json!([pod.metadata.labels, pod.metadata.annotations]);
        let due = match &self.volumes_synced {
            None => {
                // The first start wrote them.
                self.volumes_synced = Some((Instant::now(), meta));
                return;
            }
            Some((at, seen)) => at.elapsed() >= sync_frequency() || *seen != meta,
        };
        if due {
            let pod = self.with_ips(pod, sandbox).await;
            volumes::refresh(&self.agent, &pod).await;
            self.volumes_synced = Some((Instant::now(), meta));
        }
    }

    /// The pod as its containers see it: on the first start the pod as received predates our
    /// first status write, so podIP(s) and hostIP(s) (env fieldRefs, downwardAPI) come from
    /// the sandbox.
    pub(super) async fn with_ips(&self, pod: &Pod, sandbox: &str) -> Pod {
        let mut pod = pod.clone();
        let ip = self
            .agent
            .runtime
            .pod_sandbox_status(sandbox)
            .await
            .ok()
            .and_then(|s| s.ip);
        let host = self.agent.config.node_ip.to_string();
        let st = pod.status.get_or_insert_with(Default::default);
        if let Some(ip) = ip {
            st.pod_ip = Some(ip.clone());
            st.pod_ips = Some(vec![PodIP { ip }]);
        }
        st.host_ip = Some(host.clone());
        st.host_ips = Some(vec![HostIP { ip: host }]);
        pod
    }

    /// Writes the pod status when it changed.
    pub(super) async fn report(
        &mut self,
        pod: &Pod,
        uid: &str,
        terminating: bool,
    ) -> anyhow::Result<()> {
        let runtime = self.containers_of(uid).await?;
        self.report_from(pod, uid, terminating, runtime).await
    }

    /// Writes the status built from `runtime`, the pod's containers, when it changed.
    pub(super) async fn report_from(
        &mut self,
        pod: &Pod,
        uid: &str,
        terminating: bool,
        runtime: Vec<ContainerStatus>,
    ) -> anyhow::Result<()> {
        let sandbox_ip = match &self.sandbox {
            Some(id) => self
                .agent
                .runtime
                .pod_sandbox_status(id)
                .await
                .ok()
                .and_then(|s| s.ip),
            None => None,
        };
        let input = status::Input {
            pod,
            runtime: &runtime,
            waiting: &self.waiting,
            probes: &self.probes,
            host_ip: &self.agent.config.node_ip.to_string(),
            pod_ip: sandbox_ip,
            start_time: self.start_time.clone(),
            sandbox_ready: self.sandbox.is_some() && !terminating,
        };
        let mut new = status::build(&input);
        if let Some(message) = &self.evicted {
            new["phase"] = Value::from("Failed");
            new["reason"] = Value::from("Evicted");
            new["message"] = Value::from(message.as_str());
        }
        if self.last_status.as_ref() == Some(&new) {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(
            self.agent.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let name = pod.metadata.name.clone().unwrap_or_default();
        let body = serde_json::json!({"metadata": {"uid": uid}, "status": new});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(body))
            .await
        {
            Ok(_) => {
                self.last_status = Some(new);
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn event(
        &self,
        pod: &Pod,
        container: Option<&str>,
        type_: &str,
        reason: &str,
        msg: &str,
    ) {
        let obj = Involved {
            kind: "Pod",
            api_version: "v1",
            namespace: pod.metadata.namespace.as_deref().unwrap_or("default"),
            name: pod.metadata.name.as_deref().unwrap_or(""),
            uid: pod.metadata.uid.as_deref().unwrap_or(""),
            field_path: container.map(|c| field_path(pod, c)),
        };
        self.agent.events.record(&obj, type_, reason, msg).await;
    }
}
