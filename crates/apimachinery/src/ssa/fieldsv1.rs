//! FieldsV1: the wire encoding of a [`FieldSet`] inside `metadata.managedFields`.
//!
//! Each trie level is a JSON object whose keys are serialized path elements; `{}` marks
//! a member without children, and `".": {}` marks a node that is a member *and* has
//! children. Clients (kubectl, client-go's `ExtractInto`) parse this, and upstream
//! servers compare it byte-wise in tests, so we emit exactly upstream's bytes.

use crate::ssa::path::PathElement;
use crate::ssa::set::FieldSet;
use crate::ssa::value::write_go_string;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Errors decoding FieldsV1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsV1Error {
    /// The FieldsV1 value, or one of its nodes, is not a JSON object.
    #[error("expected a JSON object in FieldsV1, got {0}")]
    NotAnObject(String),
    /// A key could not be parsed as a path element.
    #[error("parsing key as path element: {0}")]
    BadKey(String),
    /// The text is not valid JSON.
    #[error("invalid FieldsV1 JSON: {0}")]
    Json(String),
}

/// One entry of a level, in upstream emission order.
enum Entry<'a> {
    Member(&'a PathElement),
    Child(&'a PathElement, &'a FieldSet, bool),
}

fn entries(s: &FieldSet) -> Vec<Entry<'_>> {
    // Merge the sorted members and children like upstream's emitContentsV1: an element
    // present in both becomes one child entry carrying the "." marker.
    let mut out = Vec::with_capacity(s.members.len() + s.children.len());
    let mut members = s.members.iter().peekable();
    let mut children = s.children.iter().peekable();
    loop {
        match (members.peek(), children.peek()) {
            (Some(m), Some((c, set))) => match (*m).cmp(*c) {
                Ordering::Less => {
                    out.push(Entry::Member(m));
                    members.next();
                }
                Ordering::Greater => {
                    out.push(Entry::Child(c, set, false));
                    children.next();
                }
                Ordering::Equal => {
                    out.push(Entry::Child(c, set, true));
                    members.next();
                    children.next();
                }
            },
            (Some(m), None) => {
                out.push(Entry::Member(m));
                members.next();
            }
            (None, Some((c, set))) => {
                out.push(Entry::Child(c, set, false));
                children.next();
            }
            (None, None) => break,
        }
    }
    out
}

impl FieldSet {
    /// Serializes to the exact bytes upstream writes (`{"f:spec":{"f:replicas":{}}}`).
    pub fn to_fields_v1_string(&self) -> String {
        let mut out = String::new();
        out.push('{');
        self.emit(&mut out, false);
        out.push('}');
        out
    }

    fn emit(&self, out: &mut String, include_self: bool) {
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push(',');
            }
            first = false;
        };
        if include_self && !(self.members.is_empty() && self.children.is_empty()) {
            sep(out);
            out.push_str("\".\":{}");
        }
        for e in entries(self) {
            sep(out);
            match e {
                Entry::Member(pe) => {
                    write_go_string(out, &pe.to_fields_v1_key());
                    out.push_str(":{}");
                }
                Entry::Child(pe, set, is_member) => {
                    write_go_string(out, &pe.to_fields_v1_key());
                    out.push_str(":{");
                    set.emit(out, is_member);
                    out.push('}');
                }
            }
        }
    }

    /// Serializes to a JSON value for embedding in an object. Keys are inserted in
    /// upstream order, so with `serde_json`'s `preserve_order` feature the rendered
    /// bytes equal [`FieldSet::to_fields_v1_string`]; without it, only key order
    /// differs, which JSON readers ignore.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.to_map(false))
    }

    fn to_map(&self, include_self: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if include_self && !(self.members.is_empty() && self.children.is_empty()) {
            m.insert(".".to_string(), Value::Object(Map::new()));
        }
        for e in entries(self) {
            match e {
                Entry::Member(pe) => {
                    m.insert(pe.to_fields_v1_key(), Value::Object(Map::new()));
                }
                Entry::Child(pe, set, is_member) => {
                    m.insert(pe.to_fields_v1_key(), Value::Object(set.to_map(is_member)));
                }
            }
        }
        m
    }

    /// Parses FieldsV1 text.
    pub fn from_fields_v1_str(s: &str) -> Result<FieldSet, FieldsV1Error> {
        let v: Value = serde_json::from_str(s).map_err(|e| FieldsV1Error::Json(e.to_string()))?;
        Self::from_fields_v1(&v)
    }

    /// Parses a FieldsV1 JSON value. Unknown path element kinds are skipped, as
    /// upstream does, so data written by a newer server does not break us.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldsV1Error> {
        let (children, _) = read_level(v)?;
        Ok(children.unwrap_or_default())
    }
}

