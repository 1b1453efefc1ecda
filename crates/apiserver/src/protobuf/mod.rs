//! Decoding of Kubernetes protobuf request bodies into Kubernetes JSON.
//!
//! kubectl 1.32+ sends `Content-Type: application/vnd.kubernetes.protobuf` for
//! typed create commands (`create secret generic`, `create namespace`,
//! `create deployment`, ...), and treats a 415 reply as fatal. rkube stores and
//! serves objects as JSON, so it needs the JSON form of such a body.
//!
//! A body is the 4-byte prefix `k8s\0` followed by a `runtime.Unknown` message
//! `{typeMeta{apiVersion, kind} = 1, raw = 2, contentEncoding = 3, contentType = 4}`
//! whose `raw` is the object's own protobuf encoding. Protobuf carries only
//! field numbers, so the decoder walks `raw` with a schema table generated from
//! the k8s-pb crate (wire layout) and the Go API types (JSON names, omitempty,
//! pointers, inline embedding) — see `tools/gen_schema.py`.
//!
//! The result is what Go's `json.Marshal` writes for the object the upstream
//! apiserver would decode from the same bytes, i.e. what kubectl sends in JSON
//! mode: `creationTimestamp: null`, `status: {}`, `resources: {}` and zero
//! pointer values such as `replicas: 0` are kept; zero values of `omitempty`
//! value fields (`namespace: ""`, `hostPort: 0`) are left out.
//!
//! ```
//! # fn demo(body: &[u8]) -> Result<(), protobody::DecodeError> {
//! let object = protobody::decode_body(body)?;
//! assert!(object["kind"].is_string());
//! # Ok(()) }
//! ```

mod decode;
#[rustfmt::skip]
mod generated;
pub(crate) mod gofmt;
mod schema;
mod wire;

use serde_json::Value;

use crate::protobuf::wire::{Raw, Reader};

/// Prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\x00";

/// The media type clients use for Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a body could not be decoded. Every variant is a client error (HTTP 400
/// or, for [`DecodeError::UnknownKind`], 415), never a server fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body lacks the `k8s\0` prefix.
    #[error("protobuf body does not start with the Kubernetes prefix \"k8s\\x00\"")]
    MissingMagic,
    /// The `runtime.Unknown` envelope is not valid protobuf.
    #[error("malformed protobuf envelope (runtime.Unknown): {0}")]
    Envelope(String),
    /// The envelope declares a content encoding (e.g. gzip); none is supported.
    #[error("unsupported contentEncoding {0:?} in protobuf envelope")]
    UnsupportedEncoding(String),
    /// The envelope's raw object is neither protobuf nor JSON.
    #[error("unsupported contentType {0:?} in protobuf envelope")]
    UnsupportedContentType(String),
    /// No protobuf schema is known for this type (e.g. custom resources, which
    /// have no protobuf encoding, or a kind from an unserved version).
    #[error("no protobuf schema for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownKind {
        /// The envelope's `typeMeta.apiVersion`.
        api_version: String,
        /// The envelope's `typeMeta.kind`.
        kind: String,
    },
    /// The object bytes do not fit the schema.
    #[error("malformed protobuf at {path}: {reason}")]
    Malformed {
        /// Location in JSON terms, e.g. `Deployment.spec.replicas`.
        path: String,
        /// What is wrong there.
        reason: String,
    },
}

/// Decodes a protobuf request body (`k8s\0` + `runtime.Unknown`) into the
/// object's Kubernetes JSON, with `apiVersion` and `kind` taken from the envelope.
pub fn decode_body(body: &[u8]) -> Result<Value, DecodeError> {
    decode_body_at(body, 0)
}

/// Decodes the protobuf encoding of one object (the envelope's `raw`) whose
/// type is known from elsewhere, e.g. the request path.
pub fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Result<Value, DecodeError> {
    decode_object_at(api_version, kind, raw, 0)
}

/// Whether objects of this apiVersion and kind can be decoded.
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema::kind_message(api_version, kind).is_some()
}

/// The contents of a `runtime.Unknown`.
#[derive(Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

fn text(raw: Raw<'_>, what: &str) -> Result<String, DecodeError> {
    match raw {
        Raw::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(DecodeError::Envelope(format!(
            "{what} has wire type {}, expected 2",
            other.wire_type()
        ))),
    }
}

