//! `rkube kubectl get` against real kubectl 1.32 on the same cluster.

use rkube_e2e::golden::{assert_exact, assert_same, normalize};
use rkube_e2e::Cluster;

#[test]
fn get_prints_what_kubectl_prints() {
    let c = Cluster::start(&["--disable-agent"]);
    c.kubectl(&["create", "namespace", "prod"]).ok();
    c.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
    ])
    .ok();
    c.kubectl(&[
        "create",
        "deployment",
        "api",
        "--image=busybox",
        "-n",
        "prod",
    ])
    .ok();
    c.kubectl(&["run", "p1", "--image=busybox", "-l", "app=x,tier=db"])
        .ok();
    c.kubectl(&[
        "create",
        "service",
        "clusterip",
        "api",
        "--tcp=80:8080",
        "-n",
        "prod",
    ])
    .ok();
    for args in [
        &["get", "pods"][..],
        &["get", "pods", "-A"],
        &["get", "pods", "-o", "wide"],
        &["get", "deploy,rs", "-n", "prod"],
        &["get", "all", "-A"],
        &["get", "ns", "--show-labels"],
        &["get", "po", "-L", "app,tier", "-A"],
        &["get", "pods", "-l", "app=x"],
        &["get", "pod/p1", "deploy/web"],
        &["get", "pods", "--no-headers"],
        &["get", "nodes"],
        &["get", "pod", "nosuch"],
        &["get", "pod", "nosuch", "--ignore-not-found"],
        &["get", "pods", "-n", "empty"],
        &["get", "foo"],
        &["get"],
        &["get", "pod", "p1", "deploy/web"],
        &["get", "pod/p1", "web"],
        &["get", "pods", "-n", "prod", "-n", "default"],
    ] {
        assert_same(&c, args);
    }
    for args in [
        &["get", "deploy", "web", "-o", "json"][..],
        &["get", "svc", "-n", "prod", "-o", "name"],
        &["get", "deploy", "-A", "-o", "name"],
        &["get", "pods", "-o", "json"],
        &["get", "pods", "-o", "xml"],
    ] {
        assert_exact(&c, args);
    }
}

const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: tricky
  labels: {app: web, "yes": "no"}
  annotations:
    long: "a long annotation value that goes on and on and on past the eighty column limit of go-yaml for sure"
data:
  script.sh: |
    #!/bin/sh
    echo "hello: world"

    exit 0
  trailing: "no newline\nat the end"
  number: "123"
  float: "1.5"
  octal: "0777"
  bool: "yes"
  "on": "on"
  empty: ""
  "null": "null"
  tilde: "~"
  date: "2026-11-21"
  time: "2026-11-21T08:26:51Z"
  colon: "a: b"
  hash: "a #b"
  lead: " space"
  star: "*x"
  quote: "it's"
  tab: "a\tb"
  unicode: "héllo 😀"
  key10: x
  key2: "y"
"#;

/// Whitespace, line-break and quoting corner cases, created with apply (so the
/// last-applied annotation, a long JSON string, is printed too).
const APPLIED: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  annotations:
    note: "  leading spaces and a very long text that should be folded somewhere after eighty columns, really: yes # not a comment"
    multi: "line one  \nline two\n\n\nline five   "
    json: '{"a": [1, 2, {"b": "c: d"}], "e": "it''s"}'
data:
  crlf: "a\r\nb\r\n"
  tabs: "\tindented\n\tmore\n"
  lead: "\nstarts with newline"
  ws: "   "
  dash: "- item\n- item2"
  longword: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbb"
  quoted_long: "yes this is long enough to need folding because it goes on and on and on and on and on forever"
  k8s: "v1.32.5"
  ip: "10.0.0.1"
  num_exp: "1e10"
  inf: "-.Inf"
  hexish: "0xdeadbeef"
  semver: "1.2"
  colon_space_end: "key: "
  percent: "100%"
  bracket_mid: "a[0]"
  unicode_ls: "a\u2028b"
  bom: "\ufeffbom"
binaryData:
  bin: AAECAwQ=
"#;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: "https"}
"#;

