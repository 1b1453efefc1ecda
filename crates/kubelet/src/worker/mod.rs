//! One pod's worker: converges the runtime to the pod spec (sandbox, init containers in
//! order, containers with restartPolicy and CrashLoopBackOff), reports status, and tears the
//! pod down gracefully when it is deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_runtime::{ContainerState, ContainerStatus, RuntimeError};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::eviction;
use crate::status::{self, Waiting};
use crate::{images, probes, spec, volumes, Agent};

mod report;
mod teardown;

/// The latest version of a pod, or its removal from the API.
#[derive(Clone)]
pub struct Update {
    pub pod: Pod,
    pub removed: bool,
}

/// Restart back-off: 10 s doubling to 5 min, forgotten after 10 min of running.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
const BACKOFF_RESET_AFTER_RUNNING: f64 = 600.0;

#[derive(Debug, Clone)]
struct Backoff {
    delay: Duration,
    /// The exit (container id) the current delay applies to.
    after: String,
}

/// A pod worker's memory between syncs (all of it can be rebuilt from the runtime).
pub struct PodWorker {
    agent: Arc<Agent>,
    rx: watch::Receiver<Update>,
    sandbox: Option<String>,
    backoff: HashMap<String, Backoff>,
    pull_backoff: HashMap<String, (Instant, Duration)>,
    waiting: HashMap<String, Waiting>,
    probes: probes::Manager,
    last_status: Option<Value>,
    start_time: Option<String>,
    startup: crate::startup::Startup,
    /// When the file-backed volumes were last written, and the labels and annotations then.
    volumes_synced: Option<(Instant, Value)>,
    /// When emptyDir usage was last measured against the sizeLimits.
    storage_checked: Option<Instant>,
    /// Why the pod was evicted, once it was (its status says Failed/Evicted from then on).
    evicted: Option<String>,
}

enum Outcome {
    /// Sync again after this long (or on the next update).
    Resync(Duration),
    /// The pod is gone; the worker ends.
    Done,
}

