//! Where to pull from and with what credentials: `<data-dir>/registries.yaml` in k3s's
//! format, plus the credentials the kubelet passes (from `imagePullSecrets`).
//!
//! ```yaml
//! mirrors:
//!   docker.io:
//!     endpoint: ["https://mirror.example.com:5000"]
//!     rewrite:
//!       "^rancher/(.*)": "mirror/rancher-images/$1"
//!   "*":                                  # every registry without its own entry
//!     endpoint: ["http://10.0.0.5:5000"]
//! configs:
//!   "mirror.example.com:5000":
//!     auth: {username: u, password: p}    # or `auth: base64(user:pass)`
//!     tls: {ca_file: /etc/ssl/mirror.pem, insecure_skip_verify: false}
//! ```
//!
//! As in k3s, a registry's mirror endpoints are tried in order and then the registry itself
//! (its "default endpoint"). Rewrites apply to mirror endpoints only. Plain HTTP is used for
//! `http://` endpoints and for registries on `localhost` and 127.0.0.0/8 (and `[::1]`);
//! everything else is HTTPS. Requests to a mirror carry `?ns=<registry>` as containerd's do.
//! Not supported (a warning is logged): client certificates (`cert_file`/`key_file`),
//! `identity_token`, and endpoint paths other than `/` or `/v2`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::error::{ImageError, Result};
use super::reference::{Reference, DOCKER_HUB};

