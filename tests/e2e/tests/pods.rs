//! Pods as real containers on the server's own node, driven by real kubectl: the seed's
//! busybox httpd with probes, sidecars sharing localhost and a volume, crash loops, OOM
//! kills, liveness restarts, readiness, env from ConfigMaps, and an agent restart.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rkube_e2e::Cluster;

const NODE: &str = "node-a";

/// The network namespace file of the pod's sandbox (found through the agent's records).
fn pod_netns(c: &Cluster, pod: &str) -> PathBuf {
    let dir = c.data_dir().join("agent/sandboxes");
    for e in std::fs::read_dir(&dir).expect("sandboxes").flatten() {
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(e.path().join("sandbox.json")).unwrap_or_default(),
        )
        .unwrap_or_default();
        if rec["config"]["name"] == pod {
            return e.path().join("ns/net");
        }
    }
    panic!("no sandbox for pod {pod}");
}

fn wget_in_pod(c: &Cluster, pod: &str, url: &str) -> String {
    let o = Command::new("nsenter")
        .arg(format!("--net={}", pod_netns(c, pod).display()))
        .args(["--", "curl", "-s", "--max-time", "3", url])
        .output()
        .expect("nsenter");
    if !o.status.success() {
        eprintln!("wget in pod {pod}: {}", String::from_utf8_lossy(&o.stderr));
    }
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SEED_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  nodeName: node-a
  containers:
  - name: httpd
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && echo ok > /www/health && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    resources:
      requests: {cpu: 50m, memory: 16Mi}
      limits: {cpu: 200m, memory: 64Mi}
    readinessProbe:
      httpGet: {path: /health, port: http}
      periodSeconds: 1
    livenessProbe:
      httpGet: {path: /health, port: 8080}
      periodSeconds: 2
"#;

#[test]
fn seed_pod_runs_is_ready_answers_and_deletes_gracefully() {
    let c = Cluster::with_node(NODE);
    c.apply(SEED_POD);
    c.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"])
        .ok();
    let pod = c.kubectl(&["get", "pod", "web", "-o", "json"]).ok().json();
    let st = &pod["status"];
    assert_eq!(st["phase"], "Running");
    assert_eq!(st["qosClass"], "Burstable");
    assert_eq!(st["containerStatuses"][0]["ready"], true);
    assert_eq!(st["containerStatuses"][0]["restartCount"], 0);
    assert!(st["containerStatuses"][0]["state"]["running"]["startedAt"].is_string());
    assert!(st["startTime"].is_string());
    for cond in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        let found = st["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .any(|x| x["type"] == cond && x["status"] == "True");
        assert!(found, "{cond} True in {st}");
    }
    assert_eq!(wget_in_pod(&c, "web", "http://127.0.0.1:8080/"), "hello\n");
    let get = c.kubectl(&["get", "pod", "web"]).ok().stdout;
    assert!(get.contains("1/1") && get.contains("Running"), "{get}");
    // kubectl top reads metrics.k8s.io, served from the kubelet's stats.
    let top = c
        .kubectl(&["top", "pod", "web", "--no-headers"])
        .ok()
        .stdout;
    let cols: Vec<&str> = top.split_whitespace().collect();
    assert!(
        cols.len() == 3 && cols[0] == "web" && cols[1].ends_with('m') && cols[2].ends_with("Mi"),
        "{top}"
    );
    // httpd's working set is under 1Mi (top shows 0Mi); the API has it exactly.
    let m = c
        .kubectl(&[
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web",
        ])
        .ok()
        .json();
    let mem = m["containers"][0]["usage"]["memory"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let digits: String = mem.chars().take_while(char::is_ascii_digit).collect();
    assert!(
        digits.parse::<u64>().unwrap_or(0) > 0,
        "memory from the cgroup: {m}"
    );
    let top = c.kubectl(&["top", "node", "--no-headers"]).ok().stdout;
    assert!(top.starts_with("node-a") && top.contains('%'), "{top}");
    let describe = c.kubectl(&["describe", "pod", "web"]).ok().stdout;
    for ev in ["Pulled", "Created", "Started"] {
        assert!(describe.contains(ev), "event {ev} in:\n{describe}");
    }
    c.kubectl(&["delete", "pod", "web", "--grace-period=1"])
        .ok();
    assert!(c.kubectl(&["get", "pod", "web"]).code != 0);
    let left = std::fs::read_dir(c.data_dir().join("agent/sandboxes"))
        .expect("dir")
        .count();
    assert_eq!(left, 0, "sandbox removed");
}

#[test]
fn sidecar_shares_localhost_and_a_volume() {
    let c = Cluster::with_node(NODE);
    c.apply(r#"
apiVersion: v1
kind: Pod
metadata: {name: pair}
spec:
  nodeName: node-a
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www && echo from-app > /www/index.html && exec httpd -f -p 8080 -h /www"]
    volumeMounts: [{name: shared, mountPath: /data}]
  - name: sidecar
    image: busybox:e2e
    command: ["sh", "-c", "while true; do wget -qO /data/copy http://127.0.0.1:8080/ && break; sleep 0.2; done; exec sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /data}]
"#,
    );
    c.kubectl(&["wait", "--for=condition=Ready", "pod/pair", "--timeout=60s"])
        .ok();
    let copy = c
        .dir
        .path()
        .join("data/agent/pods")
        .read_dir()
        .expect("pods dir")
        .flatten()
        .map(|p| p.path().join("volumes/kubernetes.io~empty-dir/shared/copy"))
        .find(|p| p.exists());
    c.wait_until(Duration::from_secs(20), "sidecar copied the page", || {
        c.dir
            .path()
            .join("data/agent/pods")
            .read_dir()
            .into_iter()
            .flatten()
            .flatten()
            .any(|p| {
                std::fs::read_to_string(
                    p.path().join("volumes/kubernetes.io~empty-dir/shared/copy"),
                )
                .is_ok_and(|s| s == "from-app\n")
            })
    });
    let _ = copy;
    assert_eq!(
        c.jsonpath("pod/pair", "{.status.containerStatuses[*].ready}"),
        "true true"
    );
}

#[test]
fn crash_loop_backs_off_and_oom_is_reported() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  nodeName: node-a
  containers:
  - {name: app, image: busybox:e2e, command: ["sh", "-c", "echo dying; exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  nodeName: node-a
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "exec tail /dev/zero"]
    resources: {limits: {memory: 32Mi}}
"#,
    );
    c.wait_jsonpath(
        "pod/hog",
        "{.status.containerStatuses[0].state.terminated.reason}",
        "OOMKilled",
        |s| s == "OOMKilled",
    );
    assert_eq!(
        c.jsonpath(
            "pod/hog",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "137"
    );
    assert_eq!(c.jsonpath("pod/hog", "{.status.phase}"), "Failed");
    c.wait_jsonpath(
        "pod/crasher",
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CrashLoopBackOff",
        |s| s == "CrashLoopBackOff",
    );
    let msg = c.jsonpath(
        "pod/crasher",
        "{.status.containerStatuses[0].state.waiting.message}",
    );
    // Usually the first back-off (10 s); a slow machine may already be at a later one.
    let backoff: u32 = msg
        .strip_prefix("back-off ")
        .and_then(|m| m.split_once("s restarting failed container=app pod=crasher_default("))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0);
    assert!([10, 20, 40].contains(&backoff), "{msg}");
    assert_eq!(
        c.jsonpath(
            "pod/crasher",
            "{.status.containerStatuses[0].lastState.terminated.exitCode}"
        ),
        "3"
    );
    // The next restart comes after the 10 s back-off, and the count keeps growing.
    c.wait_jsonpath(
        "pod/crasher",
        "{.status.containerStatuses[0].restartCount}",
        "2 restarts",
        |s| s.parse::<u32>().unwrap_or(0) >= 2,
    );
    // The back-off doubles.
    let next = format!(
        "back-off {}s restarting failed container=app pod=crasher_default(",
        backoff * 2
    );
    c.wait_jsonpath(
        "pod/crasher",
        "{.status.containerStatuses[0].state.waiting.message}",
        "the doubled back-off",
        |s| s.starts_with(&next),
    );
    // Both back-offs are one Event, counted (upstream's event correlator).
    let backoffs = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crasher,reason=BackOff",
            "-o",
            "jsonpath={.items[*].count}",
        ])
        .ok()
        .stdout;
    assert_eq!(backoffs, "2", "one BackOff event, count 2");
    let get = c.kubectl(&["get", "pod", "crasher"]).ok().stdout;
    assert!(
        get.contains("CrashLoopBackOff") || get.contains("Error") || get.contains("Running"),
        "{get}"
    );
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crasher",
        ])
        .ok()
        .stdout;
    assert!(events.contains("BackOff"), "{events}");
}

