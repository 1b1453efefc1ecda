//! Node health as upstream's `tryUpdateNodeHealth` judges it: the controller remembers, on
//! its own clock, when it last saw a node prove it is alive (a new Ready heartbeat or a
//! renewed Lease), and once that is older than the grace period it sets Ready and the
//! pressure conditions to Unknown. Measuring on our clock (not the kubelet's timestamps)
//! keeps clock skew between machines harmless.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Conditions the controller takes over when the kubelet goes silent.
const WATCHED: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller remembers about a node between passes (upstream's `nodeHealthData`).
#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    /// When the node last proved it is alive (our clock).
    pub probe: Timestamp,
    /// The Ready condition's lastHeartbeatTime when last seen.
    heartbeat: Option<Timestamp>,
    /// The Lease's renewTime when last seen.
    lease_renew: Option<Timestamp>,
}

/// The outcome of one look at a node.
#[derive(Debug, PartialEq)]
pub struct Assessment {
    /// Ready's status before this pass ("Unknown" for a node that never posted one).
    pub observed_ready: String,
    /// The conditions to write when the controller changes Ready; `None` leaves the node.
    pub update: Option<Vec<NodeCondition>>,
}

pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Ready's status, if the node has the condition.
pub fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|c| c.status.as_str())
}

fn lease_renewal(lease: Option<&Lease>) -> Option<Timestamp> {
    lease?.spec.as_ref()?.renew_time.as_ref().map(|t| t.0)
}

/// Updates `health` from what the node and its Lease show now and decides whether the
/// controller must mark the node Unknown. `grace` applies to nodes that have posted a Ready
/// condition, `startup_grace` (counted from creation) to nodes that never did.
pub fn assess(
    node: &Node,
    lease: Option<&Lease>,
    health: &mut Option<Health>,
    grace: Duration,
    startup_grace: Duration,
    now: Timestamp,
) -> Assessment {
    let ready = condition(node, "Ready");
    let heartbeat = ready.and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
    let created = node
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    let (observed_ready, grace) = match ready {
        Some(c) => (c.status.clone(), grace),
        None => ("Unknown".to_string(), startup_grace),
    };
    let h = health.get_or_insert_with(|| Health {
        // A node that never posted status is judged from its creation, as upstream does.
        probe: if ready.is_some() { now } else { created },
        heartbeat,
        lease_renew: None,
    });
    if ready.is_some() && h.heartbeat != heartbeat {
        h.heartbeat = heartbeat;
        h.probe = now;
    }
    let renewed = lease_renewal(lease);
    if renewed.is_some() && (h.lease_renew.is_none() || h.lease_renew < renewed) {
        h.lease_renew = renewed;
        h.probe = now;
    }
    let silent = h
        .probe
        .checked_add(SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX))
        .is_ok_and(|deadline| now > deadline);
    if !silent || ready.is_some_and(|c| c.status == "Unknown") {
        return Assessment {
            observed_ready,
            update: None,
        };
    }
    let mut conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for type_ in WATCHED {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => conditions.push(NodeCondition {
                type_: type_.to_string(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_heartbeat_time: Some(Time(created)),
                last_transition_time: Some(Time(now)),
            }),
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
            }
            Some(_) => {}
        }
    }
    Assessment {
        observed_ready,
        update: Some(conditions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::NodeStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    const GRACE: Duration = Duration::from_secs(40);
    const STARTUP: Duration = Duration::from_secs(60);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn node(ready: Option<(&str, i64)>) -> Node {
        let mut n = Node::default();
        n.metadata.creation_timestamp = Some(Time(at(0)));
        n.status = Some(NodeStatus {
            conditions: ready.map(|(s, hb)| {
                vec![
                    NodeCondition {
                        type_: "Ready".into(),
                        status: s.into(),
                        reason: Some("KubeletReady".into()),
                        last_heartbeat_time: Some(Time(at(hb))),
                        last_transition_time: Some(Time(at(0))),
                        ..Default::default()
                    },
                    NodeCondition {
                        type_: "MemoryPressure".into(),
                        status: "False".into(),
                        ..Default::default()
                    },
                ]
            }),
            ..Default::default()
        });
        n
    }

    fn lease(renew: i64) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(at(renew))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn silent_node_becomes_unknown_after_grace() {
        let n = node(Some(("True", 0)));
        let mut h = None;
        assert_eq!(assess(&n, None, &mut h, GRACE, STARTUP, at(1)).update, None);
        // 40 s after the first sighting: not yet (strictly after the grace period).
        assert_eq!(
            assess(&n, None, &mut h, GRACE, STARTUP, at(41)).update,
            None
        );
        let a = assess(&n, None, &mut h, GRACE, STARTUP, at(42));
        assert_eq!(a.observed_ready, "True");
        let conds = a.update.expect("marked unknown");
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(ready.last_transition_time, Some(Time(at(42))));
        // The heartbeat is the kubelet's: left alone.
        assert_eq!(ready.last_heartbeat_time, Some(Time(at(0))));
        for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            let c = conds.iter().find(|c| c.type_ == t).unwrap();
            assert_eq!(c.status, "Unknown", "{t}");
        }
        // The missing ones are added as never updated.
        let disk = conds.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!(disk.reason.as_deref(), Some("NodeStatusNeverUpdated"));
    }

    #[test]
    fn heartbeat_or_lease_renewal_keeps_node_alive() {
        let mut h = None;
        assess(
            &node(Some(("True", 0))),
            None,
            &mut h,
            GRACE,
            STARTUP,
            at(0),
        );
        // A new heartbeat at 30 s restarts the clock.
        let n = node(Some(("True", 30)));
        assert_eq!(
            assess(&n, None, &mut h, GRACE, STARTUP, at(30)).update,
            None
        );
        assert_eq!(
            assess(&n, None, &mut h, GRACE, STARTUP, at(65)).update,
            None
        );
        // So does a renewed Lease, even while the status heartbeat stands still.
        assert_eq!(
            assess(&n, Some(&lease(60)), &mut h, GRACE, STARTUP, at(66)).update,
            None
        );
        assert_eq!(
            assess(&n, Some(&lease(60)), &mut h, GRACE, STARTUP, at(100)).update,
            None
        );
        assert!(
            assess(&n, Some(&lease(60)), &mut h, GRACE, STARTUP, at(107))
                .update
                .is_some()
        );
    }

    #[test]
    fn never_posted_node_gets_startup_grace_from_creation() {
        let n = node(None);
        let mut h = None;
        assert_eq!(
            assess(&n, None, &mut h, GRACE, STARTUP, at(59)).update,
            None
        );
        let a = assess(&n, None, &mut h, GRACE, STARTUP, at(61));
        assert_eq!(a.observed_ready, "Unknown");
        let conds = a.update.unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet never posted node status.")
        );
    }

    #[test]
    fn already_unknown_is_not_rewritten() {
        let n = node(Some(("Unknown", 0)));
        let mut h = None;
        assert_eq!(assess(&n, None, &mut h, GRACE, STARTUP, at(0)).update, None);
        assert_eq!(
            assess(&n, None, &mut h, GRACE, STARTUP, at(100)).update,
            None
        );
    }
}
