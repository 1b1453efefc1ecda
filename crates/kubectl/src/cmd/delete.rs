//! `kubectl delete`: objects named by manifests (`-f`), by `TYPE NAME…` / `TYPE/NAME`, or
//! selected by `-l` / `--all`, one DELETE each, then (by default) waiting until they are
//! gone.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::cmd::get;
use crate::ctx::{query_escape, Ctx, JSON};
use crate::error::{Error, Result};
use crate::manifest::{self, FileFlags};
use crate::resource::{Resolver, ResourceType};
use crate::write::{add_source, report_errors, DryRun};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE [NAME…] | TYPE/NAME…
    pub args: Vec<String>,
    #[command(flatten)]
    pub files: FileFlags,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Delete all resources, in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// If present, list the requested object(s) across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// "background", "orphan", or "foreground" (true/false still mean background/orphan).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "background", default_missing_value = "background")]
    pub cascade: String,
    /// Period of time in seconds given to the resource to terminate gracefully.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// If true, immediately remove resources from API and bypass graceful deletion.
    #[arg(long)]
    pub force: bool,
    /// If true, resources are signaled for immediate shutdown (same as --grace-period=1).
    #[arg(long)]
    pub now: bool,
    /// If true, wait for resources to be gone before returning.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    pub wait: String,
    /// The length of time to wait before giving up on a delete (0: a week).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// Treat "resource not found" as a successful delete.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ignore_not_found: Option<String>,
    /// Output mode. Use "-o name" for shorter output (resource/name).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "unchanged")]
    pub dry_run: Option<String>,
}

/// One object to delete.
struct Target {
    rt: ResourceType,
    namespace: String,
    name: String,
    source: String,
}

