//! What the spec asks of a real container, read back from inside it and from the host:
//! working directory, a read-only /sys, CPU shares and quota in the pod's cgroup, and the
//! pod-wide /dev/shm.

mod common;

use std::time::Duration;

use common::rt::*;
use rkube_runtime::container::Resources;
use rkube_runtime::{ContainerState, RuntimeService};

/// A cgroup v1 file of `controller`, or the v2 file of the same cgroup.
fn cgroup_file(controller: &str, cgroup: &str, v1: &str, v2: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}{cgroup}/{v1}"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup{cgroup}/{v2}")))
        .unwrap_or_else(|e| panic!("{v1} of {cgroup}: {e}"))
        .trim()
        .to_string()
}

async fn wait_running(e: &Env, id: &str) -> rkube_runtime::ContainerStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = e.rt.container_status(id).await.expect("status");
        let log = log_text(&s.log_path);
        if s.state == ContainerState::Running && log.contains("ready") {
            return s;
        }
        assert_eq!(s.state, ContainerState::Running, "{log}");
        assert!(std::time::Instant::now() < deadline, "not ready: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn working_dir_read_only_sys_and_cpu_limits_in_the_pod_cgroup() {
    let e = env().await;
    let cfg = pod("settings", &e.data);
    let uid = cfg.uid.clone();
    let sb = e.rt.run_pod_sandbox(cfg).await.expect("sandbox");
    let mut c = ctr(
        "c",
        "pwd; touch /sys/x 2>&1; grep ' /sys ' /proc/mounts; echo ready; exec sleep 1000",
    );
    c.working_dir = Some("/tmp".into());
    let (quota, period) = Resources::quota_from_millis(250);
    c.resources = Resources {
        cpu_shares: Some(Resources::shares_from_millis(500)),
        cpu_quota: Some(quota),
        cpu_period: Some(period),
        ..Default::default()
    };
    let id = run(&e.rt, &sb, c).await;
    let s = wait_running(&e, &id).await;
    let out = log_text(&s.log_path);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("/tmp"), "workingDir: {out}");
    assert_eq!(
        lines.next(),
        Some("touch: /sys/x: Read-only file system"),
        "{out}"
    );
    assert!(
        lines.next().is_some_and(|l| l.contains(" ro,")),
        "/sys mounted read-only: {out}"
    );

    let cgroup = e.rt.container_cgroup(&id).expect("cgroup");
    assert_eq!(cgroup, format!("/rkube/pod{uid}/{id}"));
    // The container's process really is in it.
    let pid = s.pid.expect("pid");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
    assert!(
        own.lines().any(|l| l.ends_with(&format!(":{cgroup}"))),
        "{own}"
    );
    if rkube_runtime::cgroups::version() == rkube_runtime::cgroups::Version::V1 {
        assert_eq!(cgroup_file("cpu", &cgroup, "cpu.shares", ""), "512");
        assert_eq!(cgroup_file("cpu", &cgroup, "cpu.cfs_quota_us", ""), "25000");
        assert_eq!(
            cgroup_file("cpu", &cgroup, "cpu.cfs_period_us", ""),
            "100000"
        );
    } else {
        assert_eq!(cgroup_file("", &cgroup, "", "cpu.max"), "25000 100000");
    }
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_line_is_logged_as_partial_records_that_join_back() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("long-line", &e.data))
            .await
            .expect("sandbox");
    // 40 KiB of digits without a newline, a pause, then the newline on its own.
    let id = run(
        &e.rt,
        &sb,
        ctr(
            "c",
            "seq 1 20000 | tr -d '\\n' | head -c 40960; sleep 0.2; echo",
        ),
    )
    .await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    assert_eq!(s.exit_code, Some(0));
    let raw = std::fs::read_to_string(&s.log_path).expect("log");
    let records: Vec<(&str, &str)> = raw
        .lines()
        .map(|l| {
            let mut f = l.splitn(4, ' ');
            let (_, stream, tag, text) = (f.next(), f.next(), f.next(), f.next());
            assert_eq!(stream, Some("stdout"), "{l:.80}");
            (tag.expect("tag"), text.expect("text"))
        })
        .collect();
    let tags: Vec<&str> = records.iter().map(|r| r.0).collect();
    assert_eq!(tags, ["P", "P", "F"]);
    let lens: Vec<usize> = records.iter().map(|r| r.1.len()).collect();
    assert_eq!(lens, [16384, 16384, 8192]);
    let want: String = (1..=20000)
        .map(|i| i.to_string())
        .collect::<String>()
        .chars()
        .take(40960)
        .collect();
    assert_eq!(records.iter().map(|r| r.1).collect::<String>(), want);
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_of_a_pod_share_dev_shm_until_the_sandbox_goes() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("shm", &e.data))
            .await
            .expect("sandbox");
    let writer = run(&e.rt, &sb, ctr("writer", "echo from-writer > /dev/shm/x")).await;
    let s = wait_exit(&e.rt, &writer, Duration::from_secs(10)).await;
    assert_eq!(s.exit_code, Some(0), "{}", log_text(&s.log_path));
    let reader = run(
        &e.rt,
        &sb,
        ctr("reader", "cat /dev/shm/x; grep ' /dev/shm ' /proc/mounts"),
    )
    .await;
    let s = wait_exit(&e.rt, &reader, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    assert_eq!(s.exit_code, Some(0), "{out}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("from-writer"), "{out}");
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("tmpfs") && l.contains("nosuid,nodev,noexec")),
        "{out}"
    );
    // Another pod's /dev/shm is its own.
    let other =
        e.rt.run_pod_sandbox(pod("shm-other", &e.data))
            .await
            .expect("sandbox");
    let id = run(
        &e.rt,
        &other,
        ctr("c", "test -e /dev/shm/x && echo shared || echo private"),
    )
    .await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    assert_eq!(log_text(&s.log_path), "private");

    let shm = e.data.join("agent/sandboxes").join(&sb).join("shm");
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .contains(&format!(" {} ", shm.display()))
    };
    assert!(mounted(), "the pod's shm is a mount of its own");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
    assert!(!mounted(), "unmounted with the sandbox");
    e.rt.remove_pod_sandbox(&other).await.expect("remove");
}
