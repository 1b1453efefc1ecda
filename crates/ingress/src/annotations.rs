//! The `nginx.ingress.kubernetes.io/*` annotations this controller understands, parsed once per
//! table build into [`Options`]. Values follow ingress-nginx: timeouts in seconds, sizes in
//! nginx syntax (`8m`), booleans `"true"`/`"false"`.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;

pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// ingress-nginx's default `proxy-body-size` (`client_max_body_size 1m`).
pub const DEFAULT_BODY_SIZE: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendProtocol {
    #[default]
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affinity {
    pub cookie_name: String,
    /// `None` means the matched location's path (as ingress-nginx does).
    pub cookie_path: Option<String>,
    pub max_age: Option<u64>,
}

/// Per-Ingress proxy behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `None` = default: redirect when the host has TLS.
    pub ssl_redirect: Option<bool>,
    pub force_ssl_redirect: bool,
    pub rewrite_target: Option<String>,
    pub use_regex: bool,
    pub limit_rps: Option<u32>,
    pub limit_rpm: Option<u32>,
    pub limit_connections: Option<u32>,
    pub limit_burst_multiplier: u32,
    /// `None` = unlimited (`proxy-body-size: 0`).
    pub body_size: Option<u64>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    pub backend_protocol: BackendProtocol,
    pub affinity: Option<Affinity>,
    pub whitelist: Option<Vec<IpNet>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ssl_redirect: None,
            force_ssl_redirect: false,
            rewrite_target: None,
            use_regex: false,
            limit_rps: None,
            limit_rpm: None,
            limit_connections: None,
            limit_burst_multiplier: 5,
            body_size: Some(DEFAULT_BODY_SIZE),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            backend_protocol: BackendProtocol::Http,
            affinity: None,
            whitelist: None,
        }
    }
}

