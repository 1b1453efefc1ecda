//! Joining nodes, as k3s does it: a join token `K10<sha256 of the CA>::server:<secret>` lets
//! an agent check the server it talks to (the CA hash) and prove it may join (the secret).
//!
//! - `GET /cacerts` (anyone): the cluster CA, so an agent can compare it with the token's hash
//!   before trusting it.
//! - `POST /v1-rkube/node-certificates` (`Authorization: Bearer <secret>`): the agent sends
//!   two PKCS#10 requests and gets back its client certificate (`system:node:<name>`, group
//!   `system:nodes`) and its kubelet serving certificate, plus the cluster settings it needs.
//!
//! Tokens live under the server's directory: `token` (the server's own, never expires) and
//! `tokens.json` (made by `rkube token create`, each with an optional expiry). Both are read
//! on every join, so new tokens work without a restart.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rkube_apimachinery::status::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ApiServer;

/// The prefix of k3s's current token format.
const PREFIX: &str = "K10";

/// What the join endpoints need.
#[derive(Clone, Debug)]
pub struct JoinConfig {
    /// Holds `token` and `tokens.json` (`<data-dir>/server`).
    pub token_dir: PathBuf,
    /// Settings handed to joining agents (cluster CIDR, DNS, domain, …).
    pub agent_settings: Value,
}

/// The SHA-256 of the CA bundle, hex, as the token carries it.
pub fn ca_hash(ca_pem: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, ca_pem.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A full token for `secret` against the CA.
pub fn format_token(ca_pem: &str, secret: &str) -> String {
    format!("{PREFIX}{}::server:{secret}", ca_hash(ca_pem))
}

/// Splits a token into (CA hash if present, secret). A bare secret is accepted, as k3s does.
pub fn parse_token(token: &str) -> Result<(Option<String>, String), String> {
    let token = token.trim();
    if let Some(rest) = token.strip_prefix(PREFIX) {
        let (hash, cred) = rest
            .split_once("::")
            .ok_or_else(|| "malformed token: missing '::'".to_string())?;
        let secret = cred.split_once(':').map(|(_, s)| s).unwrap_or(cred);
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("malformed token: bad CA hash".into());
        }
        if secret.is_empty() {
            return Err("malformed token: empty secret".into());
        }
        return Ok((Some(hash.to_ascii_lowercase()), secret.to_string()));
    }
    if token.is_empty() {
        return Err("empty token".into());
    }
    Ok((None, token.to_string()))
}

/// A new random secret (244 random bits, hex).
pub fn new_secret() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}

/// Writes the server's own token file unless it exists (then its secret is kept, or
/// replaced by `secret` when one is given). Returns the full token.
pub fn ensure_server_token(
    dir: &Path,
    ca_pem: &str,
    secret: Option<&str>,
) -> std::io::Result<String> {
    let path = dir.join("token");
    let existing = std::fs::read_to_string(&path).ok();
    let secret = match (secret, existing.as_deref().map(parse_token)) {
        (Some(s), _) => parse_token(s)
            .map(|(_, s)| s)
            .map_err(std::io::Error::other)?,
        (None, Some(Ok((_, s)))) => s,
        (None, _) => new_secret(),
    };
    let token = format_token(ca_pem, &secret);
    if existing.as_deref().map(str::trim) != Some(token.as_str()) {
        std::fs::create_dir_all(dir)?;
        write_private(&path, format!("{token}\n").as_bytes())?;
    }
    Ok(token)
}

#[derive(Serialize, Deserialize, Default)]
struct TokenFile {
    tokens: Vec<ExtraToken>,
}

#[derive(Serialize, Deserialize)]
struct ExtraToken {
    secret: String,
    /// Unix seconds; none = never.
    expires: Option<i64>,
}

/// Adds a token (`rkube token create`) valid for `ttl`; returns the full token.
pub fn create_token(
    dir: &Path,
    ca_pem: &str,
    ttl: Option<std::time::Duration>,
) -> std::io::Result<String> {
    let path = dir.join("tokens.json");
    let mut file: TokenFile = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(std::io::Error::other)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
        Err(e) => return Err(e),
    };
    let now = now_unix();
    file.tokens.retain(|t| t.expires.is_none_or(|e| e > now));
    let secret = new_secret();
    file.tokens.push(ExtraToken {
        secret: secret.clone(),
        expires: ttl.map(|t| now + t.as_secs() as i64),
    });
    let data = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    write_private(&path, &data)?;
    Ok(format_token(ca_pem, &secret))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Whether `secret` is the server's token or an unexpired created one.
