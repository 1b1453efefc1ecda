//! Per-client-IP limits scoped to one Ingress: request rate (token bucket, like nginx
//! `limit_req ... burst=rate*multiplier nodelay`) and concurrent requests (`limit_conn`).
//! State outlives table swaps, so editing an Ingress does not reset its clients' budgets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Entries beyond this trigger a sweep of idle ones, bounding memory under address churn.
const SWEEP_AT: usize = 10_000;
/// Longest refill: a per-minute bucket with the default multiplier 5 refills in 300 s.
const IDLE_SECS: u64 = 900;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PerSecond,
    PerMinute,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    capacity: f64,
}

type Key = (Arc<str>, IpAddr, Kind);
/// In-flight requests per (Ingress, client IP).
type ConnCounts = HashMap<(Arc<str>, IpAddr), u32>;

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<Key, Bucket>>,
    conns: Arc<Mutex<ConnCounts>>,
}

/// Held while a request is in flight; releases its connection slot when dropped.
pub struct ConnGuard {
    conns: Arc<Mutex<ConnCounts>>,
    key: (Arc<str>, IpAddr),
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Ok(mut m) = self.conns.lock() {
            if let Some(n) = m.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.key);
                }
            }
        }
    }
}

impl Limiter {
    /// Takes one request from the per-second and per-minute budgets; false = over limit.
    pub fn allow(
        &self,
        scope: &Arc<str>,
        ip: IpAddr,
        rps: Option<u32>,
        rpm: Option<u32>,
        burst_multiplier: u32,
    ) -> bool {
        if rps.is_none() && rpm.is_none() {
            return true;
        }
        let now = Instant::now();
        let Ok(mut m) = self.buckets.lock() else {
            return true;
        };
        if m.len() > SWEEP_AT {
            // Idle this long, any bucket has refilled: dropping it changes nothing.
            m.retain(|_, b| now.duration_since(b.last).as_secs() < IDLE_SECS);
        }
        let mut ok = true;
        // Check both before taking, so a request refused by one does not consume the other.
        let mut take = Vec::with_capacity(2);
        for (kind, limit) in [(Kind::PerSecond, rps), (Kind::PerMinute, rpm)] {
            let Some(limit) = limit else { continue };
            let per_sec = match kind {
                Kind::PerSecond => f64::from(limit),
                Kind::PerMinute => f64::from(limit) / 60.0,
            };
            let capacity = f64::from(limit.saturating_mul(burst_multiplier.max(1)));
            let b = m
                .entry((scope.clone(), ip, kind))
                .or_insert_with(|| Bucket {
                    tokens: capacity,
                    last: now,
                    capacity,
                });
            b.capacity = capacity;
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * per_sec).min(capacity);
            b.last = now;
            if b.tokens < 1.0 {
                ok = false;
            }
            take.push((scope.clone(), ip, kind));
        }
        if ok {
            for k in take {
                if let Some(b) = m.get_mut(&k) {
                    b.tokens -= 1.0;
                }
            }
        }
        ok
    }

    /// Reserves a concurrent-request slot; `None` = limit reached.
    pub fn connection(&self, scope: &Arc<str>, ip: IpAddr, limit: u32) -> Option<ConnGuard> {
        let key = (scope.clone(), ip);
        let mut m = self.conns.lock().ok()?;
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(ConnGuard {
            conns: self.conns.clone(),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_ip_and_scope() {
        let l = Limiter::default();
        let s: Arc<str> = "ns/a".into();
        let other: Arc<str> = "ns/b".into();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let ip2: IpAddr = "10.0.0.2".parse().unwrap();
        // rps 2 × multiplier 5 = burst of 10.
        let allowed = (0..20)
            .filter(|_| l.allow(&s, ip, Some(2), None, 5))
            .count();
        assert_eq!(allowed, 10);
        assert!(l.allow(&s, ip2, Some(2), None, 5));
        assert!(l.allow(&other, ip, Some(2), None, 5));
        assert!(l.allow(&s, ip, None, None, 5));
    }

    #[test]
    fn per_minute() {
        let l = Limiter::default();
        let s: Arc<str> = "x".into();
        let ip: IpAddr = "::1".parse().unwrap();
        let allowed = (0..10)
            .filter(|_| l.allow(&s, ip, None, Some(3), 1))
            .count();
        assert_eq!(allowed, 3);
    }

    #[test]
    fn connections_released_on_drop() {
        let l = Limiter::default();
        let s: Arc<str> = "x".into();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = l.connection(&s, ip, 2).unwrap();
        let _b = l.connection(&s, ip, 2).unwrap();
        assert!(l.connection(&s, ip, 2).is_none());
        drop(a);
        assert!(l.connection(&s, ip, 2).is_some());
    }
}
