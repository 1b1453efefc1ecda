//! Bodies sent by real kubectl binaries.
//!
//! The oracle: `kubectl create ... --dry-run=client -o json` prints
//! `json.Marshal` of exactly the object that `--dry-run=server` sends as
//! protobuf. The decoded protobuf must equal that JSON.
//!
//! `live_kubectl` runs the binaries (when installed) against a tiny HTTP
//! responder and, with `PROTOBODY_RECORD=1`, stores each (body, JSON) pair in
//! `tests/data/protobuf/`. `recorded_kubectl_bodies` replays those files, so the check
//! also runs where kubectl is absent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KUBECTLS: [(&str, &str); 2] = [
    ("1.32", "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"),
    ("1.33", "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"),
];

/// (fixture name, kubectl arguments).
const COMMANDS: &[(&str, &[&str])] = &[
    (
        "secret",
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=a=b",
            "--from-literal=bin=\u{1}\u{2}",
        ],
    ),
    (
        "secret-tls-type",
        &[
            "create",
            "secret",
            "docker-registry",
            "reg",
            "--docker-server=r.example.com",
            "--docker-username=u",
            "--docker-password=p",
        ],
    ),
    ("namespace", &["create", "namespace", "team-a"]),
    (
        "deployment",
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=0",
            "--port=80",
        ],
    ),
    (
        "deployment-multi",
        &[
            "create",
            "deployment",
            "multi",
            "--image=nginx",
            "--image=redis",
        ],
    ),
    (
        "configmap",
        &["create", "configmap", "cm", "--from-literal=k=v"],
    ),
    (
        "service",
        &[
            "create",
            "service",
            "clusterip",
            "svc",
            "--tcp=80:8080",
            "--tcp=443:https",
        ],
    ),
    (
        "service-nodeport",
        &[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:8080",
            "--node-port=30080",
        ],
    ),
    (
        "job",
        &["create", "job", "j", "--image=busybox", "--", "echo", "hi"],
    ),
    (
        "cronjob",
        &[
            "create",
            "cronjob",
            "cj",
            "--image=busybox",
            "--schedule=*/5 * * * *",
            "--restart=OnFailure",
        ],
    ),
    (
        "role",
        &[
            "create",
            "role",
            "r",
            "--verb=get",
            "--verb=list",
            "--resource=pods",
            "--resource=deployments.apps",
        ],
    ),
    (
        "clusterrole",
        &[
            "create",
            "clusterrole",
            "cr",
            "--verb=get",
            "--non-resource-url=/logs/*",
        ],
    ),
    (
        "rolebinding",
        &[
            "create",
            "rolebinding",
            "rb",
            "--role=r",
            "--user=bob",
            "--serviceaccount=default:sa",
        ],
    ),
    (
        "clusterrolebinding",
        &[
            "create",
            "clusterrolebinding",
            "crb",
            "--clusterrole=view",
            "--group=devs",
        ],
    ),
    (
        "quota",
        &[
            "create",
            "quota",
            "q",
            "--hard=cpu=1,memory=1Gi,pods=2",
            "--scopes=BestEffort",
        ],
    ),
    (
        "pdb",
        &[
            "create",
            "poddisruptionbudget",
            "pdb",
            "--selector=app=web",
            "--min-available=50%",
        ],
    ),
    (
        "pdb-int",
        &[
            "create",
            "poddisruptionbudget",
            "pdb2",
            "--selector=app=web",
            "--max-unavailable=1",
        ],
    ),
    (
        "priorityclass",
        &[
            "create",
            "priorityclass",
            "pc",
            "--value=1000",
            "--global-default=false",
            "--preemption-policy=Never",
            "--description=d",
        ],
    ),
    (
        "ingress",
        &[
            "create",
            "ingress",
            "ing",
            "--class=nginx",
            "--rule=foo.com/bar*=svc:80,tls=cert",
            "--default-backend=def:http",
        ],
    ),
    ("serviceaccount", &["create", "serviceaccount", "sa"]),
];

