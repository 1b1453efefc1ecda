//! The agent's side of joining (see `rkube_apiserver::join`): check the server against the
//! CA hash in the token, send CSRs for keys made here, keep what comes back under
//! `<data-dir>/agent/` so later starts need no token round trip.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rkube_apiserver::join::{ca_hash, parse_token, JoinRequest, JoinResponse};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// What a joined agent has: its credentials and the cluster's settings.
pub struct Joined {
    pub kubeconfig: PathBuf,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub ca_pem: String,
    pub settings: Value,
}

/// Files under `<data-dir>/agent/`.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path(name)).ok()
    }
}

/// Joins (or reuses an earlier join of) the cluster at `server` as `node`.
pub fn join(
    data_dir: &Path,
    server: &str,
    token: &str,
    node: &str,
    ips: &[IpAddr],
) -> anyhow::Result<Joined> {
    let files = Files {
        dir: data_dir.join("agent"),
    };
    if let (Some(ca), Some(cert), Some(key), Some(settings)) = (
        files.read("ca.crt"),
        files.read("serving.crt"),
        files.read("serving.key"),
        files.read("settings.json"),
    ) {
        if files.path("kubeconfig").exists() {
            let settings = serde_json::from_str(&settings).context("read agent/settings.json")?;
            tracing::info!(dir = %files.dir.display(), "using the credentials of an earlier join");
            return Ok(Joined {
                kubeconfig: files.path("kubeconfig"),
                serving_cert_pem: cert,
                serving_key_pem: key,
                ca_pem: ca,
                settings,
            });
        }
    }
    let (hash, secret) = parse_token(token).map_err(|e| anyhow::anyhow!("--token: {e}"))?;
    let url = Url::parse(server)?;
    // The CA is fetched without trusting anything, then trusted only if the token vouches.
    let (status, ca) = request(&url, None, "GET", "/cacerts", None, b"")
        .with_context(|| format!("fetch the cluster CA from {server}"))?;
    let ca = String::from_utf8(ca).context("the server's CA is not text")?;
    if status != 200 || !ca.contains("BEGIN CERTIFICATE") {
        bail!("{server}/cacerts answered {status}, not a CA certificate");
    }
    match hash {
        Some(h) if h != ca_hash(&ca) => bail!(
            "the server's CA does not match the token (token has {h}, server has {}): refusing to join",
            ca_hash(&ca)
        ),
        Some(_) => {}
        None => tracing::warn!("token carries no CA hash: trusting the server's CA as presented"),
    }
    let client_key = rcgen::KeyPair::generate().context("generate the client key")?;
    let serving_key = rcgen::KeyPair::generate().context("generate the serving key")?;
    let csr = |key: &rcgen::KeyPair| -> anyhow::Result<String> {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("system:node:{node}"));
        Ok(params.serialize_request(key)?.pem()?)
    };
    let body = serde_json::to_vec(&JoinRequest {
        node_name: node.to_string(),
        addresses: ips.to_vec(),
        client_csr: csr(&client_key)?,
        serving_csr: csr(&serving_key)?,
    })?;
    let (status, reply) = request(
        &url,
        Some(&ca),
        "POST",
        "/v1-rkube/node-certificates",
        Some(&secret),
        &body,
    )
    .with_context(|| format!("join {server}"))?;
    if status == 401 {
        bail!("{server} refused the join token (401 Unauthorized)");
    }
    if status != 200 {
        bail!(
            "{server} refused the join ({status}): {}",
            String::from_utf8_lossy(&reply)
        );
    }
    let reply: JoinResponse = serde_json::from_slice(&reply).context("parse the join reply")?;
    std::fs::create_dir_all(&files.dir)
        .with_context(|| format!("create {}", files.dir.display()))?;
    let client_key_pem = client_key.serialize_pem();
    let serving_key_pem = serving_key.serialize_pem();
    write(&files.path("ca.crt"), reply.ca.as_bytes(), 0o644)?;
    write(
        &files.path("client.crt"),
        reply.client_certificate.as_bytes(),
        0o644,
    )?;
    write(&files.path("client.key"), client_key_pem.as_bytes(), 0o600)?;
    write(
        &files.path("serving.crt"),
        reply.serving_certificate.as_bytes(),
        0o644,
    )?;
    write(
        &files.path("serving.key"),
        serving_key_pem.as_bytes(),
        0o600,
    )?;
    let kubeconfig = kubeconfig(
        server,
        &reply.ca,
        &reply.client_certificate,
        &client_key_pem,
        node,
    );
    write(&files.path("kubeconfig"), kubeconfig.as_bytes(), 0o600)?;
    // Written last: its presence marks a complete join.
    write(
        &files.path("settings.json"),
        &serde_json::to_vec_pretty(&reply.settings)?,
        0o644,
    )?;
    tracing::info!(%node, %server, "joined the cluster");
    Ok(Joined {
        kubeconfig: files.path("kubeconfig"),
        serving_cert_pem: reply.serving_certificate,
        serving_key_pem,
        ca_pem: reply.ca,
        settings: reply.settings,
    })
}

fn kubeconfig(server: &str, ca: &str, cert: &str, key: &str, node: &str) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: rkube\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: \"system:node:{node}\"\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: rkube\n  context: {{cluster: rkube, user: \"system:node:{node}\"}}\ncurrent-context: rkube\n",
        b64(ca),
        b64(cert),
        b64(key)
    )
}

fn write(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("write {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

pub(crate) struct Url {
    pub host: String,
    pub port: u16,
}

impl Url {
    pub fn parse(s: &str) -> anyhow::Result<Url> {
        let rest = s
            .strip_prefix("https://")
            .ok_or_else(|| anyhow::anyhow!("--server {s:?}: must be an https:// URL"))?;
        let hostport = rest.split('/').next().unwrap_or("");
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("--server {s:?}: bad port {p:?}"))?,
            ),
            _ => (hostport.trim_start_matches('[').trim_end_matches(']'), 443),
        };
        if host.is_empty() {
            bail!("--server {s:?}: no host");
        }
        Ok(Url {
            host: host.to_string(),
            port,
        })
    }
}

/// One HTTPS request (HTTP/1.1, `Connection: close`). With `ca`, the server must present a
/// certificate from it; without, anything is accepted (only for fetching the CA).
fn request(
    url: &Url,
    ca: Option<&str>,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.context("parse the CA")?)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(rkube_kubelet::probes::AnyCert(provider)))
            .with_no_client_auth(),
    };
    let name = ServerName::try_from(url.host.clone())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{}: no address", url.host))?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connect to {addr}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        url.host,
        url.port,
        body.len()
    );
    if let Some(b) = bearer {
        head.push_str(&format!("Authorization: Bearer {b}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes())?;
    tls.write_all(body)?;
    tls.flush()?;
    let mut resp = Vec::new();
    match tls.read_to_end(&mut resp) {
        Ok(_) => {}
        // Servers often close without close_notify; what arrived is complete.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e).context("read the reply"),
    }
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("malformed HTTP reply"))?;
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("malformed HTTP status line"))?;
    let mut body = resp[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow::anyhow!("malformed chunk"))?;
        let size_str = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow::anyhow!("malformed chunk size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data
            .get(..size)
            .ok_or_else(|| anyhow::anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
}
