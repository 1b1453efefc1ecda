use super::*;
use std::collections::BTreeMap;

const ALL_FILES: [&str; 6] = [
    CA_CERT_FILE,
    CA_KEY_FILE,
    SERVING_CERT_FILE,
    SERVING_KEY_FILE,
    ADMIN_CERT_FILE,
    ADMIN_KEY_FILE,
];

fn config(dir: &Path, node_ip: &str) -> PkiConfig {
    PkiConfig {
        tls_dir: dir.join("tls"),
        node_ips: vec![node_ip.parse().unwrap()],
        cluster_domain: "cluster.local".to_string(),
        first_service_ip: "10.43.0.1".parse().unwrap(),
        extra_sans: vec!["api.example.com".to_string(), "192.0.2.7".to_string()],
    }
}

fn snapshot(dir: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    ALL_FILES
        .iter()
        .map(|f| (*f, std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

fn der(pem: &str) -> Vec<u8> {
    cert_der_from_pem(pem, "test").unwrap().to_vec()
}

fn sans_of(pem: &str) -> Vec<San> {
    let der = der(pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    cert_sans(&cert)
}

fn eku_of(pem: &str) -> (bool, bool) {
    let der = der(pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    (eku.server_auth, eku.client_auth)
}

fn assert_signed_by_ca(leaf_pem: &str, ca_pem: &str) {
    let leaf_der = der(leaf_pem);
    let ca_der = der(ca_pem);
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
    leaf.verify_signature(Some(&ca.tbs_certificate.subject_pki))
        .unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_ensure_creates_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "192.168.1.10");
    let pki = ensure(&cfg).unwrap();
    let dir = &cfg.tls_dir;

    assert_eq!(mode(dir), 0o700);
    for f in ALL_FILES {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    for f in [CA_KEY_FILE, SERVING_KEY_FILE, ADMIN_KEY_FILE] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), ALL_FILES.len());
    assert_eq!(
        std::fs::read_to_string(dir.join(CA_CERT_FILE)).unwrap(),
        pki.ca_cert_pem()
    );

    // CA.
    let ca_der = der(pki.ca_cert_pem());
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert!(ca.is_ca());
    assert_eq!(
        identity_from_cert(&ca_der),
        Some((CA_COMMON_NAME.to_string(), vec![]))
    );
    let ca_days =
        (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86400;
    assert!(ca_days >= 3650, "CA valid {ca_days} days");

    // Serving certificate.
    let sans = sans_of(pki.serving_cert_pem());
    for want in [
        "192.168.1.10",
        "127.0.0.1",
        "::1",
        "10.43.0.1",
        "192.0.2.7",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.example.com",
    ] {
        assert!(
            sans.contains(&San::parse(want)),
            "missing SAN {want}: {sans:?}"
        );
    }
    assert_eq!(eku_of(pki.serving_cert_pem()), (true, false));
    assert_signed_by_ca(pki.serving_cert_pem(), pki.ca_cert_pem());
    let serving_der = der(pki.serving_cert_pem());
    let (_, serving) = x509_parser::parse_x509_certificate(&serving_der).unwrap();
    assert!(!serving.is_ca());
    let days = (serving.validity().not_after.timestamp()
        - OffsetDateTime::now_utc().unix_timestamp())
        / 86400;
    assert!(days >= 364, "serving valid {days} days");

    // Admin certificate.
    assert_eq!(
        identity_from_cert(&der(pki.admin_cert_pem())),
        Some((ADMIN_USER.to_string(), vec![ADMIN_GROUP.to_string()]))
    );
    assert_eq!(eku_of(pki.admin_cert_pem()), (false, true));
    assert_signed_by_ca(pki.admin_cert_pem(), pki.ca_cert_pem());

    // Keys never show up in Debug output.
    let debug = format!("{pki:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

#[test]
fn second_ensure_reuses_files_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "192.168.1.10");
    let first = ensure(&cfg).unwrap();
    let before = snapshot(&cfg.tls_dir);
    let second = ensure(&cfg).unwrap();
    assert_eq!(before, snapshot(&cfg.tls_dir));
    assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
    assert_eq!(first.serving_cert_pem(), second.serving_cert_pem());
    assert_eq!(first.serving_key_pem(), second.serving_key_pem());
    assert_eq!(first.admin_cert_pem(), second.admin_cert_pem());
    assert_eq!(first.admin_key_pem(), second.admin_key_pem());

    // Dropping a SAN from the configuration does not force a new certificate either.
    let mut fewer = cfg.clone();
    fewer.extra_sans.clear();
    ensure(&fewer).unwrap();
    assert_eq!(before, snapshot(&cfg.tls_dir));
}

#[test]
fn changed_node_ip_reissues_only_serving_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "192.168.1.10");
    ensure(&cfg).unwrap();
    let before = snapshot(&cfg.tls_dir);

    let moved = config(tmp.path(), "192.168.1.20");
    let pki = ensure(&moved).unwrap();
    let after = snapshot(&cfg.tls_dir);
    for f in [CA_CERT_FILE, CA_KEY_FILE, ADMIN_CERT_FILE, ADMIN_KEY_FILE] {
        assert_eq!(before[f], after[f], "{f} changed");
    }
    assert_ne!(before[SERVING_CERT_FILE], after[SERVING_CERT_FILE]);
    assert_ne!(before[SERVING_KEY_FILE], after[SERVING_KEY_FILE]);
    assert_eq!(mode(&cfg.tls_dir.join(SERVING_KEY_FILE)), 0o600);
    let sans = sans_of(pki.serving_cert_pem());
    assert!(sans.contains(&San::parse("192.168.1.20")));
    assert_signed_by_ca(pki.serving_cert_pem(), pki.ca_cert_pem());
    // The re-issued certificate is stable from then on.
    ensure(&moved).unwrap();
    assert_eq!(after, snapshot(&cfg.tls_dir));

    // A new extra SAN also re-issues the serving certificate only.
    let mut more = moved.clone();
    more.extra_sans.push("rkube.internal".to_string());
    let pki = ensure(&more).unwrap();
    let again = snapshot(&cfg.tls_dir);
    assert_ne!(after[SERVING_CERT_FILE], again[SERVING_CERT_FILE]);
    assert_eq!(after[ADMIN_CERT_FILE], again[ADMIN_CERT_FILE]);
    assert!(sans_of(pki.serving_cert_pem()).contains(&San::parse("rkube.internal")));
}

#[test]
fn damaged_files_are_repaired_or_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "10.0.0.1");
    let dir = cfg.tls_dir.clone();
    ensure(&cfg).unwrap();
    let before = snapshot(&dir);

    // A missing admin certificate is re-issued alone.
    std::fs::remove_file(dir.join(ADMIN_CERT_FILE)).unwrap();
    ensure(&cfg).unwrap();
    let after = snapshot(&dir);
    assert_eq!(before[SERVING_CERT_FILE], after[SERVING_CERT_FILE]);
    assert_eq!(before[CA_CERT_FILE], after[CA_CERT_FILE]);
    assert_ne!(before[ADMIN_KEY_FILE], after[ADMIN_KEY_FILE]);

    // A serving key that does not match its certificate is replaced.
    std::fs::write(dir.join(SERVING_KEY_FILE), &after[ADMIN_KEY_FILE]).unwrap();
    let pki = ensure(&cfg).unwrap();
    assert_ne!(pki.serving_key_pem().as_bytes(), &after[ADMIN_KEY_FILE][..]);
    pki.server_config().unwrap();

    // A CA certificate without its key is an error, not a silent new CA.
    std::fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
    let err = ensure(&cfg).unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMissing { .. }), "{err}");
    assert!(err.to_string().contains("ca.key"), "{err}");

    // A CA key without certificate (crash during the first start) is completed, and
    // the leaves are re-issued from it.
    let tmp2 = tempfile::tempdir().unwrap();
    let cfg2 = config(tmp2.path(), "10.0.0.1");
    std::fs::create_dir_all(&cfg2.tls_dir).unwrap();
    std::fs::write(cfg2.tls_dir.join(CA_KEY_FILE), &before[CA_KEY_FILE]).unwrap();
    std::fs::write(cfg2.tls_dir.join(ADMIN_CERT_FILE), &before[ADMIN_CERT_FILE]).unwrap();
    std::fs::write(cfg2.tls_dir.join(ADMIN_KEY_FILE), &before[ADMIN_KEY_FILE]).unwrap();
    let pki2 = ensure(&cfg2).unwrap();
    assert!(!pki2.ca_cert_pem().is_empty());
    assert_ne!(
        pki2.admin_cert_pem().as_bytes(),
        &before[ADMIN_CERT_FILE][..]
    );
    assert_signed_by_ca(pki2.admin_cert_pem(), pki2.ca_cert_pem());
    assert_signed_by_ca(pki2.serving_cert_pem(), pki2.ca_cert_pem());
}