#[test]
fn liveness_restarts_and_readiness_follows_the_probe() {
    let c = Cluster::with_node(NODE);
    c.apply(r#"
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "touch /tmp/ready; sleep 4; rm /tmp/ready; sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata: {name: unhealthy}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/health && (sleep 3; rm /www/health) & exec httpd -f -p 8080 -h /www"]
    livenessProbe:
      httpGet: {path: /health, port: 8080}
      periodSeconds: 1
      failureThreshold: 2
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/probed",
        "--timeout=60s",
    ])
    .ok();
    c.wait_jsonpath(
        "pod/probed",
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "readiness false",
        |s| s == "False",
    );
    assert_eq!(c.jsonpath("pod/probed", "{.status.phase}"), "Running");
    // The probe passes again: Ready goes back to True without a restart.
    c.kubectl(&["exec", "probed", "--", "touch", "/tmp/ready"])
        .ok();
    c.wait_jsonpath(
        "pod/probed",
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "readiness true again",
        |s| s == "True",
    );
    assert_eq!(
        c.jsonpath("pod/probed", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    c.wait_jsonpath(
        "pod/unhealthy",
        "{.status.containerStatuses[0].restartCount}",
        "liveness restart",
        |s| s.parse::<u32>().unwrap_or(0) >= 1,
    );
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=unhealthy",
        ])
        .ok()
        .stdout;
    assert!(
        events.contains("Unhealthy") && events.contains("Liveness probe failed"),
        "{events}"
    );
    assert!(
        events.contains("failed liveness probe, will be restarted"),
        "{events}"
    );
}

