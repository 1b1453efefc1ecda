//! Image pulls for a container: imagePullPolicy (Always, IfNotPresent, Never) and
//! imagePullSecrets (`kubernetes.io/dockerconfigjson` and `dockercfg`), with the kubelet's
//! event texts and waiting reasons.

use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;
use rkube_runtime::image::{AuthConfig, Reference};

use crate::Agent;

/// A failed pull as the pod shows it.
#[derive(Debug)]
pub struct PullError {
    /// `ErrImagePull`, `ErrImageNeverPull`, `InvalidImageName`.
    pub reason: String,
    pub message: String,
    /// The Warning event's text, when there is one beyond `Error: <reason>`.
    pub event: Option<String>,
}

/// The policy in effect (the API server defaults it; this repeats the rule for safety).
pub fn pull_policy(c: &Container) -> String {
    if let Some(p) = c.image_pull_policy.clone().filter(|p| !p.is_empty()) {
        return p;
    }
    let image = c.image.clone().unwrap_or_default();
    let tag_latest_or_none = !image.contains('@')
        && image
            .rsplit('/')
            .next()
            .map(|last| !last.contains(':') || last.ends_with(":latest"))
            .unwrap_or(true);
    if tag_latest_or_none {
        "Always".into()
    } else {
        "IfNotPresent".into()
    }
}

/// Makes the image present per policy; returns the Normal events to record.
pub async fn ensure(
    agent: &Agent,
    pod: &Pod,
    c: &Container,
) -> Result<Vec<(&'static str, String)>, PullError> {
    let image = c.image.clone().unwrap_or_default();
    let reference = Reference::parse(&image).map_err(|e| PullError {
        reason: "InvalidImageName".into(),
        message: format!("Failed to apply default image tag \"{image}\": {e}"),
        event: None,
    })?;
    let _ = reference;
    let present = matches!(agent.images.image_status(&image).await, Ok(Some(_)));
    let policy = pull_policy(c);
    if policy == "Never" {
        if present {
            return Ok(vec![(
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            )]);
        }
        return Err(PullError {
            reason: "ErrImageNeverPull".into(),
            message: format!(
                "Container image \"{image}\" is not present with pull policy of Never"
            ),
            event: None,
        });
    }
    if present && policy == "IfNotPresent" {
        return Ok(vec![(
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
        )]);
    }
    let mut events = vec![("Pulling", format!("Pulling image \"{image}\""))];
    let auths = pull_secrets(agent, pod, &image).await;
    let started = std::time::Instant::now();
    let mut last_err = None;
    let candidates: Vec<Option<AuthConfig>> = if auths.is_empty() {
        vec![None]
    } else {
        auths.into_iter().map(Some).collect()
    };
    for auth in candidates {
        match agent.images.pull_image(&image, auth.as_ref()).await {
            Ok(_) => {
                let secs = started.elapsed().as_secs_f64();
                let size = agent
                    .images
                    .image_status(&image)
                    .await
                    .ok()
                    .flatten()
                    .map(|i| i.size)
                    .unwrap_or(0);
                events.push((
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {secs:.3}s ({secs:.3}s including waiting). Image size: {size} bytes."
                    ),
                ));
                return Ok(events);
            }
            Err(e) => last_err = Some(e),
        }
    }
    let err = last_err.map(|e| e.to_string()).unwrap_or_default();
    let message = format!("failed to pull and unpack image \"{image}\": {err}");
    Err(PullError {
        reason: "ErrImagePull".into(),
        event: Some(format!("Failed to pull image \"{image}\": {message}")),
        message,
    })
}

/// Credentials for `image` from the pod's imagePullSecrets, in order.
async fn pull_secrets(agent: &Agent, pod: &Pod, image: &str) -> Vec<AuthConfig> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| Some(r.name).filter(|n| !n.is_empty()))
        .collect();
    let registry = Reference::parse(image)
        .map(|r| r.domain().to_string())
        .unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(agent.client.clone(), &ns);
    let mut out = Vec::new();
    for name in names {
        let Ok(Some(secret)) = api.get_opt(&name).await else {
            tracing::warn!(secret = %name, "imagePullSecret not found");
            continue;
        };
        let data = secret.data.unwrap_or_default();
        let doc: Option<serde_json::Value> = data
            .get(".dockerconfigjson")
            .and_then(|b| serde_json::from_slice(&b.0).ok())
            .map(|v: serde_json::Value| v["auths"].clone())
            .or_else(|| {
                data.get(".dockercfg")
                    .and_then(|b| serde_json::from_slice(&b.0).ok())
            });
        let Some(serde_json::Value::Object(auths)) = doc else {
            continue;
        };
        for (server, entry) in auths {
            if registry_matches(&server, &registry) {
                out.push(AuthConfig {
                    username: entry["username"].as_str().unwrap_or("").into(),
                    password: entry["password"].as_str().unwrap_or("").into(),
                    auth: entry["auth"].as_str().unwrap_or("").into(),
                    server_address: server.clone(),
                    ..Default::default()
                });
            }
        }
    }
    out
}

/// Whether a docker config key (`https://index.docker.io/v1/`, `127.0.0.1:5000`) names the
/// image's registry.
pub fn registry_matches(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    let norm = |h: &str| match h {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    };
    norm(host) == norm(registry)
}

/// How often unused images are garbage-collected (upstream's ImageGCPeriod).
pub const GC_PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

/// Every [`GC_PERIOD`], removes unused images (least recently used first) once the image
/// filesystem is fuller than upstream's 85 % high threshold, down to 80 %.
pub async fn gc_loop(agent: std::sync::Arc<Agent>, cancel: tokio_util::sync::CancellationToken) {
    let policy = rkube_runtime::image::GcPolicy::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(GC_PERIOD) => {}
            _ = cancel.cancelled() => return,
        }
        let in_use: std::collections::HashSet<String> = match agent.runtime.list_containers().await
        {
            Ok(cs) => cs
                .into_iter()
                .flat_map(|c| [c.image, c.image_id, c.image_ref])
                .filter(|s| !s.is_empty())
                .collect(),
            Err(e) => {
                tracing::warn!("image gc: list containers: {e}");
                continue;
            }
        };
        match agent.images.garbage_collect(&policy, &in_use).await {
            Ok(report) => tracing::debug!(?report, "image garbage collection"),
            Err(e) => tracing::warn!("image garbage collection: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pull_policy_and_registry_keys() {
        let c = |image: &str| Container {
            name: "a".into(),
            image: Some(image.into()),
            ..Default::default()
        };
        assert_eq!(pull_policy(&c("busybox")), "Always");
        assert_eq!(pull_policy(&c("busybox:latest")), "Always");
        assert_eq!(pull_policy(&c("busybox:1.36")), "IfNotPresent");
        assert_eq!(pull_policy(&c("127.0.0.1:5000/busybox")), "Always");
        assert!(registry_matches("https://index.docker.io/v1/", "docker.io"));
        assert!(registry_matches("127.0.0.1:5000", "127.0.0.1:5000"));
        assert!(!registry_matches("quay.io", "docker.io"));
    }
}
