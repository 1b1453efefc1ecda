//! `rkube kubectl create|delete|replace|patch|edit` against real kubectl 1.32: each
//! command runs with kubectl in namespace `k` and with rkube in `r` on identical objects;
//! output, exit code and the resulting objects must agree.

use rkube_e2e::golden::{assert_exact, same_in_ns};
use rkube_e2e::{rkube_bin, Cluster, Run, KUBECTL_1_32};
use serde_json::Value;
use std::time::Duration;

fn namespaces(c: &Cluster) {
    for ns in ["k", "r"] {
        c.kubectl(&["create", "namespace", ns]).ok();
    }
}

/// An object without the fields that differ between two copies.
fn comparable(c: &Cluster, what: &str, ns: &str) -> Value {
    let mut v = c
        .kubectl(&["get", what, "-n", ns, "-o", "json"])
        .ok()
        .json();
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
    if let Some(a) = v["metadata"]["annotations"].as_object_mut() {
        a.remove("deployment.kubernetes.io/revision");
    }
    if let Some(a) =
        v["metadata"]["annotations"].get_mut("kubectl.kubernetes.io/last-applied-configuration")
    {
        let text = a.as_str().expect("annotation");
        *a = Value::String(text.replace(&format!("\"namespace\":\"{ns}\""), "NS"));
    }
    v.as_object_mut().expect("object").remove("status");
    v
}

#[track_caller]
fn assert_same_objects(c: &Cluster, what: &[&str]) {
    for w in what {
        assert_eq!(comparable(c, w, "k"), comparable(c, w, "r"), "{w} differs");
    }
}

