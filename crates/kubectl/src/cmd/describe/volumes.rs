//! Pod volumes (`describeVolumes`) and topology spread constraints.

use serde_json::Value;

use super::util::{arr, b, format_label_selector, i, quantity, s};
use super::writer::{wr, Out};

/// `describeVolumes`; `space` is the pod template's extra indent.
pub fn describe(volumes: &[Value], w: &mut Out, space: &str) {
    if volumes.is_empty() {
        wr!(w, 0, "{space}Volumes:\t<none>\n");
        return;
    }
    wr!(w, 0, "{space}Volumes:\n");
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in volumes {
        wr!(w, 1, "{name_indent}{}:\n", s(&v["name"]));
        source(v, w);
    }
}

/// A `%v` of an optional bool pointer field as the describers print it (false if unset).
fn opt(v: &Value) -> bool {
    v["optional"].as_bool().unwrap_or(false)
}

/// kubectl 1.32 prints the projected sources' `*bool` with `%v`: `<nil>` when unset, and
/// a pointer address when set, which no one can reproduce; the value stands in for it.
fn optional_ptr(v: &Value) -> String {
    match v["optional"].as_bool() {
        None => "<nil>".into(),
        Some(b) => b.to_string(),
    }
}

fn source(v: &Value, w: &mut Out) {
    if let Some(h) = v.get("hostPath").filter(|x| x.is_object()) {
        let ty = match s(&h["type"]) {
            "" if h.get("type").is_none() => "<none>",
            t => t,
        };
        wr!(
            w,
            2,
            "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{ty}\n",
            s(&h["path"])
        );
    } else if let Some(e) = v.get("emptyDir").filter(|x| x.is_object()) {
        let size = match e.get("sizeLimit") {
            Some(q) if super::util::Qty::parse(q).milli > 0 => quantity(q),
            _ => "<unset>".into(),
        };
        wr!(
            w,
            2,
            "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{size}\n",
            s(&e["medium"])
        );
    } else if let Some(x) = v.get("secret").filter(|x| x.is_object()) {
        wr!(
            w,
            2,
            "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
            s(&x["secretName"]),
            opt(x)
        );
    } else if let Some(x) = v.get("configMap").filter(|x| x.is_object()) {
        wr!(
            w,
            2,
            "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
            s(&x["name"]),
            opt(x)
        );
    } else if let Some(x) = v.get("nfs").filter(|x| x.is_object()) {
        wr!(
            w,
            2,
            "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n    Server:\t{}\n    Path:\t{}\n    ReadOnly:\t{}\n",
            s(&x["server"]),
            s(&x["path"]),
            b(&x["readOnly"])
        );
    } else if let Some(x) = v.get("persistentVolumeClaim").filter(|x| x.is_object()) {
        wr!(
            w,
            2,
            "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
            s(&x["claimName"]),
            b(&x["readOnly"])
        );
    } else if let Some(x) = v.get("ephemeral").filter(|x| x.is_object()) {
        w.write(
            2,
            "Type:\tEphemeralVolume (an inline specification for a volume that gets created and deleted with the pod)\n",
        );
        let t = &x["volumeClaimTemplate"];
        if t.is_object() {
            // kubectl prints the claim template through a writer nested two levels deep.
            w.indent += 2;
            print_pvc(w, t, false);
            w.indent -= 2;
        }
    } else if let Some(x) = v.get("downwardAPI").filter(|x| x.is_object()) {
        w.write(
            2,
            "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n",
        );
        for item in arr(&x["items"]) {
            if item["fieldRef"].is_object() {
                wr!(
                    w,
                    3,
                    "{} -> {}\n",
                    s(&item["fieldRef"]["fieldPath"]),
                    s(&item["path"])
                );
            }
            if item["resourceFieldRef"].is_object() {
                wr!(
                    w,
                    3,
                    "{} -> {}\n",
                    s(&item["resourceFieldRef"]["resource"]),
                    s(&item["path"])
                );
            }
        }
    } else if let Some(x) = v.get("projected").filter(|x| x.is_object()) {
        w.write(
            2,
            "Type:\tProjected (a volume that contains injected data from multiple sources)\n",
        );
        for src in arr(&x["sources"]) {
            if src["secret"].is_object() {
                wr!(
                    w,
                    2,
                    "SecretName:\t{}\n    SecretOptional:\t{}\n",
                    s(&src["secret"]["name"]),
                    optional_ptr(&src["secret"])
                );
            } else if src["downwardAPI"].is_object() {
                w.write(2, "DownwardAPI:\ttrue\n");
            } else if src["configMap"].is_object() {
                wr!(
                    w,
                    2,
                    "ConfigMapName:\t{}\n    ConfigMapOptional:\t{}\n",
                    s(&src["configMap"]["name"]),
                    optional_ptr(&src["configMap"])
                );
            } else if src["serviceAccountToken"].is_object() {
                wr!(
                    w,
                    2,
                    "TokenExpirationSeconds:\t{}\n",
                    i(&src["serviceAccountToken"]["expirationSeconds"])
                );
            }
        }
    } else if let Some(x) = v.get("csi").filter(|x| x.is_object()) {
        wr!(
            w,
            2,
            "Type:\tCSI (a Container Storage Interface (CSI) volume source)\n    Driver:\t{}\n    FSType:\t{}\n    ReadOnly:\t{}\n",
            s(&x["driver"]),
            s(&x["fsType"]),
            b(&x["readOnly"])
        );
        let attrs = super::util::string_map(&x["volumeAttributes"]);
        w.write(2, "VolumeAttributes:\t");
        if attrs.is_empty() {
            w.line("<none>");
        }
        for (n, (k, val)) in attrs.iter().enumerate() {
            if n != 0 {
                w.write(2, "\t");
            }
            let mut line = format!("{k}={val}");
            if line.len() > 140 {
                let mut end = 140;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
                line.push_str("...");
            }
            wr!(w, 2, "{line}\n");
        }
    } else if let Some(x) = v.get("image").filter(|x| x.is_object()) {
        wr!(
            w,
            2,
            "Type:\tImage (a container image or OCI artifact)\n    Reference:\t{}\n    PullPolicy:\t{}\n",
            s(&x["reference"]),
            s(&x["pullPolicy"])
        );
    } else {
        w.write(1, "<unknown>\n");
    }
}

