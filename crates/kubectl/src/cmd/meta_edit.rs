//! What `kubectl label` and `kubectl annotate` share: both edit one string map under
//! `metadata`, send the difference as a JSON merge patch, and print a line per object.
//! Their messages differ in small ways, which [`Field`] carries.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Map, Value};

use crate::ctx::{Ctx, MERGE_PATCH};
use crate::error::{Error, Result};
use crate::targets::{self, DryRun, Query, Report};

/// Which map is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Field::Labels => "label",
            Field::Annotations => "annotation",
        }
    }
    fn field_manager(self) -> &'static str {
        match self {
            Field::Labels => "fieldManager=kubectl-label",
            Field::Annotations => "fieldManager=kubectl-annotate",
        }
    }
}

/// The flags both commands have. The three whose help names the field get it from
/// each command's `mut_arg`, so the text matches kubectl's word for word.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// TYPE NAME | TYPE/NAME, then KEY_1=VAL_1 ... KEY_N=VAL_N or KEY-.
    pub args: Vec<String>,
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long)]
    pub list: bool,
    /// Select all resources, in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// If true, check the specified action in all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    #[arg(long)]
    pub resource_version: Option<String>,
    /// Output format: json, yaml, name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}

/// Parsed `KEY=VALUE` and `KEY-` arguments.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

/// Parses the changes as kubectl's `parseLabels` / `parseAnnotations` do.
pub fn parse_changes(field: Field, pairs: &[String]) -> Result<Changes> {
    let mut c = Changes::default();
    let mut errors = Vec::new();
    for p in pairs {
        if p.contains('=') {
            match field {
                Field::Labels => {
                    let parts: Vec<&str> = p.split('=').collect();
                    if parts.len() != 2 {
                        return Err(Error::client(format!("invalid label spec: {p}")));
                    }
                    let errs = rkube_apimachinery::selector::label_value_errors(parts[1]);
                    if !errs.is_empty() {
                        return Err(Error::client(format!(
                            "invalid label value: \"{p}\": {}",
                            errs.join(";")
                        )));
                    }
                    c.set.insert(parts[0].into(), parts[1].into());
                }
                Field::Annotations => {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    if k.is_empty() {
                        errors.push(format!("invalid annotation format: {p}"));
                        continue;
                    }
                    c.set.insert(k.into(), v.into());
                }
            }
        } else if let Some(k) = p.strip_suffix('-') {
            c.remove.push(k.into());
        } else {
            match field {
                Field::Labels => return Err(Error::client(format!("unknown label spec: {p}"))),
                Field::Annotations => errors.push(format!("invalid annotation format: {p}")),
            }
        }
    }
    if let Some(e) = errors.into_iter().next() {
        return Err(Error::client(e));
    }
    let both: Vec<&str> = c
        .remove
        .iter()
        .filter(|k| c.set.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !both.is_empty() {
        return Err(Error::client(match field {
            Field::Labels => "can not both modify and remove a label in the same command".into(),
            Field::Annotations => format!(
                "can not both modify and remove the following annotation(s) in the same command: {}",
                both.join(", ")
            ),
        }));
    }
    Ok(c)
}

/// Refuses to change an existing value without `--overwrite`.
fn check_overwrites(field: Field, current: &Map<String, Value>, c: &Changes) -> Result<()> {
    let found: Vec<String> = c
        .set
        .iter()
        .filter_map(|(k, v)| {
            let cur = current.get(k)?.as_str()?;
            (cur != v).then(|| format!("'{k}' already has a value ({cur})"))
        })
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::client(match field {
        Field::Labels => found
            .iter()
            .map(|f| format!("{f}, and --overwrite is false"))
            .collect::<Vec<_>>()
            .join(", "),
        Field::Annotations => format!(
            "--overwrite is false but found the following declared annotation(s): {}",
            found.join("; ")
        ),
    }))
}

/// The JSON merge patch turning `old` into `new` (RFC 7386 diff).
pub fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov @ Value::Object(_)) if nv.is_object() => {
                        patch.insert(k.clone(), merge_diff(ov, nv));
                    }
                    _ => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// Runs `label` or `annotate`.
