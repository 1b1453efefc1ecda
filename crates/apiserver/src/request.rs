//! Request routing: which endpoint a path names, and the query parameters of a resource
//! request.

use std::collections::HashMap;

use rkube_apimachinery::registry::ResourceInfo;

use crate::resources::Resources;
use rkube_apimachinery::status::ApiError;

/// What a request path names.
#[derive(Debug)]
pub enum Route {
    Health,
    Version,
    /// `/api`
    CoreRoot,
    /// `/apis`
    GroupsRoot,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    GroupVersion(String, String),
    OpenApiV2,
    OpenApiV3Root,
    OpenApiV3,
    Resource(ResourceRequest),
    NotFound,
}

/// A request for a resource, a single object, or one of its subresources.
#[derive(Clone, Debug)]
pub struct ResourceRequest {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl ResourceRequest {
    pub fn group(&self) -> &'static str {
        self.info.group
    }
    pub fn resource(&self) -> &'static str {
        self.info.plural
    }
}

pub fn route(path: &str, resources: &Resources) -> Result<Route, ApiError> {
    let path = path.trim_end_matches('/');
    match path {
        "/healthz" | "/livez" | "/readyz" => return Ok(Route::Health),
        p if p.starts_with("/healthz/")
            || p.starts_with("/livez/")
            || p.starts_with("/readyz/") =>
        {
            return Ok(Route::Health)
        }
        "/version" => return Ok(Route::Version),
        "/api" => return Ok(Route::CoreRoot),
        "/apis" => return Ok(Route::GroupsRoot),
        "/openapi/v2" => return Ok(Route::OpenApiV2),
        "/openapi/v3" => return Ok(Route::OpenApiV3Root),
        _ => {}
    }
    if path.starts_with("/openapi/v3/") {
        return Ok(Route::OpenApiV3);
    }
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Ok(Route::NotFound),
    };
    if rest.is_empty() {
        return Ok(Route::GroupVersion(group.to_string(), version.to_string()));
    }
    let (namespace, rest): (Option<&str>, &[&str]) = match rest {
        // /namespaces/<ns>/<resource>... (but /namespaces/<name>/status|finalize is the
        // namespace's own subresource)
        ["namespaces", ns, r, tail @ ..]
            if !matches!(*r, "status" | "finalize") || !tail.is_empty() =>
        {
            (Some(*ns), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s] => (*r, Some(*n), Some(*s)),
        _ => return Ok(Route::NotFound),
    };
    let Some(info) = resources.find(group, version, plural) else {
        return Ok(Route::NotFound);
    };
    if namespace.is_some() && !info.namespaced {
        return Ok(Route::NotFound);
    }
    if let Some(s) = sub {
        if info.subresource(s).is_none() {
            return Ok(Route::NotFound);
        }
    }
    for part in [namespace, name].into_iter().flatten() {
        if part.is_empty() || part == "." || part == ".." || part.contains('%') {
            return Err(ApiError::bad_request(format!(
                "invalid resource name {part:?}"
            )));
        }
    }
    Ok(Route::Resource(ResourceRequest {
        info,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    }))
}

/// Query parameters (repeated keys kept in order).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(q) = q {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value {v:?} for query parameter {key}"))
            }),
        }
    }

    /// `dryRun=All`; any other value is refused as upstream does.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        let all = self.all("dryRun");
        for v in all {
            if v != "All" {
                return Err(ApiError::bad_request(format!(
                    "Invalid dry run value: {v:?}; the only supported value is \"All\""
                )));
            }
        }
        Ok(!all.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourceRequest {
        match route(path, &Resources::default()).unwrap() {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes() {
        let r = res("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (
                r.info.plural,
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("log"))
        );
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.info.plural, r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!(
            (r.info.plural, r.name.as_deref(), r.subresource.as_deref()),
            ("namespaces", Some("x"), Some("status"))
        );
        let r = res("/api/v1/namespaces/x/services");
        assert_eq!(
            (r.info.plural, r.namespace.as_deref(), r.name),
            ("services", Some("x"), None)
        );
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.info.plural, r.namespace), ("deployments", None));
        assert!(
            matches!(route("/apis/apps/v1", &Resources::default()).unwrap(), Route::GroupVersion(g, v) if g == "apps" && v == "v1")
        );
        assert!(matches!(
            route("/apis/nope/v1/things", &Resources::default()).unwrap(),
            Route::NotFound
        ));
        assert!(matches!(
            route("/api/v1/namespaces/x/nodes", &Resources::default()).unwrap(),
            Route::NotFound
        ));
    }
}
