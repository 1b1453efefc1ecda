//! Field paths: the vocabulary of ownership.
//!
//! A path names one node in an object: a struct/map field (`.spec`), an item of an
//! associative list by its key fields (`[name="web"]`), an item of a set by its value
//! (`[="a"]`) or, rarely, a list position (`[0]`). Ownership, conflicts and removals are
//! all expressed as sets of such paths.

use crate::ssa::value::{compare, go_to_string, to_go_json, write_go_json, write_go_string};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// One step of a [`Path`].
///
/// The ordering (fields < keys < values < indices, then by content) is upstream's, so
/// that sets iterate and serialize in the same order as the Go implementation.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of a struct or an entry of a map (`f:<name>`).
    Field(String),
    /// An associative-list item identified by its key fields, sorted by name
    /// (`k:{"name":"web"}`).
    Key(Vec<(String, Value)>),
    /// A set-list item identified by its own value (`v:"a"`).
    Value(Value),
    /// A list position (`i:0`); only produced for lists without identity.
    Index(i64),
}

impl PathElement {
    /// Convenience constructor for [`PathElement::Field`].
    pub fn field(name: impl Into<String>) -> Self {
        PathElement::Field(name.into())
    }

    /// Builds a key element, sorting the fields by name as upstream does so that equal
    /// keys compare and serialize identically regardless of the caller's order.
    pub fn key<K: Into<String>>(fields: impl IntoIterator<Item = (K, Value)>) -> Self {
        let mut v: Vec<(String, Value)> = fields.into_iter().map(|(k, v)| (k.into(), v)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(v)
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The FieldsV1 key for this element (`f:name`, `k:{...}`, `v:...`, `i:n`).
    pub fn to_fields_v1_key(&self) -> String {
        let mut out = String::new();
        match self {
            PathElement::Field(name) => {
                out.push_str("f:");
                out.push_str(name);
            }
            PathElement::Key(fields) => {
                out.push_str("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_go_string(&mut out, name);
                    out.push(':');
                    write_go_json(&mut out, value);
                }
                out.push('}');
            }
            PathElement::Value(v) => {
                out.push_str("v:");
                out.push_str(&to_go_json(v));
            }
            PathElement::Index(i) => {
                out.push_str("i:");
                out.push_str(&i.to_string());
            }
        }
        out
    }

    /// Parses a FieldsV1 key. `Ok(None)` means an element type this version does not
    /// know; upstream silently drops those so that newer servers' data does not break
    /// older readers.
    pub fn from_fields_v1_key(s: &str) -> Result<Option<Self>, String> {
        let bytes = s.as_bytes();
        if bytes.len() < 2 {
            return Err(format!("key must be 2 characters long: {s}"));
        }
        if bytes[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = &s[2..];
        match bytes[0] {
            b'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            b'v' => serde_json::from_str::<Value>(rest)
                .map(|v| Some(PathElement::Value(v)))
                .map_err(|e| format!("invalid value element {s:?}: {e}")),
            b'k' => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => Ok(Some(PathElement::key(m))),
                Ok(_) => Err(format!("key element {s:?} is not a JSON object")),
                Err(e) => Err(format!("invalid key element {s:?}: {e}")),
            },
            b'i' => rest
                .parse::<i64>()
                .map(|i| Some(PathElement::Index(i)))
                .map_err(|e| format!("invalid index element {s:?}: {e}")),
            _ => Ok(None),
        }
    }
}

fn key_cmp(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
        let c = an
            .as_bytes()
            .cmp(bn.as_bytes())
            .then_with(|| compare(av, bv));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PathElement::Key(a), PathElement::Key(b)) => key_cmp(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

/// Upstream's `PathElement.String()`: `.name`, `[k=v,k2=v2]`, `[=v]`, `[i]`. These
/// strings appear verbatim in conflict messages and Status causes.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", go_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", go_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A sequence of [`PathElement`]s from the object root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// Builds a path of plain field names, e.g. `Path::fields(["spec", "replicas"])`.
    pub fn fields<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Path(
            names
                .into_iter()
                .map(|n| PathElement::Field(n.into()))
                .collect(),
        )
    }
}

impl From<Vec<PathElement>> for Path {
    fn from(v: Vec<PathElement>) -> Self {
        Path(v)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_roundtrip_sorts_fields() {
        let pe = PathElement::from_fields_v1_key(r#"k:{ "protocol":"udp","port":443}"#)
            .unwrap()
            .unwrap();
        assert_eq!(pe.to_fields_v1_key(), r#"k:{"port":443,"protocol":"udp"}"#);
        assert_eq!(pe.to_string(), r#"[port=443,protocol="udp"]"#);
    }

    #[test]
    fn unknown_types_are_skipped_and_bad_keys_rejected() {
        assert_eq!(PathElement::from_fields_v1_key("x:foo").unwrap(), None);
        assert!(PathElement::from_fields_v1_key("f").is_err());
        assert!(PathElement::from_fields_v1_key("fo").is_err());
        assert!(PathElement::from_fields_v1_key("v:1 2").is_err());
    }

    #[test]
    fn display_matches_upstream() {
        let p = Path(vec![
            PathElement::field("spec"),
            PathElement::field("containers"),
            PathElement::key([("name", json!("nginx"))]),
            PathElement::field("image"),
        ]);
        assert_eq!(p.to_string(), r#".spec.containers[name="nginx"].image"#);
        assert_eq!(PathElement::Value(json!("a")).to_string(), r#"[="a"]"#);
        assert_eq!(PathElement::Index(3).to_string(), "[3]");
    }
}
