//! `kubectl apply -f`: client-side apply (the last-applied-configuration annotation and a
//! three-way patch) or, with `--server-side`, an apply patch merged by the server.

mod migrate;

use http::Method;
use serde_json::{Map, Value};

use crate::ctx::{Ctx, APPLY_PATCH, JSON_PATCH};
use crate::error::{Error, Result};
use crate::manifest::{self, FileFlags, Info};
use crate::patchgen;
use crate::printer::go_json;
use crate::write::{
    add_source, create_object, field_validation, prune_nulls, report_errors, write_query, DryRun,
    Report,
};

/// The annotation client-side apply keeps the applied manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

const CONFLICT_HELP: &str =
    "Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub files: FileFlags,
    /// Output format: json, yaml or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "unchanged")]
    pub dry_run: Option<String>,
    /// If true, apply runs in the server instead of the client.
    #[arg(long)]
    pub server_side: bool,
    /// If true, server-side apply will force the changes against conflicts.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Name of the manager used to track field ownership.
    #[arg(long)]
    pub field_manager: Option<String>,
    /// Must be one of: strict (or true), warn, ignore (or false).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "strict")]
    pub validate: Option<String>,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let dry_run = DryRun::parse(a.dry_run.as_deref())?;
    let validation = field_validation(a.validate.as_deref())?;
    if a.files.filename.is_empty() {
        return Err(Error::client("must specify one of -f and -k"));
    }
    if a.force_conflicts && !a.server_side {
        return Err(Error::client(
            "--force-conflicts only works with --server-side",
        ));
    }
    if a.server_side && dry_run == DryRun::Client {
        return Err(Error::client(
            "--dry-run=client doesn't work with --server-side (did you mean --dry-run=server instead?)",
        ));
    }
    let mut report =
        Report::new(a.output.as_deref(), dry_run)?.show_managed_fields(a.show_managed_fields);
    let (infos, mut errors) = manifest::read_lenient(ctx, &a.files, "apply").await?;
    for info in &infos {
        let r = if a.server_side {
            server_side(ctx, a, info, dry_run, validation, &mut report).await
        } else {
            client_side(ctx, a, info, dry_run, validation, &mut report).await
        };
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        report.finish()?;
    }
    report_errors(errors)
}

