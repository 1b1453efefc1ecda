//! Three servers over a three-member etcd cluster (Debian's etcd-server) and one agent:
//! any server answers the API, Services made concurrently through all of them get distinct
//! addresses, a join token made on one server joins through another, losing the etcd member
//! the servers use first is tolerated (writes, watches and the agent's Lease go on), the
//! `kubernetes` Service lists every live server, killing the leaders moves leadership
//! within 15 s to another server where the scheduler and the controllers go on acting, and
//! the agent fails over when the server it used dies, also when it joins again.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rkube_e2e::multinode::MultiNode;

/// A field of a kube-system Lease, read through server `at`.
fn lease_field(c: &MultiNode, at: u8, lease: &str, field: &str) -> String {
    let path = format!("jsonpath={{.spec.{field}}}");
    c.kubectl_at(
        at,
        &["get", "lease", "-n", "kube-system", lease, "-o", &path],
    )
    .stdout
    .trim()
    .to_string()
}

fn holder(c: &MultiNode, at: u8, lease: &str) -> String {
    lease_field(c, at, lease, "holderIdentity")
}

/// When the Lease's current holder acquired it (the new leader's own clock).
fn acquired(c: &MultiNode, at: u8, lease: &str) -> Option<jiff::Timestamp> {
    lease_field(c, at, lease, "acquireTime").parse().ok()
}

fn kill(c: &MultiNode, i: u8) {
    // SAFETY: signalling a pid recorded by `rkube cluster create`.
    unsafe { libc::kill(c.pid(i), libc::SIGKILL) };
}

