//! `rkube kubectl` against real kubectl 1.32 for the read-only/info commands:
//! api-resources, cluster-info, version, and the kubeconfig commands (`config …`), the
//! latter on two identical copies of the same kubeconfig files.

use std::path::Path;
use std::process::Command;

use rkube_e2e::golden::{assert_exact, assert_same};
use rkube_e2e::{rkube_bin, Cluster, KUBECTL_1_32};

#[test]
fn api_resources_and_cluster_info_match_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    for args in [
        &["api-resources"][..],
        &["api-resources", "-o", "wide"],
        &["api-resources", "-o", "name"],
        &["api-resources", "--namespaced=false"],
        &["api-resources", "--namespaced=false", "--api-group=apps"],
        &[
            "api-resources",
            "--api-group=apps",
            "--verbs=list,watch",
            "-o",
            "wide",
        ],
        &["api-resources", "--api-group="],
        &["api-resources", "--sort-by=kind"],
        &["api-resources", "--sort-by=name", "--no-headers"],
        &["api-resources", "--categories=all"],
        &["api-resources", "-o", "json"],
        &["api-resources", "--sort-by=size"],
        &["api-resources", "extra"],
        &["cluster-info"],
        &["cluster-info", "-n", "default"],
    ] {
        assert_exact(&c, args);
    }
}

#[test]
fn version_reports_the_server_as_kubectl_does() {
    let c = Cluster::start(&["--disable-agent"]);
    let (k, r) = c.both(&["version"]);
    assert_eq!((k.code, r.code), (0, 0), "{k:?}\n{r:?}");
    let server = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("Server Version: "))
            .map(String::from)
    };
    assert!(server(&k.stdout).is_some());
    assert_eq!(server(&k.stdout), server(&r.stdout));
    assert!(r.stdout.starts_with("Client Version: v1."), "{}", r.stdout);
    // kubectl's kustomize line is the only other difference.
    assert_eq!(k.stdout.lines().count(), r.stdout.lines().count() + 1);
    for format in ["json", "yaml"] {
        let (k, r) = c.both(&["version", "-o", format]);
        assert_eq!((k.code, r.code), (0, 0));
        let server_part = |s: &str| {
            let at = s.find("serverVersion").unwrap_or(s.len());
            s[at..].to_string()
        };
        assert_eq!(server_part(&k.stdout), server_part(&r.stdout), "{format}");
        assert!(r.stdout.contains("clientVersion"));
    }
    let (k, r) = c.both(&["version", "--client", "-o", "json"]);
    assert_eq!((k.code, r.code), (0, 0));
    assert!(!r.stdout.contains("serverVersion") && !k.stdout.contains("serverVersion"));
    for args in [&["version", "-o", "xml"][..], &["version", "extra"]] {
        assert_same(&c, args);
    }
}

const KC_A: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: zeta
  cluster:
    server: https://z.example:6443
    certificate-authority-data: QUJD
- name: alpha
  cluster:
    server: https://a.example
    certificate-authority: ca.crt
    insecure-skip-tls-verify: true
contexts:
- name: ctx-z
  context: {cluster: zeta, user: u1, namespace: prod}
- name: ctx-a
  context: {cluster: alpha, user: u2}
current-context: ctx-z
users:
- name: u1
  user:
    token: secret-token
    client-certificate-data: QUJD
    client-key-data: QUJD
- name: u2
  user:
    username: bob
    password: pw
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: get-token
"#;

const KC_B: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: beta
  cluster: {server: "http://b.example:8080"}
contexts:
- name: ctx-b
  context: {cluster: beta, user: u3}
- name: ctx-a
  context: {cluster: beta, user: u3}
current-context: ctx-b
users:
- name: u3
  user: {client-certificate: c.crt, client-key: k.key}