#[test]
fn structured_output_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    c.kubectl(&["apply", "-f", &c.file("cm.yaml", CONFIGMAP)])
        .ok();
    c.kubectl(&["apply", "-f", &c.file("applied.yaml", APPLIED)])
        .ok();
    c.kubectl(&["apply", "-f", &c.file("svc.yaml", SERVICE)])
        .ok();
    c.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
    ])
    .ok();
    c.kubectl(&["create", "deployment", "api", "--image=nginx", "--port=80"])
        .ok();
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "s1",
        "--from-literal=password=s3cr3t",
        "--from-literal=token=123",
    ])
    .ok();
    for n in ["c1", "c2", "c10"] {
        c.kubectl(&["create", "configmap", n, &format!("--from-literal=n={n}")])
            .ok();
    }
    for args in [
        &["get", "cm", "tricky", "-o", "yaml"][..],
        &["get", "svc", "web", "-o", "yaml"],
        &["get", "cm", "applied", "-o", "yaml"],
        &["get", "cm", "applied", "-o", "json"],
        &["get", "cm", "applied", "-o", "jsonpath={.data}"],
        &[
            "get",
            "cm",
            "applied",
            "-o",
            "custom-columns=A:.data.tabs,B:.metadata.annotations.multi,C:.data.crlf",
        ],
        &["get", "deploy", "web", "-o", "yaml"],
        &["get", "secret", "s1", "-o", "yaml"],
        &["get", "deploy", "-o", "yaml"],
        &["get", "cm,svc", "-o", "yaml"],
        &[
            "get",
            "ns",
            "default",
            "-o",
            "yaml",
            "--show-managed-fields",
        ],
        &["get", "cm", "-o", "jsonpath={.items[*].metadata.name}"],
        &[
            "get",
            "cm",
            "tricky",
            "-o",
            "jsonpath={.data.number} {.metadata.labels}{\"\\n\"}",
        ],
        &[
            "get",
            "deploy",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}:{.spec.replicas}{\"\\n\"}{end}",
        ],
        &[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[?(@.name==\"https\")].port}",
        ],
        &[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={@.kind} {$.metadata.name} {.spec.ports[*].name} {.spec.ports}",
        ],
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}{.missing}",
        ],
        &[
            "get",
            "cm",
            "-o",
            "jsonpath-as-json={.items[*].metadata.name}{.nope}",
        ],
        &["get", "cm", "tricky", "-o", "jsonpath={.data.number[0]}"],
        &["get", "cm", "-o", "jsonpath={.items[99]}"],
        &["get", "cm", "tricky", "-o", "jsonpath={.data"],
        &["get", "cm", "tricky", "-o", "jsonpath="],
        &[
            "get",
            "cm",
            "-o",
            "custom-columns=NAME:.metadata.name,DATA:.data.n,X:.nope",
        ],
        &[
            "get",
            "deploy",
            "-o",
            "custom-columns=N:{.metadata.name},IMG:spec.template.spec.containers[*].image",
            "--no-headers",
        ],
        &[
            "get",
            "svc",
            "web",
            "-o",
            "custom-columns=PORTS:.spec.ports[*].port,SEL:.spec.selector",
        ],
        &["get", "cm", "-o", "custom-columns=NAME"],
        &["get", "cm", "--sort-by=.metadata.name", "-o", "name"],
        &[
            "get",
            "cm",
            "--sort-by=.data.n",
            "-o",
            "custom-columns=N:.metadata.name",
        ],
        &["get", "cm", "--sort-by=.nope", "-o", "name"],
        &["get", "deploy,cm", "--sort-by=.metadata.name"],
        &[
            "get",
            "cm",
            "--sort-by={.metadata.name}",
            "-o",
            "custom-columns=N:.metadata.name",
        ],
    ] {
        assert_exact(&c, args);
    }
    for args in [
        &["get", "cm", "--sort-by=.metadata.name"][..],
        &["get", "cm", "--sort-by=.nope"],
        &[
            "get",
            "deploy",
            "--sort-by=.spec.template.spec.containers[0].image",
        ],
    ] {
        assert_same(&c, args);
    }
    let manifests = c.file(
        "objs.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nosuch\n  namespace: kube-system\n",
    );
    let one = c.file(
        "one.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
    );
    for args in [
        &["get", "-f", &manifests][..],
        &["get", "-f", &one, "-o", "name"],
        &["get", "-f", &one, "-o", "yaml"],
        &["get", "-f", &one, "pods"],
        &["get", "-f", "/nonexistent.yaml"],
    ] {
        assert_same(&c, args);
    }
    let jp = c.file("jp.txt", "{range .items[*]}{.metadata.name}{\"\\n\"}{end}");
    let bad = c.file("bad.txt", "A B\n.a\n");
    for output in [
        format!("jsonpath-file={jp}"),
        "jsonpath-file=/nonexistent".to_string(),
        "custom-columns-file=/nonexistent".to_string(),
        format!("custom-columns-file={bad}"),
        "custom-columns-file=".to_string(),
        "jsonpath-as-json=".to_string(),
    ] {
        assert_exact(&c, &["get", "cm", "-o", &output]);
    }
    let cols = c.file(
        "cols.txt",
        "NAME   REPLICAS\n.metadata.name {.spec.replicas}\n",
    );
    assert_exact(
        &c,
        &[
            "get",
            "deploy",
            "-o",
            &format!("custom-columns-file={cols}"),
        ],
    );
}