/// The server whose log says it became leader as `identity`.
fn server_of(c: &MultiNode, identity: &str) -> u8 {
    (0..3u8)
        .find(|i| {
            std::fs::read_to_string(c.data_dir(*i).join("rkube.log"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("became leader") && l.contains(identity))
        })
        .unwrap_or_else(|| panic!("no server's log names leader {identity}"))
}

/// `kubectl get configmaps -w -o name` against one server, collecting what it prints.
struct Watch {
    child: Child,
    seen: Arc<Mutex<String>>,
}

impl Watch {
    fn start(c: &MultiNode, at: u8) -> Watch {
        let mut child = c
            .kubectl_cmd(&c.kubeconfig)
            .args(["--server", &format!("https://{}:6443", c.ip(at))])
            .args(["get", "configmaps", "-w", "-o", "name"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch");
        let out = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(String::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = s.lock().expect("lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        Watch { child, seen }
    }

    fn saw(&self, name: &str) -> bool {
        self.seen
            .lock()
            .expect("lock")
            .contains(&format!("configmap/{name}\n"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The renewTime of the agent's Lease, read through server `at`.
fn agent_renewed_after(c: &MultiNode, at: u8, t: SystemTime) -> bool {
    let r = c.kubectl_at(
        at,
        &[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            &c.node(3),
            "-o",
            "jsonpath={.spec.renewTime}",
        ],
    );
    renewed_after(&r.stdout, t)
}

/// ~30 NodePort Services created at once, a third through each server: every clusterIP and
/// nodePort differs. A deleted Service's port is free at once, on any server; a port in use
/// is refused on every server.
fn services_get_distinct_addresses_across_servers(c: &Arc<MultiNode>) {
    const N: usize = 30;
    let threads: Vec<_> = (0..N)
        .map(|n| {
            let c = c.clone();
            std::thread::spawn(move || {
                c.kubectl_at(
                    (n % 3) as u8,
                    &[
                        "create",
                        "service",
                        "nodeport",
                        &format!("ha-svc-{n}"),
                        "--tcp=80:80",
                    ],
                )
                .ok();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("create service");
    }
    let list = c.kubectl(&["get", "services", "-o", "json"]).ok().json();
    let mut ips = std::collections::HashSet::new();
    let mut ports = std::collections::HashSet::new();
    let mut count = 0;
    for s in list["items"].as_array().expect("items") {
        if !s["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .starts_with("ha-svc-")
        {
            continue;
        }
        count += 1;
        let ip = s["spec"]["clusterIP"]
            .as_str()
            .expect("clusterIP")
            .to_string();
        let port = s["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .expect("nodePort");
        assert!(ips.insert(ip.clone()), "clusterIP {ip} given twice: {list}");
        assert!(ports.insert(port), "nodePort {port} given twice: {list}");
    }
    assert_eq!(count, N);
    let port_of = |name: &str| {
        c.kubectl(&[
            "get",
            "service",
            name,
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .ok()
        .stdout
    };
    let p0 = port_of("ha-svc-0");
    let p1 = port_of("ha-svc-1");
    let with_port = |name: &str, port: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: NodePort\n  ports: [{{port: 80, nodePort: {port}}}]\n"
        )
    };
    let create_at = |at: u8, yaml: &str| {
        let file = c.dir.path().join("svc.yaml");
        std::fs::write(&file, yaml).expect("write");
        c.kubectl_at(at, &["create", "-f", file.to_str().expect("path")])
    };
    for at in 0..3u8 {
        let r = create_at(at, &with_port("ha-svc-dup", &p1));
        assert_ne!(r.code, 0, "server {at} gave away port {p1} twice");
        assert!(
            r.stderr.contains(&format!(
                "Invalid value: {p1}: provided port is already allocated"
            )),
            "{}",
            r.stderr
        );
    }
    c.kubectl_at(0, &["delete", "service", "ha-svc-0"]).ok();
    create_at(2, &with_port("ha-svc-reuse", &p0)).ok();
}

#[test]
fn servers_share_the_api_and_leadership_moves_when_the_leader_dies() {
    let c = Arc::new(MultiNode::create_with(4, 3));
    for i in 0..3 {
        let nodes = c.kubectl_at(i, &["get", "nodes", "-o", "name"]).ok().stdout;
        assert_eq!(nodes.lines().count(), 4, "server {i}: {nodes}");
    }
    let eps = |at: u8| {
        c.kubectl_at(
            at,
            &[
                "get",
                "endpoints",
                "kubernetes",
                "-o",
                "jsonpath={.subsets[0].addresses[*].ip}",
            ],
        )
        .stdout
    };
    c.wait_until(Duration::from_secs(30), "three API endpoints", || {
        eps(0).split_whitespace().count() == 3
    });

    services_get_distinct_addresses_across_servers(&c);

    // A join token made through server 1 is a Secret every server checks: server 0 takes it
    // (the empty request then fails validation, 400), and refuses a made-up one (401).
    let bin = rkube_e2e::rkube_bin();
    let dir1 = c.data_dir(1);
    let r = c.exec_on(
        1,
        &[
            bin.to_str().expect("path"),
            "token",
            "create",
            "--ttl",
            "1h",
            "--data-dir",
            dir1.to_str().expect("path"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bootstrap = r.stdout.trim().to_string();
    let post = |at: u8, token: &str| {
        let secret = token.rsplit("::").next().unwrap_or("");
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args([
                "-H",
                &format!("Authorization: Bearer {secret}"),
                "--data",
                "{}",
            ])
            .arg(format!(
                "https://{}:6443/v1-rkube/node-certificates",
                c.ip(at)
            ))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(post(0, &bootstrap), "400", "{bootstrap}");
    assert_eq!(post(0, "K10x::abcdef.0123456789abcdef"), "401");

    // Watches on every server, started before the etcd member goes.
    let watches: Vec<Watch> = (0..3u8).map(|i| Watch::start(&c, i)).collect();
    c.kubectl(&["create", "configmap", "before-etcd-loss"]).ok();
    c.wait_until(Duration::from_secs(20), "the watches to start", || {
        watches.iter().all(|w| w.saw("before-etcd-loss"))
    });
    // Losing the etcd member every server talks to first (node 0's) is tolerated: the
    // servers move to the others, and writes, watches and Lease renewals go on everywhere.
    let etcd_pid: i32 = std::fs::read_to_string(c.data_dir(0).join("etcd.pid"))
        .expect("etcd pid")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: signalling a pid recorded by `rkube cluster create`.
    unsafe { libc::kill(etcd_pid, libc::SIGKILL) };
    let etcd_lost = SystemTime::now();
    // (If it was the etcd leader, requests fail during the election, as upstream's do.)
    for i in 0..3u8 {
        let name = format!("after-etcd-loss-{i}");
        c.wait_until(
            Duration::from_secs(30),
            "a write after losing a member",
            || {
                let r = c.kubectl_at(i, &["create", "configmap", &name]);
                r.code == 0 || r.stderr.contains("AlreadyExists")
            },
        );
    }
    c.wait_until(
        Duration::from_secs(30),
        "every watch to see the writes",
        || {
            watches
                .iter()
                .all(|w| (0..3).all(|i| w.saw(&format!("after-etcd-loss-{i}"))))
        },
    );
    drop(watches);
    for i in 0..3u8 {
        c.wait_until(
            Duration::from_secs(30),
            "the agent's lease renewed after the etcd loss",
            || agent_renewed_after(&c, i, etcd_lost),
        );
    }

    // The leaders: the servers whose logs say so. Killing a server moves every Lease it
    // held to a live server within 15 s (10 s Lease, 1 s retries): first the scheduler's
    // leader, then the agent's first server (unless that was it).
    let mut dead = Vec::new();
    let leader = server_of(&c, &holder(&c, 0, "kube-scheduler"));
    for victim in [leader, 0] {
        if dead.contains(&victim) {
            continue;
        }
        let live = (0..3u8)
            .find(|i| *i != victim && !dead.contains(i))
            .expect("a live server");
        let held: Vec<(&str, String)> = ["kube-scheduler", "kube-controller-manager"]
            .into_iter()
            .map(|l| (l, holder(&c, live, l)))
            .filter(|(_, id)| server_of(&c, id) == victim)
            .collect();
        let killed = jiff::Timestamp::now();
        kill(&c, victim);
        dead.push(victim);
        // Failover is measured on the new holder's acquireTime, so a slow poll here does
        // not count.
        let mut moved: Vec<Option<Duration>> = vec![None; held.len()];
        c.wait_until(Duration::from_secs(60), "new leaders", || {
            for (i, (lease, old)) in held.iter().enumerate() {
                let h = holder(&c, live, lease);
                if moved[i].is_none() && !h.is_empty() && h != *old {
                    let at = acquired(&c, live, lease).expect("acquireTime of a new holder");
                    moved[i] = Some(at.duration_since(killed).unsigned_abs());
                }
            }
            moved.iter().all(Option::is_some)
        });
        for ((lease, _), t) in held.iter().zip(&moved) {
            let t = t.expect("moved");
            eprintln!("failover of {lease} after killing server {victim}: {t:?}");
            assert!(t < Duration::from_secs(15), "{lease} failover took {t:?}");
        }
        if victim == leader {
            assert!(
                !held.is_empty(),
                "server {victim} held the scheduler's Lease"
            );
        }
    }
    let killed_at = SystemTime::now();
    let live = (0..3u8).find(|i| !dead.contains(i)).expect("a live server");
    // The scheduler and the controller manager act from the new leaders.
    // (The image is never pulled: only the pods' creation and binding matter.)
    let file = c.dir.path().join("after-failover.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: after-failover}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: after-failover}}\n  template:\n    metadata: {labels: {app: after-failover}}\n    spec:\n      containers:\n      - {name: c, image: e2e/none:1, imagePullPolicy: Never}\n",
    )
    .expect("write");
    c.kubectl_at(live, &["create", "-f", file.to_str().expect("path")])
        .ok();
    c.wait_until(
        Duration::from_secs(60),
        "pods created and scheduled",
        || {
            let r = c.kubectl_at(
                live,
                &[
                    "get",
                    "pods",
                    "-l",
                    "app=after-failover",
                    "-o",
                    "jsonpath={.items[*].spec.nodeName}",
                ],
            );
            r.stdout.split_whitespace().count() == 2
        },
    );
    // The agent keeps renewing its Lease through another server.
    let agent = c.node(3);
    c.wait_until(Duration::from_secs(40), "the agent's lease renewed", || {
        let t = c
            .kubectl_at(
                live,
                &[
                    "get",
                    "lease",
                    "-n",
                    "kube-node-lease",
                    &agent,
                    "-o",
                    "jsonpath={.spec.renewTime}",
                ],
            )
            .stdout;
        renewed_after(&t, killed_at)
    });
    // Join failover: the agent joins again from scratch (its credentials gone) with the token
    // made through server 1; its first --server URL is dead, so it joins through another.
    let dead_url = format!("https://{}:6443", c.ip(0));
    let agent_dir = c.data_dir(3);
    let restarted = SystemTime::now();
    let joins_before = std::fs::read_to_string(agent_dir.join("rkube.log"))
        .unwrap_or_default()
        .matches("joined the cluster")
        .count();
    c.restart_node_with(3, |argv| {
        for f in ["agent/kubeconfig", "agent/settings.json"] {
            std::fs::remove_file(agent_dir.join(f)).expect("remove credentials");
        }
        let at = argv.iter().position(|a| a == "--token").expect("--token");
        argv[at + 1] = bootstrap.clone();
        let servers = &argv[argv.iter().position(|a| a == "--server").expect("--server") + 1];
        assert!(servers.starts_with(&dead_url), "{servers}");
    });
    c.wait_until(Duration::from_secs(60), "the agent to join again", || {
        let log = std::fs::read_to_string(agent_dir.join("rkube.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("joined the cluster"))
            .skip(joins_before)
            .any(|l| !l.contains(&dead_url))
    });
    assert!(agent_dir.join("agent/kubeconfig").exists());
    c.wait_until(
        Duration::from_secs(40),
        "the rejoined agent's lease renewed",
        || agent_renewed_after(&c, live, restarted),
    );

    // Dead servers leave the `kubernetes` endpoints once their leases expire.
    c.wait_until(Duration::from_secs(40), "dead servers dropped", || {
        eps(live).split_whitespace().count() == 3 - dead.len()
    });
}

/// Whether an RFC 3339 time (`2026-11-21T05:47:51.357692Z`) is after `t`.
fn renewed_after(rfc3339: &str, t: SystemTime) -> bool {
    let out = std::process::Command::new("date")
        .args(["-d", rfc3339, "+%s"])
        .output()
        .expect("date");
    let secs: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(u64::MAX);
    secs > since + 1
}
