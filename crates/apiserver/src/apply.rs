//! Field management: `metadata.managedFields` on every write, and server-side apply
//! (`application/apply-patch+yaml`), with the engine in `rkube_apimachinery::ssa`.

use std::borrow::Cow;
use std::sync::OnceLock;

use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::ssa::{self, ApplyOptions, TypeSet};
use rkube_apimachinery::status::{ApiError, Cause};
use serde_json::Value;

use crate::rest::Ctx;

fn builtin() -> &'static TypeSet {
    static BUILTIN: OnceLock<TypeSet> = OnceLock::new();
    BUILTIN.get_or_init(TypeSet::builtin)
}

/// The type graph for `info`: built-in kinds, or the CRD's schema.
pub fn schema(ctx: &Ctx<'_>) -> Cow<'static, TypeSet> {
    let info = ctx.rr.info;
    match ctx
        .srv
        .resources
        .crd_version(info.group, info.version, info.plural)
    {
        Some(v) => {
            let mut ts = builtin().clone();
            if let Some(s) = &v.schema {
                if let Err(e) = ts.add_crd(&info.api_version(), info.kind, s) {
                    tracing::warn!(kind = info.kind, error = ?e, "CRD schema not usable for field management; treating fields as atomic");
                }
            }
            Cow::Owned(ts)
        }
        None => Cow::Borrowed(builtin()),
    }
}

pub fn options(ctx: &Ctx<'_>) -> ApplyOptions {
    let info: &ResourceInfo = ctx.rr.info;
    let mut o = ApplyOptions::new(info.api_version(), crate::object::now_rfc3339());
    o.kind = Some(info.kind.to_string());
    o.subresource = ctx.rr.subresource.clone();
    o.ignore_status = ctx.rr.subresource.is_none() && info.subresource("status").is_some();
    o
}

/// The field manager: `?fieldManager=`, else the user agent's product name (as upstream).
pub fn manager(ctx: &Ctx<'_>) -> String {
    if let Some(m) = ctx.query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let ua = ctx
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    let product = ua.split('/').next().unwrap_or(ua);
    product.chars().take(128).collect()
}

/// Refuses invalid `fieldManager` values on create, update and non-apply patches.
pub fn check_manager(ctx: &Ctx<'_>, options_kind: &str) -> Result<(), ApiError> {
    match ssa::validate_field_manager(options_kind, ctx.query.get("fieldManager")) {
        Some(status) => Err(from_status(&status)),
        None => Ok(()),
    }
}

/// Records which fields this write's manager now owns.
pub fn track(ctx: &Ctx<'_>, old: Option<&Value>, new: &mut Value) {
    let schema = schema(ctx);
    let mut tracked = ssa::record_update_owned(
        old,
        std::mem::take(new),
        &manager(ctx),
        schema.as_ref(),
        &options(ctx),
    );
    if let Some(old) = old {
        ssa::ignore_managed_fields_timestamps(&mut tracked, old);
    }
    *new = tracked;
}

/// Server-side apply of `applied` onto `live` (absent: create).
pub fn apply(ctx: &Ctx<'_>, live: Option<&Value>, applied: &Value) -> Result<Value, ApiError> {
    let force = ctx.query.get("force") == Some("true");
    let field_manager = ctx.query.get("fieldManager");
    let force_opt = ctx.query.get("force").map(|f| f == "true");
    if let Some(status) = ssa::validate_patch_options(true, field_manager, force_opt) {
        return Err(from_status(&status));
    }
    let schema = schema(ctx);
    let mut out = ssa::apply(
        live,
        applied,
        field_manager.unwrap_or(""),
        force,
        schema.as_ref(),
        &options(ctx),
    )
    .map_err(|e| from_status(&e.status()))?;
    if let Some(live) = live {
        ssa::ignore_managed_fields_timestamps(&mut out, live);
    }
    Ok(out)
}

/// An API error from a `Status` body the field manager produced.
pub fn from_status(status: &Value) -> ApiError {
    let code = status.get("code").and_then(Value::as_u64).unwrap_or(500) as u16;
    let reason: &'static str = match status.get("reason").and_then(Value::as_str).unwrap_or("") {
        "Conflict" => "Conflict",
        "BadRequest" => "BadRequest",
        "Invalid" => "Invalid",
        "UnsupportedMediaType" => "UnsupportedMediaType",
        _ => "InternalError",
    };
    let message = status
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let causes: Vec<Cause> = status
        .pointer("/details/causes")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    Cause::new(
                        c.get("reason").and_then(Value::as_str).unwrap_or(""),
                        c.get("field").and_then(Value::as_str).unwrap_or(""),
                        c.get("message").and_then(Value::as_str).unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut e = ApiError::new(code, reason, message);
    if !causes.is_empty() {
        e = e.with_causes(causes);
    }
    if let (Some(name), Some(kind)) = (
        status.pointer("/details/name").and_then(Value::as_str),
        status.pointer("/details/kind").and_then(Value::as_str),
    ) {
        e = e.with_object(
            status
                .pointer("/details/group")
                .and_then(Value::as_str)
                .unwrap_or(""),
            kind,
            name,
        );
    }
    e
}
