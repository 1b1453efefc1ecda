//! `rkube kubectl` commands that change workloads and metadata (scale, set, rollout,
//! label, annotate) against real kubectl 1.32 on the same cluster. State-changing commands
//! run kubectl on one object (`…-k`) and rkube on an identical twin (`…-r`); the printed
//! text (names substituted) and the resulting objects must agree.

use rkube_e2e::golden::assert_same;
use rkube_e2e::{Cluster, Run};
use serde_json::Value;

/// Runs `args` (with `@` standing for the twin's suffix) with kubectl on `-k` objects and
/// with rkube on `-r` objects, and asserts the same exit code and text.
#[track_caller]
fn twin(c: &Cluster, args: &[&str]) -> (Run, Run) {
    let ka: Vec<String> = args.iter().map(|a| a.replace('@', "k")).collect();
    let ra: Vec<String> = args.iter().map(|a| a.replace('@', "r")).collect();
    let k = c.kubectl(&ka.iter().map(String::as_str).collect::<Vec<_>>());
    let r = c.rkubectl(&ra.iter().map(String::as_str).collect::<Vec<_>>());
    let sub = |s: &str| s.replace("-r", "-k");
    let show = format!(
        "kubectl {}\n--- kubectl (exit {}):\n{}{}\n--- rkube (exit {}):\n{}{}",
        ka.join(" "),
        k.code,
        k.stdout,
        k.stderr,
        r.code,
        r.stdout,
        r.stderr
    );
    assert_eq!(k.code, r.code, "exit codes differ: {show}");
    assert_eq!(k.stdout, sub(&r.stdout), "stdout differs: {show}");
    assert_eq!(k.stderr, sub(&r.stderr), "stderr differs: {show}");
    (k, r)
}

/// An object as JSON without the fields that differ between two twins by nature.
fn stable(c: &Cluster, what: &str) -> Value {
    let mut v = c.kubectl(&["get", what, "-o", "json"]).ok().json();
    let m = v["metadata"].as_object_mut().expect("metadata");
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "name",
        "generation",
    ] {
        m.remove(k);
    }
    if let Some(a) = v["spec"]["template"]["metadata"]["annotations"].as_object_mut() {
        a.remove("kubectl.kubernetes.io/restartedAt");
    }
    v.as_object_mut().expect("object").remove("status");
    let text = v.to_string().replace("-r", "-k");
    serde_json::from_str(&text).expect("json")
}

