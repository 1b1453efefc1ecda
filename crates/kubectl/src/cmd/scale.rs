//! `kubectl scale`: sets `spec.replicas` through the `scale` subresource, as a merge
//! patch, or — with a precondition (`--current-replicas`, `--resource-version`) — by
//! reading the Scale, checking it, and writing it back whole.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::ctx::{Ctx, JSON, MERGE_PATCH};
use crate::error::{Error, Result};
use crate::targets::{self, DryRun, Query, Report, Target};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE NAME | TYPE/NAME ...
    pub args: Vec<String>,
    /// The new desired number of replicas. Required.
    #[arg(long, allow_hyphen_values = true)]
    pub replicas: Option<i64>,
    /// Precondition for current size; -1 (default) for no condition.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub current_replicas: i64,
    /// Precondition for resource version.
    #[arg(long)]
    pub resource_version: Option<String>,
    /// Select all resources in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// The length of time to wait before giving up on a scale operation, zero means don't wait.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Output format: json, yaml, name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}

/// A failed `--current-replicas` / `--resource-version` check, worded as kubectl's.
fn precondition_error(what: &str, expected: &str, actual: &str) -> Error {
    Error::client(format!("Expected {what} to be {expected}, was {actual}"))
}

/// The message of an error without kubectl's `Error from server (…): ` framing.
fn bare_message(e: &Error) -> String {
    match e {
        Error::Server(s) => s.message.clone(),
        Error::Client(m) => m.clone(),
        other => other.to_string(),
    }
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let Some(replicas) = a.replicas else {
        return Err(Error::client("required flag(s) \"replicas\" not set"));
    };
    if replicas < 0 {
        return Err(Error::client(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
        ));
    }
    if a.current_replicas < -1 {
        return Err(Error::client(
            "The --current-replicas must specify an integer of -1 or greater",
        ));
    }
    let timeout = match a.timeout.as_deref() {
        None => None,
        Some(t) => super::rollout::parse_duration(t)?.filter(|d| !d.is_zero()),
    };
    let report = Report::from_flags(a.output.as_deref(), a.dry_run.as_deref())?;
    report.validate()?;
    if a.args.is_empty() {
        return Err(Error::client(
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    let sel = targets::select(
        ctx,
        &a.args,
        &Query {
            selector: a.selector.as_deref(),
            all: a.all,
            ..Query::default()
        },
    )
    .await?;
    if a.resource_version.is_some() && sel.targets.len() > 1 {
        return Err(Error::client(
            "cannot use --resource-version with multiple resources",
        ));
    }
    if sel.targets.is_empty() {
        let msgs: Vec<String> = sel.errors.iter().map(bare_message).collect();
        return Err(Error::client(match msgs.as_slice() {
            [] => "no objects passed to scale".to_string(),
            [one] => format!("no objects passed to scale {one}"),
            many => format!("no objects passed to scale [{}]", many.join(", ")),
        }));
    }
    for t in &sel.targets {
        let mut obj = t.obj.clone();
        if report.dry_run != DryRun::Client {
            scale_one(ctx, a, t, replicas, report.dry_run).await?;
            if let Some(limit) = timeout {
                wait_synced(ctx, t, replicas, limit).await?;
            }
        }
        if t.rt.group == "apps" || t.rt.group.is_empty() {
            obj["spec"]["replicas"] = json!(replicas);
        }
        report.print(&t.rt, &obj, "scaled");
    }
    targets::finish(sel.errors)
}

async fn scale_one(ctx: &Ctx, a: &Args, t: &Target, replicas: i64, dry: DryRun) -> Result<()> {
    let path = format!("{}/scale", t.path(ctx));
    let write_path = targets::with_query(&path, &[dry.query()]);
    if a.current_replicas == -1 && a.resource_version.is_none() {
        let patch = json!({"spec": {"replicas": replicas}});
        ctx.send_json(Method::PATCH, &write_path, MERGE_PATCH, &patch)
            .await?;
        return Ok(());
    }
    // A precondition: read the Scale, check it, and write it back; a conflict means the
    // object changed in between, so kubectl retries.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut scale = ctx.get_json(&path).await?;
        let current = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        if a.current_replicas != -1 && current != a.current_replicas {
            return Err(precondition_error(
                "replicas",
                &a.current_replicas.to_string(),
                &current.to_string(),
            ));
        }
        if let Some(rv) = &a.resource_version {
            let actual = scale["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            if actual != rv {
                return Err(precondition_error("resource version", rv, actual));
            }
        }
        scale["spec"]["replicas"] = json!(replicas);
        match ctx.send_json(Method::PUT, &write_path, JSON, &scale).await {
            Err(e) if e.is_conflict() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other.map(|_| ()),
        }
    }
}

/// `--timeout`: polls the Scale until its status reaches the new size.
async fn wait_synced(ctx: &Ctx, t: &Target, replicas: i64, limit: Duration) -> Result<()> {
    let path = format!("{}/scale", t.path(ctx));
    let deadline = Instant::now() + limit;
    loop {
        let scale: Value = ctx.get_json(&path).await?;
        let spec = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        let status = scale["status"]["replicas"].as_i64().unwrap_or(0);
        if spec != replicas || status == replicas {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::client(format!(
                "timed out waiting for \"{}\" to be synced",
                t.name()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