impl PodWorker {
    pub fn new(agent: Arc<Agent>, rx: watch::Receiver<Update>) -> Self {
        PodWorker {
            probes: probes::Manager::new(agent.clone()),
            agent,
            rx,
            sandbox: None,
            backoff: HashMap::new(),
            pull_backoff: HashMap::new(),
            waiting: HashMap::new(),
            last_status: None,
            start_time: None,
            startup: Default::default(),
            volumes_synced: None,
            storage_checked: None,
            evicted: None,
        }
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            let update = self.rx.borrow_and_update().clone();
            let key = pod_key(&update.pod);
            let outcome = match self.sync(&update).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(pod = %key, "sync pod: {e:#}");
                    Outcome::Resync(Duration::from_secs(1))
                }
            };
            let wait = match outcome {
                Outcome::Done => {
                    self.probes.stop_all();
                    return;
                }
                Outcome::Resync(d) => d,
            };
            tokio::select! {
                _ = cancel.cancelled() => {
                    self.probes.stop_all();
                    return;
                }
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
                _ = self.probes.changed() => {}
            }
        }
    }

    async fn containers_of(&self, uid: &str) -> Result<Vec<ContainerStatus>, RuntimeError> {
        self.agent.runtime.list_pod_containers(uid).await
    }

    async fn find_sandbox(&mut self, uid: &str) -> Result<Option<String>, RuntimeError> {
        if let Some(id) = &self.sandbox {
            if self.agent.runtime.pod_sandbox_status(id).await.is_ok() {
                return Ok(Some(id.clone()));
            }
        }
        let found = self
            .agent
            .runtime
            .list_pod_sandboxes()
            .await?
            .into_iter()
            .find(|s| s.config.uid == uid && s.state == rkube_runtime::SandboxState::Ready)
            .map(|s| s.id);
        self.sandbox = found.clone();
        Ok(found)
    }

    async fn sync(&mut self, update: &Update) -> anyhow::Result<Outcome> {
        let pod = &update.pod;
        self.startup.picked_up();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if update.removed {
            // Gone from the API (a force delete, or after our own final delete): nothing
            // of the pod may stay behind — containers, sandbox, volumes.
            self.terminate(pod, Duration::ZERO).await?;
            self.remove_all(&uid).await?;
            return Ok(Outcome::Done);
        }
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .or(pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds))
                .unwrap_or(30)
                .max(0) as u64;
            self.terminate(pod, Duration::from_secs(grace)).await?;
            // The final status is read before the cleanup but written after it: once
            // written, the object may be gone (and with it `kubectl delete`'s wait), and
            // nothing of the pod should remain on the node by then.
            let last = self.containers_of(&uid).await?;
            self.remove_all(&uid).await?;
            self.report_from(pod, &uid, true, last).await?;
            self.delete_object(pod).await?;
            return Ok(Outcome::Resync(Duration::from_secs(2)));
        }
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" || self.evicted.is_some() {
            // Terminal: nothing runs again; keep containers for logs.
            if let Some(sb) = self.find_sandbox(&uid).await? {
                self.agent.runtime.stop_pod_sandbox(&sb).await?;
            }
            self.probes.stop_all();
            if self.evicted.is_some() {
                // Until the Failed/Evicted status is written (the pod as received may
                // predate it).
                self.report(pod, &uid, true).await?;
            }
            return Ok(Outcome::Resync(Duration::from_secs(30)));
        }
        if self.start_time.is_none() {
            self.start_time = pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| crate::time::to_seconds(&t.0.to_string()))
                .or_else(|| Some(crate::time::now()));
        }
        let sandbox = match self.find_sandbox(&uid).await? {
            Some(id) => id,
            None => match self.create_sandbox(pod).await {
                Ok(id) => {
                    self.startup.sandbox_ready();
                    id
                }
                Err(e) => {
                    self.event(
                        pod,
                        None,
                        "Warning",
                        "FailedCreatePodSandBox",
                        &format!("Failed to create pod sandbox: {e}"),
                    )
                    .await;
                    self.report(pod, &uid, false).await?;
                    return Ok(Outcome::Resync(Duration::from_secs(5)));
                }
            },
        };
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let mut next = Duration::from_secs(5);

        // Init containers, one at a time and in order.
        let mut init_done = true;
        for c in spec.init_containers.clone().unwrap_or_default() {
            let runtime = self.containers_of(&uid).await?;
            let latest = status::latest(&runtime, &c.name);
            match latest.map(|s| (s.state, s.exit_code)) {
                Some((ContainerState::Exited, Some(0))) => continue,
                Some((ContainerState::Running, _)) | Some((ContainerState::Created, _)) => {
                    init_done = false;
                    next = next.min(Duration::from_millis(500));
                    break;
                }
                Some((_, _)) if policy == "Never" => {
                    init_done = false;
                    break;
                }
                Some(_) => {
                    init_done = false;
                    if let Some(d) = self.maybe_restart(pod, &sandbox, &c, latest).await {
                        next = next.min(d);
                    }
                    break;
                }
                None => {
                    init_done = false;
                    self.start(pod, &sandbox, &c, 0).await;
                    next = next.min(Duration::from_millis(300));
                    break;
                }
            }
        }

        if init_done {
            let runtime = self.containers_of(&uid).await?;
            for c in &spec.containers {
                let latest = status::latest(&runtime, &c.name);
                match latest.map(|s| (s.state, s.exit_code.unwrap_or(0))) {
                    None => {
                        self.start(pod, &sandbox, c, 0).await;
                        next = next.min(Duration::from_millis(300));
                    }
                    Some((ContainerState::Running, _)) => {
                        self.waiting.remove(&c.name);
                        if let Some(l) = latest {
                            self.probes.ensure(pod, c, l);
                        }
                    }
                    Some((ContainerState::Created, _)) => {
                        next = next.min(Duration::from_millis(300));
                    }
                    Some((_, code)) => {
                        self.probes.forget(&c.name);
                        let restart = match policy.as_str() {
                            "Never" => false,
                            "OnFailure" => code != 0,
                            _ => true,
                        };
                        if restart {
                            if let Some(d) = self.maybe_restart(pod, &sandbox, c, latest).await {
                                next = next.min(d);
                            }
                        }
                    }
                }
            }
            // A liveness failure asks for a restart.
            for name in self.probes.take_restarts() {
                if let Some(l) = status::latest(&runtime, &name) {
                    let grace = spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64;
                    let _ = self
                        .agent
                        .runtime
                        .stop_container(&l.id, Duration::from_secs(grace))
                        .await;
                    next = Duration::from_millis(100);
                }
            }
        }
        if init_done {
            self.startup.containers_started();
        }
        if let Some(message) = self.storage_violation(pod) {
            self.evict(pod, &uid, &message).await?;
            return Ok(Outcome::Resync(Duration::from_secs(1)));
        }
        if eviction::has_limited_empty_dirs(pod) {
            next = next.min(eviction::CHECK_INTERVAL);
        }
        self.refresh_volumes(pod, &sandbox).await;
        self.report(pod, &uid, false).await?;
        let running = self
            .last_status
            .as_ref()
            .and_then(|s| s.get("phase"))
            .and_then(Value::as_str)
            == Some("Running");
        self.startup.log_once_running(&pod_key(pod), running);
        self.gc_old_attempts(&uid).await;
        Ok(Outcome::Resync(next))
    }

    async fn create_sandbox(&mut self, pod: &Pod) -> Result<String, RuntimeError> {
        let cfg = spec::sandbox_config(&self.agent.config, pod);
        let id = self.agent.runtime.run_pod_sandbox(cfg).await?;
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let ip = if host_network {
            Some(self.agent.config.node_ip.to_string())
        } else {
            self.agent.network_setup(pod, &id).await
        };
        self.agent.runtime.set_pod_sandbox_ip(&id, ip).await?;
        self.sandbox = Some(id.clone());
        Ok(id)
    }

    /// Restarts an exited container unless it is backing off.
    async fn maybe_restart(
        &mut self,
        pod: &Pod,
        sandbox: &str,
        c: &Container,
        latest: Option<&ContainerStatus>,
    ) -> Option<Duration> {
        let latest = latest?;
        let ran_for = match (&latest.started_at, &latest.finished_at) {
            (Some(s), Some(_f)) => {
                crate::time::seconds_since(s)
                    - latest
                        .finished_at
                        .as_deref()
                        .map(crate::time::seconds_since)
                        .unwrap_or(0.0)
            }
            _ => 0.0,
        };
        if ran_for >= BACKOFF_RESET_AFTER_RUNNING {
            self.backoff.remove(&c.name);
        }
        let since_exit = latest
            .finished_at
            .as_deref()
            .map(crate::time::seconds_since)
            .unwrap_or(0.0);
        if let Some(b) = self.backoff.get(&c.name) {
            if b.after == latest.id && since_exit < b.delay.as_secs_f64() {
                let left = b.delay.as_secs_f64() - since_exit;
                let msg = format!(
                    "back-off {} restarting failed container={} pod={}",
                    go_duration(b.delay),
                    c.name,
                    pod_ref(pod)
                );
                let first = self.waiting.get(&c.name).map(|w| w.reason.as_str())
                    != Some("CrashLoopBackOff");
                self.waiting
                    .insert(c.name.clone(), Waiting::new("CrashLoopBackOff", &msg));
                if first {
                    self.event(
                        pod,
                        Some(&c.name),
                        "Warning",
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {} in pod {}",
                            c.name,
                            pod_ref(pod)
                        ),
                    )
                    .await;
                }
                return Some(Duration::from_secs_f64(left.max(0.05)));
            }
        }
        let delay = next_backoff(self.backoff.get(&c.name).map(|b| b.delay), ran_for);
        let attempt = latest.attempt + 1;
        self.start(pod, sandbox, c, attempt).await;
        // The next exit of this new attempt backs off for `delay`.
        self.backoff.insert(
            c.name.clone(),
            Backoff {
                delay,
                after: String::new(),
            },
        );
        if let Ok(list) = self
            .containers_of(pod.metadata.uid.as_deref().unwrap_or(""))
            .await
        {
            if let Some(new) = status::latest(&list, &c.name) {
                if let Some(b) = self.backoff.get_mut(&c.name) {
                    b.after = new.id.clone();
                }
            }
        }
        Some(Duration::from_millis(300))
    }

    /// Pulls the image, resolves the config, creates and starts one container.
    async fn start(&mut self, pod: &Pod, sandbox: &str, c: &Container, attempt: u32) {
        let image = c.image.clone().unwrap_or_default();
        if let Some((until, _)) = self.pull_backoff.get(&c.name) {
            if Instant::now() < *until {
                // A bad name or a Never policy keeps its own reason while retries wait, as
                // upstream: only a failed pull shows ImagePullBackOff.
                let keep = self.waiting.get(&c.name).is_some_and(|w| {
                    w.reason == "InvalidImageName" || w.reason == "ErrImageNeverPull"
                });
                if !keep {
                    self.waiting.insert(
                        c.name.clone(),
                        Waiting::new(
                            "ImagePullBackOff",
                            &format!("Back-off pulling image \"{image}\""),
                        ),
                    );
                }
                return;
            }
        }
        match images::ensure(&self.agent, pod, c).await {
            Ok(events) => {
                for (reason, msg) in events {
                    self.event(pod, Some(&c.name), "Normal", reason, &msg).await;
                }
                self.pull_backoff.remove(&c.name);
            }
            Err(images::PullError {
                reason,
                message,
                events,
            }) => {
                for (type_, ev_reason, ev) in events {
                    self.event(pod, Some(&c.name), type_, ev_reason, &ev).await;
                }
                self.event(
                    pod,
                    Some(&c.name),
                    "Warning",
                    "Failed",
                    &format!("Error: {reason}"),
                )
                .await;
                let delay = self
                    .pull_backoff
                    .get(&c.name)
                    .map(|(_, d)| (*d * 2).min(BACKOFF_MAX))
                    .unwrap_or(BACKOFF_INITIAL);
                self.pull_backoff
                    .insert(c.name.clone(), (Instant::now() + delay, delay));
                self.waiting
                    .insert(c.name.clone(), Waiting::new(&reason, &message));
                return;
            }
        }
        let pod = &self.with_ips(pod, sandbox).await;
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let mut lookup = spec::Lookup::new(&self.agent.client, &ns);
        let node_ip = self.agent.config.node_ip.to_string();
        let env = async {
            let env = spec::env(pod, c, &mut lookup, &node_ip).await?;
            if let Ok(Some(img)) = self.agent.images.image_status(&image).await {
                spec::verify_non_root(pod, c, img.uid, &img.username)?;
            }
            Ok::<_, spec::ConfigError>(env)
        }
        .await;
        let env = match env {
            Ok(env) => env,
            Err(e) => {
                let changed =
                    self.waiting.get(&c.name).map(|w| w.message.clone()) != Some(e.0.clone());
                self.waiting.insert(
                    c.name.clone(),
                    Waiting::new("CreateContainerConfigError", &e.0),
                );
                if changed {
                    self.event(
                        pod,
                        Some(&c.name),
                        "Warning",
                        "Failed",
                        &format!("Error: {}", e.0),
                    )
                    .await;
                }
                return;
            }
        };
        let mounts = match volumes::mounts(&self.agent, pod, c, &mut lookup).await {
            Ok(m) => m,
            Err(e) => {
                let msg = e.to_string();
                let changed =
                    self.waiting.get(&c.name).map(|w| w.message.clone()) != Some(msg.clone());
                self.waiting
                    .insert(c.name.clone(), Waiting::new("ContainerCreating", ""));
                if changed {
                    self.event(pod, Some(&c.name), "Warning", "FailedMount", &msg)
                        .await;
                    self.waiting.insert(
                        c.name.clone(),
                        Waiting {
                            reason: "ContainerCreating".into(),
                            message: String::new(),
                        },
                    );
                }
                return;
            }
        };
        let cfg = spec::container_config(pod, c, attempt, env, mounts);
        let id = match self.agent.runtime.create_container(sandbox, cfg).await {
            Ok(id) => id,
            Err(e) => {
                let msg = e.to_string();
                self.waiting
                    .insert(c.name.clone(), Waiting::new("CreateContainerError", &msg));
                self.event(
                    pod,
                    Some(&c.name),
                    "Warning",
                    "Failed",
                    &format!("Error: {msg}"),
                )
                .await;
                return;
            }
        };
        self.event(
            pod,
            Some(&c.name),
            "Normal",
            "Created",
            &format!("Created container: {}", c.name),
        )
        .await;
        match self.agent.runtime.start_container(&id).await {
            Ok(()) => {
                self.waiting.remove(&c.name);
                self.event(
                    pod,
                    Some(&c.name),
                    "Normal",
                    "Started",
                    &format!("Started container {}", c.name),
                )
                .await;
            }
            Err(e) => {
                self.event(
                    pod,
                    Some(&c.name),
                    "Warning",
                    "Failed",
                    &format!("Error: failed to start container \"{}\": {e}", c.name),
                )
                .await;
            }
        }
    }
}