/// The twins end up equal. Controllers write some of what is compared (the Deployment's
/// revision annotation) after the command returns, so the twins get a while to agree.
#[track_caller]
fn same_objects(c: &Cluster, kind: &str, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let k = stable(c, &format!("{kind}/{base}-k"));
        let r = stable(c, &format!("{kind}/{base}-r"));
        if k == r || std::time::Instant::now() > deadline {
            assert_eq!(k, r, "{kind} {base}-k and {base}-r differ");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn twins(c: &Cluster, base: &str, image: &str) {
    for s in ["k", "r"] {
        c.kubectl(&[
            "create",
            "deployment",
            &format!("{base}-{s}"),
            &format!("--image={image}"),
        ])
        .ok();
    }
}

#[test]
fn scale_label_annotate_match_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    twins(&c, "web", "busybox");
    for args in [
        &["scale", "deploy", "web-@", "--replicas=3"][..],
        &["scale", "deploy/web-@", "--replicas=2", "-o", "name"],
        &[
            "scale",
            "deploy",
            "web-@",
            "--replicas=4",
            "--current-replicas=2",
        ],
        &[
            "scale",
            "deploy",
            "web-@",
            "--replicas=4",
            "--current-replicas=9",
        ],
        &["scale", "deploy", "web-@", "nosuch-@", "--replicas=1"],
        &["label", "deploy", "web-@", "tier=db"],
        &["label", "deploy", "web-@", "tier=db"],
        &["label", "deploy", "web-@", "tier=cache"],
        &["label", "deploy", "web-@", "tier=cache", "--overwrite"],
        &["label", "deploy/web-@", "tier-"],
        &["label", "deploy/web-@", "tier-"],
        &["label", "deploy", "web-@", "--list"],
        &["label", "deploy", "web-@", "x=1", "-o", "name"],
        &["annotate", "deploy", "web-@", "note=hello"],
        &["annotate", "deploy", "web-@", "note=bye"],
        &["annotate", "deploy", "web-@", "note=bye", "--overwrite"],
        &["annotate", "deploy", "web-@", "note-"],
        &["annotate", "deploy", "web-@", "a=1", "a-"],
    ] {
        twin(&c, args);
    }
    same_objects(&c, "deploy", "web");
    for args in [
        &["scale", "deploy", "--replicas=3"][..],
        &["scale", "deploy", "web-k"],
        &[
            "scale",
            "deploy",
            "web-k",
            "--replicas=5",
            "--resource-version=1",
        ],
        &["scale", "deploy", "nosuch", "--replicas=2"],
        &["scale", "deploy", "nosuch", "other", "--replicas=2"],
        &["scale", "--replicas=-1", "deploy", "web-k"],
        &["scale", "deploy", "-l", "app=none", "--replicas=2"],
        &["label", "deploy", "web-k", "app=x"],
        &["label", "deploy", "web-k"],
        &["label", "deploy", "web-k", "x=1=2"],
        &["label", "deploy", "web-k", "a=1", "a-"],
        &["label", "deploy", "nosuch", "a=1"],
        &["label", "deploy", "x=1"],
        &["label", "deploy", "-l", "app=none", "x=1"],
        &["annotate", "deploy", "web-k"],
        &["annotate", "deploy", "web-k", "--list"],
    ] {
        assert_same(&c, args);
    }
    // --all and -l, in a namespace per twin.
    for s in ["k", "r"] {
        let ns = format!("bulk-{s}");
        c.kubectl(&["create", "namespace", &ns]).ok();
        for n in ["a", "b"] {
            c.kubectl(&["create", "deployment", n, "--image=busybox", "-n", &ns])
                .ok();
        }
    }
    for args in [
        &["scale", "deploy", "--all", "--replicas=2", "-n", "bulk-@"][..],
        &["label", "deploy", "--all", "t=1", "-n", "bulk-@"],
        &[
            "label",
            "deploy",
            "-l",
            "t=1",
            "t=2",
            "--overwrite",
            "-n",
            "bulk-@",
        ],
        &["annotate", "deploy", "a", "b", "n=1", "-n", "bulk-@"],
    ] {
        twin(&c, args);
    }
}

#[test]
fn set_image_and_env_match_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    twins(&c, "app", "busybox:1");
    for s in ["k", "r"] {
        c.kubectl(&[
            "create",
            "configmap",
            &format!("cfg-{s}"),
            "--from-literal=db.host=x",
        ])
        .ok();
    }
    for args in [
        &["set", "image", "deploy/app-@", "busybox=busybox:2"][..],
        &["set", "image", "deploy/app-@", "busybox=busybox:2"],
        &["set", "image", "deploy/app-@", "nosuch=busybox:2"],
        &[
            "set",
            "image",
            "deploy",
            "app-@",
            "*=busybox:3",
            "-o",
            "name",
        ],
        &["set", "image", "deploy/app-@"],
        &["set", "env", "deploy/app-@", "A=1", "B=2"],
        &["set", "env", "deploy/app-@", "A=3", "B-"],
        &["set", "env", "deploy/app-@", "A=4", "--overwrite=false"],
        &["set", "env", "deploy/app-@", "--list"],
        &["set", "env", "deploy/app-@", "--from=configmap/cfg-@"],
        &["set", "env", "deploy/app-@", "--list"],
        &["set", "env", "deploy/app-@", "C=5", "-c", "nosuch"],
        &["set", "env", "deploy/app-@", "A-", "DB_HOST-"],
        &["set", "env", "deploy/app-@", "A-"],
    ] {
        twin(&c, args);
    }
    same_objects(&c, "deploy", "app");
}

#[test]
fn rollout_history_undo_pause_restart_match_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    twins(&c, "roll", "busybox:1");
    let wait_revision = |name: &str, rev: &str| {
        c.wait_until(std::time::Duration::from_secs(30), "revision", || {
            c.kubectl(&[
                "get",
                "deploy",
                name,
                "-o",
                "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
            ])
            .stdout
                == rev
        });
    };
    for (i, img) in ["busybox:2", "busybox:3"].iter().enumerate() {
        for s in ["k", "r"] {
            let name = format!("roll-{s}");
            c.kubectl(&[
                "set",
                "image",
                &format!("deploy/{name}"),
                &format!("busybox={img}"),
            ])
            .ok();
            if i == 1 {
                c.kubectl(&[
                    "annotate",
                    "deploy",
                    &name,
                    "kubernetes.io/change-cause=third",
                ])
                .ok();
            }
            wait_revision(&name, &(i + 2).to_string());
        }
    }
    for args in [
        &["rollout", "history", "deploy", "roll-@"][..],
        &["rollout", "history", "deploy/roll-@", "--revision=9"],
        &["rollout", "undo", "deploy/roll-@", "--to-revision=9"],
        &["rollout", "undo", "deploy/roll-@", "--to-revision=3"],
        &["rollout", "pause", "deploy/roll-@"],
        &["rollout", "pause", "deploy/roll-@"],
        &["rollout", "undo", "deploy/roll-@"],
        &["rollout", "restart", "deploy/roll-@"],
        &["rollout", "resume", "deploy/roll-@"],
        &["rollout", "resume", "deploy/roll-@"],
        &["rollout", "undo", "deploy/roll-@", "--to-revision=1"],
    ] {
        twin(&c, args);
    }
    wait_revision("roll-k", "4");
    wait_revision("roll-r", "4");
    same_objects(&c, "deploy", "roll");
    twin(&c, &["rollout", "history", "deploy", "roll-@"]);
    twin(&c, &["rollout", "restart", "deploy", "roll-@"]);
    same_objects(&c, "deploy", "roll");
    for args in [
        &["rollout", "status"][..],
        &["rollout", "status", "svc", "kubernetes"],
        &["rollout", "status", "deploy", "nosuch"],
        &["rollout", "status", "deploy", "roll-k", "--revision=2"],
        &["rollout", "history", "deploy/roll-k", "--revision=2"],
        &["rollout", "history", "deploy/roll-k", "--revision=4"],
        &["rollout", "history", "deploy", "nosuch"],
        &["rollout", "history", "svc", "kubernetes"],
        &["rollout", "undo", "svc", "kubernetes"],
        &["rollout", "pause", "svc", "kubernetes"],
        &["rollout", "restart", "svc", "kubernetes"],
    ] {
        assert_same(&c, args);
    }
    // A Deployment whose only revision is the current one has nothing to roll back to.
    c.kubectl(&["create", "deployment", "one", "--image=busybox"])
        .ok();
    wait_revision("one", "1");
    assert_same(&c, &["rollout", "undo", "deploy", "one"]);
}