/// Reads one trie level. Returns the children (if any) and whether the node itself is a
/// member: a node is a member when it says so with "." or when it has no children.
fn read_level(v: &Value) -> Result<(Option<FieldSet>, bool), FieldsV1Error> {
    let m = match v {
        Value::Object(m) => m,
        other => return Err(FieldsV1Error::NotAnObject(other.to_string())),
    };
    let mut children: Option<FieldSet> = None;
    let mut is_member = false;
    for (key, sub) in m {
        if key == "." {
            is_member = true;
            continue;
        }
        let pe = match PathElement::from_fields_v1_key(key) {
            Ok(Some(pe)) => pe,
            Ok(None) => continue,
            Err(e) => return Err(FieldsV1Error::BadKey(e)),
        };
        let (grandchildren, child_is_member) = read_level(sub)?;
        if child_is_member {
            children
                .get_or_insert_with(FieldSet::new)
                .members
                .insert(pe.clone());
        }
        if let Some(g) = grandchildren {
            let c = children.get_or_insert_with(FieldSet::new);
            match c.children.get_mut(&pe) {
                Some(existing) => *existing = existing.union(&g),
                None => {
                    c.children.insert(pe, g);
                }
            }
        }
    }
    if children.is_none() {
        is_member = true;
    }
    Ok((children, is_member))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden strings from structured-merge-diff's fieldpath/serialize_test.go.
    const GOLDEN: [&str; 3] = [
        r#"{"f:aaa":{},"f:aab":{},"f:aac":{},"f:aad":{},"f:aae":{},"f:aaf":{},"k:{\"name\":\"first\"}":{},"k:{\"name\":\"second\"}":{},"k:{\"port\":443,\"protocol\":\"tcp\"}":{},"k:{\"port\":443,\"protocol\":\"udp\"}":{},"v:1":{},"v:2":{},"v:3":{},"v:\"aa\"":{},"v:\"ab\"":{},"v:true":{},"i:1":{},"i:2":{},"i:3":{},"i:4":{}}"#,
        r#"{"f:aaa":{"k:{\"name\":\"second\"}":{"v:3":{"f:aab":{}}},"v:3":{},"v:true":{}},"f:aab":{"f:aaa":{},"f:aaf":{"k:{\"port\":443,\"protocol\":\"udp\"}":{"k:{\"port\":443,\"protocol\":\"tcp\"}":{}}},"k:{\"name\":\"first\"}":{}},"f:aac":{"f:aaa":{"v:1":{}},"f:aac":{},"v:3":{"k:{\"name\":\"second\"}":{}}},"f:aad":{"f:aac":{"v:1":{}},"f:aaf":{"k:{\"name\":\"first\"}":{"k:{\"name\":\"first\"}":{}}},"i:1":{"i:1":{},"i:3":{"v:true":{}}}},"f:aae":{"f:aae":{},"k:{\"port\":443,\"protocol\":\"tcp\"}":{"k:{\"port\":443,\"protocol\":\"udp\"}":{}},"i:4":{"f:aaf":{}}},"f:aaf":{"i:1":{"f:aac":{}},"i:2":{},"i:3":{}},"k:{\"name\":\"first\"}":{"f:aad":{"f:aaf":{}}},"k:{\"port\":443,\"protocol\":\"tcp\"}":{"f:aaa":{"f:aad":{}}},"k:{\"port\":443,\"protocol\":\"udp\"}":{"f:aac":{},"k:{\"name\":\"first\"}":{"i:3":{}},"k:{\"port\":443,\"protocol\":\"udp\"}":{"i:4":{}}},"v:1":{"f:aac":{"i:4":{}},"f:aaf":{},"k:{\"port\":443,\"protocol\":\"tcp\"}":{}},"v:2":{"f:aad":{"f:aaf":{}},"i:1":{}},"v:3":{"f:aaa":{},"k:{\"name\":\"first\"}":{},"i:2":{}},"v:\"aa\"":{"f:aab":{"f:aaf":{}},"f:aae":{},"k:{\"name\":\"first\"}":{"f:aad":{}},"i:2":{}},"v:\"ab\"":{"f:aaf":{"i:4":{}},"k:{\"port\":443,\"protocol\":\"tcp\"}":{},"k:{\"port\":443,\"protocol\":\"udp\"}":{},"v:1":{"k:{\"port\":443,\"protocol\":\"udp\"}":{}},"i:1":{"f:aae":{"i:4":{}}}},"v:true":{"k:{\"name\":\"second\"}":{"f:aaa":{}},"i:2":{"k:{\"port\":443,\"protocol\":\"tcp\"}":{}}},"i:1":{"i:3":{"f:aaf":{}}},"i:2":{"f:aae":{},"k:{\"port\":443,\"protocol\":\"tcp\"}":{"v:1":{}}},"i:3":{"f:aab":{"v:true":{"v:\"aa\"":{}}},"f:aaf":{},"i:1":{}},"i:4":{"v:\"aa\"":{"f:aab":{"k:{\"name\":\"second\"}":{}}}}}"#,
        r#"{"f:spec":{".":{},"f:apps":{".":{},"k:{\"name\":\" app-💻\"}":{".":{},"f:container":{".":{},"f:image":{},"f:name":{},"f:ports":{".":{},"k:{\"name\":\"port 🔑\"}":{".":{},"f:containerPort":{},"f:name":{}}}},"f:name":{}},"k:{\"name\":\" app-🚀\"}":{".":{},"f:container":{".":{},"f:image":{},"f:name":{},"f:ports":{".":{},"k:{\"name\":\"port-✅ \"}":{".":{},"f:containerPort":{},"f:name":{}}}},"f:name":{}}}}}"#,
    ];

    #[test]
    fn golden_roundtrip_is_byte_identical() {
        for g in GOLDEN {
            let s = FieldSet::from_fields_v1_str(g).unwrap();
            assert_eq!(s.to_fields_v1_string(), g);
            assert_eq!(FieldSet::from_fields_v1(&s.to_fields_v1()).unwrap(), s);
        }
    }

    #[test]
    fn non_normalized_input_is_normalized() {
        let input = r#"{
  "f:aad": {}, "f:aaa": {},
  "k:{ \"protocol\":\"udp\",\"port\":443}": {},
  "v: 3": {}, "i:4":    {}, "x:future": {"f:a": {}}
}"#;
        let s = FieldSet::from_fields_v1_str(input).unwrap();
        assert_eq!(
            s.to_fields_v1_string(),
            r#"{"f:aaa":{},"f:aad":{},"k:{\"port\":443,\"protocol\":\"udp\"}":{},"v:3":{},"i:4":{}}"#
        );
    }

    #[test]
    fn invalid_input_is_rejected() {
        assert!(FieldSet::from_fields_v1_str(r#"{"f":{}}"#).is_err());
        assert!(FieldSet::from_fields_v1_str(r#"{"f:a":1}"#).is_err());
        assert!(FieldSet::from_fields_v1_str("[").is_err());
        assert_eq!(FieldSet::from_fields_v1_str("{}").unwrap(), FieldSet::new());
    }
}
