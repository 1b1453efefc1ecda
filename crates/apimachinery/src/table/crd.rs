//! Tables for custom resources from CRD `additionalPrinterColumns`,
//! mirroring apiextensions-apiserver's `tableconvertor`.
//!
//! A CRD version without printer columns gets a single `Age` column
//! (`serveDefaultColumnsIfEmpty`), so custom resources print NAME + AGE like
//! on a real cluster. A column whose JSONPath does not parse ends the column
//! list (upstream logs the error and keeps the columns parsed so far).

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::table::docs::{METAV1_OBJECT_META_CREATION_TIMESTAMP, METAV1_OBJECT_META_NAME};
use crate::table::duration::{human_duration, nanos_between, parse_time};
use crate::table::jsonpath::JsonPath;

/// One parsed printer column.
pub(crate) struct CrdColumn {
    pub definition: Value,
    pub ty: String,
    pub path: JsonPath,
}

/// Parses CRD printer columns, applying upstream's default `Age` column when
/// none are given.
pub(crate) fn parse_columns(columns: &[Value]) -> Vec<CrdColumn> {
    let default_age;
    let columns = if columns.is_empty() {
        default_age = [json!({
            "name": "Age",
            "type": "date",
            "description": METAV1_OBJECT_META_CREATION_TIMESTAMP,
            "jsonPath": ".metadata.creationTimestamp",
        })];
        &default_age[..]
    } else {
        columns
    };
    let mut out = Vec::new();
    for col in columns {
        let get = |k: &str| col.get(k).and_then(Value::as_str).unwrap_or_default();
        let json_path = get("jsonPath");
        let Ok(path) = JsonPath::parse(json_path) else {
            break;
        };
        let description = if get("description").is_empty() {
            format!("Custom resource definition column (in JSONPath format): {json_path}")
        } else {
            get("description").to_string()
        };
        let priority = col
            .get("priority")
            .and_then(crate::table::value::as_int)
            .unwrap_or(0);
        out.push(CrdColumn {
            definition: json!({
                "name": get("name"),
                "type": get("type"),
                "format": get("format"),
                "description": description,
                "priority": priority,
            }),
            ty: get("type").to_string(),
            path,
        });
    }
    out
}

/// The fixed leading `Name` column.
pub(crate) fn name_column() -> Value {
    json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": METAV1_OBJECT_META_NAME,
        "priority": 0,
    })
}

/// Cells for one custom resource.
pub(crate) fn cells(obj: &Value, columns: &[CrdColumn], now: OffsetDateTime) -> Vec<Value> {
    let mut cells = vec![Value::String(crate::table::value::name(obj).to_string())];
    for col in columns {
        let value = match col.path.find(obj) {
            Ok(results) => results.first().map(|v| (*v).clone()),
            Err(_) => None,
        };
        let cell = match value {
            None => Value::Null,
            Some(v) if col.ty == "string" => Value::String(print_text(&v)),
            Some(v) => cell_for_json_value(&col.ty, &v, now),
        };
        cells.push(cell);
    }
    cells
}

/// Upstream `cellForJSONValue`.
fn cell_for_json_value(ty: &str, v: &Value, now: OffsetDateTime) -> Value {
    match (ty, v) {
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => n.as_f64().map_or(Value::Null, |f| Value::from(f as i64)),
        },
        ("number", Value::Number(n)) => match n.as_i64() {
            // Go encodes float64(3) as `3`; keep integral values integral.
            Some(i) => Value::from(i),
            None => n.as_f64().map_or(Value::Null, Value::from),
        },
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => {
            if s.is_empty() || s == "null" {
                return Value::String("<unknown>".to_string());
            }
            match parse_time(s) {
                None => Value::String("<invalid>".to_string()),
                Some(t) => Value::String(human_duration(nanos_between(now, t))),
            }
        }
        _ => Value::Null,
    }
}

/// client-go `JSONPath.PrintResults` for a single value: objects and arrays
/// as compact Go JSON, scalars via `fmt.Fprint`.
fn print_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.as_f64().map_or_else(|| n.to_string(), go_format_float),
        },
        Value::Object(_) | Value::Array(_) => {
            let mut out = String::new();
            go_json(v, &mut out);
            out
        }
    }
}

/// Go `fmt.Sprint(float64)` (`%v` = shortest `%g`): exponent form when the
/// decimal exponent is < -4 or >= 6, e.g. `1e+06`, `1.5`, `1e-05`.
fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// Go `encoding/json` compact encoding of an untyped value: sorted keys and
/// HTML-safe escaping of `<`, `>`, `&`.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&go_json_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// Go `encoding/json` float64 encoding: plain decimal except for very small
/// or very large magnitudes (`1e-7`, `1e+21`).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (m, e) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{}", e.abs());
    }
    format!("{f}")
}

fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_formatting() {
        assert_eq!(go_format_float(1.5), "1.5");
        assert_eq!(go_format_float(100000.0), "100000");
        assert_eq!(go_format_float(1e21), "1e+21");
        assert_eq!(go_format_float(1e6), "1e+06");
        assert_eq!(go_format_float(1234567.0), "1.234567e+06");
        assert_eq!(go_format_float(-2.5e-7), "-2.5e-07");
        assert_eq!(go_format_float(0.0001), "0.0001");
        assert_eq!(go_format_float(0.00001), "1e-05");
    }

    #[test]
    fn go_json_encoding() {
        let v = json!({"b": [1, "x<y"], "a": {"z": true}});
        assert_eq!(print_text(&v), r#"{"a":{"z":true},"b":[1,"x\u003cy"]}"#);
    }
}
