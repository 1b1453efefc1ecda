//! Go `encoding/json` compatible encoding and decoding helpers.
//!
//! The autoscaling/v1 round-trip annotations are strings produced by Go's
//! `json.Marshal` on typed structs and read back with `json.Unmarshal`.
//! Clients see those strings byte for byte, so encoding must follow Go's
//! rules (struct field order, `omitempty`, HTML-safe escaping), and decoding
//! must follow Go's tolerance (case-insensitive keys, unknown keys ignored,
//! `null` meaning "zero value") and its strictness (a wrongly typed value
//! fails the whole annotation, which upstream then ignores).

use serde_json::{Map, Value};

/// Encodes a string the way Go's `encoding/json` does with HTML escaping on
/// (the default for `json.Marshal`): `<`, `>` and `&` become `\u003c` etc.,
/// and U+2028/U+2029 are escaped because they break JavaScript parsers.
pub(crate) fn string(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go >= 1.22 uses the short forms for backspace and form feed.
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let b = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize & 0xf] as char);
                out.push(HEX[b as usize & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Encodes an arbitrary value as Go would encode the equivalent
/// `map[string]interface{}` tree: object keys sorted, Go string escaping.
pub(crate) fn value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(items) => array(items.iter().map(value)),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut obj = Obj::new();
            for k in keys {
                if let Some(v) = map.get(k) {
                    obj = obj.raw(k, value(v));
                }
            }
            obj.end()
        }
    }
}

/// Joins already-encoded elements into a JSON array.
pub(crate) fn array(items: impl Iterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// Builds a JSON object with fields in insertion order, mirroring the
/// declaration order of a Go struct.
pub(crate) struct Obj {
    buf: String,
    empty: bool,
}

impl Obj {
    pub(crate) fn new() -> Self {
        Obj {
            buf: String::from("{"),
            empty: true,
        }
    }

    /// Adds a field whose value is already encoded JSON.
    pub(crate) fn raw(mut self, key: &str, json: String) -> Self {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        self.buf.push_str(&string(key));
        self.buf.push(':');
        self.buf.push_str(&json);
        self
    }

    /// Adds a string field (a non-`omitempty` Go string).
    pub(crate) fn str(self, key: &str, s: &str) -> Self {
        self.raw(key, string(s))
    }

    /// Adds a field only when present (a Go `omitempty` pointer).
    pub(crate) fn opt(self, key: &str, json: Option<String>) -> Self {
        match json {
            Some(j) => self.raw(key, j),
            None => self,
        }
    }

    /// Adds a string field only when non-empty (a Go `omitempty` string).
    pub(crate) fn str_omitempty(self, key: &str, s: &str) -> Self {
        if s.is_empty() {
            self
        } else {
            self.str(key, s)
        }
    }

    /// Adds a nullable field: `null` when absent (a Go pointer or
    /// `metav1.Time` without `omitempty` effect).
    pub(crate) fn nullable(self, key: &str, json: Option<String>) -> Self {
        self.raw(key, json.unwrap_or_else(|| "null".to_string()))
    }

    pub(crate) fn end(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Marker for a value Go's `json.Unmarshal` would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bad;

/// Result of a strict, Go-like decode.
pub(crate) type Strict<T> = Result<T, Bad>;

/// Looks a struct field up the way Go does: an exact key match wins, else a
/// case-insensitive one. `null` counts as absent (Go leaves the zero value).
pub(crate) fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let found = obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    });
    found.filter(|v| !v.is_null())
}

/// Decodes a value that must be a JSON object (or null) into its map.
pub(crate) fn as_object(v: &Value) -> Strict<Option<&Map<String, Value>>> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(Bad),
    }
}

/// A Go `string` field; absent or null decodes to "".
pub(crate) fn get_string(obj: &Map<String, Value>, name: &str) -> Strict<String> {
    Ok(get_opt_string(obj, name)?.unwrap_or_default())
}

/// A Go `*string` field.
pub(crate) fn get_opt_string(obj: &Map<String, Value>, name: &str) -> Strict<Option<String>> {
    match field(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Bad),
    }
}

/// A Go `int32` / `*int32` field: an integral JSON number in range.
pub(crate) fn get_i32(obj: &Map<String, Value>, name: &str) -> Strict<Option<i64>> {
    match field(obj, name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Ok(Some(i)),
            _ => Err(Bad),
        },
        Some(_) => Err(Bad),
    }
}

/// A `resource.Quantity` field. Go accepts a quoted string or a bare number
/// and rejects anything that does not parse as a quantity.
pub(crate) fn get_quantity(obj: &Map<String, Value>, name: &str) -> Strict<Option<String>> {
    match field(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) if is_quantity(s.trim()) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(number_text(n))),
        Some(_) => Err(Bad),
    }
}

/// A `metav1.Time` field: an RFC 3339 string, or null for the zero time.
pub(crate) fn get_time(obj: &Map<String, Value>, name: &str) -> Strict<Option<String>> {
    match field(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) if is_rfc3339(s) => Ok(Some(s.clone())),
        Some(_) => Err(Bad),
    }
}

/// A Go slice field: a JSON array or null.
pub(crate) fn get_array<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Strict<Option<&'a [Value]>> {
    match field(obj, name) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.as_slice())),
        Some(_) => Err(Bad),
    }
}

