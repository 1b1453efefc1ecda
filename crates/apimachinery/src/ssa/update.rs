//! Ownership tracking for ordinary writes (create, update, non-apply patches), the cap
//! on update managers, and the store's no-op timestamp rule.

use crate::ssa::apply::ApplyOptions;
use crate::ssa::engine::Engine;
use crate::ssa::error::ApplyError;
use crate::ssa::managed::{normalize_time, Managed, ManagerId, VersionedSet};
use crate::ssa::object::{
    get_str, root_type, set_managed_fields, strip_meta, without_managed_fields, zero_object,
};
use crate::ssa::schema::Schema;
use crate::ssa::typed::Typed;
use serde_json::Value;
use std::collections::BTreeMap;

/// Upstream's limit on the number of `Update` entries kept per object; older ones are
/// merged into `ancient-changes` buckets.
pub const MAX_UPDATE_MANAGERS: usize = 10;

const ANCIENT_CHANGES: &str = "ancient-changes";

fn is_reset(list: &Value) -> bool {
    match list {
        Value::Array(a) if a.is_empty() => true,
        Value::Array(a) if a.len() == 1 => match &a[0] {
            Value::Object(m) => m.values().all(|v| match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                _ => false,
            }),
            _ => false,
        },
        _ => false,
    }
}

/// Upstream's `decodeLiveOrNew`: managedFields sent with the request win (so clients
/// can edit or reset them), unless it is a subresource write or they are absent or
/// unreadable, in which case the live object's are used.
fn decode_live_or_new(live: Option<&Value>, new: &Value, subresource: bool) -> Managed {
    let live_mf = live
        .and_then(|l| l.get("metadata"))
        .and_then(|m| m.get("managedFields"));
    let decode_live = || {
        live_mf
            .map(|v| Managed::decode(v).unwrap_or_default())
            .unwrap_or_default()
    };
    if subresource {
        return decode_live();
    }
    let new_mf = new.get("metadata").and_then(|m| m.get("managedFields"));
    if let Some(mf) = new_mf {
        if is_reset(mf) {
            return Managed::default();
        }
        if let Ok(m) = Managed::decode(mf) {
            if !m.fields.is_empty() {
                return m;
            }
        }
    }
    decode_live()
}

/// Merges the oldest update entries into per-version `ancient-changes` buckets so that
/// at most [`MAX_UPDATE_MANAGERS`] updaters remain.
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<ManagerId> = managed
        .fields
        .iter()
        .filter(|(_, vs)| !vs.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let secs = |m: &Managed, id: &ManagerId| {
        m.times
            .get(id)
            .and_then(|t| crate::ssa::managed::parse_rfc3339(t))
            .unwrap_or(0)
    };
    updaters.sort_by(|a, b| {
        secs(managed, a)
            .cmp(&secs(managed, b))
            .then_with(|| a.identifier().cmp(&b.identifier()))
    });
    let mut first_per_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(vs) = managed.fields.get(&id).cloned() else {
            continue;
        };
        let time = managed.times.get(&id).cloned();
        let bucket = ManagerId::update(ANCIENT_CHANGES, &vs.api_version, "");
        match first_per_version.get(&vs.api_version) {
            Some(first) => {
                if !managed.fields.contains_key(&bucket) {
                    if let Some(s) = managed.fields.remove(first) {
                        managed.fields.insert(bucket.clone(), s);
                    }
                }
                let merged = managed
                    .fields
                    .get(&bucket)
                    .map(|b| vs.set.union(&b.set))
                    .unwrap_or_else(|| vs.set.clone());
                managed.fields.insert(
                    bucket.clone(),
                    VersionedSet {
                        set: merged,
                        api_version: vs.api_version.clone(),
                        applied: vs.applied,
                    },
                );
                managed.fields.remove(&id);
                length -= 1;
                match time {
                    Some(t) => managed.times.insert(bucket, t),
                    None => managed.times.remove(&bucket),
                };
            }
            None => {
                first_per_version.insert(vs.api_version.clone(), id.clone());
            }
        }
    }
}

/// The update chain below "skip non-applied": records `manager`'s changes from `live`
/// to `new` in `managed`.
pub(crate) fn update_managed(
    engine: &Engine<'_>,
    live: &Value,
    new: &Value,
    managed: &mut Managed,
    manager: &str,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    let id = ManagerId::update(manager, &opts.api_version, opts.subresource());
    // Track the operation under a scratch identity, then fold it into the manager's
    // entry; the timestamp only moves when the operation actually took fields.
    let scratch = ManagerId::update("current-operation", "", "");
    engine.record(live, new, managed, &scratch)?;
    strip_meta(managed, &scratch);
    if let Some(vs) = managed.fields.remove(&scratch) {
        let set = match managed.fields.get(&id) {
            Some(prev) => vs.set.union(&prev.set),
            None => vs.set,
        };
        managed.fields.insert(
            id.clone(),
            VersionedSet {
                set,
                api_version: vs.api_version,
                applied: vs.applied,
            },
        );
        managed.times.insert(id, normalize_time(&opts.time));
    }
    cap_update_managers(managed);
    Ok(())
}