#[test]
fn create_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    namespaces(&c);
    let dir = std::path::PathBuf::from(c.file("f1.txt", "hello"));
    let base = dir.parent().expect("dir").to_path_buf();
    std::fs::create_dir_all(base.join("data")).expect("mkdir");
    std::fs::write(base.join("data/k1"), "a").expect("write");
    std::fs::write(base.join("data/k2"), "b").expect("write");
    let env = c.file("env.txt", "# comment\nA=1\nB= two \n\n  D=4\n");
    let f1 = dir.display().to_string();
    let data = base.join("data").display().to_string();
    let from_file = format!("--from-file={f1}");
    let keyed = format!("--from-file=key={f1}");
    let from_dir = format!("--from-file={data}");
    let from_env = format!("--from-env-file={env}");

    // What the generators build, printed without a server round trip.
    for args in [
        &["create", "namespace", "x", "--dry-run=client", "-o", "yaml"][..],
        &["create", "ns", "x", "--dry-run=client", "-o", "json"],
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.2",
            "--image=reg.io/a/busy:1@sha256:0123",
            "--port=80",
            "--replicas=2",
            "--dry-run=client",
            "-o",
            "json",
        ],
        &[
            "create",
            "deploy",
            "web",
            "--image=nginx",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "configmap",
            "c",
            "--from-literal=a=hello",
            &from_file,
            &keyed,
            &from_dir,
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "cm",
            "c",
            &from_env,
            "--dry-run=client",
            "-o",
            "json",
        ],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=a=b",
            &from_dir,
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--type=foo",
            "--from-literal=a=b",
            "--dry-run=client",
            "-o",
            "json",
            "-n",
            "zz",
        ],
        &[
            "create",
            "secret",
            "docker-registry",
            "d",
            "--docker-username=u",
            "--docker-password=p",
            "--docker-email=e@x",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "job",
            "j",
            "--image=busybox",
            "--dry-run=client",
            "-o",
            "json",
            "--",
            "sleep",
            "1",
        ],
        &[
            "create",
            "service",
            "clusterip",
            "s",
            "--tcp=80:8080",
            "--tcp=443",
            "--dry-run=client",
            "-o",
            "json",
        ],
        &[
            "create",
            "svc",
            "nodeport",
            "s",
            "--tcp=80:8080",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &["create", "ns", "x", "--dry-run=client"],
        &["create", "ns", "x", "--dry-run=client", "-o", "name"],
        // Mistakes.
        &["create", "deployment", "x"],
        &["create", "deployment", "--image=nginx"],
        &["create", "cm", "bad", "--from-literal=a"],
        &["create", "cm", "bad", "--from-literal=a b=1"],
        &["create", "ns", "x", "--dry-run=maybe"],
        &["create"],
        &["create", "-f", "/nonexistent.yaml"],
    ] {
        assert_exact(&c, args);
    }

    // Against the server, in each namespace.
    let manifest = c.file(
        "objs.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m1}\ndata: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: m2}\nstringData: {x: why}\n",
    );
    for args in [
        &["create", "-f", &manifest][..],
        &["create", "-f", &manifest],
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=2",
            "--port=8080",
        ],
        &["create", "deployment", "web", "--image=nginx"],
        &[
            "create",
            "configmap",
            "c",
            "--from-literal=a=1",
            &from_file,
            &from_env,
        ],
        &["create", "configmap", "c", "--from-literal=a=1", &from_file],
        &[
            "create",
            "secret",
            "generic",
            "s",
            &from_dir,
            "--type=example.com/x",
        ],
        &["create", "service", "clusterip", "svc", "--tcp=80:8080"],
        &[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:8080",
            "-o",
            "name",
        ],
        &[
            "create",
            "cm",
            "saved",
            "--from-literal=k=v",
            "--save-config",
        ],
        &[
            "create",
            "cm",
            "dry",
            "--from-literal=k=v",
            "--dry-run=server",
        ],
    ] {
        same_in_ns(&c, args);
    }
    assert_same_objects(
        &c,
        &[
            "cm/m1",
            "secret/m2",
            "deploy/web",
            "cm/c",
            "secret/s",
            "cm/saved",
        ],
    );
    let cronjob = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: \"0 1 * * *\"\n  jobTemplate:\n    metadata: {labels: {team: x}, annotations: {a: b}}\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: c, image: busybox}]\n";
    let cj = c.file("cj.yaml", cronjob);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "-f", &cj, "-n", ns]).ok();
    }
    same_in_ns(&c, &["create", "job", "manual", "--from=cronjob/nightly"]);
    same_in_ns(&c, &["create", "job", "bad", "--from=deployment/web"]);
    let k = comparable(&c, "job/manual", "k");
    let r = comparable(&c, "job/manual", "r");
    assert_eq!(k["metadata"]["annotations"], r["metadata"]["annotations"]);
    assert_eq!(k["metadata"]["labels"], r["metadata"]["labels"]);
    assert_eq!(k["spec"]["template"]["spec"], r["spec"]["template"]["spec"]);
    assert_eq!(
        k["metadata"]["ownerReferences"][0]["kind"],
        r["metadata"]["ownerReferences"][0]["kind"]
    );
}

