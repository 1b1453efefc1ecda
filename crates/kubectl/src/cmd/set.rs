//! `kubectl set image` and `kubectl set env`: change containers of a pod template and send
//! the difference as a strategic merge patch (field manager `kubectl-set`), with the
//! `$setElementOrder` directives kubectl's two-way diff adds for merge-keyed lists.

mod env;

use http::Method;
use serde_json::{json, Map, Value};

use crate::ctx::{Ctx, STRATEGIC_PATCH};
use crate::error::{Error, Result};
use crate::targets::{self, ChangeFlags, DryRun, Query, Report, Target};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Sub {
    /// Update the image of a pod template.
    Image(ImageArgs),
    /// Update environment variables on a pod template.
    Env(env::EnvArgs),
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ImageArgs {
    /// (-f FILENAME | TYPE NAME) CONTAINER_NAME_1=CONTAINER_IMAGE_1 ...
    pub args: Vec<String>,
    /// Select all resources, in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub flags: ChangeFlags,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    match &a.command {
        Sub::Image(i) => run_image(ctx, i).await,
        Sub::Env(e) => env::run(ctx, e).await,
    }
}

/// Where the pod spec lives in an object of `kind`.
pub(crate) fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        "Deployment"
        | "DaemonSet"
        | "StatefulSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job"
        | "PodTemplate" => {
            if kind == "PodTemplate" {
                Some(&["template", "spec"])
            } else {
                Some(&["spec", "template", "spec"])
            }
        }
        _ => None,
    }
}

fn at<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// Wraps `inner` in objects along `path`.
fn nest(path: &[&str], inner: Value) -> Value {
    path.iter().rev().fold(inner, |acc, k| json!({ (*k): acc }))
}

/// The patch of one merge-keyed container list: changed entries and the element order.
pub(crate) fn container_list_patch(
    list: &str,
    containers: &[Value],
    changed: Vec<Value>,
    patch: &mut Map<String, Value>,
) {
    if changed.is_empty() {
        return;
    }
    let order: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c["name"]}))
        .collect();
    patch.insert(format!("$setElementOrder/{list}"), Value::Array(order));
    patch.insert(list.to_string(), Value::Array(changed));
}

/// Patches `t` (or, for a client dry run, only prints it) and reports `operation`.
pub(crate) async fn apply_patch(
    ctx: &Ctx,
    report: &Report,
    t: &Target,
    spec_path: &[&str],
    spec_patch: Map<String, Value>,
    operation: &str,
    what: &str,
) -> Result<()> {
    if spec_patch.is_empty() {
        return Ok(());
    }
    let patch = nest(spec_path, Value::Object(spec_patch));
    let mut shown = t.obj.clone();
    if report.dry_run == DryRun::Client {
        if let Ok(p) = rkube_apimachinery::patch::strategic::apply(
            &t.obj,
            &patch,
            &rkube_apimachinery::patch::strategic::GroupVersionKind::new(
                &t.rt.group,
                &t.rt.version,
                &t.rt.kind,
            ),
        ) {
            shown = p;
        }
    } else {
        let path = targets::with_query(
            &t.path(ctx),
            &["fieldManager=kubectl-set", report.dry_run.query()],
        );
        shown = ctx
            .send_json(Method::PATCH, &path, STRATEGIC_PATCH, &patch)
            .await
            .map_err(|e| {
                Error::client(format!(
                    "failed to patch {what} update to pod template: {}",
                    server_text(&e)
                ))
            })?;
    }
    report.print(&t.rt, &shown, operation);
    Ok(())
}

/// An error's text as Go's `%v` of it prints (no `Error from server` framing).
fn server_text(e: &Error) -> String {
    match e {
        Error::Server(s) => s.message.clone(),
        Error::Client(m) => m.clone(),
        other => other.to_string(),
    }
}

async fn run_image(ctx: &Ctx, a: &ImageArgs) -> Result<()> {
    let (resources, pairs) = targets::split_pairs(&a.args, "image")?;
    let report = Report::from_flags(a.flags.output.as_deref(), a.flags.dry_run.as_deref())?;
    let mut images: Vec<(String, String)> = Vec::new();
    for p in &pairs {
        let Some((k, v)) = p
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        else {
            return Err(Error::client(format!("invalid image argument: {p}")));
        };
        images.retain(|(n, _)| n != k);
        images.push((k.to_string(), v.to_string()));
    }
    let mut problems = Vec::new();
    if a.all && a.flags.selector.is_some() {
        problems.push("cannot set --all and --selector at the same time");
    }
    if resources.is_empty() {
        problems.push(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
        );
    }
    if images.is_empty() {
        problems.push("at least one image update is required");
    } else if images.len() > 1 && images.iter().any(|(n, _)| n == "*") {
        problems.push("all containers are already specified by *, but saw more than one container_name=container_image pairs");
    }
    match problems.as_slice() {
        [] => {}
        [one] => return Err(Error::client(*one)),
        many => return Err(Error::client(format!("[{}]", many.join(", ")))),
    }
    report.validate()?;
    let sel = targets::select(
        ctx,
        &resources,
        &Query {
            selector: a.flags.selector.as_deref(),
            all: a.all,
            ..Query::default()
        },
    )
    .await?;
    let mut errors: Vec<Error> = sel.errors;
    for t in &sel.targets {
        let Some(path) = pod_spec_path(&t.rt.kind) else {
            errors.push(Error::Client(format!(
                "{}/{} the object is not a pod or does not have a pod template: *unstructured.Unstructured",
                t.rt.plural,
                t.name()
            )));
            continue;
        };
        let spec = at(&t.obj, path);
        let mut patch = Map::new();
        let mut found = vec![false; images.len()];
        for list in ["initContainers", "containers"] {
            let containers = spec[list].as_array().cloned().unwrap_or_default();
            let mut changed = Vec::new();
            for c in &containers {
                let name = c["name"].as_str().unwrap_or_default();
                let mut new_image = None;
                for (i, (n, img)) in images.iter().enumerate() {
                    if n == name || n == "*" {
                        found[i] = true;
                        new_image = Some(img);
                    }
                }
                if let Some(img) = new_image.filter(|img| c["image"].as_str() != Some(img.as_str()))
                {
                    changed.push(json!({"image": img, "name": name}));
                }
            }
            container_list_patch(list, &containers, changed, &mut patch);
        }
        for (i, (n, _)) in images.iter().enumerate() {
            if !found[i] {
                errors.push(Error::Client(format!(
                    "unable to find container named \"{n}\""
                )));
            }
        }
        if let Err(e) = apply_patch(ctx, &report, t, path, patch, "image updated", "image").await {
            errors.push(e);
        }
    }
    targets::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patches_carry_the_element_order() {
        let cs = vec![
            json!({"name": "a", "image": "x"}),
            json!({"name": "b", "image": "y"}),
        ];
        let mut p = Map::new();
        container_list_patch(
            "containers",
            &cs,
            vec![json!({"image": "z", "name": "b"})],
            &mut p,
        );
        assert_eq!(
            nest(&["spec", "template", "spec"], Value::Object(p)).to_string(),
            r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"image":"z","name":"b"}]}}}}"#
        );
    }
}