/// Records ownership for a non-apply write (create, update, JSON/merge/strategic patch)
/// and returns `new` with `metadata.managedFields` set.
///
/// `old` is the stored object, `None` on create. `manager` is the request's
/// `fieldManager`, or what upstream derives from the user agent (e.g. `kubectl-edit`,
/// `kube-controller-manager`). Fields the write changed move to `manager`'s `Update`
/// entry and are taken from everyone else; removed fields are dropped from all entries.
/// Like upstream's `UpdateNoErrors` this never fails: if the objects do not fit the
/// schema, the stored managedFields are kept unchanged.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    schema: &dyn Schema,
    opts: &ApplyOptions,
) -> Value {
    record_update_owned(old, new.clone(), manager, schema, opts)
}

/// [`record_update`] on an object the caller gives away (no copy of it is made: the API
/// server tracks every write).
pub fn record_update_owned(
    old: Option<&Value>,
    mut new: Value,
    manager: &str,
    schema: &dyn Schema,
    opts: &ApplyOptions,
) -> Value {
    let mut managed = decode_live_or_new(old, &new, opts.subresource.is_some());
    if let Some(Value::Object(m)) = new.get_mut("metadata") {
        m.remove("managedFields");
    }
    let live_obj = old
        .map(without_managed_fields)
        .unwrap_or_else(|| zero_object(schema, &new, opts));
    let is_create = old.is_none_or(|o| get_str(o, &["metadata", "uid"]).is_none_or(str::is_empty));
    // Objects that exist without managedFields stay untracked until the first apply.
    if managed.fields.is_empty() && !is_create {
        set_managed_fields(&mut new, &managed);
        return new;
    }
    let typed = Typed::new(schema);
    let ty = root_type(schema, &new, opts);
    let valid =
        typed.validate(&ty, &new, true).is_ok() && typed.validate(&ty, &live_obj, true).is_ok();
    let engine = Engine {
        typed,
        ty,
        version: opts.api_version.clone(),
        ignored: opts.ignored(),
    };
    if !valid || update_managed(&engine, &live_obj, &new, &mut managed, manager, opts).is_err() {
        if let Some(Value::Object(m)) = new.get_mut("metadata") {
            match old
                .and_then(|o| o.get("metadata"))
                .and_then(|m| m.get("managedFields"))
            {
                Some(mf) => m.insert("managedFields".into(), mf.clone()),
                None => m.remove("managedFields"),
            };
        }
        return new;
    }
    set_managed_fields(&mut new, &managed);
    new
}

/// Upstream's `IgnoreManagedFieldsTimestampsTransformer`, run by the store just before
/// writing an update: if the only difference between `old` and `new` is the `time` of
/// managedFields entries (same entries otherwise, same object otherwise), restore the
/// old times so that a semantically no-op write does not bump `resourceVersion`.
///
/// Call it on the final object (after restoring system metadata, defaulting, etc.).
/// Returns true if timestamps were reverted.
pub fn ignore_managed_fields_timestamps(new: &mut Value, old: &Value) -> bool {
    let mf = |o: &Value| {
        o.get("metadata")
            .and_then(|m| m.get("managedFields"))
            .cloned()
    };
    let (Some(Value::Array(old_mf)), Some(Value::Array(new_mf))) = (mf(old), mf(new)) else {
        return false;
    };
    if old_mf.len() != new_mf.len() || new_mf.is_empty() {
        return false;
    }
    let time = |e: &Value| e.get("time").cloned();
    if old_mf.iter().zip(&new_mf).all(|(o, n)| time(o) == time(n)) {
        return false;
    }
    let strip_time = |e: &Value| {
        let mut e = e.clone();
        if let Some(m) = e.as_object_mut() {
            m.remove("time");
        }
        e
    };
    if !old_mf
        .iter()
        .zip(&new_mf)
        .all(|(o, n)| strip_time(o) == strip_time(n))
    {
        return false;
    }
    if without_managed_fields(old) != without_managed_fields(new) {
        return false;
    }
    if let Some(Value::Object(m)) = new.get_mut("metadata") {
        m.insert("managedFields".into(), Value::Array(old_mf));
    }
    true
}
