//! The Node the agent registers: capacity and allocatable, addresses, nodeInfo and the four
//! conditions with upstream's reasons, and its Lease.

use std::time::Duration;

use rkube_e2e::Cluster;

const NODE: &str = "node-a";

#[test]
fn node_reports_resources_addresses_info_and_conditions() {
    let c = Cluster::start(&["--node-name", NODE]);
    // Registration is three writes (the Node, its status, its Lease): wait for the last.
    c.wait_until(Duration::from_secs(30), "node registered and Ready", || {
        c.kubectl(&[
            "get",
            "node",
            NODE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .stdout
            == "True"
            && c.kubectl(&["get", "lease", NODE, "-n", "kube-node-lease"])
                .code
                == 0
    });
    let node = c.kubectl(&["get", "node", NODE, "-o", "json"]).ok().json();
    let st = &node["status"];
    for key in ["capacity", "allocatable"] {
        let r = &st[key];
        assert_eq!(r["pods"], "110", "{key}: {r}");
        let cpus = r["cpu"].as_str().unwrap_or("").parse::<u32>().unwrap_or(0);
        assert!(cpus >= 1, "{key} cpu: {r}");
        for res in ["memory", "ephemeral-storage"] {
            let v = r[res].as_str().unwrap_or("");
            let ki = v.strip_suffix("Ki").and_then(|n| n.parse::<u64>().ok());
            assert!(ki.is_some_and(|n| n > 0), "{key} {res}: {r}");
        }
    }
    let addrs = st["addresses"].as_array().expect("addresses");
    let has = |t: &str, pred: &dyn Fn(&str) -> bool| {
        addrs
            .iter()
            .any(|a| a["type"] == t && pred(a["address"].as_str().unwrap_or("")))
    };
    assert!(has("Hostname", &|a| a == NODE), "{addrs:?}");
    assert!(
        has("InternalIP", &|a| a.parse::<std::net::IpAddr>().is_ok()),
        "{addrs:?}"
    );
    let info = &st["nodeInfo"];
    assert_eq!(info["operatingSystem"], "linux");
    assert_eq!(info["architecture"], "amd64");
    assert!(
        info["kubeletVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.")),
        "{info}"
    );
    for k in [
        "kernelVersion",
        "osImage",
        "containerRuntimeVersion",
        "bootID",
    ] {
        assert!(
            info[k].as_str().is_some_and(|v| !v.is_empty()),
            "{k}: {info}"
        );
    }
    let conds = st["conditions"].as_array().expect("conditions");
    for (t, status, reason) in [
        ("Ready", "True", "KubeletReady"),
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
    ] {
        let found = conds
            .iter()
            .find(|x| x["type"] == t)
            .unwrap_or_else(|| panic!("{t} in {conds:?}"));
        assert_eq!(found["status"], status, "{found}");
        assert_eq!(found["reason"], reason, "{found}");
        assert!(found["lastHeartbeatTime"].is_string(), "{found}");
    }
    assert_eq!(conds.len(), 4, "{conds:?}");
    let lease = c
        .kubectl(&["get", "lease", NODE, "-n", "kube-node-lease", "-o", "json"])
        .ok()
        .json();
    assert_eq!(lease["spec"]["holderIdentity"], NODE);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
}
