//! The field manager's apply path: server-side apply of a configuration.
//!
//! This follows the decorator chain upstream's `FieldManager` is built from (version
//! check → last-applied annotation sync → client-side-apply upgrade → skip tracking for
//! untracked objects → cap update managers → build manager identity → timestamps →
//! strip metadata → structured merge), flattened into plain functions. Ordinary writes
//! take the update path (`update.rs`).

use crate::ssa::engine::Engine;
use crate::ssa::error::{ApplyError, Conflict};
use crate::ssa::last_applied::{
    allowed_from_last_applied, build_last_applied, set_last_applied, LAST_APPLIED_ANNOTATION,
};
use crate::ssa::managed::{normalize_time, Managed, ManagerId};
use crate::ssa::object::{
    get_str, gvk_string, object_gvknn, root_type, set_managed_fields, strip_meta, strip_nulls,
    without_managed_fields, zero_object,
};
use crate::ssa::path::PathElement;
use crate::ssa::schema::Schema;
use crate::ssa::set::FieldSet;
use crate::ssa::typed::Typed;
use crate::ssa::update::update_managed;
use serde_json::Value;

const BEFORE_FIRST_APPLY: &str = "before-first-apply";

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

    pub(crate) fn ignored(&self) -> FieldSet {
        let mut s = self.reset_fields.clone();
        if self.ignore_status {
            s.insert(&[PathElement::field("status")]);
        }
        s
    }

    pub(crate) fn subresource(&self) -> &str {
        self.subresource.as_deref().unwrap_or("")
    }
}

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
