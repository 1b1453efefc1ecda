//! Real sandboxes and containers (as root): a busybox image built here, imported into the
//! image store, run through libcontainer under the `rkube-shim` program.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::rt::*;
use rkube_runtime::container::{Mount, Resources};
use rkube_runtime::{ContainerState, RuntimeError, RuntimeService};

#[tokio::test(flavor = "multi_thread")]
async fn run_logs_exit_code_hostname_and_cri_log_format() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("web-1", &e.data))
            .await
            .expect("sandbox");
    e.rt.set_pod_sandbox_ip(&sb, Some("10.42.0.9".into()))
        .await
        .expect("ip");
    let id = run(
        &e.rt,
        &sb,
        ctr(
            "app",
            "echo hello; echo oops >&2; hostname; cat /etc/hostname; grep web-1 /etc/hosts; exit 3",
        ),
    )
    .await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    assert_eq!(s.exit_code, Some(3));
    assert_eq!(s.reason.as_deref(), Some("Error"));
    let time = |t: &Option<String>| {
        chrono::DateTime::parse_from_rfc3339(t.as_deref().expect("time")).expect("RFC 3339")
    };
    let created = time(&Some(s.created_at.clone()));
    let (started, finished) = (time(&s.started_at), time(&s.finished_at));
    assert!(
        created <= started && started <= finished,
        "created {created} started {started} finished {finished}"
    );
    let raw = std::fs::read_to_string(&s.log_path).expect("log");
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] .*$")
        .expect("regex");
    for line in raw.lines() {
        assert!(re.is_match(line), "bad CRI log line {line:?}");
    }
    assert!(raw.contains(" stdout F hello\n"), "{raw}");
    assert!(raw.contains(" stderr F oops\n"), "{raw}");
    // Once from the UTS namespace, once from the bind-mounted /etc/hostname.
    assert_eq!(raw.matches(" stdout F web-1\n").count(), 2, "{raw}");
    assert!(
        raw.contains(" stdout F 10.42.0.9\tweb-1\n"),
        "pod line in /etc/hosts: {raw}"
    );
    assert_eq!(
        s.log_path,
        e.data.join("logs/web-1/app/0.log"),
        "log under the sandbox's log directory"
    );
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
    assert!(e.rt.list_containers().await.expect("list").is_empty());
    assert!(e.rt.list_pod_sandboxes().await.expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_of_a_pod_share_network_and_volumes_but_not_processes() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("pair", &e.data))
            .await
            .expect("sandbox");
    let shared = e.data.join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let vol = Mount {
        container_path: "/data".into(),
        host_path: shared.clone(),
        readonly: false,
    };
    let mut server = ctr(
        "server",
        "mkdir -p /www && echo from-server > /www/index.html && echo written > /data/note && exec httpd -f -p 8080 -h /www",
    );
    server.mounts.push(vol.clone());
    let server_id = run(&e.rt, &sb, server).await;
    let mut client = ctr(
        "client",
        "for i in $(seq 100); do wget -qO- http://127.0.0.1:8080/ 2>/dev/null && break; sleep 0.05; done; cat /data/note; test -e /www && echo rootfs-shared || echo rootfs-private; ps -o pid,comm | tail -n +2; ls /proc | grep -c '^[0-9]'",
    );
    client.mounts.push(vol);
    let client_id = run(&e.rt, &sb, client).await;
    let s = wait_exit(&e.rt, &client_id, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    assert_eq!(s.exit_code, Some(0), "{out}");
    assert!(out.contains("from-server"), "localhost is shared: {out}");
    assert!(out.contains("written"), "the volume is shared: {out}");
    assert!(
        out.contains("rootfs-private"),
        "the server's rootfs is not visible: {out}"
    );
    assert!(
        !out.contains("httpd"),
        "the server's processes are not visible: {out}"
    );
    assert!(
        out.contains("1 sh"),
        "the client is pid 1 of its own namespace: {out}"
    );
    // The host's processes are not visible either.
    let procs: usize = out
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(99);
    assert!(procs <= 4, "{out}");
    let running = e.rt.container_status(&server_id).await.expect("status");
    assert_eq!(running.state, ContainerState::Running);
    e.rt.stop_container(&server_id, Duration::from_secs(1))
        .await
        .expect("stop");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_hog_is_oom_killed_and_pids_limit_stops_a_fork_bomb() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("limits", &e.data))
            .await
            .expect("sandbox");
    let mut hog = ctr("hog", "exec tail /dev/zero");
    hog.resources = Resources {
        memory_limit_bytes: Some(32 * 1024 * 1024),
        ..Default::default()
    };
    let hog_id = run(&e.rt, &sb, hog).await;
    let s = wait_exit(&e.rt, &hog_id, Duration::from_secs(30)).await;
    assert_eq!(s.exit_code, Some(137));
    assert_eq!(s.reason.as_deref(), Some("OOMKilled"));

    let mut bomb = ctr(
        "bomb",
        "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; echo spawned; sleep 30",
    );
    bomb.resources.pids_limit = Some(16);
    let bomb_id = run(&e.rt, &sb, bomb).await;
    let cgroup = e.rt.container_cgroup(&bomb_id).expect("cgroup");
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup/pids{cgroup}/pids.max"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup{cgroup}/pids.max")))
        .expect("pids.max");
    assert_eq!(max.trim(), "16");
    // busybox sh gives up at the first failed fork: the limit stopped the bomb.
    let s = wait_exit(&e.rt, &bomb_id, Duration::from_secs(20)).await;
    let log = log_text(&s.log_path);
    assert!(log.contains("can't fork"), "forks fail: {log}");
    assert!(!log.contains("spawned"), "{log}");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
    assert!(rkube_runtime::cgroups::pids(&cgroup).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_uses_sigterm_then_sigkill_after_the_grace_period() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("stopper", &e.data))
            .await
            .expect("sandbox");
    let polite = run(
        &e.rt,
        &sb,
        ctr(
            "polite",
            "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.05; done",
        ),
    )
    .await;
    let stubborn = run(&e.rt, &sb, ctr("stubborn", "exec sleep 1000")).await;
    // Stopped only once its trap is set.
    wait_log(&e.rt, &polite, "ready", Duration::from_secs(10)).await;
    let t = Instant::now();
    e.rt.stop_container(&polite, Duration::from_secs(10))
        .await
        .expect("stop");
    assert!(t.elapsed() < Duration::from_secs(5));
    let s = e.rt.container_status(&polite).await.expect("status");
    assert_eq!((s.state, s.exit_code), (ContainerState::Exited, Some(0)));
    assert!(log_text(&s.log_path).contains("bye"));

    let t = Instant::now();
    e.rt.stop_container(&stubborn, Duration::from_millis(500))
        .await
        .expect("stop");
    assert!(t.elapsed() >= Duration::from_millis(450));
    let s = e.rt.container_status(&stubborn).await.expect("status");
    assert_eq!((s.state, s.exit_code), (ContainerState::Exited, Some(137)));
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_reports_exit_codes_and_runs_inside_the_container() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("exec-pod", &e.data))
            .await
            .expect("sandbox");
    let id = run(
        &e.rt,
        &sb,
        ctr(
            "main",
            "echo inside > /tmp/marker; echo ready; exec sleep 1000",
        ),
    )
    .await;
    wait_log(&e.rt, &id, "ready", Duration::from_secs(10)).await;
    let sh = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];
    let r =
        e.rt.exec_sync(&id, &sh("exit 3"), Duration::from_secs(5))
            .await
            .expect("exec");
    assert_eq!(r.exit_code, 3);
    let r =
        e.rt.exec_sync(
            &id,
            &sh("cat /tmp/marker; hostname; echo err >&2"),
            Duration::from_secs(5),
        )
        .await
        .expect("exec");
    assert_eq!(r.exit_code, 0);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "inside\nexec-pod\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    let r =
        e.rt.exec_sync(&id, &["no-such-cmd".to_string()], Duration::from_secs(5))
            .await
            .expect("exec");
    assert_ne!(r.exit_code, 0);
    let r =
        e.rt.exec_sync(&id, &sh("sleep 10"), Duration::from_millis(300))
            .await;
    assert!(r.is_err(), "timeout reported");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_survive_a_new_runtime_on_the_same_data_dir() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("durable", &e.data))
            .await
            .expect("sandbox");
    let labelled = |name: &str, script: &str, uid: &str| {
        let mut c = ctr(name, script);
        c.labels
            .insert(rkube_runtime::POD_UID_LABEL.into(), uid.into());
        c
    };
    let id = run(&e.rt, &sb, labelled("long", "exec sleep 1000", "uid-a")).await;
    let other = run(&e.rt, &sb, labelled("other", "true", "uid-b")).await;
    let before = e.rt.container_status(&id).await.expect("status");
    drop(e.rt);
    let rt = runtime(&e.data);
    let after = rt.container_status(&id).await.expect("status");
    assert_eq!(after.state, ContainerState::Running);
    assert_eq!(after.pid, before.pid);
    assert_eq!(rt.list_pod_sandboxes().await.expect("list").len(), 1);
    // The pod index is rebuilt from disk: each pod sees only its own containers.
    let ids =
        |v: Vec<rkube_runtime::ContainerStatus>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(rt.list_pod_containers("uid-a").await.expect("a")),
        vec![id.clone()]
    );
    assert_eq!(
        ids(rt.list_pod_containers("uid-b").await.expect("b")),
        vec![other.clone()]
    );
    // The sandbox's namespaces are still there for new containers.
    let late = run(&rt, &sb, labelled("late", "hostname", "uid-a")).await;
    let s = wait_exit(&rt, &late, Duration::from_secs(10)).await;
    assert_eq!(log_text(&s.log_path), "durable");
    assert_eq!(rt.list_pod_containers("uid-a").await.expect("a").len(), 2);
    rt.remove_container(&other).await.expect("remove other");
    assert!(rt.list_pod_containers("uid-b").await.expect("b").is_empty());
    rt.remove_pod_sandbox(&sb).await.expect("remove");
    assert!(before
        .pid
        .is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_read_only_rootfs_and_capabilities() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("secure", &e.data))
            .await
            .expect("sandbox");
    let mut c = ctr("c", "id -u; id -g; touch /x 2>/dev/null && echo writable || echo read-only; grep CapEff /proc/self/status");
    c.security.run_as_user = Some(1000);
    c.security.run_as_group = Some(3000);
    c.security.read_only_rootfs = true;
    c.security.drop_capabilities = vec!["ALL".into()];
    let id = run(&e.rt, &sb, c).await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    assert_eq!(
        out, "1000\n3000\nread-only\nCapEff:\t0000000000000000",
        "{out}"
    );
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_reported_and_leaves_nothing_behind() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("bad", &e.data))
            .await
            .expect("sandbox");
    let mut c = ctr("c", "");
    c.command = vec!["no-such-binary".into()];
    let err =
        e.rt.create_container(&sb, c)
            .await
            .expect_err("missing command");
    assert!(matches!(err, RuntimeError::InvalidConfig(_)));
    assert_eq!(
        err.to_string(),
        "exec: \"no-such-binary\": executable file not found in $PATH"
    );
    let mut c = ctr("c", "true");
    c.image = "docker.io/library/nothere:1".into();
    let err =
        e.rt.create_container(&sb, c)
            .await
            .expect_err("missing image");
    assert!(err.to_string().contains("not found"), "{err}");
    let containers = e.data.join("agent/containers");
    assert_eq!(std::fs::read_dir(&containers).expect("dir").count(), 0);
    assert_eq!(
        std::fs::read_dir(e.data.join("agent/run"))
            .expect("dir")
            .count(),
        0
    );
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
    assert_eq!(
        std::fs::read_dir(e.data.join("agent/sandboxes"))
            .expect("dir")
            .count(),
        0
    );
}
