//! The immutable routing table the proxy reads: hosts → ordered routes → backends with their
//! ready endpoints. Built by [`crate::build`] (or by hand for tests and the benchmark) and
//! swapped whole, so a request sees one consistent version from lookup to response.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use regex::Regex;

use crate::annotations::Options;

/// A Service port resolved to ready endpoints.
#[derive(Debug, Default)]
pub struct Backend {
    /// `namespace/service:port`, for logs.
    pub name: String,
    pub endpoints: Vec<SocketAddr>,
    /// Round-robin cursor; shared by all requests on this table version.
    cursor: AtomicUsize,
}

impl Backend {
    pub fn new(name: impl Into<String>, endpoints: Vec<SocketAddr>) -> Self {
        Backend {
            name: name.into(),
            endpoints,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Index of the next endpoint in round-robin order (caller checks non-empty).
    pub fn next_index(&self) -> usize {
        let n = self.endpoints.len().max(1);
        self.cursor.fetch_add(1, Ordering::Relaxed) % n
    }
}

/// Facts about the Ingress a route came from.
#[derive(Debug)]
pub struct IngressInfo {
    /// `namespace/name`: rate-limit scope and log context.
    pub key: Arc<str>,
    pub options: Options,
}

impl IngressInfo {
    pub fn new(key: &str, options: Options) -> Self {
        IngressInfo {
            key: key.into(),
            options,
        }
    }
}

#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    /// Matches by path elements; stored without a trailing slash (`""` matches everything).
    Prefix(String),
    /// ingress-nginx's `~*` locations: case-insensitive, anchored at the start.
    Regex {
        source: String,
        re: Regex,
    },
}

impl PathMatch {
    pub fn prefix(p: &str) -> Self {
        PathMatch::Prefix(p.trim_end_matches('/').to_string())
    }