pub async fn run(ctx: &Ctx, field: Field, o: &Options) -> Result<()> {
    let (resources, pairs) = targets::split_pairs(&o.args, field.noun())?;
    let report = Report::from_flags(o.output.as_deref(), o.dry_run.as_deref())?;
    if o.list && o.output.is_some() {
        return Err(Error::client(
            "--list and --output may not be specified together",
        ));
    }
    if o.all && o.selector.is_some() {
        return Err(Error::client(
            "cannot set --all and --selector at the same time",
        ));
    }
    if o.all && o.field_selector.is_some() {
        return Err(Error::client(
            "cannot set --all and --field-selector at the same time",
        ));
    }
    if resources.is_empty() {
        return Err(Error::client(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
        ));
    }
    let changes = parse_changes(field, &pairs)?;
    if changes.set.is_empty() && changes.remove.is_empty() && !o.list {
        return Err(Error::client(format!(
            "at least one {} update is required",
            field.noun()
        )));
    }
    report.validate()?;
    let sel = targets::select(
        ctx,
        &resources,
        &Query {
            selector: o.selector.as_deref(),
            field_selector: o.field_selector.as_deref(),
            all: o.all,
            all_namespaces: o.all_namespaces,
        },
    )
    .await?;
    let single = sel.single;
    if !single && o.resource_version.is_some() && sel.targets.len() + sel.errors.len() > 1 {
        return Err(Error::client(
            "--resource-version may only be used with a single resource",
        ));
    }
    let mut errors = sel.errors;
    for t in sel.targets {
        if let Err(e) = edit_one(ctx, field, o, &report, &changes, &t, single).await {
            errors.push(e);
        }
    }
    targets::finish(errors)
}

async fn edit_one(
    ctx: &Ctx,
    field: Field,
    o: &Options,
    report: &Report,
    c: &Changes,
    t: &targets::Target,
    single: bool,
) -> Result<()> {
    let mut old = t.obj.clone();
    if o.resource_version.is_some() {
        old["metadata"]["resourceVersion"] = Value::String(String::new());
    }
    let current = old["metadata"][field.key()]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut out = String::new();
    let write = report.dry_run != DryRun::Client && !o.list;
    if write && field == Field::Labels {
        for k in &c.remove {
            if !current.contains_key(k) {
                out.push_str(&format!("{} \"{k}\" not found.\n", field.noun()));
            }
        }
    }
    if !o.overwrite {
        if let Err(e) = check_overwrites(field, &current, c) {
            print!("{out}");
            return Err(e);
        }
    }
    let mut map = current.clone();
    for (k, v) in &c.set {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    for k in &c.remove {
        map.remove(k);
    }
    let mut new = old.clone();
    new["metadata"][field.key()] = Value::Object(map.clone());
    if let Some(rv) = &o.resource_version {
        new["metadata"]["resourceVersion"] = Value::String(rv.clone());
    }
    let message = match field {
        Field::Annotations => "annotated",
        Field::Labels => {
            let (a, b) = (old.to_string(), new.to_string());
            if a == b {
                "not labeled"
            } else if !o.overwrite && b.len() < a.len() {
                "unlabeled"
            } else {
                "labeled"
            }
        }
    };
    if write {
        let patch = merge_diff(&old, &new);
        let path = targets::with_query(
            &t.path(ctx),
            &[field.field_manager(), report.dry_run.query()],
        );
        ctx.send_json(Method::PATCH, &path, MERGE_PATCH, &patch)
            .await?;
    }
    if o.list {
        if !single {
            let group = t.rt.group.as_str();
            out.push_str(&format!(
                "Listing {} for {}.{group}/{}:\n",
                field.key(),
                t.rt.kind,
                t.name()
            ));
        }
        let indent = if single { "" } else { " " };
        for (k, v) in &map {
            out.push_str(&format!("{indent}{k}={}\n", v.as_str().unwrap_or_default()));
        }
        print!("{out}");
        return Ok(());
    }
    out.push_str(&report.render(&t.rt, &new, message));
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn changes_parse_like_kubectl() {
        let c = parse_changes(Field::Labels, &s(&["a=1", "b-"])).unwrap_or_default();
        assert_eq!(c.set.get("a").map(String::as_str), Some("1"));
        assert_eq!(c.remove, ["b"]);
        let e = parse_changes(Field::Labels, &s(&["a=1", "a-"])).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("error: can not both modify and remove a label in the same command")
        );
        let e = parse_changes(Field::Labels, &s(&["x=1=2"])).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("error: invalid label spec: x=1=2")
        );
        let c = parse_changes(Field::Annotations, &s(&["x=1=2"])).unwrap_or_default();
        assert_eq!(c.set.get("x").map(String::as_str), Some("1=2"));
    }

    #[test]
    fn overwrites_are_refused_with_kubectl_text() {
        let cur = json!({"app": "web"});
        let c = parse_changes(Field::Labels, &s(&["app=x"])).unwrap_or_default();
        let e = check_overwrites(Field::Labels, cur.as_object().unwrap_or(&Map::new()), &c);
        assert_eq!(
            e.err().map(|e| e.to_string()).as_deref(),
            Some("error: 'app' already has a value (web), and --overwrite is false")
        );
        let same = parse_changes(Field::Labels, &s(&["app=web"])).unwrap_or_default();
        assert!(
            check_overwrites(Field::Labels, cur.as_object().unwrap_or(&Map::new()), &same).is_ok()
        );
    }

    #[test]
    fn merge_diff_keeps_only_changes() {
        let old = json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}});
        let new = json!({"metadata": {"name": "x", "labels": {"a": "1", "c": "3"}}});
        assert_eq!(
            merge_diff(&old, &new),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}})
        );
    }
}
