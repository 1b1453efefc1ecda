//! The connection a command works through: kubeconfig (KUBECONFIG, --kubeconfig, contexts,
//! overrides), the effective namespace, and raw HTTP requests that report errors and
//! warnings as kubectl does.

use std::time::Duration;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

use crate::cli::GlobalFlags;
use crate::error::{Error, Result, StatusError};

pub const JSON: &str = "application/json";
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
pub const MERGE_PATCH: &str = "application/merge-patch+json";
pub const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// Everything a command needs to talk to the cluster.
pub struct Ctx {
    pub flags: GlobalFlags,
    client: kube::Client,
    /// The API server URL, for messages such as cluster-info's.
    pub server: String,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

/// The kubeconfig kubectl would load: --kubeconfig, else $KUBECONFIG (merged), else
/// ~/.kube/config. `None` when there is none at all.
pub fn load_kubeconfig(flags: &GlobalFlags) -> Result<Option<Kubeconfig>> {
    if let Some(path) = &flags.kubeconfig {
        return Kubeconfig::read_from(path)
            .map(Some)
            .map_err(|e| Error::client(format!("stat {path}: {e}")));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        // As kubectl: files that do not exist are skipped, the rest merged in order; with
        // none left the configuration is empty (not ~/.kube/config).
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(&list).filter(|p| p.exists()) {
            let next = Kubeconfig::read_from(&path).map_err(|e| {
                Error::client(format!(
                    "error loading config file \"{}\": {e}",
                    path.display()
                ))
            })?;
            merged = Some(match merged {
                None => next,
                Some(m) => m.merge(next).map_err(|e| Error::client(e.to_string()))?,
            });
        }
        return Ok(merged);
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Ok(None);
    };
    let path = std::path::Path::new(&home).join(".kube/config");
    if !path.exists() {
        return Ok(None);
    }
    Kubeconfig::read_from(&path)
        .map(Some)
        .map_err(|e| Error::client(e.to_string()))
}

fn parse_timeout(s: &str) -> Result<Option<Duration>> {
    let s = s.trim();
    if s == "0" || s.is_empty() {
        return Ok(None);
    }
    crate::duration::parse_seconds_or_go(s).map(Some).map_err(|_| {
        Error::client(
            "Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)",
        )
    })
}

impl Ctx {
    /// Builds the client from the kubeconfig and the global flags.
    pub async fn connect(flags: &GlobalFlags) -> Result<Ctx> {
        let kubeconfig = load_kubeconfig(flags)?;
        let mut config = match kubeconfig {
            Some(kc) => {
                let opts = KubeConfigOptions {
                    context: flags.context.clone(),
                    cluster: flags.cluster.clone(),
                    user: flags.user.clone(),
                };
                kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| Error::client(kubeconfig_error(&e.to_string(), flags)))?
            }
            None => {
                let url = "http://localhost:8080"
                    .parse()
                    .map_err(|e| Error::client(format!("{e}")))?;
                kube::Config::new(url)
            }
        };
        if let Some(server) = &flags.server {
            config.cluster_url = server
                .parse()
                .map_err(|e| Error::client(format!("invalid --server {server:?}: {e}")))?;
        }
        if let Some(token) = &flags.token {
            config.auth_info.token = Some(token.clone().into());
            config.auth_info.client_certificate_data = None;
            config.auth_info.client_key_data = None;
            config.auth_info.client_certificate = None;
            config.auth_info.client_key = None;
        }
        if flags.insecure_skip_tls_verify {
            config.accept_invalid_certs = true;
        }
        if let Some(t) = &flags.request_timeout {
            config.read_timeout = parse_timeout(t)?;
        }
        // kubectl retries nothing by itself; a 429 or 503 is reported, not hidden.
        config.default_retry = false;
        let namespace = flags
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string().trim_end_matches('/').into();
        let client = kube::Client::try_from(config).map_err(|e| Error::client(format!("{e}")))?;
        Ok(Ctx {
            flags: flags.clone(),
            client,
            server,
            namespace,
        })
    }

    /// The kube-rs client, for typed APIs, watches and WebSocket upgrades.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Whether the namespace came from `-n` rather than the context.
    pub fn namespace_explicit(&self) -> bool {
        self.flags.namespace.is_some()
    }