#[test]
fn env_from_a_configmap_waits_for_it() {
    let c = Cluster::with_node(NODE);
    c.apply(r#"
apiVersion: v1
kind: Pod
metadata: {name: envpod, labels: {tier: backend}}
spec:
  nodeName: node-a
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "echo $GREETING $MY_POD $TIER $CPU_M > /dev/termination-log; cat /etc/config/greeting"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: MY_POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: TIER
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}
    - name: CPU_M
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    resources: {limits: {cpu: 250m}}
    volumeMounts: [{name: cfg, mountPath: /etc/config}]
  volumes: [{name: cfg, configMap: {name: settings}}]
"#,
    );
    c.wait_jsonpath(
        "pod/envpod",
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CreateContainerConfigError",
        |s| s == "CreateContainerConfigError",
    );
    assert_eq!(
        c.jsonpath(
            "pod/envpod",
            "{.status.containerStatuses[0].state.waiting.message}"
        ),
        "configmap \"settings\" not found"
    );
    c.kubectl(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=greeting=hi",
    ])
    .ok();
    c.wait_jsonpath("pod/envpod", "{.status.phase}", "Succeeded", |s| {
        s == "Succeeded"
    });
    let log_dir = c.data_dir().join("agent/logs");
    let log = std::fs::read_dir(&log_dir)
        .expect("logs")
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("default_envpod_")
        })
        .map(|e| std::fs::read_to_string(e.path().join("app/0.log")).unwrap_or_default())
        .unwrap_or_default();
    assert!(log.contains(" stdout F hi"), "{log}");
    assert_eq!(
        c.jsonpath(
            "pod/envpod",
            "{.status.containerStatuses[0].state.terminated.reason}"
        ),
        "Completed"
    );
}

