//! The field manager: server-side apply and ownership tracking for ordinary writes.
//!
//! This follows the decorator chain upstream's `FieldManager` is built from (version
//! check → last-applied annotation sync → client-side-apply upgrade → skip tracking for
//! untracked objects → cap update managers → build manager identity → timestamps →
//! strip metadata → structured merge), flattened into plain functions.

use crate::ssa::managed::{normalize_time, Managed, ManagerId, Operation, VersionedSet};
use crate::ssa::path::{Path, PathElement};
use crate::ssa::schema::{Schema, TypeRef};
use crate::ssa::set::FieldSet;
use crate::ssa::typed::Typed;
use crate::ssa::value::{equals, to_go_json};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Annotation written by client-side `kubectl apply`.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Upstream's limit on the number of `Update` entries kept per object; older ones are
/// merged into `ancient-changes` buckets.
pub const MAX_UPDATE_MANAGERS: usize = 10;

const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const ANCIENT_CHANGES: &str = "ancient-changes";
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Context of an apply or update.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// apiVersion of the endpoint (e.g. `apps/v1`); applied objects must match it and
    /// managedFields entries record it.
    pub api_version: String,
    /// Expected kind; when set, an applied object of another kind is rejected (400).
    pub kind: Option<String>,
    /// Subresource the request targets (e.g. `status`, `scale`).
    pub subresource: Option<String>,
    /// Current time, RFC 3339; recorded on entries whose manager changed the object.
    pub time: String,
    /// Ignore `.status`, as upstream does for the main resource of kinds with a status
    /// subresource (the strategy's reset fields): status is neither owned nor conflicts,
    /// and [`apply`] keeps the live status.
    pub ignore_status: bool,
    /// Further reset fields to ignore (e.g. `.spec` and `.metadata.labels` when writing
    /// a Deployment through `/status`). Ignored subtrees never become owned; unlike
    /// `.status` with `ignore_status`, their values are left as computed, so the caller
    /// must restore them as its strategy requires.
    pub reset_fields: FieldSet,
}

impl ApplyOptions {
    /// Options for the main resource at `api_version`, at time `time`.
    pub fn new(api_version: impl Into<String>, time: impl Into<String>) -> Self {
        ApplyOptions {
            api_version: api_version.into(),
            kind: None,
            subresource: None,
            time: time.into(),
            ignore_status: false,
            reset_fields: FieldSet::new(),
        }
    }

    fn ignored(&self) -> FieldSet {
        let mut s = self.reset_fields.clone();
        if self.ignore_status {
            s.insert(&[PathElement::field("status")]);
        }
        s
    }

    fn subresource(&self) -> &str {
        self.subresource.as_deref().unwrap_or("")
    }
}

/// One field another manager owns and the request would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Manager name.
    pub manager: String,
    /// Whether that manager applied or updated the field.
    pub operation: Operation,
    /// apiVersion of the owning entry (reported for updaters only, as upstream does).
    pub api_version: Option<String>,
    /// Subresource of the owning entry, if any.
    pub subresource: Option<String>,
    /// The contested field.
    pub path: Path,
    id: ManagerId,
}

impl Conflict {
    fn new(id: &ManagerId, path: Path) -> Self {
        Conflict {
            manager: id.manager.clone(),
            operation: id.operation,
            api_version: (id.operation == Operation::Update).then(|| id.api_version.clone()),
            subresource: (!id.subresource.is_empty()).then(|| id.subresource.clone()),
            path,
            id: id.clone(),
        }
    }

    /// The field in upstream notation, e.g. `.spec.replicas` (Status cause `field`).
    pub fn field(&self) -> String {
        self.path.to_string()
    }

    /// The Status cause message, e.g. `conflict with "kubectl-client-side-apply" using
    /// apps/v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.id.display())
    }
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (HTTP 409).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request is malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The object does not fit its schema, or stored managedFields are unreadable
    /// (upstream reports these as HTTP 500 Internal Server Error).
    #[error("{0}")]
    Invalid(String),
}

