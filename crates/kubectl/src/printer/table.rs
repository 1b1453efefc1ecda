//! Server-side `Table`s printed as kubectl's human-readable printer prints them: upper-case
//! headers, priority-0 columns unless `-o wide`, a NAMESPACE column for `-A`, the
//! `kind.group/` prefix when several types are listed, `-L` and `--show-labels` columns.

use std::collections::BTreeMap;

use serde_json::Value;

use super::tabwriter::TabWriter;

/// How tables are decorated.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub wide: bool,
    pub no_headers: bool,
    pub with_namespace: bool,
    /// `deployment.apps` when the NAME column gets a kind prefix.
    pub kind_prefix: Option<String>,
    pub show_labels: bool,
    pub label_columns: Vec<String>,
}

/// The cell text kubectl prints for a JSON cell value (Go's `fmt.Sprint` of the decoded
/// value; nil prints nothing).
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => sanitize(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(cell_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", cell_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Cells stop at the first line break (with `...`), as kubectl's printer does.
fn sanitize(s: &str) -> String {
    match s.find(['\n', '\r', '\x0c']) {
        Some(i) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// `a=b,c=d` in key order, `<none>` when empty (apimachinery's `labels.FormatLabels`).
pub fn format_labels(labels: Option<&serde_json::Map<String, Value>>) -> String {
    let sorted: BTreeMap<&String, &Value> = labels.into_iter().flatten().collect();
    if sorted.is_empty() {
        return "<none>".into();
    }
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Upper-cased last path segment of a `-L` label key.
fn label_header(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_uppercase()
}

/// Headers for `table` under `opts`.
pub fn headers(table: &Value, opts: &TableOptions) -> Vec<String> {
    let mut out = Vec::new();
    if opts.with_namespace {
        out.push("NAMESPACE".to_string());
    }
    for c in table["columnDefinitions"].as_array().into_iter().flatten() {
        if !opts.wide && c["priority"].as_i64().unwrap_or(0) != 0 {
            continue;
        }
        out.push(c["name"].as_str().unwrap_or_default().to_uppercase());
    }
    out.extend(opts.label_columns.iter().map(|l| label_header(l)));
    if opts.show_labels {
        out.push("LABELS".into());
    }
    out
}

/// The printed cells of every row of `table`.
pub fn rows(table: &Value, opts: &TableOptions) -> Vec<Vec<String>> {
    let cols: Vec<&Value> = table["columnDefinitions"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let name_col = cols
        .iter()
        .position(|c| c["format"] == "name" && c["type"] == "string");
    let mut out = Vec::new();
    for row in table["rows"].as_array().into_iter().flatten() {
        let meta = &row["object"]["metadata"];
        let mut cells = Vec::new();
        if opts.with_namespace {
            cells.push(meta["namespace"].as_str().unwrap_or_default().to_string());
        }
        let values = row["cells"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for (i, c) in cols.iter().enumerate() {
            if !opts.wide && c["priority"].as_i64().unwrap_or(0) != 0 {
                continue;
            }
            let mut text = values.get(i).map(cell_text).unwrap_or_default();
            if let (Some(prefix), Some(n)) = (&opts.kind_prefix, name_col) {
                if n == i {
                    text = format!("{prefix}/{text}");
                }
            }
            cells.push(text);
        }
        let labels = meta["labels"].as_object();
        for key in &opts.label_columns {
            cells.push(
                labels
                    .and_then(|l| l.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        if opts.show_labels {
            cells.push(format_labels(labels));
        }
        out.push(cells);
    }
    out
}

/// Appends `table` (headers unless suppressed, then rows) to `w`. Returns the number of
/// rows. Like kubectl, a table without rows prints nothing, not even headers.
pub fn print(table: &Value, opts: &TableOptions, w: &mut TabWriter) -> usize {
    let rows = rows(table, opts);
    if rows.is_empty() {
        return 0;
    }
    if !opts.no_headers {
        w.row(headers(table, opts));
    }
    let n = rows.len();
    for r in rows {
        w.row(r);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Value {
        json!({
            "kind": "Table",
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "priority": 0},
                {"name": "Ready", "type": "string", "priority": 0},
                {"name": "Restarts", "type": "integer", "priority": 0},
                {"name": "IP", "type": "string", "priority": 1},
            ],
            "rows": [{"cells": ["web", "1/1", 0, "10.42.0.5"],
                      "object": {"metadata": {"name": "web", "namespace": "prod",
                                              "labels": {"b": "2", "app": "web"}}}}]
        })
    }

    #[test]
    fn decorates_like_kubectl() {
        let opts = TableOptions {
            with_namespace: true,
            kind_prefix: Some("pod".into()),
            show_labels: true,
            label_columns: vec!["example.com/app".into()],
            ..Default::default()
        };
        let mut w = TabWriter::new();
        assert_eq!(print(&table(), &opts, &mut w), 1);
        assert_eq!(
            w.render(),
            "NAMESPACE   NAME      READY   RESTARTS   APP   LABELS\nprod        pod/web   1/1     0                app=web,b=2\n"
        );
        let wide = TableOptions {
            wide: true,
            ..Default::default()
        };
        assert_eq!(
            headers(&table(), &wide),
            ["NAME", "READY", "RESTARTS", "IP"]
        );
        assert_eq!(cell_text(&json!("a\nb")), "a...");
        assert_eq!(format_labels(None), "<none>");
    }
}
