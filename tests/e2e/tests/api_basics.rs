//! The API server with real kubectl: start-up contract, discovery, CRUD, errors, watch.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use rkube_e2e::{Cluster, KUBECTL_1_20, KUBECTL_1_27, KUBECTL_1_32};

const APP: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: "fast"
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
stringData:
  password: hunter2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
"#;

#[test]
fn start_up_contract() {
    let c = Cluster::start(&[]);
    // Built-in namespaces and the kubernetes Service exist.
    let ns = c.kubectl(&["get", "ns", "-o", "name"]).ok().stdout;
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(&format!("namespace/{n}")), "{ns}");
    }
    let svc = c
        .kubectl(&["get", "svc", "kubernetes", "-o", "json"])
        .ok()
        .json();
    assert_eq!(svc["spec"]["clusterIP"], "10.43.0.1");
    // Requests without credentials are refused; health endpoints are open.
    let anon = c.exec(&[
        "curl",
        "-sk",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://127.0.0.1:6443/api/v1/namespaces",
    ]);
    assert_eq!(anon.stdout, "401");
    let health = c.exec(&["curl", "-sk", "https://127.0.0.1:6443/healthz"]);
    assert_eq!(health.stdout, "ok");
    // The serving certificate verifies against the CA with the SANs clients use.
    let ca = c.dir.path().join("data/server/tls/ca.crt");
    for host in [
        "127.0.0.1",
        "localhost",
        "kubernetes.default.svc.cluster.local",
    ] {
        let r = c.exec(&[
            "curl",
            "-s",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &format!("{host}:6443:127.0.0.1"),
            &format!("https://{host}:6443/healthz"),
        ]);
        assert_eq!(r.stdout, "ok", "{host}: {}", r.stderr);
    }
    // A restart reuses the certificates and keeps the data.
    let before = std::fs::read(&ca).unwrap();
    c.kubectl(&["create", "namespace", "keep-me"]).ok();
    let mut c = c;
    c.restart(&[]);
    assert_eq!(std::fs::read(&ca).unwrap(), before);
    c.kubectl(&["get", "ns", "keep-me"]).ok();
}

#[test]
fn version_and_discovery_all_clients() {
    let c = Cluster::start(&[]);
    for kubectl in [KUBECTL_1_32, KUBECTL_1_27, KUBECTL_1_20] {
        let v = c.kubectl_v(kubectl, &["version", "-o", "json"]).ok().json();
        assert_eq!(v["serverVersion"]["minor"], "33", "{kubectl}");
        let res = c.kubectl_v(kubectl, &["api-resources"]).ok().stdout;
        for line in ["deployments      ", "pods    "] {
            assert!(res.contains(line.trim_end()), "{kubectl}: {res}");
        }
        assert!(res.contains("deploy"), "short names: {res}");
        // Short names resolve.
        c.kubectl_v(kubectl, &["get", "deploy,po,svc,cm,ns,ing,rs,ep,sa", "-A"])
            .ok();
    }
}

#[test]
fn apply_twice_then_change() {
    let c = Cluster::start(&[]);
    let f = c.file("app.yaml", APP);
    // --validate=false until OpenAPI lands; validation is the server's job meanwhile.
    let first = c.kubectl(&["apply", "-f", &f]).ok().stdout;
    for o in [
        "namespace/shop created",
        "configmap/settings created",
        "secret/creds created",
        "deployment.apps/web created",
        "service/web created",
        "ingress.networking.k8s.io/web created",
    ] {
        assert!(first.contains(o), "{first}");
    }
    let second = c.kubectl(&["apply", "-f", &f]).ok().stdout;
    assert!(second.contains("deployment.apps/web unchanged"), "{second}");
    assert!(second.contains("configmap/settings unchanged"), "{second}");
    let changed = APP
        .replace("replicas: 2", "replicas: 3")
        .replace("mode: \"fast\"", "mode: \"safe\"");
    let f2 = c.file("app2.yaml", &changed);
    let third = c.kubectl(&["apply", "-f", &f2]).ok().stdout;
    assert!(third.contains("deployment.apps/web configured"), "{third}");
    assert!(third.contains("configmap/settings configured"), "{third}");
    let d = c
        .kubectl(&["get", "deploy", "web", "-n", "shop", "-o", "json"])
        .ok()
        .json();
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);
    // Defaults as upstream.
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let cm = c
        .kubectl(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.mode}",
        ])
        .ok()
        .stdout;
    assert_eq!(cm, "safe");
    let svc = c
        .kubectl(&["get", "svc", "web", "-n", "shop", "-o", "json"])
        .ok()
        .json();
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.43."), "{ip}");
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    // Delete by file: the namespace comes first in the file, so the namespace controller may
    // remove the rest before kubectl gets to it (as upstream); everything goes either way.
    c.kubectl(&["delete", "-f", &f2, "--ignore-not-found", "--timeout=60s"])
        .ok();
    for what in ["namespace/shop", "deployment/web", "service/web"] {
        assert_ne!(
            c.kubectl(&["get", what, "-n", "shop"]).code,
            0,
            "{what} is gone"
        );
    }
}

