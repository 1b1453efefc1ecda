//! Describers for policy-like objects: ResourceQuota, LimitRange, PodDisruptionBudget,
//! PriorityClass, RoleBinding / ClusterRoleBinding, HorizontalPodAutoscaler and
//! ReplicationController.

use std::collections::BTreeMap;

use serde_json::Value;

use super::containers::{int_or_string, pod_template};
use super::core::{limit_range_spec, scope_help};
use super::events;
use super::util::{arr, format_label_selector, format_labels, i, rfc1123z, s, Qty};
use super::workloads::{conditions_type_status_reason, pod_status, pods_status_line};
use super::writer::{annotations, conditions, labels, wr, Out};
use super::Settings;
use crate::ctx::Ctx;
use crate::error::Result;

pub fn resource_quota(q: &Value) -> String {
    let meta = &q["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    let mut scopes: Vec<&str> = arr(&q["spec"]["scopes"]).iter().map(s).collect();
    if !scopes.is_empty() {
        scopes.sort();
        wr!(w, 0, "Scopes:\t{}\n", scopes.join(", "));
        for scope in &scopes {
            let help = scope_help(scope);
            if !help.is_empty() {
                wr!(w, 0, " * {help}\n");
            }
        }
    }
    w.write(0, "Resource\tUsed\tHard\n");
    w.write(0, "--------\t----\t----\n");
    let hard: BTreeMap<&String, &Value> = q["status"]["hard"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    for (res, h) in hard {
        let hard_q = Qty::parse(h);
        let used_v = &q["status"]["used"][res.as_str()];
        let used_q = Qty::parse(used_v);
        // A used amount in another format is re-expressed in the hard limit's format.
        let used = if used_v.is_null() || used_q.binary != hard_q.binary {
            Qty {
                milli: used_q.value() * 1000,
                binary: hard_q.binary,
                set: true,
            }
            .to_string()
        } else {
            super::util::quantity(used_v)
        };
        wr!(w, 0, "{res}\t{used}\t{}\n", super::util::quantity(h));
    }
    w.finish()
}

pub fn limit_range(lr: &Value) -> String {
    let meta = &lr["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    w.write(
        0,
        "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio\n",
    );
    w.write(
        0,
        "----\t--------\t---\t---\t---------------\t-------------\t-----------------------\n",
    );
    limit_range_spec(&lr["spec"], "", &mut w);
    w.finish()
}

pub async fn pod_disruption_budget(ctx: &Ctx, pdb: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, pdb).await;
    let meta = &pdb["metadata"];
    let spec = &pdb["spec"];
    let status = &pdb["status"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    if !spec["minAvailable"].is_null() {
        wr!(
            w,
            0,
            "Min available:\t{}\n",
            int_or_string(&spec["minAvailable"])
        );
    } else if !spec["maxUnavailable"].is_null() {
        wr!(
            w,
            0,
            "Max unavailable:\t{}\n",
            int_or_string(&spec["maxUnavailable"])
        );
    }
    if spec["selector"].is_object() {
        wr!(
            w,
            0,
            "Selector:\t{}\n",
            format_label_selector(&spec["selector"])
        );
    } else {
        w.write(0, "Selector:\t<unset>\n");
    }
    w.write(0, "Status:\n");
    wr!(
        w,
        2,
        "Allowed disruptions:\t{}\n",
        i(&status["disruptionsAllowed"])
    );
    wr!(w, 2, "Current:\t{}\n", i(&status["currentHealthy"]));
    wr!(w, 2, "Desired:\t{}\n", i(&status["desiredHealthy"]));
    wr!(w, 2, "Total:\t{}\n", i(&status["expectedPods"]));
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn priority_class(ctx: &Ctx, pc: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, pc).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&pc["metadata"]["name"]));
    wr!(w, 0, "Value:\t{}\n", i(&pc["value"]));
    wr!(
        w,
        0,
        "GlobalDefault:\t{}\n",
        pc["globalDefault"].as_bool().unwrap_or(false)
    );
    wr!(w, 0, "PreemptionPolicy:\t{}\n", s(&pc["preemptionPolicy"]));
    wr!(w, 0, "Description:\t{}\n", s(&pc["description"]));
    wr!(
        w,
        0,
        "Annotations:\t{}\n",
        format_labels(&pc["metadata"]["annotations"])
    );
    Ok(events::finish(w, evs.as_deref()))
}

