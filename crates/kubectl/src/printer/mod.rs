//! Output formats (`-o`): kubectl's human tables and the generic printers.

pub mod columns;
pub mod jsonpath;
pub mod table;
pub mod tabwriter;
pub mod yaml;

use serde_json::Value;

use crate::error::{Error, Result};

/// A parsed `-o` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The server's Table (default).
    Table,
    /// The Table with every column.
    Wide,
    Json,
    Yaml,
    /// `kind.group/name`.
    Name,
    /// `jsonpath=TEMPLATE` (also `jsonpath-as-json`).
    JsonPath {
        template: String,
        as_json: bool,
    },
    /// `custom-columns=HEADER:PATH,…`.
    CustomColumns(String),
}

impl Output {
    pub fn parse(o: Option<&str>) -> Result<Output> {
        let Some(o) = o else {
            return Ok(Output::Table);
        };
        let (name, arg) = match o.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (o, None),
        };
        Ok(match (name, arg) {
            ("", None) => Output::Table,
            ("wide", None) => Output::Wide,
            ("json", None) => Output::Json,
            ("yaml", None) => Output::Yaml,
            ("name", None) => Output::Name,
            ("jsonpath", Some(t)) => Output::JsonPath {
                template: t.into(),
                as_json: false,
            },
            ("jsonpath-as-json", Some(t)) => Output::JsonPath {
                template: t.into(),
                as_json: true,
            },
            ("custom-columns", Some(c)) => Output::CustomColumns(c.into()),
            ("custom-columns-file", Some(f)) if !f.is_empty() => {
                Output::CustomColumns(columns::spec_from_file(f)?)
            }
            ("jsonpath-file", Some(f)) if !f.is_empty() => Output::JsonPath {
                template: std::fs::read_to_string(f).map_err(|e| {
                    Error::client(format!(
                        "error reading --template {f}, {}",
                        columns::go_io_error(f, &e)
                    ))
                })?,
                as_json: false,
            },
            ("jsonpath" | "jsonpath-as-json" | "jsonpath-file" | "custom-columns" | "custom-columns-file", _)
                if arg.is_none_or(str::is_empty) =>
            {
                return Err(Error::client(if name.starts_with("custom-columns") {
                    "custom-columns format specified but no custom columns given"
                } else {
                    "template format specified but no template given"
                }))
            }
            _ => {
                return Err(Error::client(format!(
                    "unable to match a printer suitable for the output format \"{o}\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"
                )))
            }
        })
    }

    /// Whether this is one of the human-readable (Table) formats.
    pub fn is_table(&self) -> bool {
        matches!(self, Output::Table | Output::Wide)
    }
}

/// `obj` as kubectl's JSON printer writes it: four-space indent, HTML characters escaped
/// as Go does, and a final newline.
pub fn to_json(obj: &Value) -> String {
    to_json_of(obj)
}

/// [`to_json`] for any serialisable value, keeping its field order (kubectl prints Go
/// structs such as a kubeconfig in their declaration order).
pub fn to_json_of<T: serde::Serialize>(obj: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if obj.serialize(&mut ser).is_err() {
        return String::new();
    }
    let mut out = go_escape(&String::from_utf8_lossy(&buf));
    out.push('\n');
    out
}

/// The JSON text Go's `json.Marshal` writes: compact, HTML characters escaped.
pub fn go_json(v: &Value) -> String {
    go_escape(&v.to_string())
}

/// Escapes what Go's JSON encoder does beyond serde: `<`, `>`, `&` and the line and
/// paragraph separators (which only ever occur inside strings).
fn go_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `kind.group/name` for `-o name`.
pub fn name_of(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
    let group = obj["apiVersion"]
        .as_str()
        .and_then(|av| av.split_once('/').map(|(g, _)| g))
        .unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{group}/{name}")
    }
}

/// Drops `metadata.managedFields`, which kubectl hides unless `--show-managed-fields`.
pub fn strip_managed_fields(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
}

/// Wraps items as kubectl prints several objects: a `v1` `List`.
pub fn as_list(items: Vec<Value>) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_parse_and_print() {
        assert_eq!(Output::parse(Some("wide")).ok(), Some(Output::Wide));
        assert!(matches!(
            Output::parse(Some("jsonpath={.items[*].metadata.name}")),
            Ok(Output::JsonPath { .. })
        ));
        assert!(Output::parse(Some("xml")).is_err());
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        assert_eq!(name_of(&d), "deployment.apps/web");
        assert_eq!(
            to_json(&json!({"b": "<x>", "a": [1]})),
            "{\n    \"a\": [\n        1\n    ],\n    \"b\": \"\\u003cx\\u003e\"\n}\n"
        );
    }
}
