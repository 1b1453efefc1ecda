//! `kubectl rollout restart|pause|resume`: one strategic merge patch each (field manager
//! `kubectl-rollout`), refused when it would change nothing.

use http::Method;
use serde_json::{json, Value};

use super::SimpleArgs;
use crate::ctx::{Ctx, STRATEGIC_PATCH};
use crate::error::{Error, Result};
use crate::targets::{self, DryRun, Query, Report, Target};

const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Restart,
    Pause,
    Resume,
}

/// The current time as Go's `time.Now().Format(time.RFC3339)` writes it.
fn rfc3339_now() -> String {
    let now = jiff::Zoned::now();
    if now.offset().seconds() == 0 {
        now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The patch for `t`, or kubectl's reason for refusing.
fn patch_for(action: Action, t: &Target, now: &str) -> std::result::Result<Value, String> {
    let kind = (t.rt.group.as_str(), t.rt.kind.as_str());
    let paused = t.obj["spec"]["paused"] == true;
    match action {
        Action::Pause => {
            if kind != ("apps", "Deployment") {
                return Err("pausing is not supported".into());
            }
            if paused {
                return Err("is already paused".into());
            }
            Ok(json!({"spec": {"paused": true}}))
        }
        Action::Resume => {
            if kind != ("apps", "Deployment") {
                return Err("resuming is not supported".into());
            }
            if !paused {
                return Err("is not paused".into());
            }
            Ok(json!({"spec": {"paused": null}}))
        }
        Action::Restart => {
            match kind {
                ("apps", "Deployment") if paused => {
                    return Err("can't restart paused deployment (run rollout resume first)".into())
                }
                ("apps", "Deployment") | ("apps", "DaemonSet") | ("apps", "StatefulSet") => {}
                _ => return Err("restarting is not supported".into()),
            }
            if t.obj["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == now {
                return Ok(Value::Null);
            }
            Ok(json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}))
        }
    }
}

pub async fn run(ctx: &Ctx, action: Action, a: &SimpleArgs) -> Result<()> {
    if a.args.is_empty() && a.flags.selector.is_none() {
        return Err(Error::client(
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    let report = Report::from_flags(a.flags.output.as_deref(), a.flags.dry_run.as_deref())?;
    report.validate()?;
    let all = a.args.len() == 1 && !a.args[0].contains('/');
    let sel = targets::select(
        ctx,
        &a.args,
        &Query {
            selector: a.flags.selector.as_deref(),
            all,
            ..Query::default()
        },
    )
    .await?;
    let now = rfc3339_now();
    let mut errors = sel.errors;
    for t in &sel.targets {
        let patch = match patch_for(action, t, &now) {
            Ok(p) => p,
            Err(why) => {
                errors.push(Error::Client(format!(
                    "{} \"{}\" {why}",
                    t.rt.qualified_plural(),
                    t.name()
                )));
                continue;
            }
        };
        if patch.is_null() {
            errors.push(Error::client(format!(
                "failed to create patch for {}: if restart has already been triggered within the past second, please wait before attempting to trigger another",
                t.name()
            )));
            continue;
        }
        let mut shown = t.obj.clone();
        rkube_apimachinery::patch::merge_patch::merge(&mut shown, &patch);
        if report.dry_run != DryRun::Client {
            let path = targets::with_query(
                &t.path(ctx),
                &["fieldManager=kubectl-rollout", report.dry_run.query()],
            );
            match ctx
                .send_json(Method::PATCH, &path, STRATEGIC_PATCH, &patch)
                .await
            {
                Ok(obj) => shown = obj,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        }
        let op = match action {
            Action::Restart => "restarted",
            Action::Pause => "paused",
            Action::Resume => "resumed",
        };
        report.print(&t.rt, &shown, op);
    }
    targets::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let s = rfc3339_now();
        assert!(s.len() >= 20 && s.contains('T'), "{s}");
    }
}
