//! `kubectl patch TYPE NAME -p PATCH [--type strategic|merge|json]`: sends the patch as
//! given (YAML is accepted and converted to JSON) and reports whether the object changed.

use http::Method;
use serde_json::Value;

use rkube_apimachinery::patch::{json_patch, merge_patch, strategic};

use crate::cmd::get;
use crate::ctx::{Ctx, JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH};
use crate::error::{Error, Result};
use crate::manifest::{self, FileFlags};
use crate::resource::{Resolver, ResourceType};
use crate::write::{report_errors, write_query, DryRun, Report};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE NAME | TYPE/NAME
    pub args: Vec<String>,
    #[command(flatten)]
    pub files: FileFlags,
    /// The patch to be applied to the resource JSON file.
    #[arg(short = 'p', long)]
    pub patch: Option<String>,
    /// A file containing a patch to be applied to the resource.
    #[arg(long)]
    pub patch_file: Option<String>,
    /// The type of patch being provided; one of [json merge strategic].
    #[arg(long = "type", default_value = "strategic")]
    pub patch_type: String,
    /// If specified, patch will operate on the subresource of the requested object.
    #[arg(long)]
    pub subresource: Option<String>,
    /// Output format: json, yaml or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "unchanged")]
    pub dry_run: Option<String>,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-patch")]
    pub field_manager: String,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
}

/// The patch body as JSON text: YAML (JSON included) is converted, anything else is sent
/// as written for the server to judge.
fn patch_body(text: &str) -> Vec<u8> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return serde_json::to_vec(&v).unwrap_or_else(|_| text.as_bytes().to_vec());
    }
    // YAML as kubectl reads it (YAML 1.1 scalars).
    match crate::manifest::yaml::documents(text)
        .ok()
        .and_then(|d| d.into_iter().next())
    {
        Some(v) if v.is_object() || v.is_array() => {
            serde_json::to_vec(&v).unwrap_or_else(|_| text.as_bytes().to_vec())
        }
        _ => text.as_bytes().to_vec(),
    }
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let dry_run = DryRun::parse(a.dry_run.as_deref())?;
    let content_type = match a.patch_type.as_str() {
        "strategic" => STRATEGIC_PATCH,
        "merge" => MERGE_PATCH,
        "json" => JSON_PATCH,
        other => {
            return Err(Error::client(format!(
                "--type must be one of [json merge strategic], not \"{other}\""
            )))
        }
    };
    let text = match (&a.patch, &a.patch_file) {
        (Some(_), Some(_)) => {
            return Err(Error::client(
                "--patch and --patch-file cannot be specified together",
            ))
        }
        (Some(p), None) => p.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| Error::client(format!("unable to read patch file: {e}")))?,
        (None, None) => {
            return Err(Error::client(
                "must specify --patch or --patch-file containing the contents of the patch",
            ))
        }
    };
    if let Some(s) = &a.subresource {
        if s != "status" && s != "scale" {
            return Err(Error::client(format!(
                "invalid subresource value: \"{s}\". Must be one of [status scale]"
            )));
        }
    }
    let body = patch_body(&text);
    let mut resolver = Resolver::new();
    let targets = targets(ctx, &mut resolver, a).await?;
    let mut report =
        Report::new(a.output.as_deref(), DryRun::None)?.show_managed_fields(a.show_managed_fields);
    let query = write_query(&a.field_manager, None, dry_run, &[]);
    let mut errors = Vec::new();
    for (rt, ns, name) in targets {
        let mut path = rt.object_path(&ns, &name);
        if let Some(s) = &a.subresource {
            path = format!("{path}/{s}");
        }
        let r = patch_one(ctx, &rt, &path, &query, content_type, &body, dry_run).await;
        match r {
            Ok((before, after)) => {
                let op = if before == after {
                    "patched (no change)"
                } else {
                    "patched"
                };
                report.object(&after, op);
            }
            Err(e) => errors.push(e),
        }
    }
    report.finish()?;
    report_errors(errors)
}

async fn targets(
    ctx: &Ctx,
    resolver: &mut Resolver,
    a: &Args,
) -> Result<Vec<(ResourceType, String, String)>> {
    if !a.files.filename.is_empty() {
        let docs = manifest::read(&a.files)?;
        let infos = manifest::resolve(ctx, resolver, docs).await?;
        return Ok(infos
            .into_iter()
            .map(|i| (i.rt, i.namespace, i.name))
            .collect());
    }
    if a.args.is_empty() {
        return Err(Error::usage(
            "patch",
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    let mut out = Vec::new();
    for (rt, names) in get::requests(ctx, resolver, "get", &a.args).await? {
        if names.is_empty() {
            return Err(Error::client(
                "resource(s) were provided, but no name was specified",
            ));
        }
        for n in names {
            out.push((rt.clone(), ctx.namespace.clone(), n));
        }
    }
    Ok(out)
}

/// Returns the object before and after the patch.
async fn patch_one(
    ctx: &Ctx,
    rt: &ResourceType,
    path: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
    dry_run: DryRun,
) -> Result<(Value, Value)> {
    let before = ctx.get_json(path).await?;
    if dry_run == DryRun::Client {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| Error::client(format!("unable to parse patch: {e}")))?;
        let after = match content_type {
            STRATEGIC_PATCH => strategic::apply(
                &before,
                &patch,
                &strategic::GroupVersionKind::new(&rt.group, &rt.version, &rt.kind),
            ),
            MERGE_PATCH => merge_patch::apply(&before, &patch),
            _ => json_patch::apply(&before, &patch),
        }
        .map_err(|e| Error::client(e.status_message()))?;
        return Ok((before, after));
    }
    let reply = ctx
        .request(
            Method::PATCH,
            &format!("{path}{query}"),
            JSON,
            Some((content_type, body.to_vec())),
        )
        .await
        .map_err(|e| match e {
            Error::Server(s) if s.code == 415 => Error::client(format!(
                "{content_type} is not supported by {}, Kind={}: {}",
                rt.api_version(),
                rt.kind,
                s.message
            )),
            other => other,
        })?;
    let after: Value = serde_json::from_slice(&reply)?;
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_patches_become_json() {
        assert_eq!(
            patch_body("data: {a: \"1\"}"),
            br#"{"data":{"a":"1"}}"#.to_vec()
        );
        assert_eq!(patch_body(r#"{"a": 1}"#), br#"{"a":1}"#.to_vec());
        assert_eq!(patch_body("{bad"), b"{bad".to_vec());
    }
}
