//! `rkube kubectl apply` against real kubectl 1.32: the same manifests applied in two
//! namespaces (`k` by kubectl, `r` by rkube) must print the same and leave the same
//! objects, and each client must take over objects the other applied (the
//! last-applied-configuration annotation is byte-identical, so the other sees "unchanged").

use rkube_e2e::golden::same_in_ns;
use rkube_e2e::{rkube_bin, Cluster, KUBECTL_1_32};
use serde_json::Value;

const V1: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
  annotations: {note: "a<b&c"}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{containerPort: 80}]
      - name: side
        image: busybox
        command: [sleep, "3600"]
      volumes:
      - name: data
        emptyDir: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1", b: two}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"#;

const V2: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:2
        env: [{name: B, value: "3"}, {name: C, value: "4"}]
        ports: [{containerPort: 80}, {containerPort: 443}]
      volumes:
      - name: data
        configMap: {name: cfg}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "2"}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: https, port: 443, targetPort: 8443}, {name: http, port: 80, targetPort: 8080}]
"#;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

/// The object without what differs between two copies made at different times.
fn comparable(mut v: Value, ns: &str) -> Value {
    let meta = v["metadata"].as_object_mut().expect("metadata");
    for k in ["uid", "resourceVersion", "creationTimestamp", "namespace"] {
        meta.remove(k);
    }
    if let Some(m) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
        for e in m {
            e.as_object_mut().expect("entry").remove("time");
        }
    }
    // Written by the deployment controller whenever it gets to it.
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("deployment.kubernetes.io/revision");
    }
    if let Some(a) = meta
        .get_mut("annotations")
        .and_then(|a| a.get_mut("kubectl.kubernetes.io/last-applied-configuration"))
    {
        let text = a
            .as_str()
            .expect("annotation")
            .replace(&format!("\"namespace\":\"{ns}\""), "\"namespace\":\"NS\"");
        *a = Value::String(text);
    }
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    v.as_object_mut().expect("object").remove("status");
    v
}

#[track_caller]
fn assert_same_objects(c: &Cluster, what: &[&str]) {
    for w in what {
        let k = c.kubectl(&["get", w, "-n", "k", "-o", "json"]).ok().json();
        let r = c.kubectl(&["get", w, "-n", "r", "-o", "json"]).ok().json();
        assert_eq!(
            comparable(k, "k"),
            comparable(r, "r"),
            "{w} differs between kubectl's and rkube's apply"
        );
    }
}