/// RoleBinding and ClusterRoleBinding.
pub fn binding(b: &Value) -> String {
    let meta = &b["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    w.write(0, "Role:\n");
    wr!(w, 1, "Kind:\t{}\n", s(&b["roleRef"]["kind"]));
    wr!(w, 1, "Name:\t{}\n", s(&b["roleRef"]["name"]));
    w.write(0, "Subjects:\n");
    w.write(1, "Kind\tName\tNamespace\n");
    w.write(1, "----\t----\t---------\n");
    for sub in arr(&b["subjects"]) {
        wr!(
            w,
            1,
            "{}\t{}\t{}\n",
            s(&sub["kind"]),
            s(&sub["name"]),
            s(&sub["namespace"])
        );
    }
    w.finish()
}

/// One rule after `BreakdownRule`, as the lists kubectl keeps.
#[derive(Clone, Default)]
struct Rule {
    verbs: Vec<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    urls: Vec<String>,
}

impl Rule {
    /// The generated `PolicyRule.String()`, which orders the compacted rules.
    fn sort_key(&self) -> String {
        let l = |v: &[String]| format!("[{}]", v.join(" "));
        format!(
            "&PolicyRule{{Verbs:{},APIGroups:{},Resources:{},ResourceNames:{},NonResourceURLs:{},}}",
            l(&self.verbs),
            l(&self.groups),
            l(&self.resources),
            l(&self.names),
            l(&self.urls)
        )
    }
}

fn strings(v: &Value) -> Vec<String> {
    arr(v).iter().map(|x| s(x).to_string()).collect()
}

/// `BreakdownRule` then `CompactRules` then the stable sort kubectl applies.
fn compact_rules(rules: &[Value]) -> Vec<Rule> {
    let mut broken = Vec::new();
    for r in rules {
        let verbs = strings(&r["verbs"]);
        let names = strings(&r["resourceNames"]);
        for g in strings(&r["apiGroups"]) {
            for res in strings(&r["resources"]) {
                let base = Rule {
                    verbs: verbs.clone(),
                    groups: vec![g.clone()],
                    resources: vec![res.clone()],
                    ..Rule::default()
                };
                if names.is_empty() {
                    broken.push(base);
                } else {
                    for n in &names {
                        broken.push(Rule {
                            names: vec![n.clone()],
                            ..base.clone()
                        });
                    }
                }
            }
        }
        for u in strings(&r["nonResourceURLs"]) {
            broken.push(Rule {
                verbs: verbs.clone(),
                urls: vec![u],
                ..Rule::default()
            });
        }
    }
    let mut compacted: Vec<Rule> = Vec::new();
    // Keyed by (group, resource, resource name), in first-seen order.
    type SimpleKey = (String, String, Option<String>);
    let mut simple: Vec<(SimpleKey, Rule)> = Vec::new();
    for r in broken {
        let is_simple = r.groups.len() == 1
            && r.resources.len() == 1
            && r.names.len() <= 1
            && r.urls.is_empty();
        if !is_simple {
            compacted.push(r);
            continue;
        }
        let key = (
            r.groups[0].clone(),
            r.resources[0].clone(),
            r.names.first().cloned(),
        );
        match simple.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => existing.verbs.extend(r.verbs),
            None => simple.push((key, r)),
        }
    }
    compacted.extend(simple.into_iter().map(|(_, r)| r));
    compacted.sort_by_key(Rule::sort_key);
    compacted
}

/// `CombineResourceGroup`: `resource.group/subresource`.
fn combine_resource_group(resources: &[String], groups: &[String]) -> String {
    let Some(first) = resources.first() else {
        return String::new();
    };
    let (res, sub) = match first.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (first.as_str(), None),
    };
    let mut out = res.to_string();
    if let Some(g) = groups.first().filter(|g| !g.is_empty()) {
        out = format!("{out}.{g}");
    }
    if let Some(sub) = sub {
        out = format!("{out}/{sub}");
    }
    out
}

/// Role and ClusterRole.
pub fn role(r: &Value) -> String {
    let meta = &r["metadata"];
    let rules = compact_rules(arr(&r["rules"]));
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    w.write(0, "PolicyRule:\n");
    w.write(1, "Resources\tNon-Resource URLs\tResource Names\tVerbs\n");
    w.write(1, "---------\t-----------------\t--------------\t-----\n");
    let l = |v: &[String]| format!("[{}]", v.join(" "));
    for rule in rules {
        wr!(
            w,
            1,
            "{}\t{}\t{}\t{}\n",
            combine_resource_group(&rule.resources, &rule.groups),
            l(&rule.urls),
            l(&rule.names),
            l(&rule.verbs)
        );
    }
    w.finish()
}

pub async fn replication_controller(ctx: &Ctx, rc: &Value, st: &Settings) -> Result<String> {
    let meta = &rc["metadata"];
    let sel = &rc["spec"]["selector"];
    let selector = format_labels(sel);
    let pod_selector = if sel.as_object().is_some_and(|m| !m.is_empty()) {
        &selector
    } else {
        ""
    };
    let counts = pod_status(ctx, rc, pod_selector, st.chunk).await?;
    let evs = st.events(ctx, rc).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    wr!(w, 0, "Selector:\t{selector}\n");
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(
        w,
        0,
        "Replicas:\t{} current / {} desired\n",
        i(&rc["status"]["replicas"]),
        i(&rc["spec"]["replicas"])
    );
    wr!(w, 0, "Pods Status:\t{}\n", pods_status_line(counts));
    pod_template(&rc["spec"]["template"], &mut w);
    conditions_type_status_reason(&mut w, arr(&rc["status"]["conditions"]));
    Ok(events::finish(w, evs.as_deref()))
}

