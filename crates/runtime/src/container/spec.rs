//! The OCI runtime spec (`config.json`) for a container: what Kubernetes asks for, merged with
//! the image's configuration the way containerd's CRI plugin merges them, so that a bundle we
//! write runs the same under libcontainer and under runc.

use std::path::Path;

use serde_json::{json, Value};

use super::config::{ContainerConfig, Seccomp};
use super::user::User;
use crate::image::ImageConfig;

/// The PATH a container gets when neither the image nor the pod sets one (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Capabilities of an unprivileged container (containerd's and Docker's default set).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability this kernel generation knows, in number order (privileged and `ALL`).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Syscalls the RuntimeDefault profile refuses with EPERM: the ones Docker's default profile
/// leaves out because they reach across the container boundary (kernel modules, clocks,
/// keyrings, namespaces, mounts, tracing other processes, reboot).
const SECCOMP_DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// Refused as well unless the container holds CAP_SYS_ADMIN.
const SECCOMP_DENIED_WITHOUT_SYS_ADMIN: &[&str] = &[
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "setns",
    "unshare",
    "name_to_handle_at",
];

/// Where the sandbox keeps what every container of the pod shares.
#[derive(Debug, Clone)]
pub struct SandboxView<'a> {
    pub hostname: &'a str,
    /// `/proc/.../ns/net` or a pinned namespace file; `None` for hostNetwork.
    pub net_ns: Option<&'a Path>,
    pub ipc_ns: Option<&'a Path>,
    pub uts_ns: Option<&'a Path>,
    /// A shared PID namespace (shareProcessNamespace), if any.
    pub pid_ns: Option<&'a Path>,
    pub hosts_file: &'a Path,
    pub hostname_file: &'a Path,
    pub resolv_conf: &'a Path,
    /// The pod's shared `/dev/shm` to bind-mount; `None`: a tmpfs of the container's own.
    pub shm: Option<&'a Path>,
    /// Cgroup path of the pod (`/rkube/pod<uid>`).
    pub cgroup_parent: &'a str,
}

/// The process's argv: Kubernetes' command/args against the image's entrypoint/cmd.
///
/// `command` replaces the entrypoint and drops the image's cmd; `args` alone replace the cmd
/// and keep the entrypoint — the rule containerd applies and the Kubernetes docs state.
pub fn argv(cfg: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let (entry, cmd) = if !cfg.command.is_empty() {
        (cfg.command.clone(), cfg.args.clone())
    } else if !cfg.args.is_empty() {
        (image.entrypoint.clone(), cfg.args.clone())
    } else {
        (image.entrypoint.clone(), image.cmd.clone())
    };
    entry.into_iter().chain(cmd).collect()
}