/// The manifest as applied: the last-applied annotation replaced by the manifest itself
/// (compact JSON with a newline, with an `annotations` map even when it is empty, exactly
/// what kubectl stores, so either client sees the other's configuration as unchanged).
pub fn modified_configuration(obj: &Value) -> Result<Value> {
    let mut o = obj.clone();
    fn annotations(o: &mut Value) -> Option<&mut Map<String, Value>> {
        let meta = o
            .as_object_mut()?
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let ann = meta
            .as_object_mut()?
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !ann.is_object() {
            *ann = Value::Object(Map::new());
        }
        ann.as_object_mut()
    }
    if let Some(a) = annotations(&mut o) {
        a.remove(LAST_APPLIED);
    }
    let text = format!("{}\n", go_json(&o));
    if let Some(a) = annotations(&mut o) {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
    Ok(o)
}

fn gvk(info: &Info) -> (&str, &str, &str) {
    (&info.rt.group, &info.rt.version, &info.rt.kind)
}

async fn client_side(
    ctx: &Ctx,
    a: &Args,
    info: &Info,
    dry_run: DryRun,
    validation: &str,
    report: &mut Report,
) -> Result<()> {
    if info.name.is_empty() {
        if let Some(g) = info.obj["metadata"]["generateName"].as_str() {
            return Err(Error::client(format!(
                "from {g}: cannot use generate name with apply"
            )));
        }
    }
    let manager = a
        .field_manager
        .as_deref()
        .unwrap_or("kubectl-client-side-apply");
    let query = write_query(manager, Some(validation), dry_run, &[]);
    let modified = modified_configuration(&info.obj)?;
    let live = match ctx.get_json(&info.path()).await {
        Ok(live) => live,
        Err(e) if e.is_not_found() => {
            let mut obj = modified;
            prune_nulls(&mut obj);
            let created = create_object(ctx, info, obj, dry_run, &query).await?;
            report.object(&created, "created");
            return Ok(());
        }
        Err(e) => {
            return Err(add_source(
                "retrieving current configuration of",
                &info.source,
                e,
            ))
        }
    };
    if dry_run == DryRun::Client {
        report.object(&live, "configured");
        return Ok(());
    }
    let original = match live["metadata"]["annotations"][LAST_APPLIED].as_str() {
        Some(text) if !text.is_empty() => serde_json::from_str(text).map_err(|e| {
            Error::client(format!(
                "error when retrieving original configuration from \"{}\": {e}",
                info.source
            ))
        })?,
        Some(_) => Value::Null,
        None => {
            eprintln!(
                "Warning: resource {}/{} is missing the {LAST_APPLIED} annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.",
                info.rt.plural, info.name
            );
            Value::Null
        }
    };
    let computed = patchgen::three_way(gvk(info), &original, &modified, &live).map_err(|e| {
        Error::client(format!(
            "error when creating patch for \"{}\": {e}",
            info.source
        ))
    })?;
    if computed.is_empty() {
        report.object(&live, "unchanged");
        return Ok(());
    }
    let patched = ctx
        .send_json(
            Method::PATCH,
            &format!("{}{query}", info.path()),
            computed.content_type,
            &computed.patch,
        )
        .await
        .map_err(|e| add_source("applying patch", &info.source, e))?;
    report.object(&patched, "configured");
    Ok(())
}

async fn server_side(
    ctx: &Ctx,
    a: &Args,
    info: &Info,
    dry_run: DryRun,
    validation: &str,
    report: &mut Report,
) -> Result<()> {
    let manager = a.field_manager.as_deref().unwrap_or("kubectl");
    let force = if a.force_conflicts { "true" } else { "false" };
    let query = write_query(manager, Some(validation), dry_run, &[("force", force)]);
    let applied = ctx
        .send_json(
            Method::PATCH,
            &format!("{}{query}", info.path()),
            APPLY_PATCH,
            &info.obj,
        )
        .await
        .map_err(|e| match e {
            Error::Server(s) if s.code == 409 && s.reason == "Conflict" => {
                Error::client(format!("{}\n{CONFLICT_HELP}", s.message))
            }
            other => other,
        })?;
    let url = format!("{}{query}", info.path());
    let applied = match keep_last_applied(ctx, info, manager, dry_run, &applied).await {
        Ok(kept) => {
            let applied = kept.unwrap_or(applied);
            match migrate(ctx, info, manager, validation, dry_run, &applied).await {
                Ok(true) => match ctx
                    .send_json(Method::PATCH, &url, APPLY_PATCH, &info.obj)
                    .await
                {
                    Ok(obj) => obj,
                    Err(e) => {
                        eprintln!("warning: failed to re-apply configuration after performing Server-Side Apply migration. This is non-fatal and will be retried next time you apply. Error: {e}");
                        applied
                    }
                },
                Ok(false) => applied,
                Err(e) => {
                    eprintln!("warning: failed to migrate kubectl.kubernetes.io/last-applied-configuration for Server-Side Apply. This is non-fatal and will be retried next time you apply. Error: {e}");
                    applied
                }
            }
        }
        Err(e) => {
            eprintln!("Warning: failed to preserve last-applied-configuration annotation while migrating to server-side apply. This annotation is required by client-side apply. Please manually re-apply the last-applied-configuration annotation with the following field manager: kubectl-last-applied. Error: {e}");
            applied
        }
    };
    report.object(&applied, "serverside-applied");
    Ok(())
}

/// With the default manager, an object still carrying the client-side annotation gets it
/// re-applied under the `kubectl-last-applied` manager, so server-side apply does not
/// orphan it (kubectl keeps it for going back to client-side apply).
async fn keep_last_applied(
    ctx: &Ctx,
    info: &Info,
    manager: &str,
    dry_run: DryRun,
    obj: &Value,
) -> Result<Option<Value>> {
    if manager != "kubectl" {
        return Ok(None);
    }
    let Some(annotation) = obj["metadata"]["annotations"][LAST_APPLIED].as_str() else {
        return Ok(None);
    };
    let managed = obj["metadata"]["managedFields"].as_array();
    if managed.is_some_and(|m| migrate::apply_owns_last_applied(m)) {
        return Ok(None);
    }
    let mut meta = Map::new();
    meta.insert(
        "annotations".into(),
        serde_json::json!({ LAST_APPLIED: annotation }),
    );
    meta.insert("name".into(), Value::String(info.name.clone()));
    if !info.namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(info.namespace.clone()));
    }
    let body = serde_json::json!({
        "apiVersion": info.rt.api_version(),
        "kind": info.rt.kind,
        "metadata": meta,
    });
    let query = write_query("kubectl-last-applied", None, dry_run, &[]);
    let v = ctx
        .send_json(
            Method::PATCH,
            &format!("{}{query}", info.path()),
            APPLY_PATCH,
            &body,
        )
        .await?;
    Ok(Some(v))
}

/// Hands the fields of the client-side apply managers to the server-side manager (see
/// [`migrate`]); true when that was needed and done, so the apply is sent again.
async fn migrate(
    ctx: &Ctx,
    info: &Info,
    manager: &str,
    validation: &str,
    dry_run: DryRun,
    obj: &Value,
) -> Result<bool> {
    let Some(patch) = migrate::migration_patch(obj, manager) else {
        return Ok(false);
    };
    let query = write_query(manager, Some(validation), dry_run, &[]);
    ctx.send_json(
        Method::PATCH,
        &format!("{}{query}", info.path()),
        JSON_PATCH,
        &patch,
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_applied_is_the_compact_manifest() {
        let m = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "<&>"}});
        let out = modified_configuration(&m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"\\u003c\\u0026\\u003e\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\",\"namespace\":\"default\"}}\n"
        );
    }
}
