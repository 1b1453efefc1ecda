//! Framework-agnostic request handling mirroring kube-openapi's handlers:
//! Accept negotiation, ETags, `?hash=` redirects and cache headers.

use crate::openapi::{normalize_v3_path, OpenApi};

/// Content type of the v2 protobuf reply. kube-openapi answers both the
/// `...spec.v2@v1.0+protobuf` and `...spec.v2.v1.0+protobuf` Accept forms
/// with this dotted form; echoing the `@` form makes kubectl reject it.
pub const PROTOBUF_V2_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

const PROTOBUF_V2_DEPRECATED: &str = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
const PROTOBUF_V2: &str = "com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// An HTTP response to write back verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub status: u16,
    /// Header name/value pairs (Content-Type, ETag, Vary, Location, ...).
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
}

impl Reply<'_> {
    fn status(status: u16) -> Reply<'static> {
        Reply {
            status,
            headers: Vec::new(),
            body: &[],
        }
    }

    /// Value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One `type/subtype;q=` clause of an Accept header.
struct Clause<'a> {
    ty: &'a str,
    subtype: &'a str,
    q: f32,
}

/// Parses and orders Accept clauses like goautoneg: by quality, then by
/// specificity, keeping header order otherwise.
fn parse_accept(accept: &str) -> Vec<Clause<'_>> {
    let mut clauses: Vec<Clause<'_>> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let range = pieces.next()?.trim();
            let (ty, subtype) = range.split_once('/').unwrap_or((range, "*"));
            let mut q = 1.0f32;
            for p in pieces {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            (q > 0.0 && !ty.is_empty()).then_some(Clause {
                ty: ty.trim(),
                subtype: subtype.trim(),
                q,
            })
        })
        .collect();
    let specificity = |c: &Clause<'_>| u8::from(c.ty != "*") + u8::from(c.subtype != "*");
    clauses.sort_by(|a, b| {
        b.q.total_cmp(&a.q)
            .then_with(|| specificity(b).cmp(&specificity(a)))
    });
    clauses
}

/// Picks the first offered (subtype, content type) the client accepts.
fn negotiate(
    accept: Option<&str>,
    offers: &[(&'static str, &'static str)],
) -> Option<&'static str> {
    let accept = accept.filter(|a| !a.trim().is_empty()).unwrap_or("*/*");
    for clause in parse_accept(accept) {
        for (subtype, content_type) in offers {
            let type_ok = clause.ty == "application" || clause.ty == "*";
            let sub_ok = clause.subtype == *subtype || clause.subtype == "*";
            if type_ok && sub_ok {
                return Some(content_type);
            }
        }
    }
    None
}

fn etag_matches(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|h| {
        h.split(',').any(|t| {
            let t = t.trim().trim_start_matches("W/");
            t == "*" || t.trim_matches('"') == etag
        })
    })
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl OpenApi {
    /// Answers a GET for `/openapi/v2`, `/openapi/v3` or
    /// `/openapi/v3/<group-version>`; `None` when `path` is none of those.
    ///
    /// `query` is the raw query string (for v3 `hash`), `accept` and
    /// `if_none_match` the request headers.
    pub fn handle(
        &self,
        path: &str,
        query: Option<&str>,
        accept: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Option<Reply<'_>> {
        let path = path.trim_end_matches('/');
        if path == "/openapi/v2" {
            return Some(self.handle_v2(accept, if_none_match));
        }
        if path == "/openapi/v3" {
            return Some(finish(
                self.v3_root(),
                "application/json",
                self.v3_root_etag(),
                if_none_match,
                Vec::new(),
            ));
        }
        let gv = path.strip_prefix("/openapi/v3/")?;
        Some(self.handle_v3(gv, query, accept, if_none_match))
    }

    fn handle_v2(&self, accept: Option<&str>, if_none_match: Option<&str>) -> Reply<'_> {
        let offers = [
            ("json", "application/json"),
            (PROTOBUF_V2_DEPRECATED, PROTOBUF_V2_CONTENT_TYPE),
            (PROTOBUF_V2, PROTOBUF_V2_CONTENT_TYPE),
        ];
        let Some(content_type) = negotiate(accept, &offers) else {
            return not_acceptable();
        };
        let body = if content_type == PROTOBUF_V2_CONTENT_TYPE {
            self.v2_protobuf()
        } else {
            self.v2_json()
        };
        finish(
            body,
            content_type,
            self.v2_etag(),
            if_none_match,
            vec![("Vary", "Accept".to_owned())],
        )
    }

    fn handle_v3(
        &self,
        gv: &str,
        query: Option<&str>,
        accept: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Reply<'_> {
        let gv = normalize_v3_path(gv);
        let (Some(body), Some(hash)) = (self.v3_group_version(gv), self.v3_group_version_hash(gv))
        else {
            return Reply::status(404);
        };
        // Only JSON is produced for v3 (kubectl requests JSON there).
        let Some(content_type) = negotiate(accept, &[("json", "application/json")]) else {
            return not_acceptable();
        };
        let mut extra = vec![("Vary", "Accept".to_owned())];
        if let Some(requested) = query_param(query, "hash") {
            if requested != hash {
                // Stale link: send the client to the current document.
                let mut r = Reply::status(301);
                r.headers
                    .push(("Location", format!("/openapi/v3/{gv}?hash={hash}")));
                return r;
            }
            // The URL names the content, so it may be cached forever.
            extra.push((
                "Cache-Control",
                "public, immutable, max-age=31536000".to_owned(),
            ));
        }
        finish(body, content_type, hash, if_none_match, extra)
    }
}

fn not_acceptable() -> Reply<'static> {
    Reply::status(406)
}

fn finish<'a>(
    body: &'a [u8],
    content_type: &'static str,
    etag: &str,
    if_none_match: Option<&str>,
    extra: Vec<(&'static str, String)>,
) -> Reply<'a> {
    let mut headers = vec![
        ("Content-Type", content_type.to_owned()),
        ("ETag", format!("\"{etag}\"")),
    ];
    headers.extend(extra);
    if etag_matches(if_none_match, etag) {
        return Reply {
            status: 304,
            headers,
            body: &[],
        };
    }
    Reply {
        status: 200,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let offers = [
            ("json", "application/json"),
            (PROTOBUF_V2_DEPRECATED, PROTOBUF_V2_CONTENT_TYPE),
            (PROTOBUF_V2, PROTOBUF_V2_CONTENT_TYPE),
        ];
        assert_eq!(
            negotiate(
                Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
                &offers
            ),
            Some(PROTOBUF_V2_CONTENT_TYPE)
        );
        assert_eq!(
            negotiate(
                Some(
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json;q=0.9"
                ),
                &offers
            ),
            Some(PROTOBUF_V2_CONTENT_TYPE)
        );
        assert_eq!(
            negotiate(
                Some(
                    "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
                ),
                &offers
            ),
            Some(PROTOBUF_V2_CONTENT_TYPE)
        );
        assert_eq!(
            negotiate(Some("application/json"), &offers),
            Some("application/json")
        );
        assert_eq!(negotiate(None, &offers), Some("application/json"));
        assert_eq!(negotiate(Some("*/*"), &offers), Some("application/json"));
        assert_eq!(negotiate(Some("text/html"), &offers), None);
    }

    #[test]
    fn etags() {
        assert!(etag_matches(Some("\"ABC\""), "ABC"));
        assert!(etag_matches(Some("W/\"X\", \"ABC\""), "ABC"));
        assert!(!etag_matches(Some("\"ABD\""), "ABC"));
        assert!(!etag_matches(None, "ABC"));
    }
}