/// Upstream's `getConflictMessage`.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!("Apply failed with 1 conflict: {}: {}", c.message(), c.path);
    }
    let mut by_manager: BTreeMap<String, (&ManagerId, Vec<&Path>)> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(c.id.identifier())
            .or_insert_with(|| (&c.id, Vec::new()))
            .1
            .push(&c.path);
    }
    let mut lines = Vec::new();
    for (id, paths) in by_manager.values() {
        lines.push(format!("conflicts with {}:", id.display()));
        for p in paths {
            lines.push(format!("- {p}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

impl ApplyError {
    /// HTTP status code upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::Invalid(_) => 500,
        }
    }

    /// The `meta/v1` Status body upstream returns.
    pub fn status(&self) -> Value {
        let (reason, details) = match self {
            ApplyError::Conflicts(cs) => {
                let causes: Vec<Value> = cs
                    .iter()
                    .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message(), "field": c.field()}))
                    .collect();
                (Some("Conflict"), Some(json!({"causes": causes})))
            }
            ApplyError::BadRequest(_) => (Some("BadRequest"), None),
            ApplyError::Invalid(_) => (None, None),
        };
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.to_string()));
        if let Some(r) = reason {
            s.insert("reason".into(), json!(r));
        }
        if let Some(d) = details {
            s.insert("details".into(), d);
        }
        s.insert("code".into(), json!(self.code()));
        Value::Object(s)
    }
}

// ---------------------------------------------------------------------------- helpers

fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let o = obj.as_object_mut()?;
    let m = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut()
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(Value::Object(m)) = o.get_mut("metadata") {
        m.remove("managedFields");
    }
    o
}

fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    match managed.encode() {
        Some(list) => {
            if let Some(m) = metadata_mut(obj) {
                m.insert("managedFields".into(), list);
            }
        }
        None => {
            if let Some(Value::Object(m)) = obj.get_mut("metadata") {
                m.remove("managedFields");
            }
        }
    }
}

/// `group/version, Kind=kind` as Go prints a GroupVersionKind.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    format!("{group}/{version}, Kind={kind}")
}

/// `namespace/name; GVK`, upstream's object description in error messages.
fn object_gvknn(obj: &Value) -> String {
    let ns = get_str(obj, &["metadata", "namespace"]).unwrap_or("");
    let name = get_str(obj, &["metadata", "name"]).unwrap_or("");
    let av = get_str(obj, &["apiVersion"]).unwrap_or("");
    let kind = get_str(obj, &["kind"]).unwrap_or("");
    format!("{ns}/{name}; {}", gvk_string(av, kind))
}

/// Removes `null` entries from maps, as converting to typed objects (or the CRD
/// handler's null pruning) does; the merge and removal steps may leave them behind.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for x in m.values_mut() {
                strip_nulls(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Fields that are never owned (upstream's stripMetaManager set).
fn strip_set() -> FieldSet {
    let mut s = FieldSet::new();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        let path: Vec<PathElement> = p.iter().map(|n| PathElement::field(*n)).collect();
        s.insert(&path);
    }
    s
}

fn strip_meta(managed: &mut Managed, id: &ManagerId) {
    if let Some(vs) = managed.fields.get_mut(id) {
        vs.set = vs.set.difference(&strip_set());
        if vs.set.is_empty() {
            managed.fields.remove(id);
        }
    }
}

/// The object's type for the walkers.
fn root_type(schema: &dyn Schema, obj: &Value, opts: &ApplyOptions) -> TypeRef {
    let av = get_str(obj, &["apiVersion"]).unwrap_or(&opts.api_version);
    let kind = get_str(obj, &["kind"])
        .or(opts.kind.as_deref())
        .unwrap_or("");
    schema.root_type(av, kind)
}

/// What a create starts from: the kind's zero object.
fn zero_object(schema: &dyn Schema, obj: &Value, opts: &ApplyOptions) -> Value {
    let av = get_str(obj, &["apiVersion"]).unwrap_or(&opts.api_version);
    let kind = get_str(obj, &["kind"])
        .or(opts.kind.as_deref())
        .unwrap_or("");
    schema.zero_object(av, kind)
}

// ------------------------------------------------------------------ structured merge

/// The structured-merge-diff `Updater`, bound to one request.
struct Engine<'a> {
    typed: Typed<'a>,
    ty: TypeRef,
    version: String,
    ignored: FieldSet,
}

