//! A container's stdio through its shim (as root): attach with stdin, stdin_once and TTYs,
//! exec with a pty, and pods sharing one process namespace.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use common::rt::*;
use rkube_runtime::attach::{AttachClient, Output};
use rkube_runtime::{ContainerState, RuntimeError, RuntimeService};

/// Reads attach output until it contains `needle`; the exit shows as `<exit N>`.
async fn read_until(c: &mut AttachClient, needle: &str, out: &mut String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !out.contains(needle) {
        match tokio::time::timeout_at(deadline, c.read()).await {
            Ok(Ok(Some(Output::Stdout(b)))) => out.push_str(&String::from_utf8_lossy(&b)),
            Ok(Ok(Some(Output::Stderr(b)))) => {
                out.push_str("<err>");
                out.push_str(&String::from_utf8_lossy(&b));
            }
            Ok(Ok(Some(Output::Exit(code)))) => out.push_str(&format!("<exit {code}>")),
            other => panic!("waiting for {needle:?}, got {other:?} after {out:?}"),
        }
    }
}

async fn wait_running(rt: &impl RuntimeService, id: &str, for_at_least: Duration) {
    tokio::time::sleep(for_at_least).await;
    let s = rt.container_status(id).await.expect("status");
    assert_eq!(
        s.state,
        ContainerState::Running,
        "{}",
        log_text(&s.log_path)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn attach_fans_out_output_and_delivers_stdin_across_agent_restarts() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("att", &e.data))
            .await
            .expect("sandbox");
    let mut c = ctr(
        "main",
        "read x; echo got $x; echo to-err >&2; read y; echo then $y; exit 7",
    );
    c.stdin = true;
    let id = run(&e.rt, &sb, c).await;
    let socket = e.rt.attach_socket(&id).expect("attach socket");
    // A watcher without stdin, then a client with it: both see everything.
    let mut watcher = AttachClient::connect(&socket, false).await.expect("watch");
    let mut client = AttachClient::connect(&socket, true).await.expect("attach");
    client.write_stdin(b"hi\n").await.expect("stdin");
    // stdout and stderr are separate pipes: their relative order is not kept.
    for c in [&mut client, &mut watcher] {
        let mut out = String::new();
        read_until(c, "<err>to-err\n", &mut out).await;
        read_until(c, "got hi\n", &mut out).await;
        assert_eq!(out.len(), "got hi\n<err>to-err\n".len(), "{out:?}");
    }
    drop(client);

    // A new agent finds the same shim and socket; stdin was not closed (no stdin_once).
    let rt2 = runtime(&e.data);
    wait_running(&rt2, &id, Duration::from_millis(100)).await;
    let socket2 = rt2.attach_socket(&id).expect("attach socket");
    assert_eq!(socket2, socket);
    let mut again = AttachClient::connect(&socket2, true).await.expect("attach");
    again.write_stdin(b"bye\n").await.expect("stdin");
    let mut out = String::new();
    read_until(&mut again, "<exit 7>", &mut out).await;
    assert_eq!(out, "then bye\n<exit 7>");
    assert!(
        matches!(again.read().await, Ok(None)),
        "closed after the exit"
    );
    let mut seen = String::new();
    read_until(&mut watcher, "<exit 7>", &mut seen).await;
    assert_eq!(seen, "then bye\n<exit 7>");

    let s = wait_exit(&rt2, &id, Duration::from_secs(5)).await;
    assert_eq!(s.exit_code, Some(7));
    let mut lines: Vec<String> = log_text(&s.log_path).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["got hi", "then bye", "to-err"]);
    assert!(matches!(
        rt2.attach_socket(&id),
        Err(RuntimeError::NotRunning(_))
    ));
    assert!(!socket.exists(), "the shim removes its socket");
    rt2.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_once_closes_stdin_when_the_attached_client_leaves() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("once", &e.data))
            .await
            .expect("sandbox");
    let mut once = ctr("once", "cat; echo eof");
    once.stdin = true;
    once.stdin_once = true;
    let once = run(&e.rt, &sb, once).await;
    let mut open = ctr("open", "cat; echo eof");
    open.stdin = true;
    let open = run(&e.rt, &sb, open).await;

    for id in [&once, &open] {
        let socket = e.rt.attach_socket(id).expect("socket");
        let mut c = AttachClient::connect(&socket, true).await.expect("attach");
        c.write_stdin(b"a\n").await.expect("stdin");
        let mut out = String::new();
        read_until(&mut c, "a\n", &mut out).await;
        // Leaving without a word counts as closing this client's stdin.
        drop(c);
    }
    let s = wait_exit(&e.rt, &once, Duration::from_secs(5)).await;
    assert_eq!(s.exit_code, Some(0));
    assert_eq!(log_text(&s.log_path), "a\neof");

    // Without stdin_once, stdin stays open for the next client, even after close_stdin.
    wait_running(&e.rt, &open, Duration::from_millis(300)).await;
    let socket = e.rt.attach_socket(&open).expect("socket");
    let mut c = AttachClient::connect(&socket, true).await.expect("attach");
    c.write_stdin(b"b\n").await.expect("stdin");
    c.close_stdin().await.expect("close stdin");
    let mut out = String::new();
    read_until(&mut c, "b\n", &mut out).await;
    wait_running(&e.rt, &open, Duration::from_millis(300)).await;
    e.rt.stop_container(&open, Duration::from_secs(1))
        .await
        .expect("stop");
    let s = e.rt.container_status(&open).await.expect("status");
    assert_eq!(log_text(&s.log_path), "a\nb");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn tty_containers_stream_the_terminal_and_follow_resizes() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("tty", &e.data))
            .await
            .expect("sandbox");
    let mut c = ctr(
        "term",
        "read l; [ -t 0 ] && echo is-a-tty $TERM; stty size; read l; echo line=$l; exit 3",
    );
    c.stdin = true;
    c.stdin_once = true;
    c.tty = true;
    let id = run(&e.rt, &sb, c).await;
    let socket = e.rt.attach_socket(&id).expect("socket");
    let mut client = AttachClient::connect(&socket, true).await.expect("attach");
    client.resize(100, 30).await.expect("resize");
    client.write_stdin(b"\n").await.expect("stdin");
    let mut out = String::new();
    read_until(&mut client, "30 100", &mut out).await;
    assert!(out.contains("is-a-tty xterm\r\n"), "{out:?}");
    client.resize(120, 40).await.expect("resize");
    client.write_stdin(b"x\n").await.expect("stdin");
    read_until(&mut client, "<exit 3>", &mut out).await;
    // The terminal echoes input and turns \n into \r\n; stderr is the terminal too.
    assert!(out.contains("x\r\nline=x\r\n"), "{out:?}");
    assert!(!out.contains("<err>"), "{out:?}");
    let s = wait_exit(&e.rt, &id, Duration::from_secs(5)).await;
    assert_eq!(s.exit_code, Some(3));
    let log = std::fs::read_to_string(&s.log_path).expect("log");
    assert!(log.contains(" stdout F 30 100\n"), "{log:?}");
    assert!(!log.contains(" stderr "), "{log:?}");

    // stdin_once on a terminal: leaving sends its EOF character, so `cat` ends.
    let mut c = ctr("cat", "cat; echo done");
    c.stdin = true;
    c.stdin_once = true;
    c.tty = true;
    let id = run(&e.rt, &sb, c).await;
    let socket = e.rt.attach_socket(&id).expect("socket");
    let mut client = AttachClient::connect(&socket, true).await.expect("attach");
    client.write_stdin(b"meow\n").await.expect("stdin");
    let mut out = String::new();
    read_until(&mut client, "meow\r\nmeow\r\n", &mut out).await;
    client.close_stdin().await.expect("close");
    read_until(&mut client, "<exit 0>", &mut out).await;
    assert!(out.contains("done"), "{out:?}");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_with_a_pty_and_with_stdin() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("exec-tty", &e.data))
            .await
            .expect("sandbox");
    let id = run(&e.rt, &sb, ctr("main", "exec sleep 1000")).await;
    wait_running(&e.rt, &id, Duration::from_millis(100)).await;
    let sh = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];

    // With stdin (no TTY): what goes in comes back out.
    let mut cmd = tokio::process::Command::from(e.rt.exec_command(&id, &sh("cat; echo end")));
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("exec");
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"piped\n")
        .await
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\nend\n");
    // Neither the container nor exec'd processes inherit the shim's ignored SIGPIPE.
    let sigign = sh("grep SigIgn /proc/self/status; grep SigIgn /proc/1/status");
    let r =
        e.rt.exec_sync(&id, &sigign, Duration::from_secs(5))
            .await
            .expect("exec");
    let masks: Vec<u64> = String::from_utf8_lossy(&r.stdout)
        .lines()
        .filter_map(|l| u64::from_str_radix(l.strip_prefix("SigIgn:")?.trim(), 16).ok())
        .collect();
    assert_eq!(masks.len(), 2, "{r:?}");
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    assert!(masks.iter().all(|m| m & sigpipe == 0), "{masks:x?}");

    // With a pty, as the kubelet runs `kubectl exec -t`: the size set on the master shows.
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let ws = libc::winsize {
        ws_row: 20,
        ws_col: 50,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(pty.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    let mut cmd = e.rt.exec_command(&id, &sh("[ -t 1 ] && stty size"));
    let slave = std::fs::File::from(pty.slave);
    cmd.stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave);
    let mut child = cmd.spawn().expect("exec");
    let status = child.wait().expect("wait");
    drop(cmd);
    assert!(status.success());
    let mut master = std::fs::File::from(pty.master);
    let mut buf = [0u8; 256];
    let n = master.read(&mut buf).expect("read pty");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "20 50\r\n");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