/// The environment: the image's, overridden by the pod's, with PATH and HOSTNAME ensured.
pub fn env(cfg: &ContainerConfig, image: &ImageConfig, hostname: &str) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| match out.iter_mut().find(|(n, _)| n == k) {
        Some(e) => e.1 = v.to_string(),
        None => out.push((k.to_string(), v.to_string())),
    };
    if !image.env.iter().any(|e| e.starts_with("PATH=")) {
        set("PATH", DEFAULT_PATH);
    }
    set("HOSTNAME", hostname);
    for e in &image.env {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        set(k, v);
    }
    if cfg.tty {
        // As containerd does for TTY containers; the pod's env may still override it.
        set("TERM", "xterm");
    }
    for (k, v) in &cfg.env {
        set(k, v);
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Normalises a Kubernetes capability name (`NET_ADMIN`, `cap_net_admin`) to `CAP_NET_ADMIN`.
fn cap_name(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Every capability this process may pass on (its bounding set), as containerd's
/// `WithAllCurrentCapabilities` takes them for privileged containers: asking for one the
/// host withholds makes the container's start fail.
fn all_capabilities() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The capability set after the pod's add/drop lists (drop wins over the defaults, add over
/// drop — as containerd applies them: drop first, then add).
pub fn capabilities(cfg: &ContainerConfig) -> Vec<String> {
    let sec = &cfg.security;
    if sec.privileged {
        return all_capabilities();
    }
    let mut caps: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    for d in &sec.drop_capabilities {
        if d.eq_ignore_ascii_case("ALL") {
            caps.clear();
        } else {
            let n = cap_name(d);
            caps.retain(|c| *c != n);
        }
    }
    for a in &sec.add_capabilities {
        if a.eq_ignore_ascii_case("ALL") {
            return all_capabilities();
        }
        let n = cap_name(a);
        if !caps.contains(&n) {
            caps.push(n);
        }
    }
    caps
}

fn seccomp_profile(caps: &[String]) -> Value {
    let sys_admin = caps.iter().any(|c| c == "CAP_SYS_ADMIN");
    let mut names: Vec<&str> = SECCOMP_DENIED.to_vec();
    if !sys_admin {
        names.extend_from_slice(SECCOMP_DENIED_WITHOUT_SYS_ADMIN);
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    })
}

fn bind(dest: &str, source: &Path, readonly: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    options.push(if readonly { "ro" } else { "rw" });
    json!({"destination": dest, "type": "bind", "source": source, "options": options})
}

/// The whole `config.json`.
pub fn build(
    id: &str,
    cfg: &ContainerConfig,
    image: &ImageConfig,
    rootfs: &Path,
    user: &User,
    sandbox: &SandboxView<'_>,
) -> Value {
    let privileged = cfg.security.privileged;
    let caps = capabilities(cfg);
    let cwd = cfg
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| Some(image.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_string());

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        match sandbox.shm {
            Some(shm) => json!({"destination": "/dev/shm", "type": "bind", "source": shm,
                                "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev", "rw"]}),
            None => json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        },
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    let user_targets: Vec<&str> = cfg
        .mounts
        .iter()
        .map(|m| m.container_path.as_str())
        .collect();
    for (dest, src) in [
        ("/etc/hosts", sandbox.hosts_file),
        ("/etc/hostname", sandbox.hostname_file),
        ("/etc/resolv.conf", sandbox.resolv_conf),
    ] {
        if !user_targets.contains(&dest) {
            mounts.push(bind(dest, src, cfg.security.read_only_rootfs));
        }
    }
    for m in &cfg.mounts {
        mounts.push(bind(&m.container_path, &m.host_path, m.readonly));
    }

    let mut namespaces = vec![json!({"type": "mount"})];
    match sandbox.pid_ns {
        Some(p) => namespaces.push(json!({"type": "pid", "path": p})),
        None => namespaces.push(json!({"type": "pid"})),
    }
    for (kind, path) in [
        ("network", sandbox.net_ns),
        ("ipc", sandbox.ipc_ns),
        ("uts", sandbox.uts_ns),
    ] {
        if let Some(p) = path {
            namespaces.push(json!({"type": kind, "path": p}));
        }
    }

    let r = &cfg.resources;
    let mut resources = json!({
        "devices": if privileged {
            json!([{"allow": true, "access": "rwm"}])
        } else {
            json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            ])
        },
    });
    let mut cpu = serde_json::Map::new();
    if let Some(s) = r.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(q) = r.cpu_quota {
        cpu.insert("quota".into(), json!(q));
        cpu.insert("period".into(), json!(r.cpu_period.unwrap_or(100_000)));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(m) = r.memory_limit_bytes {
        // swap = limit: no swap beyond the limit, as the kubelet configures it.
        resources["memory"] = json!({"limit": m, "swap": m});
    }
    if let Some(p) = r.pids_limit {
        resources["pids"] = json!({"limit": p});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("{}/{}", sandbox.cgroup_parent, id),
        "resources": resources,
    });
    if !privileged {
        linux["maskedPaths"] = json!([
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ]);
        linux["readonlyPaths"] = json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ]);
        if cfg.security.seccomp == Seccomp::RuntimeDefault {
            linux["seccomp"] = seccomp_profile(&caps);
        }
    }

    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": cfg.tty,
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                "additionalGids": user.additional_gids,
            },
            "args": argv(cfg, image),
            "env": env(cfg, image, sandbox.hostname),
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "oomScoreAdj": 1000,
        },
        "root": {"path": rootfs, "readonly": cfg.security.read_only_rootfs},
        "mounts": mounts,
        "linux": linux,
        "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": cfg.name,
        },
    });
    if cfg.security.no_new_privs {
        // Only when set: libcontainer takes any `noNewPrivileges` (even false) to mean it
        // may load the seccomp filter after dropping capabilities, which then fails.
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entry: &[&str], cmd: &[&str]) -> ImageConfig {
        ImageConfig {
            entrypoint: entry.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into(), "A=image".into()],
            ..Default::default()
        }
    }

    fn cfg(command: &[&str], args: &[&str]) -> ContainerConfig {
        ContainerConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn argv_follows_the_kubernetes_table() {
        let img = image(&["/ep"], &["c1", "c2"]);
        assert_eq!(argv(&cfg(&[], &[]), &img), ["/ep", "c1", "c2"]);
        assert_eq!(argv(&cfg(&["/cmd"], &[]), &img), ["/cmd"]);
        assert_eq!(argv(&cfg(&[], &["a"]), &img), ["/ep", "a"]);
        assert_eq!(argv(&cfg(&["/cmd"], &["a"]), &img), ["/cmd", "a"]);
        assert_eq!(argv(&cfg(&[], &[]), &image(&[], &["sh"])), ["sh"]);
    }

    #[test]
    fn pod_env_overrides_image_env_in_place() {
        let mut c = cfg(&[], &[]);
        c.env = vec![("A".into(), "pod".into()), ("B".into(), "b".into())];
        let e = env(&c, &image(&[], &[]), "web");
        assert_eq!(e, ["HOSTNAME=web", "PATH=/bin", "A=pod", "B=b"]);
        let e = env(&cfg(&[], &[]), &ImageConfig::default(), "h");
        assert_eq!(e[0], format!("PATH={DEFAULT_PATH}"));
    }

    #[test]
    fn capabilities_drop_then_add() {
        let mut c = cfg(&[], &[]);
        c.security.drop_capabilities = vec!["ALL".into()];
        c.security.add_capabilities = vec!["net_bind_service".into()];
        assert_eq!(capabilities(&c), ["CAP_NET_BIND_SERVICE"]);
        c.security.privileged = true;
        assert_eq!(capabilities(&c), all_capabilities());
        assert!(!all_capabilities().is_empty());
        let d = capabilities(&cfg(&[], &[]));
        assert!(d.contains(&"CAP_CHOWN".to_string()) && !d.contains(&"CAP_SYS_ADMIN".into()));
    }

    #[test]
    fn seccomp_keeps_mount_for_sys_admin() {
        let p = seccomp_profile(&["CAP_SYS_ADMIN".into()]);
        let names = p["syscalls"][0]["names"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!names.contains(&json!("mount")));
        assert!(names.contains(&json!("kexec_load")));
        let p = seccomp_profile(&[]);
        assert!(p["syscalls"][0]["names"]
            .as_array()
            .is_some_and(|n| n.contains(&json!("mount"))));
    }

    #[test]
    fn cpu_conversions_match_the_kubelet() {
        assert_eq!(Resources::shares_from_millis(100), 102);
        assert_eq!(Resources::shares_from_millis(0), 2);
        assert_eq!(Resources::quota_from_millis(500), (50_000, 100_000));
        assert_eq!(Resources::quota_from_millis(1), (1000, 100_000));
    }

    use super::super::config::Resources;
}
