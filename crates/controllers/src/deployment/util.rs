//! Deployment arithmetic and bookkeeping, as upstream's `deployment/util`: the
//! pod-template hash, maxSurge/maxUnavailable resolution, revision and replica annotations,
//! and the orderings and sums over ReplicaSets the rollout steps use.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";
/// Longest revision-history annotation (upstream's controller default).
pub const MAX_REV_HISTORY_CHARS: usize = 2000;

/// Deployment annotations never copied to its ReplicaSets.
const SKIPPED_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

pub type Rs = Arc<ReplicaSet>;

// ---- the pod-template hash -------------------------------------------------------------

/// The `pod-template-hash` of a template: FNV-1a (32 bit) over a canonical encoding of the
/// template (object keys sorted, so equal templates hash equally whatever their field order),
/// then the collision count as four little-endian bytes, the decimal digits of the sum mapped
/// onto upstream's safe alphabet (`rand.SafeEncodeString`): no vowels, no look-alikes.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut h = Fnv32a::new();
    let value = serde_json::to_value(template).unwrap_or(Value::Null);
    write_canonical(&value, &mut h);
    if let Some(c) = collision_count {
        h.write(&(c as u32).to_le_bytes());
    }
    safe_encode(&h.0.to_string())
}

struct Fnv32a(u32);

impl Fnv32a {
    fn new() -> Self {
        Fnv32a(0x811c_9dc5)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

fn write_canonical(v: &Value, h: &mut Fnv32a) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            h.write(b"{");
            for k in keys {
                h.write(serde_json::to_string(k).unwrap_or_default().as_bytes());
                h.write(b":");
                write_canonical(&m[k], h);
                h.write(b",");
            }
            h.write(b"}");
        }
        Value::Array(a) => {
            h.write(b"[");
            for x in a {
                write_canonical(x, h);
                h.write(b",");
            }
            h.write(b"]");
        }
        other => h.write(other.to_string().as_bytes()),
    }
}

fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

/// Whether two templates are equal apart from the `pod-template-hash` label (how a
/// Deployment recognises the ReplicaSet made from its current template). Empty and missing
/// collections compare equal, as upstream's semantic equality.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let norm = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.remove(HASH_LABEL);
        }
        let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
        prune_empty(&mut v);
        v
    };
    norm(a) == norm(b)
}

fn prune_empty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                prune_empty(x);
            }
            m.retain(|k, x| match x {
                Value::Null => false,
                Value::Array(a) => !a.is_empty(),
                // Empty maps (labels, annotations, nodeSelector) equal missing ones; empty
                // structs like `emptyDir: {}` carry meaning and stay.
                Value::Object(o) => {
                    !(o.is_empty()
                        && matches!(k.as_str(), "labels" | "annotations" | "nodeSelector"))
                }
                _ => true,
            });
        }
        Value::Array(a) => a.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

// ---- maxSurge / maxUnavailable ---------------------------------------------------------

/// Resolves an int or a percentage of `total`, percentages rounded up or down.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let Some(p) = s.strip_suffix('%') else {
                return Err(format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"));
            };
            let p: i64 = p
                .parse()
                .map_err(|_| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let x = p * i64::from(total);
            let r = if round_up {
                (x + 99).div_euclid(100)
            } else {
                x.div_euclid(100)
            };
            Ok(r as i32)
        }
    }
}

/// (maxSurge, maxUnavailable) for `desired` replicas. Surge rounds up, unavailability
/// down; if both come to zero, one pod may be unavailable so that the rollout can proceed.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let pct = IntOrString::String("25%".into());
    let surge = ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&pct);
    let unavailable = ru.and_then(|r| r.max_unavailable.as_ref()).unwrap_or(&pct);
    // Validation rejects malformed values; treat them as 0 like upstream's ignored error.
    resolve_fenceposts(Some(surge), Some(unavailable), replicas(d)).unwrap_or((0, 1))
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

// ---- ReplicaSet sums and orders --------------------------------------------------------

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Sum of spec.replicas.
pub fn replica_count(rss: &[Rs]) -> i32 {
    rss.iter().map(|r| rs_replicas(r)).sum()
}

/// Sum of status.replicas.
pub fn actual_replica_count(rss: &[Rs]) -> i32 {
    rss.iter().map(|r| rs_status_replicas(r)).sum()
}

pub fn ready_replica_count(rss: &[Rs]) -> i32 {
    rss.iter().map(|r| rs_ready(r)).sum()
}

pub fn available_replica_count(rss: &[Rs]) -> i32 {
    rss.iter().map(|r| rs_available(r)).sum()
}

