//! Bad input gets upstream's reason, code and message style, never a panic or a hang.

use rkube_e2e::{Cluster, KUBECTL_1_32};
use serde_json::Value;

/// `curl` with the admin client certificate; returns (HTTP code, body as JSON).
fn curl(
    c: &Cluster,
    method: &str,
    path: &str,
    content_type: &str,
    body_file: &str,
) -> (u16, Value) {
    let tls = c.dir.path().join("data/server/tls");
    let p = |f: &str| tls.join(f).display().to_string();
    let r = c.exec(&[
        "curl",
        "-s",
        "-o",
        "/dev/stdout",
        "-w",
        "\n%{http_code}",
        "--cacert",
        &p("ca.crt"),
        "--cert",
        &p("admin.crt"),
        "--key",
        &p("admin.key"),
        "-X",
        method,
        "-H",
        &format!("Content-Type: {content_type}"),
        "--data-binary",
        &format!("@{body_file}"),
        &format!("https://127.0.0.1:6443{path}"),
    ]);
    let (body, code) = r.stdout.rsplit_once('\n').expect("status line");
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn bad_bodies_get_kubernetes_errors() {
    let c = Cluster::start(&[]);
    let cms = "/api/v1/namespaces/default/configmaps";
    let garbage = c.file("garbage", "{\"metadata\": {\"name\": ");
    let (code, s) = curl(&c, "POST", cms, "application/json", &garbage);
    assert_eq!(
        (code, s["reason"].as_str()),
        (400, Some("BadRequest")),
        "{s}"
    );
    assert_eq!(s["kind"], "Status");
    let yaml = c.file("bad.yaml", "metadata: [unclosed\n");
    let (code, _) = curl(&c, "POST", cms, "application/yaml", &yaml);
    assert_eq!(code, 400);
    let pb = c.file("bad.pb", "k8s\u{0}\u{0a}\u{ff}\u{ff}garbage");
    let (code, s) = curl(&c, "POST", cms, "application/vnd.kubernetes.protobuf", &pb);
    assert_eq!(code, 400, "{s}");
    let other = c.file("other", "x");
    let (code, s) = curl(&c, "POST", cms, "text/plain", &other);
    assert_eq!(
        (code, s["reason"].as_str()),
        (415, Some("UnsupportedMediaType")),
        "{s}"
    );
    // A namespace in the body that differs from the URL's.
    let wrong_ns = c.file("wrong.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"kube-system"}}"#);
    let (code, s) = curl(&c, "POST", cms, "application/json", &wrong_ns);
    assert_eq!(code, 400);
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("does not match the namespace"),
        "{s}"
    );
    // A kind that is not the endpoint's.
    let wrong_kind = c.file(
        "kind.json",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#,
    );
    let (code, _) = curl(&c, "POST", cms, "application/json", &wrong_kind);
    assert_eq!(code, 400);
    // Unknown resources.
    let (code, s) = curl(
        &c,
        "GET",
        "/apis/example.com/v1/things",
        "application/json",
        &other,
    );
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")), "{s}");
    // Bodies over 3 MiB.
    let big = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"a\":\"{}\"}}}}",
        "x".repeat(4 * 1024 * 1024)
    );
    let big = c.file("big.json", &big);
    let (code, s) = curl(&c, "POST", cms, "application/json", &big);
    assert_eq!(
        (code, s["reason"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{s}"
    );
    // Invalid label values.
    let bad_label = c.file("label.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"l","labels":{"a":"not valid!"}}}"#);
    let (code, s) = curl(&c, "POST", cms, "application/json", &bad_label);
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")), "{s}");
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.labels");
    // Malformed patches.
    c.kubectl(&["create", "configmap", "p", "--from-literal=a=b"])
        .ok();
    let r = c.kubectl(&[
        "patch",
        "cm",
        "p",
        "--type=json",
        "-p",
        "{\"not\":\"a list\"}",
    ]);
    assert_ne!(r.code, 0);
    // Immutable fields.
    let d = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: im\nspec:\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: a}\n    spec:\n      containers: [{name: c, image: busybox}]\n";
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], d).ok();
    let r = c.kubectl(&["patch", "deploy", "im", "--type=merge", "-p", r#"{"spec":{"selector":{"matchLabels":{"app":"b"}},"template":{"metadata":{"labels":{"app":"b"}}}}}"#]);
    assert!(r.stderr.contains("field is immutable"), "{}", r.stderr);
    // dryRun=All stores nothing; deletecollection removes what matches.
    c.kubectl(&["create", "configmap", "dry", "--dry-run=server"])
        .ok();
    assert_ne!(c.kubectl(&["get", "cm", "dry"]).code, 0);
    c.kubectl(&[
        "delete",
        "--raw",
        "/api/v1/namespaces/default/configmaps?labelSelector=nothing%3Dmatches",
    ])
    .ok();
    c.kubectl(&["get", "cm", "p"]).ok();
    // A server dry-run delete (dryRun in the DeleteOptions body) deletes nothing.
    let r = c.kubectl(&["delete", "cm", "p", "--dry-run=server"]).ok();
    assert_eq!(r.stdout.trim(), "configmap \"p\" deleted (server dry run)");
    c.kubectl(&["get", "cm", "p"]).ok();
    // ConfigMap data holds strings only, as upstream's typed decoding insists.
    let r = c.kubectl_stdin(
        KUBECTL_1_32,
        &["create", "--validate=false", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typed}\ndata: {enabled: true}\n",
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal bool into Go struct field ConfigMap.data of type string"
    );
    // A Secret's stringData is merged into data (base64) and never stored itself.
    c.kubectl_stdin(
        KUBECTL_1_32,
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Secret\nmetadata: {name: sd}\ndata: {a: eA==, b: eA==}\nstringData: {b: hello, c: world}\n",
    )
    .ok();
    let s = c
        .kubectl(&["get", "secret", "sd", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        s["data"],
        serde_json::json!({"a": "eA==", "b": "aGVsbG8=", "c": "d29ybGQ="})
    );
    assert!(s.get("stringData").is_none(), "{s}");
    c.kubectl(&["delete", "--raw", "/api/v1/namespaces/default/configmaps"])
        .ok();
    assert_ne!(c.kubectl(&["get", "cm", "p"]).code, 0);
    // The server is still healthy after all of it.
    c.kubectl(&["get", "--raw", "/readyz"]).ok();
}
