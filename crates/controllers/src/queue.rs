//! A work queue of object keys, shaped like client-go's rate-limited queue: a key waiting in
//! the queue is held once however often it is added (events coalesce), a key being processed
//! is never handed to a second worker at the same time (added again, it is processed once
//! more afterwards), and failures are retried with per-key exponential backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// First retry delay of a failing key (client-go's default item backoff).
const BASE_DELAY: Duration = Duration::from_millis(5);
/// Longest retry delay (client-go caps at 1000 s; a shorter cap keeps a cluster that recovers
/// from an outage converging within a minute).
const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    /// Keys that need processing: queued, or added again while being processed.
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
}

/// The queue; clone the `Arc` to share it between event handlers and workers.
pub struct WorkQueue {
    state: Mutex<State>,
    ready: Notify,
    cancel: CancellationToken,
}

impl WorkQueue {
    /// Runs `workers` tasks that take keys and call `sync` until the queue is cancelled: a
    /// key that syncs is forgotten (its back-off reset), one that fails is requeued with
    /// back-off. Every controller's worker loop.
    pub async fn run_workers<F, Fut, E>(
        self: &Arc<Self>,
        workers: usize,
        controller: &'static str,
        sync: F,
    ) where
        F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), E>> + Send,
        E: std::fmt::Debug,
    {
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let queue = self.clone();
                let sync = sync.clone();
                tokio::spawn(async move {
                    while let Some(key) = queue.get().await {
                        match sync(key.clone()).await {
                            Ok(()) => queue.forget(&key),
                            Err(e) => {
                                tracing::debug!(controller, %key, error = ?e, "sync failed; requeueing");
                                queue.add_rate_limited(key.clone());
                            }
                        }
                        queue.done(&key);
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
    }

    pub fn new(cancel: CancellationToken) -> Arc<Self> {
        Arc::new(WorkQueue {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            cancel,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop the controller: the state stays consistent
        // between statements, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` unless it already waits.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut s = self.lock();
        if !s.dirty.insert(key.clone()) {
            return;
        }
        if !s.processing.contains(&key) {
            s.queue.push_back(key);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Queues `key` after `delay` (used to look again when minReadySeconds or a progress
    /// deadline will have passed).
    pub fn add_after(self: &Arc<Self>, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => q.add(key),
                _ = q.cancel.cancelled() => {}
            }
        });
    }

    /// Queues `key` again after its backoff, which doubles with every failure until
    /// [`WorkQueue::forget`].
    pub fn add_rate_limited(self: &Arc<Self>, key: impl Into<String>) {
        let key = key.into();
        let n = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(n));
    }

    /// Clears `key`'s failure count after a successful reconcile.
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// Waits for the next key; `None` once the queue is cancelled. The caller must call
    /// [`WorkQueue::done`] when finished with it.
    pub async fn get(&self) -> Option<String> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    // More work may be waiting: let another worker look.
                    if !s.queue.is_empty() {
                        self.ready.notify_one();
                    }
                    return Some(key);
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = self.cancel.cancelled() => return None,
            }
        }
    }

    /// Marks `key` processed; if it was added meanwhile it is queued again.
    pub fn done(&self, key: &str) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.ready.notify_one();
        }
    }

    /// How many keys wait.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

/// The delay before the `n`th retry (n ≥ 1).
fn backoff(n: u32) -> Duration {
    let factor = 2u32.saturating_pow(n.saturating_sub(1).min(31));
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn coalesces_and_never_hands_out_a_key_twice() {
        let q = WorkQueue::new(CancellationToken::new());
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.get().await;
        assert_eq!(k.as_deref(), Some("a"));
        // Added while processing: not queued until done.
        q.add("a");
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.as_deref(), Some("b"));
        q.done("a");
        assert_eq!(q.get().await.as_deref(), Some("a"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(2), Duration::from_millis(10));
        assert_eq!(backoff(5), Duration::from_millis(80));
        assert_eq!(backoff(40), MAX_DELAY);
    }

    #[tokio::test]
    async fn cancelled_queue_returns_none() {
        let cancel = CancellationToken::new();
        let q = WorkQueue::new(cancel.clone());
        cancel.cancel();
        assert_eq!(q.get().await, None);
    }
}