fn secret_is_valid(dir: &Path, secret: &str) -> bool {
    let eq = |a: &str| constant_time_eq(a.as_bytes(), secret.as_bytes());
    if let Ok(t) = std::fs::read_to_string(dir.join("token")) {
        if let Ok((_, s)) = parse_token(&t) {
            if eq(&s) {
                return true;
            }
        }
    }
    let Ok(data) = std::fs::read(dir.join("tokens.json")) else {
        return false;
    };
    let Ok(file) = serde_json::from_slice::<TokenFile>(&data) else {
        tracing::warn!(dir = %dir.display(), "tokens.json is not valid JSON; ignoring it");
        return false;
    };
    let now = now_unix();
    file.tokens
        .iter()
        .any(|t| t.expires.is_none_or(|e| e > now) && eq(&t.secret))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The agent's request.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub node_name: String,
    pub addresses: Vec<IpAddr>,
    #[serde(rename = "clientCSR")]
    pub client_csr: String,
    #[serde(rename = "servingCSR")]
    pub serving_csr: String,
}

/// The server's answer.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    pub client_certificate: String,
    pub serving_certificate: String,
    pub ca: String,
    /// Where agents reach the API server (the join URL may be a load balancer's).
    pub settings: Value,
}

/// `POST /v1-rkube/node-certificates`.
pub(crate) fn handle(
    srv: &ApiServer,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let Some(cfg) = srv.join.get() else {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    let secret = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    if !secret_is_valid(&cfg.token_dir, secret) {
        tracing::warn!("join refused: unknown or expired token");
        return Err(ApiError::unauthorized());
    }
    let req: JoinRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid join request: {e}")))?;
    let errs = rkube_apimachinery::validation::dns1123_subdomain(&req.node_name);
    if let Some(e) = errs.first() {
        return Err(ApiError::bad_request(format!(
            "invalid node name {:?}: {e}",
            req.node_name
        )));
    }
    let certs = srv
        .pki
        .sign_node_csrs(
            &req.node_name,
            &req.client_csr,
            &req.serving_csr,
            &req.addresses,
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    tracing::info!(node = %req.node_name, addresses = ?req.addresses, "node joined: certificates issued");
    serde_json::to_value(JoinResponse {
        client_certificate: certs.client_pem,
        serving_certificate: certs.serving_pem,
        ca: srv.pki.ca_cert_pem().to_string(),
        settings: cfg.agent_settings.clone(),
    })
    .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_verify() {
        let ca = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
        let t = format_token(ca, "s3cret");
        let (hash, secret) = parse_token(&t).expect("parse");
        assert_eq!(hash.as_deref(), Some(ca_hash(ca).as_str()));
        assert_eq!(secret, "s3cret");
        assert_eq!(parse_token("plain").expect("bare"), (None, "plain".into()));
        assert!(parse_token("K10abc::server:x").is_err());
        assert!(parse_token("").is_err());

        let dir = tempfile::tempdir().expect("tempdir");
        let full = ensure_server_token(dir.path(), ca, None).expect("token");
        let (_, s) = parse_token(&full).expect("parse");
        assert!(secret_is_valid(dir.path(), &s));
        assert!(!secret_is_valid(dir.path(), "nope"));
        // Kept across restarts.
        assert_eq!(
            ensure_server_token(dir.path(), ca, None).expect("again"),
            full
        );
        let extra =
            create_token(dir.path(), ca, Some(std::time::Duration::from_secs(60))).expect("create");
        let (_, es) = parse_token(&extra).expect("parse");
        assert!(secret_is_valid(dir.path(), &es));
        let expired =
            create_token(dir.path(), ca, Some(std::time::Duration::ZERO)).expect("create");
        let (_, xs) = parse_token(&expired).expect("parse");
        assert!(!secret_is_valid(dir.path(), &xs));
    }
}
