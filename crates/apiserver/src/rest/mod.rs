//! The REST verbs on resources: routing a resource request to get, list, watch, create,
//! update, patch, delete and deletecollection, and the body decoding they share.

mod delete;
mod read;
mod subresource;
mod write;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use rkube_apimachinery::status::ApiError;
use rkube_store::StoreError;
use serde_json::Value;

use crate::http::{json_response, Body};
use crate::request::{Query, ResourceRequest};
use crate::ApiServer;

pub use read::{cache_error as read_cache_error, list_filter};

/// Everything a handler needs about the request.
pub struct Ctx<'a> {
    pub srv: &'a ApiServer,
    pub rr: ResourceRequest,
    pub query: Query,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    /// `Warning` headers to send with the reply.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        srv: &'a ApiServer,
        rr: ResourceRequest,
        query: Query,
        headers: &'a HeaderMap,
        body: Bytes,
    ) -> Self {
        Ctx {
            srv,
            rr,
            query,
            headers,
            body,
            warnings: Default::default(),
        }
    }

    pub fn warn(&self, w: impl IntoIterator<Item = String>) {
        if let Ok(mut list) = self.warnings.lock() {
            list.extend(w);
        }
    }

    /// Custom-resource schema checks (no-op for built-in kinds).
    pub fn admit_custom(&self, obj: &mut Value) -> Result<(), ApiError> {
        let mode =
            crate::admission::FieldValidation::from_query(self.query.get("fieldValidation"))?;
        let info = self.rr.info;
        if self
            .srv
            .resources
            .crd_version(info.group, info.version, info.plural)
            .is_some()
        {
            let w = crate::admission::custom_resource(&self.srv.resources, info, obj, mode)?;
            self.warn(w);
            return Ok(());
        }
        // Built-in kinds: unknown fields are dropped (as upstream's typed decoding does) and
        // reported per `fieldValidation`.
        if let Some(doc) = self.srv.openapi_ready() {
            let pruned = doc.prune_unknown(info.group, info.version, info.kind, obj);
            let w = crate::admission::unknown_fields(pruned, mode)?;
            self.warn(w);
        }
        Ok(())
    }

    pub fn accept(&self) -> &str {
        self.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    /// The store key of the named object.
    pub fn key(&self) -> Result<String, ApiError> {
        let name = self.rr.name.as_deref().unwrap_or("");
        self.rr
            .info
            .storage_key(self.rr.namespace.as_deref(), name)
            .ok_or_else(|| ApiError::method_not_allowed("this resource is not stored"))
    }

    pub fn not_found(&self) -> ApiError {
        ApiError::not_found(
            self.rr.group(),
            self.rr.resource(),
            self.rr.name.as_deref().unwrap_or(""),
        )
    }

    /// Decodes the request body (JSON or YAML) into an object.
    pub fn decode_body(&self) -> Result<Value, ApiError> {
        decode(self.content_type(), &self.body)
    }
}

pub fn decode(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let v: Value = match mime {
        "application/json" | "" | "*/*" => {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("json: {e}")))?
        }
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("yaml: {e}")))?
        }
        crate::protobuf::MEDIA_TYPE => crate::protobuf::decode_body(body).map_err(|e| match e {
            crate::protobuf::DecodeError::UnknownKind { .. } => {
                ApiError::unsupported_media_type(mime)
            }
            other => ApiError::bad_request(other.to_string()),
        })?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    Ok(v)
}

/// Deepest flow-collection nesting (`[`/`{`) a YAML body may have. The YAML parser reads a
/// whole document before its own recursion limit fires, which costs seconds of CPU on a
/// 3 MiB body of brackets; this linear pre-scan refuses such bodies at once.
const MAX_YAML_NESTING: usize = 256;

/// Parses a YAML (or JSON) body into an object value.
pub fn parse_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for &b in body {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if b == b'\\' && q == b'"' {
                    escaped = true;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        if max > MAX_YAML_NESTING {
            return Err(ApiError::bad_request(format!(
                "yaml: nesting deeper than {MAX_YAML_NESTING} levels"
            )));
        }
    }
    serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("yaml: {e}")))
}

