//! Workload describers: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob.

use serde_json::Value;

use super::containers::{int_or_string, pod_template};
use super::events::{self, list_all};
use super::pod::controller;
use super::util::{arr, format_label_selector, format_labels, i, rfc1123z, s, selector_string};
use super::writer::{annotations, labels, wr, Out};
use super::Settings;
use crate::ctx::{query_escape, Ctx};
use crate::error::Result;

/// `getPodStatusForController`: running / waiting / succeeded / failed pods that match
/// the selector and are controlled by `owner`.
pub async fn pod_status(
    ctx: &Ctx,
    owner: &Value,
    selector: &str,
    chunk: i64,
) -> Result<[usize; 4]> {
    let ns = s(&owner["metadata"]["namespace"]);
    let uid = s(&owner["metadata"]["uid"]);
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let pods = list_all(
        ctx,
        &path,
        &format!("labelSelector={}", query_escape(selector)),
        chunk,
    )
    .await?;
    let mut counts = [0; 4];
    for p in &pods {
        let owned = arr(&p["metadata"]["ownerReferences"])
            .iter()
            .any(|r| r["controller"].as_bool() == Some(true) && s(&r["uid"]) == uid);
        if !owned {
            continue;
        }
        match s(&p["status"]["phase"]) {
            "Running" => counts[0] += 1,
            "Pending" => counts[1] += 1,
            "Succeeded" => counts[2] += 1,
            "Failed" => counts[3] += 1,
            _ => {}
        }
    }
    Ok(counts)
}

pub(super) fn pods_status_line(c: [usize; 4]) -> String {
    format!(
        "{} Running / {} Waiting / {} Succeeded / {} Failed",
        c[0], c[1], c[2], c[3]
    )
}

pub(super) fn conditions_type_status_reason(w: &mut Out, conds: &[Value]) {
    if conds.is_empty() {
        return;
    }
    w.write(0, "Conditions:\n  Type\tStatus\tReason\n");
    w.write(1, "----\t------\t------\n");
    for c in conds {
        wr!(
            w,
            1,
            "{} \t{}\t{}\n",
            s(&c["type"]),
            s(&c["status"]),
            s(&c["reason"])
        );
    }
}

/// Removes `null`s and the pod-template-hash label so templates compare as
/// `EqualIgnoreHash` does.
fn template_key(t: &Value) -> Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let mut t = strip(t);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
        if labels.is_empty() {
            if let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
            }
        }
    }
    t
}

