//! `kubectl rollout history` and `kubectl rollout undo`: a Deployment's revisions are its
//! ReplicaSets (`deployment.kubernetes.io/revision`), a DaemonSet's or StatefulSet's are its
//! ControllerRevisions. Only objects the workload controls count.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{json, Value};

use super::{group_kind, selector_string, template, HistoryArgs, UndoArgs};
use crate::ctx::{query_escape, Ctx, JSON_PATCH, STRATEGIC_PATCH};
use crate::error::{Error, Result};
use crate::targets::{self, DryRun, Query, Report, Target};

const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Deployment,
    DaemonSet,
    StatefulSet,
}

fn kind_of(t: &Target) -> Option<Kind> {
    match (t.rt.group.as_str(), t.rt.kind.as_str()) {
        ("apps", "Deployment") => Some(Kind::Deployment),
        ("apps", "DaemonSet") => Some(Kind::DaemonSet),
        ("apps", "StatefulSet") => Some(Kind::StatefulSet),
        _ => None,
    }
}

/// One revision: its number, pod template and the object it came from.
struct Revision {
    template: Value,
    source: Value,
}

fn controlled_by(obj: &Value, owner: &Value) -> bool {
    let uid = &owner["metadata"]["uid"];
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["controller"] == true && r["uid"] == *uid)
}