/// Minimal legacy discovery so commands that consult the RESTMapper (role,
/// job, ...) get far enough to send their POST.
fn discovery(path: &str) -> Option<Value> {
    let resources = |gv: &str, list: &[(&str, &str, bool)]| {
        let items: Vec<Value> = list
            .iter()
            .map(|(name, kind, namespaced)| {
                json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
                       "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
            })
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items})
    };
    let groups = [
        ("apps", &[("deployments", "Deployment", true)][..]),
        (
            "batch",
            &[("jobs", "Job", true), ("cronjobs", "CronJob", true)][..],
        ),
        (
            "rbac.authorization.k8s.io",
            &[
                ("roles", "Role", true),
                ("rolebindings", "RoleBinding", true),
                ("clusterroles", "ClusterRole", false),
                ("clusterrolebindings", "ClusterRoleBinding", false),
            ][..],
        ),
        (
            "policy",
            &[("poddisruptionbudgets", "PodDisruptionBudget", true)][..],
        ),
        (
            "scheduling.k8s.io",
            &[("priorityclasses", "PriorityClass", false)][..],
        ),
        ("networking.k8s.io", &[("ingresses", "Ingress", true)][..]),
    ];
    match path {
        "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        "/api/v1" => Some(resources(
            "v1",
            &[
                ("pods", "Pod", true),
                ("secrets", "Secret", true),
                ("configmaps", "ConfigMap", true),
                ("namespaces", "Namespace", false),
                ("services", "Service", true),
                ("serviceaccounts", "ServiceAccount", true),
                ("resourcequotas", "ResourceQuota", true),
            ],
        )),
        "/apis" => Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups":
            groups.iter().map(|(g, _)| json!({"name": g,
                "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}],
                "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"}})).collect::<Vec<_>>()})),
        _ => groups.iter().find_map(|(g, list)| {
            (path == format!("/apis/{g}/v1")).then(|| resources(&format!("{g}/v1"), list))
        }),
    }
}

/// A captured request body.
#[derive(Clone)]
struct Captured {
    content_type: String,
    body: Vec<u8>,
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)
}

/// Serves one keep-alive connection: discovery GETs, and POSTs that are
/// recorded and answered with the decoded object (or a 400 Status).
fn serve(stream: TcpStream, seen: Arc<Mutex<Vec<Captured>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0usize;
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => content_length = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = v.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default().to_owned();
        if method == "POST" {
            seen.lock().unwrap().push(Captured {
                content_type: content_type.clone(),
                body: body.clone(),
            });
            let reply = if content_type.starts_with(rkube_apiserver::protobuf::MEDIA_TYPE) {
                rkube_apiserver::protobuf::decode_body(&body).map(|v| v.to_string())
            } else {
                Ok(String::from_utf8_lossy(&body).into_owned())
            };
            match reply {
                Ok(json) => respond(&mut stream, "201 Created", json.as_bytes())?,
                Err(e) => {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": e.to_string(), "reason": "BadRequest", "code": 400});
                    respond(
                        &mut stream,
                        "400 Bad Request",
                        status.to_string().as_bytes(),
                    )?;
                }
            }
        } else if let Some(doc) = discovery(&path) {
            respond(&mut stream, "200 OK", doc.to_string().as_bytes())?;
        } else {
            respond(&mut stream, "404 Not Found", b"{}")?;
        }
    }
}

/// Runs kubectl with a private, empty configuration; returns (success, stdout, stderr).
fn kubectl(
    binary: &str,
    server: &str,
    home: &Path,
    args: &[&str],
    extra: &[&str],
) -> (bool, String, String) {
    // Flags must precede a `--` that starts the container command.
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let (before, after) = args.split_at(split);
    let mut child = Command::new(binary)
        .args(before)
        .args(extra)
        .args(["--server", server, "--request-timeout=20s"])
        .args(after)
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/protobuf")
}