/// A metric's current value (`<unknown>` without status) for the HPA table.
fn current(hpa: &Value, n: usize, kind: &str, field: &str) -> String {
    let cur = &hpa["status"]["currentMetrics"][n][kind]["current"][field];
    if cur.is_null() {
        "<unknown>".into()
    } else {
        super::util::quantity(cur)
    }
}

/// `describeHorizontalPodAutoscalerV2`.
pub async fn hpa(ctx: &Ctx, hpa: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, hpa).await;
    let meta = &hpa["metadata"];
    let spec = &hpa["spec"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(&meta["creationTimestamp"])
    );
    let target = &spec["scaleTargetRef"];
    wr!(
        w,
        0,
        "Reference:\t{}/{}\n",
        s(&target["kind"]),
        s(&target["name"])
    );
    w.write(0, "Metrics:\t( current / target )\n");
    for (n, m) in arr(&spec["metrics"]).iter().enumerate() {
        match s(&m["type"]) {
            "Resource" | "ContainerResource" => {
                let (key, r) = if s(&m["type"]) == "Resource" {
                    ("resource", &m["resource"])
                } else {
                    ("containerResource", &m["containerResource"])
                };
                if key == "resource" {
                    wr!(w, 1, "resource {} on pods", s(&r["name"]));
                } else {
                    wr!(
                        w,
                        1,
                        "resource {} of container \"{}\" on pods",
                        s(&r["name"]),
                        s(&r["container"])
                    );
                }
                if !r["target"]["averageValue"].is_null() {
                    wr!(
                        w,
                        0,
                        ":\t{} / {}\n",
                        current(hpa, n, key, "averageValue"),
                        super::util::quantity(&r["target"]["averageValue"])
                    );
                } else {
                    let cur = &hpa["status"]["currentMetrics"][n][key]["current"];
                    let current = match cur["averageUtilization"].as_i64() {
                        Some(u) => {
                            format!("{u}% ({})", super::util::quantity(&cur["averageValue"]))
                        }
                        None => "<unknown>".into(),
                    };
                    let t = match r["target"]["averageUtilization"].as_i64() {
                        Some(u) => format!("{u}%"),
                        None => "<auto>".into(),
                    };
                    wr!(w, 1, "(as a percentage of request):\t{current} / {t}\n");
                }
            }
            "Pods" => wr!(
                w,
                1,
                "\"{}\" on pods:\t{} / {}\n",
                s(&m["pods"]["metric"]["name"]),
                current(hpa, n, "pods", "averageValue"),
                super::util::quantity(&m["pods"]["target"]["averageValue"])
            ),
            other => wr!(w, 1, "<unknown metric type \"{other}\">\n"),
        }
    }
    let min = spec["minReplicas"]
        .as_i64()
        .map(|m| m.to_string())
        .unwrap_or_else(|| "<unset>".into());
    wr!(w, 0, "Min replicas:\t{min}\n");
    wr!(w, 0, "Max replicas:\t{}\n", i(&spec["maxReplicas"]));
    if spec["behavior"].is_object() {
        w.write(0, "Behavior:\n");
        for (title, field) in [("Scale Up", "scaleUp"), ("Scale Down", "scaleDown")] {
            let r = &spec["behavior"][field];
            if !r.is_object() {
                continue;
            }
            wr!(w, 1, "{title}:\n");
            if let Some(win) = r["stabilizationWindowSeconds"].as_i64() {
                wr!(w, 2, "Stabilization Window: {win} seconds\n");
            }
            let policies = arr(&r["policies"]);
            if !policies.is_empty() {
                let select = r["selectPolicy"].as_str().unwrap_or("Max");
                wr!(w, 2, "Select Policy: {select}\n");
                w.write(2, "Policies:\n");
                for p in policies {
                    wr!(
                        w,
                        3,
                        "- Type: {}\tValue: {}\tPeriod: {} seconds\n",
                        s(&p["type"]),
                        i(&p["value"]),
                        i(&p["periodSeconds"])
                    );
                }
            }
        }
    }
    wr!(w, 0, "{} pods:\t", s(&target["kind"]));
    wr!(
        w,
        0,
        "{} current / {} desired\n",
        i(&hpa["status"]["currentReplicas"]),
        i(&hpa["status"]["desiredReplicas"])
    );
    conditions(
        &mut w,
        arr(&hpa["status"]["conditions"]),
        "Type\tStatus\tReason\tMessage",
        "----\t------\t------\t-------",
        "\t",
    );
    Ok(events::finish(w, evs.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quota_used_takes_the_hard_format() {
        let q = json!({"metadata": {"name": "q", "namespace": "d"},
            "status": {"hard": {"requests.memory": "1Gi", "pods": "10"}, "used": {"requests.memory": "134217728"}}});
        let out = resource_quota(&q);
        assert!(out.contains("pods             0      10\n"), "{out}");
        assert!(out.contains("requests.memory  128Mi  1Gi\n"), "{out}");
    }
}