#[test]
fn client_side_apply_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "namespace", ns]).ok();
    }
    let v1 = c.file("v1.yaml", V1);
    let v2 = c.file("v2.yaml", V2);
    let objects = ["deploy/web", "cm/cfg", "svc/web"];

    // Create, then each client re-applies what the other created: unchanged.
    let (k, _) = same_in_ns(&c, &["apply", "-f", &v1]);
    assert!(
        k.stdout.contains("deployment.apps/web created"),
        "{}",
        k.stdout
    );
    assert_same_objects(&c, &objects);
    let k = c.kubectl(&["apply", "-f", &v1, "-n", "r"]).ok();
    let r = c.rkubectl(&["apply", "-f", &v1, "-n", "k"]).ok();
    assert_eq!(k.stdout, r.stdout);
    assert_eq!(
        k.stdout,
        "deployment.apps/web unchanged\nconfigmap/cfg unchanged\nservice/web unchanged\n"
    );

    // Dry runs change nothing.
    same_in_ns(&c, &["apply", "-f", &v2, "--dry-run=client"]);
    same_in_ns(&c, &["apply", "-f", &v2, "--dry-run=server", "-o", "name"]);
    assert_same_objects(&c, &objects);

    // v2 over v1, each client over the other's objects: the same patch outcome.
    let k = c.kubectl(&["apply", "-f", &v2, "-n", "r"]).ok();
    let r = c.rkubectl(&["apply", "-f", &v2, "-n", "k"]).ok();
    assert_eq!(k.stdout, r.stdout);
    assert!(k.stdout.contains("deployment.apps/web configured"));
    assert_same_objects(&c, &objects);
    let d = c
        .kubectl(&["get", "deploy/web", "-n", "k", "-o", "json"])
        .ok()
        .json();
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "the removed container is gone");
    assert!(d["metadata"]["labels"].get("tier").is_none());
    assert!(
        d["spec"]["strategy"].get("rollingUpdate").is_none(),
        "retainKeys"
    );

    // Back to v1, each on its own objects, and again (unchanged).
    same_in_ns(&c, &["apply", "-f", &v1]);
    assert_same_objects(&c, &objects);
    same_in_ns(&c, &["apply", "-f", &v1]);
    same_in_ns(&c, &["apply", "-f", &v1, "-o", "name"]);

    // A change made outside apply survives an apply that does not mention the field.
    for ns in ["k", "r"] {
        c.kubectl(&["label", "cm/cfg", "extra=1", "-n", ns]).ok();
    }
    same_in_ns(&c, &["apply", "-f", &v2]);
    assert_same_objects(&c, &objects);

    // An object created without apply gets the missing-annotation warning.
    for ns in ["k", "r"] {
        c.kubectl(&[
            "create",
            "configmap",
            "plain",
            "--from-literal=a=1",
            "-n",
            ns,
        ])
        .ok();
    }
    let plain = c.file(
        "plain.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: \"2\"}\n",
    );
    same_in_ns(&c, &["apply", "-f", &plain]);
    assert_same_objects(&c, &["cm/plain"]);
}

#[test]
fn apply_outputs_and_errors_match_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "namespace", ns]).ok();
    }
    let dir = c.file("unused", "");
    let base = std::path::Path::new(&dir)
        .parent()
        .expect("dir")
        .join("manifests");
    std::fs::create_dir_all(base.join("sub")).expect("mkdir");
    let cm = |n: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\ndata:\n  k: v\n")
    };
    std::fs::write(base.join("b.yaml"), cm("b")).expect("write");
    std::fs::write(base.join("a.yml"), cm("a")).expect("write");
    std::fs::write(base.join("notes.txt"), cm("txt")).expect("write");
    std::fs::write(
        base.join("sub/c.json"),
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}]}"#,
    )
    .expect("write");
    let d = base.display().to_string();
    same_in_ns(&c, &["apply", "-f", &d]);
    same_in_ns(&c, &["apply", "-R", "-f", &d]);
    same_in_ns(&c, &["apply", "-f", &d, "-o", "yaml"]);
    same_in_ns(&c, &["apply", "-R", "-f", &d, "-o", "json"]);
    let yaml = c.file("x.yaml", &cm("x"));
    same_in_ns(
        &c,
        &["apply", "-f", &yaml, "--dry-run=client", "-o", "yaml"],
    );
    same_in_ns(&c, &["apply", "-f", &yaml, "--dry-run=server"]);

    // YAML 1.1 as kubectl reads it: `y`/`no` booleans (also as keys), octal modes,
    // anchors and merge keys, integral floats.
    let yaml11 = c.file(
        "yaml11.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: yaml11}
data: {y: "1", n: "2", quoted: "0644"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: modes, labels: &l {app: x}}
spec:
  replicas: 2e0
  selector: {matchLabels: *l}
  template:
    metadata: {labels: {<<: *l, tier: t}}
    spec:
      automountServiceAccountToken: no
      containers: [{name: c, image: busybox, stdin: yes, tty: off}]
      volumes: [{name: v, secret: {secretName: s, defaultMode: 0644}}]
"#,
    );
    same_in_ns(
        &c,
        &["apply", "-f", &yaml11, "--dry-run=client", "-o", "json"],
    );
    same_in_ns(&c, &["apply", "-f", &yaml11]);
    for ns in ["k", "r"] {
        let d = c
            .kubectl(&["get", "deploy/modes", "-n", ns, "-o", "json"])
            .ok()
            .json();
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["volumes"][0]["secret"]["defaultMode"], 420, "{ns}");
        assert_eq!(spec["containers"][0]["stdin"], true, "{ns}");
    }
    for (name, text) in [
        ("bad1.yml", "a: [1, 2\n"),
        (
            "bad2.yml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: 1\n",
        ),
        ("bad3.yml", "a: \"unterminated\nb: 1\n"),
        ("bad4.yml", "a: 1\n\tb: 2\n"),
        ("bad5.yml", "a: &x 1\n---\nb: *x\n"),
    ] {
        let f = c.file(name, text);
        same_in_ns(&c, &["apply", "-f", &f]);
    }

    // Errors.
    let other_ns = c.file(
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: o, namespace: elsewhere}\n",
    );
    let empty = c.file("empty.yaml", "# nothing\n");
    let unknown = c.file(
        "unknown.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
    );
    let bad = c.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {k: [1]}\n",
    );
    let bad_pod = c.file(
        "badpod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
    );
    let no_ns = c.file(
        "nons.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: o, namespace: nosuch}\n",
    );
    for args in [
        &["apply", "-f", &bad_pod][..],
        &["apply", "-f", &no_ns],
        &["apply", "-f", "/nonexistent.yaml"],
        &["apply", "-f", &other_ns],
        &["apply", "-f", &empty],
        &["apply", "-f", &unknown],
        &["apply", "-f", &bad],
        &["apply"],
        &["apply", "-f", &yaml, "--dry-run=bogus"],
        &["apply", "-f", &yaml, "--force-conflicts"],
    ] {
        same_in_ns(&c, args);
    }
}

