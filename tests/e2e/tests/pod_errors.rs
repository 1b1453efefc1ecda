//! Why a pod's container does not start, as real kubectl sees it: the waiting reasons and
//! messages the kubelet reports (ErrImagePull then ImagePullBackOff for a missing image,
//! InvalidImageName, CreateContainerError for a command not in the image,
//! CreateContainerConfigError for runAsNonRoot with a root image) and their events.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rkube_e2e::Cluster;

const NODE: &str = "node-a";

fn pod(name: &str, container: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {NODE}\n  restartPolicy: Never\n  containers:\n{container}"
    )
}

const WAITING: &str = "{.status.containerStatuses[0].state.waiting.reason}";
const WAITING_MESSAGE: &str = "{.status.containerStatuses[0].state.waiting.message}";

fn wait_reason(c: &Cluster, pod: &str, reason: &str) {
    c.wait_until(Duration::from_secs(60), reason, || {
        c.jsonpath(&format!("pod/{pod}"), WAITING) == reason
    });
}

/// `reason: message` of the pod's events, oldest first.
fn events(c: &Cluster, pod: &str) -> Vec<String> {
    let r = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod}"),
            "--sort-by=.metadata.creationTimestamp",
            "-o",
            "jsonpath={range .items[*]}{.type} {.reason}: {.message}{\"\\n\"}{end}",
        ])
        .ok();
    r.stdout.lines().map(String::from).collect()
}

/// Debian's docker-registry inside the cluster's network namespace (where the agent pulls
/// from), with nothing pushed to it; stopped on drop.
struct EmptyRegistry {
    child: Child,
    _dir: tempfile::TempDir,
}

const REGISTRY: &str = "127.0.0.1:5000";

impl EmptyRegistry {
    fn start(c: &Cluster) -> EmptyRegistry {
        let dir = tempfile::Builder::new()
            .prefix("rkube-e2e-registry-")
            .tempdir()
            .expect("tempdir");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {REGISTRY}\n  secret: e2e\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("registry config");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &c.netns,
                "/usr/bin/docker-registry",
                "serve",
            ])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = EmptyRegistry { child, _dir: dir };
        c.wait_until(Duration::from_secs(20), "registry ready", || {
            c.exec(&["curl", "-sf", &format!("http://{REGISTRY}/v2/")])
                .code
                == 0
        });
        reg
    }
}

impl Drop for EmptyRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Watches one pod's waiting reason (started before the pod exists) and returns the
/// distinct reasons in order once `last` shows up.
fn watch_reasons(c: &Cluster, pod: &str, start: impl FnOnce(), last: &str) -> Vec<String> {
    let mut child = c
        .command(rkube_e2e::KUBECTL_1_32)
        .args([
            "get",
            "pods",
            "--watch",
            "--field-selector",
            &format!("metadata.name={pod}"),
            "-o",
            &format!("jsonpath={WAITING}{{\"\\n\"}}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The watch is set up once it sent its first (empty) list; give it that long.
    std::thread::sleep(Duration::from_millis(500));
    start();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<String> = Vec::new();
    while seen.last().map(String::as_str) != Some(last) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(r) if r.is_empty() || seen.last() == Some(&r) => {}
            Ok(r) => seen.push(r),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn a_missing_image_backs_off_and_a_bad_name_is_invalid() {
    let c = Cluster::with_node(NODE);
    let _reg = EmptyRegistry::start(&c);
    let image = format!("{REGISTRY}/e2e/missing:1");
    let yaml = pod(
        "missing-image",
        &format!("  - name: app\n    image: {image}\n"),
    );
    let seen = watch_reasons(&c, "missing-image", || c.apply(&yaml), "ImagePullBackOff");
    assert_eq!(seen, ["ErrImagePull", "ImagePullBackOff"], "{seen:?}");
    assert_eq!(
        c.jsonpath("pod/missing-image", WAITING_MESSAGE),
        format!("Back-off pulling image \"{image}\"")
    );
    let ev = events(&c, "missing-image");
    let pulled = format!(
        "Warning Failed: Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
    );
    for want in [
        format!("Normal Pulling: Pulling image \"{image}\""),
        pulled,
        "Warning Failed: Error: ErrImagePull".to_string(),
    ] {
        assert!(ev.contains(&want), "{want:?} not in {ev:#?}");
    }

    c.apply(&pod("bad-ref", "  - name: app\n    image: bad::ref\n"));
    wait_reason(&c, "bad-ref", "InvalidImageName");
    let msg = "Failed to apply default image tag \"bad::ref\": couldn't parse image name \"bad::ref\": invalid reference format";
    assert_eq!(c.jsonpath("pod/bad-ref", WAITING_MESSAGE), msg);
    // Retries keep the reason (no ImagePullBackOff for a name that can never pull).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.jsonpath("pod/bad-ref", WAITING), "InvalidImageName");
    let ev = events(&c, "bad-ref");
    for want in [
        format!("Warning InspectFailed: {msg}"),
        "Warning Failed: Error: InvalidImageName".to_string(),
    ] {
        assert!(ev.contains(&want), "{want:?} not in {ev:#?}");
    }
}

#[test]
fn a_missing_command_and_run_as_non_root_with_a_root_image() {
    let c = Cluster::with_node(NODE);
    c.apply(&pod(
        "no-command",
        "  - name: app\n    image: busybox:e2e\n    command: [\"no-such-binary\"]\n",
    ));
    wait_reason(&c, "no-command", "CreateContainerError");
    let msg = "exec: \"no-such-binary\": executable file not found in $PATH";
    assert_eq!(c.jsonpath("pod/no-command", WAITING_MESSAGE), msg);
    let ev = events(&c, "no-command");
    let want = format!("Warning Failed: Error: {msg}");
    assert!(ev.contains(&want), "{want:?} not in {ev:#?}");

    c.apply(&pod(
            "non-root",
            "  - name: app\n    image: busybox:e2e\n    command: [\"true\"]\n    securityContext: {runAsNonRoot: true}\n",
        ),
    );
    wait_reason(&c, "non-root", "CreateContainerConfigError");
    let uid = c.jsonpath("pod/non-root", "{.metadata.uid}");
    let msg = format!(
        "container has runAsNonRoot and image will run as root (pod: \"non-root_default({uid})\", container: app)"
    );
    assert_eq!(c.jsonpath("pod/non-root", WAITING_MESSAGE), msg);
    let ev = events(&c, "non-root");
    let want = format!("Warning Failed: Error: {msg}");
    assert!(ev.contains(&want), "{want:?} not in {ev:#?}");
}