/// The workload's revisions by number.
async fn revisions(ctx: &Ctx, t: &Target, kind: Kind) -> Result<BTreeMap<i64, Revision>> {
    let ns = t.namespace(ctx);
    let sel = query_escape(&selector_string(&t.obj["spec"]["selector"]));
    let mut out = BTreeMap::new();
    if kind == Kind::Deployment {
        let list = ctx
            .get_json(&format!(
                "/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector={sel}"
            ))
            .await?;
        for rs in list["items"].as_array().into_iter().flatten() {
            if !controlled_by(rs, &t.obj) {
                continue;
            }
            let Some(rev) = rs["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|r| r.parse::<i64>().ok())
            else {
                continue;
            };
            let mut tpl = rs["spec"]["template"].clone();
            if let Some(cause) = rs["metadata"]["annotations"][CHANGE_CAUSE]
                .as_str()
                .filter(|c| !c.is_empty())
            {
                tpl["metadata"]["annotations"][CHANGE_CAUSE] = json!(cause);
            }
            out.insert(
                rev,
                Revision {
                    template: tpl,
                    source: rs.clone(),
                },
            );
        }
        return Ok(out);
    }
    let list = ctx
        .get_json(&format!(
            "/apis/apps/v1/namespaces/{ns}/controllerrevisions?labelSelector={sel}"
        ))
        .await?;
    for cr in list["items"].as_array().into_iter().flatten() {
        if !controlled_by(cr, &t.obj) {
            continue;
        }
        let rev = cr["revision"].as_i64().unwrap_or(0);
        let mut tpl = cr["data"]["spec"]["template"].clone();
        if let Some(m) = tpl.as_object_mut() {
            m.remove("$patch");
        }
        out.insert(
            rev,
            Revision {
                template: tpl,
                source: cr.clone(),
            },
        );
    }
    Ok(out)
}

/// REVISION / CHANGE-CAUSE through Go's tabwriter (minwidth 0, padding 2).
fn table(rows: &[(String, String)], with_cause: bool) -> String {
    if !with_cause {
        let mut s = String::from("REVISION\n");
        for (r, _) in rows {
            s.push_str(&format!("{r}\n"));
        }
        return s;
    }
    let width = rows
        .iter()
        .map(|(r, _)| r.len())
        .chain(std::iter::once("REVISION".len()))
        .max()
        .unwrap_or(0)
        + 2;
    let mut s = format!("{:<width$}CHANGE-CAUSE\n", "REVISION");
    for (r, c) in rows {
        s.push_str(&format!("{r:<width$}{c}\n"));
    }
    s
}

async fn view_history(ctx: &Ctx, t: &Target, revision: i64) -> Result<String> {
    let Some(kind) = kind_of(t) else {
        return Err(Error::client(format!(
            "error retrieving history for \"{}\", no visitor method exists for {{{} {}}}",
            group_kind(&t.rt),
            t.rt.group,
            t.rt.kind
        )));
    };
    let revs = revisions(ctx, t, kind).await?;
    if revs.is_empty() {
        return Ok("No rollout history found.".into());
    }
    if revision > 0 {
        let r = revs
            .get(&revision)
            .ok_or_else(|| Error::client("unable to find the specified revision"))?;
        return Ok(template::describe(&r.template));
    }
    let rows: Vec<(String, String)> = revs
        .iter()
        .map(|(n, r)| {
            let annotations = if kind == Kind::Deployment {
                &r.template["metadata"]["annotations"]
            } else {
                &r.source["metadata"]["annotations"]
            };
            let cause = annotations[CHANGE_CAUSE]
                .as_str()
                .filter(|c| !c.is_empty())
                .unwrap_or("<none>");
            (n.to_string(), cause.to_string())
        })
        .collect();
    Ok(table(&rows, kind != Kind::StatefulSet))
}

pub async fn run_history(ctx: &Ctx, a: &HistoryArgs) -> Result<()> {
    if a.args.is_empty() {
        return Err(Error::client("required resource not specified"));
    }
    if a.revision < 0 {
        return Err(Error::client(format!(
            "revision must be a positive integer: {}",
            a.revision
        )));
    }
    let sel = select(ctx, &a.args, a.selector.as_deref()).await?;
    let mut errors = sel.errors;
    for t in &sel.targets {
        match view_history(ctx, t, a.revision).await {
            Ok(info) => {
                let with = if a.revision > 0 {
                    format!("with revision #{}", a.revision)
                } else {
                    String::new()
                };
                print!("{} {with}\n{info}\n", t.display());
            }
            Err(e) => errors.push(e),
        }
    }
    targets::finish(errors)
}

async fn select(ctx: &Ctx, args: &[String], selector: Option<&str>) -> Result<targets::Selection> {
    let all = args.len() == 1 && !args[0].contains('/');
    targets::select(
        ctx,
        args,
        &Query {
            selector,
            all,
            ..Query::default()
        },
    )
    .await
}

/// A pod template with empty maps and lists dropped, for kubectl's semantic comparison
/// (where nil and empty are equal).
fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| {
                    k.as_str() != "creationTimestamp"
                        && !v.is_null()
                        && !matches!(v, Value::Object(o) if o.is_empty())
                        && !matches!(v, Value::Array(a) if a.is_empty())
                })
                .map(|(k, v)| (k.clone(), normalized(v)))
                .filter(|(_, v)| !matches!(v, Value::Object(o) if o.is_empty()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn without_hash(tpl: &Value) -> Value {
    let mut t = tpl.clone();
    if let Some(l) = t["metadata"]["labels"].as_object_mut() {
        l.remove(HASH_LABEL);
    }
    t
}

/// Rolls `t` back; returns the operation kubectl prints (`rolled back`, `skipped …`).
async fn rollback(ctx: &Ctx, t: &Target, to: i64, dry: DryRun) -> Result<String> {
    let Some(kind) = kind_of(t) else {
        return Err(Error::client(format!(
            "error retrieving rollbacker for \"{}\", no visitor method exists for {{{} {}}}",
            group_kind(&t.rt),
            t.rt.group,
            t.rt.kind
        )));
    };
    if to < 0 {
        return Err(Error::client(format!(
            "unable to find specified revision {to} in history"
        )));
    }
    let obj = ctx.get_json(&t.path(ctx)).await?;
    let t = Target {
        rt: t.rt.clone(),
        obj,
    };
    let revs = revisions(ctx, &t, kind).await?;
    let chosen = if to > 0 {
        revs.get(&to)
    } else if kind != Kind::Deployment && revs.len() <= 1 {
        return Err(Error::client("no last revision to roll back to"));
    } else {
        revs.iter().rev().nth(1).map(|(_, r)| r)
    };
    let Some(rev) = chosen else {
        if to > 0 || kind != Kind::Deployment {
            return Err(Error::client(format!(
                "unable to find specified revision {to} in history"
            )));
        }
        return Err(Error::client(format!(
            "no rollout history found for deployment \"{}\"",
            t.name()
        )));
    };
    if dry == DryRun::Client {
        let text = template::describe(&rev.template);
        return Ok(if kind == Kind::Deployment {
            text
        } else {
            format!("will roll back to {text}")
        });
    }
    if kind == Kind::Deployment && t.obj["spec"]["paused"] == true {
        return Err(Error::client(
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again",
        ));
    }
    let tpl_for_compare = if kind == Kind::Deployment {
        // The change-cause was copied into the template only for display.
        let mut raw = rev.source["spec"]["template"].clone();
        if raw.is_null() {
            raw = rev.template.clone();
        }
        raw
    } else {
        rev.template.clone()
    };
    if normalized(&without_hash(&tpl_for_compare))
        == normalized(&without_hash(&t.obj["spec"]["template"]))
    {
        return Ok(format!(
            "skipped rollback (current template already matches revision {to})"
        ));
    }
    let dry_q = dry.query();
    let path = targets::with_query(&t.path(ctx), &[dry_q]);
    let result = if kind == Kind::Deployment {
        let mut tpl = without_hash(&tpl_for_compare);
        tpl["metadata"]["creationTimestamp"] = Value::Null;
        let skip = [
            "kubectl.kubernetes.io/last-applied-configuration",
            REVISION,
            "deployment.kubernetes.io/revision-history",
            "deployment.kubernetes.io/desired-replicas",
            "deployment.kubernetes.io/max-replicas",
            "deprecated.deployment.rollback.to",
        ];
        let mut annotations = serde_json::Map::new();
        for k in skip {
            if let Some(v) = t.obj["metadata"]["annotations"].get(k) {
                annotations.insert(k.into(), v.clone());
            }
        }
        for (k, v) in rev.source["metadata"]["annotations"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if !skip.contains(&k.as_str()) {
                annotations.insert(k.clone(), v.clone());
            }
        }
        let patch = json!([
            {"op": "replace", "path": "/spec/template", "value": tpl},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]);
        ctx.send_json(Method::PATCH, &path, JSON_PATCH, &patch)
            .await
    } else {
        let patch = rev.source["data"].clone();
        ctx.send_json(Method::PATCH, &path, STRATEGIC_PATCH, &patch)
            .await
    };
    match result {
        Ok(_) => Ok("rolled back".into()),
        Err(e) => Err(Error::client(format!(
            "failed restoring revision {to}: {}",
            match &e {
                Error::Server(s) => s.message.clone(),
                other => other.to_string(),
            }
        ))),
    }
}

pub async fn run_undo(ctx: &Ctx, a: &UndoArgs) -> Result<()> {
    if a.args.is_empty() {
        return Err(Error::client("required resource not specified"));
    }
    let report = Report::from_flags(a.flags.output.as_deref(), a.flags.dry_run.as_deref())?;
    report.validate()?;
    let sel = select(ctx, &a.args, a.flags.selector.as_deref()).await?;
    let mut errors = sel.errors;
    for t in &sel.targets {
        match rollback(ctx, t, a.to_revision, report.dry_run).await {
            Ok(op) => {
                let plain = Report {
                    dry_run: DryRun::None,
                    ..report.clone()
                };
                plain.print(&t.rt, &t.obj, &op);
            }
            Err(e) => errors.push(e),
        }
    }
    targets::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_table_is_aligned_like_kubectl() {
        let rows = vec![
            ("1".to_string(), "<none>".to_string()),
            ("2".to_string(), "v3 release".to_string()),
        ];
        assert_eq!(
            table(&rows, true),
            "REVISION  CHANGE-CAUSE\n1         <none>\n2         v3 release\n"
        );
        assert_eq!(table(&rows, false), "REVISION\n1\n2\n");
    }

    #[test]
    fn templates_compare_ignoring_hash_and_empties() {
        let a = json!({"metadata": {"labels": {"app": "x", "pod-template-hash": "1"}, "creationTimestamp": null},
                       "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let b = json!({"metadata": {"labels": {"app": "x"}, "annotations": {}},
                       "spec": {"containers": [{"name": "c", "image": "i"}]}});
        assert_eq!(normalized(&without_hash(&a)), normalized(&without_hash(&b)));
    }
}