#[test]
fn invalid_extra_san_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), "10.0.0.1");
    cfg.extra_sans.push("bad name".to_string());
    let err = ensure(&cfg).unwrap_err();
    assert!(matches!(err, PkiError::InvalidSan { .. }), "{err}");
}

#[test]
fn kubeconfig_is_parseable_yaml_with_the_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "10.0.0.1");
    let pki = ensure(&cfg).unwrap();
    let path = tmp.path().join("a/b/kubeconfig.yaml");
    write_kubeconfig(&path, "https://127.0.0.1:6443", &pki, "default").unwrap();
    assert_eq!(mode(&path), 0o600);

    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let b64 = |v: &serde_yaml::Value| {
        let s = v.as_str().unwrap();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    };
    assert_eq!(doc["apiVersion"], "v1");
    assert_eq!(doc["kind"], "Config");
    assert_eq!(doc["current-context"], "default");
    let cluster = &doc["clusters"][0];
    assert_eq!(cluster["name"], "default");
    assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6443");
    assert_eq!(
        b64(&cluster["cluster"]["certificate-authority-data"]),
        pki.ca_cert_pem()
    );
    let context = &doc["contexts"][0];
    assert_eq!(context["name"], "default");
    assert_eq!(context["context"]["cluster"], "default");
    assert_eq!(context["context"]["user"], "default");
    let user = &doc["users"][0];
    assert_eq!(user["name"], "default");
    assert_eq!(
        b64(&user["user"]["client-certificate-data"]),
        pki.admin_cert_pem()
    );
    assert_eq!(b64(&user["user"]["client-key-data"]), pki.admin_key_pem());

    // Overwriting keeps mode 0600, and odd names are quoted correctly.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_kubeconfig(&path, "https://[::1]:6443", &pki, "we\"ird: #name").unwrap();
    assert_eq!(mode(&path), 0o600);
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["current-context"], "we\"ird: #name");
    assert_eq!(
        doc["clusters"][0]["cluster"]["server"],
        "https://[::1]:6443"
    );
}

