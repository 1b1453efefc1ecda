//! The scheduling queue, shaped like upstream's: an active heap ordered by priority then
//! creation time, a backoff queue (1 s doubling to 10 s per failed attempt), and a set of
//! unschedulable pods that wait for a cluster change (or 5 minutes) before trying again.
//!
//! Heap entries are invalidated lazily: each pod has a generation, and a popped entry whose
//! generation is stale is skipped.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pod::PodInfo;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `podMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled (or bound).
    InFlight,
}

#[derive(Debug)]
struct Queued {
    pod: Arc<PodInfo>,
    place: Place,
    generation: u64,
    attempts: u32,
    backoff_until: Option<Instant>,
    unschedulable_since: Instant,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveEntry {
    priority: i32,
    created_us: i64,
    seq: u64,
    uid: String,
    generation: u64,
}

impl Ord for ActiveEntry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority
            .cmp(&o.priority)
            .then_with(|| o.created_us.cmp(&self.created_us))
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveEntry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    pods: HashMap<String, Queued>,
    active: BinaryHeap<ActiveEntry>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
}

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s, 8 s, 10 s, ...
pub fn backoff_duration(attempts: u32) -> Duration {
    let shift = attempts.saturating_sub(1).min(16);
    (INITIAL_BACKOFF * (1u32 << shift)).min(MAX_BACKOFF)
}