/// `describeTopologySpreadConstraints`.
pub fn topology_spread(tscs: &[Value], w: &mut Out, space: &str) {
    if tscs.is_empty() {
        return;
    }
    let mut list: Vec<&Value> = tscs.iter().collect();
    list.sort_by(|a, b| s(&a["topologyKey"]).cmp(s(&b["topologyKey"])));
    wr!(w, 0, "{space}Topology Spread Constraints:\t");
    for (n, t) in list.iter().enumerate() {
        if n != 0 {
            wr!(w, 0, "{space}\t");
        }
        wr!(
            w,
            0,
            "{}:{} when max skew {} is exceeded",
            s(&t["topologyKey"]),
            s(&t["whenUnsatisfiable"]),
            i(&t["maxSkew"])
        );
        if t["labelSelector"].is_object() {
            wr!(
                w,
                0,
                " for selector {}",
                format_label_selector(&t["labelSelector"])
            );
        }
        w.write(0, "\n");
    }
}

/// `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, for the modes present.
pub fn access_modes(modes: &Value) -> String {
    let have: Vec<&str> = arr(modes).iter().map(s).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| have.contains(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// `printPersistentVolumeClaim`: a claim, or (`full` false) an ephemeral volume's claim
/// template.
pub fn print_pvc(w: &mut Out, pvc: &Value, full: bool) {
    let meta = &pvc["metadata"];
    let spec = &pvc["spec"];
    if full {
        wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
        wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    }
    let class = match spec.get("storageClassName") {
        Some(Value::String(c)) => c.clone(),
        _ => s(&meta["annotations"]["volume.beta.kubernetes.io/storage-class"]).to_string(),
    };
    wr!(w, 0, "StorageClass:\t{class}\n");
    if full {
        if meta["deletionTimestamp"].is_string() {
            wr!(
                w,
                0,
                "Status:\tTerminating (lasts {})\n",
                super::util::age(&meta["deletionTimestamp"])
            );
        } else {
            wr!(w, 0, "Status:\t{}\n", s(&pvc["status"]["phase"]));
        }
    }
    wr!(w, 0, "Volume:\t{}\n", s(&spec["volumeName"]));
    super::writer::labels(w, "Labels", &meta["labels"]);
    super::writer::annotations(w, "Annotations", &meta["annotations"]);
    if full {
        wr!(
            w,
            0,
            "Finalizers:\t{}\n",
            super::util::go_value(&meta["finalizers"]).replace("<nil>", "[]")
        );
    }
    let (mut capacity, mut modes) = (String::new(), String::new());
    if !s(&spec["volumeName"]).is_empty() {
        modes = access_modes(&pvc["status"]["accessModes"]);
        capacity = quantity(&pvc["status"]["capacity"]["storage"]);
    }
    wr!(w, 0, "Capacity:\t{capacity}\n");
    wr!(w, 0, "Access Modes:\t{modes}\n");
    if !s(&spec["volumeMode"]).is_empty() {
        wr!(w, 0, "VolumeMode:\t{}\n", s(&spec["volumeMode"]));
    }
    let ds = &spec["dataSource"];
    if ds.is_object() {
        w.write(0, "DataSource:\n");
        if ds["apiGroup"].is_string() {
            wr!(w, 1, "APIGroup:\t{}\n", s(&ds["apiGroup"]));
        }
        wr!(w, 1, "Kind:\t{}\n", s(&ds["kind"]));
        wr!(w, 1, "Name:\t{}\n", s(&ds["name"]));
    }
}