#[test]
fn identity_from_cert_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = ensure(&config(tmp.path(), "10.0.0.1")).unwrap();
    assert_eq!(
        identity_from_cert(&der(pki.admin_cert_pem())),
        Some((
            "system:admin".to_string(),
            vec!["system:masters".to_string()]
        ))
    );

    let (cert, key) = pki
        .issue_client_cert("system:node:n1", &["system:nodes", "extra"])
        .unwrap();
    assert!(key.contains("PRIVATE KEY"));
    assert_eq!(
        identity_from_cert(&der(&cert)),
        Some((
            "system:node:n1".to_string(),
            vec!["system:nodes".to_string(), "extra".to_string()]
        ))
    );
    assert_eq!(eku_of(&cert), (false, true));
    assert_signed_by_ca(&cert, pki.ca_cert_pem());

    assert_eq!(identity_from_cert(b"not a certificate"), None);
}

// ---- TLS ------------------------------------------------------------------------------

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Identity = Option<(String, Vec<String>)>;

fn client_config(pki: &Pki, client_cert: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_cert_der().unwrap()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![cert_der_from_pem(cert, "client").unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Accepts one TLS connection; returns the client's identity or the handshake error.
async fn accept_one(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Result<Identity, std::io::Error> {
    let (tcp, _) = listener.accept().await?;
    let mut tls = acceptor.accept(tcp).await?;
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|c| identity_from_cert(c));
    // Wait for the client to close so both sides see the full handshake.
    let mut buf = [0u8; 64];
    let _ = tls.read(&mut buf).await;
    Ok(identity)
}

async fn handshake(
    pki: &Pki,
    client_cert: Option<(&str, &str)>,
) -> (
    Result<Option<Vec<u8>>, std::io::Error>,
    Result<Identity, std::io::Error>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config().unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(accept_one(listener, acceptor));

    let connector = tokio_rustls::TlsConnector::from(client_config(pki, client_cert));
    let client = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("kubernetes.default.svc")
            .map_err(std::io::Error::other)?;
        let mut tls = connector.connect(name, tcp).await?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        tls.write_all(b"ping").await?;
        tls.shutdown().await?;
        Ok(alpn)
    }
    .await;
    let server = tokio::time::timeout(std::time::Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap();
    (client, server)
}

#[tokio::test]
async fn server_config_client_certificates_are_optional() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = ensure(&config(tmp.path(), "10.0.0.1")).unwrap();

    // Without a client certificate: accepted, anonymous, h2 negotiated.
    let (client, server) = handshake(&pki, None).await;
    assert_eq!(client.unwrap(), Some(b"h2".to_vec()));
    assert_eq!(server.unwrap(), None);

    // With the admin certificate: the server learns the identity.
    let (client, server) = handshake(&pki, Some((pki.admin_cert_pem(), pki.admin_key_pem()))).await;
    client.unwrap();
    assert_eq!(
        server.unwrap(),
        Some((
            "system:admin".to_string(),
            vec!["system:masters".to_string()]
        ))
    );

    // With an issued certificate carrying several groups (a re-signed subject).
    let (cert, key) = pki
        .issue_client_cert("system:node:n1", &["system:nodes", "team-a"])
        .unwrap();
    let (client, server) = handshake(&pki, Some((&cert, &key))).await;
    client.unwrap();
    assert_eq!(
        server.unwrap(),
        Some((
            "system:node:n1".to_string(),
            vec!["system:nodes".to_string(), "team-a".to_string()]
        ))
    );

    // With a certificate from another CA: rejected.
    let other_tmp = tempfile::tempdir().unwrap();
    let other = ensure(&config(other_tmp.path(), "10.0.0.1")).unwrap();
    let (_client, server) =
        handshake(&pki, Some((other.admin_cert_pem(), other.admin_key_pem()))).await;
    assert!(server.is_err(), "foreign client certificate accepted");
}

type Seen = Arc<std::sync::Mutex<Vec<Result<Identity, String>>>>;

/// Answers every HTTP/1.1 request with a fixed `Status` body and records, per
/// connection, the client's identity or the error. (The kubectl on this machine may be a
/// dispatcher that asks `/version` before running the real kubectl, so expect several
/// connections.)
async fn tiny_https_server(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, seen: Seen) {
    while let Ok((tcp, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            let result = serve_one(tcp, acceptor).await.map_err(|e| e.to_string());
            seen.lock().unwrap().push(result);
        });
    }
}

