//! `rkube kubectl exec`, `attach` and `run` against real kubectl 1.32 on real busybox
//! pods: output, exit codes, piped stdin, and a real terminal (script's pty) for `-it`.
//!
//! Commands that consume a pod (attach to a `stdinOnce` container, `run --rm`) get one pod
//! per client and their output is compared with the names swapped.

mod stream_common;

use std::time::Duration;

use rkube_e2e::golden::{assert_exact, assert_same};
use rkube_e2e::{rkube_bin, Run, KUBECTL_1_32};
use stream_common::{apply, assert_same_renamed, cluster, wait_ready, PODS};

#[test]
fn exec_attach_and_run_behave_like_kubectl() {
    let c = cluster("stream-exec");
    apply(&c, PODS);
    wait_ready(&c, &["pod/one", "pod/multi"]);
    for args in [
        &["exec", "one", "--", "echo", "hi"][..],
        &[
            "exec",
            "one",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        &["exec", "one", "--", "nosuchcommand"],
        &["exec", "multi", "--", "echo", "hi"],
        &["exec", "multi", "-c", "side", "--", "echo", "side"],
        &["exec", "multi", "-c", "nope", "--", "echo", "hi"],
        &["exec", "deploy/web", "--", "echo", "from-a-web-pod"],
        &["exec", "nope", "--", "echo", "hi"],
        &["exec", "svc/nosel", "--", "echo", "hi"],
        &["exec", "one"],
        &["exec"],
        &["exec", "one", "echo", "hi"],
        &["exec", "one", "-t", "--", "echo", "hi"],
        &["exec", "one", "-it", "--", "echo", "hi"],
        &["exec", "one", "-q", "-it", "--", "echo", "hi"],
        &["attach"],
        &["attach", "nope"],
        &["attach", "deploy/nope"],
        &["attach", "a", "b", "c"],
    ] {
        assert_same(&c, args);
    }
    // stdin goes through, and its end reaches the remote command.
    let args = [
        "exec",
        "-i",
        "one",
        "--",
        "sh",
        "-c",
        "cat; echo done; exit 4",
    ];
    let k = c.kubectl_stdin(KUBECTL_1_32, &args, "piped\ninput\n");
    let r = c.rkubectl_stdin(&args, "piped\ninput\n");
    assert_same_renamed(&k, &r, "", "");
    assert_eq!(r.stdout, "piped\ninput\ndone\n");
    assert_eq!(r.code, 4);

    // A real terminal (script's pty): raw mode, the terminal size and a remote TTY.
    let in_pty = |bin: &str| {
        let cmd = format!("stty cols 91 rows 33; {bin} exec -it one -- sh -c 'stty size; [ -t 0 ] && echo tty-ok; exit 5'");
        let mut p = c.command("script");
        p.args(["-qec", &cmd, "/dev/null"]);
        let o = p.output().expect("script");
        Run {
            code: o.status.code().unwrap_or(-1),
            // script's stdin is empty; the pty echoes its end as `^@` somewhere.
            stdout: String::from_utf8_lossy(&o.stdout).replace("^@", ""),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    let k = in_pty(KUBECTL_1_32);
    let r = in_pty(&format!("{} kubectl", rkube_bin().display()));
    assert_eq!(k.code, 5, "{k:?}");
    assert_eq!(r.code, 5, "{r:?}");
    for run in [&k, &r] {
        assert!(run.stdout.contains("33 91\r\ntty-ok\r\n"), "{run:?}");
        assert!(
            run.stdout
                .ends_with("command terminated with exit code 5\r\n"),
            "{run:?}"
        );
    }

    // attach -it on a terminal to a TTY container: the prompt hint, the session, and the
    // way back in (restartPolicy Always).
    let tty_pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox:e2e
    imagePullPolicy: Never
    stdin: true
    tty: true
    command: ["sh"]
"#;
    for name in ["tty-k", "tty-r"] {
        apply(&c, &tty_pod.replace("NAME", name));
    }
    wait_ready(&c, &["pod/tty-k", "pod/tty-r"]);
    let attach_in_pty = |bin: &str, pod: &str| {
        let cmd = format!(
            "(sleep 2; printf 'echo hi-$((1+2))\\n'; sleep 1; printf 'exit\\n'; sleep 2) | script -qec 'stty cols 80 rows 24; {bin} attach -it {pod}' /dev/null"
        );
        let o = c.command("sh").args(["-c", &cmd]).output().expect("script");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let k = attach_in_pty(KUBECTL_1_32, "tty-k");
    let r = attach_in_pty(&format!("{} kubectl", rkube_bin().display()), "tty-r");
    for (out, pod) in [(&k, "tty-k"), (&r, "tty-r")] {
        assert!(
            out.starts_with("If you don't see a command prompt, try pressing enter.\r\n"),
            "{out:?}"
        );
        assert!(out.contains("\r\nhi-3\r\n"), "{out:?}");
        assert!(
            out.ends_with(&format!(
                "exit\r\nSession ended, resume using 'kubectl attach {pod} -c c -i -t' command when the pod is running\r\n"
            )),
            "{out:?}"
        );
    }

    // attach: one stdinOnce reader per client; stdin's end ends the container.
    let reader = r#"
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox:e2e
    imagePullPolicy: Never
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "while read x; do echo \"got $x\"; done; echo bye >&2"]
"#;
    for name in ["reader-k", "reader-r"] {
        apply(&c, &reader.replace("NAME", name));
    }
    wait_ready(&c, &["pod/reader-k", "pod/reader-r"]);
    let k = c.kubectl_stdin(KUBECTL_1_32, &["attach", "-i", "reader-k", "-t"], "a\nb\n");
    let r = c.rkubectl_stdin(&["attach", "-i", "reader-r", "-t"], "a\nb\n");
    assert_same_renamed(&k, &r, "reader-k", "reader-r");
    assert!(r.stdout.contains("got a\ngot b"), "{r:?}");
    c.wait_until(Duration::from_secs(30), "the readers to finish", || {
        c.kubectl(&[
            "get",
            "pod",
            "reader-k",
            "reader-r",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ])
        .stdout
            == "Succeeded Succeeded"
    });
    let k = c.kubectl(&["attach", "reader-k"]);
    let r = c.rkubectl(&["attach", "reader-r"]);
    assert_same_renamed(&k, &r, "reader-k", "reader-r");

    // run: the generated pod, validation, and an attached run that is removed again.
    for args in [
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=client",
            "-o",
            "yaml",
        ][..],
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=client",
            "-o",
            "yaml",
            "-l",
            "a=b,c=d",
            "--port",
            "80",
            "--image-pull-policy",
            "Never",
            "--command",
            "--annotations",
            "k=v",
            "--privileged",
            "-i",
            "--attach=false",
            "--",
            "sh",
            "-c",
            "echo hi",
        ],
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=client",
            "-o",
            "name",
        ],
        &["run", "x", "--image=busybox:e2e", "--dry-run=client"],
        &["run", "x", "--image=busybox:e2e", "--dry-run=server"],
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=client",
            "-o",
            "yaml",
            "--overrides",
            r#"{"spec":{"hostNetwork":true}}"#,
        ],
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=client",
            "-i",
            "--restart=Never",
        ],
        &["run", "x", "--image=busybox:e2e", "--rm"],
        &[
            "run",
            "x",
            "--image=busybox",
            "-l",
            "bad",
            "--dry-run=client",
        ],
        &[
            "run",
            "x",
            "--image=busybox",
            "--annotations",
            "bad",
            "--dry-run=client",
        ],
        &[
            "run",
            "x",
            "--image=busybox",
            "--overrides",
            "{bad",
            "--dry-run=client",
        ],
        &[
            "run",
            "x",
            "--image=busybox",
            "-o",
            "wide",
            "--dry-run=client",
        ],
        &[
            "run",
            "x",
            "--image=busybox",
            "--env",
            "FOO",
            "--dry-run=client",
        ],
        &[
            "run",
            "x",
            "--image=busybox",
            "--image-pull-policy=Sometimes",
        ],
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=client",
            "--expose",
            "--port=80",
            "-l",
            "a=b",
            "-o",
            "yaml",
        ],
        &[
            "run",
            "x",
            "--image=busybox:e2e",
            "--dry-run=server",
            "--expose",
            "--port=80",
        ],
        &["run", "x", "--image=busybox:e2e", "--expose"],
        &["run", "x"],
        &["run", "--image=busybox:e2e"],
        &["run", "x", "--image=busybox:e2e", "-t"],
        &["run", "x", "--image=busybox:e2e", "--restart=Bad"],
        &["run", "x", "--image=BAD::"],
    ] {
        assert_exact(&c, args);
    }
    for (who, name) in [("k", "made-k"), ("r", "made-r")] {
        let args = [
            "run",
            name,
            "--image=busybox:e2e",
            "--image-pull-policy=Never",
            "--env=A=1",
            "--",
            "sleep",
            "3600",
        ];
        let out = if who == "k" {
            c.kubectl(&args)
        } else {
            c.rkubectl(&args)
        };
        assert_eq!(out.stdout, format!("pod/{name} created\n"), "{out:?}");
    }
    let spec = |name: &str| {
        let mut p = c.kubectl(&["get", "pod", name, "-o", "json"]).json();
        let mut spec = p["spec"].take();
        spec["containers"][0]["name"] = "NAME".into();
        spec.as_object_mut().map(|s| s.remove("nodeName"));
        // The token volume's name ends in five random characters.
        let mut text = spec.to_string();
        while let Some(i) = text.find("kube-api-access-") {
            let end = (i + 21).min(text.len());
            text.replace_range(i..end, "KUBE-API-ACCESS");
        }
        let spec: serde_json::Value = serde_json::from_str(&text).expect("json");
        (
            spec,
            p["metadata"]["labels"]["run"].as_str().map(String::from),
        )
    };
    let (sk, lk) = spec("made-k");
    let (sr, lr) = spec("made-r");
    assert_eq!(sk, sr);
    assert_eq!(
        (lk.as_deref(), lr.as_deref()),
        (Some("made-k"), Some("made-r"))
    );

    let script = "read x; echo \"got $x\"; exit 3";
    let run_args = |name: &str| -> Vec<String> {
        [
            "run",
            name,
            "-i",
            "--rm",
            "--restart=Never",
            "--image=busybox:e2e",
            "--image-pull-policy=Never",
            "--",
            "sh",
            "-c",
            script,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let ka = run_args("rm-k");
    let ra = run_args("rm-r");
    let k = c.kubectl_stdin(
        KUBECTL_1_32,
        &ka.iter().map(String::as_str).collect::<Vec<_>>(),
        "hello\n",
    );
    let r = c.rkubectl_stdin(
        &ra.iter().map(String::as_str).collect::<Vec<_>>(),
        "hello\n",
    );
    assert_same_renamed(&k, &r, "rm-k", "rm-r");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains("got hello\npod \"rm-r\" deleted\n"),
        "{r:?}"
    );
    assert_eq!(
        c.kubectl(&["get", "pod", "rm-r", "--ignore-not-found", "-o", "name"])
            .stdout,
        ""
    );
}
