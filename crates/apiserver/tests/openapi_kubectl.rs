//! Drives real kubectl binaries against a tiny plain-HTTP server that serves
//! discovery plus these OpenAPI documents. Skipped when kubectl is absent.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use rkube_apiserver::openapi::{builtin_resources, OpenApi, ResourceType};
use serde_json::{json, Value};

const KUBECTLS: &[&str] = &[
    "/usr/bin/kubectl",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
];

struct Request {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(body);
}

fn json_reply(stream: &mut TcpStream, status: u16, v: &Value) {
    let body = serde_json::to_vec(v).unwrap_or_default();
    respond(
        stream,
        status,
        &[("Content-Type", "application/json".to_owned())],
        &body,
    );
}

/// Legacy (non-aggregated) discovery documents for the resource set.
struct Discovery {
    groups: BTreeMap<String, Vec<String>>,
    lists: BTreeMap<String, Value>,
}

fn singular(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

fn discovery(resources: &[ResourceType]) -> Discovery {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for rt in resources {
        groups
            .entry(rt.group.clone())
            .or_default()
            .insert(rt.version.clone());
        let path = if rt.group.is_empty() {
            format!("/api/{}", rt.version)
        } else {
            format!("/apis/{}/{}", rt.group, rt.version)
        };
        let mut r = json!({
            "name": rt.plural,
            "singularName": if rt.plural.contains('/') { String::new() } else { singular(&rt.kind) },
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs,
        });
        if rt.kind == "Deployment" {
            r["shortNames"] = json!(["deploy"]);
            r["categories"] = json!(["all"]);
        }
        lists.entry(path).or_default().push(r);
    }
    Discovery {
        groups: groups
            .into_iter()
            .map(|(g, v)| (g, v.into_iter().collect()))
            .collect(),
        lists: lists
            .into_iter()
            .map(|(path, resources)| {
                let gv = path
                    .trim_start_matches("/apis/")
                    .trim_start_matches("/api/")
                    .to_owned();
                (
                    path,
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
                )
            })
            .collect(),
    }
}

#[derive(Default)]
struct Log {
    /// (method, target, accept)
    requests: Vec<(String, String, String)>,
    /// (target, content-type, body) of PATCH requests.
    patches: Vec<(String, String, String)>,
    /// Object URL → stored object, so apply can read back what it created.
    objects: BTreeMap<String, Value>,
}

fn serve(mut stream: TcpStream, api: &OpenApi, disco: &Discovery, port: u16, log: &Mutex<Log>) {
    let Some(req) = read_request(&mut stream) else {
        return;
    };
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (req.target.clone(), None),
    };
    if let Ok(mut l) = log.lock() {
        l.requests.push((
            req.method.clone(),
            req.target.clone(),
            req.headers.get("accept").cloned().unwrap_or_default(),
        ));
    }
    if let Some(reply) = api.handle(
        &path,
        query.as_deref(),
        req.headers.get("accept").map(String::as_str),
        req.headers.get("if-none-match").map(String::as_str),
    ) {
        respond(&mut stream, reply.status, &reply.headers, reply.body);
        return;
    }
    match (req.method.as_str(), path.as_str()) {
        ("GET", "/version") => json_reply(
            &mut stream,
            200,
            &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}),
        ),
        ("GET", "/api") => json_reply(
            &mut stream,
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{port}")}]}),
        ),
        ("GET", "/apis") => {
            let groups: Vec<Value> = disco
                .groups
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, versions)| {
                    let vs: Vec<Value> = versions
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                        .collect();
                    json!({"name": g, "versions": vs, "preferredVersion": vs.last()})
                })
                .collect();
            json_reply(
                &mut stream,
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            );
        }
        ("GET", p) if disco.lists.contains_key(p) => json_reply(&mut stream, 200, &disco.lists[p]),
        ("POST", collection) => {
            // Store and echo the object back as created.
            let obj: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            if let Ok(mut l) = log.lock() {
                l.objects
                    .insert(format!("{collection}/{name}"), obj.clone());
            }
            json_reply(&mut stream, 201, &obj);
        }
        ("PATCH", object) => {
            let stored = log.lock().ok().and_then(|mut l| {
                l.patches.push((
                    req.target.clone(),
                    req.headers.get("content-type").cloned().unwrap_or_default(),
                    String::from_utf8_lossy(&req.body).into_owned(),
                ));
                l.objects.get(object).cloned()
            });
            json_reply(&mut stream, 200, &stored.unwrap_or(Value::Null));
        }
        ("GET", object) if log.lock().is_ok_and(|l| l.objects.contains_key(object)) => {
            let stored = log.lock().ok().and_then(|l| l.objects.get(object).cloned());
            json_reply(&mut stream, 200, &stored.unwrap_or(Value::Null));
        }
        _ => json_reply(
            &mut stream,
            404,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404}),
        ),
    }
}