async fn serve_one(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Result<Identity, std::io::Error> {
    let mut tls = acceptor.accept(tcp).await?;
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|c| identity_from_cert(c));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed before a request"));
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":200}"#;
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await?;
    Ok(identity)
}

/// Runs `kubectl get --raw /x` with a kubeconfig for `pki` against the tiny server;
/// returns the identities the server saw.
async fn run_kubectl(kubectl: &Path, pki: &Pki) -> Vec<Result<Identity, String>> {
    let tmp = tempfile::tempdir().unwrap();
    let mut server_config = pki.server_config().unwrap();
    // The tiny responder speaks HTTP/1.1 only.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let server = tokio::spawn(tiny_https_server(listener, acceptor, seen.clone()));

    let kubeconfig = tmp.path().join("kube/config");
    let url = format!("https://127.0.0.1:{port}");
    write_kubeconfig(&kubeconfig, &url, pki, "default").unwrap();
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "--raw", "/x"])
            .env("HOME", tmp.path())
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl failed: {stderr}");
    assert!(stdout.contains("\"kind\":\"Status\""), "stdout: {stdout}");
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    seen
}

#[tokio::test]
async fn kubectl_completes_handshake_with_client_certificates() {
    let kubectl = Path::new("/usr/bin/kubectl");
    assert!(
        kubectl.exists(),
        "{} is needed for this test",
        kubectl.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let pki = ensure(&config(tmp.path(), "10.0.0.1")).unwrap();

    let admin = Ok(Some((
        "system:admin".to_string(),
        vec!["system:masters".to_string()],
    )));
    let seen = run_kubectl(kubectl, &pki).await;
    assert!(seen.iter().all(|c| *c == admin), "connections: {seen:?}");

    // Go also accepts an issued certificate with several groups.
    let (cert, key) = pki
        .issue_client_cert("system:node:n1", &["system:nodes", "team-a"])
        .unwrap();
    let node = Pki {
        admin_cert_pem: cert,
        admin_key_pem: key,
        ..pki.clone()
    };
    let want = Ok(Some((
        "system:node:n1".to_string(),
        vec!["system:nodes".to_string(), "team-a".to_string()],
    )));
    let seen = run_kubectl(kubectl, &node).await;
    assert!(seen.iter().all(|c| *c == want), "connections: {seen:?}");
}
