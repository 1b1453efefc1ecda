//! Controller expectations (client-go's `UIDTrackingControllerExpectations`): after a
//! controller creates or deletes pods it records how many adds and which deletions it
//! expects to see through its informer, and does not act on that owner again until the
//! cache has caught up. Without this, a sync that runs before the watch delivers the new
//! pods would count too few and create them a second time.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long, unmet expectations are assumed lost (a missed watch event must not
/// stall an owner forever). Upstream uses 5 minutes.
const TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Expectation {
    adds: i64,
    /// Keys ("ns/name") of pods whose deletion has not been observed yet.
    deletes: HashSet<String>,
    since: Instant,
}

#[derive(Default)]
pub struct Expectations {
    by_owner: Mutex<HashMap<String, Expectation>>,
}

impl Expectations {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Expectation>) -> R) -> R {
        let mut g = self.by_owner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Whether the owner may be synced: nothing pending, or the record expired.
    pub fn satisfied(&self, owner: &str) -> bool {
        self.with(|m| match m.get(owner) {
            None => true,
            Some(e) => (e.adds <= 0 && e.deletes.is_empty()) || e.since.elapsed() > TTL,
        })
    }

    /// Records that `adds` creations are about to be issued (replaces any old record, as
    /// upstream's `ExpectCreations`, which is only called once the old one is satisfied).
    pub fn expect_creations(&self, owner: &str, adds: usize) {
        self.with(|m| {
            m.insert(
                owner.to_string(),
                Expectation {
                    adds: adds as i64,
                    deletes: HashSet::new(),
                    since: Instant::now(),
                },
            );
        });
    }

    /// Records deletions about to be issued for the given pod keys.
    pub fn expect_deletions(&self, owner: &str, keys: impl IntoIterator<Item = String>) {
        self.with(|m| {
            m.insert(
                owner.to_string(),
                Expectation {
                    adds: 0,
                    deletes: keys.into_iter().collect(),
                    since: Instant::now(),
                },
            );
        });
    }

    /// A creation was seen in the cache, or will never be (the create failed).
    pub fn creation_observed(&self, owner: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(owner) {
                e.adds -= 1;
            }
        });
    }

    /// The deletion of `pod_key` was seen, or will never be (the delete failed).
    pub fn deletion_observed(&self, owner: &str, pod_key: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(owner) {
                e.deletes.remove(pod_key);
            }
        });
    }

    /// Forgets the owner (it was deleted).
    pub fn delete(&self, owner: &str) {
        self.with(|m| {
            m.remove(owner);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_and_deletions_must_be_observed() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));

        e.expect_deletions("ns/rs", ["ns/a".to_string(), "ns/b".to_string()]);
        e.deletion_observed("ns/rs", "ns/a");
        // An unrelated pod's deletion does not count.
        e.deletion_observed("ns/rs", "ns/zzz");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "ns/b");
        assert!(e.satisfied("ns/rs"));
    }
}