impl Engine<'_> {
    /// Compares live and new, takes changed fields away from other managers (or reports
    /// them as conflicts), and drops removed fields from everybody.
    fn update(
        &self,
        live: &Value,
        new: &Value,
        managers: &mut Managed,
        workflow: &ManagerId,
        force: bool,
    ) -> Result<crate::ssa::typed::Comparison, ApplyError> {
        let mut cmp = self
            .typed
            .compare(&self.ty, live, new)
            .map_err(|e| ApplyError::Invalid(format!("failed to compare objects: {e}")))?;
        cmp.exclude(&self.ignored);
        let changed = cmp.modified.union(&cmp.added);
        let mut conflicts: Vec<(ManagerId, FieldSet)> = Vec::new();
        for (id, vs) in &managers.fields {
            if id == workflow {
                continue;
            }
            let c = vs.set.intersection(&changed);
            if !c.is_empty() {
                conflicts.push((id.clone(), c));
            }
        }
        if !force && !conflicts.is_empty() {
            let mut list = Vec::new();
            for (id, set) in &conflicts {
                for p in set.paths() {
                    list.push(Conflict::new(id, p));
                }
            }
            return Err(ApplyError::Conflicts(list));
        }
        for (id, c) in &conflicts {
            if let Some(vs) = managers.fields.get_mut(id) {
                vs.set = vs.set.difference(c);
            }
        }
        if !cmp.removed.is_empty() {
            for (id, vs) in managers.fields.iter_mut() {
                if id != workflow {
                    vs.set = vs.set.difference(&cmp.removed);
                }
            }
        }
        managers.fields.retain(|_, vs| !vs.set.is_empty());
        Ok(cmp)
    }

    /// Upstream `Updater.Update`: the workflow manager gains what changed.
    fn record(
        &self,
        live: &Value,
        new: &Value,
        managers: &mut Managed,
        workflow: &ManagerId,
    ) -> Result<(), ApplyError> {
        let cmp = self.update(live, new, managers, workflow, true)?;
        let prev = managers
            .fields
            .get(workflow)
            .map(|vs| vs.set.clone())
            .unwrap_or_default();
        let set = prev
            .difference(&cmp.removed)
            .union(&cmp.modified)
            .union(&cmp.added)
            .recursive_difference(&self.ignored);
        if set.is_empty() {
            managers.fields.remove(workflow);
        } else {
            managers.fields.insert(
                workflow.clone(),
                VersionedSet {
                    set,
                    api_version: self.version.clone(),
                    applied: false,
                },
            );
        }
        Ok(())
    }

    /// Upstream `Updater.Apply`: merge, record the applier's set, prune what it stopped
    /// applying, settle ownership. Returns `None` when the object is unchanged.
    fn apply(
        &self,
        live: &Value,
        config: &Value,
        managers: &mut Managed,
        id: &ManagerId,
        force: bool,
    ) -> Result<Option<Value>, ApplyError> {
        let merged = self
            .typed
            .merge(&self.ty, live, config)
            .map_err(|e| ApplyError::Invalid(format!("failed to merge config: {e}")))?;
        let last = managers.fields.get(id).map(|vs| vs.set.clone());
        let set = self
            .typed
            .to_field_set(&self.ty, config)
            .recursive_difference(&self.ignored);
        managers.fields.insert(
            id.clone(),
            VersionedSet {
                set,
                api_version: self.version.clone(),
                applied: true,
            },
        );
        let new = self.prune(merged, managers, last.as_ref());
        self.update(live, &new, managers, id, force)?;
        if equals(live, &new) {
            Ok(None)
        } else {
            Ok(Some(new))
        }
    }

    fn named(&self, s: &FieldSet) -> FieldSet {
        self.typed
            .ensure_named_fields_are_members(s, Some(&self.ty))
    }

    /// Removes what the applier owned last time, no longer applies, and nobody else
    /// owns.
    fn prune(&self, merged: Value, managers: &Managed, last: Option<&FieldSet>) -> Value {
        let Some(last) = last.filter(|l| !l.is_empty()) else {
            return merged;
        };
        let t = &self.typed;
        let pruned = t.remove_items(&self.ty, &merged, &self.named(last));
        // Add back everything someone (including the applier's new set) still owns.
        let mut owned = FieldSet::new();
        for vs in managers.fields.values() {
            owned = owned.union(&vs.set);
        }
        let merged_set = self.named(&t.to_field_set(&self.ty, &merged));
        let pruned_set = self.named(&t.to_field_set(&self.ty, &pruned));
        let pruned = t.remove_items(
            &self.ty,
            &merged,
            &merged_set.difference(&pruned_set.union(&self.named(&owned))),
        );
        // Only remove items the applier did own: unowned or updater-owned fields stay.
        let pruned_set = self.named(&t.to_field_set(&self.ty, &pruned));
        t.remove_items(
            &self.ty,
            &merged,
            &merged_set
                .difference(&pruned_set)
                .intersection(&self.named(last)),
        )
    }
}

