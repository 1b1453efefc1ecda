//! `kubectl edit TYPE NAME`: the object as YAML (or JSON) in `$KUBE_EDITOR`, `$EDITOR` or
//! vi, then a two-way patch of only what was changed, sent with the `kubectl-edit`
//! field manager.

use std::path::{Path, PathBuf};

use http::Method;

use crate::cmd::get;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::manifest::{self, FileFlags};
use crate::patchgen;
use crate::printer::{self, yaml::to_yaml};
use crate::resource::{Resolver, ResourceType};
use crate::write::{field_validation, report_errors, write_query, DryRun, Report};

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE NAME | TYPE/NAME
    pub args: Vec<String>,
    #[command(flatten)]
    pub files: FileFlags,
    /// Output format for the edited document: yaml (default) or json.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be one of: strict (or true), warn, ignore (or false).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "strict")]
    pub validate: Option<String>,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-edit")]
    pub field_manager: String,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
}

struct Target {
    rt: ResourceType,
    namespace: String,
    name: String,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let validation = field_validation(a.validate.as_deref())?;
    let json_format = match a.output.as_deref() {
        None | Some("yaml") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Error::client(format!(
                "the edit mode {other:?} is not supported; use one of yaml or json"
            )))
        }
    };
    let mut resolver = Resolver::new();
    let targets = targets(ctx, &mut resolver, a).await?;
    let mut originals = Vec::new();
    for t in &targets {
        let mut obj = ctx
            .get_json(&t.rt.object_path(&t.namespace, &t.name))
            .await?;
        if !a.show_managed_fields {
            printer::strip_managed_fields(&mut obj);
        }
        originals.push(obj);
    }
    let doc = if originals.len() == 1 {
        originals[0].clone()
    } else {
        printer::as_list(originals.clone())
    };
    let body = if json_format {
        printer::to_json(&doc)
    } else {
        to_yaml(&doc)
    };
    let text = format!("{HEADER}{body}");
    let file = temp_file(if json_format { "json" } else { "yaml" });
    std::fs::write(&file, &text)
        .map_err(|e| Error::client(format!("writing {}: {e}", file.display())))?;
    run_editor(&file)?;
    let edited = std::fs::read_to_string(&file)
        .map_err(|e| Error::client(format!("reading {}: {e}", file.display())))?;
    let _ = std::fs::remove_file(&file);
    let ext = if json_format { "json" } else { "yaml" };
    let stripped = strip_comments(&edited);
    if stripped == strip_comments(&text) {
        eprintln!("Edit cancelled, no changes made.");
        return Ok(());
    }
    let mut docs = Vec::new();
    // An empty file ends here too (kubectl 1.32 reports it as invalid).
    let decoded = manifest::decode(&stripped, &file.display().to_string(), &mut docs);
    if decoded.is_err() || docs.is_empty() {
        // kubectl reopens the editor with the error; a scripted editor changes nothing
        // more, so this is where it ends up.
        if let Some(t) = targets.first() {
            eprintln!(
                "error: {} \"{}\" is invalid",
                t.rt.qualified_plural(),
                t.name
            );
        }
        let copy = save_copy(&edited, ext)?;
        eprintln!(
            "A copy of your changes has been stored to \"{}\"",
            copy.display()
        );
        return Err(Error::client(
            "Edit cancelled, no valid changes were saved.",
        ));
    }
    if docs.len() != originals.len() {
        return Err(Error::client(
            "the edited file must contain the same objects as the original",
        ));
    }
    let query = write_query(&a.field_manager, Some(validation), DryRun::None, &[]);
    let mut report = Report::new(None, DryRun::None)?;
    let mut errors = Vec::new();
    for ((t, original), d) in targets.iter().zip(&originals).zip(docs) {
        let gvk = (
            t.rt.group.as_str(),
            t.rt.version.as_str(),
            t.rt.kind.as_str(),
        );
        let changed = |k: &str| original[k] != d.obj[k];
        if changed("apiVersion")
            || changed("kind")
            || original["metadata"]["name"] != d.obj["metadata"]["name"]
        {
            let copy = save_copy(&edited, ext)?;
            eprintln!(
                "A copy of your changes has been stored to \"{}\"",
                copy.display()
            );
            errors.push(Error::client(
                "At least one of apiVersion, kind and name was changed",
            ));
            continue;
        }
        let computed = patchgen::two_way(gvk, original, &d.obj).map_err(Error::client)?;
        if computed.is_empty() {
            report.object(original, "skipped");
            continue;
        }
        let path = t.rt.object_path(&t.namespace, &t.name);
        match ctx
            .send_json(
                Method::PATCH,
                &format!("{path}{query}"),
                computed.content_type,
                &computed.patch,
            )
            .await
        {
            Ok(obj) => report.object(&obj, "edited"),
            Err(e) => {
                let msg = match e {
                    Error::Server(s) => s.message,
                    Error::Client(m) => m,
                    other => other.to_string(),
                };
                let copy = save_copy(&edited, ext)?;
                eprintln!(
                    "error: {} \"{}\" could not be patched: {msg}",
                    t.rt.qualified_plural(),
                    t.name
                );
                eprintln!(
                    "You can run `kubectl replace -f {}` to try this update again.",
                    copy.display()
                );
                errors.push(Error::Silent(1));
            }
        }
    }
    report_errors(errors)
}

