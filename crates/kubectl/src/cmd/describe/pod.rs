//! `describe pod`.

use serde_json::Value;

use super::containers::describe_containers;
use super::util::{age, arr, i, rfc1123z, s, Qty};
use super::writer::{annotations, labels, tolerations, wr, Out};
use super::{events, volumes};

/// `printController`: `Kind/name` of the controlling owner, if any.
pub fn controller(obj: &Value) -> Option<String> {
    arr(&obj["metadata"]["ownerReferences"])
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .map(|r| format!("{}/{}", s(&r["kind"]), s(&r["name"])))
}

pub fn describe(pod: &Value, evs: Option<&[Value]>) -> String {
    let mut w = Out::new();
    let meta = &pod["metadata"];
    let spec = &pod["spec"];
    let status = &pod["status"];
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    if let Some(p) = spec["priority"].as_i64() {
        wr!(w, 0, "Priority:\t{p}\n");
    }
    if !s(&spec["priorityClassName"]).is_empty() {
        wr!(
            w,
            0,
            "Priority Class Name:\t{}\n",
            s(&spec["priorityClassName"])
        );
    }
    if !s(&spec["runtimeClassName"]).is_empty() {
        wr!(
            w,
            0,
            "Runtime Class Name:\t{}\n",
            s(&spec["runtimeClassName"])
        );
    }
    if !s(&spec["serviceAccountName"]).is_empty() {
        wr!(
            w,
            0,
            "Service Account:\t{}\n",
            s(&spec["serviceAccountName"])
        );
    }
    if s(&spec["nodeName"]).is_empty() {
        w.write(0, "Node:\t<none>\n");
    } else {
        wr!(
            w,
            0,
            "Node:\t{}/{}\n",
            s(&spec["nodeName"]),
            s(&status["hostIP"])
        );
    }
    if status["startTime"].is_string() {
        wr!(w, 0, "Start Time:\t{}\n", rfc1123z(&status["startTime"]));
    }
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    let phase = s(&status["phase"]);
    if meta["deletionTimestamp"].is_string() && phase != "Failed" && phase != "Succeeded" {
        wr!(
            w,
            0,
            "Status:\tTerminating (lasts {})\n",
            age(&meta["deletionTimestamp"])
        );
        wr!(
            w,
            0,
            "Termination Grace Period:\t{}s\n",
            i(&meta["deletionGracePeriodSeconds"])
        );
    } else {
        wr!(w, 0, "Status:\t{phase}\n");
    }
    if !s(&status["reason"]).is_empty() {
        wr!(w, 0, "Reason:\t{}\n", s(&status["reason"]));
    }
    if !s(&status["message"]).is_empty() {
        wr!(w, 0, "Message:\t{}\n", s(&status["message"]));
    }
    let seccomp = &spec["securityContext"]["seccompProfile"];
    if seccomp.is_object() {
        wr!(w, 0, "SeccompProfile:\t{}\n", s(&seccomp["type"]));
        if s(&seccomp["type"]) == "Localhost" {
            wr!(
                w,
                0,
                "LocalhostProfile:\t{}\n",
                s(&seccomp["localhostProfile"])
            );
        }
    }
    wr!(w, 0, "IP:\t{}\n", s(&status["podIP"]));
    let ips = arr(&status["podIPs"]);
    if ips.is_empty() {
        w.write(0, "IPs:\t<none>\n");
    } else {
        w.write(0, "IPs:\n");
        for ip in ips {
            wr!(w, 1, "IP:\t{}\n", s(&ip["ip"]));
        }
    }
    if let Some(c) = controller(pod) {
        wr!(w, 0, "Controlled By:\t{c}\n");
    }
    if !s(&status["nominatedNodeName"]).is_empty() {
        wr!(
            w,
            0,
            "NominatedNodeName:\t{}\n",
            s(&status["nominatedNodeName"])
        );
    }
    if spec["resources"].is_object() {
        w.write(0, "Resources:\n");
        super::containers::resources(&spec["resources"], &mut w, 1);
    }
    if !arr(&spec["initContainers"]).is_empty() {
        describe_containers(
            "Init Containers",
            arr(&spec["initContainers"]),
            arr(&status["initContainerStatuses"]),
            Some(pod),
            &mut w,
            "",
        );
    }
    describe_containers(
        "Containers",
        arr(&spec["containers"]),
        arr(&status["containerStatuses"]),
        Some(pod),
        &mut w,
        "",
    );
    if !arr(&spec["ephemeralContainers"]).is_empty() {
        describe_containers(
            "Ephemeral Containers",
            arr(&spec["ephemeralContainers"]),
            arr(&status["ephemeralContainerStatuses"]),
            Some(pod),
            &mut w,
            "",
        );
    }
    let conditions = arr(&status["conditions"]);
    let gates = arr(&spec["readinessGates"]);
    if !gates.is_empty() {
        w.write(0, "Readiness Gates:\n  Type\tStatus\n");
        for g in gates {
            let ty = s(&g["conditionType"]);
            let st = conditions
                .iter()
                .find(|c| s(&c["type"]) == ty)
                .map(|c| s(&c["status"]))
                .unwrap_or("<none>");
            wr!(w, 1, "{ty} \t{st} \n");
        }
    }
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\n");
        for c in conditions {
            wr!(w, 1, "{} \t{} \n", s(&c["type"]), s(&c["status"]));
        }
    }
    volumes::describe(arr(&spec["volumes"]), &mut w, "");
    let qos = match s(&status["qosClass"]) {
        "" => qos_class(spec),
        q => q,
    };
    wr!(w, 0, "QoS Class:\t{qos}\n");
    labels(&mut w, "Node-Selectors", &spec["nodeSelector"]);
    tolerations(&mut w, "", "Tolerations", &spec["tolerations"]);
    volumes::topology_spread(arr(&spec["topologySpreadConstraints"]), &mut w, "");
    events::finish(w, evs)
}

