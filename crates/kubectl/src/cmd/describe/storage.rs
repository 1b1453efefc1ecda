//! Describers for StorageClass, PersistentVolume, IngressClass, EndpointSlice, ServiceCIDR,
//! IPAddress, CSINode and VolumeAttributesClass.

use serde_json::Value;

use super::events;
use super::util::{age, arr, b, format_labels, quantity, s};
use super::volumes::access_modes;
use super::writer::{annotations, conditions, labels, wr, Out};
use super::Settings;
use crate::ctx::Ctx;
use crate::error::Result;

fn bool_ptr(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

pub async fn storage_class(ctx: &Ctx, sc: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, sc).await;
    let meta = &sc["metadata"];
    let ann = &meta["annotations"];
    let default = s(&ann["storageclass.kubernetes.io/is-default-class"]) == "true"
        || s(&ann["storageclass.beta.kubernetes.io/is-default-class"]) == "true";
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(
        w,
        0,
        "IsDefaultClass:\t{}\n",
        if default { "Yes" } else { "No" }
    );
    wr!(w, 0, "Annotations:\t{}\n", format_labels(ann));
    wr!(w, 0, "Provisioner:\t{}\n", s(&sc["provisioner"]));
    wr!(w, 0, "Parameters:\t{}\n", format_labels(&sc["parameters"]));
    wr!(
        w,
        0,
        "AllowVolumeExpansion:\t{}\n",
        bool_ptr(&sc["allowVolumeExpansion"])
    );
    let opts = arr(&sc["mountOptions"]);
    if opts.is_empty() {
        w.write(0, "MountOptions:\t<none>\n");
    } else {
        w.write(0, "MountOptions:\n");
        for o in opts {
            wr!(w, 1, "{}\n", s(o));
        }
    }
    if sc["reclaimPolicy"].is_string() {
        wr!(w, 0, "ReclaimPolicy:\t{}\n", s(&sc["reclaimPolicy"]));
    }
    if sc["volumeBindingMode"].is_string() {
        wr!(
            w,
            0,
            "VolumeBindingMode:\t{}\n",
            s(&sc["volumeBindingMode"])
        );
    }
    if let Some(terms) = sc["allowedTopologies"].as_array() {
        w.write(0, "AllowedTopologies:\t");
        if terms.is_empty() {
            w.line("<none>");
        } else {
            w.line("");
            for (n, term) in terms.iter().enumerate() {
                wr!(w, 1, "Term {n}:\t");
                let reqs = arr(&term["matchLabelExpressions"]);
                if reqs.is_empty() {
                    w.line("<none>");
                }
                for (k, r) in reqs.iter().enumerate() {
                    if k != 0 {
                        w.write(1, "\t");
                    }
                    let values: Vec<&str> = arr(&r["values"]).iter().map(s).collect();
                    let mut expr = format!("{} in", s(&r["key"]));
                    if !values.is_empty() {
                        expr = format!("{expr} [{}]", values.join(", "));
                    }
                    wr!(w, 0, "{expr}\n");
                }
            }
        }
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn ingress_class(ctx: &Ctx, ic: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, ic).await;
    let meta = &ic["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(w, 0, "Controller:\t{}\n", s(&ic["spec"]["controller"]));
    let p = &ic["spec"]["parameters"];
    if p.is_object() {
        w.write(0, "Parameters:\n");
        if p["apiGroup"].is_string() {
            wr!(w, 1, "APIGroup:\t{}\n", s(&p["apiGroup"]));
        }
        wr!(w, 1, "Kind:\t{}\n", s(&p["kind"]));
        wr!(w, 1, "Name:\t{}\n", s(&p["name"]));
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn persistent_volume(ctx: &Ctx, pv: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, pv).await;
    let meta = &pv["metadata"];
    let spec = &pv["spec"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(
        w,
        0,
        "Finalizers:\t{}\n",
        super::util::go_value(&meta["finalizers"]).replace("<nil>", "[]")
    );
    let class = match spec.get("storageClassName") {
        Some(Value::String(c)) => c.clone(),
        _ => s(&meta["annotations"]["volume.beta.kubernetes.io/storage-class"]).to_string(),
    };
    wr!(w, 0, "StorageClass:\t{class}\n");
    if meta["deletionTimestamp"].is_string() {
        wr!(
            w,
            0,
            "Status:\tTerminating (lasts {})\n",
            age(&meta["deletionTimestamp"])
        );
    } else {
        wr!(w, 0, "Status:\t{}\n", s(&pv["status"]["phase"]));
    }
    let claim = &spec["claimRef"];
    if claim.is_object() {
        wr!(
            w,
            0,
            "Claim:\t{}/{}\n",
            s(&claim["namespace"]),
            s(&claim["name"])
        );
    } else {
        w.write(0, "Claim:\t\n");
    }
    wr!(
        w,
        0,
        "Reclaim Policy:\t{}\n",
        s(&spec["persistentVolumeReclaimPolicy"])
    );
    wr!(
        w,
        0,
        "Access Modes:\t{}\n",
        access_modes(&spec["accessModes"])
    );
    if spec["volumeMode"].is_string() {
        wr!(w, 0, "VolumeMode:\t{}\n", s(&spec["volumeMode"]));
    }
    wr!(
        w,
        0,
        "Capacity:\t{}\n",
        quantity(&spec["capacity"]["storage"])
    );
    w.write(0, "Node Affinity:\t");
    let required = &spec["nodeAffinity"]["required"];
    if !required.is_object() {
        w.line("<none>");
    } else {
        w.line("");
        w.write(1, "Required Terms:\t");
        let terms = arr(&required["nodeSelectorTerms"]);
        if terms.is_empty() {
            w.line("<none>");
        } else {
            w.line("");
            for (n, term) in terms.iter().enumerate() {
                wr!(w, 2, "Term {n}:\t");
                let reqs = arr(&term["matchExpressions"]);
                if reqs.is_empty() {
                    w.line("<none>");
                }
                for (k, r) in reqs.iter().enumerate() {
                    if k != 0 {
                        w.write(2, "\t");
                    }
                    let values: Vec<&str> = arr(&r["values"]).iter().map(s).collect();
                    let mut expr = format!("{} {}", s(&r["key"]), s(&r["operator"]).to_lowercase());
                    if !values.is_empty() {
                        expr = format!("{expr} [{}]", values.join(", "));
                    }
                    wr!(w, 0, "{expr}\n");
                }
            }
        }
    }
    wr!(w, 0, "Message:\t{}\n", s(&pv["status"]["message"]));
    w.write(0, "Source:\n");
    if spec["hostPath"].is_object() {
        let h = &spec["hostPath"];
        let ty = if h.get("type").is_some() {
            s(&h["type"])
        } else {
            "<none>"
        };
        wr!(
            w,
            2,
            "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{ty}\n",
            s(&h["path"])
        );
    } else if spec["nfs"].is_object() {
        let x = &spec["nfs"];
        wr!(
            w,
            2,
            "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n    Server:\t{}\n    Path:\t{}\n    ReadOnly:\t{}\n",
            s(&x["server"]),
            s(&x["path"]),
            b(&x["readOnly"])
        );
    } else if spec["local"].is_object() {
        wr!(
            w,
            2,
            "Type:\tLocalVolume (a persistent volume backed by local storage on a node)\n    Path:\t{}\n",
            s(&spec["local"]["path"])
        );
    } else if spec["csi"].is_object() {
        let x = &spec["csi"];
        wr!(
            w,
            2,
            "Type:\tCSI (a Container Storage Interface (CSI) volume source)\n    Driver:\t{}\n    FSType:\t{}\n    VolumeHandle:\t{}\n    ReadOnly:\t{}\n",
            s(&x["driver"]),
            s(&x["fsType"]),
            s(&x["volumeHandle"]),
            b(&x["readOnly"])
        );
        let attrs = super::util::string_map(&x["volumeAttributes"]);
        w.write(2, "VolumeAttributes:\t");
        if attrs.is_empty() {
            w.line("<none>");
        }
        for (n, (k, v)) in attrs.iter().enumerate() {
            if n != 0 {
                w.write(2, "\t");
            }
            wr!(w, 2, "{k}={v}\n");
        }
    } else {
        w.write(1, "<unknown>\n");
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn endpoint_slice(ctx: &Ctx, eps: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, eps).await;
    let meta = &eps["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(w, 0, "AddressType:\t{}\n", s(&eps["addressType"]));
    let ports = arr(&eps["ports"]);
    if ports.is_empty() {
        w.write(0, "Ports: <unset>\n");
    } else {
        w.write(0, "Ports:\n");
        w.write(1, "Name\tPort\tProtocol\n");
        w.write(1, "----\t----\t--------\n");
        for p in ports {
            let name = match s(&p["name"]) {
                "" => "<unset>".to_string(),
                n => n.to_string(),
            };
            let port = p["port"]
                .as_i64()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "<unset>".into());
            wr!(w, 1, "{name}\t{port}\t{}\n", s(&p["protocol"]));
        }
    }
    let endpoints = arr(&eps["endpoints"]);
    if endpoints.is_empty() {
        w.write(0, "Endpoints: <none>\n");
    } else {
        w.write(0, "Endpoints:\n");
        for e in endpoints {
            let addrs: Vec<&str> = arr(&e["addresses"]).iter().map(s).collect();
            let text = addrs.join(", ");
            wr!(
                w,
                1,
                "- Addresses:\t{}\n",
                if text.is_empty() { "<none>" } else { &text }
            );
            w.write(2, "Conditions:\n");
            let ready = match e["conditions"]["ready"].as_bool() {
                Some(r) => r.to_string(),
                None => "<unset>".into(),
            };
            wr!(w, 3, "Ready:\t{ready}\n");
            wr!(
                w,
                2,
                "Hostname:\t{}\n",
                e["hostname"].as_str().unwrap_or("<unset>")
            );
            if e["targetRef"].is_object() {
                wr!(
                    w,
                    2,
                    "TargetRef:\t{}/{}\n",
                    s(&e["targetRef"]["kind"]),
                    s(&e["targetRef"]["name"])
                );
            }
            wr!(
                w,
                2,
                "NodeName:\t{}\n",
                e["nodeName"].as_str().unwrap_or("<unset>")
            );
            wr!(w, 2, "Zone:\t{}\n", e["zone"].as_str().unwrap_or("<unset>"));
        }
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub fn service_cidr(sc: &Value, evs: Option<&[Value]>) -> String {
    let meta = &sc["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    let cidrs: Vec<&str> = arr(&sc["spec"]["cidrs"]).iter().map(s).collect();
    wr!(w, 0, "CIDRs:\t{}\n", cidrs.join(", "));
    let conds = arr(&sc["status"]["conditions"]);
    if !conds.is_empty() {
        w.write(0, "Status:\n");
    }
    conditions(
        &mut w,
        conds,
        "Type\tStatus\tLastTransitionTime\tReason\tMessage",
        "----\t------\t------------------\t------\t-------",
        "\t",
    );
    events::finish(w, evs)
}

pub fn ip_address(ip: &Value, evs: Option<&[Value]>) -> String {
    let meta = &ip["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    let p = &ip["spec"]["parentRef"];
    if p.is_object() {
        w.write(0, "Parent Reference:\n");
        for (title, field) in [
            ("Group", "group"),
            ("Resource", "resource"),
            ("Namespace", "namespace"),
            ("Name", "name"),
        ] {
            wr!(w, 1, "{title}:\t{}\n", s(&p[field]));
        }
    }
    events::finish(w, evs)
}

pub fn csi_node(csi: &Value, evs: Option<&[Value]>) -> String {
    let meta = &csi["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        super::util::rfc1123z(&meta["creationTimestamp"])
    );
    w.write(0, "Spec:\n");
    if let Some(drivers) = csi["spec"]["drivers"].as_array() {
        w.write(1, "Drivers:\n");
        for d in drivers {
            wr!(w, 2, "{}:\n", s(&d["name"]));
            wr!(w, 3, "Node ID:\t{}\n", s(&d["nodeID"]));
            if let Some(count) = d["allocatable"]["count"].as_i64() {
                w.write(3, "Allocatables:\n");
                wr!(w, 4, "Count:\t{count}\n");
            }
            if d["topologyKeys"].is_array() {
                let keys: Vec<&str> = arr(&d["topologyKeys"]).iter().map(s).collect();
                wr!(w, 3, "Topology Keys:\t[{}]\n", keys.join(" "));
            }
        }
    }
    events::finish(w, evs)
}

pub fn volume_attributes_class(vac: &Value, evs: Option<&[Value]>) -> String {
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&vac["metadata"]["name"]));
    wr!(
        w,
        0,
        "Annotations:\t{}\n",
        format_labels(&vac["metadata"]["annotations"])
    );
    wr!(w, 0, "DriverName:\t{}\n", s(&vac["driverName"]));
    wr!(w, 0, "Parameters:\t{}\n", format_labels(&vac["parameters"]));
    events::finish(w, evs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn networking_and_csi_objects() {
        let sc = json!({"metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.43.0.0/16", "fd00::/108"]},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-02T03:04:05Z", "reason": "", "message": ""}]}});
        let out = service_cidr(&sc, Some(&[]));
        assert!(out.contains("CIDRs:        10.43.0.0/16, fd00::/108\nStatus:\nConditions:\n  Type   Status  LastTransitionTime"), "{out}");
        assert!(out.ends_with("Events:  <none>\n"), "{out}");
        let csi = json!({"metadata": {"name": "n1"}, "spec": {"drivers": [{"name": "d", "nodeID": "n1", "allocatable": {"count": 5}, "topologyKeys": ["zone"]}]}});
        let out = csi_node(&csi, None);
        assert!(out.contains("Spec:\n  Drivers:\n    d:\n      Node ID:  n1\n      Allocatables:\n        Count:        5\n      Topology Keys:  [zone]\n"), "{out}");
        let ip = json!({"metadata": {"name": "10.43.0.1"}, "spec": {"parentRef": {"resource": "services", "namespace": "default", "name": "kubernetes"}}});
        assert!(ip_address(&ip, None)
            .contains("Parent Reference:\n  Group:      \n  Resource:   services\n"));
        let vac = json!({"metadata": {"name": "gold"}, "driverName": "csi.example", "parameters": {"iops": "100"}});
        assert!(volume_attributes_class(&vac, None).contains("Parameters:   iops=100\n"));
    }
}