fn parse_duration(s: &str) -> Result<Duration> {
    crate::duration::parse_seconds_or_go(s)
        .map_err(|_| Error::client(format!("invalid duration {:?}", s.trim())))
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let dry_run = DryRun::parse(a.dry_run.as_deref())?;
    let mut grace = a.grace_period;
    if a.now {
        if grace != -1 {
            return Err(Error::client(
                "--now and --grace-period cannot be specified together",
            ));
        }
        grace = 1;
    }
    if a.force && grace > 0 {
        return Err(Error::client(
            "--force and --grace-period greater than 0 cannot be specified together",
        ));
    }
    if grace == 0 && !a.force {
        grace = 1;
    }
    if a.force && grace < 0 {
        grace = 0;
    }
    let policy = match a.cascade.as_str() {
        "background" | "true" => "Background",
        "foreground" => "Foreground",
        "orphan" | "false" => "Orphan",
        other => {
            return Err(Error::client(format!(
                "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
            )))
        }
    };
    let wait = match a.wait.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(Error::client(format!(
                "invalid argument \"{other}\" for \"--wait\" flag: strconv.ParseBool: parsing \"{other}\": invalid syntax"
            )))
        }
    };
    let timeout = match parse_duration(&a.timeout)? {
        d if d.is_zero() => Duration::from_secs(168 * 3600),
        d => d,
    };
    let selecting = a.all || a.selector.is_some() || a.field_selector.is_some();
    let ignore_not_found = match a.ignore_not_found.as_deref() {
        Some(v) => v == "true",
        None => selecting,
    };
    if a.all && a.selector.is_some() {
        return Err(Error::client(
            "setting 'all' parameter but found a non empty selector. ",
        ));
    }
    let (targets, mut errors) = targets(ctx, a, selecting).await?;
    let Some(targets) = targets else {
        println!("No resources found");
        return Ok(());
    };
    if grace == 0 && a.force {
        eprintln!("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    let mut body = json!({ "propagationPolicy": policy });
    if grace >= 0 {
        body["gracePeriodSeconds"] = json!(grace);
    }
    let query = if dry_run == DryRun::Server {
        body["dryRun"] = json!(["All"]);
        "?dryRun=All"
    } else {
        ""
    };
    let mut deleted: Vec<(Target, String)> = Vec::new();
    for t in targets {
        let path = t.rt.object_path(&t.namespace, &t.name);
        // A client-side dry run sends nothing, not even a GET.
        let uid = if dry_run == DryRun::Client {
            String::new()
        } else {
            match ctx
                .send_json(Method::DELETE, &format!("{path}{query}"), JSON, &body)
                .await
            {
                Ok(o) => o["metadata"]["uid"]
                    .as_str()
                    .or(o["details"]["uid"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                Err(e) if e.is_not_found() && ignore_not_found => continue,
                Err(e) => {
                    errors.push(add_source("deleting", &t.source, e));
                    continue;
                }
            }
        };
        print_deleted(&t, a.output.as_deref(), grace, dry_run);
        deleted.push((t, uid));
    }
    if wait && dry_run == DryRun::None {
        let deadline = Instant::now() + timeout;
        for (t, uid) in &deleted {
            if let Err(e) = wait_gone(ctx, t, uid, deadline).await {
                errors.push(e);
            }
        }
    }
    report_errors(errors)
}

fn print_deleted(t: &Target, output: Option<&str>, grace: i64, dry_run: DryRun) {
    let kind = t.rt.kind_prefix();
    if output == Some("name") {
        println!("{kind}/{}", t.name);
        return;
    }
    let op = if grace == 0 {
        "force deleted"
    } else {
        "deleted"
    };
    println!("{kind} \"{}\" {op}{}", t.name, dry_run.suffix());
}

/// Polls until the object is gone (or replaced by one with another uid).
async fn wait_gone(ctx: &Ctx, t: &Target, uid: &str, deadline: Instant) -> Result<()> {
    let path = t.rt.object_path(&t.namespace, &t.name);
    let mut delay = Duration::from_millis(50);
    loop {
        match ctx.get_json(&path).await {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
            Ok(o) => {
                let now_uid = o["metadata"]["uid"].as_str().unwrap_or_default();
                if !uid.is_empty() && now_uid != uid {
                    return Ok(());
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::client(format!(
                "timed out waiting for the condition on {}/{}",
                t.rt.plural, t.name
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// The objects to delete (`None` when a selection matched nothing) and the manifest
/// objects whose type could not be resolved.
async fn targets(
    ctx: &Ctx,
    a: &Args,
    selecting: bool,
) -> Result<(Option<Vec<Target>>, Vec<Error>)> {
    let mut resolver = Resolver::new();
    if !a.files.filename.is_empty() {
        let docs = manifest::read(&a.files)?;
        let (infos, errors) = manifest::resolve_lenient(ctx, &mut resolver, docs).await;
        let targets = infos
            .into_iter()
            .map(|i| Target {
                rt: i.rt,
                namespace: i.namespace,
                name: i.name,
                source: i.source,
            })
            .collect();
        return Ok((Some(targets), errors));
    }
    if a.args.is_empty() {
        return Err(Error::client(
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    // kubectl's messages for these argument forms name `get`, whichever command runs.
    let slashed = a.args.iter().filter(|x| x.contains('/')).count();
    if slashed > 0 && slashed < a.args.len() {
        return Err(Error::client(
            "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'",
        ));
    }
    let reqs = get::requests(ctx, &mut resolver, "get", &a.args).await?;
    let mut out = Vec::new();
    for (rt, names) in reqs {
        if !names.is_empty() {
            out.extend(names.into_iter().map(|name| Target {
                rt: rt.clone(),
                namespace: ctx.namespace.clone(),
                name,
                source: String::new(),
            }));
            continue;
        }
        if !selecting {
            return Err(Error::client(
                "resource(s) were provided, but no name was specified",
            ));
        }
        let ns = (!a.all_namespaces).then_some(ctx.namespace.as_str());
        let mut q = Vec::new();
        if let Some(l) = &a.selector {
            q.push(format!("labelSelector={}", query_escape(l)));
        }
        if let Some(f) = &a.field_selector {
            q.push(format!("fieldSelector={}", query_escape(f)));
        }
        let mut path = rt.collection_path(ns);
        if !q.is_empty() {
            path = format!("{path}?{}", q.join("&"));
        }
        let list = ctx.get_json(&path).await?;
        for it in list["items"].as_array().into_iter().flatten() {
            out.push(Target {
                rt: rt.clone(),
                namespace: it["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name: name_of(it),
                source: String::new(),
            });
        }
    }
    if out.is_empty() && selecting {
        return Ok((None, Vec::new()));
    }
    Ok((Some(out), Vec::new()))
}

fn name_of(v: &Value) -> String {
    v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s").ok(), Some(Duration::ZERO));
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("30").ok(), Some(Duration::from_secs(30)));
        assert!(parse_duration("x").is_err());
    }
}