/// Keeps the edited text for the user after a failure.
fn save_copy(text: &str, ext: &str) -> Result<PathBuf> {
    let p = temp_file(ext);
    std::fs::write(&p, text).map_err(|e| Error::client(format!("writing {}: {e}", p.display())))?;
    Ok(p)
}

/// The text without `#` comment lines, which kubectl ignores when comparing.
fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `$TMPDIR/kubectl-edit-<digits>.<ext>`, as kubectl names its edit files.
fn temp_file(ext: &str) -> PathBuf {
    let dir = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = (n ^ u128::from(std::process::id()) << 20) % 10_000_000_000;
    dir.join(format!("kubectl-edit-{n}.{ext}"))
}

/// Runs the editor on `file`: a command with spaces goes through `$SHELL -c` (bash when
/// unset), as kubectl does.
fn run_editor(file: &Path) -> Result<()> {
    let editor = ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let path = file.display().to_string();
    let mut cmd = if editor.contains(' ') {
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/bash".into());
        let mut c = std::process::Command::new(shell);
        c.arg("-c").arg(format!("{editor} {path}"));
        c
    } else {
        let mut c = std::process::Command::new(&editor);
        c.arg(&path);
        c
    };
    let status = cmd
        .status()
        .map_err(|e| Error::client(format!("unable to launch the editor \"{editor}\": {e}")))?;
    if !status.success() {
        return Err(Error::client(format!(
            "there was a problem with the editor \"{editor}\""
        )));
    }
    Ok(())
}

async fn targets(ctx: &Ctx, resolver: &mut Resolver, a: &Args) -> Result<Vec<Target>> {
    if !a.files.filename.is_empty() {
        let docs = manifest::read(&a.files)?;
        let infos = manifest::resolve(ctx, resolver, docs).await?;
        return Ok(infos
            .into_iter()
            .map(|i| Target {
                rt: i.rt,
                namespace: i.namespace,
                name: i.name,
            })
            .collect());
    }
    if a.args.is_empty() {
        return Err(Error::usage(
            "edit",
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    let mut out = Vec::new();
    for (rt, names) in get::requests(ctx, resolver, "get", &a.args).await? {
        if names.is_empty() {
            let list = ctx
                .get_json(&rt.collection_path(Some(&ctx.namespace)))
                .await?;
            for it in list["items"].as_array().into_iter().flatten() {
                out.push(Target {
                    rt: rt.clone(),
                    namespace: ctx.namespace.clone(),
                    name: it["metadata"]["name"].as_str().unwrap_or_default().into(),
                });
            }
            continue;
        }
        for n in names {
            out.push(Target {
                rt: rt.clone(),
                namespace: ctx.namespace.clone(),
                name: n,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_ignored() {
        assert_eq!(strip_comments("# a\nx: 1\n  # b\ny: 2"), "x: 1\ny: 2\n");
    }
}