    pub fn regex(p: &str) -> Result<Self, regex::Error> {
        Ok(PathMatch::Regex {
            source: p.to_string(),
            re: Regex::new(&format!("(?i)^(?:{p})"))?,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => {
                p.is_empty()
                    || path
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
            PathMatch::Regex { re, .. } => re.is_match(path),
        }
    }

    /// Sort key: Exact first, then longest path first (ingress-nginx orders its locations so).
    fn rank(&self) -> (u8, std::cmp::Reverse<usize>) {
        match self {
            PathMatch::Exact(p) => (0, std::cmp::Reverse(p.len())),
            PathMatch::Prefix(p) => (1, std::cmp::Reverse(p.len())),
            PathMatch::Regex { source, .. } => (1, std::cmp::Reverse(source.len())),
        }
    }

    /// The path as written in the Ingress (cookie path for affinity).
    pub fn as_str(&self) -> &str {
        match self {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
            PathMatch::Regex { source, .. } => source,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub path: PathMatch,
    pub backend: Arc<Backend>,
    pub ingress: Arc<IngressInfo>,
}

/// The routes of one server (host), ordered by precedence.
#[derive(Debug, Default, Clone)]
pub struct HostRoutes {
    routes: Vec<Route>,
    default: Option<Route>,
}

impl HostRoutes {
    /// Adds a route; among equal-rank routes the earlier added (older Ingress) wins.
    pub fn push(&mut self, route: Route) {
        self.routes.push(route);
    }

    /// The backend used when no path matches (first one set wins).
    pub fn set_default(&mut self, route: Route) {
        if self.default.is_none() {
            self.default = Some(route);
        }
    }

    fn finish(&mut self) {
        // Stable: ties keep insertion (Ingress age) order.
        self.routes.sort_by_key(|r| r.path.rank());
    }

    fn lookup(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.path.matches(path))
            .or(self.default.as_ref())
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// Everything the proxy needs to route one request.
#[derive(Debug, Default)]
pub struct RoutingTable {
    exact: HashMap<String, HostRoutes>,
    /// Keyed by the suffix after `*.` (`foo.com` for `*.foo.com`).
    wildcard: HashMap<String, HostRoutes>,
    /// Rules without a host, and the default backend.
    catch_all: HostRoutes,
    /// Hosts (exact or `*.x`) some Ingress has TLS for: default ssl-redirect applies there.
    tls_hosts: HashSet<String>,
}

impl RoutingTable {
    /// Routes for `host` (`None`/empty = rules without host). Hosts are compared lowercase.
    pub fn host_mut(&mut self, host: Option<&str>) -> &mut HostRoutes {
        match host.filter(|h| !h.is_empty()) {
            None => &mut self.catch_all,
            Some(h) => {
                let h = h.to_ascii_lowercase();
                match h.strip_prefix("*.") {
                    Some(suffix) => self.wildcard.entry(suffix.to_string()).or_default(),
                    None => self.exact.entry(h).or_default(),
                }
            }
        }
    }

    pub fn add_tls_host(&mut self, host: &str) {
        self.tls_hosts.insert(host.to_ascii_lowercase());
    }

    /// Orders every host's routes; call once after adding everything.
    pub fn finish(mut self) -> Self {
        for h in self.exact.values_mut().chain(self.wildcard.values_mut()) {
            h.finish();
        }
        self.catch_all.finish();
        self
    }

    /// The server for a request host: exact name, then a wildcard matching exactly one label,
    /// then the catch-all server.
    fn server(&self, host: &str) -> &HostRoutes {
        if let Some(h) = self.exact.get(host) {
            return h;
        }
        if let Some((first, suffix)) = host.split_once('.') {
            if !first.is_empty() {
                if let Some(h) = self.wildcard.get(suffix) {
                    return h;
                }
            }
        }
        &self.catch_all
    }

    /// Finds the route for `host` (already lowercase, without port) and `path`.
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Route> {
        self.server(host).lookup(path)
    }

    /// Whether some Ingress declares TLS for `host`.
    pub fn host_has_tls(&self, host: &str) -> bool {
        self.tls_hosts.contains(host)
            || host
                .split_once('.')
                .is_some_and(|(_, s)| self.tls_hosts.contains(&format!("*.{s}")))
    }
}

/// Applies rewrite-target: nginx `rewrite` replaces the whole URI by `target` with `$n` taken
/// from the location regex's captures. Returns `None` when the regex does not match.
pub fn rewrite(path: &PathMatch, target: &str, uri_path: &str) -> Option<String> {
    let caps = match path {
        PathMatch::Regex { re, .. } => re.captures(uri_path)?,
        _ => return Some(target.to_string()),
    };
    let mut out = String::with_capacity(target.len() + uri_path.len());
    let mut chars = target.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '$' {
            let digits: String = target[i + 1..]
                .chars()
                .take_while(|d| d.is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                if let Ok(n) = digits.parse::<usize>() {
                    out.push_str(caps.get(n).map_or("", |m| m.as_str()));
                }
                for _ in 0..digits.len() {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: PathMatch, name: &str) -> Route {
        Route {
            path,
            backend: Arc::new(Backend::new(name, vec![])),
            ingress: Arc::new(IngressInfo::new("ns/ing", Options::default())),
        }
    }

    fn hit<'a>(t: &'a RoutingTable, host: &str, path: &str) -> Option<&'a str> {
        t.lookup(host, path).map(|r| r.backend.name.as_str())
    }

    #[test]
    fn prefix_matches_by_element() {
        let p = PathMatch::prefix("/foo/");
        assert!(p.matches("/foo"));
        assert!(p.matches("/foo/"));
        assert!(p.matches("/foo/bar"));
        assert!(!p.matches("/foobar"));
        assert!(PathMatch::prefix("/").matches("/anything"));
        assert!(!PathMatch::Exact("/foo".into()).matches("/foo/"));
    }

    #[test]
    fn precedence_exact_then_longest_prefix() {
        let mut t = RoutingTable::default();
        let h = t.host_mut(Some("Foo.com"));
        h.push(route(PathMatch::prefix("/"), "root"));
        h.push(route(PathMatch::prefix("/a"), "a"));
        h.push(route(PathMatch::prefix("/a/b"), "ab"));
        h.push(route(PathMatch::Exact("/a".into()), "exact-a"));
        let t = t.finish();
        assert_eq!(hit(&t, "foo.com", "/a"), Some("exact-a"));
        assert_eq!(hit(&t, "foo.com", "/a/"), Some("a"));
        assert_eq!(hit(&t, "foo.com", "/a/b/c"), Some("ab"));
        assert_eq!(hit(&t, "foo.com", "/ab"), Some("root"));
        assert_eq!(hit(&t, "bar.com", "/a"), None);
    }

    #[test]
    fn first_ingress_wins_ties() {
        let mut t = RoutingTable::default();
        t.host_mut(Some("x"))
            .push(route(PathMatch::prefix("/p"), "old"));
        t.host_mut(Some("x"))
            .push(route(PathMatch::prefix("/p"), "new"));
        let t = t.finish();
        assert_eq!(hit(&t, "x", "/p"), Some("old"));
    }

    #[test]
    fn exact_host_before_wildcard_and_one_label() {
        let mut t = RoutingTable::default();
        t.host_mut(Some("*.foo.com"))
            .push(route(PathMatch::prefix("/"), "wild"));
        t.host_mut(Some("www.foo.com"))
            .push(route(PathMatch::prefix("/x"), "www"));
        t.host_mut(None).push(route(PathMatch::prefix("/"), "any"));
        let t = t.finish();
        assert_eq!(hit(&t, "a.foo.com", "/"), Some("wild"));
        assert_eq!(hit(&t, "www.foo.com", "/x"), Some("www"));
        // The exact server is chosen even when only the wildcard has the path.
        assert_eq!(hit(&t, "www.foo.com", "/y"), None);
        assert_eq!(hit(&t, "a.b.foo.com", "/"), Some("any"));
        assert_eq!(hit(&t, "foo.com", "/"), Some("any"));
    }

    #[test]
    fn default_backend_when_no_path_matches() {
        let mut t = RoutingTable::default();
        t.host_mut(None)
            .set_default(route(PathMatch::prefix("/"), "default"));
        t.host_mut(None)
            .set_default(route(PathMatch::prefix("/"), "second"));
        t.host_mut(None)
            .push(route(PathMatch::prefix("/api"), "api"));
        let t = t.finish();
        assert_eq!(hit(&t, "whatever", "/api/v1"), Some("api"));
        assert_eq!(hit(&t, "whatever", "/other"), Some("default"));
    }

    #[test]
    fn regex_routes_rank_with_prefixes() {
        let mut t = RoutingTable::default();
        let h = t.host_mut(Some("r"));
        h.push(route(PathMatch::regex("/api(/|$)(.*)").unwrap(), "re"));
        h.push(route(PathMatch::prefix("/"), "root"));
        let t = t.finish();
        assert_eq!(hit(&t, "r", "/API/x"), Some("re"));
        assert_eq!(hit(&t, "r", "/apix"), Some("root"));
    }

    #[test]
    fn rewrite_with_captures() {
        let p = PathMatch::regex("/something(/|$)(.*)").unwrap();
        assert_eq!(
            rewrite(&p, "/$2", "/something/new").as_deref(),
            Some("/new")
        );
        assert_eq!(rewrite(&p, "/$2", "/something").as_deref(), Some("/"));
        assert_eq!(
            rewrite(&p, "/x/$2/$1$9", "/something/a/b").as_deref(),
            Some("/x/a/b//")
        );
        assert_eq!(rewrite(&p, "/$2", "/other"), None);
        assert_eq!(
            rewrite(&PathMatch::prefix("/a"), "/b", "/a/c").as_deref(),
            Some("/b")
        );
        let price = PathMatch::regex("/(.*)").unwrap();
        assert_eq!(rewrite(&price, "$1", "/p").as_deref(), Some("/p"));
    }

    #[test]
    fn tls_hosts_with_wildcards() {
        let mut t = RoutingTable::default();
        t.add_tls_host("secure.com");
        t.add_tls_host("*.wild.com");
        assert!(t.host_has_tls("secure.com"));
        assert!(t.host_has_tls("a.wild.com"));
        assert!(!t.host_has_tls("wild.com"));
        assert!(!t.host_has_tls("other.com"));
    }
}