#[test]
fn errors_look_like_upstream() {
    let c = Cluster::start(&[]);
    let r = c.kubectl(&["get", "deploy", "nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Error from server (NotFound): deployments.apps \"nope\" not found"),
        "{}",
        r.stderr
    );
    c.kubectl(&["create", "namespace", "dup"]).ok();
    let r = c.kubectl(&["create", "namespace", "dup"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Error from server (AlreadyExists): namespaces \"dup\" already exists"),
        "{}",
        r.stderr
    );
    let bad = c.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    );
    let r = c.kubectl(&["create", "-f", &bad]);
    assert_eq!(r.code, 1);
    // kubectl prints a 422 on create as `The <Kind> "<name>" is invalid: <causes>`.
    assert!(
        r.stderr.contains(
            "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{}",
        r.stderr
    );
    let nons = c.file(
        "nons.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: missing\n",
    );
    let r = c.kubectl(&["create", "-f", &nons]);
    assert!(
        r.stderr.contains("namespaces \"missing\" not found"),
        "{}",
        r.stderr
    );
    let pod = c.file(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: []\n",
    );
    let r = c.kubectl(&["create", "-f", &pod]);
    assert!(
        r.stderr.contains("spec.containers: Required value"),
        "{}",
        r.stderr
    );
}

#[test]
fn get_outputs_selectors_and_watch() {
    let c = Cluster::start(&[]);
    c.kubectl(&["create", "namespace", "a"]).ok();
    c.kubectl(&["create", "namespace", "b"]).ok();
    for (ns, name, tier) in [
        ("a", "one", "web"),
        ("a", "two", "db"),
        ("b", "three", "web"),
    ] {
        let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{tier: {tier}}}\n");
        c.kubectl_stdin(KUBECTL_1_32, &["create", "-f", "-"], &cm)
            .ok();
    }
    let all = c
        .kubectl(&["get", "cm", "-A", "-l", "tier=web", "-o", "name"])
        .ok()
        .stdout;
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        vec!["configmap/one", "configmap/three"]
    );
    let yaml = c
        .kubectl(&["get", "cm", "one", "-n", "a", "-o", "yaml"])
        .ok()
        .stdout;
    assert!(
        yaml.contains("tier: web") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let labels = c
        .kubectl(&["get", "cm", "-n", "a", "--show-labels"])
        .ok()
        .stdout;
    assert!(labels.contains("tier=db"), "{labels}");
    let by_field = c
        .kubectl(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.namespace=b",
            "-o",
            "name",
        ])
        .ok()
        .stdout;
    // Every namespace also holds the cluster CA's ConfigMap (once its controller made it).
    let by_field: Vec<&str> = by_field
        .lines()
        .filter(|l| *l != "configmap/kube-root-ca.crt")
        .collect();
    assert_eq!(by_field, ["configmap/three"]);
    let bad = c.kubectl(&["get", "cm", "--field-selector", "spec.nope=x"]);
    assert!(
        bad.stderr.contains("field label not supported: spec.nope"),
        "{}",
        bad.stderr
    );

    // Watch: a change made after the watch starts shows up.
    let mut w = c
        .command(KUBECTL_1_32)
        .args(["get", "cm", "-n", "a", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The namespace's CA ConfigMap comes and goes with its controller: not looked at.
    let mut lines = BufReader::new(w.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .filter(|l| l != "configmap/kube-root-ca.crt");
    // The initial list.
    assert_eq!(lines.next().unwrap(), "configmap/one");
    assert_eq!(lines.next().unwrap(), "configmap/two");
    std::thread::sleep(Duration::from_millis(300));
    c.kubectl_stdin(
        KUBECTL_1_32,
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: a\n",
    )
    .ok();
    assert_eq!(lines.next().unwrap(), "configmap/late");
    let _ = w.kill();
    let _ = w.wait();
}

#[test]
fn cohabiting_versions_convert() {
    let c = Cluster::start(&[]);
    let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 5\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}\n";
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], hpa)
        .ok();
    let v1 = c
        .kubectl(&[
            "get",
            "--raw",
            "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web",
        ])
        .ok()
        .json();
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    let ev = "apiVersion: v1\nkind: Event\nmetadata:\n  name: e1\ninvolvedObject: {kind: Pod, name: p, namespace: default}\nreason: Started\nmessage: Started container\ntype: Normal\nsource: {component: kubelet}\ncount: 2\n";
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], ev)
        .ok();
    let e = c
        .kubectl(&[
            "get",
            "--raw",
            "/apis/events.k8s.io/v1/namespaces/default/events/e1",
        ])
        .ok()
        .json();
    assert_eq!(e["apiVersion"], "events.k8s.io/v1");
    assert_eq!(e["note"], "Started container");
    assert_eq!(e["regarding"]["name"], "p");
    assert_eq!(e["deprecatedCount"], 2);
}