// ------------------------------------------------------------------------ updates

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
fn update_managed(
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

// ------------------------------------------------------------------------- apply

fn validate_typed(
    engine: &Engine<'_>,
    obj: &Value,
    allow_dups: bool,
    what: &str,
) -> Result<(), ApplyError> {
    engine
        .typed
        .validate(&engine.ty, obj, allow_dups)
        .map_err(|e| {
            ApplyError::Invalid(format!(
                "failed to create typed {what} object ({}): {e}",
                object_gvknn(obj)
            ))
        })
}

/// The apply chain below the client-side-apply upgrade.
fn apply_managed(
    schema: &dyn Schema,
    live: &Value,
    config: &Value,
    mut managed: Managed,
    manager: &str,
    force: bool,
    opts: &ApplyOptions,
) -> Result<(Value, Managed, bool), ApplyError> {
    let patch_version = get_str(config, &["apiVersion"]).unwrap_or("");
    if patch_version != opts.api_version {
        return Err(ApplyError::BadRequest(format!(
            "Incorrect version specified in apply patch. Specified patch version: {patch_version}, expected: {}",
            opts.api_version
        )));
    }
    if config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(Value::is_array)
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let typed = Typed::new(schema);
    let engine = Engine {
        typed,
        ty: root_type(schema, config, opts),
        version: opts.api_version.clone(),
        ignored: opts.ignored(),
    };
    validate_typed(&engine, config, false, "patch")?;
    validate_typed(&engine, live, true, "live")?;
    let mut live = live.clone();
    if managed.fields.is_empty() {
        // Existing fields of an untracked object are attributed to "before-first-apply"
        // so that the first applier conflicts with them instead of silently taking them.
        let empty = zero_object(schema, config, opts);
        update_managed(
            &engine,
            &empty,
            &live,
            &mut managed,
            BEFORE_FIRST_APPLY,
            opts,
        )
        .map_err(|e| {
            ApplyError::Invalid(format!("failed to create manager for existing fields: {e}"))
        })?;
    }
    let id = ManagerId::apply(manager, opts.subresource());
    let result = engine.apply(&live, config, &mut managed, &id, force)?;
    strip_meta(&mut managed, &id);
    let changed = result.is_some();
    if let Some(new) = result {
        managed.times.insert(id, normalize_time(&opts.time));
        live = new;
    }
    Ok((live, managed, changed))
}

/// Fields the client-side `kubectl apply` annotation claims and that still hold the
/// annotated value: conflicts on these are expected when migrating to server-side
/// apply and are overridden.
fn allowed_from_last_applied(
    schema: &dyn Schema,
    live: &Value,
    opts: &ApplyOptions,
) -> Option<FieldSet> {
    let raw = get_str(live, &["metadata", "annotations", LAST_APPLIED_ANNOTATION])
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(raw).ok()?;
    if !last.is_object() || get_str(&last, &["apiVersion"]) != Some(opts.api_version.as_str()) {
        return None;
    }
    let typed = Typed::new(schema);
    let ty = root_type(schema, &last, opts);
    typed.validate(&ty, &last, false).ok()?;
    typed.validate(&ty, live, false).ok()?;
    let set = typed.to_field_set(&ty, &last);
    let cmp = typed.compare(&ty, &last, live).ok()?;
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// The annotation value `kubectl` would write for this configuration.
fn build_last_applied(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(Value::Object(ann)) = c.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
        ann.remove(LAST_APPLIED_ANNOTATION);
    }
    let mut s = to_go_json(&c);
    s.push('\n');
    s
}

fn set_last_applied(obj: &mut Value, value: String) {
    let Some(meta) = metadata_mut(obj) else {
        return;
    };
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(ann) = ann else { return };
    ann.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(value));
    let size: usize = ann
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        ann.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// Server-side apply.
///
/// `live` is the stored object (`None` creates it from the configuration). `applied` is
/// the decoded apply configuration (JSON or YAML body). Returns the new object with
/// `metadata.managedFields` updated; it equals `live` when the apply changed nothing.
///
/// The applier takes ownership of every field in `applied`; fields it applied before but
/// omits now are removed unless another manager owns them; fields other managers own
/// whose value would change are conflicts unless `force`, which transfers ownership.
/// As upstream, the field manager `kubectl` may take over fields recorded in the
/// client-side `last-applied-configuration` annotation without conflict, and keeps that
/// annotation in sync.
///
/// Left to the caller, as upstream's REST layer does them: the `resourceVersion`
/// precondition, defaulting, validation, and system metadata (uid, creationTimestamp,
/// generation) on the returned object.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    schema: &dyn Schema,
    opts: &ApplyOptions,
) -> Result<Value, ApplyError> {
    if let Some(kind) = &opts.kind {
        let av = get_str(applied, &["apiVersion"]).unwrap_or("");
        let k = get_str(applied, &["kind"]).unwrap_or("");
        if k != kind || av != opts.api_version {
            return Err(ApplyError::BadRequest(format!(
                "invalid object type: {}",
                gvk_string(av, k)
            )));
        }
    }
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "error decoding patch: apply configuration must be an object".into(),
        ));
    }
    let managed = match live
        .and_then(|l| l.get("metadata"))
        .and_then(|m| m.get("managedFields"))
    {
        Some(mf) => Managed::decode(mf)
            .map_err(|e| ApplyError::Invalid(format!("failed to decode managed fields: {e}")))?,
        None => Managed::default(),
    };
    let live_obj = live
        .map(without_managed_fields)
        .unwrap_or_else(|| zero_object(schema, applied, opts));

    let mut result = apply_managed(
        schema,
        &live_obj,
        applied,
        managed.clone(),
        manager,
        force,
        opts,
    );
    if manager == "kubectl" {
        if let Err(ApplyError::Conflicts(conflicts)) = &result {
            if let Some(allowed) = allowed_from_last_applied(schema, &live_obj, opts) {
                let remaining: Vec<Conflict> = conflicts
                    .iter()
                    .filter(|c| !allowed.has(&c.path.0))
                    .cloned()
                    .collect();
                result = if remaining.is_empty() {
                    apply_managed(schema, &live_obj, applied, managed, manager, true, opts)
                } else {
                    Err(ApplyError::Conflicts(remaining))
                };
            }
        }
    }
    let (mut obj, managed, changed) = result?;
    if manager == "kubectl"
        && get_str(&obj, &["metadata", "annotations", LAST_APPLIED_ANNOTATION])
            .is_some_and(|s| !s.is_empty())
    {
        set_last_applied(&mut obj, build_last_applied(applied));
    }
    if opts.ignore_status {
        if let Some(o) = obj.as_object_mut() {
            match live_obj.get("status") {
                Some(s) => o.insert("status".into(), s.clone()),
                None => o.remove("status"),
            };
        }
    }
    if changed {
        strip_nulls(&mut obj);
    }
    set_managed_fields(&mut obj, &managed);
    Ok(obj)
}