fn rs_list(rss: &[&Value]) -> String {
    if rss.is_empty() {
        return "<none>".into();
    }
    rss.iter()
        .map(|rs| {
            format!(
                "{} ({}/{} replicas created)",
                s(&rs["metadata"]["name"]),
                i(&rs["status"]["replicas"]),
                i(&rs["spec"]["replicas"])
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn deployment(ctx: &Ctx, d: &Value, st: &Settings) -> Result<String> {
    let meta = &d["metadata"];
    let ns = s(&meta["namespace"]);
    let evs = st.events(ctx, d).await;
    let selector = selector_string(&d["spec"]["selector"]);
    // ReplicaSets the deployment controls: the newest with its template is the new one.
    let path = format!("/apis/apps/v1/namespaces/{ns}/replicasets");
    let rss = list_all(
        ctx,
        &path,
        &format!("labelSelector={}", query_escape(&selector)),
        st.chunk,
    )
    .await
    .unwrap_or_default();
    let uid = s(&meta["uid"]);
    let owned: Vec<&Value> = rss
        .iter()
        .filter(|rs| {
            arr(&rs["metadata"]["ownerReferences"])
                .iter()
                .any(|r| r["controller"].as_bool() == Some(true) && s(&r["uid"]) == uid)
        })
        .collect();
    let want = template_key(&d["spec"]["template"]);
    let mut by_age = owned.clone();
    by_age.sort_by(|a, b| {
        s(&a["metadata"]["creationTimestamp"])
            .cmp(s(&b["metadata"]["creationTimestamp"]))
            .then_with(|| s(&a["metadata"]["name"]).cmp(s(&b["metadata"]["name"])))
    });
    let new_rs = by_age
        .iter()
        .find(|rs| template_key(&rs["spec"]["template"]) == want)
        .copied();
    let old: Vec<&Value> = owned
        .iter()
        .filter(|rs| Some(**rs as *const Value) != new_rs.map(|n| n as *const Value))
        .copied()
        .collect();

    let mut w = Out::new();
    let spec = &d["spec"];
    let status = &d["status"];
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{ns}\n");
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(&meta["creationTimestamp"])
    );
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(w, 0, "Selector:\t{selector}\n");
    wr!(
        w,
        0,
        "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable\n",
        i(&spec["replicas"]),
        i(&status["updatedReplicas"]),
        i(&status["replicas"]),
        i(&status["availableReplicas"]),
        i(&status["unavailableReplicas"])
    );
    wr!(w, 0, "StrategyType:\t{}\n", s(&spec["strategy"]["type"]));
    wr!(w, 0, "MinReadySeconds:\t{}\n", i(&spec["minReadySeconds"]));
    let ru = &spec["strategy"]["rollingUpdate"];
    if ru.is_object() {
        wr!(
            w,
            0,
            "RollingUpdateStrategy:\t{} max unavailable, {} max surge\n",
            int_or_string(&ru["maxUnavailable"]),
            int_or_string(&ru["maxSurge"])
        );
    }
    pod_template(&spec["template"], &mut w);
    conditions_type_status_reason(&mut w, arr(&status["conditions"]));
    if !old.is_empty() || new_rs.is_some() {
        wr!(w, 0, "OldReplicaSets:\t{}\n", rs_list(&old));
        wr!(
            w,
            0,
            "NewReplicaSet:\t{}\n",
            rs_list(&new_rs.into_iter().collect::<Vec<_>>())
        );
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn replica_set(ctx: &Ctx, rs: &Value, st: &Settings) -> Result<String> {
    let meta = &rs["metadata"];
    let selector = selector_string(&rs["spec"]["selector"]);
    let counts = pod_status(ctx, rs, &selector, st.chunk).await;
    let evs = st.events(ctx, rs).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    wr!(
        w,
        0,
        "Selector:\t{}\n",
        format_label_selector(&rs["spec"]["selector"])
    );
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    if let Some(c) = controller(rs) {
        wr!(w, 0, "Controlled By:\t{c}\n");
    }
    wr!(
        w,
        0,
        "Replicas:\t{} current / {} desired\n",
        i(&rs["status"]["replicas"]),
        i(&rs["spec"]["replicas"])
    );
    w.write(0, "Pods Status:\t");
    match counts {
        Ok(c) => wr!(w, 0, "{}\n", pods_status_line(c)),
        Err(e) => wr!(w, 0, "error in fetching pods: {e}\n"),
    }
    pod_template(&rs["spec"]["template"], &mut w);
    conditions_type_status_reason(&mut w, arr(&rs["status"]["conditions"]));
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn stateful_set(ctx: &Ctx, ss: &Value, st: &Settings) -> Result<String> {
    let meta = &ss["metadata"];
    let spec = &ss["spec"];
    let selector = selector_string(&spec["selector"]);
    let counts = pod_status(ctx, ss, &selector, st.chunk).await?;
    let evs = st.events(ctx, ss).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(&meta["creationTimestamp"])
    );
    wr!(w, 0, "Selector:\t{selector}\n");
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(
        w,
        0,
        "Replicas:\t{} desired | {} total\n",
        i(&spec["replicas"]),
        i(&ss["status"]["replicas"])
    );
    wr!(
        w,
        0,
        "Update Strategy:\t{}\n",
        s(&spec["updateStrategy"]["type"])
    );
    let ru = &spec["updateStrategy"]["rollingUpdate"];
    if let Some(p) = ru["partition"].as_i64() {
        wr!(w, 1, "Partition:\t{p}\n");
        if !ru["maxUnavailable"].is_null() {
            wr!(
                w,
                1,
                "MaxUnavailable:\t{}\n",
                int_or_string(&ru["maxUnavailable"])
            );
        }
    }
    wr!(w, 0, "Pods Status:\t{}\n", pods_status_line(counts));
    pod_template(&spec["template"], &mut w);
    let claims = arr(&spec["volumeClaimTemplates"]);
    if claims.is_empty() {
        w.write(0, "Volume Claims:\t<none>\n");
    } else {
        w.write(0, "Volume Claims:\n");
        for pvc in claims {
            let m = &pvc["metadata"];
            wr!(w, 1, "Name:\t{}\n", s(&m["name"]));
            let class = match pvc["spec"].get("storageClassName") {
                Some(Value::String(c)) => c.clone(),
                _ => s(&m["annotations"]["volume.beta.kubernetes.io/storage-class"]).to_string(),
            };
            wr!(w, 1, "StorageClass:\t{class}\n");
            let lab = super::util::string_map(&m["labels"]);
            super::writer::labels_with_indent(&mut w, "  ", "Labels", "\t", &lab);
            let ann = super::util::string_map(&m["annotations"]);
            super::writer::labels_with_indent(&mut w, "  ", "Annotations", "\t", &ann);
            match pvc["spec"]["resources"]["requests"].get("storage") {
                Some(q) => wr!(w, 1, "Capacity:\t{}\n", super::util::quantity(q)),
                None => w.write(1, "Capacity:\t<default>\n"),
            }
            let modes: Vec<&str> = arr(&pvc["spec"]["accessModes"]).iter().map(s).collect();
            wr!(w, 1, "Access Modes:\t[{}]\n", modes.join(" "));
        }
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn daemon_set(ctx: &Ctx, ds: &Value, st: &Settings) -> Result<String> {
    let meta = &ds["metadata"];
    let spec = &ds["spec"];
    let status = &ds["status"];
    let selector = selector_string(&spec["selector"]);
    let counts = pod_status(ctx, ds, &selector, st.chunk).await?;
    let evs = st.events(ctx, ds).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Selector:\t{selector}\n");
    wr!(
        w,
        0,
        "Node-Selector:\t{}\n",
        format_labels(&spec["template"]["spec"]["nodeSelector"])
    );
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    for (title, field) in [
        (
            "Desired Number of Nodes Scheduled",
            "desiredNumberScheduled",
        ),
        (
            "Current Number of Nodes Scheduled",
            "currentNumberScheduled",
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Pods",
            "updatedNumberScheduled",
        ),
        (
            "Number of Nodes Scheduled with Available Pods",
            "numberAvailable",
        ),
        ("Number of Nodes Misscheduled", "numberMisscheduled"),
    ] {
        wr!(w, 0, "{title}: {}\n", i(&status[field]));
    }
    wr!(w, 0, "Pods Status:\t{}\n", pods_status_line(counts));
    pod_template(&spec["template"], &mut w);
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn job(ctx: &Ctx, job: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, job).await;
    let meta = &job["metadata"];
    let spec = &job["spec"];
    let status = &job["status"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    wr!(w, 0, "Selector:\t{}\n", selector_string(&spec["selector"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    if let Some(c) = controller(job) {
        wr!(w, 0, "Controlled By:\t{c}\n");
    }
    if let Some(p) = spec["parallelism"].as_i64() {
        wr!(w, 0, "Parallelism:\t{p}\n");
    }
    match spec["completions"].as_i64() {
        Some(c) => wr!(w, 0, "Completions:\t{c}\n"),
        None => w.write(0, "Completions:\t<unset>\n"),
    }
    if spec["completionMode"].is_string() {
        wr!(w, 0, "Completion Mode:\t{}\n", s(&spec["completionMode"]));
    }
    if let Some(b) = spec["suspend"].as_bool() {
        wr!(w, 0, "Suspend:\t{b}\n");
    }
    if let Some(b) = spec["backoffLimit"].as_i64() {
        wr!(w, 0, "Backoff Limit:\t{b}\n");
    }
    if let Some(t) = spec["ttlSecondsAfterFinished"].as_i64() {
        wr!(w, 0, "TTL Seconds After Finished:\t{t}\n");
    }
    if status["startTime"].is_string() {
        wr!(w, 0, "Start Time:\t{}\n", rfc1123z(&status["startTime"]));
    }
    if status["completionTime"].is_string() {
        wr!(
            w,
            0,
            "Completed At:\t{}\n",
            rfc1123z(&status["completionTime"])
        );
    }
    let parse = |v: &Value| v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if let (Some(a), Some(b)) = (
        parse(&status["startTime"]),
        parse(&status["completionTime"]),
    ) {
        let nanos = i64::try_from(b.duration_since(a).as_nanos()).unwrap_or(i64::MAX);
        wr!(
            w,
            0,
            "Duration:\t{}\n",
            rkube_apimachinery::table::human_duration(nanos)
        );
    }
    if let Some(a) = spec["activeDeadlineSeconds"].as_i64() {
        wr!(w, 0, "Active Deadline Seconds:\t{a}s\n");
    }
    let (active, succeeded, failed) = (
        i(&status["active"]),
        i(&status["succeeded"]),
        i(&status["failed"]),
    );
    match status["ready"].as_i64() {
        None => wr!(
            w,
            0,
            "Pods Statuses:\t{active} Active / {succeeded} Succeeded / {failed} Failed\n"
        ),
        Some(r) => wr!(
            w,
            0,
            "Pods Statuses:\t{active} Active ({r} Ready) / {succeeded} Succeeded / {failed} Failed\n"
        ),
    }
    if s(&spec["completionMode"]) == "Indexed" {
        wr!(
            w,
            0,
            "Completed Indexes:\t{}\n",
            cap_indexes(s(&status["completedIndexes"]), 50)
        );
    }
    pod_template(&spec["template"], &mut w);
    Ok(events::finish(w, evs.as_deref()))
}

/// `capIndexesListOrNone`.
fn cap_indexes(indexes: &str, soft_limit: usize) -> String {
    if indexes.is_empty() {
        return "<none>".into();
    }
    let bytes = indexes.as_bytes();
    let mut ix = soft_limit;
    while ix < bytes.len() && bytes[ix] != b',' {
        ix += 1;
    }
    if ix >= bytes.len() {
        return indexes.to_string();
    }
    format!("{}...", &indexes[..=ix])
}

pub async fn cron_job(ctx: &Ctx, cj: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, cj).await;
    let meta = &cj["metadata"];
    let spec = &cj["spec"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(w, 0, "Schedule:\t{}\n", s(&spec["schedule"]));
    wr!(
        w,
        0,
        "Concurrency Policy:\t{}\n",
        s(&spec["concurrencyPolicy"])
    );
    let suspend = match spec["suspend"].as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    wr!(w, 0, "Suspend:\t{suspend}\n");
    for (title, field, unit) in [
        (
            "Successful Job History Limit",
            "successfulJobsHistoryLimit",
            "",
        ),
        ("Failed Job History Limit", "failedJobsHistoryLimit", ""),
        ("Starting Deadline Seconds", "startingDeadlineSeconds", "s"),
    ] {
        match spec[field].as_i64() {
            Some(n) => wr!(w, 0, "{title}:\t{n}{unit}\n"),
            None => wr!(w, 0, "{title}:\t<unset>\n"),
        }
    }
    let jt = &spec["jobTemplate"]["spec"];
    if jt["selector"].is_object() {
        wr!(w, 0, "Selector:\t{}\n", selector_string(&jt["selector"]));
    } else {
        w.write(0, "Selector:\t<unset>\n");
    }
    for (title, field) in [
        ("Parallelism", "parallelism"),
        ("Completions", "completions"),
    ] {
        match jt[field].as_i64() {
            Some(n) => wr!(w, 0, "{title}:\t{n}\n"),
            None => wr!(w, 0, "{title}:\t<unset>\n"),
        }
    }
    if let Some(a) = jt["activeDeadlineSeconds"].as_i64() {
        wr!(w, 0, "Active Deadline Seconds:\t{a}s\n");
    }
    pod_template(&jt["template"], &mut w);
    let last = &cj["status"]["lastScheduleTime"];
    if last.is_string() {
        wr!(w, 0, "Last Schedule Time:\t{}\n", rfc1123z(last));
    } else {
        w.write(0, "Last Schedule Time:\t<unset>\n");
    }
    w.write(0, "Active Jobs:\t");
    let active = arr(&cj["status"]["active"]);
    if active.is_empty() {
        w.line("<none>");
    } else {
        let names: Vec<&str> = active.iter().map(|j| s(&j["name"])).collect();
        w.write(0, &names.join(", "));
        w.line("");
    }
    Ok(events::finish(w, evs.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_compare_without_the_hash_label() {
        let d = json!({"metadata": {"labels": {"app": "web"}, "creationTimestamp": null}, "spec": {"containers": []}});
        let rs = json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"containers": []}});
        assert_eq!(template_key(&d), template_key(&rs));
        assert_eq!(cap_indexes("1,2,3", 1), "1,...");
        assert_eq!(cap_indexes("", 50), "<none>");
        assert_eq!(rs_list(&[]), "<none>");
    }
}