#[test]
fn wait_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    c.kubectl(&[
        "create",
        "deployment",
        "w",
        "--image=busybox",
        "--replicas=2",
    ])
    .ok();
    for args in [
        &[
            "wait",
            "--for=jsonpath={.spec.replicas}=2",
            "deploy/w",
            "--timeout=10s",
        ][..],
        &[
            "wait",
            "--for=jsonpath={.spec.replicas}=9",
            "deploy/w",
            "--timeout=1s",
        ],
        &["wait", "--for=condition=Nope", "deploy/w", "--timeout=1s"],
        &[
            "wait",
            "--for=condition=Nope",
            "deploy/w",
            "deploy/w",
            "--timeout=1s",
        ],
        &["wait", "--for=delete", "deploy/nosuch", "--timeout=1s"],
        &[
            "wait",
            "--for=condition=Available",
            "deploy/nosuch",
            "--timeout=1s",
        ],
        &["wait", "deploy/w", "--timeout=1s"],
        &[
            "wait",
            "--for=condition=Available",
            "deploy",
            "-l",
            "app=none",
        ],
    ] {
        assert_same(&c, args);
    }
    // A change that arrives while waiting: each client waits while the replicas change.
    for (client, n) in [("k", "3"), ("r", "4")] {
        let cc = &c;
        std::thread::scope(|s| {
            let waiter = s.spawn(move || {
                let args = [
                    "wait",
                    &format!("--for=jsonpath={{.spec.replicas}}={n}"),
                    "deploy/w",
                    "--timeout=30s",
                ]
                .map(String::from);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                if client == "k" {
                    cc.kubectl(&args)
                } else {
                    cc.rkubectl(&args)
                }
            });
            std::thread::sleep(std::time::Duration::from_secs(2));
            cc.kubectl(&["scale", "deploy/w", &format!("--replicas={n}")])
                .ok();
            let r = waiter.join().expect("waiter");
            assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
            assert_eq!(r.stdout, "deployment.apps/w condition met\n");
        });
    }
}

/// Rollout status and wait on a Deployment whose pods really run.
#[test]
fn rollout_status_and_wait_on_running_pods_match_kubectl() {
    use rkube_e2e::images::busybox_image;
    let c = Cluster::start(&[]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:v1"));
    let manifest = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:v1
        command: ["sh", "-c", "exec sleep 3600"]
"#;
    c.kubectl(&["apply", "-f", &c.file("web.yaml", manifest)])
        .ok();
    // kubectl follows the rollout to its end; afterwards both print the final line.
    let k = c.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert_eq!(k.code, 0, "{}{}", k.stdout, k.stderr);
    assert!(k
        .stdout
        .ends_with("deployment \"web\" successfully rolled out\n"));
    for args in [
        &["rollout", "status", "deployment/web"][..],
        &["rollout", "status", "deploy", "web", "--watch=false"],
        &["rollout", "status", "deploy/web", "--revision=1"],
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
        &[
            "wait",
            "--for=condition=Available=False",
            "deployment/web",
            "--timeout=2s",
        ],
        &[
            "wait",
            "--for=jsonpath={.status.readyReplicas}=2",
            "deployment/web",
        ],
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            "pods",
            "-l",
            "app=web",
        ],
    ] {
        assert_same(&c, args);
    }
    // rkube follows a rollout of its own the same way.
    c.kubectl(&["set", "env", "deploy/web", "X=1"]).ok();
    let r = c.rkubectl(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .ends_with("deployment \"web\" successfully rolled out\n"),
        "{}",
        r.stdout
    );
    for line in r.stdout.lines() {
        assert!(
            line.starts_with("Waiting for deployment \"web\" rollout to finish: ")
                || line == "Waiting for deployment spec update to be observed..."
                || line == "deployment \"web\" successfully rolled out",
            "unexpected line {line:?}"
        );
    }
    let r = c.rkubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "--timeout=1s",
        "--revision=1",
    ]);
    assert_eq!(
        r.stderr,
        "error: desired revision (1) is different from the running revision (2)\n"
    );
}
