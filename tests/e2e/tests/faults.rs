//! Faults, end to end on local multi-node clusters: a node cut off from the network and
//! restored never runs a second copy of a StatefulSet pod and comes back Ready, untainted;
//! a server restarted (or killed and started again) under load from several writers loses
//! no acknowledged write, a client's watch resumes from where it was (as informers do; real
//! `kubectl get -w` exits 0 when its watch closes, as against upstream's server) and reports
//! writes made after the restart, and the other node's agent resumes its watches.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::multinode::MultiNode;

fn running_copies(marker: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// What a [`ResumingWatch`] saw.
#[derive(Default)]
struct Seen {
    /// Names reported by watch events.
    events: HashSet<String>,
    /// Names found by re-lists (after a 410).
    listed: HashSet<String>,
    /// How often the watch ended and was started again.
    resumed: usize,
}

/// A client's watch on the default namespace's ConfigMaps that resumes after its stream
/// ends, as informers do: from the last resourceVersion it saw, or after a re-list when
/// that is too old (410).
struct ResumingWatch {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ResumingWatch {
    fn start(kubeconfig: PathBuf) -> ResumingWatch {
        use futures::StreamExt;
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::{Api, ListParams, WatchEvent, WatchParams};
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
                    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                        .await
                        .expect("config");
                    let api: Api<ConfigMap> =
                        Api::namespaced(kube::Client::try_from(cfg).expect("client"), "default");
                    let list = api.list(&ListParams::default()).await.expect("list");
                    let mut rv = list.metadata.resource_version.unwrap_or_default();
                    let _ = started_tx.send(());
                    while !stop.load(Ordering::SeqCst) {
                        if let Ok(stream) = api.watch(&WatchParams::default(), &rv).await {
                            let mut stream = std::pin::pin!(stream);
                            while !stop.load(Ordering::SeqCst) {
                                let next =
                                    tokio::time::timeout(Duration::from_millis(300), stream.next())
                                        .await;
                                let ev = match next {
                                    Err(_) => continue,
                                    Ok(None) | Ok(Some(Err(_))) => break,
                                    Ok(Some(Ok(ev))) => ev,
                                };
                                match ev {
                                    WatchEvent::Added(cm) | WatchEvent::Modified(cm) => {
                                        let name = cm.metadata.name.unwrap_or_default();
                                        seen.lock().expect("lock").events.insert(name);
                                        rv = cm.metadata.resource_version.unwrap_or(rv);
                                    }
                                    WatchEvent::Deleted(cm) => {
                                        rv = cm.metadata.resource_version.unwrap_or(rv);
                                    }
                                    WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
                                    WatchEvent::Error(e) if e.code == 410 => {
                                        if let Ok(l) = api.list(&ListParams::default()).await {
                                            let mut s = seen.lock().expect("lock");
                                            for cm in l.items {
                                                s.listed
                                                    .insert(cm.metadata.name.unwrap_or_default());
                                            }
                                            rv = l.metadata.resource_version.unwrap_or(rv);
                                        }
                                        break;
                                    }
                                    WatchEvent::Error(_) => break,
                                }
                            }
                        }
                        seen.lock().expect("lock").resumed += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                });
            })
        };
        started_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the watch to start");
        ResumingWatch {
            seen,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ResumingWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_partitioned_node_never_runs_a_second_copy_of_a_statefulset_pod() {
    let c = MultiNode::create(3);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let marker = format!("sleep 36{}", std::process::id() % 100 + 10);
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: db}}
spec: {{clusterIP: None, selector: {{app: db}}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{{key: kubernetes.io/hostname, operator: NotIn, values: [{server}]}}]
      tolerations:
      - {{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}}
      - {{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}}
      containers:
      - {{name: c, image: busybox:e2e, command: ["sh", "-c", "exec {marker}"]}}
"#,
        server = c.node(0)
    ));
    c.kubectl(&["wait", "--for=condition=Ready", "pod/db-0", "--timeout=90s"])
        .ok();
    let host = c
        .kubectl(&["get", "pod", "db-0", "-o", "jsonpath={.spec.nodeName}"])
        .ok()
        .stdout;
    let i: u8 = host
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("node index");
    assert_eq!(running_copies(&marker), 1);

    // Cut the node off.
    c.exec_on(i, &["ip", "link", "set", "eth0", "down"]).ok();
    c.wait_until(Duration::from_secs(90), "the node to be lost", || {
        c.kubectl(&[
            "get",
            "node",
            &host,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .stdout
            == "Unknown"
    });
    c.wait_until(
        Duration::from_secs(60),
        "db-0 evicted (terminating)",
        || {
            !c.kubectl(&[
                "get",
                "pod",
                "db-0",
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ])
            .stdout
            .is_empty()
        },
    );
    // While the node cannot confirm the old copy is gone, no second copy starts.
    for _ in 0..20 {
        let node = c
            .kubectl(&["get", "pod", "db-0", "-o", "jsonpath={.spec.nodeName}"])
            .stdout;
        assert!(
            node.is_empty() || node == host,
            "db-0 moved to {node} while {host} was cut off"
        );
        assert!(running_copies(&marker) <= 1);
        std::thread::sleep(Duration::from_millis(500));
    }

    // Restore the link: the node stops the old copy, then db-0 runs again, once.
    c.exec_on(i, &["ip", "link", "set", "eth0", "up"]).ok();
    let gw = {
        let ip = c.ip(i);
        let (net, _) = ip.rsplit_once('.').expect("ip");
        format!("{net}.1")
    };
    c.exec_on(i, &["ip", "route", "replace", "default", "via", &gw])
        .ok();
    c.wait_until(Duration::from_secs(120), "db-0 back and Ready", || {
        let r = c.kubectl(&[
            "get",
            "pod",
            "db-0",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        r.stdout == "|True"
    });
    c.wait_until(Duration::from_secs(30), "exactly one copy running", || {
        running_copies(&marker) == 1
    });
    // The node itself is back: Ready, and no longer tainted unreachable.
    c.wait_until(
        Duration::from_secs(60),
        "the node Ready and untainted",
        || {
            let r = c.kubectl(&[
                "get",
                "node",
                &host,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}|{.spec.taints[*].key}",
            ]);
            r.stdout.starts_with("True|") && !r.stdout.contains("node.kubernetes.io/unreachable")
        },
    );
}

#[test]
fn a_server_restarted_under_load_loses_no_acknowledged_write() {
    restart_under_load(false);
}

#[test]
fn a_server_killed_under_load_loses_no_acknowledged_write() {
    restart_under_load(true);
}

/// Several writers create ConfigMaps while the server restarts (SIGTERM, or SIGKILL when
/// `hard`); a watch started before keeps reporting.
fn restart_under_load(hard: bool) {
    const WRITERS: usize = 4;
    let c = Arc::new(MultiNode::create(2));
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    // A client's watch, started before the restart.
    let watch = ResumingWatch::start(c.kubeconfig.clone());
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let back = Arc::new(Mutex::new(None::<std::time::Instant>));
    let after_restart = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
            let (back, after_restart) = (back.clone(), after_restart.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let started = std::time::Instant::now();
                    let name = format!("load-{w}-{n}");
                    let r = c.kubectl(&["create", "configmap", &name, "--from-literal=n=1"]);
                    if r.code == 0 {
                        acked.lock().expect("lock").push(name.clone());
                        // Sent after the server was back: the watch must report it.
                        if back.lock().expect("lock").is_some_and(|b| started > b) {
                            after_restart.lock().expect("lock").push(name);
                        }
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    if hard {
        c.kill_and_restart_node(0);
    } else {
        c.restart_node(0);
    }
    c.wait_until(Duration::from_secs(60), "the server back", || {
        c.kubectl(&["get", "--raw", "/readyz"]).code == 0
    });
    *back.lock().expect("lock") = Some(std::time::Instant::now());
    c.wait_until(Duration::from_secs(30), "writes after the restart", || {
        after_restart.lock().expect("lock").len() >= 2 * WRITERS
    });
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 5 * WRITERS, "too few writes: {}", acked.len());
    let have = c.kubectl(&["get", "configmaps", "-o", "name"]).ok().stdout;
    for name in &acked {
        assert!(
            have.contains(&format!("configmap/{name}\n")),
            "acknowledged {name} is missing"
        );
    }
    // The watch started before the restart resumed and reports what was written after it
    // as events; everything acknowledged it saw one way or another.
    let after = after_restart.lock().expect("lock").clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let missed: Vec<&String> = {
            let seen = watch.seen.lock().expect("lock");
            after.iter().filter(|n| !seen.events.contains(*n)).collect()
        };
        if missed.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watch missed {missed:?} (of {}) written after the restart",
            after.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    {
        let seen = watch.seen.lock().expect("lock");
        assert!(seen.resumed >= 1, "the watch never ended: no restart?");
        for name in &acked {
            assert!(
                seen.events.contains(name) || seen.listed.contains(name),
                "the watch never saw acknowledged {name}"
            );
        }
    }
    drop(watch);
    // The other node's agent resumed its watches: a new pod bound to it runs.
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: after}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: busybox:e2e, command: [sleep, '3600']}}\n",
        c.node(1)
    ));
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/after",
        "--timeout=60s",
    ])
    .ok();
}
