//! Value helpers that reproduce the Go side of server-side apply byte for byte.
//!
//! Upstream orders path elements with `value.Compare`, prints them with `value.ToString`
//! and serializes keys with a standard-library-compatible JSON encoder. FieldsV1 keys,
//! manager identifiers and conflict messages are all derived from these, so we need the
//! same total order and the same text, independent of how `serde_json::Map` happens to
//! order its keys (a workspace crate may enable `preserve_order`).

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// The numeric view upstream uses: integers and floats compare numerically with each
/// other but are distinct kinds for formatting.
enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else {
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

fn float_cmp(a: f64, b: f64) -> Ordering {
    // JSON cannot carry NaN, so partial_cmp only fails in impossible cases.
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

fn num_cmp(a: &Number, b: &Number) -> Ordering {
    match (num(a), num(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Int(x), Num::Float(y)) => float_cmp(x as f64, y),
        (Num::Float(x), Num::Int(y)) => float_cmp(x, y as f64),
        (Num::Float(x), Num::Float(y)) => float_cmp(x, y),
    }
}

/// Rank of a value's kind in upstream's total order: numbers, strings, booleans, lists,
/// maps, null.
fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// Total order over JSON values, identical to structured-merge-diff's `value.Compare`.
///
/// This order decides how path elements sort inside a field set, and therefore the key
/// order of serialized FieldsV1.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y.iter()) {
                let c = compare(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => map_compare(x, y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

/// Upstream's `MapCompare`: walk the union of keys in lexical order; the first key that
/// differs decides (a key missing on one side makes that side greater, a shorter map
/// that runs out first is smaller).
fn map_compare(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    if x.is_empty() && y.is_empty() {
        return Ordering::Equal;
    }
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    for (i, k) in keys.into_iter().enumerate() {
        let c = if i == x.len() {
            Ordering::Less
        } else if i == y.len() {
            Ordering::Greater
        } else {
            match (x.get(k), y.get(k)) {
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
                (Some(l), Some(r)) => compare(l, r),
            }
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// Deep equality with upstream semantics (`1` equals `1.0`).
pub fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| equals(l, r))
        }
        _ => compare(a, b) == Ordering::Equal,
    }
}

/// Appends `s` as a JSON string the way Go's standard library (and json-iterator in
/// compatible mode) does: HTML-sensitive characters and the JavaScript line separators
/// are escaped, other non-ASCII text is kept verbatim.
pub fn write_go_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => {
                let b = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats a float like Go's encoders: plain decimal in the usual range, otherwise
/// exponent form with an explicit sign and at least two exponent digits.
fn go_float(f: f64, exp_low: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (abs >= exp_low && abs < 1e21) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            if digits.len() < 2 {
                format!("{mant}e{sign}0{digits}")
            } else {
                format!("{mant}e{sign}{digits}")
            }
        }
        None => s,
    }
}

fn write_number(out: &mut String, n: &Number) {
    match num(n) {
        Num::Int(i) => out.push_str(&i.to_string()),
        Num::Float(f) => out.push_str(&go_float(f, 1e-6)),
    }
}

/// Appends `v` as compact JSON with sorted object keys and Go string escaping, matching
/// what Go's `encoding/json` produces for unstructured content.
pub fn write_go_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_go_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(out, k);
                out.push(':');
                if let Some(item) = m.get(k) {
                    write_go_json(out, item);
                }
            }
            out.push('}');
        }
    }
}

/// Convenience wrapper around [`write_go_json`].
pub fn to_go_json(v: &Value) -> String {
    let mut s = String::new();
    write_go_json(&mut s, v);
    s
}

/// Go's `%q` formatting of a string, used when printing key values in field paths
/// (e.g. `[name="nginx"]` in conflict messages).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || u32::from(c) == 0x7f => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => {
                let n = u32::from(c);
                if n > 0xffff {
                    out.push_str(&format!("\\U{n:08x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Upstream's `value.ToString`: the human form used inside path strings.
pub fn go_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float(f, 1e-4),
        },
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| format!("{k}={}", m.get(k).map(go_to_string).unwrap_or_default()))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_matches_upstream_kind_ranking() {
        let ordered = [
            json!(1),
            json!(2.5),
            json!(3),
            json!("a"),
            json!(false),
            json!(true),
            json!([1]),
            json!({"a": 1}),
            Value::Null,
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(&w[0], &w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
    }

    #[test]
    fn go_json_escapes_like_go() {
        assert_eq!(
            to_go_json(&json!({"b": "<&>", "a": [1, 2.5, true, null]})),
            r#"{"a":[1,2.5,true,null],"b":"\u003c\u0026\u003e"}"#
        );
        assert_eq!(to_go_json(&json!(1e21)), "1e+21");
        assert_eq!(to_go_json(&json!("💻\u{1}")), "\"💻\\u0001\"");
    }

    #[test]
    fn to_string_quotes_strings() {
        assert_eq!(go_to_string(&json!("web")), "\"web\"");
        assert_eq!(go_to_string(&json!(80)), "80");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