#[test]
fn server_side_apply_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "namespace", ns]).ok();
    }
    let v1 = c.file("v1.yaml", V1);
    let v2 = c.file("v2.yaml", V2);
    same_in_ns(&c, &["apply", "--server-side", "-f", &v1]);
    same_in_ns(&c, &["apply", "--server-side", "-f", &v2]);
    same_in_ns(
        &c,
        &["apply", "--server-side", "-f", &v2, "--dry-run=server"],
    );
    let objects = ["deploy/web", "cm/cfg", "svc/web"];
    for o in objects {
        let k = c.kubectl(&["get", o, "-n", "k", "-o", "json"]).ok().json();
        let r = c.kubectl(&["get", o, "-n", "r", "-o", "json"]).ok().json();
        assert_eq!(comparable(k, "k"), comparable(r, "r"), "{o}");
    }
    // Someone else takes spec.replicas: a conflict, then forced.
    for ns in ["k", "r"] {
        c.kubectl(&[
            "patch",
            "deploy",
            "web",
            "-n",
            ns,
            "--type=merge",
            "--field-manager=hotfix",
            "-p",
            r#"{"spec":{"replicas":7}}"#,
        ])
        .ok();
    }
    let (k, _) = same_in_ns(&c, &["apply", "--server-side", "-f", &v1]);
    assert!(k.stderr.contains("Apply failed with"), "{}", k.stderr);
    same_in_ns(
        &c,
        &["apply", "--server-side", "--force-conflicts", "-f", &v1],
    );
    same_in_ns(
        &c,
        &[
            "apply",
            "--server-side",
            "--field-manager=ci",
            "-f",
            &v1,
            "-o",
            "name",
        ],
    );

    // Client-side applied objects taken over by server-side apply keep their annotation.
    for ns in ["k", "r"] {
        c.kubectl(&["create", "namespace", &format!("{ns}2")]).ok();
    }
    c.kubectl(&["apply", "-f", &v1, "-n", "k2"]).ok();
    c.kubectl(&["apply", "-f", &v1, "-n", "r2"]).ok();
    c.kubectl(&["apply", "--server-side", "-f", &v2, "-n", "k2"])
        .ok();
    c.rkubectl(&["apply", "--server-side", "-f", &v2, "-n", "r2"])
        .ok();
    let ann = |ns: &str| {
        let d = c
            .kubectl(&["get", "cm/cfg", "-n", ns, "-o", "json"])
            .ok()
            .json();
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .map(|s| s.replace(&format!("\"{ns}\""), "\"NS\""))
    };
    assert!(ann("k2").is_some());
    assert_eq!(ann("k2"), ann("r2"));
    // The client-side managers' fields moved to the server-side manager alike.
    for o in objects {
        let k = c.kubectl(&["get", o, "-n", "k2", "-o", "json"]).ok().json();
        let r = c.kubectl(&["get", o, "-n", "r2", "-o", "json"]).ok().json();
        assert_eq!(
            comparable(k, "k2"),
            comparable(r, "r2"),
            "{o} after migration"
        );
    }
    // A field dropped from the manifest afterwards is removed for both.
    c.kubectl(&["apply", "--server-side", "-f", &v1, "-n", "k2"])
        .ok();
    c.rkubectl(&["apply", "--server-side", "-f", &v1, "-n", "r2"])
        .ok();
    for o in objects {
        let k = c.kubectl(&["get", o, "-n", "k2", "-o", "json"]).ok().json();
        let r = c.kubectl(&["get", o, "-n", "r2", "-o", "json"]).ok().json();
        assert_eq!(
            comparable(k, "k2"),
            comparable(r, "r2"),
            "{o} after re-apply"
        );
    }
}

