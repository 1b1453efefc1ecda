//! Everyday kubectl commands against the API server, with kubectl 1.32 and 1.27.

use rkube_e2e::{Cluster, KUBECTL_1_27, KUBECTL_1_32};

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
        env: [{name: A, value: "1"}]
      - name: sidecar
        image: registry.local/sidecar:1.0
"#;

fn run_commands(kubectl: &str) {
    let c = Cluster::start(&[]);
    let k = |args: &[&str]| c.kubectl_v(kubectl, args);
    let f = c.file("d.yaml", DEPLOY);
    k(&["apply", "-f", &f]).ok();

    // label / annotate (strategic or merge patches under the hood).
    k(&["label", "deploy", "web", "tier=front"]).ok();
    k(&["annotate", "deploy", "web", "owner=team-a"]).ok();
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    assert_eq!(d["metadata"]["labels"]["tier"], "front");
    assert_eq!(d["metadata"]["annotations"]["owner"], "team-a");
    k(&["label", "deploy", "web", "tier-"]).ok();
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    assert!(d["metadata"]["labels"].get("tier").is_none(), "{d}");
    let r = k(&["label", "deploy", "web", "app=other"]);
    assert_ne!(r.code, 0, "overwriting a label needs --overwrite");

    // scale through /scale.
    let out = k(&["scale", "deploy", "web", "--replicas=4"]).ok().stdout;
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    assert_eq!(d["spec"]["replicas"], 4);
    let r = k(&[
        "scale",
        "deploy",
        "web",
        "--replicas=3",
        "--current-replicas=2",
    ]);
    assert_ne!(r.code, 0, "precondition fails");

    // set image: strategic merge keeps the other container.
    k(&["set", "image", "deploy/web", "web=registry.local/web:2.0"]).ok();
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    let cs = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0]["image"], "registry.local/web:2.0");
    assert_eq!(cs[1]["image"], "registry.local/sidecar:1.0");
    assert_eq!(cs[0]["env"][0]["name"], "A", "env kept");

    // set env merges by name.
    k(&["set", "env", "deploy/web", "-c", "web", "B=2"]).ok();
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(env, 2);

    // rollout restart stamps the template.
    k(&["rollout", "restart", "deploy/web"]).ok();
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );

    // edit with a scripted editor.
    let editor = c.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replicas: 4/replicas: 6/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let r = c
        .command(kubectl)
        .args(["edit", "deploy", "web"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "edit: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    assert_eq!(d["spec"]["replicas"], 6);

    // describe prints the object.
    let out = k(&["describe", "deploy", "web"]).ok().stdout;
    assert!(
        out.contains("Name:") && out.contains("web") && out.contains("Replicas:"),
        "{out}"
    );

    // patch types.
    k(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
    ])
    .ok();
    k(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"m":"1"}}}"#,
    ])
    .ok();
    let d = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["metadata"]["labels"]["m"], "1");
    let r = k(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
    ]);
    assert_ne!(r.code, 0);

    // replace, and optimistic concurrency.
    let mut obj = k(&["get", "deploy", "web", "-o", "json"]).ok().json();
    obj["spec"]["replicas"] = serde_json::json!(1);
    let p = c.file("replace.json", &obj.to_string());
    k(&["replace", "-f", &p]).ok();
    let r = k(&["replace", "-f", &p]);
    assert!(
        r.stderr.contains("the object has been modified"),
        "stale resourceVersion conflicts: {}",
        r.stderr
    );

    // get -o wide, get all, explain.
    let wide = k(&["get", "deploy", "-o", "wide"]).ok().stdout;
    assert!(
        wide.contains("CONTAINERS") && wide.contains("IMAGES") && wide.contains("SELECTOR"),
        "{wide}"
    );
    let all = k(&["get", "all"]).ok().stdout;
    assert!(
        all.contains("deployment.apps/web") && all.contains("service/kubernetes"),
        "{all}"
    );
    let explain = k(&["explain", "deployment.spec.strategy"]).ok().stdout;
    assert!(
        explain.contains("DeploymentStrategy") && explain.contains("rollingUpdate"),
        "{explain}"
    );

    // create secret / configmap / deployment / namespace.
    k(&[
        "create",
        "secret",
        "generic",
        "s1",
        "--from-literal=user=admin",
        "--from-literal=pass=x",
    ])
    .ok();
    let env = c.file("app.env", "# comment\nA=1\nB=two\n");
    k(&[
        "create",
        "secret",
        "generic",
        "s2",
        &format!("--from-env-file={env}"),
    ])
    .ok();
    let s2 = k(&["get", "secret", "s2", "-o", "json"]).ok().json();
    assert_eq!(s2["data"]["B"], "dHdv");
    assert_eq!(s2["type"], "Opaque");
    k(&["create", "namespace", "made"]).ok();
    k(&[
        "create",
        "deployment",
        "made",
        "--image=registry.local/x:1",
        "-n",
        "made",
    ])
    .ok();
    let d = k(&["get", "deploy", "made", "-n", "made", "-o", "json"])
        .ok()
        .json();
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "made");

    // delete by name.
    let out = k(&["delete", "deploy", "web", "--cascade=background"])
        .ok()
        .stdout;
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    assert_ne!(k(&["get", "deploy", "web"]).code, 0);
}

#[test]
fn commands_kubectl_1_32() {
    run_commands(KUBECTL_1_32);
}

#[test]
fn commands_kubectl_1_20() {
    run_commands(rkube_e2e::KUBECTL_1_20);
}

#[test]
fn commands_kubectl_1_27() {
    run_commands(KUBECTL_1_27);
}
