//! `-o custom-columns=HEADER:PATH,…` / `custom-columns-file=FILE`, and `--sort-by`:
//! both take kubectl's "relaxed" paths (`.a.b`, `a.b`, `{.a.b}`).

use std::cmp::Ordering;

use serde_json::Value;

use super::jsonpath::Template;
use crate::error::{Error, Result};

/// `a.b`, `.a.b`, `{a.b}` and `{.a.b}` all mean the template `{.a.b}`.
pub fn relaxed_path(expr: &str) -> Result<String> {
    if expr.is_empty() {
        return Ok(String::new());
    }
    let inner = match expr.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
        Some(i) => i,
        None => expr,
    };
    let inner = inner.strip_prefix('.').unwrap_or(inner);
    if inner.is_empty() || inner.contains(['{', '}']) {
        return Err(Error::client(
            "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'",
        ));
    }
    Ok(format!("{{.{inner}}}"))
}

/// One column: its header and compiled path.
pub struct Column {
    pub header: String,
    pub template: Template,
}

/// Parses `HEADER:PATH,…`.
pub fn parse_spec(spec: &str) -> Result<Vec<Column>> {
    if spec.is_empty() {
        return Err(Error::client(
            "custom-columns format specified but no custom columns given",
        ));
    }
    spec.split(',')
        .map(|part| {
            let Some((header, path)) = part.split_once(':') else {
                return Err(Error::client(format!(
                    "unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
                )));
            };
            column(header, path)
        })
        .collect()
}

fn column(header: &str, path: &str) -> Result<Column> {
    let t = relaxed_path(path)?;
    let template = Template::parse(&t)
        .map_err(|e| Error::client(format!("error parsing jsonpath {t}, {e}")))?;
    Ok(Column {
        header: header.to_string(),
        template,
    })
}

/// A custom-columns file: a line of headers and a line of paths, blank-separated;
/// returned as the equivalent `HEADER:PATH,…` spec.
pub fn spec_from_file(path: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::client(format!(
            "error reading template {path}, {}",
            go_io_error(path, &e)
        ))
    })?;
    let mut lines = text.lines();
    let headers: Vec<&str> = match lines.next() {
        Some(l) => l.split_whitespace().collect(),
        None => return Err(Error::client("invalid template, missing header line. Expected format is one line of space separated headers, one line of space separated column specs.")),
    };
    let specs: Vec<&str> = match lines.next() {
        Some(l) => l.split_whitespace().collect(),
        None => return Err(Error::client("invalid template, missing spec line. Expected format is one line of space separated headers, one line of space separated column specs.")),
    };
    if headers.len() != specs.len() {
        return Err(Error::client(format!(
            "number of headers ({}) and field specifications ({}) don't match",
            headers.len(),
            specs.len()
        )));
    }
    Ok(headers
        .iter()
        .zip(&specs)
        .map(|(h, s)| format!("{h}:{s}"))
        .collect::<Vec<_>>()
        .join(","))
}

/// An I/O error as Go's `os.Open` words it.
pub fn go_io_error(path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {why}")
}

/// Go's `fmt.Sprint` of a decoded JSON value.
pub fn sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => super::jsonpath::text_of(v),
        Value::Array(a) => format!("[{}]", a.iter().map(sprint).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", sprint(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// kubectl's `EscapeTerminal`: no raw escape sequences or carriage returns in cells.
fn escape_terminal(s: &str) -> String {
    s.replace('\x1b', "^[").replace('\r', "\\r")
}

/// The rows for `objects` (list items each make a row). Cells go into the tabwriter as
/// text, so tabs and line breaks inside values split cells and lines as in kubectl.
pub fn render(columns: &[Column], objects: &[Value], no_headers: bool) -> Result<String> {
    let mut text = String::new();
    if !no_headers {
        let headers: Vec<&str> = columns.iter().map(|c| c.header.as_str()).collect();
        text.push_str(&headers.join("\t"));
        text.push('\n');
    }
    for obj in objects {
        let mut cells = Vec::new();
        for c in columns {
            let values = values_of(&c.template, obj)?;
            cells.push(if values.is_empty() {
                "<none>".to_string()
            } else {
                values
                    .iter()
                    .map(|v| escape_terminal(&sprint(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        }
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    Ok(tabwriter_text(&text))
}

/// Go's text/tabwriter (minwidth 6, padding 3) over raw text: tab-terminated cells,
/// aligned per column block (a run of consecutive lines that have that column).
pub fn tabwriter_text(text: &str) -> String {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&lines, &mut widths, 0, lines.len(), &mut out);
    if !text.ends_with('\n') {
        out.pop();
    }
    out
}

fn format_block(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    out: &mut String,
) {
    const MIN_WIDTH: usize = 6;
    const PADDING: usize = 3;
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 < lines[this].len() {
            write_lines(&lines[line0..this], widths, out);
            line0 = this;
            let mut width = MIN_WIDTH;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + PADDING);
                this += 1;
            }
            widths.push(width);
            format_block(lines, widths, line0, this, out);
            widths.pop();
            line0 = this;
        } else {
            this += 1;
        }
    }
    write_lines(&lines[line0..line1], widths, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j).filter(|_| j + 1 < line.len()) {
                let n = cell.chars().count();
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(n)));
            }
        }
        out.push('\n');
    }
}

