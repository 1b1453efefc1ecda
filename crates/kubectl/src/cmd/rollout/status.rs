//! `kubectl rollout status`: follows one object and prints kubectl's status line on
//! every change until the rollout is done (or once, with `--watch=false`).

use std::io::Write;

use serde_json::Value;

use super::watch::{Event, Follower};
use super::{group_kind, parse_duration, StatusArgs};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::targets::{self, Query};

/// Which status rules apply.
#[derive(Clone, Copy)]
enum Viewer {
    Deployment,
    DaemonSet,
    StatefulSet,
}

pub async fn run(ctx: &Ctx, a: &StatusArgs) -> Result<()> {
    if a.args.is_empty() {
        return Err(Error::client("required resource not specified"));
    }
    if a.revision < 0 {
        return Err(Error::client(format!(
            "revision must be a positive integer: {}",
            a.revision
        )));
    }
    let timeout = match &a.timeout {
        Some(t) => parse_duration(t)?.filter(|d| !d.is_zero()),
        None => None,
    };
    let sel = targets::select(
        ctx,
        &a.args,
        &Query {
            selector: a.selector.as_deref(),
            all: a.args.len() == 1 && !a.args[0].contains('/'),
            ..Query::default()
        },
    )
    .await?;
    if let Some(e) = sel.errors.into_iter().next() {
        return Err(e);
    }
    if sel.targets.len() != 1 {
        return Err(Error::client(format!(
            "rollout status is only supported on individual resources and resource collections - {} resources were found",
            sel.targets.len()
        )));
    }
    let t = &sel.targets[0];
    let viewer = match (t.rt.group.as_str(), t.rt.kind.as_str()) {
        ("apps", "Deployment") => Viewer::Deployment,
        ("apps", "DaemonSet") => Viewer::DaemonSet,
        ("apps", "StatefulSet") => Viewer::StatefulSet,
        _ => {
            return Err(Error::client(format!(
                "no status viewer has been implemented for {}",
                group_kind(&t.rt)
            )))
        }
    };
    let ns = t.namespace(ctx).to_string();
    let name = t.name().to_string();
    let follow = async {
        let mut events = Follower::new(ctx, &t.rt, &ns, &name);
        loop {
            let obj = match events.next().await? {
                Event::Deleted => return Err(Error::client("object has been deleted")),
                Event::Upsert(obj) => obj,
            };
            let (msg, done) = status(viewer, &obj, a.revision)?;
            if done {
                print_line(&msg);
                return Ok(());
            }
            print_line(&msg);
            if !a.watch {
                return Ok(());
            }
        }
    };
    match timeout {
        None => follow.await,
        Some(d) => match tokio::time::timeout(d, follow).await {
            Ok(r) => r,
            Err(_) => Err(Error::client("timed out waiting for the condition")),
        },
    }
}

