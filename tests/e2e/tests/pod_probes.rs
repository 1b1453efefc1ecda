//! Probes on a real node: a startupProbe holds liveness back, tcpSocket liveness, a probe's
//! timeoutSeconds, successThreshold, and a custom Host header on httpGet.

use std::time::Duration;

use rkube_e2e::Cluster;

const NODE: &str = "node-a";

fn events(c: &Cluster, pod: &str) -> String {
    c.kubectl(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
    .ok()
    .stdout
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2024-01-02T03:04:05Z`).
fn seconds(t: &str) -> i64 {
    let n: Vec<i64> = t
        .trim_end_matches('Z')
        .split(['-', 'T', ':'])
        .map(|p| p.parse().unwrap_or_else(|_| panic!("time {t:?}")))
        .collect();
    assert_eq!(n.len(), 6, "time {t:?}");
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, d) = (if n[1] <= 2 { n[0] - 1 } else { n[0] }, n[1], n[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    days * 86400 + n[3] * 3600 + n[4] * 60 + n[5]
}

#[test]
fn startup_probe_holds_liveness_back_until_it_succeeds() {
    let c = Cluster::with_node(NODE);
    // Liveness would fail at once (failureThreshold 1) until /tmp/up exists at ~4 s; the
    // startup probe gates it, so the container is never restarted.
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: slowstart}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "sleep 4; touch /tmp/up; exec sleep 3600"]
    startupProbe:
      exec: {command: ["cat", "/tmp/up"]}
      periodSeconds: 1
      failureThreshold: 30
    livenessProbe:
      exec: {command: ["cat", "/tmp/up"]}
      periodSeconds: 1
      failureThreshold: 1
"#,
    );
    c.wait_jsonpath(
        "pod/slowstart",
        "{.status.containerStatuses[0].state.running.startedAt}",
        "running",
        |s| !s.is_empty(),
    );
    assert_eq!(
        c.jsonpath("pod/slowstart", "{.status.containerStatuses[0].started}"),
        "false"
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/slowstart",
        "--timeout=60s",
    ])
    .ok();
    assert_eq!(
        c.jsonpath("pod/slowstart", "{.status.containerStatuses[0].started}"),
        "true"
    );
    // A few liveness periods after start-up.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.jsonpath(
            "pod/slowstart",
            "{.status.containerStatuses[0].restartCount}"
        ),
        "0"
    );
    let ev = events(&c, "slowstart");
    assert!(ev.contains("Startup probe failed"), "{ev}");
    assert!(!ev.contains("Liveness probe failed"), "{ev}");
}

#[test]
fn tcp_liveness_and_probe_timeouts_restart_containers() {
    let c = Cluster::with_node(NODE);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: tcpdead}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "httpd -f -p 8080 -h / & p=$!; sleep 3; kill $p; exec sleep 3600"]
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {name: slowprobe}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["sleep", "2"]}
      timeoutSeconds: 1
      periodSeconds: 3
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata: {name: patientprobe}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["sleep", "2"]}
      timeoutSeconds: 5
      periodSeconds: 3
      failureThreshold: 1
"#,
    );
    c.wait_jsonpath(
        "pod/tcpdead",
        "{.status.containerStatuses[0].restartCount}",
        "tcp liveness restart",
        |s| s.parse::<u32>().unwrap_or(0) >= 1,
    );
    let ev = events(&c, "tcpdead");
    assert!(
        ev.contains("Liveness probe failed: dial tcp") && ev.contains("8080"),
        "{ev}"
    );
    c.wait_jsonpath(
        "pod/slowprobe",
        "{.status.containerStatuses[0].restartCount}",
        "timed-out liveness restart",
        |s| s.parse::<u32>().unwrap_or(0) >= 1,
    );
    let ev = events(&c, "slowprobe");
    assert!(ev.contains("Liveness probe failed"), "{ev}");
    // The same 2 s command within a 5 s timeout never fails.
    assert_eq!(
        c.jsonpath(
            "pod/patientprobe",
            "{.status.containerStatuses[0].restartCount}"
        ),
        "0"
    );
    assert!(!events(&c, "patientprobe").contains("probe failed"));
}

#[test]
fn success_threshold_and_a_custom_host_header() {
    let c = Cluster::with_node(NODE);
    // A one-request-at-a-time server (nc) records the probe requests as they arrive.
    c.apply(r#"
apiVersion: v1
kind: Pod
metadata: {name: threshold}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sleep", "3600"]
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 2
      successThreshold: 3
---
apiVersion: v1
kind: Pod
metadata: {name: vhost}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sh", "-c", "while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' | nc -l -p 8080 >> /tmp/requests; done"]
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
        httpHeaders: [{name: Host, value: probe.local}, {name: X-Probe, value: "yes"}]
      periodSeconds: 1
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/threshold",
        "--timeout=60s",
    ])
    .ok();
    let started = c.jsonpath(
        "pod/threshold",
        "{.status.containerStatuses[0].state.running.startedAt}",
    );
    let ready_at = c.jsonpath(
        "pod/threshold",
        "{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}",
    );
    // Three successes 2 s apart: at least 4 s after the start.
    assert!(
        seconds(&ready_at) - seconds(&started) >= 3,
        "started {started}, ready {ready_at}"
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/vhost",
        "--timeout=60s",
    ])
    .ok();
    let requests = c
        .kubectl(&["exec", "vhost", "--", "cat", "/tmp/requests"])
        .ok()
        .stdout;
    let lines: Vec<&str> = requests.lines().map(|l| l.trim_end_matches('\r')).collect();
    let gets = lines
        .iter()
        .filter(|l| l.starts_with("GET /healthz "))
        .count();
    let hosts: Vec<&&str> = lines
        .iter()
        .filter(|l| l.to_ascii_lowercase().starts_with("host:"))
        .collect();
    assert!(gets >= 1, "{requests}");
    // One Host header per request, the user's, which replaced the default.
    assert_eq!(hosts.len(), gets, "{requests}");
    assert!(
        hosts.iter().all(|h| **h == "Host: probe.local"),
        "{requests}"
    );
    assert!(lines.contains(&"X-Probe: yes"), "{requests}");
}
