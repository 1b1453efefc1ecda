//! YAML output byte-identical to kubectl's. kubectl marshals objects to JSON and converts
//! that to YAML with go-yaml v2 (sigs.k8s.io/yaml), so its output has go-yaml's quirks:
//! keys in go-yaml's "natural" order, sequences at their parent key's indentation, strings
//! that would read back as another type double-quoted, texts plain style cannot carry
//! single-quoted, multi-line texts as `|` blocks, and long texts folded at 80 columns.

mod emitter;
mod resolve;

pub use resolve::format_g;
pub(crate) use resolve::{resolve_plain, Plain};

use serde_json::Value;

use emitter::{Emitter, Style};

/// `obj` as YAML, ending in a newline.
pub fn to_yaml(obj: &Value) -> String {
    let mut e = Emitter::default();
    node(&mut e, obj, false, false);
    // Document end: finish the last line.
    e.write_indent();
    e.out
}

/// Writes one node; `mapping` is set for mapping values, `simple_key` for keys.
fn node(e: &mut Emitter, v: &Value, mapping: bool, simple_key: bool) {
    match v {
        Value::Object(m) if m.is_empty() => {
            e.write_indicator("{", true, true, false);
            e.write_indicator("}", false, false, false);
        }
        Value::Array(a) if a.is_empty() => {
            e.write_indicator("[", true, true, false);
            e.write_indicator("]", false, false, false);
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| resolve::key_order(a, b));
            e.increase_indent(false, false);
            for k in keys {
                e.write_indent();
                let key = Value::String(k.clone());
                if Emitter::simple_key_allowed(k) {
                    node(e, &key, true, true);
                    e.write_indicator(":", false, false, false);
                } else {
                    e.write_indicator("?", true, false, true);
                    node(e, &key, true, false);
                    e.write_indent();
                    e.write_indicator(":", true, false, true);
                }
                node(e, &m[k.as_str()], true, false);
            }
            e.decrease_indent();
        }
        Value::Array(a) => {
            let indentless = e.indentless_here(mapping);
            e.increase_indent(false, indentless);
            for item in a {
                e.write_indent();
                e.write_indicator("-", true, false, true);
                node(e, item, false, false);
            }
            e.decrease_indent();
        }
        Value::String(s) => {
            let style = if s.contains('\n') {
                Style::Literal
            } else if resolve::needs_quotes(s) {
                Style::DoubleQuoted
            } else {
                Style::Plain
            };
            e.scalar(s, style, simple_key);
        }
        Value::Number(n) => e.scalar(&resolve::number(n), Style::Plain, simple_key),
        Value::Bool(b) => e.scalar(if *b { "true" } else { "false" }, Style::Plain, simple_key),
        Value::Null => e.scalar("null", Style::Plain, simple_key),
    }
}

#[cfg(test)]
mod tests;
