//! Three servers over a three-member etcd cluster (Debian's etcd-server) and one agent:
//! any server answers the API, losing one etcd member is tolerated, the `kubernetes` Service lists every live server, killing
//! the scheduler's leader moves leadership to another server where the scheduler and the
//! controllers go on acting, and the agent fails over when the server it used dies.

use std::time::{Duration, SystemTime};

use rkube_e2e::multinode::MultiNode;

fn holder(c: &MultiNode, at: u8, lease: &str) -> String {
    c.kubectl_at(
        at,
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            lease,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
    .stdout
    .trim()
    .to_string()
}

fn kill(c: &MultiNode, i: u8) {
    // SAFETY: signalling a pid recorded by `rkube cluster create`.
    unsafe { libc::kill(c.pid(i), libc::SIGKILL) };
}

#[test]
fn servers_share_the_api_and_leadership_moves_when_the_leader_dies() {
    let c = MultiNode::create_with(4, 3);
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

    // Losing one of the three etcd members is tolerated: writes still succeed everywhere.
    let etcd_pid: i32 = std::fs::read_to_string(c.data_dir(2).join("etcd.pid"))
        .expect("etcd pid")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: signalling a pid recorded by `rkube cluster create`.
    unsafe { libc::kill(etcd_pid, libc::SIGKILL) };
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

    // The scheduler's leader: the server whose log says so.
    let leader_id = holder(&c, 0, "kube-scheduler");
    assert!(!leader_id.is_empty());
    let leader = (0..3u8)
        .find(|i| {
            std::fs::read_to_string(c.data_dir(*i).join("rkube.log"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("became leader") && l.contains(&leader_id))
        })
        .expect("the leader's log");
    kill(&c, leader);
    let survivor = (0..3u8).find(|i| *i != leader).expect("a survivor");
    c.wait_until(Duration::from_secs(60), "a new scheduler leader", || {
        let h = holder(&c, survivor, "kube-scheduler");
        !h.is_empty() && h != leader_id
    });
    // Kill the agent's server too (it starts with the first URL), unless already dead.
    let killed_at = SystemTime::now();
    let mut dead = vec![leader];
    if leader != 0 {
        kill(&c, 0);
        dead.push(0);
    }
    let live = (0..3u8).find(|i| !dead.contains(i)).expect("a live server");
    // The scheduler and the controller manager act from the new leaders.
    c.kubectl_at(
        live,
        &[
            "create",
            "deployment",
            "after-failover",
            "--image=busybox:none",
            "--replicas=2",
        ],
    )
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