/// A Go struct (or struct pointer) field: a JSON object or null.
pub(crate) fn get_object<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Strict<Option<&'a Map<String, Value>>> {
    match field(obj, name) {
        None => Ok(None),
        Some(v) => as_object(v),
    }
}

/// A `*metav1.LabelSelector` field. Returns the selector in the shape Go
/// would re-encode it (empty `matchLabels`/`matchExpressions`/`values`
/// dropped, as they are `omitempty`).
pub(crate) fn get_selector(obj: &Map<String, Value>, name: &str) -> Strict<Option<Value>> {
    let Some(sel) = get_object(obj, name)? else {
        return Ok(None);
    };
    let mut out = Map::new();
    if let Some(labels) = get_object(sel, "matchLabels")? {
        let mut m = Map::new();
        for (k, v) in labels {
            match v {
                Value::String(s) => {
                    m.insert(k.clone(), Value::String(s.clone()));
                }
                Value::Null => {
                    m.insert(k.clone(), Value::String(String::new()));
                }
                _ => return Err(Bad),
            }
        }
        if !m.is_empty() {
            out.insert("matchLabels".into(), Value::Object(m));
        }
    }
    if let Some(exprs) = get_array(sel, "matchExpressions")? {
        let mut list = Vec::with_capacity(exprs.len());
        for e in exprs {
            let e = as_object(e)?;
            let empty = Map::new();
            let e = e.unwrap_or(&empty);
            let mut m = Map::new();
            m.insert("key".into(), Value::String(get_string(e, "key")?));
            m.insert("operator".into(), Value::String(get_string(e, "operator")?));
            if let Some(values) = get_array(e, "values")? {
                let mut vs = Vec::with_capacity(values.len());
                for v in values {
                    match v {
                        Value::String(s) => vs.push(Value::String(s.clone())),
                        Value::Null => vs.push(Value::String(String::new())),
                        _ => return Err(Bad),
                    }
                }
                if !vs.is_empty() {
                    m.insert("values".into(), Value::Array(vs));
                }
            }
            list.push(Value::Object(m));
        }
        if !list.is_empty() {
            out.insert("matchExpressions".into(), Value::Array(list));
        }
    }
    Ok(Some(Value::Object(out)))
}

/// Encodes a label selector in `metav1.LabelSelector` field order
/// (`matchLabels`, `matchExpressions`; each expression `key`, `operator`,
/// `values`), skipping empty `omitempty` members.
pub(crate) fn selector(sel: &Value) -> String {
    let mut obj = Obj::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        if !labels.is_empty() {
            obj = obj.raw("matchLabels", value(&Value::Object(labels.clone())));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        if !exprs.is_empty() {
            let items = exprs.iter().map(|e| {
                let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                let values = e
                    .get("values")
                    .and_then(Value::as_array)
                    .filter(|v| !v.is_empty())
                    .map(|v| value(&Value::Array(v.clone())));
                Obj::new()
                    .str("key", text("key"))
                    .str("operator", text("operator"))
                    .opt("values", values)
                    .end()
            });
            obj = obj.raw("matchExpressions", array(items));
        }
    }
    obj.end()
}

/// Renders a JSON number the way it would read as a quantity string.
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// Syntax check matching `resource.ParseQuantity`: optional sign, digits
/// with an optional fraction, then an SI/binary suffix or a decimal exponent.
pub(crate) fn is_quantity(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    let suffix = &s[i..];
    match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti"
        | "Pi" | "Ei" => true,
        _ => {
            let sb = suffix.as_bytes();
            if sb[0] != b'e' && sb[0] != b'E' {
                return false;
            }
            let mut j = 1;
            if j < sb.len() && (sb[j] == b'+' || sb[j] == b'-') {
                j += 1;
            }
            j < sb.len() && sb[j..].iter().all(u8::is_ascii_digit)
        }
    }
}

/// Shape check for Go's `time.Parse(time.RFC3339, ...)`:
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if (*sign == b'+' || *sign == b'-') => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_like_go() {
        assert_eq!(string("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(string("q\"\\\n\t\u{1}"), r#""q\"\\\n\t\u0001""#);
        assert_eq!(string("\u{8}\u{c}\u{2028}é"), "\"\\b\\f\\u2028é\"");
    }

    #[test]
    fn generic_values_sort_keys() {
        assert_eq!(
            value(&json!({"b": 1, "a": [true, null]})),
            r#"{"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn quantity_syntax() {
        for ok in [
            "1", "0", "250m", "1.5Gi", "-3", "+.5", "1e3", "2E-2", "100Ki",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "1.2.3", "1Z", "1e", "abc", "1 k"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn time_syntax() {
        assert!(is_rfc3339("2024-05-01T10:00:00Z"));
        assert!(is_rfc3339("2024-05-01T10:00:00.123456+02:00"));
        assert!(!is_rfc3339("2024-05-01 10:00:00Z"));
        assert!(!is_rfc3339(""));
    }

    #[test]
    fn case_insensitive_lookup_prefers_exact() {
        let obj = json!({"scaleup": 1, "ScaleUp": 2});
        let m = obj.as_object().cloned().unwrap_or_default();
        assert_eq!(field(&m, "ScaleUp"), Some(&json!(2)));
        assert_eq!(field(&m, "scaleup"), Some(&json!(1)));
        assert!(field(&m, "SCALEUP").is_some());
        let nulls = json!({"a": null});
        let m = nulls.as_object().cloned().unwrap_or_default();
        assert_eq!(field(&m, "a"), None);
    }
}
