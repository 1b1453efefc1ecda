//! The text machinery every describer shares: kubectl's prefix writer (two spaces per
//! level) feeding Go's `text/tabwriter` with describe's settings (minwidth 0, padding 2),
//! and the multi-line label, annotation, taint and toleration blocks.
//!
//! Describe output is aligned in column blocks — runs of consecutive lines that have a
//! cell in the same column — not over the whole text, so a port of tabwriter's block
//! algorithm is needed to get the same spacing as kubectl.

use std::collections::BTreeMap;

use serde_json::Value;

use super::util::{rfc1123z, s, string_map};

/// Writes `format!` text at an indentation level: `wr!(w, 1, "Name:\t{}\n", n)`.
macro_rules! wr {
    ($w:expr, $level:expr, $($arg:tt)*) => {
        $w.write($level, &format!($($arg)*))
    };
}
pub(crate) use wr;

/// Collects describe output; [`Out::finish`] aligns it as kubectl's tabwriter does.
#[derive(Default)]
pub struct Out {
    buf: String,
    /// Extra levels applied to every write (kubectl's nested prefix writer).
    pub indent: usize,
}

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// Text at `level` (two spaces each), with terminal escapes neutralised as kubectl's
    /// `WriteEscaped` does.
    pub fn write(&mut self, level: usize, text: &str) {
        for _ in 0..level + self.indent {
            self.buf.push_str("  ");
        }
        escape_into(&mut self.buf, text);
    }

    /// `WriteLine`: the text and a newline, no indentation.
    pub fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.buf.push_str("  ");
        }
        escape_into(&mut self.buf, text);
        self.buf.push('\n');
    }

    /// The aligned text.
    pub fn finish(self) -> String {
        tabify(&self.buf)
    }
}

