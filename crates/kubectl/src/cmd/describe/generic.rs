//! kubectl's generic describer, used for custom resources and every kind without a
//! dedicated describer: metadata, then the object's fields as nested `Key:  value`
//! lines with camel-case names split into words.

use serde_json::{Map, Value};

use super::events;
use super::util::{go_value, s};
use super::writer::{annotations, labels, wr, Out};

/// Fields the generic describer leaves out (printed above or never shown).
const SKIP: [&str; 5] = [
    ".metadata.managedFields",
    ".metadata.name",
    ".metadata.namespace",
    ".metadata.labels",
    ".metadata.annotations",
];

pub fn describe(obj: &Value, evs: Option<&[Value]>) -> String {
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&obj["metadata"]["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&obj["metadata"]["namespace"]));
    labels(&mut w, "Labels", &obj["metadata"]["labels"]);
    annotations(&mut w, "Annotations", &obj["metadata"]["annotations"]);
    if let Some(m) = obj.as_object() {
        content(&mut w, 0, m, "");
    }
    events::finish(w, evs)
}

/// `printUnstructuredContent`: fields in byte order; maps and lists open a nested level.
fn content(w: &mut Out, level: usize, m: &Map<String, Value>, prefix: &str) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for field in keys {
        let path = format!("{prefix}.{field}");
        if SKIP.contains(&path.as_str()) {
            continue;
        }
        match &m[field] {
            Value::Object(child) => {
                wr!(w, level, "{}:\n", smart_label(field));
                content(w, level + 1, child, &path);
            }
            Value::Array(items) => {
                wr!(w, level, "{}:\n", smart_label(field));
                for item in items {
                    match item {
                        Value::Object(child) => content(w, level + 1, child, &path),
                        other => wr!(w, level + 1, "{}\n", go_value(other)),
                    }
                }
            }
            other => wr!(w, level, "{}:\t{}\n", smart_label(field), go_value(other)),
        }
    }
}

/// `smartLabelFor`: `apiVersion` → `API Version`, `creationTimestamp` → `Creation
/// Timestamp`; names with characters other than letters and `-` stay as they are.
pub fn smart_label(field: &str) -> String {
    if field.chars().any(|c| !c.is_alphabetic() && c != '-') {
        return field.to_string();
    }
    const ACRONYMS: [&str; 5] = ["API", "URL", "UID", "OSB", "GUID"];
    camel_split(field)
        .into_iter()
        .filter(|p| p != "_")
        .map(|p| {
            let upper = p.to_uppercase();
            if ACRONYMS.contains(&upper.as_str()) {
                upper
            } else {
                title(&p)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `strings.Title`: the first letter of each word upper-cased.
fn title(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut start = true;
    for c in p.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '_' && c != '\'';
    }
    out
}

/// `camelcase.Split`: runs of lower, upper, digit and other characters, with the last
/// capital of an upper run moved onto a following lower run (`PDFLoader` → PDF, Loader).
fn camel_split(src: &str) -> Vec<String> {
    let class = |c: char| {
        if c.is_lowercase() {
            1
        } else if c.is_uppercase() {
            2
        } else if c.is_numeric() {
            3
        } else {
            4
        }
    };
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last = 0;
    for c in src.chars() {
        let k = class(c);
        match runs.last_mut() {
            Some(r) if k == last => r.push(c),
            _ => runs.push(vec![c]),
        }
        last = k;
    }
    for i in 0..runs.len().saturating_sub(1) {
        let upper_then_lower = runs[i].first().is_some_and(|c| c.is_uppercase())
            && runs[i + 1].first().is_some_and(|c| c.is_lowercase());
        if upper_then_lower {
            if let Some(c) = runs[i].pop() {
                runs[i + 1].insert(0, c);
            }
        }
    }
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.into_iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_split_like_kubectl() {
        assert_eq!(smart_label("apiVersion"), "API Version");
        assert_eq!(smart_label("creationTimestamp"), "Creation Timestamp");
        assert_eq!(smart_label("uid"), "UID");
        assert_eq!(smart_label("podIPs"), "Pod I Ps");
        assert_eq!(smart_label("HTTPServer"), "HTTP Server");
        assert_eq!(smart_label("foo_bar"), "foo_bar");
        assert_eq!(smart_label("x1"), "x1");
    }

    #[test]
    fn nested_fields() {
        let obj = json!({"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "a", "namespace": "d", "uid": "u", "managedFields": [{}]},
            "spec": {"size": 3, "tags": ["a", "b"], "items": [{"name": "i1"}]}});
        let out = describe(&obj, None);
        assert_eq!(
            out,
            "Name:         a\nNamespace:    d\nLabels:       <none>\nAnnotations:  <none>\nAPI Version:  x/v1\nKind:         Thing\nMetadata:\n  UID:  u\nSpec:\n  Items:\n    Name:  i1\n  Size:    3\n  Tags:\n    a\n    b\n"
        );
    }
}
