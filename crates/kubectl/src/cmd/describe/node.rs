//! `describe node`: conditions, addresses, capacity, system info, the non-terminated pods
//! with their share of the node's allocatable cpu and memory, and the totals.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::events::{self, list_all, EventRef};
use super::pod::requests_and_limits;
use super::util::{age, arr, quantity, rfc1123z, s, Qty};
use super::writer::{annotations, conditions, labels, taints, wr, Out};
use super::Settings;
use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};

/// `findNodeRoles`.
fn roles(node: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Some(m) = node["metadata"]["labels"].as_object() {
        for (k, v) in m {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    out.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" && !s(v).is_empty() {
                out.insert(s(v).to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// `float64(a)/float64(b)*100` truncated to int64 as Go does on amd64 (NaN and infinities
/// become the smallest int64).
fn percent(a: i128, b: i128) -> i64 {
    if b == 0 {
        return i64::MIN;
    }
    (a as f64 / b as f64 * 100.0) as i64
}

pub async fn describe(ctx: &Ctx, node: &Value, st: &Settings) -> Result<String> {
    let meta = &node["metadata"];
    let name = s(&meta["name"]);
    let selector = format!("spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed");
    let pods = match list_all(
        ctx,
        "/api/v1/pods",
        &format!("fieldSelector={}", query_escape(&selector)),
        st.chunk,
    )
    .await
    {
        Ok(p) => Some(p),
        Err(Error::Server(e)) if e.code == 403 => None,
        Err(e) => return Err(e),
    };
    let evs = if st.show_events {
        let mut r = EventRef::of(node);
        let by_uid = events::search(ctx, &r, st.chunk).await.unwrap_or_default();
        r.uid = Some(name);
        let by_name = events::search(ctx, &r, st.chunk).await.unwrap_or_default();
        Some(events::merged(by_uid, by_name))
    } else {
        None
    };
    let lease = ctx
        .get_json(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        ))
        .await;

    let mut w = Out::new();
    let spec = &node["spec"];
    let status = &node["status"];
    wr!(w, 0, "Name:\t{name}\n");
    let r = roles(node);
    wr!(
        w,
        0,
        "Roles:\t{}\n",
        if r.is_empty() {
            "<none>".into()
        } else {
            r.join(",")
        }
    );
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(&meta["creationTimestamp"])
    );
    taints(&mut w, "Taints", &spec["taints"]);
    wr!(
        w,
        0,
        "Unschedulable:\t{}\n",
        spec["unschedulable"].as_bool().unwrap_or(false)
    );
    match lease {
        Ok(l) => {
            w.write(0, "Lease:\n");
            let hs = &l["spec"];
            let holder = hs["holderIdentity"].as_str().unwrap_or("<unset>");
            wr!(w, 1, "HolderIdentity:\t{holder}\n");
            for (title, field) in [("AcquireTime", "acquireTime"), ("RenewTime", "renewTime")] {
                let t = if hs[field].is_string() {
                    rfc1123z(&hs[field])
                } else {
                    "<unset>".into()
                };
                wr!(w, 1, "{title}:\t{t}\n");
            }
        }
        Err(e) => {
            let msg = match e {
                Error::Server(st) => st.message,
                other => other.to_string(),
            };
            wr!(w, 0, "Lease:\tFailed to get lease: {msg}\n");
        }
    }
    conditions(
        &mut w,
        arr(&status["conditions"]),
        "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage",
        "----\t------\t-----------------\t------------------\t------\t-------",
        " \t",
    );
    w.write(0, "Addresses:\n");
    for a in arr(&status["addresses"]) {
        wr!(w, 1, "{}:\t{}\n", s(&a["type"]), s(&a["address"]));
    }
    for (field, title) in [("capacity", "Capacity"), ("allocatable", "Allocatable")] {
        if let Some(m) = status[field].as_object().filter(|m| !m.is_empty()) {
            wr!(w, 0, "{title}:\n");
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            for (k, v) in sorted {
                wr!(w, 0, "  {k}:\t{}\n", quantity(v));
            }
        }
    }
    let info = &status["nodeInfo"];
    w.write(0, "System Info:\n");
    for (title, field) in [
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ] {
        wr!(w, 0, "  {title}:\t{}\n", s(&info[field]));
    }
    if !s(&spec["podCIDR"]).is_empty() {
        wr!(w, 0, "PodCIDR:\t{}\n", s(&spec["podCIDR"]));
    }
    let cidrs: Vec<&str> = arr(&spec["podCIDRs"]).iter().map(s).collect();
    if !cidrs.is_empty() {
        wr!(w, 0, "PodCIDRs:\t{}\n", cidrs.join(","));
    }
    if !s(&spec["providerID"]).is_empty() {
        wr!(w, 0, "ProviderID:\t{}\n", s(&spec["providerID"]));
    }
    match &pods {
        Some(pods) => node_resources(pods, node, &mut w),
        None => w.write(0, "Pods:\tnot authorized\n"),
    }
    Ok(events::finish(w, evs.as_deref()))
}

/// `describeNodeResource`.
fn node_resources(pods: &[Value], node: &Value, w: &mut Out) {
    wr!(w, 0, "Non-terminated Pods:\t({} in total)\n", pods.len());
    w.write(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n",
    );
    w.write(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n",
    );
    let status = &node["status"];
    let alloc = match status["allocatable"].as_object() {
        Some(m) if !m.is_empty() => &status["allocatable"],
        _ => &status["capacity"],
    };
    let alloc_q = |k: &str| Qty::parse(&alloc[k]);
    let (cpu_alloc, mem_alloc) = (alloc_q("cpu").milli, alloc_q("memory").value());
    let get = |m: &BTreeMap<String, Qty>, k: &str| m.get(k).copied().unwrap_or_default();
    let mut total_req: BTreeMap<String, Qty> = BTreeMap::new();
    let mut total_lim: BTreeMap<String, Qty> = BTreeMap::new();
    for pod in pods {
        let (req, lim) = requests_and_limits(pod);
        let (cr, cl, mr, ml) = (
            get(&req, "cpu"),
            get(&lim, "cpu"),
            get(&req, "memory"),
            get(&lim, "memory"),
        );
        wr!(
            w,
            1,
            "{}\t{}\t\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{}\n",
            s(&pod["metadata"]["namespace"]),
            s(&pod["metadata"]["name"]),
            cr,
            percent(cr.milli, cpu_alloc),
            cl,
            percent(cl.milli, cpu_alloc),
            mr,
            percent(mr.value(), mem_alloc),
            ml,
            percent(ml.value(), mem_alloc),
            age(&pod["metadata"]["creationTimestamp"])
        );
        for (k, q) in req {
            let e = total_req.entry(k).or_default();
            *e = e.add(q);
        }
        for (k, q) in lim {
            let e = total_lim.entry(k).or_default();
            *e = e.add(q);
        }
    }
    w.write(
        0,
        "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n",
    );
    w.write(1, "Resource\tRequests\tLimits\n");
    w.write(1, "--------\t--------\t------\n");
    let guarded = |a: i128, b: i128| if b == 0 { 0 } else { percent(a, b) };
    let (cr, cl) = (get(&total_req, "cpu"), get(&total_lim, "cpu"));
    wr!(
        w,
        1,
        "cpu\t{cr} ({}%)\t{cl} ({}%)\n",
        guarded(cr.milli, cpu_alloc),
        guarded(cl.milli, cpu_alloc)
    );
    let names: Vec<&String> = alloc
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let mut huge: Vec<&str> = names
        .iter()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("hugepages-"))
        .collect();
    huge.sort();
    for res in ["memory", "ephemeral-storage"].into_iter().chain(huge) {
        let (r, l) = (get(&total_req, res), get(&total_lim, res));
        let a = alloc_q(res).value();
        wr!(
            w,
            1,
            "{res}\t{r} ({}%)\t{l} ({}%)\n",
            guarded(r.value(), a),
            guarded(l.value(), a)
        );
    }
    let mut ext: Vec<&String> = names
        .iter()
        .filter(|n| {
            !n.starts_with("hugepages-")
                && !["cpu", "memory", "ephemeral-storage", "pods"].contains(&n.as_str())
        })
        .copied()
        .collect();
    ext.sort();
    for res in ext {
        wr!(
            w,
            1,
            "{res}\t{}\t{}\n",
            get(&total_req, res),
            get(&total_lim, res)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_and_resource_table() {
        let node = json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "x"}},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110", "example.com/gpu": "1"}}});
        assert_eq!(roles(&node), vec!["control-plane", "x"]);
        let pods = vec![
            json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}}),
        ];
        let mut w = Out::new();
        node_resources(&pods, &node, &mut w);
        let out = w.finish();
        for line in [
            "  d                   p       500m (25%)    0 (0%)      256Mi (25%)      0 (0%)         <unknown>\n",
            "  cpu                500m (25%)   0 (0%)\n",
            "  memory             256Mi (25%)  0 (0%)\n",
            "  example.com/gpu    0            0\n",
        ] {
            assert!(out.contains(line), "{line:?} in:\n{out}");
        }
        assert_eq!(percent(1, 0), i64::MIN);
    }
}
