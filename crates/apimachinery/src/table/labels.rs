//! Label and label-selector formatting as used by upstream printers
//! (`labels.FormatLabels`, `metav1.FormatLabelSelector`, and
//! `LabelSelectorAsSelector(...).String()`).
//!
//! The SELECTOR / POD LABELS / NODE SELECTOR cells are compared literally by
//! users and scripts, so ordering (sorted `key=value` strings, requirements
//! sorted by key, set values sorted) and the `<none>`/`<error>` placeholders
//! follow upstream exactly.

use serde_json::Value;

/// `labels.FormatLabels`: sorted `k=v` pairs joined by `,`, or `<none>`.
pub(crate) fn format_labels(map: Option<&Value>) -> String {
    let s = labels_string(map);
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// `labels.Set.String()`: note upstream sorts the joined `k=v` strings, not
/// the keys, which differs when one key is a prefix of another.
fn labels_string(map: Option<&Value>) -> String {
    let Some(Value::Object(m)) = map else {
        return String::new();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Outcome of converting a `metav1.LabelSelector` into a selector.
pub(crate) enum Selector {
    /// A nil selector selects nothing; prints as the empty string.
    Nothing,
    /// Requirements rendered in upstream order (empty = everything).
    Requirements(Vec<String>),
}

/// `metav1.LabelSelectorAsSelector`, rendered. `Err` mirrors upstream's
/// validation failure (invalid key/value/operator).
pub(crate) fn label_selector(sel: Option<&Value>) -> Result<Selector, ()> {
    let sel = match sel {
        None | Some(Value::Null) => return Ok(Selector::Nothing),
        Some(v) => v,
    };
    let match_labels = sel.get("matchLabels").and_then(Value::as_object);
    let exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(ml) = match_labels {
        for (k, v) in ml {
            let v = v.as_str().unwrap_or_default();
            validate_key(k)?;
            validate_value(v)?;
            reqs.push((k.clone(), format!("{k}={v}")));
        }
    }
    for e in exprs {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let op = e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default()).collect())
            .unwrap_or_default();
        validate_key(key)?;
        for v in &values {
            validate_value(v)?;
        }
        let rendered = match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    return Err(());
                }
                let word = if op == "In" { "in" } else { "notin" };
                let mut sorted = values.clone();
                sorted.sort_unstable();
                format!("{key} {word} ({})", sorted.join(","))
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    return Err(());
                }
                if op == "Exists" {
                    key.to_string()
                } else {
                    format!("!{key}")
                }
            }
            _ => return Err(()),
        };
        reqs.push((key.to_string(), rendered));
    }
    // Upstream sorts requirements by key (sort.Sort, not stable; stable here
    // keeps matchLabels before expressions for equal keys).
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Selector::Requirements(
        reqs.into_iter().map(|(_, r)| r).collect(),
    ))
}

/// `LabelSelectorAsSelector(sel).String()` with `<invalid>` on error (the
/// Deployment printer's variant, which prints `""` for a nil/empty selector).
pub(crate) fn selector_string_or_invalid(sel: Option<&Value>) -> String {
    match label_selector(sel) {
        Err(()) => "<invalid>".to_string(),
        Ok(Selector::Nothing) => String::new(),
        Ok(Selector::Requirements(r)) => r.join(","),
    }
}

/// `metav1.FormatLabelSelector`: `<error>` on invalid, `<none>` when empty.
pub(crate) fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector(sel) {
        Err(()) => "<error>".to_string(),
        Ok(Selector::Nothing) => "<none>".to_string(),
        Ok(Selector::Requirements(r)) => {
            if r.is_empty() {
                "<none>".to_string()
            } else {
                r.join(",")
            }
        }
    }
}

/// `validation.IsQualifiedName`.
fn validate_key(k: &str) -> Result<(), ()> {
    let parts: Vec<&str> = k.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() || !is_dns1123_subdomain(prefix) {
                return Err(());
            }
            *name
        }
        _ => return Err(()),
    };
    if name.is_empty() || name.len() > 63 || !is_qualified_name_part(name) {
        return Err(());
    }
    Ok(())
}

/// `validation.IsValidLabelValue`: empty or a qualified name part, <= 63.
fn validate_value(v: &str) -> Result<(), ()> {
    if v.len() > 63 {
        return Err(());
    }
    if v.is_empty() || is_qualified_name_part(v) {
        Ok(())
    } else {
        Err(())
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `validation.IsDNS1123Subdomain`.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels() {
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        // "a.b=2" < "a=1" because '.' < '='.
        assert_eq!(
            format_labels(Some(&json!({"a": "1", "a.b": "2"}))),
            "a.b=2,a=1"
        );
    }

    #[test]
    fn selectors() {
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(selector_string_or_invalid(Some(&json!({}))), "");
        assert_eq!(selector_string_or_invalid(None), "");
        let sel = json!({
            "matchLabels": {"app": "web", "tier": "fe"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "DoesNotExist"},
                {"key": "canary", "operator": "Exists"},
                {"key": "x", "operator": "NotIn", "values": ["a"]}
            ]
        });
        assert_eq!(
            format_label_selector(Some(&sel)),
            "app=web,canary,env in (dev,prod),tier=fe,x notin (a),!zone"
        );
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        assert_eq!(selector_string_or_invalid(Some(&bad)), "<invalid>");
        let bad_key = json!({"matchLabels": {"-bad": "x"}});
        assert_eq!(format_label_selector(Some(&bad_key)), "<error>");
        let prefixed = json!({"matchLabels": {"app.kubernetes.io/name": "x"}});
        assert_eq!(
            format_label_selector(Some(&prefixed)),
            "app.kubernetes.io/name=x"
        );
    }
}