#[test]
fn delete_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    namespaces(&c);
    let manifest = c.file(
        "objs.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: f1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: f2}\n",
    );
    for ns in ["k", "r"] {
        for n in ["a", "b", "c", "d", "e"] {
            c.kubectl(&["create", "configmap", n, "-n", ns]).ok();
        }
        c.kubectl(&["label", "cm", "c", "d", "sel=yes", "-n", ns])
            .ok();
        c.kubectl(&["create", "-f", &manifest, "-n", ns]).ok();
        c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", ns])
            .ok();
        c.kubectl(&["create", "deployment", "api", "--image=nginx", "-n", ns])
            .ok();
        c.kubectl(&["run", "p1", "--image=busybox", "-n", ns]).ok();
        c.kubectl(&["run", "p2", "--image=busybox", "-n", ns]).ok();
    }
    // The foreground and orphan cases below need each Deployment's ReplicaSet to exist
    // before the Deployment goes (one created meanwhile is only collected afterwards).
    for ns in ["k", "r"] {
        for app in ["web", "api"] {
            c.wait_until(
                Duration::from_secs(30),
                &format!("{app}'s ReplicaSet"),
                || {
                    !c.kubectl(&[
                        "get",
                        "rs",
                        "-l",
                        &format!("app={app}"),
                        "-n",
                        ns,
                        "-o",
                        "name",
                    ])
                    .stdout
                    .trim()
                    .is_empty()
                },
            );
        }
    }
    for args in [
        &["delete", "cm", "a"][..],
        &["delete", "cm", "a"],
        &["delete", "cm", "a", "--ignore-not-found"],
        &["delete", "configmap/b", "cm/nosuch"],
        &["delete", "cm", "-l", "sel=yes"],
        &["delete", "cm", "-l", "sel=none"],
        &["delete", "-f", &manifest],
        &["delete", "deploy", "web", "--cascade=foreground"],
        &[
            "delete",
            "deployment.apps/api",
            "--cascade=orphan",
            "-o",
            "name",
        ],
        &["delete", "pod", "p1", "--now"],
        &["delete", "pod", "p2", "--force", "--grace-period=0"],
        &["delete", "cm", "e", "--dry-run=client"],
        &["delete", "cm", "nosuch", "--dry-run=client"],
        &["delete", "cm", "e", "--wait=false"],
        &["delete", "cm", "--all"],
        &["delete"],
        &["delete", "pods"],
        &["delete", "pod", "x", "y/z"],
        &["delete", "pod/x", "y"],
        &["delete", "pod", "x", "--now", "--grace-period=3"],
        &["delete", "pod", "x", "--force", "--grace-period=3"],
        &["delete", "pods", "--all", "-l", "a=b"],
        &["delete", "-f", "/nonexistent.yaml"],
        &["delete", "nosuchtype", "x"],
    ] {
        same_in_ns(&c, args);
    }
    // Everything asked for is gone once delete returns (it waits); the orphaned
    // ReplicaSet of `api` stays.
    for ns in ["k", "r"] {
        let left = c
            .kubectl(&["get", "cm,deploy,rs", "-n", ns, "-o", "name"])
            .ok();
        let left: Vec<&str> = left
            .stdout
            .lines()
            .filter(|l| *l != "configmap/kube-root-ca.crt")
            .collect();
        assert_eq!(left.len(), 1, "{ns}: {left:?}");
        assert!(
            left[0].starts_with("replicaset.apps/api-"),
            "{ns}: {left:?}"
        );
        let pods = c.kubectl(&["get", "pod", "p1", "p2", "-n", ns, "--ignore-not-found"]);
        assert_eq!(pods.stdout, "", "{ns}");
    }
    // -A with --all across namespaces.
    for ns in ["k", "r"] {
        c.kubectl(&[
            "create",
            "secret",
            "generic",
            "gone",
            "--from-literal=a=b",
            "-n",
            ns,
        ])
        .ok();
    }
    let r = c
        .rkubectl(&[
            "delete",
            "secrets",
            "--field-selector=metadata.name=gone",
            "-A",
        ])
        .ok();
    assert_eq!(
        r.stdout,
        "secret \"gone\" deleted\nsecret \"gone\" deleted\n"
    );
}

