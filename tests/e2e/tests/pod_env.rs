//! A container's environment as the kubelet builds it: values, ConfigMap and Secret keys,
//! envFrom with a prefix, optional refs, fieldRefs (status.podIP on the very first start),
//! resourceFieldRefs; a missing Secret holds the pod in CreateContainerConfigError; the
//! Service variables.

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

/// Every container gets the `kubernetes` Service's variables (in-cluster clients find the
/// API server by them) and, unless `enableServiceLinks: false`, those of the Services of
/// its namespace, which `$(VAR)` may name.
#[test]
fn service_variables_as_upstream() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Service
metadata: {name: my-web}
spec:
  selector: {app: nothing}
  ports: [{name: http, port: 8080, targetPort: 80}]
"#,
    );
    let pod = |name: &str, links: bool| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: node-a
  restartPolicy: Never
  enableServiceLinks: {links}
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "env | sort"]
    env:
    - {{name: WEB_URL, value: "http://$(MY_WEB_SERVICE_HOST):$(MY_WEB_SERVICE_PORT_HTTP)/"}}
"#
        )
    };
    c.apply(&pod("links", true));
    c.apply(&pod("nolinks", false));
    let master = c.jsonpath("svc/kubernetes", "{.spec.clusterIP}");
    let web = c.jsonpath("svc/my-web", "{.spec.clusterIP}");
    let env_of = |name: &str| -> std::collections::BTreeMap<String, String> {
        c.wait_jsonpath(
            &format!("pod/{name}"),
            "{.status.phase}",
            "Succeeded",
            |s| s == "Succeeded",
        );
        c.kubectl(&["logs", name])
            .ok()
            .stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let links = env_of("links");
    for (k, v) in [
        ("KUBERNETES_SERVICE_HOST", master.clone()),
        ("KUBERNETES_SERVICE_PORT", "443".into()),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443".into()),
        ("KUBERNETES_PORT", format!("tcp://{master}:443")),
        ("KUBERNETES_PORT_443_TCP_ADDR", master.clone()),
        ("MY_WEB_SERVICE_HOST", web.clone()),
        ("MY_WEB_SERVICE_PORT", "8080".into()),
        ("MY_WEB_SERVICE_PORT_HTTP", "8080".into()),
        ("MY_WEB_PORT", format!("tcp://{web}:8080")),
        ("MY_WEB_PORT_8080_TCP", format!("tcp://{web}:8080")),
        ("MY_WEB_PORT_8080_TCP_PROTO", "tcp".into()),
        ("MY_WEB_PORT_8080_TCP_PORT", "8080".into()),
        ("MY_WEB_PORT_8080_TCP_ADDR", web.clone()),
        ("WEB_URL", format!("http://{web}:8080/")),
    ] {
        assert_eq!(links.get(k), Some(&v), "{k} in {links:?}");
    }
    let nolinks = env_of("nolinks");
    assert_eq!(nolinks.get("KUBERNETES_SERVICE_HOST"), Some(&master));
    assert!(!nolinks.contains_key("MY_WEB_SERVICE_HOST"), "{nolinks:?}");
    // Without the Service's variables the reference stays as written.
    assert_eq!(
        nolinks.get("WEB_URL").map(String::as_str),
        Some("http://$(MY_WEB_SERVICE_HOST):$(MY_WEB_SERVICE_PORT_HTTP)/")
    );
}