struct Server {
    port: u16,
    log: Arc<Mutex<Log>>,
}

fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let resources = builtin_resources();
    let api = Arc::new(OpenApi::new(&resources));
    let disco = Arc::new(discovery(&resources));
    let log = Arc::new(Mutex::new(Log::default()));
    let log2 = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let api = Arc::clone(&api);
            let disco = Arc::clone(&disco);
            let log = Arc::clone(&log2);
            std::thread::spawn(move || serve(stream, &api, &disco, port, &log));
        }
    });
    Server { port, log }
}

fn kubectl(bin: &str, server: &Server, dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .arg(format!("--server=http://127.0.0.1:{}", server.port))
        .arg(format!("--cache-dir={}", dir.join("cache").display()))
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("HOME", dir)
        .output()
        .expect("run kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("openapi-kubectl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tempdir");
    std::fs::write(dir.join("kubeconfig"), "apiVersion: v1\nkind: Config\n").expect("kubeconfig");
    dir
}

fn available() -> Vec<&'static str> {
    KUBECTLS
        .iter()
        .copied()
        .filter(|b| Path::new(b).exists())
        .collect()
}

#[test]
fn kubectl_explain() {
    let bins = available();
    if bins.is_empty() {
        eprintln!("no kubectl found; skipping");
        return;
    }
    let server = start();
    for bin in bins {
        let dir = tempdir(&bin.replace('/', "_"));
        let (ok, out) = kubectl(bin, &server, &dir, &["explain", "deployment.spec.strategy"]);
        println!("--- {bin} explain deployment.spec.strategy\n{out}");
        assert!(ok, "{bin}: {out}");
        assert!(
            out.contains("KIND:       Deployment") || out.contains("KIND:     Deployment"),
            "{out}"
        );
        assert!(
            out.contains("strategy <DeploymentStrategy>") || out.contains("RESOURCE: strategy"),
            "{out}"
        );
        assert!(
            out.contains("The deployment strategy to use to replace existing pods with new ones."),
            "{out}"
        );
        assert!(
            out.contains("DeploymentStrategy describes how to replace existing pods"),
            "{out}"
        );
        assert!(
            out.contains("rollingUpdate\t<RollingUpdateDeployment>"),
            "{out}"
        );
        assert!(out.contains("type\t<string>"), "{out}");

        // The v2 (protobuf) path kubectl 1.20 used, still selectable.
        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &[
                "explain",
                "deployment.spec.strategy",
                "--output=plaintext-openapiv2",
            ],
        );
        println!("--- {bin} explain --output=plaintext-openapiv2\n{out}");
        assert!(ok, "{bin}: {out}");
        assert!(out.contains("RESOURCE: strategy <Object>"), "{out}");
        assert!(out.contains("rollingUpdate\t<Object>"), "{out}");

        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &["explain", "pods.spec.containers.ports"],
        );
        assert!(ok, "{bin}: {out}");
        assert!(out.contains("containerPort\t<integer> -required-"), "{out}");

        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &[
                "explain",
                "horizontalpodautoscalers.spec",
                "--api-version=autoscaling/v2",
            ],
        );
        assert!(ok, "{bin}: {out}");
        assert!(out.contains("VERSION:    v2"), "{out}");
    }
    let requests = server
        .log
        .lock()
        .map(|l| l.requests.clone())
        .unwrap_or_default();
    assert!(
        requests
            .iter()
            .any(|(_, t, a)| t.starts_with("/openapi/v2") && a.contains("protobuf")),
        "{requests:?}"
    );
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
        resources:
          limits: {cpu: 1, memory: 128Mi}