#[test]
fn unknown_fields_per_field_validation() {
    let c = Cluster::start(&[]);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndata:\n  a: b\nbogus: 1\n";
    let f = c.file("typo.yaml", cm);
    let r = c.kubectl(&["create", "-f", &f, "--validate=strict"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown field \"bogus\""), "{}", r.stderr);
    let r = c.kubectl(&["create", "-f", &f, "--validate=warn"]).ok();
    assert!(
        r.stderr.contains("Warning: unknown field \"bogus\""),
        "{}",
        r.stderr
    );
    let got = c.kubectl(&["get", "cm", "typo", "-o", "json"]).ok().json();
    assert!(
        got.get("bogus").is_none(),
        "unknown fields are dropped: {got}"
    );
}

#[test]
fn paging_and_watch_resource_versions() {
    let mut c = Cluster::start(&[]);
    for i in 0..7 {
        c.kubectl(&[
            "create",
            "configmap",
            &format!("cm-{i}"),
            "--from-literal=i=1",
        ])
        .ok();
    }
    // kubectl pages with limit/continue.
    let out = c
        .kubectl(&["get", "cm", "--chunk-size=2", "-o", "name"])
        .ok()
        .stdout;
    let names: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("configmap/cm-"))
        .collect();
    assert_eq!(names.len(), 7, "{out}");
    let page = c
        .kubectl(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?limit=3",
        ])
        .ok()
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert!(page["metadata"]["continue"].is_string());
    assert!(page["metadata"]["remainingItemCount"].as_i64().unwrap() >= 4);
    // After a restart the watch window starts anew: an old resourceVersion gets 410 as an
    // ERROR event.
    c.restart(&[]);
    let r = c
        .kubectl(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=2",
        ])
        .ok();
    let ev: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    // timeoutSeconds ends the stream; bookmarks carry the current resourceVersion.
    let r = c.kubectl(&["get", "--raw", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&allowWatchBookmarks=true"]).ok();
    assert!(r.stdout.lines().count() >= 7, "{}", r.stdout);
    // The kubernetes Service has endpoints.
    let ep = c
        .kubectl(&["get", "endpoints", "kubernetes", "-o", "json"])
        .ok()
        .json();
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 6443);
}

#[test]
fn second_server_on_same_data_dir_refuses() {
    let c = Cluster::start(&[]);
    let data = c.dir.path().join("data");
    let out = c
        .command(rkube_e2e::rkube_bin().to_str().unwrap())
        .args(["server", "--https-listen-port", "6444", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lock held"), "{err}");
    // The first one is unharmed.
    c.kubectl(&["get", "ns", "default"]).ok();
}

#[test]
fn status_writes_during_graceful_deletion_keep_the_pod() {
    let c = Cluster::start(&["--disable-agent"]);
    c.kubectl_stdin(
        KUBECTL_1_32,
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: slow}\nspec:\n  nodeName: elsewhere\n  containers: [{name: c, image: busybox}]\n",
    )
    .ok();
    c.kubectl(&["delete", "pod", "slow", "--wait=false"]).ok();
    let grace = c
        .kubectl(&[
            "get",
            "pod",
            "slow",
            "-o",
            "jsonpath={.metadata.deletionGracePeriodSeconds}",
        ])
        .ok()
        .stdout;
    assert_eq!(grace, "30");
    // The node reports the containers stopping: the pod stays until its final delete.
    c.kubectl(&[
        "patch",
        "pod",
        "slow",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","message":"stopping"}}"#,
    ])
    .ok();
    c.kubectl(&[
        "patch",
        "pod",
        "slow",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"x":"y"}}}"#,
    ])
    .ok();
    let msg = c
        .kubectl(&["get", "pod", "slow", "-o", "jsonpath={.status.message}"])
        .ok()
        .stdout;
    assert_eq!(msg, "stopping");
    c.kubectl(&["delete", "pod", "slow", "--grace-period=0", "--force"])
        .ok();
    assert_eq!(c.kubectl(&["get", "pod", "slow"]).code, 1);
    // A ConfigMap held by a finalizer goes when the finalizer is removed (grace 0).
    c.kubectl_stdin(
        KUBECTL_1_32,
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n",
    )
    .ok();
    c.kubectl(&["delete", "cm", "held", "--wait=false"]).ok();
    assert_eq!(c.kubectl(&["get", "cm", "held"]).code, 0);
    c.kubectl(&[
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .ok();
    assert_eq!(c.kubectl(&["get", "cm", "held"]).code, 1);
}