/// Starts `get ARGS` in both clients, makes the same changes, stops both and compares
/// what they printed (ages and generated names normalised).
fn watch_both(c: &Cluster, args: &[&str], changes: &dyn Fn(usize)) -> (String, String) {
    use rkube_e2e::{rkube_bin, KUBECTL_1_32};
    use std::io::Read;
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    /// A running client; its stdout and stderr, read as they come.
    type Output = Arc<Mutex<(String, String)>>;
    type Watch = (
        std::process::Child,
        Output,
        [std::thread::JoinHandle<()>; 2],
    );
    let spawn = |program: &str, sub: Option<&str>| {
        let mut cmd = c.command(program);
        if let Some(s) = sub {
            cmd.arg(s);
        }
        let mut child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watch");
        let out = Arc::new(Mutex::new((String::new(), String::new())));
        let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
        let o = out.clone();
        let t1 = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Some(n) = so
                .as_mut()
                .and_then(|s| s.read(&mut buf).ok())
                .filter(|n| *n > 0)
            {
                if let Ok(mut g) = o.lock() {
                    g.0.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let o = out.clone();
        let t2 = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(e) = se.as_mut() {
                let _ = e.read_to_string(&mut text);
            }
            if let Ok(mut g) = o.lock() {
                g.1 = text;
            }
        });
        let w: Watch = (child, out, [t1, t2]);
        w
    };
    let printed = |o: &Output| o.lock().map(|g| g.0.clone()).unwrap_or_default();
    let rkube = rkube_bin().display().to_string();
    let k = spawn(KUBECTL_1_32, None);
    let r = spawn(&rkube, Some("kubectl"));
    // Both have listed (or, watching only, had time to start watching).
    let start = Instant::now();
    let watch_only = args.contains(&"--watch-only");
    while start.elapsed() < Duration::from_millis(1500)
        || (!watch_only
            && start.elapsed() < Duration::from_secs(15)
            && (printed(&k.1).is_empty() || printed(&r.1).is_empty()))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for step in 0..2 {
        changes(step);
        std::thread::sleep(Duration::from_millis(700));
    }
    // Stopped once both printed the same (or after a while, to show the difference).
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && normalize(&printed(&k.1)) != normalize(&printed(&r.1)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let finish = |(mut child, out, threads): Watch| {
        child.kill().ok();
        child.wait().ok();
        for t in threads {
            t.join().ok();
        }
        let g = out.lock().map(|g| g.clone()).unwrap_or_default();
        format!("{}{}", g.0, g.1)
    };
    (normalize(&finish(k)), normalize(&finish(r)))
}

#[test]
fn watch_prints_what_kubectl_prints() {
    let c = Cluster::start(&["--disable-agent"]);
    for n in ["c1", "c2"] {
        c.kubectl(&["create", "configmap", n, "--from-literal=a=b"])
            .ok();
    }
    let cases: &[&[&str]] = &[
        &["get", "cm", "-w"],
        &["get", "cm", "--watch-only"],
        &["get", "cm", "c1", "-w"],
        &["get", "cm", "-w", "--output-watch-events"],
        &["get", "cm", "--watch-only", "--output-watch-events"],
        &["get", "cm", "-w", "-o", "name"],
        &[
            "get",
            "cm",
            "c1",
            "-w",
            "-o",
            "yaml",
            "--output-watch-events",
        ],
        &["get", "cm", "c1", "--watch-only", "-o", "json"],
        &[
            "get",
            "cm",
            "-w",
            "-o",
            "jsonpath={.metadata.name}{\"\\n\"}",
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        let (k, r) = watch_both(&c, args, &|step| {
            if step == 0 {
                c.kubectl(&[
                    "create",
                    "configmap",
                    &format!("new{i}"),
                    "--from-literal=x=y",
                ])
                .ok();
            } else {
                c.kubectl(&[
                    "label",
                    "configmap",
                    "c1",
                    &format!("step={i}"),
                    "--overwrite",
                ])
                .ok();
            }
        });
        assert!(
            k.contains("c1"),
            "kubectl printed nothing for {args:?}: {k}"
        );
        assert_eq!(k, r, "watch output differs for {args:?}");
    }
    for args in [
        &["get", "cm,secrets", "-w"][..],
        &["get", "cm", "c1", "nosuch", "-w"],
        &["get", "cm", "c1", "c2", "-w"],
    ] {
        assert_same(&c, args);
    }
}

/// The binary run through a symlink named `kubectl` is kubectl.
#[test]
fn a_symlink_named_kubectl_is_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    let link = c.dir.path().join("bin/kubectl");
    std::fs::create_dir_all(c.dir.path().join("bin")).expect("bin dir");
    std::os::unix::fs::symlink(rkube_e2e::rkube_bin(), &link).expect("symlink");
    let via_link = c.kubectl_v(&link.display().to_string(), &["get", "ns"]);
    let real = c.kubectl(&["get", "ns"]);
    assert_eq!(via_link.code, 0, "{}", via_link.stderr);
    assert_eq!(
        rkube_e2e::golden::normalize(&via_link.stdout),
        rkube_e2e::golden::normalize(&real.stdout)
    );
    let bad = c.kubectl_v(&link.display().to_string(), &["get", "nosuchtype"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "error: the server doesn't have a resource type \"nosuchtype\"\n"
    );
}