/// Credentials for one pull, shaped like CRI's `AuthConfig` (what the kubelet derives from
/// `imagePullSecrets`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
    /// base64 of `username:password`, as in a docker config file.
    pub auth: String,
    /// The registry these credentials are for; empty means the image's own registry.
    pub server_address: String,
    /// An OAuth2 refresh token (not supported by the pull client; ignored with a warning).
    pub identity_token: String,
    /// A bearer token to send as is.
    pub registry_token: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// Username and password (decoding `auth` when they are not given directly).
    pub fn basic(&self) -> Option<(String, String)> {
        if !self.username.is_empty() || !self.password.is_empty() {
            return Some((self.username.clone(), self.password.clone()));
        }
        if self.auth.is_empty() {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(self.auth.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    /// What to present to a registry.
    pub fn credentials(&self) -> Option<Credentials> {
        if !self.registry_token.is_empty() {
            return Some(Credentials::Bearer(self.registry_token.clone()));
        }
        if let Some((u, p)) = self.basic() {
            return Some(Credentials::Basic(u, p));
        }
        if !self.identity_token.is_empty() {
            tracing::warn!("identity tokens are not supported; pulling anonymously");
        }
        None
    }
}

/// Credentials for one endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic(String, String),
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic(u, _) => write!(f, "Basic({u}, <redacted>)"),
            Credentials::Bearer(_) => write!(f, "Bearer(<redacted>)"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistriesFile {
    #[serde(default)]
    mirrors: BTreeMap<String, MirrorFile>,
    #[serde(default)]
    configs: BTreeMap<String, HostFile>,
}

#[derive(Debug, Default, Deserialize)]
struct MirrorFile {
    #[serde(default)]
    endpoint: Vec<String>,
    #[serde(default)]
    rewrite: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct HostFile {
    #[serde(default)]
    auth: Option<AuthFile>,
    #[serde(default)]
    tls: Option<TlsFile>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct AuthFile {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    identity_token: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct TlsFile {
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
    #[serde(default)]
    ca_file: String,
    #[serde(default)]
    insecure_skip_verify: bool,
}

#[derive(Debug, Clone)]
struct Mirror {
    endpoints: Vec<(Scheme, String)>,
    rewrites: Vec<(regex::Regex, String)>,
}

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Per-host settings from `configs`.
#[derive(Debug, Clone, Default)]
pub struct HostSettings {
    pub credentials: Option<Credentials>,
    pub insecure_skip_verify: bool,
    /// PEM bundle of extra CAs to trust.
    pub ca_file: Option<PathBuf>,
}

/// One place to try pulling an image from.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// `host[:port]` to connect to.
    pub host: String,
    /// The registry the image belongs to, when `host` is a mirror of it (sent as `ns`).
    pub mirror_of: Option<String>,
    /// The repository path to ask for (after rewrites).
    pub repository: String,
    pub settings: HostSettings,
}

impl Endpoint {
    /// `scheme://host` for messages.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.host)
    }
}

/// The parsed `registries.yaml` (empty when there is none).
#[derive(Debug, Clone, Default)]
pub struct Registries {
    mirrors: BTreeMap<String, Mirror>,
    configs: BTreeMap<String, HostSettings>,
}

impl Registries {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Registries> {
        match std::fs::read_to_string(path) {
            Ok(s) => Registries::parse(path, &s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registries::default()),
            Err(e) => Err(ImageError::io("read", path, e)),
        }
    }

    /// Parses the YAML text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Registries> {
        let bad = |reason: String| ImageError::RegistriesConfig {
            path: path.to_path_buf(),
            reason,
        };
        let file: RegistriesFile = if text.trim().is_empty() {
            RegistriesFile::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?
        };
        let mut mirrors = BTreeMap::new();
        for (registry, m) in file.mirrors {
            let mut endpoints = Vec::new();
            for e in &m.endpoint {
                endpoints.push(
                    parse_endpoint(e)
                        .map_err(|r| bad(format!("mirrors.{registry}: endpoint {e:?}: {r}")))?,
                );
            }
            let mut rewrites = Vec::new();
            for (pattern, replacement) in &m.rewrite {
                let re = regex::Regex::new(pattern)
                    .map_err(|e| bad(format!("mirrors.{registry}: rewrite {pattern:?}: {e}")))?;
                rewrites.push((re, replacement.clone()));
            }
            let key = if registry == "index.docker.io" {
                DOCKER_HUB.to_string()
            } else {
                registry
            };
            mirrors.insert(
                key,
                Mirror {
                    endpoints,
                    rewrites,
                },
            );
        }
        let mut configs = BTreeMap::new();
        for (host, c) in file.configs {
            let host_key = host_of(&host);
            let mut s = HostSettings::default();
            if let Some(a) = c.auth {
                if !a.identity_token.is_empty() && a.username.is_empty() && a.auth.is_empty() {
                    tracing::warn!(host = %host, "registries.yaml: identity_token is not supported");
                }
                let cfg = AuthConfig {
                    username: a.username,
                    password: a.password,
                    auth: a.auth,
                    ..AuthConfig::default()
                };
                if !cfg.auth.is_empty() && cfg.basic().is_none() {
                    return Err(bad(format!(
                        "configs.{host}.auth.auth is not base64 of user:password"
                    )));
                }
                s.credentials = cfg.credentials();
            }
            if let Some(t) = c.tls {
                if !t.cert_file.is_empty() || !t.key_file.is_empty() {
                    tracing::warn!(host = %host, "registries.yaml: client certificates are not supported");
                }
                s.insecure_skip_verify = t.insecure_skip_verify;
                if !t.ca_file.is_empty() {
                    s.ca_file = Some(PathBuf::from(t.ca_file));
                }
            }
            configs.insert(host_key, s);
        }
        Ok(Registries { mirrors, configs })
    }

    /// The settings for connecting to `host` (`configs[host]`, else `configs["*"]`).
    pub fn settings(&self, host: &str) -> HostSettings {
        self.configs
            .get(host)
            .or_else(|| self.configs.get("*"))
            .cloned()
            .unwrap_or_default()
    }

    /// The endpoints to try for `reference`, in order. `auth` (from the kubelet) is used for
    /// the image's own registry, ahead of `configs`; mirrors use only `configs`.
    pub fn endpoints(&self, reference: &Reference, auth: Option<&AuthConfig>) -> Vec<Endpoint> {
        let registry = reference.domain();
        let mut out = Vec::new();
        let mirror = self.mirrors.get(registry).or_else(|| self.mirrors.get("*"));
        let mut default_scheme = default_scheme(registry);
        let default_host = default_host(registry);
        if let Some(m) = mirror {
            for (scheme, host) in &m.endpoints {
                if host == registry || *host == default_host {
                    // The registry itself, listed to choose its scheme.
                    default_scheme = *scheme;
                    continue;
                }
                let mut repository = reference.path().to_string();
                for (re, replacement) in &m.rewrites {
                    if re.is_match(&repository) {
                        repository = re.replace(&repository, replacement.as_str()).into_owned();
                        break;
                    }
                }
                out.push(Endpoint {
                    scheme: *scheme,
                    host: host.clone(),
                    mirror_of: Some(registry.to_string()),
                    repository,
                    settings: self.settings(host),
                });
            }
        }
        let mut settings = self.settings(registry);
        if let Some(a) = auth {
            let for_us = a.server_address.is_empty()
                || host_of(&a.server_address) == registry
                || host_of(&a.server_address) == default_host
                || (registry == DOCKER_HUB && is_docker_hub_alias(&host_of(&a.server_address)));
            if for_us {
                if let Some(c) = a.credentials() {
                    settings.credentials = Some(c);
                }
            }
        }
        out.push(Endpoint {
            scheme: default_scheme,
            host: default_host,
            mirror_of: None,
            repository: reference.path().to_string(),
            settings,
        });
        out
    }
}

fn is_docker_hub_alias(h: &str) -> bool {
    matches!(
        h,
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
    )
}

/// The host to connect to for a registry's own endpoint.
fn default_host(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "registry-1.docker.io".to_string()
    } else {
        registry.to_string()
    }
}

/// HTTP for loopback registries, HTTPS for the rest.
pub fn default_scheme(host: &str) -> Scheme {
    if is_loopback_host(host) {
        Scheme::Http
    } else {
        Scheme::Https
    }
}

/// `localhost`, 127.0.0.0/8 or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `https://host:port/...` or `host:port` → the host part.
fn host_of(s: &str) -> String {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// Parses an endpoint URL; without a scheme it is HTTPS (HTTP for loopback hosts).
fn parse_endpoint(s: &str) -> std::result::Result<(Scheme, String), String> {
    let (scheme, rest) = if let Some(r) = s.strip_prefix("https://") {
        (Some(Scheme::Https), r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (Some(Scheme::Http), r)
    } else if s.contains("://") {
        return Err("scheme must be http or https".into());
    } else {
        (None, s)
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let path = path.trim_end_matches('/');
    if !path.is_empty() && path != "/v2" {
        tracing::warn!(
            endpoint = s,
            "registries.yaml: endpoint paths are not supported; using /v2"
        );
    }
    let scheme = scheme.unwrap_or_else(|| default_scheme(host));
    Ok((scheme, host.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(yaml: &str) -> Registries {
        Registries::parse(Path::new("registries.yaml"), yaml).unwrap()
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn defaults_without_a_file() {
        let regs = Registries::default();
        let e = regs.endpoints(&r("busybox"), None);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].url(), "https://registry-1.docker.io");
        assert_eq!(e[0].repository, "library/busybox");
        let e = regs.endpoints(&r("localhost:5000/a"), None);
        assert_eq!(e[0].url(), "http://localhost:5000");
        let e = regs.endpoints(&r("127.0.0.9:5000/a"), None);
        assert_eq!(e[0].scheme, Scheme::Http);
        let e = regs.endpoints(&r("[::1]:5000/a"), None);
        assert_eq!(e[0].scheme, Scheme::Http);
        let e = regs.endpoints(&r("10.0.0.1:5000/a"), None);
        assert_eq!(e[0].scheme, Scheme::Https);
        let e = regs.endpoints(&r("localhost.example.com/a"), None);
        assert_eq!(e[0].scheme, Scheme::Https);
    }

    #[test]
    fn mirrors_rewrites_and_configs() {
        let regs = reg(r#"
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.example.com:5000"
      - "http://10.0.0.5:5000/v2"
    rewrite:
      "^rancher/(.*)": "mirror/rancher-images/$1"
  "*":
    endpoint: ["wild.example.com"]
  registry.example.com:
    endpoint: ["http://registry.example.com"]
configs:
  "mirror.example.com:5000":
    auth:
      username: u
      password: p
    tls:
      insecure_skip_verify: true
  "10.0.0.5:5000":
    auth:
      auth: dXNlcjpwYXNz
  docker.io:
    auth: {username: hub, password: secret}
"#);
        let e = regs.endpoints(&r("rancher/k3s:v1"), None);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].url(), "https://mirror.example.com:5000");
        assert_eq!(e[0].repository, "mirror/rancher-images/k3s");
        assert_eq!(e[0].mirror_of.as_deref(), Some("docker.io"));
        assert_eq!(
            e[0].settings.credentials,
            Some(Credentials::Basic("u".into(), "p".into()))
        );
        assert!(e[0].settings.insecure_skip_verify);
        assert_eq!(e[1].url(), "http://10.0.0.5:5000");
        assert_eq!(
            e[1].settings.credentials,
            Some(Credentials::Basic("user".into(), "pass".into()))
        );
        assert_eq!(e[2].url(), "https://registry-1.docker.io");
        assert_eq!(e[2].repository, "rancher/k3s");
        assert_eq!(
            e[2].settings.credentials,
            Some(Credentials::Basic("hub".into(), "secret".into()))
        );
        // Credentials from the kubelet win for the image's own registry only.
        let a = AuthConfig {
            username: "pod".into(),
            password: "pw".into(),
            ..Default::default()
        };
        let e = regs.endpoints(&r("library/busybox"), Some(&a));
        assert_eq!(
            e[2].settings.credentials,
            Some(Credentials::Basic("pod".into(), "pw".into()))
        );
        assert_eq!(
            e[0].settings.credentials,
            Some(Credentials::Basic("u".into(), "p".into()))
        );
        // Credentials for another registry are not sent.
        let other = AuthConfig {
            server_address: "https://quay.io".into(),
            ..a.clone()
        };
        let e = regs.endpoints(&r("busybox"), Some(&other));
        assert_eq!(
            e[2].settings.credentials,
            Some(Credentials::Basic("hub".into(), "secret".into()))
        );
        // The wildcard mirror covers registries without their own entry.
        let e = regs.endpoints(&r("quay.io/a/b"), None);
        assert_eq!(e[0].url(), "https://wild.example.com");
        assert_eq!(e[1].url(), "https://quay.io");
        // A registry listed as its own endpoint only changes its scheme.
        let e = regs.endpoints(&r("registry.example.com/a"), None);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].url(), "http://registry.example.com");
    }

    #[test]
    fn bad_files_are_refused() {
        let p = Path::new("registries.yaml");
        assert!(Registries::parse(p, "mirrors: [").is_err());
        assert!(Registries::parse(p, "mirrors:\n  a:\n    endpoint: ['ftp://x']\n").is_err());
        assert!(Registries::parse(p, "mirrors:\n  a:\n    rewrite: {'(': x}\n").is_err());
        assert!(Registries::parse(p, "configs:\n  a:\n    auth: {auth: '!!!'}\n").is_err());
        assert!(Registries::parse(p, "").is_ok());
        let a = AuthConfig {
            auth: "dXNlcjpwYXNz".into(),
            ..Default::default()
        };
        assert_eq!(a.basic(), Some(("user".into(), "pass".into())));
    }
}