fn escape_into(buf: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\x1b' => buf.push_str("^["),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

const PADDING: usize = 2;

/// Aligns tab-separated cells like Go's `tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`.
pub fn tabify(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| vec![0; l.len().saturating_sub(1)])
        .collect();
    format_block(&lines, 0, 0, lines.len(), &mut widths);
    let mut out = String::with_capacity(text.len() * 2);
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let last = line.len() - 1;
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < last {
                let pad = widths[i][j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    out
}

/// tabwriter's `format`: a column block is a run of lines with a cell in `col`; its
/// width is the widest cell plus padding, and the columns to its right are formatted
/// within the block only.
fn format_block(
    lines: &[Vec<&str>],
    col: usize,
    line0: usize,
    line1: usize,
    widths: &mut [Vec<usize>],
) {
    let mut this = line0;
    while this < line1 {
        if col + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        let start = this;
        let mut width = 0;
        while this < line1 && col + 1 < lines[this].len() {
            width = width.max(lines[this][col].chars().count() + PADDING);
            this += 1;
        }
        for w in &mut widths[start..this] {
            w[col] = width;
        }
        format_block(lines, col + 1, start, this, widths);
    }
}

/// `printLabelsMultilineWithIndent`: `Title:<inner>k=v` then one `k=v` per line.
pub fn labels_with_indent(
    w: &mut Out,
    initial: &str,
    title: &str,
    inner: &str,
    labels: &BTreeMap<String, String>,
) {
    w.write(0, &format!("{initial}{title}:{inner}"));
    if labels.is_empty() {
        w.line("<none>");
        return;
    }
    for (i, (k, v)) in labels.iter().enumerate() {
        if i != 0 {
            w.write(0, initial);
            w.write(0, inner);
        }
        w.write(0, &format!("{k}={v}\n"));
    }
}

/// `printLabelsMultiline` over a JSON map.
pub fn labels(w: &mut Out, title: &str, map: &Value) {
    labels_with_indent(w, "", title, "\t", &string_map(map));
}

const MAX_ANNOTATION_LEN: usize = 140;

/// `printAnnotationsMultiline`: long or multi-line values get their own indented lines;
/// the last-applied-configuration annotation is hidden.
pub fn annotations(w: &mut Out, title: &str, map: &Value) {
    w.write(0, &format!("{title}:\t"));
    let map = string_map(map);
    let keys: Vec<&String> = map
        .keys()
        .filter(|k| *k != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    if keys.is_empty() {
        w.line("<none>");
        return;
    }
    let indent = "\t";
    for (i, key) in keys.iter().enumerate() {
        if i != 0 {
            w.write(0, indent);
        }
        let value = map[*key].strip_suffix('\n').unwrap_or(&map[*key]);
        if value.len() + key.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            w.write(0, &format!("{key}:\n"));
            for line in value.split('\n') {
                w.write(
                    0,
                    &format!("{indent}  {}\n", shorten(line, MAX_ANNOTATION_LEN - 2)),
                );
            }
        } else {
            w.write(0, &format!("{key}: {value}\n"));
        }
    }
}

/// Cuts at a byte length as Go slices strings (backing off to a character boundary).
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A `Conditions:` table as kubectl writes it for most kinds: `header` names the
/// condition's fields (capitalised), `last…Time` ones print as RFC 1123 times, and each
/// cell ends in `sep` (some kinds pad with a space). `rule` is given, not derived, as
/// kubectl's dashes do not always match the titles.
pub fn conditions(w: &mut Out, conds: &[Value], header: &str, rule: &str, sep: &str) {
    if conds.is_empty() {
        return;
    }
    w.write(0, "Conditions:\n");
    w.write(1, &format!("{header}\n"));
    w.write(1, &format!("{rule}\n"));
    let fields: Vec<String> = header
        .split('\t')
        .map(|t| t[..1].to_ascii_lowercase() + &t[1..])
        .collect();
    for c in conds {
        let cells: Vec<String> = fields
            .iter()
            .map(|f| {
                if f.starts_with("last") && f.ends_with("Time") {
                    rfc1123z(&c[f])
                } else {
                    s(&c[f]).to_string()
                }
            })
            .collect();
        w.write(1, &format!("{}\n", cells.join(sep)));
    }
}

/// `printNodeTaintsMultiline`: sorted by effect then key, `key=value:Effect`.
pub fn taints(w: &mut Out, title: &str, taints: &Value) {
    w.write(0, &format!("{title}:\t"));
    let mut list: Vec<&Value> = taints
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if list.is_empty() {
        w.line("<none>");
        return;
    }
    list.sort_by_key(|t| format!("{},{}", s(&t["effect"]), s(&t["key"])));
    for (i, t) in list.iter().enumerate() {
        if i != 0 {
            w.write(0, "\t");
        }
        w.write(0, &format!("{}\n", taint_string(t)));
    }
}

/// `Taint.ToString`.
pub fn taint_string(t: &Value) -> String {
    let (key, value, effect) = (s(&t["key"]), s(&t["value"]), s(&t["effect"]));
    match (value.is_empty(), effect.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{key}:{effect}"),
        (false, true) => format!("{key}={value}"),
        (false, false) => format!("{key}={value}:{effect}"),
    }
}

/// `printTolerationsMultilineWithIndent`.
pub fn tolerations(w: &mut Out, initial: &str, title: &str, tolerations: &Value) {
    w.write(0, &format!("{initial}{title}:\t"));
    let mut list: Vec<&Value> = tolerations
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if list.is_empty() {
        w.line("<none>");
        return;
    }
    list.sort_by(|a, b| s(&a["key"]).cmp(s(&b["key"])));
    for (i, t) in list.iter().enumerate() {
        if i != 0 {
            w.write(0, initial);
            w.write(0, "\t");
        }
        let (key, value, effect) = (s(&t["key"]), s(&t["value"]), s(&t["effect"]));
        let mut text = key.to_string();
        if !value.is_empty() {
            text.push_str(&format!("={value}"));
        }
        if !effect.is_empty() {
            text.push_str(&format!(":{effect}"));
        }
        if s(&t["operator"]) == "Exists" && value.is_empty() {
            if !key.is_empty() || !effect.is_empty() {
                text.push_str(" op=Exists");
            } else {
                text.push_str("op=Exists");
            }
        }
        if let Some(secs) = t["tolerationSeconds"].as_i64() {
            text.push_str(&format!(" for {secs}s"));
        }
        w.write(0, &format!("{text}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aligns_per_column_block_like_go_tabwriter() {
        let text =
            "Name:\tweb\nNamespace:\tdefault\nPod Template:\n  Labels:\tapp=web\n  Containers:\n";
        assert_eq!(
            tabify(text),
            "Name:       web\nNamespace:  default\nPod Template:\n  Labels:  app=web\n  Containers:\n"
        );
        // An empty trailing cell still pads the cells before it.
        assert_eq!(
            tabify("Endpoints:\t\nIP:\t1\n"),
            "Endpoints:  \nIP:         1\n"
        );
        // Nested columns align only within the block of the column to their left.
        assert_eq!(tabify("a\tb\tc\naaaa\tb\nx\n"), "a     b  c\naaaa  b\nx\n");
    }

    #[test]
    fn label_annotation_and_toleration_blocks() {
        let mut w = Out::new();
        labels(&mut w, "Labels", &json!({"b": "2", "a": "1"}));
        annotations(&mut w, "Annotations", &json!({}));
        tolerations(
            &mut w,
            "",
            "Tolerations",
            &json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}, {"operator": "Exists"}]),
        );
        assert_eq!(
            w.finish(),
            "Labels:       a=1\n              b=2\nAnnotations:  <none>\nTolerations:  op=Exists\n              node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n"
        );
        let mut w = Out::new();
        let long = "x".repeat(150);
        annotations(&mut w, "Annotations", &json!({"k": long, "m": "a\nb\n"}));
        let out = w.finish();
        assert!(
            out.starts_with("Annotations:  k:\n                "),
            "{out}"
        );
        assert!(out.contains(&format!("{}...", "x".repeat(138))));
        assert!(
            out.ends_with("m:\n                a\n                b\n"),
            "{out}"
        );
    }
}