"#;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `program ARGS` with KUBECONFIG set to the files `names` in `dir`.
fn run(program: &Path, rkube: bool, dir: &Path, names: &[&str], args: &[&str]) -> Out {
    let kubeconfig =
        std::env::join_paths(names.iter().map(|n| dir.join(n))).expect("KUBECONFIG list");
    let mut cmd = Command::new(program);
    if rkube {
        cmd.arg("kubectl");
    }
    let o = cmd
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", dir)
        .current_dir(dir)
        .output()
        .expect("run");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Two directories with the same kubeconfig files, one per client.
fn setup(files: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir) {
    let k = tempfile::tempdir().expect("tempdir");
    let r = tempfile::tempdir().expect("tempdir");
    for d in [k.path(), r.path()] {
        for (name, text) in files {
            std::fs::write(d.join(name), text).expect("write kubeconfig");
        }
    }
    (k, r)
}

#[track_caller]
fn same(k: &Path, r: &Path, names: &[&str], args: &[&str]) {
    let a = run(Path::new(KUBECTL_1_32), false, k, names, args);
    let mut b = run(&rkube_bin(), true, r, names, args);
    // Messages name files in each client's own directory.
    let (kd, rd) = (k.display().to_string(), r.display().to_string());
    b.stdout = b.stdout.replace(&rd, &kd);
    b.stderr = b.stderr.replace(&rd, &kd);
    let show = format!(
        "{args:?}\n--- kubectl ({}):\n{}{}\n--- rkube ({}):\n{}{}",
        a.code, a.stdout, a.stderr, b.code, b.stdout, b.stderr
    );
    assert_eq!(a.code, b.code, "exit codes differ: {show}");
    assert_eq!(a.stdout, b.stdout, "stdout differs: {show}");
    assert_eq!(a.stderr, b.stderr, "stderr differs: {show}");
}

#[track_caller]
fn same_files(k: &Path, r: &Path, names: &[&str]) {
    for n in names {
        let a = std::fs::read_to_string(k.join(n)).unwrap_or_default();
        let b = std::fs::read_to_string(r.join(n)).unwrap_or_default();
        assert_eq!(a, b, "{n} differs after the same commands");
    }
}

#[test]
fn config_reads_match_kubectl() {
    let (k, r) = setup(&[("a.yaml", KC_A), ("b.yaml", KC_B), ("ca.crt", "CA\n")]);
    let (k, r) = (k.path(), r.path());
    let both = ["a.yaml", "b.yaml"];
    for args in [
        &["config", "view"][..],
        &["config", "view", "--raw"],
        &["config", "view", "--minify"],
        &["config", "view", "--minify", "--raw", "--context=ctx-a"],
        &["config", "view", "--minify", "--context=nosuch"],
        &["config", "view", "-o", "json"],
        &["config", "view", "--flatten", "--minify", "--context=ctx-a"],
        &["config", "view", "--flatten"],
        &["config", "view", "--merge=false"],
        &["config", "view", "-o", "jsonpath={.users[*].name}"],
        &["config", "get-contexts"],
        &["config", "get-contexts", "ctx-a"],
        &["config", "get-contexts", "nosuch", "ctx-b"],
        &["config", "get-contexts", "-o", "name"],
        &["config", "get-contexts", "--no-headers"],
        &["config", "get-contexts", "-o", "json"],
        &["config", "get-users"],
        &["config", "current-context"],
        &["config", "use-context", "nosuch"],
        &["config", "set-context"],
        &["config", "set-context", "x", "--current"],
    ] {
        same(k, r, &both, args);
    }
    // One file, explicitly chosen, and a missing one.
    same(
        k,
        r,
        &both,
        &[
            "config",
            "view",
            "--merge=false",
            "--kubeconfig=b.yaml",
            "--raw",
        ],
    );
    // kubectl lists clusters in Go map order, so only a single cluster compares reliably.
    same(k, r, &["b.yaml"], &["config", "get-clusters"]);
    same(k, r, &["none.yaml"], &["config", "view"]);
    same(k, r, &["none.yaml"], &["config", "current-context"]);
}

#[test]
fn config_writes_match_kubectl() {
    let (k, r) = setup(&[("a.yaml", KC_A), ("b.yaml", KC_B)]);
    let (k, r) = (k.path(), r.path());
    let both = ["a.yaml", "b.yaml"];
    for args in [
        &["config", "use-context", "ctx-b"][..],
        &["config", "set-context", "ctx-a", "--namespace=dev"],
        &["config", "set-context", "--current", "--user=u9"],
        &["config", "set-context", "newc", "--cluster=c1"],
        &["config", "set-context", "ctx-z", "--namespace="],
        &["config", "use-context", "ctx-z"],
        &["config", "use", "ctx-z"],
        &["config", "current-context"],
    ] {
        same(k, r, &both, args);
        same_files(k, r, &both);
    }
    // A context created when no listed file exists goes to a new last file.
    same(
        k,
        r,
        &["new1.yaml", "new2.yaml"],
        &["config", "set-context", "fresh", "--namespace=x"],
    );
    same_files(k, r, &["new1.yaml", "new2.yaml"]);
    same(k, r, &["new2.yaml"], &["config", "use-context", "fresh"]);
    same_files(k, r, &["new2.yaml"]);
    // --kubeconfig: only that file, created when missing.
    for args in [
        &["config", "use-context", "ctx-a", "--kubeconfig=a.yaml"][..],
        &[
            "config",
            "set-context",
            "--current",
            "--namespace=zz",
            "--kubeconfig=a.yaml",
        ],
        &["config", "set-context", "x", "--kubeconfig=explicit.yaml"],
        &["config", "view", "--kubeconfig=missing.yaml"],
    ] {
        same(k, r, &both, args);
        same_files(k, r, &["a.yaml", "b.yaml", "explicit.yaml"]);
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = |d: &Path| {
        std::fs::metadata(d.join("explicit.yaml"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    assert_eq!(mode(k), mode(r), "a new kubeconfig file's mode");
}

#[test]
fn explain_matches_kubectl() {
    let c = Cluster::start(&["--disable-agent"]);
    for args in [
        &["explain", "pods"][..],
        &["explain", "deploy.spec.template"],
        &["explain", "pods.spec.containers.ports"],
        &["explain", "svc.spec.type"],
        &["explain", "pods.metadata.labels"],
        &["explain", "deployments.spec.strategy"],
        &["explain", "cm.data"],
        &["explain", "hpa.spec.metrics"],
        &["explain", "crd.spec.versions.schema"],
        &["explain", "ns"],
        &["explain", "pods", "--recursive"],
        &["explain", "deploy.spec", "--recursive"],
        &["explain", "pods", "--api-version=v1"],
        &["explain", "pods.spec.nosuch"],
        &["explain", "nosuch"],
        &["explain"],
        &["explain", "a", "b"],
    ] {
        assert_exact(&c, args);
    }
}
