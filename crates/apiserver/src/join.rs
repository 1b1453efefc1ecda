//! Joining nodes, as k3s does it: a join token `K10<sha256 of the CA>::server:<secret>` lets
//! an agent check the server it talks to (the CA hash) and prove it may join (the secret).
//!
//! - `GET /cacerts` (anyone): the cluster CA, so an agent can compare it with the token's hash
//!   before trusting it.
//! - `POST /v1-rkube/node-certificates` (`Authorization: Bearer <secret>`): the agent sends
//!   two PKCS#10 requests and gets back its client certificate (`system:node:<name>`, group
//!   `system:nodes`) and its kubelet serving certificate, plus the cluster settings it needs.
//!
//! Tokens: the server's own lives in `<data-dir>/server/token` and never expires (servers of
//! one cluster share it through `--token`); `rkube token create` makes bootstrap tokens, as
//! k3s and kubeadm do: `K10<hash>::<id>.<secret>`, kept in the datastore as the Secret
//! `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` (`token-id`,
//! `token-secret`, optional `expiration`), so every server of the cluster accepts them.

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

/// The namespace, name prefix and type of bootstrap token Secrets (upstream's).
pub const BOOTSTRAP_NAMESPACE: &str = "kube-system";
pub const BOOTSTRAP_PREFIX: &str = "bootstrap-token-";
pub const BOOTSTRAP_TYPE: &str = "bootstrap.kubernetes.io/token";

/// A fresh bootstrap token's id (6) and secret (16), `[a-z0-9]` as upstream requires.
pub fn new_bootstrap_token() -> (String, String) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // Each from its own v4 UUID (122 random bits, more than 16 base-36 digits need).
    let take = |len: usize| -> String {
        let mut n = uuid::Uuid::new_v4().as_u128();
        (0..len)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u128) as usize] as char;
                n /= ALPHABET.len() as u128;
                c
            })
            .collect()
    };
    (take(6), take(16))
}

/// The Secret that holds a bootstrap token, expiring at `expires` (RFC 3339) if given.
pub fn bootstrap_secret(id: &str, secret: &str, expires: Option<&str>) -> Value {
    use base64::Engine;
    let b64 = |s: &str| Value::String(base64::engine::general_purpose::STANDARD.encode(s));
    let mut data = serde_json::Map::new();
    data.insert("token-id".into(), b64(id));
    data.insert("token-secret".into(), b64(secret));
    data.insert("usage-bootstrap-authentication".into(), b64("true"));
    data.insert("usage-bootstrap-signing".into(), b64("true"));
    data.insert("description".into(), b64("made by rkube token create"));
    if let Some(e) = expires {
        data.insert("expiration".into(), b64(e));
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("{BOOTSTRAP_PREFIX}{id}"), "namespace": BOOTSTRAP_NAMESPACE},
        "type": BOOTSTRAP_TYPE,
        "data": data,
    })
}

/// Whether the Secret `secret_obj` holds the bootstrap token `id.secret`, unexpired.
fn bootstrap_secret_matches(obj: &Value, id: &str, secret: &str) -> bool {
    use base64::Engine;
    let field = |k: &str| {
        obj.pointer(&format!("/data/{k}"))
            .and_then(Value::as_str)
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|v| String::from_utf8(v).ok())
    };
    if obj.get("type").and_then(Value::as_str) != Some(BOOTSTRAP_TYPE)
        || field("token-id").as_deref() != Some(id)
        || field("usage-bootstrap-authentication").as_deref() != Some("true")
        || obj.pointer("/metadata/deletionTimestamp").is_some()
    {
        return false;
    }
    if let Some(exp) = field("expiration") {
        // An unparsable expiration counts as expired, as upstream's authenticator does.
        let Ok(t) = exp.parse::<k8s_openapi::jiff::Timestamp>() else {
            return false;
        };
        if t.as_second() <= now_unix() {
            return false;
        }
    }
    field("token-secret").is_some_and(|s| constant_time_eq(s.as_bytes(), secret.as_bytes()))
}

/// `id.secret` of a bootstrap token, if `s` has that shape.
fn split_bootstrap(s: &str) -> Option<(&str, &str)> {
    let (id, secret) = s.split_once('.')?;
    let ok = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
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

/// Whether `secret` is the server's own token's.
fn is_server_secret(dir: &Path, secret: &str) -> bool {
    std::fs::read_to_string(dir.join("token"))
        .ok()
        .and_then(|t| parse_token(&t).ok())
        .is_some_and(|(_, s)| constant_time_eq(s.as_bytes(), secret.as_bytes()))
}

/// Whether `secret` is the server's token or an unexpired bootstrap token of the cluster
/// (looked up in the cache, then in the store: it may have just been made on another server).
async fn secret_is_valid(srv: &ApiServer, dir: &Path, secret: &str) -> bool {
    if is_server_secret(dir, secret) {
        return true;
    }
    let Some((id, token_secret)) = split_bootstrap(secret) else {
        return false;
    };
    let key = format!("/registry/secrets/{BOOTSTRAP_NAMESPACE}/{BOOTSTRAP_PREFIX}{id}");
    if let Some(obj) = srv.cache.get(&key) {
        return bootstrap_secret_matches(&obj, id, token_secret);
    }
    match srv.store.get(&key).await {
        Ok(Some(kv)) => serde_json::from_slice::<Value>(&kv.value)
            .is_ok_and(|obj| bootstrap_secret_matches(&obj, id, token_secret)),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "join: reading the bootstrap token failed");
            false
        }
    }
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
pub(crate) async fn handle(
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
    if !secret_is_valid(srv, &cfg.token_dir, secret).await {
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
        assert!(is_server_secret(dir.path(), &s));
        assert!(!is_server_secret(dir.path(), "nope"));
        // Kept across restarts.
        assert_eq!(
            ensure_server_token(dir.path(), ca, None).expect("again"),
            full
        );
    }

    #[test]
    fn bootstrap_tokens_match_their_secrets() {
        let (id, secret) = new_bootstrap_token();
        assert_eq!(
            split_bootstrap(&format!("{id}.{secret}")),
            Some((id.as_str(), secret.as_str()))
        );
        assert_eq!(split_bootstrap("abc.def"), None);
        let later = k8s_openapi::jiff::Timestamp::from_second(now_unix() + 60)
            .expect("time")
            .to_string();
        let s = bootstrap_secret(&id, &secret, Some(&later));
        assert!(bootstrap_secret_matches(&s, &id, &secret));
        assert!(!bootstrap_secret_matches(&s, &id, "0000000000000000"));
        let never = bootstrap_secret(&id, &secret, None);
        assert!(bootstrap_secret_matches(&never, &id, &secret));
        let past = k8s_openapi::jiff::Timestamp::from_second(now_unix() - 1)
            .expect("time")
            .to_string();
        assert!(!bootstrap_secret_matches(
            &bootstrap_secret(&id, &secret, Some(&past)),
            &id,
            &secret
        ));
        let mut wrong_type = s.clone();
        wrong_type["type"] = "Opaque".into();
        assert!(!bootstrap_secret_matches(&wrong_type, &id, &secret));
    }
}
