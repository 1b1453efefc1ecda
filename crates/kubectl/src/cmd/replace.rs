//! `kubectl replace -f`: PUT each manifest object whole (at the live resourceVersion when
//! the manifest has none); `--force` deletes the objects, waits until they are gone and
//! creates them again.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::cmd::apply::{modified_configuration, LAST_APPLIED};
use crate::ctx::{Ctx, JSON};
use crate::error::{Error, Result};
use crate::manifest::{self, FileFlags, Info};
use crate::write::{
    add_source, create_object, field_validation, report_errors, write_query, DryRun, Report,
};

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
    /// Must be one of: strict (or true), warn, ignore (or false).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "strict")]
    pub validate: Option<String>,
    /// If true, replace the resource by deleting and then re-creating it.
    #[arg(long)]
    pub force: bool,
    /// "background", "orphan", or "foreground".
    #[arg(long, default_value = "background")]
    pub cascade: String,
    /// Period of time in seconds given to the resource to terminate gracefully.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// If true, the configuration of current object will be saved in its annotation.
    #[arg(long)]
    pub save_config: bool,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-replace")]
    pub field_manager: String,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
}

/// The object sent: with `--save-config` the last-applied annotation is (re)written, and
/// an annotation the manifest already carries is kept up to date.
fn prepared(info: &Info, save_config: bool) -> Result<Value> {
    let has = info.obj["metadata"]["annotations"]
        .get(LAST_APPLIED)
        .is_some();
    if save_config || has {
        return modified_configuration(&info.obj);
    }
    Ok(info.obj.clone())
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let dry_run = DryRun::parse(a.dry_run.as_deref())?;
    let validation = field_validation(a.validate.as_deref())?;
    if a.files.filename.is_empty() {
        return Err(Error::client("must specify one of -f and -k"));
    }
    let mut report =
        Report::new(a.output.as_deref(), dry_run)?.show_managed_fields(a.show_managed_fields);
    let (infos, resolve_errors) = manifest::read_lenient(ctx, &a.files, "replace").await?;
    let query = write_query(&a.field_manager, Some(validation), dry_run, &[]);
    if a.force {
        let r = force_replace(ctx, a, &infos, dry_run, &query, &mut report).await;
        return report_errors(resolve_errors.into_iter().chain(r.err()).collect());
    }
    let mut errors = resolve_errors;
    for info in &infos {
        match replace_one(ctx, info, a.save_config, dry_run, &query).await {
            Ok(obj) => report.object(&obj, "replaced"),
            Err(e) => errors.push(add_source("replacing", &info.source, e)),
        }
    }
    report.finish()?;
    report_errors(errors)
}

async fn replace_one(
    ctx: &Ctx,
    info: &Info,
    save_config: bool,
    dry_run: DryRun,
    query: &str,
) -> Result<Value> {
    let mut obj = prepared(info, save_config)?;
    if obj["metadata"]["resourceVersion"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        let live = ctx.get_json(&info.path()).await?;
        obj["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
    }
    if dry_run == DryRun::Client {
        return Ok(obj);
    }
    ctx.send_json(Method::PUT, &format!("{}{query}", info.path()), JSON, &obj)
        .await
}

async fn force_replace(
    ctx: &Ctx,
    a: &Args,
    infos: &[Info],
    dry_run: DryRun,
    query: &str,
    report: &mut Report,
) -> Result<()> {
    let policy = match a.cascade.as_str() {
        "foreground" => "Foreground",
        "orphan" | "false" => "Orphan",
        _ => "Background",
    };
    let mut body = json!({ "propagationPolicy": policy });
    if a.grace_period >= 0 {
        body["gracePeriodSeconds"] = json!(a.grace_period);
    }
    let delete_query = if dry_run == DryRun::Server {
        body["dryRun"] = json!(["All"]);
        "?dryRun=All"
    } else {
        ""
    };
    for info in infos {
        if dry_run != DryRun::Client {
            match ctx
                .send_json(
                    Method::DELETE,
                    &format!("{}{delete_query}", info.path()),
                    JSON,
                    &body,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(add_source("deleting", &info.source, e)),
            }
        }
        println!(
            "{} \"{}\" deleted{}",
            info.rt.kind_prefix(),
            info.name,
            dry_run.suffix()
        );
    }
    if dry_run == DryRun::None {
        let deadline = Instant::now() + Duration::from_secs(300);
        for info in infos {
            loop {
                match ctx.get_json(&info.path()).await {
                    Err(e) if e.is_not_found() => break,
                    Err(e) => return Err(e),
                    Ok(_) if Instant::now() >= deadline => {
                        return Err(Error::client("timed out waiting for the condition"))
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    }
    let mut errors = Vec::new();
    for info in infos {
        let mut obj = prepared(info, a.save_config)?;
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        match create_object(ctx, info, obj, dry_run, query).await {
            Ok(created) => report.object(&created, "replaced"),
            Err(e) => errors.push(e),
        }
    }
    report.finish()?;
    report_errors(errors)
}