impl SchedulingQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pods waiting in any sub-queue or in flight.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Uids of every queued pod.
    pub fn uids(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    pub fn active_len(&self) -> usize {
        self.pods
            .values()
            .filter(|q| q.place == Place::Active)
            .count()
    }

    fn push_active(&mut self, uid: &str) {
        let Some(q) = self.pods.get_mut(uid) else {
            return;
        };
        self.seq += 1;
        q.generation += 1;
        q.place = Place::Active;
        self.active.push(ActiveEntry {
            priority: q.pod.priority,
            created_us: q.pod.created_us,
            seq: self.seq,
            uid: uid.to_string(),
            generation: q.generation,
        });
    }

    fn push_backoff(&mut self, uid: &str, now: Instant) {
        let Some(q) = self.pods.get_mut(uid) else {
            return;
        };
        let until = q
            .backoff_until
            .unwrap_or_else(|| now + backoff_duration(q.attempts));
        if until <= now {
            self.push_active(uid);
            return;
        }
        self.seq += 1;
        q.generation += 1;
        q.place = Place::Backoff;
        self.backoff
            .push(Reverse((until, q.generation, uid.to_string())));
    }

    /// A pending pod appeared or changed. An unschedulable pod whose spec or labels changed
    /// gets another try (the change may be what makes it fit); status-only updates (such as
    /// the scheduler's own condition) do not, as upstream's `isPodUpdated`.
    pub fn add_or_update(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let uid = pod.uid.clone();
        match self.pods.get_mut(&uid) {
            None => {
                self.pods.insert(
                    uid.clone(),
                    Queued {
                        pod,
                        place: Place::Active,
                        generation: 0,
                        attempts: 0,
                        backoff_until: None,
                        unschedulable_since: now,
                    },
                );
                self.push_active(&uid);
            }
            Some(q) => {
                let reorder = q.pod.priority != pod.priority;
                let changed = q.pod.generation != pod.generation || q.pod.labels != pod.labels;
                q.pod = pod;
                match q.place {
                    Place::Active if reorder => self.push_active(&uid),
                    Place::Unschedulable if changed => self.push_backoff(&uid, now),
                    _ => {}
                }
            }
        }
    }

    pub fn delete(&mut self, uid: &str) {
        self.pods.remove(uid);
    }

    /// The next pod to schedule, marked in flight, with the scheduling cycle it runs in.
    pub fn pop(&mut self) -> Option<(Arc<PodInfo>, u64)> {
        while let Some(e) = self.active.pop() {
            let Some(q) = self.pods.get_mut(&e.uid) else {
                continue;
            };
            if q.generation != e.generation || q.place != Place::Active {
                continue;
            }
            q.place = Place::InFlight;
            self.scheduling_cycle += 1;
            return Some((q.pod.clone(), self.scheduling_cycle));
        }
        None
    }

    /// The pod is bound (or no longer ours): it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        self.pods.remove(uid);
    }

    /// The pod fit nowhere in `cycle`. If the cluster changed while it was being scheduled
    /// it backs off and retries; otherwise it waits for a change.
    pub fn unschedulable(&mut self, uid: &str, cycle: u64, now: Instant) {
        let moved = self.move_request_cycle >= cycle;
        let Some(q) = self.pods.get_mut(uid) else {
            return;
        };
        q.attempts += 1;
        q.backoff_until = Some(now + backoff_duration(q.attempts));
        q.unschedulable_since = now;
        if moved {
            self.push_backoff(uid, now);
        } else {
            q.generation += 1;
            q.place = Place::Unschedulable;
        }
    }

    /// Scheduling or binding failed for another reason: back off and retry.
    pub fn error(&mut self, uid: &str, now: Instant) {
        let Some(q) = self.pods.get_mut(uid) else {
            return;
        };
        q.attempts += 1;
        q.backoff_until = Some(now + backoff_duration(q.attempts));
        self.push_backoff(uid, now);
    }

    /// A cluster change (node added or updated, pod deleted) may let unschedulable pods fit:
    /// they go to backoff (if still backing off) or active.
    pub fn move_all_unschedulable(&mut self, now: Instant) {
        self.move_request_cycle = self.scheduling_cycle;
        let uids: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, q)| q.place == Place::Unschedulable)
            .map(|(u, _)| u.clone())
            .collect();
        for uid in uids {
            self.push_backoff(&uid, now);
        }
    }

    /// Moves pods whose backoff ended to active, and pods unschedulable for longer than
    /// [`MAX_UNSCHEDULABLE`] back into play.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((until, generation, uid))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            if let Some(q) = self.pods.get_mut(&uid) {
                if q.generation == generation && q.place == Place::Backoff {
                    q.backoff_until = None;
                    self.push_active(&uid);
                }
            }
        }
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, q)| {
                q.place == Place::Unschedulable
                    && now.duration_since(q.unschedulable_since) >= MAX_UNSCHEDULABLE
            })
            .map(|(u, _)| u.clone())
            .collect();
        for uid in stale {
            self.push_backoff(&uid, now);
        }
    }

    /// When the earliest backoff ends (to sleep until then).
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((t, _, _))| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, priority: i32, created: i64) -> Arc<PodInfo> {
        Arc::new(PodInfo {
            uid: uid.into(),
            priority,
            created_us: created,
            ..Default::default()
        })
    }

    fn order(q: &mut SchedulingQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop().map(|(p, _)| p.uid.clone())).collect()
    }

    #[test]
    fn priority_then_age() {
        let now = Instant::now();
        let mut q = SchedulingQueue::new();
        q.add_or_update(pod("old-low", 0, 1), now);
        q.add_or_update(pod("new-high", 10, 5), now);
        q.add_or_update(pod("new-low", 0, 3), now);
        q.add_or_update(pod("old-high", 10, 2), now);
        assert_eq!(
            order(&mut q),
            vec!["old-high", "new-high", "old-low", "new-low"]
        );
    }

    #[test]
    fn unschedulable_waits_for_a_change_then_backs_off() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0, 1), t0);
        let (_, cycle) = q.pop().unwrap_or_else(|| panic!("a pod"));
        q.unschedulable("a", cycle, t0);
        q.flush(t0 + Duration::from_secs(30));
        assert!(q.pop().is_none(), "waits for a cluster change");
        q.move_all_unschedulable(t0 + Duration::from_millis(500));
        q.flush(t0 + Duration::from_millis(600));
        assert!(q.pop().is_none(), "still backing off (1 s)");
        assert!(q.next_backoff().is_some());
        q.flush(t0 + Duration::from_secs(1));
        assert_eq!(q.pop().map(|(p, _)| p.uid.clone()).as_deref(), Some("a"));
    }

    #[test]
    fn a_change_during_the_cycle_is_not_lost() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0, 1), t0);
        let (_, cycle) = q.pop().unwrap_or_else(|| panic!("a pod"));
        q.move_all_unschedulable(t0);
        q.unschedulable("a", cycle, t0);
        q.flush(t0 + Duration::from_secs(1));
        assert!(q.pop().is_some(), "moved to backoff, not parked");
    }

    #[test]
    fn parked_pods_come_back_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0, 1), t0);
        let (_, cycle) = q.pop().unwrap_or_else(|| panic!("a pod"));
        q.unschedulable("a", cycle, t0);
        q.flush(t0 + MAX_UNSCHEDULABLE);
        assert!(q.pop().is_some());
    }

    #[test]
    fn backoff_grows_to_ten_seconds() {
        assert_eq!(backoff_duration(1), Duration::from_secs(1));
        assert_eq!(backoff_duration(2), Duration::from_secs(2));
        assert_eq!(backoff_duration(4), Duration::from_secs(8));
        assert_eq!(backoff_duration(5), Duration::from_secs(10));
        assert_eq!(backoff_duration(50), Duration::from_secs(10));
    }

    #[test]
    fn only_spec_or_label_changes_retry_an_unschedulable_pod() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0, 1), t0);
        let (_, cycle) = q.pop().unwrap_or_else(|| panic!("a pod"));
        q.unschedulable("a", cycle, t0);
        let status_only = Arc::new(PodInfo {
            resource_version: "2".into(),
            ..(*pod("a", 0, 1)).clone()
        });
        q.add_or_update(status_only, t0);
        q.flush(t0 + Duration::from_secs(20));
        assert!(q.pop().is_none(), "a status update is no reason to retry");
        let spec_change = Arc::new(PodInfo {
            generation: 2,
            ..(*pod("a", 0, 1)).clone()
        });
        q.add_or_update(spec_change, t0 + Duration::from_secs(20));
        q.flush(t0 + Duration::from_secs(21));
        assert!(q.pop().is_some());
    }

    #[test]
    fn deleted_pods_are_skipped() {
        let now = Instant::now();
        let mut q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0, 1), now);
        q.add_or_update(pod("b", 0, 2), now);
        q.delete("a");
        assert_eq!(order(&mut q), vec!["b"]);
    }
}