/// Maps store failures on one object to API errors.
pub fn store_error(ctx: &Ctx<'_>, e: StoreError) -> ApiError {
    let (group, resource) = (ctx.rr.group(), ctx.rr.resource());
    let name = ctx.rr.name.as_deref().unwrap_or("");
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(group, resource, name),
        StoreError::AlreadyExists { .. } => ApiError::already_exists(group, resource, name),
        StoreError::Conflict { .. } => ApiError::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        StoreError::ValueTooLarge { .. } => ApiError::too_large(format!("{e}")),
        StoreError::Compacted { .. } => ApiError::expired(format!("{e}")),
        other => ApiError::internal(other.to_string()),
    }
}

pub async fn handle(ctx: Ctx<'_>, method: &Method) -> Result<Response<Body>, ApiError> {
    let mut resp = dispatch(&ctx, method).await?;
    let warnings = ctx.warnings.lock().map(|w| w.clone()).unwrap_or_default();
    for w in warnings {
        // RFC 7234 warn-text: quotes and backslashes escaped, or kubectl drops it.
        let text = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = http::HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    Ok(resp)
}

async fn dispatch(ctx: &Ctx<'_>, method: &Method) -> Result<Response<Body>, ApiError> {
    if ctx.rr.info.group == "metrics.k8s.io" {
        if *method != Method::GET || ctx.query.flag("watch") {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        return crate::metrics::handle(ctx).await;
    }
    let sub = ctx.rr.subresource.clone();
    let has_name = ctx.rr.name.is_some();
    let verb_ok = |verb: &str| match &sub {
        Some(s) => ctx.rr.info.subresource(s).is_some_and(|i| i.has_verb(verb)),
        None => ctx.rr.info.has_verb(verb),
    };
    let not_allowed = || {
        ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )
    };
    match (method.clone(), has_name, sub.as_deref()) {
        (Method::GET, false, None) if ctx.query.flag("watch") => {
            if !verb_ok("watch") {
                return Err(not_allowed());
            }
            crate::watch::serve(ctx).await
        }
        (Method::GET, false, None) if verb_ok("list") => read::list(ctx).await,
        (Method::GET, true, None) if ctx.query.flag("watch") => crate::watch::serve(ctx).await,
        (Method::GET, true, Some("scale")) => subresource::get_scale(ctx).await,
        (Method::PUT, true, Some("scale")) => subresource::update_scale(ctx, false).await,
        (Method::PATCH, true, Some("scale")) => subresource::update_scale(ctx, true).await,
        (Method::POST, true, Some("binding")) => subresource::bind(ctx).await,
        (Method::POST, true, Some("eviction")) => subresource::evict(ctx).await,
        (Method::POST, true, Some("token")) if ctx.rr.resource() == "serviceaccounts" => {
            subresource::token(ctx).await
        }
        (Method::PUT, true, Some("finalize")) => subresource::finalize(ctx).await,
        (Method::GET, true, None | Some("status")) if verb_ok("get") => read::get(ctx).await,
        (Method::POST, false, None) if verb_ok("create") => write::create(ctx).await,
        (Method::PUT, true, None | Some("status")) if verb_ok("update") => write::update(ctx).await,
        (Method::PATCH, true, None | Some("status")) if verb_ok("patch") => write::patch(ctx).await,
        (Method::DELETE, true, None) if verb_ok("delete") => delete::delete(ctx).await,
        (Method::DELETE, false, None) if verb_ok("deletecollection") => {
            delete::delete_collection(ctx).await
        }
        _ => Err(not_allowed()),
    }
}

/// A JSON reply.
pub fn reply(code: StatusCode, v: &Value) -> Result<Response<Body>, ApiError> {
    Ok(json_response(code, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_yaml_is_refused_quickly() {
        let body = "[".repeat(3 * 1024 * 1024);
        let started = std::time::Instant::now();
        let e = parse_yaml(body.as_bytes()).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Brackets inside strings do not count.
        let quoted = format!("a: \"{}\"\nb: 1\n", "[".repeat(1000));
        assert!(parse_yaml(quoted.as_bytes()).is_ok());
        assert!(parse_yaml(b"a: {b: [1, {c: 2}]}\n").is_ok());
    }
}