impl Options {
    /// Regex paths are used when asked for or implied by rewrite-target (as ingress-nginx).
    pub fn regex_paths(&self) -> bool {
        self.use_regex || self.rewrite_target.is_some()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnnotationError {
    /// Snippets inject raw proxy configuration; we cannot honour them and refuse the Ingress
    /// rather than silently serving it differently from what was asked.
    #[error("annotation {0} (configuration snippets) is not supported; Ingress refused")]
    Snippet(String),
    #[error("annotation {key}: invalid value {value:?}; Ingress refused")]
    Invalid { key: String, value: String },
}

/// Parses the annotations. Errors refuse the whole Ingress; `warnings` lists values that were
/// ignored in favour of the default (ingress-nginx also falls back to defaults there).
pub fn parse(
    annotations: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Options, AnnotationError> {
    let mut o = Options::default();
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        if name.ends_with("snippet") || name.ends_with("snippets") {
            return Err(AnnotationError::Snippet(key.clone()));
        }
        let v = value.trim();
        let mut bad = false;
        match name {
            "ssl-redirect" => o.ssl_redirect = parse_bool(v).or_else(|| flag(&mut bad)),
            "force-ssl-redirect" => {
                o.force_ssl_redirect = parse_bool(v).unwrap_or_else(|| bad_default(&mut bad))
            }
            "rewrite-target" => o.rewrite_target = Some(v.to_string()),
            "use-regex" => o.use_regex = parse_bool(v).unwrap_or_else(|| bad_default(&mut bad)),
            "limit-rps" | "rate-limit" => o.limit_rps = positive(v).or_else(|| flag(&mut bad)),
            "limit-rpm" => o.limit_rpm = positive(v).or_else(|| flag(&mut bad)),
            "limit-connections" => o.limit_connections = positive(v).or_else(|| flag(&mut bad)),
            "limit-burst-multiplier" => match positive(v) {
                Some(m) => o.limit_burst_multiplier = m,
                None => bad = true,
            },
            "proxy-body-size" => match parse_size(v) {
                Some(0) => o.body_size = None,
                Some(n) => o.body_size = Some(n),
                None => bad = true,
            },
            "proxy-connect-timeout" => set_secs(&mut o.connect_timeout, v, &mut bad),
            "proxy-read-timeout" => set_secs(&mut o.read_timeout, v, &mut bad),
            "proxy-send-timeout" => set_secs(&mut o.send_timeout, v, &mut bad),
            "backend-protocol" => match v.to_ascii_uppercase().as_str() {
                "HTTP" => o.backend_protocol = BackendProtocol::Http,
                "HTTPS" => o.backend_protocol = BackendProtocol::Https,
                _ => bad = true,
            },
            "whitelist-source-range" | "allowlist-source-range" => {
                // A mistyped allow list must not open the service to everyone: refuse.
                let nets = parse_cidrs(v).ok_or_else(|| AnnotationError::Invalid {
                    key: key.clone(),
                    value: value.clone(),
                })?;
                o.whitelist = Some(nets);
            }
            _ => {}
        }
        if bad {
            warnings.push(format!(
                "annotation {key}: ignoring invalid value {value:?}"
            ));
        }
    }
    if annotations
        .get(&format!("{PREFIX}affinity"))
        .is_some_and(|v| v.trim() == "cookie")
    {
        let get = |n: &str| annotations.get(&format!("{PREFIX}{n}")).map(|s| s.trim());
        o.affinity = Some(Affinity {
            cookie_name: get("session-cookie-name")
                .filter(|s| valid_cookie_name(s))
                .unwrap_or("INGRESSCOOKIE")
                .to_string(),
            cookie_path: get("session-cookie-path").map(str::to_string),
            max_age: get("session-cookie-max-age").and_then(|s| s.parse().ok()),
        });
    }
    Ok(o)
}

fn flag<T>(bad: &mut bool) -> Option<T> {
    *bad = true;
    None
}

fn bad_default(bad: &mut bool) -> bool {
    *bad = true;
    false
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn positive(v: &str) -> Option<u32> {
    v.parse::<u32>().ok().filter(|n| *n > 0)
}

fn set_secs(d: &mut Duration, v: &str, bad: &mut bool) {
    match v.trim_end_matches('s').parse::<u64>() {
        Ok(n) if n > 0 => *d = Duration::from_secs(n),
        _ => *bad = true,
    }
}

/// nginx size syntax: `1024`, `8k`, `8m`, `1g` (case-insensitive).
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.chars().last()?.to_ascii_lowercase() {
        'k' => (&v[..v.len() - 1], 1024),
        'm' => (&v[..v.len() - 1], 1024 * 1024),
        'g' => (&v[..v.len() - 1], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn parse_cidrs(v: &str) -> Option<Vec<IpNet>> {
    let mut out = Vec::new();
    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = part
            .parse::<IpNet>()
            .ok()
            .or_else(|| part.parse::<std::net::IpAddr>().ok().map(IpNet::from))?;
        out.push(net);
    }
    (!out.is_empty()).then_some(out)
}

fn valid_cookie_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let mut w = vec![];
        let o = parse(&BTreeMap::new(), &mut w).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.body_size, Some(1024 * 1024));
        assert!(w.is_empty());
    }

    #[test]
    fn parses_values() {
        let mut w = vec![];
        let o = parse(
            &ann(&[
                ("ssl-redirect", "false"),
                ("force-ssl-redirect", "true"),
                ("rewrite-target", "/$2"),
                ("rate-limit", "7"),
                ("limit-rpm", "120"),
                ("limit-connections", "3"),
                ("proxy-body-size", "8m"),
                ("proxy-read-timeout", "2"),
                ("proxy-send-timeout", "3"),
                ("backend-protocol", "https"),
                ("affinity", "cookie"),
                ("whitelist-source-range", "10.0.0.0/8, 192.168.1.1"),
            ]),
            &mut w,
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.ssl_redirect, Some(false));
        assert!(o.force_ssl_redirect);
        assert!(o.regex_paths());
        assert_eq!(o.limit_rps, Some(7));
        assert_eq!(o.limit_rpm, Some(120));
        assert_eq!(o.limit_connections, Some(3));
        assert_eq!(o.body_size, Some(8 * 1024 * 1024));
        assert_eq!(o.read_timeout, Duration::from_secs(2));
        assert_eq!(o.send_timeout, Duration::from_secs(3));
        assert_eq!(o.backend_protocol, BackendProtocol::Https);
        assert_eq!(o.affinity.as_ref().unwrap().cookie_name, "INGRESSCOOKIE");
        let wl = o.whitelist.unwrap();
        assert_eq!(wl.len(), 2);
        assert!(wl[1].contains(&"192.168.1.1".parse::<std::net::IpAddr>().unwrap()));
    }

    #[test]
    fn body_size_zero_is_unlimited_and_sizes_parse() {
        let mut w = vec![];
        let o = parse(&ann(&[("proxy-body-size", "0")]), &mut w).unwrap();
        assert_eq!(o.body_size, None);
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn snippets_refuse() {
        let mut w = vec![];
        for k in [
            "configuration-snippet",
            "server-snippet",
            "auth-snippet",
            "stream-snippet",
        ] {
            assert_eq!(
                parse(&ann(&[(k, "return 200;")]), &mut w),
                Err(AnnotationError::Snippet(format!("{PREFIX}{k}")))
            );
        }
    }

    #[test]
    fn bad_whitelist_refuses_and_bad_values_warn() {
        let mut w = vec![];
        assert!(matches!(
            parse(&ann(&[("whitelist-source-range", "10.0.0.0/33")]), &mut w),
            Err(AnnotationError::Invalid { .. })
        ));
        let o = parse(
            &ann(&[("limit-rps", "lots"), ("proxy-read-timeout", "-1")]),
            &mut w,
        )
        .unwrap();
        assert_eq!(o.limit_rps, None);
        assert_eq!(o.read_timeout, Duration::from_secs(60));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn affinity_cookie_name() {
        let mut w = vec![];
        let o = parse(
            &ann(&[("affinity", "cookie"), ("session-cookie-name", "route")]),
            &mut w,
        )
        .unwrap();
        assert_eq!(o.affinity.unwrap().cookie_name, "route");
        let o = parse(&ann(&[("session-cookie-name", "route")]), &mut w).unwrap();
        assert!(o.affinity.is_none());
    }
}