"#;

/// Wraps one YAML object as the only item of a `v1 List`.
fn as_list(doc: &str) -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for (i, line) in doc.lines().enumerate() {
        out.push_str(if i == 0 { "  - " } else { "    " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn kubectl_create_validation() {
    let bins = available();
    if bins.is_empty() {
        eprintln!("no kubectl found; skipping");
        return;
    }
    let server = start();
    for bin in bins {
        let dir = tempdir(&format!("create{}", bin.replace('/', "_")));
        // Server-side validation: kubectl finds fieldValidation on PATCH in
        // the v3 document and sends fieldValidation=Strict.
        std::fs::write(dir.join("deploy.yaml"), DEPLOYMENT).expect("write");
        let file = dir.join("deploy.yaml");
        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &["create", "--validate=strict", "-f", &file.to_string_lossy()],
        );
        assert!(ok, "{bin}: {out}");
        let posted = server
            .log
            .lock()
            .map(|l| {
                l.requests.iter().any(|(m, t, _)| {
                    m == "POST"
                        && t.contains("/deployments?")
                        && t.contains("fieldValidation=Strict")
                })
            })
            .unwrap_or(false);
        assert!(posted, "{bin} did not send fieldValidation=Strict");

        // Client-side schema validation (what kubectl 1.20 always did): a
        // v1 List is never server-validated, so kubectl checks it against
        // the v2 protobuf schema itself.
        let bad = as_list(&DEPLOYMENT.replace(
            "        image: nginx\n",
            "        image: nginx\n        bogusField: 1\n",
        ));
        std::fs::write(dir.join("bad.yaml"), &bad).expect("write");
        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &[
                "create",
                "--validate=strict",
                "-f",
                &dir.join("bad.yaml").to_string_lossy(),
            ],
        );
        println!("--- {bin} create bad List\n{out}");
        assert!(!ok, "{bin} accepted an unknown field: {out}");
        assert!(out.contains("bogusField"), "{out}");

        let good = as_list(DEPLOYMENT);
        std::fs::write(dir.join("good.yaml"), &good).expect("write");
        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &[
                "create",
                "--validate=strict",
                "-f",
                &dir.join("good.yaml").to_string_lossy(),
            ],
        );
        println!("--- {bin} create good List\n{out}");
        assert!(ok, "{bin}: {out}");
    }
}

#[test]
fn kubectl_apply_uses_patch_metadata() {
    let bins = available();
    if bins.is_empty() {
        eprintln!("no kubectl found; skipping");
        return;
    }
    for bin in bins {
        let server = start();
        let dir = tempdir(&format!("apply{}", bin.replace('/', "_")));
        let file = dir.join("deploy.yaml");
        std::fs::write(&file, DEPLOYMENT).expect("write");
        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &["apply", "-f", &file.to_string_lossy()],
        );
        assert!(ok, "{bin}: {out}");
        std::fs::write(&file, DEPLOYMENT.replace("image: nginx", "image: nginx:2")).expect("write");
        let (ok, out) = kubectl(
            bin,
            &server,
            &dir,
            &["apply", "-f", &file.to_string_lossy()],
        );
        assert!(ok, "{bin}: {out}");
        // kubectl warns when it cannot compute the patch from OpenAPI.
        assert!(!out.contains("warning"), "{bin}: {out}");
        let patches = server
            .log
            .lock()
            .map(|l| l.patches.clone())
            .unwrap_or_default();
        println!("--- {bin} apply patch: {patches:?}");
        let (target, content_type, body) = patches.last().expect("a PATCH was sent");
        assert!(target.contains("fieldValidation=Strict"), "{target}");
        assert_eq!(content_type, "application/strategic-merge-patch+json");
        // The merge key from x-kubernetes-patch-merge-key (containers/name)
        // turns the list change into a keyed merge rather than a replace.
        let patch: Value = serde_json::from_str(body).expect("patch json");
        let spec = &patch["spec"]["template"]["spec"];
        assert_eq!(
            spec["$setElementOrder/containers"],
            json!([{"name": "web"}]),
            "{body}"
        );
        assert_eq!(
            spec["containers"],
            json!([{"image": "nginx:2", "name": "web"}]),
            "{body}"
        );
    }
}
