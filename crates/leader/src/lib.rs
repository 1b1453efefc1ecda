//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection:
//! several replicas campaign for one Lease; the holder renews it every `retry_period`, and
//! the others take it over once it has not changed for `lease_duration` (measured on their
//! own clock from when they last saw it change, so clock skew between machines is harmless).
//! The work runs only while the Lease is held, and is cancelled as soon as renewing fails
//! for `renew_deadline`. Generic over the Lease name: the scheduler uses "kube-scheduler",
//! the controller manager "kube-controller-manager" (both through this one crate).

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How to campaign for a Lease.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    pub namespace: String,
    pub name: String,
    /// Unique per process.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// A 10 s lease, 8 s renew deadline and 1 s retry, and a fresh identity. Upstream uses
    /// 15/10/2 s; the shorter lease and retry keep a failover (lease expiry, plus up to one
    /// retry before the change was seen and one after it expired) well within the 15 s
    /// rkube promises for HA servers.
    pub fn new(namespace: &str, name: &str) -> Self {
        LeaderElectionConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: unique_identity(),
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(8),
            retry_period: Duration::from_secs(1),
        }
    }
}

/// `<hostname>_<random>`, like upstream's `<hostname>_<uuid>`.
pub fn unique_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rkube".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mix = nanos ^ (u128::from(std::process::id()) << 64);
    format!(
        "{host}_{:016x}",
        (mix as u64) ^ ((mix >> 64) as u64).rotate_left(17)
    )
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One campaigner. Remembers the last Lease it saw and when it saw it change.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderElectionConfig,
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    pub fn new(client: Client, cfg: LeaderElectionConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.cfg.identity
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(self.cfg.lease_duration.as_secs() as i32),
            acquire_time: Some(acquire.unwrap_or_else(now)),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// Takes the Lease if it is free or expired, renews it if held: `Ok(true)` when this
    /// process holds it afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        let seen = match &self.observed {
            Some((old, at)) if *old == rv => *at,
            _ => {
                let t = Instant::now();
                self.observed = Some((rv, t));
                t
            }
        };
        let mine = holder == self.cfg.identity;
        if !mine && !holder.is_empty() {
            let duration = spec
                .lease_duration_seconds
                .map_or(self.cfg.lease_duration, |s| {
                    Duration::from_secs(s.max(0) as u64)
                });
            if seen.elapsed() < duration {
                return Ok(false);
            }
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquire = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        lease.spec = Some(self.spec(acquire, transitions));
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(l) => {
                self.observed = l.metadata.resource_version.map(|rv| (rv, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (on shutdown) so another replica need not wait for it to expire.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        if let Err(e) = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            debug!(lease = %self.cfg.name, error = %e, "releasing the lease failed");
        }
    }

    /// Campaigns until `cancel`; each time the Lease is won, runs `work` with a token that
    /// is cancelled when leadership is lost (then campaigns again once `work` returned).
    pub async fn run<F, Fut>(mut self, cancel: CancellationToken, mut work: F)
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        let name = self.cfg.name.clone();
        loop {
            // Campaign.
            loop {
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => warn!(lease = %name, error = %e, "acquiring the lease failed"),
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(self.cfg.retry_period) => {}
                }
            }
            info!(lease = %name, identity = %self.cfg.identity, "became leader");
            let lead = cancel.child_token();
            let fut = work(lead.clone());
            tokio::pin!(fut);
            let mut renewed = Instant::now();
            let mut finished = false;
            loop {
                tokio::select! {
                    _ = &mut fut => { finished = true; break; }
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(self.cfg.retry_period) => {}
                }
                if cancel.is_cancelled() {
                    break;
                }
                match self.try_acquire_or_renew().await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => {
                        warn!(lease = %name, "lease taken by another holder");
                        break;
                    }
                    Err(e) => {
                        warn!(lease = %name, error = %e, "renewing the lease failed");
                        if renewed.elapsed() >= self.cfg.renew_deadline {
                            break;
                        }
                    }
                }
            }
            lead.cancel();
            if !finished {
                fut.await;
            }
            if cancel.is_cancelled() {
                self.release().await;
                return;
            }
            warn!(lease = %name, identity = %self.cfg.identity, "lost leadership");
        }
    }
}
