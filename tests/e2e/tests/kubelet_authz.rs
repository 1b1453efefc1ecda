//! Only the API server (and cluster admins) may call a kubelet: a node's certificate gets 403
//! from :10250 directly, and the API server authorizes pod exec/attach/portforward before
//! proxying them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::Cluster;

const NODE: &str = "node-a";

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, name) {
                return Some(f);
            }
        } else if e.file_name() == name {
            return Some(p);
        }
    }
    None
}

fn openssl(args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A client certificate `CN=system:node:node-a, O=system:nodes` from the cluster CA.
fn node_cert(c: &Cluster) -> (String, String, String) {
    let ca = find(&c.data_dir(), "ca.crt").expect("ca.crt");
    let ca_key = ca.with_file_name("ca.key");
    let dir = c.dir.path();
    let key = dir.join("node.key").display().to_string();
    let csr = dir.join("node.csr").display().to_string();
    let crt = dir.join("node.crt").display().to_string();
    let ext = c.file("node.ext", "extendedKeyUsage=clientAuth\n");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        "/O=system:nodes/CN=system:node:node-a",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca.display().to_string(),
        "-CAkey",
        &ca_key.display().to_string(),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-out",
        &crt,
    ]);
    (ca.display().to_string(), crt, key)
}

#[test]
fn node_identity_is_refused_by_the_kubelet_and_for_pod_exec() {
    let c = Cluster::start(&["--node-name", NODE]);
    let archive = busybox_image(c.dir.path(), "busybox:e2e");
    c.import_image(&archive);
    c.wait_until(Duration::from_secs(30), "node registered", || {
        c.kubectl(&["get", "node", NODE]).code == 0
    });
    c.kubectl_stdin(
        rkube_e2e::KUBECTL_1_32,
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: target}
spec:
  nodeName: node-a
  containers:
  - {name: app, image: busybox:e2e, command: ["sleep", "3600"]}
"#,
    )
    .ok();
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/target",
        "--timeout=60s",
    ])
    .ok();
    let node_ip = c
        .kubectl(&[
            "get",
            "node",
            NODE,
            "-o",
            "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
        ])
        .ok()
        .stdout;
    let (ca, crt, key) = node_cert(&c);
    let curl = |cert: &str, key: &str, path: &str| {
        c.exec(&[
            "curl",
            "-s",
            "-k",
            "--max-time",
            "5",
            "--cert",
            cert,
            "--key",
            key,
            "-w",
            "\n%{http_code}",
            &format!("https://{node_ip}:10250{path}"),
        ])
        .stdout
    };
    assert_eq!(
        curl(&crt, &key, "/stats/summary"),
        "Forbidden (user=system:node:node-a, verb=get, resource=nodes, subresource=stats)\n403"
    );
    assert_eq!(
        curl(&crt, &key, "/containerLogs/default/target/app"),
        "Forbidden (user=system:node:node-a, verb=get, resource=nodes, subresource=proxy)\n403"
    );
    // The admin's certificate (system:masters) is served.
    let admin = find(&c.data_dir(), "admin.crt").expect("admin.crt");
    let admin_key = admin.with_file_name("admin.key");
    assert_eq!(
        curl(
            &admin.display().to_string(),
            &admin_key.display().to_string(),
            "/healthz"
        ),
        "ok\n200"
    );

    // Through the API server with the node's identity: exec is refused before any proxying.
    let kc = c.file(
        "node.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:6443\", certificate-authority: \"{ca}\"}}\nusers:\n- name: nodeuser\n  user: {{client-certificate: \"{crt}\", client-key: \"{key}\"}}\ncontexts:\n- name: nodectx\n  context: {{cluster: c, user: nodeuser}}\ncurrent-context: nodectx\n"
        ),
    );
    for kubectl in [rkube_e2e::KUBECTL_1_32, rkube_e2e::KUBECTL_1_27] {
        let r = c
            .command(kubectl)
            .env("KUBECONFIG", &kc)
            .args(["exec", "target", "--", "true"])
            .output()
            .expect("kubectl");
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{kubectl}: {err}");
        assert!(
            err.contains("Forbidden")
                || err.contains(
                    "pods \"target\" is forbidden: User \"system:node:node-a\" cannot create resource \"pods/exec\""
                ),
            "{kubectl}: {err}"
        );
    }
    // The admin still can.
    assert_eq!(
        c.kubectl(&["exec", "target", "--", "echo", "hi"])
            .ok()
            .stdout,
        "hi\n"
    );
}