/// Whether `pid` runs (zombies count as gone).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with(['Z', 'X']))
        })
        .is_some_and(|dead| !dead)
}

/// The host pid of the sandbox's shared PID namespace init.
fn pause_pid(data: &Path, sandbox: &str) -> i32 {
    let rec = std::fs::read(data.join(format!("agent/sandboxes/{sandbox}/pause.json")))
        .expect("pause.json");
    let v: serde_json::Value = serde_json::from_slice(&rec).expect("json");
    v["pid"].as_i64().expect("pid") as i32
}

#[tokio::test(flavor = "multi_thread")]
async fn share_process_namespace_lets_containers_see_each_other() {
    let e = env().await;
    let mut cfg = pod("shared", &e.data);
    cfg.share_process_namespace = true;
    let sb = e.rt.run_pod_sandbox(cfg).await.expect("sandbox");
    let pause = pause_pid(&e.data, &sb);
    let server = run(&e.rt, &sb, ctr("server", "exec sleep 1000")).await;
    let looker = "sleep 0.3; ps -o pid,comm | tail -n +2";
    let client = run(&e.rt, &sb, ctr("client", looker)).await;
    let s = wait_exit(&e.rt, &client, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    assert_eq!(s.exit_code, Some(0), "{out}");
    assert!(
        out.contains("1 pause"),
        "the namespace's init is pause: {out}"
    );
    assert!(
        out.contains("sleep"),
        "the server's process is visible: {out}"
    );
    assert!(out.contains(" ps"), "{out}");

    // A new agent finds the namespace again; exec lands in it too.
    let rt2 = runtime(&e.data);
    let late = run(&rt2, &sb, ctr("late", "ps -o comm | grep -c sleep")).await;
    let s = wait_exit(&rt2, &late, Duration::from_secs(10)).await;
    assert_eq!(log_text(&s.log_path), "1");
    let r = rt2
        .exec_sync(
            &server,
            &["ps".into(), "-o".into(), "comm".into()],
            Duration::from_secs(5),
        )
        .await
        .expect("exec");
    assert!(String::from_utf8_lossy(&r.stdout).contains("pause"));

    let server_pid = rt2.container_status(&server).await.expect("status").pid;
    let ready = rt2.pod_sandbox_status(&sb).await.expect("status").state;
    assert_eq!(ready, rkube_runtime::SandboxState::Ready);
    rt2.remove_pod_sandbox(&sb).await.expect("remove");
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pause) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pause), "pause is gone");
    assert!(server_pid.is_some_and(|p| !alive(p)));

    // A sandbox whose namespace init died is NotReady (the kubelet then recreates it).
    let mut cfg = pod("orphaned", &e.data);
    cfg.share_process_namespace = true;
    let sb = rt2.run_pod_sandbox(cfg).await.expect("sandbox");
    let pause = pause_pid(&e.data, &sb);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pause, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pause) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = rt2.pod_sandbox_status(&sb).await.expect("status").state;
    assert_eq!(state, rkube_runtime::SandboxState::NotReady);
    let err = rt2.create_container(&sb, ctr("c", "true")).await;
    assert!(
        matches!(err, Err(RuntimeError::InvalidConfig(_))),
        "{err:?}"
    );
    rt2.remove_pod_sandbox(&sb).await.expect("remove");
}