fn values_of(t: &Template, obj: &Value) -> Result<Vec<Value>> {
    t.results(obj)
        .map(|lists| lists.into_iter().flatten().collect())
        .map_err(|e| Error::client(e.0))
}

/// Sorts objects by the `--sort-by` path as kubectl does: numbers numerically, strings
/// byte-wise, objects without the field first; a field no object has is an error.
pub fn sort_by(objects: &mut [Value], expr: &str) -> Result<()> {
    let t = relaxed_path(expr)?;
    let template = Template::parse(&t)
        .map_err(|e| Error::client(format!("error parsing jsonpath {t}, {e}")))?;
    let mut keyed: Vec<(Option<Value>, Value)> = Vec::new();
    for o in objects.iter() {
        let first = values_of(&template, o)?.into_iter().next();
        keyed.push((first, o.clone()));
    }
    if !keyed.is_empty() && keyed.iter().all(|(k, _)| k.is_none()) {
        return Err(Error::client(format!(
            "couldn't find any field with path \"{t}\" in the list of objects"
        )));
    }
    sort_like_go(&mut keyed);
    for (slot, (_, o)) in objects.iter_mut().zip(keyed) {
        *slot = o;
    }
    Ok(())
}

/// Go's `sort.Sort` as kubectl calls it: insertion sort for short inputs (which decides
/// where objects without the field land, since kubectl's Less calls such an object
/// "less" than anything); longer inputs use a stable sort, which can order equal keys
/// differently from Go's pdqsort.
fn sort_like_go(v: &mut [(Option<Value>, Value)]) {
    let less = |(a, _): &(Option<Value>, Value), (b, _): &(Option<Value>, Value)| {
        less(a.as_ref(), b.as_ref())
    };
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    // A total order for the long case: objects without the field first.
    v.sort_by(|(a, _), (b, _)| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => compare(x, y),
    });
}

/// kubectl's `RuntimeSort.Less`: an object without the field is less than anything.
fn less(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => compare(x, y) == Ordering::Less,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (Some(a), Some(b)) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => sprint(x).cmp(&sprint(y)),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_and_sorting() {
        assert_eq!(
            relaxed_path("metadata.name").ok().as_deref(),
            Some("{.metadata.name}")
        );
        assert_eq!(relaxed_path("{.a.b}").ok().as_deref(), Some("{.a.b}"));
        assert!(parse_spec("NAME").is_err());
        let cols = parse_spec("NAME:.metadata.name,IMAGES:.spec.containers[*].image,X:.nope")
            .unwrap_or_else(|e| panic!("{e}"));
        let objs = vec![
            json!({"metadata": {"name": "pod10"}, "spec": {"containers": [{"image": "a"}, {"image": "b"}]}}),
            json!({"metadata": {"name": "pod2"}, "spec": {"containers": []}}),
        ];
        assert_eq!(
            render(&cols, &objs, false).unwrap_or_default(),
            "NAME    IMAGES   X\npod10   a,b      <none>\npod2    <none>   <none>\n"
        );
        let mut sorted = objs.clone();
        sort_by(&mut sorted, ".metadata.name").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sorted[0]["metadata"]["name"], "pod10");
        assert!(sort_by(&mut sorted, ".nope").is_err());
        assert_eq!(
            tabwriter_text("A\tB\n\tx\n\ty\tz\nlong line\n"),
            "A     B\n      x\n      y     z\nlong line\n"
        );
        assert_eq!(sprint(&json!({"a": [1, "x"]})), "map[a:[1 x]]");
    }
}