fn print_line(msg: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(msg.as_bytes());
    let _ = out.flush();
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// kubectl's status line for `obj` and whether the rollout is done.
fn status(viewer: Viewer, obj: &Value, revision: i64) -> Result<(String, bool)> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let generation = int(&obj["metadata"]["generation"]);
    let spec = &obj["spec"];
    let st = &obj["status"];
    let observed = int(&st["observedGeneration"]);
    match viewer {
        Viewer::Deployment => {
            if revision > 0 {
                let current = obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap_or_default();
                let current: i64 = current.parse().map_err(|_| {
                    Error::client(format!(
                        "cannot get the revision of deployment \"{name}\": strconv.ParseInt: parsing \"{current}\": invalid syntax"
                    ))
                })?;
                if current != revision {
                    return Err(Error::client(format!(
                        "desired revision ({revision}) is different from the running revision ({current})"
                    )));
                }
            }
            if generation > observed {
                return Ok((
                    "Waiting for deployment spec update to be observed...\n".into(),
                    false,
                ));
            }
            let timed_out =
                st["conditions"].as_array().into_iter().flatten().any(|c| {
                    c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                });
            if timed_out {
                return Err(Error::client(format!(
                    "deployment \"{name}\" exceeded its progress deadline"
                )));
            }
            let updated = int(&st["updatedReplicas"]);
            let replicas = int(&st["replicas"]);
            let available = int(&st["availableReplicas"]);
            let wait = |m: String| {
                Ok((
                    format!("Waiting for deployment \"{name}\" rollout to finish: {m}...\n"),
                    false,
                ))
            };
            if let Some(want) = spec["replicas"].as_i64() {
                if updated < want {
                    return wait(format!(
                        "{updated} out of {want} new replicas have been updated"
                    ));
                }
            }
            if replicas > updated {
                return wait(format!(
                    "{} old replicas are pending termination",
                    replicas - updated
                ));
            }
            if available < updated {
                return wait(format!(
                    "{available} of {updated} updated replicas are available"
                ));
            }
            Ok((
                format!("deployment \"{name}\" successfully rolled out\n"),
                true,
            ))
        }
        Viewer::DaemonSet => {
            if spec["updateStrategy"]["type"] != "RollingUpdate" {
                return Err(Error::client(
                    "rollout status is only available for RollingUpdate strategy type",
                ));
            }
            if generation > observed {
                return Ok((
                    "Waiting for daemon set spec update to be observed...\n".into(),
                    false,
                ));
            }
            let desired = int(&st["desiredNumberScheduled"]);
            let updated = int(&st["updatedNumberScheduled"]);
            let available = int(&st["numberAvailable"]);
            if updated < desired {
                return Ok((format!("Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated...\n"), false));
            }
            if available < desired {
                return Ok((format!("Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available...\n"), false));
            }
            Ok((
                format!("daemon set \"{name}\" successfully rolled out\n"),
                true,
            ))
        }
        Viewer::StatefulSet => {
            if spec["updateStrategy"]["type"] != "RollingUpdate" {
                return Err(Error::client(
                    "rollout status is only available for RollingUpdate strategy type",
                ));
            }
            if observed == 0 || generation > observed {
                return Ok((
                    "Waiting for statefulset spec update to be observed...\n".into(),
                    false,
                ));
            }
            let want = spec["replicas"].as_i64();
            let ready = int(&st["readyReplicas"]);
            if let Some(want) = want {
                if ready < want {
                    return Ok((
                        format!("Waiting for {} pods to be ready...\n", want - ready),
                        false,
                    ));
                }
            }
            let updated = int(&st["updatedReplicas"]);
            let ru = &spec["updateStrategy"]["rollingUpdate"];
            if ru.is_object() {
                if let (Some(want), Some(partition)) = (want, ru["partition"].as_i64()) {
                    if updated < want - partition {
                        return Ok((format!("Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...\n", want - partition), false));
                    }
                }
                return Ok((
                    format!(
                        "partitioned roll out complete: {updated} new pods have been updated...\n"
                    ),
                    true,
                ));
            }
            let update_rev = st["updateRevision"].as_str().unwrap_or_default();
            let current_rev = st["currentRevision"].as_str().unwrap_or_default();
            if update_rev != current_rev {
                return Ok((format!("waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}...\n"), false));
            }
            Ok((
                format!(
                    "statefulset rolling update complete {} pods at revision {current_rev}...\n",
                    int(&st["currentReplicas"])
                ),
                true,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_lines_match_kubectl() {
        let d = |updated: i64, replicas: i64, available: i64| {
            json!({"metadata": {"name": "web", "generation": 2},
                   "spec": {"replicas": 3},
                   "status": {"observedGeneration": 2, "updatedReplicas": updated,
                              "replicas": replicas, "availableReplicas": available}})
        };
        let s = |o: &Value| {
            status(Viewer::Deployment, o, 0)
                .map(|x| x.0)
                .unwrap_or_default()
        };
        assert_eq!(
            s(&d(1, 4, 3)),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
        );
        assert_eq!(
            s(&d(3, 4, 3)),
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
        );
        assert_eq!(
            s(&d(3, 3, 2)),
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n"
        );
        assert_eq!(
            s(&d(3, 3, 3)),
            "deployment \"web\" successfully rolled out\n"
        );
    }
}
