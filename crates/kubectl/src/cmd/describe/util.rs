//! Small readers over JSON objects and kubectl's renderings of times, ages, quantities
//! and selectors, shared by the describers.

use std::collections::BTreeMap;

use rkube_apimachinery::selector::LabelSelector;
use serde_json::Value;

/// The string at `v`, or "" (Go's zero value) when absent.
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The integer at `v`, or 0.
pub fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

/// Go's `%v` of a bool field (false when absent).
pub fn b(v: &Value) -> bool {
    v.as_bool().unwrap_or_default()
}

/// A `map[string]string` field, sorted.
pub fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The array at `v`, or an empty slice.
pub fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// `labels.FormatLabels`: `a=b,c=d` sorted, or `<none>`.
pub fn format_labels(v: &Value) -> String {
    let m = string_map(v);
    if m.is_empty() {
        return "<none>".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `LabelSelectorAsSelector(sel).String()`; a malformed selector renders as kubectl's
/// error text would not matter here, so it is shown empty.
pub fn selector_string(sel: &Value) -> String {
    LabelSelector::from_label_selector(sel)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// `metav1.FormatLabelSelector`: like [`selector_string`] with `<none>` for empty.
pub fn format_label_selector(sel: &Value) -> String {
    match LabelSelector::from_label_selector(sel) {
        Ok(s) => {
            let t = s.to_string();
            if t.is_empty() {
                "<none>".into()
            } else {
                t
            }
        }
        Err(_) => "<error>".into(),
    }
}

fn parse_time(ts: &str) -> Option<jiff::Timestamp> {
    ts.parse::<jiff::Timestamp>().ok()
}

/// A timestamp as Go's `time.RFC1123Z` in the local zone
/// (`Mon, 02 Jan 2006 15:04:05 -0700`); the zero time when absent, as Go prints it.
pub fn rfc1123z(ts: &Value) -> String {
    match ts.as_str().and_then(parse_time) {
        Some(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%a, %d %b %Y %H:%M:%S %z")
            .to_string(),
        None => "Mon, 01 Jan 0001 00:00:00 +0000".into(),
    }
}

/// `translateTimestampSince`: the human age, `<unknown>` for a missing time.
pub fn age(ts: &Value) -> String {
    match ts.as_str().and_then(parse_time) {
        Some(t) => {
            let nanos = jiff::Timestamp::now().duration_since(t).as_nanos();
            rkube_apimachinery::table::human_duration(i64::try_from(nanos).unwrap_or(i64::MAX))
        }
        None => "<unknown>".into(),
    }
}

/// `Quantity.String()` of a quantity as the server sent it (canonical form).
pub fn quantity(v: &Value) -> String {
    match v {
        Value::String(q) => rkube_apimachinery::table::canonical_quantity(q).unwrap_or(q.clone()),
        Value::Number(n) => n.to_string(),
        _ => "0".into(),
    }
}

/// A quantity as a number with the format its text implies, for sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Qty {
    /// Thousandths of the unit.
    pub milli: i128,
    /// Binary-SI (`Ki`, `Mi`…) rather than decimal.
    pub binary: bool,
    /// Set when the value came from an object (a Go zero `Quantity` prints `0`).
    pub set: bool,
}

impl Qty {
    pub fn parse(v: &Value) -> Qty {
        let text = match v {
            Value::String(t) => t.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Qty::default(),
        };
        Qty {
            milli: rkube_apimachinery::quantity::parse_milli(&text).unwrap_or_default(),
            binary: text.ends_with('i'),
            set: true,
        }
    }

    /// `q.Add(other)`: the format of the first operand wins.
    pub fn add(self, other: Qty) -> Qty {
        if !self.set {
            return other;
        }
        Qty {
            milli: self.milli + other.milli,
            ..self
        }
    }

    /// The whole value, rounded up (`Quantity.Value`).
    pub fn value(self) -> i128 {
        if self.milli >= 0 {
            (self.milli + 999) / 1000
        } else {
            self.milli / 1000
        }
    }
}

impl std::fmt::Display for Qty {
    /// `Quantity.String()` of a computed sum: canonical decimal-SI or binary-SI.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.milli;
        if m == 0 {
            return f.write_str("0");
        }
        if self.binary && m % 1000 == 0 && m.abs() >= 1024 * 1000 {
            let mut v = m / 1000;
            let mut exp = 0;
            while v % 1024 == 0 && exp < 6 {
                v /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            return write!(f, "{v}{suffix}");
        }
        // Decimal: mantissa × 10^e with e a multiple of three, from milli upwards.
        let mut v = m;
        let mut e = -3i32;
        while v % 1000 == 0 && e < 18 {
            v /= 1000;
            e += 3;
        }
        let suffix = match e {
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        write!(f, "{v}{suffix}")
    }
}

/// Go's `%v` of a decoded JSON value (`<nil>`, `[a b]`, `map[k:v]`), as the generic
/// describer prints leaves.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_value(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// `%v` of a float64: shortest representation, exponent form from 1e21 on.
fn go_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let t = format!("{f:e}");
        // Rust: 1e21 / 1.5e-5; Go: 1e+21 / 1.5e-05.
        if let Some((mant, exp)) = t.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mant}e{sign}{digits:0>2}");
        }
        return t;
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_sum_and_print_as_go() {
        let a = Qty::parse(&json!("100m")).add(Qty::parse(&json!("200m")));
        assert_eq!(a.to_string(), "300m");
        let m = Qty::parse(&json!("64Mi")).add(Qty::parse(&json!("128Mi")));
        assert_eq!(m.to_string(), "192Mi");
        assert_eq!(Qty::default().to_string(), "0");
        assert_eq!(
            Qty::parse(&json!("1"))
                .add(Qty::parse(&json!("500m")))
                .to_string(),
            "1500m"
        );
        assert_eq!(Qty::parse(&json!("2000")).to_string(), "2k");
        assert_eq!(Qty::parse(&json!("100M")).to_string(), "100M");
        assert_eq!(Qty::parse(&json!("1536Mi")).value(), 1536 << 20);
    }

    #[test]
    fn go_values_and_labels() {
        assert_eq!(go_value(&json!([1, "a", true, null])), "[1 a true <nil>]");
        assert_eq!(go_value(&json!(1.5)), "1.5");
        assert_eq!(go_value(&json!({"b": 1, "a": "x"})), "map[a:x b:1]");
        assert_eq!(format_labels(&json!({"b": "2", "a": "1"})), "a=1,b=2");
        assert_eq!(format_labels(&json!(null)), "<none>");
        assert_eq!(
            selector_string(
                &json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]})
            ),
            "app=web,tier in (a,b)"
        );
        assert_eq!(format_label_selector(&json!({})), "<none>");
        assert_eq!(rfc1123z(&json!(null)), "Mon, 01 Jan 0001 00:00:00 +0000");
    }
}