#[test]
fn replace_and_patch_match_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    namespaces(&c);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "configmap", "cfg", "--from-literal=a=1", "-n", ns])
            .ok();
        c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", ns])
            .ok();
    }
    let cm = c.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: \"2\", b: x}\n",
    );
    let missing = c.file(
        "missing.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: missing}\n",
    );
    let patch_file = c.file("p.yaml", "data:\n  fromfile: \"yes\"\n");
    let pf = format!("--patch-file={patch_file}");
    for args in [
        &["replace", "-f", &cm][..],
        &["replace", "-f", &cm, "-o", "name"],
        &["replace", "-f", &missing],
        &["replace", "-f", &cm, "--force"],
        &["replace", "-f", &cm, "--dry-run=server"],
        &["replace"],
        &["patch", "cm", "cfg", "-p", r#"{"data":{"a":"3"}}"#],
        &["patch", "cm", "cfg", "-p", r#"{"data":{"a":"3"}}"#],
        &["patch", "cm/cfg", "--type=merge", "-p", "data: {c: z}"],
        &[
            "patch",
            "cm",
            "cfg",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/data/c"}]"#,
            "-o",
            "name",
        ],
        &["patch", "cm", "cfg", &pf],
        &[
            "patch",
            "cm",
            "cfg",
            "-p",
            r#"{"data":{"d":"1"}}"#,
            "--dry-run=client",
        ],
        &[
            "patch",
            "cm",
            "cfg",
            "-p",
            r#"{"data":{"d":"1"}}"#,
            "--dry-run=server",
        ],
        &[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}"#,
        ],
        &[
            "patch",
            "deploy",
            "web",
            "--subresource=scale",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":4}}"#,
        ],
        &[
            "patch",
            "deploy",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"observedGeneration":9}}"#,
            "-o",
            "name",
        ],
        &["patch", "cm", "nosuch", "-p", "{}"],
        &["patch", "cm", "cfg"],
        &["patch", "cm", "cfg", "-p", "{}", "--type=foo"],
        &[
            "patch",
            "cm",
            "cfg",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/data/nosuch"}]"#,
        ],
    ] {
        same_in_ns(&c, args);
    }
    assert_same_objects(&c, &["cm/cfg", "deploy/web"]);
}

/// `kubectl edit` with the editor replaced by a `sed` script.
fn edit(c: &Cluster, rkube: bool, editor: &str, args: &[&str]) -> Run {
    let mut cmd = if rkube {
        let mut cmd = c.command(&rkube_bin().display().to_string());
        cmd.arg("kubectl");
        cmd
    } else {
        c.command(KUBECTL_1_32)
    };
    let out = cmd
        .args(args)
        .env("KUBE_EDITOR", editor)
        .output()
        .expect("run edit");
    // The saved copies have random names.
    let scrub = |s: &[u8]| {
        String::from_utf8_lossy(s)
            .split(' ')
            .map(|w| {
                if w.contains("-edit-") {
                    "<copy>".to_string()
                } else {
                    w.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: scrub(&out.stdout),
        stderr: scrub(&out.stderr),
    }
}

#[test]
fn edit_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    namespaces(&c);
    for ns in ["k", "r"] {
        c.kubectl(&["create", "configmap", "cfg", "--from-literal=a=1", "-n", ns])
            .ok();
        c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", ns])
            .ok();
    }
    for (editor, args) in [
        (
            "sed -i s/^\\ \\ a:.*/\\ \\ a:\\ edited/",
            &["edit", "cm", "cfg"][..],
        ),
        ("sed -i s/a:.*/a:\\ broken/", &["edit", "cm", "cfg"]),
        (
            "sed -i s/replicas:.*/replicas:\\ 3/",
            &["edit", "deploy/web"],
        ),
        (
            "sed -i s/image:.*/image:\\ nginx:2/",
            &["edit", "deployment", "web", "-o", "json"],
        ),
        ("true", &["edit", "cm", "cfg"]),
        ("sed -i s/^kind:.*/kind:\\ Secret/", &["edit", "cm", "cfg"]),
        ("sed -i s/^data:/datax:/", &["edit", "cm", "cfg"]),
        ("sed -i /^/d", &["edit", "cm", "cfg"]),
        ("true", &["edit", "cm", "nosuch"]),
    ] {
        let mut ka = args.to_vec();
        ka.extend(["-n", "k"]);
        let mut ra = args.to_vec();
        ra.extend(["-n", "r"]);
        let mut k = edit(&c, false, editor, &ka);
        k.stderr = k.stderr.replace("kubectl.1.32 ", "kubectl ");
        let r = edit(&c, true, editor, &ra);
        let fix = |s: &str| s.replace("\"r\"", "\"k\"");
        assert_eq!(
            (k.code, &k.stdout, &k.stderr),
            (r.code, &r.stdout, &fix(&r.stderr)),
            "{args:?} with {editor}"
        );
    }
    assert_same_objects(&c, &["cm/cfg", "deploy/web"]);
}
