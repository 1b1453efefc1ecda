//! Docker Hub's token flow, against a real registry configured for token auth: the
//! registry answers 401 with a `Bearer realm=…,service=…` challenge, the client asks the
//! token server (ours, here: JWTs signed with a key made by `openssl`) for a token scoped to
//! the repository, and pulls with it. A private repository needs credentials at the token
//! server, as Docker Hub's do.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::*;
use rkube_runtime::image::{AuthConfig, ImageError, ImageService, ImageServiceConfig, Platform};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "rkube-test-issuer";
const SERVICE: &str = "rkube-test-registry";

struct Signer {
    dir: tempfile::TempDir,
    cert_der_b64: String,
}

impl Signer {
    fn new() -> Signer {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=rkube-test-token"])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .output()
            .expect("openssl installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = Command::new("openssl")
            .args(["x509", "-outform", "der", "-in"])
            .arg(dir.path().join("cert.pem"))
            .output()
            .unwrap();
        assert!(der.status.success());
        Signer {
            cert_der_b64: STANDARD.encode(der.stdout),
            dir,
        }
    }

    fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// An RS256 JWT granting `actions` on `repo`.
    fn token(&self, subject: &str, repo: &str, actions: &[&str]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("{now}-{subject}"),
            "access": [{"type": "repository", "name": repo, "actions": actions}],
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        let input_path = self.dir.path().join(format!("input-{subject}"));
        std::fs::write(&input_path, &input).unwrap();
        let sig = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(self.dir.path().join("key.pem"))
            .arg(&input_path)
            .output()
            .unwrap();
        assert!(sig.status.success());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.stdout))
    }
}

/// What the token server saw: request line and Authorization header per request.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A token endpoint handing out `token`; with `require`, only to requests carrying that
/// `Authorization` header (401 otherwise).
async fn token_server(token: String, require: Option<String>) -> (u16, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let token = token.clone();
            let require = require.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = text.lines();
                let request_line = lines.next().unwrap_or("").to_string();
                let authz = lines.find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("authorization")
                        .then(|| v.trim().to_string())
                });
                seen.lock().unwrap().push((request_line, authz.clone()));
                let response = if require.is_some() && authz != require {
                    let body = r#"{"details":"incorrect username or password"}"#;
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 600})
                        .to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn service(dir: &std::path::Path) -> ImageService {
    let mut cfg = ImageServiceConfig::new(dir);
    cfg.platform = Platform::linux_amd64();
    ImageService::with_config(cfg).unwrap()
}

async fn token_registry(signer: &Signer, token_port: u16, repo: &str) -> Registry {
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        signer.cert_path().display()
    );
    let push_token = signer.token("pusher", repo, &["pull", "push"]);
    Registry::start_with(None, &auth, Some(push_token)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_token_flow_for_a_public_repository() {
    let signer = Signer::new();
    let token = signer.token("", "library/busybox", &["pull"]);
    let (port, seen) = token_server(token, None).await;
    let reg = token_registry(&signer, port, "library/busybox").await;
    let img = TestImage::docker(vec![busybox_layer()], "amd64");
    reg.push_image("library/busybox", "latest", &img).await;

    let data = data_dir();
    let svc = service(data.path());
    let reference = format!("{}/library/busybox", reg.host());
    assert_eq!(svc.pull_image(&reference, None).await.unwrap(), img.id());

    // The client followed the challenge: a pull-scoped token for this repository and
    // service, asked for without credentials.
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (line, authz) in &seen {
        assert!(line.starts_with("GET /token?"), "{line}");
        assert!(
            line.contains("scope=repository%3Alibrary%2Fbusybox%3Apull"),
            "{line}"
        );
        assert!(line.contains(&format!("service={SERVICE}")), "{line}");
        assert!(authz.is_none(), "{authz:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_repository_needs_credentials_at_the_token_server() {
    let signer = Signer::new();
    let token = signer.token("alice", "alice/private", &["pull"]);
    let basic = format!("Basic {}", STANDARD.encode("alice:hunter2"));
    let (port, _seen) = token_server(token, Some(basic)).await;
    let reg = token_registry(&signer, port, "alice/private").await;
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    reg.push_image("alice/private", "v1", &img).await;
    let reference = format!("{}/alice/private:v1", reg.host());

    let data = data_dir();
    let svc = service(data.path());
    let e = svc.pull_image(&reference, None).await.unwrap_err();
    eprintln!("anonymous: {e}");
    assert!(matches!(e, ImageError::Unauthorized { .. }), "{e}");
    let wrong = AuthConfig {
        username: "alice".into(),
        password: "wrong".into(),
        ..AuthConfig::default()
    };
    let e = svc.pull_image(&reference, Some(&wrong)).await.unwrap_err();
    assert!(matches!(e, ImageError::Unauthorized { .. }), "{e}");
    let right = AuthConfig {
        username: "alice".into(),
        password: "hunter2".into(),
        ..AuthConfig::default()
    };
    assert_eq!(
        svc.pull_image(&reference, Some(&right)).await.unwrap(),
        img.id()
    );
}
