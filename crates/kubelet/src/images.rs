//! Image pulls for a container: imagePullPolicy (Always, IfNotPresent, Never) and
//! imagePullSecrets (`kubernetes.io/dockerconfigjson` and `dockercfg`), with the kubelet's
//! event texts and waiting reasons.

use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;
use rkube_runtime::image::{AuthConfig, ImageError, Reference};

use crate::Agent;

/// A failed pull as the pod shows it.
#[derive(Debug)]
pub struct PullError {
    /// `ErrImagePull`, `ErrImageNeverPull`, `InvalidImageName`.
    pub reason: String,
    pub message: String,
    /// Events to record before `Failed`/`Error: <reason>`: (type, reason, text).
    pub events: Vec<(&'static str, &'static str, String)>,
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
    let reference = Reference::parse(&image).map_err(|_| invalid_name(&image))?;
    let present = matches!(agent.images.image_status(&image).await, Ok(Some(_)));
    let policy = pull_policy(c);
    if policy == "Never" {
        if present {
            return Ok(vec![(
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            )]);
        }
        let message =
            format!("Container image \"{image}\" is not present with pull policy of Never");
        return Err(PullError {
            reason: "ErrImageNeverPull".into(),
            events: vec![("Warning", "ErrImageNeverPull", message.clone())],
            message,
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
    let message = match last_err {
        Some(e) => pull_failure(&reference, &e),
        None => format!("failed to pull and unpack image \"{reference}\""),
    };
    let failed = format!(
        "Failed to pull image \"{}\": {message}",
        with_default_tag(&image)
    );
    let mut events: Vec<(&'static str, &'static str, String)> = events
        .into_iter()
        .map(|(reason, text)| ("Normal", reason, text))
        .collect();
    events.push(("Warning", "Failed", failed));
    Err(PullError {
        reason: "ErrImagePull".into(),
        events,
        message,
    })
}

/// InvalidImageName as the kubelet reports it (its `applyDefaultImageTag` over Docker's
/// reference parser), with its `InspectFailed` event.
fn invalid_name(image: &str) -> PullError {
    let why = Reference::docker_parse_error(image)
        .unwrap_or_else(|| "invalid reference format".to_string());
    let message = format!(
        "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": {why}"
    );
    PullError {
        reason: "InvalidImageName".into(),
        events: vec![("Warning", "InspectFailed", message.clone())],
        message,
    }
}

/// The image as the kubelet names it in pull events: `:latest` added when it has neither
/// tag nor digest, and otherwise as written (not expanded to `docker.io/library/…`).
fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// A failed pull in the words the kubelet shows over containerd: the CRI status
/// (`rpc error: code = … desc = …`) around containerd's `failed to pull and unpack image`.
fn pull_failure(reference: &Reference, e: &ImageError) -> String {
    let r = reference.to_string();
    let resolve = |detail: &str| format!("failed to resolve reference \"{r}\": {detail}");
    let (code, detail) = match e {
        ImageError::RegistryNotFound { .. } => ("NotFound", resolve(&format!("{r}: not found"))),
        ImageError::Unauthorized { message, .. } => (
            "Unknown",
            resolve(&format!(
                "pull access denied, repository does not exist or may require authorization: {message}"
            )),
        ),
        // Blob reads fail after the reference resolved: containerd's copy stage.
        ImageError::Registry { message, .. } if message.starts_with("reading ") => {
            ("Unknown", format!("failed to copy: {message}"))
        }
        ImageError::Registry { message, .. } => ("Unknown", resolve(message)),
        ImageError::DigestMismatch { .. } | ImageError::SizeMismatch { .. } => {
            ("FailedPrecondition", format!("failed to copy: {e}"))
        }
        other => ("Unknown", other.to_string()),
    };
    format!("rpc error: code = {code} desc = failed to pull and unpack image \"{r}\": {detail}")
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

    #[test]
    fn invalid_image_names_in_the_kubelets_words() {
        let e = invalid_name("bad::ref");
        assert_eq!(e.reason, "InvalidImageName");
        assert_eq!(
            e.message,
            "Failed to apply default image tag \"bad::ref\": couldn't parse image name \"bad::ref\": invalid reference format"
        );
        assert_eq!(e.events, [("Warning", "InspectFailed", e.message.clone())]);
        assert_eq!(
            invalid_name("busyBOX:1").message,
            "Failed to apply default image tag \"busyBOX:1\": couldn't parse image name \"busyBOX:1\": invalid reference format: repository name (library/busyBOX) must be lowercase"
        );
    }

    #[test]
    fn pull_failures_in_containerds_words() {
        let r = Reference::parse("nginx:nope").expect("reference");
        let not_found = ImageError::RegistryNotFound {
            reference: r.to_string(),
            endpoint: "https://registry-1.docker.io".into(),
            message: "manifest unknown".into(),
        };
        assert_eq!(
            pull_failure(&r, &not_found),
            "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:nope\": failed to resolve reference \"docker.io/library/nginx:nope\": docker.io/library/nginx:nope: not found"
        );
        let refused = ImageError::Registry {
            reference: r.to_string(),
            endpoint: "http://127.0.0.1:1".into(),
            message: "connection refused".into(),
        };
        assert_eq!(
            pull_failure(&r, &refused),
            "rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/library/nginx:nope\": failed to resolve reference \"docker.io/library/nginx:nope\": connection refused"
        );
        assert_eq!(with_default_tag("nginx"), "nginx:latest");
        assert_eq!(
            with_default_tag("127.0.0.1:5000/a/b"),
            "127.0.0.1:5000/a/b:latest"
        );
        assert_eq!(with_default_tag("a/b:1"), "a/b:1");
        assert_eq!(with_default_tag("a@sha256:00"), "a@sha256:00");
    }
}