/// The kubelet's periodic pod sync (`--sync-frequency`, 1 min), which also carries
/// ConfigMap and Secret updates into mounted volumes; `RKUBE_SYNC_FREQUENCY_SECONDS`
/// shortens it (tests).
fn sync_frequency() -> Duration {
    static FREQ: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *FREQ.get_or_init(|| {
        std::env::var("RKUBE_SYNC_FREQUENCY_SECONDS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(60))
    })
}

/// The back-off the next exit of a restarted container waits for: 10 s at first, doubling
/// up to 5 min; a container that ran for 10 min starts over (upstream's kubelet back-off).
pub fn next_backoff(previous: Option<Duration>, ran_for_secs: f64) -> Duration {
    match previous {
        Some(d) if ran_for_secs < BACKOFF_RESET_AFTER_RUNNING => (d * 2).min(BACKOFF_MAX),
        _ => BACKOFF_INITIAL,
    }
}

/// `spec.containers{app}` or `spec.initContainers{init}`.
fn field_path(pod: &Pod, name: &str) -> String {
    let init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|v| v.iter().any(|c| c.name == name));
    if init {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

/// `name_namespace(uid)`, the way the kubelet names a pod in messages.
pub fn pod_ref(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    )
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// Go's `time.Duration` text for whole seconds: `10s`, `1m20s`, `5m0s`.
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{}h{}m{}s", s / 3600, (s % 3600) / 60, s % 60)
    }
}

/// Removes a pod's directory, unmounting tmpfs volumes first.
pub fn remove_pod_dir(dir: &std::path::Path) {
    volumes::unmount_all(dir);
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes_and_resets_after_ten_minutes_running() {
        let mut seen = Vec::new();
        let mut d = None;
        for _ in 0..8 {
            let next = next_backoff(d, 1.0);
            seen.push(next.as_secs());
            d = Some(next);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(
            next_backoff(Some(BACKOFF_MAX), 599.0),
            BACKOFF_MAX,
            "under 10 min of running keeps the cap"
        );
        assert_eq!(next_backoff(Some(BACKOFF_MAX), 600.0), BACKOFF_INITIAL);
        assert_eq!(next_backoff(None, 0.0), BACKOFF_INITIAL);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
