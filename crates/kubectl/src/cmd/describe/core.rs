//! Describers for core objects without workloads: Namespace (with its quotas and limit
//! ranges), ConfigMap, Secret, ServiceAccount and PersistentVolumeClaim.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::events::{self, list_all};
use super::util::{arr, quantity, s, string_map};
use super::volumes::print_pvc;
use super::writer::{annotations, conditions, labels, wr, Out};
use super::Settings;
use crate::ctx::Ctx;
use crate::error::Result;

/// Lists a namespace's collection; `None` when the server does not serve it (404).
async fn optional_list(ctx: &Ctx, path: &str, chunk: i64) -> Result<Option<Vec<Value>>> {
    match list_all(ctx, path, "", chunk).await {
        Ok(items) => Ok(Some(items)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn namespace(ctx: &Ctx, ns: &Value, st: &Settings) -> Result<String> {
    let name = s(&ns["metadata"]["name"]);
    let quotas = optional_list(
        ctx,
        &format!("/api/v1/namespaces/{name}/resourcequotas"),
        st.chunk,
    )
    .await?;
    let limits = optional_list(
        ctx,
        &format!("/api/v1/namespaces/{name}/limitranges"),
        st.chunk,
    )
    .await?;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{name}\n");
    labels(&mut w, "Labels", &ns["metadata"]["labels"]);
    annotations(&mut w, "Annotations", &ns["metadata"]["annotations"]);
    wr!(w, 0, "Status:\t{}\n", s(&ns["status"]["phase"]));
    conditions(
        &mut w,
        arr(&ns["status"]["conditions"]),
        "Type\tStatus\tLastTransitionTime\tReason\tMessage",
        "----\t------\t------------------\t------\t-------",
        "\t",
    );
    if let Some(q) = quotas {
        w.write(0, "\n");
        resource_quotas(&q, &mut w);
    }
    if let Some(l) = limits {
        w.write(0, "\n");
        limit_ranges(&l, &mut w);
    }
    Ok(w.finish())
}

pub(super) fn scope_help(scope: &str) -> &'static str {
    match scope {
        "Terminating" => "Matches all pods that have an active deadline. These pods have a limited lifespan on a node before being actively terminated by the system.",
        "NotTerminating" => "Matches all pods that do not have an active deadline. These pods usually include long running pods whose container command is not expected to terminate.",
        "BestEffort" => "Matches all pods that do not have resource requirements set. These pods have a best effort quality of service.",
        "NotBestEffort" => "Matches all pods that have at least one resource requirement set. These pods have a burstable or guaranteed quality of service.",
        _ => "",
    }
}

/// `DescribeResourceQuotas`.
fn resource_quotas(quotas: &[Value], w: &mut Out) {
    if quotas.is_empty() {
        w.write(0, "No resource quota.\n");
        return;
    }
    let mut sorted: Vec<&Value> = quotas.iter().collect();
    sorted.sort_by(|a, b| s(&a["metadata"]["name"]).cmp(s(&b["metadata"]["name"])));
    w.write(0, "Resource Quotas\n");
    for q in sorted {
        wr!(w, 1, "Name:\t{}\n", s(&q["metadata"]["name"]));
        let mut scopes: Vec<&str> = arr(&q["spec"]["scopes"]).iter().map(s).collect();
        if !scopes.is_empty() {
            scopes.sort();
            wr!(w, 1, "Scopes:\t{}\n", scopes.join(", "));
            for scope in &scopes {
                let help = scope_help(scope);
                if !help.is_empty() {
                    wr!(w, 1, "* {help}\n");
                }
            }
        }
        w.write(1, "Resource\tUsed\tHard\n");
        w.write(1, "--------\t---\t---\n");
        let hard: BTreeMap<&String, &Value> = q["status"]["hard"]
            .as_object()
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        for (res, h) in hard {
            let used = &q["status"]["used"][res.as_str()];
            let used = if used.is_null() {
                "0".to_string()
            } else {
                quantity(used)
            };
            wr!(w, 1, "{res}\t{used}\t{}\n", quantity(h));
        }
    }
}

/// `DescribeLimitRanges` (resources in name order; kubectl's map order varies).
fn limit_ranges(ranges: &[Value], w: &mut Out) {
    if ranges.is_empty() {
        w.write(0, "No LimitRange resource.\n");
        return;
    }
    w.write(
        0,
        "Resource Limits\n Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio\n",
    );
    w.write(
        0,
        " ----\t--------\t---\t---\t---------------\t-------------\t-----------------------\n",
    );
    for lr in ranges {
        limit_range_spec(&lr["spec"], " ", w);
    }
}

pub(super) fn limit_range_spec(spec: &Value, prefix: &str, w: &mut Out) {
    let fields = [
        "min",
        "max",
        "defaultRequest",
        "default",
        "maxLimitRequestRatio",
    ];
    for item in arr(&spec["limits"]) {
        let names: BTreeSet<&String> = fields
            .iter()
            .filter_map(|f| item[*f].as_object())
            .flat_map(|m| m.keys())
            .collect();
        for k in names {
            let v = |f: &str| match item[f].get(k.as_str()) {
                Some(q) => quantity(q),
                None => "-".into(),
            };
            wr!(
                w,
                0,
                "{prefix}{}\t{k}\t{}\t{}\t{}\t{}\t{}\n",
                s(&item["type"]),
                v("min"),
                v("max"),
                v("defaultRequest"),
                v("default"),
                v("maxLimitRequestRatio")
            );
        }
    }
}

pub async fn config_map(ctx: &Ctx, cm: &Value, st: &Settings) -> Result<String> {
    let meta = &cm["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    w.write(0, "\nData\n====\n");
    for (k, v) in string_map(&cm["data"]) {
        wr!(w, 0, "{k}:\n----\n");
        wr!(w, 0, "{v}\n");
        w.write(0, "\n");
    }
    w.write(0, "\nBinaryData\n====\n");
    if let Some(m) = cm["binaryData"].as_object() {
        let sorted: BTreeMap<&String, &Value> = m.iter().collect();
        for (k, v) in sorted {
            wr!(w, 0, "{k}: {} bytes\n", decoded_len(s(v)));
        }
    }
    w.write(0, "\n");
    if st.show_events {
        let evs = events::search(ctx, &events::EventRef::of(cm), st.chunk).await?;
        events::describe(&evs, &mut w);
    }
    Ok(w.finish())
}

/// The length of base64 data once decoded.
fn decoded_len(b64: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(|d| d.len())
        .unwrap_or_default()
}

pub fn secret(sec: &Value) -> String {
    let meta = &sec["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    let ty = s(&sec["type"]);
    wr!(w, 0, "\nType:\t{ty}\n");
    w.write(0, "\nData\n====\n");
    if let Some(m) = sec["data"].as_object() {
        let sorted: BTreeMap<&String, &Value> = m.iter().collect();
        for (k, v) in sorted {
            if k == "token" && ty == "kubernetes.io/service-account-token" {
                use base64::Engine;
                let text = base64::engine::general_purpose::STANDARD
                    .decode(s(v))
                    .map(|d| String::from_utf8_lossy(&d).into_owned())
                    .unwrap_or_default();
                wr!(w, 0, "{k}:\t{text}\n");
            } else {
                wr!(w, 0, "{k}:\t{} bytes\n", decoded_len(s(v)));
            }
        }
    }
    w.finish()
}

pub async fn service_account(ctx: &Ctx, sa: &Value, st: &Settings) -> Result<String> {
    let meta = &sa["metadata"];
    let ns = s(&meta["namespace"]);
    let mut tokens: Vec<String> = Vec::new();
    let mut missing: BTreeSet<String> = BTreeSet::new();
    if let Ok(secrets) = list_all(
        ctx,
        &format!("/api/v1/namespaces/{ns}/secrets"),
        "",
        st.chunk,
    )
    .await
    {
        let mut existing = BTreeSet::new();
        for sec in &secrets {
            let ann = &sec["metadata"]["annotations"];
            if s(&sec["type"]) == "kubernetes.io/service-account-token"
                && s(&ann["kubernetes.io/service-account.name"]) == s(&meta["name"])
                && s(&ann["kubernetes.io/service-account.uid"]) == s(&meta["uid"])
            {
                tokens.push(s(&sec["metadata"]["name"]).to_string());
            }
            existing.insert(s(&sec["metadata"]["name"]).to_string());
        }
        for field in ["secrets", "imagePullSecrets"] {
            for r in arr(&sa[field]) {
                if !existing.contains(s(&r["name"])) {
                    missing.insert(s(&r["name"]).to_string());
                }
            }
        }
    }
    let evs = st.events(ctx, sa).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{ns}\n");
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    let names = |field: &str| -> Vec<String> {
        arr(&sa[field])
            .iter()
            .map(|r| s(&r["name"]).to_string())
            .collect()
    };
    let sections = [
        ("Image pull secrets:", names("imagePullSecrets")),
        ("Mountable secrets: ", names("secrets")),
        ("Tokens:            ", tokens),
    ];
    for (header, list) in sections {
        if list.is_empty() {
            wr!(w, 0, "{header}\t<none>\n");
            continue;
        }
        let mut prefix = header;
        for name in list {
            if missing.contains(&name) {
                wr!(w, 0, "{prefix}\t{name} (not found)\n");
            } else {
                wr!(w, 0, "{prefix}\t{name}\n");
            }
            prefix = "                   ";
        }
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn pvc(ctx: &Ctx, pvc: &Value, st: &Settings) -> Result<String> {
    let meta = &pvc["metadata"];
    let ns = s(&meta["namespace"]);
    let name = s(&meta["name"]);
    let pods = list_all(ctx, &format!("/api/v1/namespaces/{ns}/pods"), "", st.chunk).await?;
    let mut users: Vec<&str> = Vec::new();
    for p in &pods {
        for v in arr(&p["spec"]["volumes"]) {
            if s(&v["persistentVolumeClaim"]["claimName"]) == name {
                users.push(s(&p["metadata"]["name"]));
            }
        }
    }
    for owner in arr(&meta["ownerReferences"]) {
        if s(&owner["kind"]) != "Pod" {
            continue;
        }
        if let Some(p) = pods
            .iter()
            .find(|p| s(&p["metadata"]["uid"]) == s(&owner["uid"]))
        {
            let pname = s(&p["metadata"]["name"]);
            if !users.contains(&pname) {
                users.push(pname);
            }
        }
    }
    users.sort();
    let evs = st.events(ctx, pvc).await;
    let mut w = Out::new();
    print_pvc(&mut w, pvc, true);
    w.write(0, "Used By:\t");
    if users.is_empty() {
        w.line("<none>");
    }
    for (n, u) in users.iter().enumerate() {
        if n != 0 {
            w.write(0, "\t");
        }
        wr!(w, 0, "{u}\n");
    }
    conditions(
        &mut w,
        arr(&pvc["status"]["conditions"]),
        "Type\tStatus\tLastProbeTime\tLastTransitionTime\tReason\tMessage",
        "----\t------\t-----------------\t------------------\t------\t-------",
        " \t",
    );
    Ok(events::finish(w, evs.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotas_limits_and_secrets() {
        let mut w = Out::new();
        resource_quotas(
            &[
                json!({"metadata": {"name": "q"}, "status": {"hard": {"pods": "10", "cpu": "2"}, "used": {"pods": "1"}}}),
            ],
            &mut w,
        );
        assert_eq!(
            w.finish(),
            "Resource Quotas\n  Name:     q\n  Resource  Used  Hard\n  --------  ---   ---\n  cpu       0     2\n  pods      1     10\n"
        );
        let sec = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque", "data": {"b": "YWJj", "a": ""}});
        assert_eq!(
            secret(&sec),
            "Name:         s\nNamespace:    d\nLabels:       <none>\nAnnotations:  <none>\n\nType:  Opaque\n\nData\n====\na:  0 bytes\nb:  3 bytes\n"
        );
    }
}