// ---------------------------------------------------------------- request options

/// Validates the `fieldManager`/`force` query parameters of a PATCH like upstream's
/// `ValidatePatchOptions`; on failure returns the 422 `Status` to send.
///
/// `fieldManager` is mandatory for apply patches (kubectl defaults it to `kubectl`),
/// `force` is only allowed on apply patches, and manager names must be at most 128
/// printable characters.
pub fn validate_patch_options(
    is_apply: bool,
    field_manager: Option<&str>,
    force: Option<bool>,
) -> Option<Value> {
    let fm = field_manager.unwrap_or("");
    let mut errs: Vec<OptionError> = Vec::new();
    if is_apply {
        if fm.is_empty() {
            errs.push((
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch".into(),
            ));
        }
    } else if force.is_some() {
        errs.push((
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch".into(),
        ));
    }
    errs.extend(field_manager_errors(fm));
    invalid_options_status("PatchOptions", &errs)
}

/// Validates the `fieldManager` of a create or update (`options_kind` is
/// `CreateOptions` or `UpdateOptions`), as upstream's `ValidateFieldManager` does for
/// every write; on failure returns the 422 `Status`.
pub fn validate_field_manager(options_kind: &str, field_manager: Option<&str>) -> Option<Value> {
    invalid_options_status(
        options_kind,
        &field_manager_errors(field_manager.unwrap_or("")),
    )
}

