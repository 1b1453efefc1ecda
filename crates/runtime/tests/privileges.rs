//! Privileged containers and the RuntimeDefault seccomp profile, in real containers.

mod common;

use std::time::Duration;

use common::rt::*;
use rkube_runtime::container::Seccomp;
use rkube_runtime::RuntimeService;

/// A line of this (root) test process's /proc/self/status, e.g. `CapBnd`.
fn own_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .expect("field")
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn privileged_containers_get_every_capability_and_a_writable_sys() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("privileged", &e.data))
            .await
            .expect("sandbox");
    let script = "grep CapEff /proc/self/status | cut -f2; grep ' /sys ' /proc/mounts";
    let mut c = ctr("priv", script);
    c.security.privileged = true;
    let id = run(&e.rt, &sb, c).await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    assert_eq!(s.exit_code, Some(0), "{out}");
    let mut lines = out.lines();
    // Every capability the host's bounding set allows.
    assert_eq!(lines.next(), Some(own_status("CapBnd").as_str()), "{out}");
    assert!(
        lines.next().is_some_and(|l| l.contains(" rw,")),
        "/sys is writable: {out}"
    );

    let id = run(&e.rt, &sb, ctr("plain", script)).await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    let mut lines = out.lines();
    // containerd's (and Docker's) default set.
    assert_eq!(lines.next(), Some("00000000a80425fb"), "{out}");
    assert!(lines.next().is_some_and(|l| l.contains(" ro,")), "{out}");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_default_seccomp_refuses_denied_syscalls_with_eperm() {
    let e = env().await;
    let sb =
        e.rt.run_pod_sandbox(pod("seccomp", &e.data))
            .await
            .expect("sandbox");
    // unshare(CLONE_NEWUSER) needs no capability, so only the profile stands in its way.
    let script =
        "grep '^Seccomp:' /proc/self/status | cut -f2; unshare -U true 2>&1 && echo unshared";
    // With and without allowPrivilegeEscalation: false (no_new_privs), which changes when
    // the filter is loaded.
    for no_new_privs in [false, true] {
        let mut confined = ctr(&format!("confined-{no_new_privs}"), script);
        confined.security.seccomp = Seccomp::RuntimeDefault;
        confined.security.no_new_privs = no_new_privs;
        let id = run(&e.rt, &sb, confined).await;
        let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
        let out = log_text(&s.log_path);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("2"), "a seccomp filter: {out}");
        assert!(
            lines.next().is_some_and(
                |l| l.starts_with("unshare: ") && l.ends_with("Operation not permitted")
            ),
            "EPERM: {out}"
        );
        assert_ne!(s.exit_code, Some(0));
    }

    let id = run(&e.rt, &sb, ctr("unconfined", script)).await;
    let s = wait_exit(&e.rt, &id, Duration::from_secs(10)).await;
    let out = log_text(&s.log_path);
    assert_eq!(out, "0\nunshared", "{out}");
    e.rt.remove_pod_sandbox(&sb).await.expect("remove");
}