#[test]
fn custom_resources_get_merge_patches() {
    let c = Cluster::start(&["--disable-agent"]);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "namespace", ns]).ok();
    }
    let crd = c.file("crd.yaml", CRD);
    c.kubectl(&["apply", "-f", &crd]).ok();
    c.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=20s",
    ])
    .ok();
    let w1 = c.file(
        "w1.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1, parts: [a, b], opts: {x: 1, y: 2}}\n",
    );
    let w2 = c.file(
        "w2.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 2, parts: [b], opts: {x: 1}}\n",
    );
    same_in_ns(&c, &["apply", "-f", &w1]);
    same_in_ns(&c, &["apply", "-f", &w1]);
    same_in_ns(&c, &["apply", "-f", &w2]);
    let k = c
        .kubectl(&["get", "widget/w", "-n", "k", "-o", "json"])
        .ok()
        .json();
    let r = c
        .kubectl(&["get", "widget/w", "-n", "r", "-o", "json"])
        .ok()
        .json();
    assert_eq!(comparable(k.clone(), "k"), comparable(r, "r"));
    assert!(k["spec"]["opts"].get("y").is_none());
    // patch: strategic merge is refused for custom resources, merge patches work.
    same_in_ns(
        &c,
        &["patch", "widget", "w", "-p", r#"{"spec":{"size":3}}"#],
    );
    same_in_ns(
        &c,
        &[
            "patch",
            "widget",
            "w",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":3}}"#,
        ],
    );
    same_in_ns(
        &c,
        &[
            "patch",
            "widget",
            "w",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":3}}"#,
        ],
    );
    // Cross-client: unchanged.
    same_in_ns(&c, &["apply", "-f", &w2]);
    let out = c.rkubectl(&["apply", "-f", &w2, "-n", "k"]).ok().stdout;
    assert_eq!(out, "widget.example.com/w unchanged\n");
}

/// `kubectl apply -f -` reads stdin.
#[test]
fn apply_from_stdin() {
    let c = Cluster::start(&["--disable-agent"]);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\ndata: {a: b}\n";
    let k = c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], cm);
    let r = c.rkubectl_stdin(&["apply", "-f", "-"], cm);
    assert_eq!((k.code, k.stdout.as_str()), (0, "configmap/s created\n"));
    assert_eq!((r.code, r.stdout.as_str()), (0, "configmap/s unchanged\n"));
    assert!(rkube_bin().exists());
}