pub fn active(rss: &[Rs]) -> Vec<Rs> {
    rss.iter().filter(|r| rs_replicas(r) > 0).cloned().collect()
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn max_revision(rss: &[Rs]) -> i64 {
    rss.iter().map(|r| revision(r)).max().unwrap_or(0)
}

pub fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn created(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first; equal times by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Larger first; equal sizes newer first (where to add replicas).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Larger first; equal sizes older first (where to remove replicas).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Lowest revision first; equal revisions by creation.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// The ReplicaSet made from the Deployment's current template (the oldest such, if several).
pub fn find_new(d: &Deployment, rss: &[Rs]) -> Option<Rs> {
    let template = d.spec.as_ref().map(|s| &s.template)?;
    let mut sorted = rss.to_vec();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted.into_iter().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// Every ReplicaSet but the new one.
pub fn find_old(rss: &[Rs], new: Option<&Rs>) -> Vec<Rs> {
    let new_uid = new.and_then(|n| n.metadata.uid.clone());
    rss.iter()
        .filter(|r| new_uid.is_none() || r.metadata.uid != new_uid)
        .cloned()
        .collect()
}

// ---- annotations -----------------------------------------------------------------------

/// Sets desired-replicas and max-replicas; true if anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if a.get(k) != Some(&v) {
            a.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Copies the Deployment's annotations (but the controller's own and kubectl's
/// last-applied) onto the ReplicaSet — how `kubernetes.io/change-cause` reaches
/// `rollout history`. True if anything changed.
fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if SKIPPED_ANNOTATIONS.contains(&k.as_str()) || a.get(k) == Some(v) {
            continue;
        }
        a.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Brings the new ReplicaSet's annotations up to date: the Deployment's annotations, the
/// revision `new_revision` (the old revision joins revision-history, trimmed to
/// [`MAX_REV_HISTORY_CHARS`]), and for a ReplicaSet being created the replica annotations.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old = a.get(REVISION).cloned().unwrap_or_default();
    let old_n: i64 = if old.is_empty() {
        0
    } else {
        match old.parse() {
            Ok(n) => n,
            Err(_) => return false,
        }
    };
    if old_n < new_revision {
        a.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if !old.is_empty() {
            let history = a.get(REVISION_HISTORY).cloned().unwrap_or_default();
            let mut list: Vec<String> = history
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let len = |l: &[String]| l.iter().map(String::len).sum::<usize>() + l.len();
            while !list.is_empty() && len(&list) + old.len() > MAX_REV_HISTORY_CHARS {
                list.remove(0);
            }
            list.push(old);
            a.insert(REVISION_HISTORY.to_string(), list.join(","));
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn hash_is_stable_and_distinguishes_templates() {
        let h = compute_hash(&template("nginx:1.25"), None);
        // A fixed value: the label must not change across releases or restarts.
        assert_eq!(h, "76f8d88bf7");
        assert_eq!(compute_hash(&template("nginx:1.25"), None), h);
        assert_ne!(compute_hash(&template("nginx:1.26"), None), h);
        assert_ne!(compute_hash(&template("nginx:1.25"), Some(1)), h);
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        // Field order in the source does not matter.
        let a: PodTemplateSpec = serde_json::from_str(
            r#"{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#,
        ).unwrap_or_default();
        let b: PodTemplateSpec = serde_json::from_str(
            r#"{"spec":{"containers":[{"image":"i","name":"c"}]},"metadata":{"labels":{"b":"2","a":"1"}}}"#,
        ).unwrap_or_default();
        assert_eq!(compute_hash(&a, None), compute_hash(&b, None));
    }

    #[test]
    fn equal_ignoring_the_hash_label() {
        let mut a = template("x");
        let b = template("x");
        if let Some(l) = a.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.insert(HASH_LABEL.into(), "abc".into());
        }
        assert!(equal_ignore_hash(&a, &b));
        assert!(!equal_ignore_hash(&template("y"), &b));
        let mut c = template("x");
        if let Some(s) = c.spec.as_mut() {
            s.volumes = Some(vec![]);
        }
        assert!(equal_ignore_hash(&c, &b));
    }

    #[test]
    fn surge_rounds_up_unavailable_rounds_down() {
        let p = |s: &str| IntOrString::String(s.into());
        assert_eq!(
            resolve_fenceposts(Some(&p("25%")), Some(&p("25%")), 10),
            Ok((3, 2))
        );
        assert_eq!(
            resolve_fenceposts(Some(&p("25%")), Some(&p("25%")), 1),
            Ok((1, 0))
        );
        assert_eq!(
            resolve_fenceposts(Some(&p("10%")), Some(&p("10%")), 3),
            Ok((1, 0))
        );
        // Both zero: one may be unavailable.
        assert_eq!(
            resolve_fenceposts(Some(&p("0%")), Some(&p("10%")), 3),
            Ok((0, 1))
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(0)), 5),
            Ok((2, 0))
        );
        assert_eq!(scaled_value(&p("50%"), 5, true), Ok(3));
        assert_eq!(scaled_value(&p("50%"), 5, false), Ok(2));
        assert!(scaled_value(&p("5"), 5, false).is_err());
    }

    #[test]
    fn revision_history_records_old_revisions() {
        let d = Deployment::default();
        let mut rs = ReplicaSet::default();
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false));
        assert_eq!(annotation(&rs, REVISION), Some("1"));
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert!(set_new_rs_annotations(&d, &mut rs, 5, true));
        assert_eq!(annotation(&rs, REVISION), Some("5"));
        assert_eq!(annotation(&rs, REVISION_HISTORY), Some("1,3"));
        // Never lowered.
        assert!(!set_new_rs_annotations(&d, &mut rs, 4, true));
        assert_eq!(annotation(&rs, REVISION), Some("5"));
    }
}
