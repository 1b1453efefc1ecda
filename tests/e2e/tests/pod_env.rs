//! A container's environment as the kubelet builds it: values, ConfigMap and Secret keys,
//! envFrom with a prefix, optional refs, fieldRefs (status.podIP on the very first start),
//! resourceFieldRefs; a missing Secret holds the pod in CreateContainerConfigError.

use std::time::Duration;

use rkube_e2e::Cluster;

const NODE: &str = "node-a";

#[test]
fn env_from_every_source_and_pod_ip_on_first_start() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {greeting: hello, color: blue, size: large}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: s3cret, token: abc}
---
apiVersion: v1
kind: Pod
metadata: {name: envall, labels: {tier: backend}, annotations: {team: core}}
spec:
  nodeName: node-a
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "env | sort; sleep 3600"]
    resources: {requests: {memory: 32Mi}, limits: {cpu: 500m, memory: 64Mi}}
    envFrom:
    - prefix: CFG_
      configMapRef: {name: app-config}
    - secretRef: {name: app-secret}
    - configMapRef: {name: not-there, optional: true}
    env:
    - {name: PLAIN, value: "x-$(CFG_greeting)"}
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: app-secret, key: password}}
    - name: MISSING_KEY
      valueFrom: {configMapKeyRef: {name: app-config, key: nope, optional: true}}
    - name: MISSING_SECRET
      valueFrom: {secretKeyRef: {name: gone, key: k, optional: true}}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    - name: NODE_NAME
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: TIER
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}
    - name: TEAM
      valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}
    - name: CPU_LIMIT_M
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    - name: MEM_REQUEST_MI
      valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Mi}}
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/envall",
        "--timeout=60s",
    ])
    .ok();
    let mut env = String::new();
    c.wait_until(Duration::from_secs(10), "env printed", || {
        env = c.kubectl(&["logs", "envall"]).stdout;
        env.contains("TIER=")
    });
    let lines: Vec<&str> = env.lines().collect();
    let pod_ip = c.jsonpath("pod/envall", "{.status.podIP}");
    let host_ip = c.jsonpath("pod/envall", "{.status.hostIP}");
    assert!(!pod_ip.is_empty() && !host_ip.is_empty());
    let pod_ip_line = format!("POD_IP={pod_ip}");
    let host_ip_line = format!("HOST_IP={host_ip}");
    for want in [
        "CFG_color=blue",
        "CFG_greeting=hello",
        "CFG_size=large",
        "password=s3cret",
        "token=abc",
        "PLAIN=x-hello",
        "GREETING=hello",
        "PASSWORD=s3cret",
        pod_ip_line.as_str(),
        host_ip_line.as_str(),
        "NODE_NAME=node-a",
        "POD_NAME=envall",
        "POD_NS=default",
        "TIER=backend",
        "TEAM=core",
        "CPU_LIMIT_M=500",
        "MEM_REQUEST_MI=32",
    ] {
        assert!(lines.contains(&want), "{want} in:\n{env}");
    }
    for absent in ["MISSING_KEY=", "MISSING_SECRET="] {
        assert!(
            !lines.iter().any(|l| l.starts_with(absent)),
            "{absent} in:\n{env}"
        );
    }
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, lines, "env | sort");
}

#[test]
fn missing_secret_holds_the_pod_until_it_appears() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: needsecret}
spec:
  nodeName: node-a
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "echo token=$TOKEN"]
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: x, key: token}}
"#,
    );
    c.wait_jsonpath(
        "pod/needsecret",
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CreateContainerConfigError",
        |s| s == "CreateContainerConfigError",
    );
    assert_eq!(
        c.jsonpath(
            "pod/needsecret",
            "{.status.containerStatuses[0].state.waiting.message}"
        ),
        "secret \"x\" not found"
    );
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=needsecret",
        ])
        .ok()
        .stdout;
    assert!(events.contains("Error: secret \"x\" not found"), "{events}");
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "x",
        "--from-literal=token=t1",
    ])
    .ok();
    c.wait_jsonpath("pod/needsecret", "{.status.phase}", "Succeeded", |s| {
        s == "Succeeded"
    });
    assert_eq!(c.kubectl(&["logs", "needsecret"]).ok().stdout, "token=t1\n");
}
