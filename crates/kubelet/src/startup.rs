//! When a pod's first start went through its steps: pickup by the worker, sandbox ready,
//! containers started, and the first status saying Running. Logged once per pod as a
//! `pod startup` line, which the pod start-up benchmark reads to split the agent's share.

use std::time::{Duration, Instant, SystemTime};

#[derive(Default)]
pub struct Startup {
    pickup: Option<(SystemTime, Instant)>,
    sandbox: Option<Duration>,
    containers: Option<Duration>,
    logged: bool,
}

impl Startup {
    /// The worker's first sync of the pod.
    pub fn picked_up(&mut self) {
        if self.pickup.is_none() {
            self.pickup = Some((SystemTime::now(), Instant::now()));
        }
    }

    pub fn sandbox_ready(&mut self) {
        if let Some((_, t0)) = self.pickup {
            self.sandbox.get_or_insert(t0.elapsed());
        }
    }

    pub fn containers_started(&mut self) {
        if let Some((_, t0)) = self.pickup {
            self.containers.get_or_insert(t0.elapsed());
        }
    }

    /// Logs the line the first time the reported phase is Running.
    pub fn log_once_running(&mut self, pod: &str, running: bool) {
        let (false, true, Some((wall, t0))) = (self.logged, running, self.pickup) else {
            return;
        };
        self.logged = true;
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(-1.0);
        let pickup_unix_us = wall
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        tracing::info!(
            pod,
            pickup_unix_us,
            sandbox_ms = ms(self.sandbox),
            containers_ms = ms(self.containers),
            running_reported_ms = ms(Some(t0.elapsed())),
            "pod startup"
        );
    }
}