/// `ComputePodQOS` for pods whose status does not say.
fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    let containers = arr(&spec["containers"])
        .iter()
        .chain(arr(&spec["initContainers"]));
    for c in containers {
        let r = &c["resources"];
        let mut limits_both = 0;
        for res in ["cpu", "memory"] {
            let req = Qty::parse(&r["requests"][res]);
            let lim = Qty::parse(&r["limits"][res]);
            if req.milli != 0 || lim.milli != 0 {
                any = true;
            }
            if lim.milli != 0 {
                limits_both += 1;
            }
            if req.set && req.milli != lim.milli {
                guaranteed = false;
            }
        }
        if limits_both < 2 {
            guaranteed = false;
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// `PodRequestsAndLimits` for cpu, memory and ephemeral storage (and anything else the
/// containers name): the sum over containers and sidecars, at least the largest init
/// container, plus the pod overhead.
pub fn requests_and_limits(
    pod: &Value,
) -> (
    std::collections::BTreeMap<String, Qty>,
    std::collections::BTreeMap<String, Qty>,
) {
    use std::collections::BTreeMap;
    let spec = &pod["spec"];
    let mut out = (BTreeMap::new(), BTreeMap::new());
    for (n, field) in ["requests", "limits"].iter().enumerate() {
        let mut sum: BTreeMap<String, Qty> = BTreeMap::new();
        let add = |m: &mut BTreeMap<String, Qty>, list: &Value| {
            if let Some(obj) = list.as_object() {
                for (k, v) in obj {
                    let e = m.entry(k.clone()).or_default();
                    *e = e.add(Qty::parse(v));
                }
            }
        };
        for c in arr(&spec["containers"]) {
            add(&mut sum, &c["resources"][*field]);
        }
        let mut sidecars: BTreeMap<String, Qty> = BTreeMap::new();
        for c in arr(&spec["initContainers"]) {
            let own = &c["resources"][*field];
            if s(&c["restartPolicy"]) == "Always" {
                add(&mut sum, own);
                add(&mut sidecars, own);
                continue;
            }
            // A regular init container runs alone with the sidecars started before it.
            let mut need = sidecars.clone();
            add(&mut need, own);
            for (k, q) in need {
                let e = sum.entry(k).or_default();
                if q.milli > e.milli {
                    *e = Qty {
                        milli: q.milli,
                        ..q
                    };
                }
            }
        }
        if let Some(overhead) = spec["overhead"].as_object() {
            for (k, v) in overhead {
                if n == 1 && !sum.contains_key(k) {
                    continue;
                }
                let e = sum.entry(k.clone()).or_default();
                *e = e.add(Qty::parse(v));
            }
        }
        if n == 0 {
            out.0 = sum;
        } else {
            out.1 = sum;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qos_and_totals() {
        let spec = json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(qos_class(&spec), "Burstable");
        assert_eq!(qos_class(&json!({"containers": [{}]})), "BestEffort");
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let pod = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}, {"resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "128Mi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "500m"}}}]
        }});
        let (req, lim) = requests_and_limits(&pod);
        assert_eq!(req["cpu"].to_string(), "500m");
        assert_eq!(req["memory"].to_string(), "64Mi");
        assert_eq!(lim["memory"].to_string(), "128Mi");
        assert!(!lim.contains_key("cpu"));
        assert_eq!(controller(&json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "x", "controller": true}]}})).as_deref(), Some("ReplicaSet/x"));
    }
}
