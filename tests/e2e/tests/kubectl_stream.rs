//! `rkube kubectl logs` and `top` against real kubectl 1.32 on real busybox pods (exec,
//! attach and run are in kubectl_exec.rs, port-forward in kubectl_port_forward.rs).

mod stream_common;

use std::time::Duration;

use rkube_e2e::golden::assert_same;
use stream_common::{apply, assert_same_renamed, cluster, wait_ready, PODS};

const TICKER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "sleep 2; for i in 1 2 3; do echo tick$i; sleep 0.5; done"]
"#;

#[test]
fn logs_and_top_print_what_kubectl_prints() {
    let c = cluster("stream-logs");
    apply(&c, PODS);
    c.wait_until(Duration::from_secs(90), "two web pods", || {
        c.kubectl(&["get", "pods", "-l", "app=web", "-o", "name"])
            .stdout
            .lines()
            .count()
            == 2
    });
    wait_ready(&c, &["pod/one", "pod/multi"]);
    wait_ready(&c, &["pod", "-l", "app=web"]);
    for args in [
        &["logs", "one"][..],
        &["logs", "one", "-c", "c"],
        &["logs", "one", "--tail=2"],
        &["logs", "one", "--tail", "1", "--timestamps"],
        &["logs", "one", "--since=1h"],
        &["logs", "one", "--limit-bytes=3"],
        &["logs", "pod/one", "--all-containers"],
        &["logs", "multi"],
        &["logs", "multi", "-c", "side"],
        &["logs", "multi", "side"],
        &["logs", "multi", "-c", "setup", "--prefix"],
        &["logs", "deploy/web"],
        &["logs", "deployment/web", "--prefix"],
        &["logs", "-l", "app=one"],
        &["logs", "-l", "app=one", "--prefix", "--tail=-1"],
        &["logs", "-l", "app=none"],
        &["logs"],
        &["logs", "nope"],
        &["logs", "deploy/nope"],
        &["logs", "one", "-c", "nope"],
        &["logs", "one", "-p"],
        &["logs", "one", "--since=-1s"],
        &["logs", "-l", "app=one", "one"],
        &["logs", "one", "extra", "-c", "c"],
        &["logs", "multi", "--all-containers", "-c", "main"],
        &["logs", "svc/nosel"],
        &["logs", "pend"],
        &["exec", "pend", "--", "ls"],
        &["attach", "pend"],
        &["logs", "one", "--since-time=2020-01-01T00:00:00Z"],
        &[
            "logs",
            "one",
            "--since=1h",
            "--since-time=2020-01-01T00:00:00Z",
        ],
        &["logs", "one", "--tail=-2"],
        &["logs", "one", "--since=x"],
        &["exec", "one", "--pod-running-timeout=x", "--", "ls"],
        &["logs", "-l", "app=one", "-c", "nope"],
        &["logs", "-f", "-l", "app=web", "--max-log-requests=1"],
    ] {
        assert_same(&c, args);
    }
    // Several containers: kubectl reads them in map order, so compare the sorted lines.
    for args in [
        &["logs", "multi", "--all-containers", "--prefix"][..],
        &["logs", "-l", "app=web", "--prefix"],
    ] {
        let (k, r) = c.both(args);
        assert_eq!(k.code, r.code, "{args:?}: {k:?} {r:?}");
        let sorted = |s: &str| {
            let mut l: Vec<_> = s.lines().map(String::from).collect();
            l.sort();
            l
        };
        assert_eq!(sorted(&k.stdout), sorted(&r.stdout), "{args:?}");
        assert_eq!(k.stderr, r.stderr, "{args:?}");
    }
    // Following a log ends, with exit 0, when the container ends.
    for name in ["ticker-k", "ticker-r"] {
        apply(&c, &TICKER.replace("NAME", name));
    }
    c.kubectl(&[
        "wait",
        "--for=jsonpath={.status.phase}=Running",
        "pod/ticker-k",
        "pod/ticker-r",
        "--timeout=60s",
    ])
    .ok();
    let k = c.kubectl(&["logs", "-f", "ticker-k"]);
    let r = c.rkubectl(&["logs", "-f", "ticker-r"]);
    assert_same_renamed(&k, &r, "ticker-k", "ticker-r");
    assert_eq!(r.stdout, "tick1\ntick2\ntick3\n");

    // top: the layout and names are compared; usage numbers change between two calls.
    let mask = |s: &str| -> String {
        s.split('\n')
            .map(|l| {
                l.split(' ')
                    .filter(|t| !t.is_empty())
                    .map(|t| {
                        let digits = t.trim_end_matches(['m', 'i', 'M', '%']);
                        if !digits.is_empty() && digits.chars().all(|ch| ch.is_ascii_digit()) {
                            "N"
                        } else {
                            t
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    c.wait_until(Duration::from_secs(60), "pod metrics", || {
        c.kubectl(&["top", "pod", "one"]).code == 0
    });
    for args in [
        &["top", "node"][..],
        &["top", "nodes", "--no-headers"],
        &["top", "node", "stream-logs", "--show-capacity"],
        &["top", "pod"],
        &["top", "pod", "-A"],
        &["top", "pod", "--containers"],
        &["top", "pod", "one"],
        &["top", "pod", "--sum"],
        &["top", "pod", "-A", "--sum", "--containers"],
        &["top", "pod", "--sort-by=memory", "-l", "app=web"],
        &["top", "pod", "--sort-by=x"],
        &["top", "pod", "nope"],
        &["top", "node", "nope"],
        &["top", "pod", "-l", "app=zzz"],
        &["top", "pod", "one", "-l", "a=b"],
        &["top"],
        &["top", "foo"],
    ] {
        let (k, r) = c.both(args);
        assert_eq!(k.code, r.code, "{args:?}: {k:?} {r:?}");
        assert_eq!(mask(&k.stdout), mask(&r.stdout), "{args:?}: {k:?} {r:?}");
        assert_eq!(k.stderr, r.stderr, "{args:?}");
    }
}