/// (field, cause reason, message body) of an invalid request option.
type OptionError = (&'static str, &'static str, String);

/// `errors.NewInvalid` for a `meta.k8s.io` options kind.
fn invalid_options_status(options_kind: &str, errs: &[OptionError]) -> Option<Value> {
    if errs.is_empty() {
        return None;
    }
    let rendered: Vec<String> = errs.iter().map(|(f, _, b)| format!("{f}: {b}")).collect();
    let joined = if rendered.len() == 1 {
        rendered[0].clone()
    } else {
        format!("[{}]", rendered.join(", "))
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|(f, r, b)| json!({"reason": r, "message": b, "field": f}))
        .collect();
    Some(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("{options_kind}.meta.k8s.io \"\" is invalid: {joined}"),
        "reason": "Invalid",
        "details": {"group": "meta.k8s.io", "kind": options_kind, "causes": causes},
        "code": 422
    }))
}

/// Upstream's `ValidateFieldManager`: at most 128 bytes, printable characters only.
fn field_manager_errors(field_manager: &str) -> Vec<OptionError> {
    let mut errs = Vec::new();
    if field_manager.len() > 128 {
        errs.push((
            "fieldManager",
            "FieldValueTooLong",
            "Too long: may not be more than 128 bytes".to_string(),
        ));
    }
    for (i, c) in field_manager.char_indices() {
        if c.is_control() {
            errs.push((
                "fieldManager",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {}: invalid character U+{:04X} (at position {i})",
                    crate::ssa::value::go_quote(field_manager),
                    u32::from(c)
                ),
            ));
        }
    }
    errs
}

// ------------------------------------------------------------------ storage helper

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
