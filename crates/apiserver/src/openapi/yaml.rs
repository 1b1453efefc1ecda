//! Block-style YAML for gnostic `Any.yaml` values.
//!
//! gnostic stores vendor-extension values as YAML text (go-yaml `Marshal` of
//! the node) and kubectl reads them back with `yaml.Unmarshal`, so the
//! protobuf form must carry YAML, not JSON. Only JSON-shaped data is needed.

use serde_json::Value;

/// Renders `v` as a YAML document ending in a newline.
pub(crate) fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

fn is_inline(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => true,
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// Writes `v` starting at column `indent`, one entry per line.
fn block(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                out.push_str(&" ".repeat(indent));
                out.push_str(&scalar(k));
                out.push(':');
                if is_inline(child) {
                    out.push(' ');
                    out.push_str(&inline(child));
                    out.push('\n');
                } else {
                    out.push('\n');
                    block(child, indent + 4, out);
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_inline(item) {
                    out.push_str(&" ".repeat(indent));
                    out.push_str("- ");
                    out.push_str(&inline(item));
                    out.push('\n');
                } else {
                    // Render the item two columns in, then turn the first
                    // line's indentation into the "- " marker.
                    let mut sub = String::new();
                    block(item, indent + 2, &mut sub);
                    out.push_str(&" ".repeat(indent));
                    out.push_str("- ");
                    out.push_str(&sub[indent + 2..]);
                }
            }
        }
        other => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// A string scalar: plain when unambiguous, otherwise double-quoted (JSON
/// escapes are valid YAML escapes).
fn scalar(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ',' | '-'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert_eq!(to_yaml(&json!("name")), "name\n");
        assert_eq!(to_yaml(&json!(true)), "true\n");
        assert_eq!(to_yaml(&json!("true")), "\"true\"\n");
        assert_eq!(to_yaml(&json!("merge,retainKeys")), "merge,retainKeys\n");
        assert_eq!(to_yaml(&json!(["type"])), "- type\n");
        assert_eq!(
            to_yaml(&json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])),
            "- group: apps\n  kind: Deployment\n  version: v1\n"
        );
        assert_eq!(
            to_yaml(&json!({"group": "", "kind": "Pod", "version": "v1"})),
            "group: \"\"\nkind: Pod\nversion: v1\n"
        );
        assert_eq!(
            to_yaml(&json!([{"discriminator": "type", "fields-to-discriminateBy": {"a": "A"}}])),
            "- discriminator: type\n  fields-to-discriminateBy:\n      a: A\n"
        );
        assert_eq!(to_yaml(&json!("a: b")), "\"a: b\"\n");
    }
}
