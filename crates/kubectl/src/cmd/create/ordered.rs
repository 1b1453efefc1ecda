//! Objects built by `kubectl create <generator>` keep the field order of their Go types
//! when printed as JSON (`--dry-run=client -o json`), unlike objects from the server,
//! whose keys kubectl sorts. This is a JSON value that remembers its key order.

use serde_json::{Map, Value};

/// An ordered JSON value.
#[derive(Debug, Clone)]
pub enum J {
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    Val(Value),
}

impl J {
    pub fn obj() -> J {
        J::Obj(Vec::new())
    }

    /// Appends a field (builder style).
    pub fn with(mut self, key: &str, v: impl Into<J>) -> J {
        if let J::Obj(fields) = &mut self {
            fields.push((key.to_string(), v.into()));
        }
        self
    }

    /// Appends a field when `cond` holds (Go's `omitempty`).
    pub fn with_if(self, cond: bool, key: &str, v: impl Into<J>) -> J {
        if cond {
            self.with(key, v)
        } else {
            self
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            J::Obj(f) => Value::Object(
                f.iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
            J::Arr(a) => Value::Array(a.iter().map(J::to_value).collect()),
            J::Val(v) => v.clone(),
        }
    }

    /// Compact JSON keeping field order (Go's `json.Marshal` of a struct).
    pub fn to_json_compact(&self) -> String {
        match self {
            J::Obj(f) => {
                let parts: Vec<String> = f
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}:{}",
                            crate::printer::go_json(&Value::String(k.clone())),
                            v.to_json_compact()
                        )
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            J::Arr(a) => format!(
                "[{}]",
                a.iter()
                    .map(J::to_json_compact)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            J::Val(v) => crate::printer::go_json(v),
        }
    }

    /// Adds an annotation in `metadata`, where Go's ObjectMeta keeps them (after the
    /// labels, before owner references).
    pub fn annotate(&mut self, key: &str, value: &str) {
        let J::Obj(fields) = self else { return };
        let Some((_, J::Obj(meta))) = fields.iter_mut().find(|(k, _)| k == "metadata") else {
            return;
        };
        if let Some((_, J::Obj(ann))) = meta.iter_mut().find(|(k, _)| k == "annotations") {
            ann.push((key.to_string(), J::from(value)));
            ann.sort_by(|a, b| a.0.cmp(&b.0));
            return;
        }
        let at = meta
            .iter()
            .position(|(k, _)| k == "ownerReferences")
            .unwrap_or(meta.len());
        meta.insert(
            at,
            ("annotations".into(), J::obj().with(key, J::from(value))),
        );
    }

    /// Go's `json.MarshalIndent(obj, "", "    ")` plus a newline.
    pub fn to_json_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = |n: usize| "    ".repeat(n);
        match self {
            J::Obj(f) if f.is_empty() => out.push_str("{}"),
            J::Arr(a) if a.is_empty() => out.push_str("[]"),
            J::Obj(f) => {
                out.push_str("{\n");
                for (i, (k, v)) in f.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    out.push_str(&crate::printer::go_json(&Value::String(k.clone())));
                    out.push_str(": ");
                    v.write(out, depth + 1);
                    if i + 1 < f.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&pad(depth));
                out.push('}');
            }
            J::Arr(a) => {
                out.push_str("[\n");
                for (i, v) in a.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    v.write(out, depth + 1);
                    if i + 1 < a.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&pad(depth));
                out.push(']');
            }
            J::Val(v) => out.push_str(&crate::printer::go_json(v)),
        }
    }
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Val(Value::String(s.to_string()))
    }
}

impl From<String> for J {
    fn from(s: String) -> J {
        J::Val(Value::String(s))
    }
}

impl From<Value> for J {
    fn from(v: Value) -> J {
        J::Val(v)
    }
}

impl From<i64> for J {
    fn from(n: i64) -> J {
        J::Val(Value::from(n))
    }
}

impl From<Vec<J>> for J {
    fn from(a: Vec<J>) -> J {
        J::Arr(a)
    }
}

/// `metadata` as a generator fills it: name, namespace (only when given), then
/// `creationTimestamp: null`, labels.
pub fn object_meta(name: &str, namespace: Option<&str>, labels: Option<J>) -> J {
    let mut m = J::obj().with("name", name);
    if let Some(ns) = namespace {
        m = m.with("namespace", ns);
    }
    m = m.with("creationTimestamp", Value::Null);
    if let Some(l) = labels {
        m = m.with("labels", l);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_in_field_order() {
        let j = J::obj()
            .with("kind", "Namespace")
            .with("apiVersion", "v1")
            .with("metadata", object_meta("x", None, None))
            .with("spec", J::obj());
        assert_eq!(
            j.to_json_pretty(),
            "{\n    \"kind\": \"Namespace\",\n    \"apiVersion\": \"v1\",\n    \"metadata\": {\n        \"name\": \"x\",\n        \"creationTimestamp\": null\n    },\n    \"spec\": {}\n}\n"
        );
    }
}