fn parse_envelope(data: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let wire = |e: wire::WireError| DecodeError::Envelope(e.to_string());
    let mut env = Envelope::default();
    let mut reader = Reader::new(data);
    while !reader.is_empty() {
        match reader.field().map_err(wire)? {
            (1, Some(Raw::Bytes(type_meta))) => {
                let mut tm = Reader::new(type_meta);
                while !tm.is_empty() {
                    match tm.field().map_err(wire)? {
                        (1, Some(raw)) => env.api_version = text(raw, "typeMeta.apiVersion")?,
                        (2, Some(raw)) => env.kind = text(raw, "typeMeta.kind")?,
                        _ => {}
                    }
                }
            }
            (2, Some(Raw::Bytes(raw))) => env.raw = raw,
            (3, Some(raw)) => env.content_encoding = text(raw, "contentEncoding")?,
            (4, Some(raw)) => env.content_type = text(raw, "contentType")?,
            (n @ (1 | 2), Some(raw)) => {
                return Err(DecodeError::Envelope(format!(
                    "field {n} has wire type {}, expected 2",
                    raw.wire_type()
                )))
            }
            _ => {}
        }
    }
    Ok(env)
}

/// [`decode_body`] at a given nesting depth, so bodies embedded in a
/// RawExtension count against the same depth limit.
pub(crate) fn decode_body_at(body: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let data = body.strip_prefix(MAGIC).ok_or(DecodeError::MissingMagic)?;
    let env = parse_envelope(data)?;
    if !env.content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedEncoding(env.content_encoding));
    }
    match env.content_type.as_str() {
        "" | MEDIA_TYPE => decode_object_at(&env.api_version, &env.kind, env.raw, depth),
        "application/json" => {
            let mut value: Value = serde_json::from_slice(env.raw)
                .map_err(|e| DecodeError::Envelope(format!("raw JSON object is invalid: {e}")))?;
            if let Value::Object(map) = &mut value {
                set_type_meta(map, &env.api_version, &env.kind);
            }
            Ok(value)
        }
        _ => Err(DecodeError::UnsupportedContentType(env.content_type)),
    }
}

fn decode_object_at(
    api_version: &str,
    kind: &str,
    raw: &[u8],
    depth: usize,
) -> Result<Value, DecodeError> {
    let unknown = || DecodeError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    };
    let id = schema::kind_message(api_version, kind).ok_or_else(unknown)?;
    let def = schema::message(id).ok_or_else(unknown)?;
    let mut value = decode::Decoder::new(def.short_name(), depth).message(id, raw)?;
    if let Value::Object(map) = &mut value {
        set_type_meta(map, api_version, kind);
    }
    Ok(value)
}

/// metav1.TypeMeta is `json:",inline"` with omitempty members; go-to-protobuf
/// leaves it out of the object encoding, so it comes from the envelope.
fn set_type_meta(map: &mut serde_json::Map<String, Value>, api_version: &str, kind: &str) {
    if !kind.is_empty() {
        map.insert("kind".to_owned(), Value::String(kind.to_owned()));
    }
    if !api_version.is_empty() {
        map.insert(
            "apiVersion".to_owned(),
            Value::String(api_version.to_owned()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_missing_magic() {
        assert_eq!(decode_body(b"{}"), Err(DecodeError::MissingMagic));
        assert_eq!(decode_body(b"k8s"), Err(DecodeError::MissingMagic));
    }

    #[test]
    fn unknown_kind() {
        // typeMeta{apiVersion "example.com/v1", kind "Widget"}
        let mut body = MAGIC.to_vec();
        let tm = [&[0x0a, 14][..], b"example.com/v1", &[0x12, 6], b"Widget"].concat();
        body.extend_from_slice(&[0x0a, tm.len() as u8]);
        body.extend_from_slice(&tm);
        let err = decode_body(&body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no protobuf schema for apiVersion \"example.com/v1\", kind \"Widget\""
        );
    }

    #[test]
    fn empty_envelope_is_an_unknown_kind() {
        assert!(matches!(
            decode_body(MAGIC),
            Err(DecodeError::UnknownKind { .. })
        ));
    }
}