    /// Sends one request and returns the body of a 2xx reply. Non-2xx replies become
    /// [`Error::Server`]; `Warning` headers are printed to stderr as kubectl prints them.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Vec<u8>> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, accept);
        if let Some((ct, _)) = &body {
            req = req.header(http::header::CONTENT_TYPE, *ct);
        }
        let req = req
            .body(kube::client::Body::from(
                body.map(|(_, b)| b).unwrap_or_default(),
            ))
            .map_err(|e| Error::client(format!("building request for {path}: {e}")))?;
        let res = self
            .client
            .send(req)
            .await
            .map_err(|e| self.connection_error(e))?;
        let status = res.status();
        for w in res.headers().get_all("warning") {
            if let Some(text) = w.to_str().ok().and_then(warning_text) {
                eprintln!("Warning: {text}");
            }
        }
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::client(format!("reading the reply to {path}: {e}")))?
            .to_bytes()
            .to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(Error::Server(status_error(status, &bytes)))
    }

    /// GET as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let b = self.request(Method::GET, path, JSON, None).await?;
        Ok(serde_json::from_slice(&b)?)
    }

    /// Sends a JSON (or patch) body and decodes the JSON reply.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<Value> {
        let b = self
            .request(
                method,
                path,
                JSON,
                Some((content_type, serde_json::to_vec(body)?)),
            )
            .await?;
        if b.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&b)?)
    }

    /// GETs `path` and hands back the body as it arrives (logs, follow streams). A non-2xx
    /// reply becomes [`Error::Server`] as with [`Ctx::request`].
    pub async fn stream(&self, path: &str) -> Result<kube::client::Body> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::ACCEPT, "application/json, */*")
            .body(kube::client::Body::empty())
            .map_err(|e| Error::client(format!("building request for {path}: {e}")))?;
        let res = self
            .client
            .send(req)
            .await
            .map_err(|e| self.connection_error(e))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res.into_body());
        }
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::client(format!("reading the reply to {path}: {e}")))?
            .to_bytes();
        Err(Error::Server(status_error(status, &bytes)))
    }

    /// kubectl's message when the server cannot be reached at all.
    fn connection_error(&self, e: kube::Error) -> Error {
        let host = self
            .server
            .split("://")
            .nth(1)
            .unwrap_or(&self.server)
            .to_string();
        let text = format!("{e:?}");
        if text.contains("ConnectionRefused") || text.contains("Connection refused") {
            return Error::client_plain(format!(
                "The connection to the server {host} was refused - did you specify the right host or port?"
            ));
        }
        Error::client(format!("{e}"))
    }
}

impl Error {
    /// A message printed without the `error: ` prefix (kubectl prints the connection
    /// refusal that way).
    fn client_plain(msg: String) -> Error {
        eprintln!("{msg}");
        Error::Silent(1)
    }
}

fn kubeconfig_error(msg: &str, flags: &GlobalFlags) -> String {
    if let Some(ctx) = &flags.context {
        if msg.contains("context") {
            return format!("context was not found for specified context: {ctx}");
        }
    }
    msg.to_string()
}

/// The text of a `Warning: 299 - "text"` header.
fn warning_text(h: &str) -> Option<String> {
    let rest = h.trim().strip_prefix("299")?.trim_start();
    let rest = rest.strip_prefix('-')?.trim_start();
    let inner = rest.strip_prefix('"')?;
    let end = inner.rfind('"')?;
    Some(inner[..end].replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// The `Status` a failed request carried, or one made up as client-go does for bodies
/// that are not a Status.
pub fn status_error(code: StatusCode, body: &[u8]) -> StatusError {
    if let Ok(mut s) = serde_json::from_slice::<StatusError>(body) {
        if !s.message.is_empty() || !s.reason.is_empty() {
            if s.code == 0 {
                s.code = code.as_u16();
            }
            return s;
        }
    }
    let (reason, message) = match code.as_u16() {
        404 => (
            "NotFound",
            "the server could not find the requested resource".to_string(),
        ),
        401 => (
            "Unauthorized",
            "the server has asked for the client to provide credentials".to_string(),
        ),
        403 => (
            "Forbidden",
            String::from_utf8_lossy(body).trim().to_string(),
        ),
        409 => ("Conflict", String::from_utf8_lossy(body).trim().to_string()),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_string(),
        ),
        _ => ("", String::from_utf8_lossy(body).trim().to_string()),
    };
    StatusError {
        reason: reason.into(),
        message,
        code: code.as_u16(),
        details: None,
    }
}

/// Percent-encodes a query value as Go's `url.QueryEscape` does.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_statuses() {
        assert_eq!(
            warning_text(r#"299 - "spec.x: \"y\" is deprecated""#).as_deref(),
            Some(r#"spec.x: "y" is deprecated"#)
        );
        assert_eq!(warning_text("199 - \"x\""), None);
        let s = status_error(
            StatusCode::NOT_FOUND,
            br#"{"kind":"Status","reason":"NotFound","message":"pods \"x\" not found","code":404}"#,
        );
        assert_eq!(s.reason, "NotFound");
        let s = status_error(StatusCode::NOT_FOUND, b"404 page not found");
        assert_eq!(
            s.message,
            "the server could not find the requested resource"
        );
        assert_eq!(
            query_escape("app=web,x in (a b)"),
            "app%3Dweb%2Cx+in+%28a+b%29"
        );
        assert_eq!(
            parse_timeout("2m").ok().flatten(),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_timeout("0").ok().flatten(), None);
    }
}