#[test]
fn live_kubectl() {
    let available: Vec<_> = KUBECTLS
        .iter()
        .filter(|(_, p)| Path::new(p).exists())
        .collect();
    if available.is_empty() {
        eprintln!("no kubectl binaries installed; live test skipped");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Arc<Mutex<Vec<Captured>>> = Arc::default();
    let accept_seen = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let s = Arc::clone(&accept_seen);
            std::thread::spawn(move || serve(stream, s));
        }
    });
    let home = std::env::temp_dir().join(format!("protobody-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    let record = std::env::var_os("PROTOBODY_RECORD").is_some();
    let mut failures = Vec::new();
    for (version, binary) in available {
        for (name, args) in COMMANDS {
            let (ok, expected, stderr) = kubectl(
                binary,
                &server,
                &home,
                args,
                &["--dry-run=client", "-o", "json"],
            );
            assert!(ok, "{version} {name}: client dry run failed: {stderr}");
            let expected: Value = serde_json::from_str(&expected).expect("kubectl printed JSON");
            seen.lock().unwrap().clear();
            let (ok, stdout, stderr) = kubectl(binary, &server, &home, args, &["--dry-run=server"]);
            let captured = seen.lock().unwrap().clone();
            let Some(post) = captured.last() else {
                failures.push(format!("{version} {name}: no POST captured: {stderr}"));
                continue;
            };
            if !ok {
                failures.push(format!(
                    "{version} {name}: kubectl failed: {stdout}{stderr}"
                ));
            }
            if !post
                .content_type
                .starts_with(rkube_apiserver::protobuf::MEDIA_TYPE)
            {
                eprintln!("{version} {name}: sent {}, not protobuf", post.content_type);
                continue;
            }
            match rkube_apiserver::protobuf::decode_body(&post.body) {
                Ok(got) if got == expected => {}
                Ok(got) => failures.push(format!(
                    "{version} {name}: decoded\n{got:#}\nkubectl printed\n{expected:#}"
                )),
                Err(e) => failures.push(format!("{version} {name}: {e}")),
            }
            if record {
                let base = data_dir().join(format!("kubectl-{version}-{name}"));
                let file =
                    |ext: &str| base.with_file_name(format!("kubectl-{version}-{name}.{ext}"));
                std::fs::write(file("pb"), &post.body).expect("write body");
                std::fs::write(file("json"), format!("{expected:#}\n")).expect("write json");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `create token` has no client dry run to compare with; its body (an
/// authentication.k8s.io/v1 TokenRequest) is checked against the JSON Go
/// would write for it: non-omitempty fields of the empty status stay.
#[test]
fn live_kubectl_create_token() {
    let Some((_, binary)) = KUBECTLS.iter().rev().find(|(_, p)| Path::new(p).exists()) else {
        eprintln!("no kubectl binaries installed; live test skipped");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Arc<Mutex<Vec<Captured>>> = Arc::default();
    let accept_seen = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let s = Arc::clone(&accept_seen);
            std::thread::spawn(move || serve(stream, s));
        }
    });
    let home = std::env::temp_dir().join(format!("protobody-token-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    // The echoed TokenRequest carries no token, so kubectl itself reports failure.
    let _ = kubectl(
        binary,
        &server,
        &home,
        &["create", "token", "sa", "--duration=1h", "--audience=a"],
        &[],
    );
    let _ = std::fs::remove_dir_all(&home);
    let captured = seen.lock().unwrap().clone();
    let post = captured.last().expect("a POST");
    assert_eq!(post.content_type, rkube_apiserver::protobuf::MEDIA_TYPE);
    let got = rkube_apiserver::protobuf::decode_body(&post.body).expect("decode");
    assert_eq!(
        got,
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"audiences": ["a"], "expirationSeconds": 3600, "boundObjectRef": null},
            "status": {"token": "", "expirationTimestamp": null}
        })
    );
}

#[test]
fn recorded_kubectl_bodies() {
    let mut checked = 0;
    let entries = std::fs::read_dir(data_dir()).expect("tests/data/protobuf");
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("pb") {
            continue;
        }
        let body = std::fs::read(&path).expect("read body");
        let expected: Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).expect("read json"))
                .expect("json");
        let got = rkube_apiserver::protobuf::decode_body(&body)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, expected, "{}", path.display());
        // Every prefix must fail cleanly (or decode), never panic.
        for cut in 0..body.len() {
            let _ = rkube_apiserver::protobuf::decode_body(&body[..cut]);
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected recorded bodies in tests/data/protobuf, found {checked}"
    );
}