#[test]
fn agent_restart_leaves_pods_running_and_untouched() {
    let mut c = Cluster::with_node(NODE);
    c.apply(SEED_POD);
    c.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"])
        .ok();
    let started = c.jsonpath(
        "pod/web",
        "{.status.containerStatuses[0].state.running.startedAt}",
    );
    let id = c.jsonpath("pod/web", "{.status.containerStatuses[0].containerID}");
    c.restart(&["--node-name", NODE]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.jsonpath("pod/web", "{.status.containerStatuses[0].containerID}"),
        id
    );
    assert_eq!(
        c.jsonpath(
            "pod/web",
            "{.status.containerStatuses[0].state.running.startedAt}"
        ),
        started
    );
    assert_eq!(
        c.jsonpath("pod/web", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    assert_eq!(wget_in_pod(&c, "web", "http://127.0.0.1:8080/"), "hello\n");
    assert_eq!(
        std::fs::read_dir(c.data_dir().join("agent/containers"))
            .expect("dir")
            .count(),
        1,
        "nothing new started"
    );
}

#[test]
fn logs_and_exec_through_the_api_server_with_kubectl_1_32_and_1_27() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: multi}
spec:
  nodeName: node-a
  containers:
  - name: main
    image: busybox:e2e
    command: ["sh", "-c", "echo one; echo two; sleep 0.3; echo three >&2; exec sleep 3600"]
  - name: sidecar
    image: busybox:e2e
    command: ["sh", "-c", "echo from-sidecar; exec sleep 3600"]
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/multi",
        "--timeout=60s",
    ])
    .ok();
    c.wait_until(Duration::from_secs(10), "logs written", || {
        c.kubectl(&["logs", "multi", "-c", "main"])
            .stdout
            .lines()
            .count()
            == 3
    });
    let r = c.kubectl(&["logs", "multi"]).ok();
    assert_eq!(r.stdout, "one\ntwo\nthree\n");
    assert!(
        r.stderr
            .contains("Defaulted container \"main\" out of: main, sidecar"),
        "{}",
        r.stderr
    );
    assert_eq!(
        c.kubectl(&["logs", "multi", "-c", "sidecar"]).ok().stdout,
        "from-sidecar\n"
    );
    assert_eq!(
        c.kubectl(&["logs", "multi", "-c", "main", "--tail=1"])
            .ok()
            .stdout,
        "three\n"
    );
    let ts = c
        .kubectl(&["logs", "multi", "-c", "main", "--timestamps"])
        .ok()
        .stdout;
    let first = ts.lines().next().unwrap_or("");
    assert!(
        first.ends_with(" one") && first.starts_with("20") && first.contains('T'),
        "{ts}"
    );
    // kubectl 1.27 sends the same request; 1.20 wants -c for a multi-container pod.
    let r = c
        .kubectl_v(rkube_e2e::KUBECTL_1_27, &["logs", "multi", "-c", "sidecar"])
        .ok();
    assert_eq!(r.stdout, "from-sidecar\n");
    let r = c
        .kubectl_v(
            rkube_e2e::KUBECTL_1_20,
            &["logs", "multi", "-c", "main", "--tail=1"],
        )
        .ok();
    assert_eq!(r.stdout, "three\n");
    let r = c.kubectl(&["logs", "multi", "-c", "nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("container nope is not valid for pod multi"),
        "{}",
        r.stderr
    );
    let r = c.kubectl(&["logs", "multi", "-c", "main", "--previous"]);
    assert!(
        r.stderr
            .contains("previous terminated container \"main\" in pod \"multi\" not found"),
        "{}",
        r.stderr
    );

    // exec: stdout and stderr apart, the exit code reported, stdin piped in.
    let r = c.kubectl(&[
        "exec",
        "multi",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, "out\n");
    assert!(
        r.stderr.contains("err\n") && r.stderr.contains("command terminated with exit code 3"),
        "{}",
        r.stderr
    );
    let r = c
        .kubectl(&["exec", "multi", "-c", "sidecar", "--", "hostname"])
        .ok();
    assert_eq!(r.stdout, "multi\n");
    let r = c
        .kubectl_stdin(
            rkube_e2e::KUBECTL_1_32,
            &[
                "exec",
                "-i",
                "multi",
                "-c",
                "main",
                "--",
                "sh",
                "-c",
                "cat; echo done",
            ],
            "piped\n",
        )
        .ok();
    assert_eq!(r.stdout, "piped\ndone\n");
    let r = c
        .kubectl(&["-v=6", "exec", "multi", "-c", "main", "--", "true"])
        .ok();
    assert!(
        !r.stderr.contains("fallback"),
        "WebSocket used, no SPDY fallback: {}",
        r.stderr
    );
    // kubectl 1.27 speaks SPDY/3.1 only; 1.32 falls back to it when told to.
    let r = c.kubectl_v(
        rkube_e2e::KUBECTL_1_27,
        &[
            "exec",
            "multi",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "echo old; echo olderr >&2; exit 4",
        ],
    );
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(r.stdout, "old\n");
    assert!(
        r.stderr.contains("olderr") && r.stderr.contains("command terminated with exit code 4"),
        "{}",
        r.stderr
    );
    let r = c
        .kubectl_stdin(
            rkube_e2e::KUBECTL_1_27,
            &["exec", "-i", "multi", "-c", "main", "--", "cat"],
            "over spdy\n",
        )
        .ok();
    assert_eq!(r.stdout, "over spdy\n");
}

/// `kubectl port-forward` in the background; returns once it listens.
fn port_forward(c: &Cluster, kubectl: &str, target: &str, ports: &[&str]) -> std::process::Child {
    use std::io::BufRead;
    let mut child = c
        .command(kubectl)
        .args(["port-forward", target])
        .args(ports)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("port-forward");
    let out = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(out).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert!(first.starts_with("Forwarding from 127.0.0.1:"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    child
}

#[test]
fn port_forward_with_kubectl_1_32_and_1_27() {
    let c = Cluster::with_node(NODE);
    c.apply(r#"
apiVersion: v1
kind: Pod
metadata: {name: pf}
spec:
  nodeName: node-a
  containers:
  - name: web
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www /b && echo page-8080 > /www/index.html && echo page-9090 > /b/index.html && httpd -p 9090 -h /b && exec httpd -f -p 8080 -h /www"]
"#,
    );
    c.kubectl(&["wait", "--for=condition=Ready", "pod/pf", "--timeout=60s"])
        .ok();
    for (kubectl, base) in [
        (rkube_e2e::KUBECTL_1_32, 18080),
        (rkube_e2e::KUBECTL_1_27, 28080),
    ] {
        let a = format!("{base}:8080");
        let b = format!("{}:9090", base + 1);
        let mut pf = port_forward(&c, kubectl, "pod/pf", &[&a, &b]);
        // Several connections, some at once.
        for _ in 0..3 {
            let r = c.exec(&[
                "curl",
                "-s",
                "--max-time",
                "5",
                &format!("http://127.0.0.1:{base}/"),
            ]);
            assert_eq!(r.stdout, "page-8080\n", "{kubectl}: {r:?}");
        }
        let r = c.exec(&[
            "sh",
            "-c",
            &format!(
                "for i in 1 2 3 4 5; do curl -s --max-time 5 http://127.0.0.1:{}/ & done; wait",
                base + 1
            ),
        ]);
        assert_eq!(r.stdout.matches("page-9090").count(), 5, "{kubectl}: {r:?}");
        let _ = pf.kill();
        let _ = pf.wait();
    }
}
