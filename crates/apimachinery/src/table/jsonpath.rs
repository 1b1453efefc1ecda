//! A subset of client-go's JSONPath, enough for CRD
//! `additionalPrinterColumns` (`.spec.replicas`,
//! `.status.conditions[?(@.type=="Ready")].status`, `.metadata.labels.app\.io/x`,
//! `.items[0]`, `.spec.*`, `..name`).
//!
//! Semantics follow client-go with `AllowMissingKeys(true)` as used by the
//! CRD table convertor: missing keys and nulls yield no result, type
//! mismatches (indexing a non-array, comparing a string with a number) are
//! errors. The table convertor turns both into a `null` cell, so callers only
//! need the first result or "nothing".

use serde_json::Value;

/// A parsed path.
#[derive(Debug, Clone)]
pub struct JsonPath {
    segs: Vec<Seg>,
}

#[derive(Debug, Clone)]
enum Seg {
    Field(String),
    Wildcard,
    Recursive,
    Array(Slice),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, Copy)]
struct Slice {
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    /// `[n]` (single index) as opposed to `[a:b]`.
    single: bool,
}

#[derive(Debug, Clone)]
struct Filter {
    left: Operand,
    /// `None` means the "exists" filter (`[?(@.x)]`).
    op: Option<String>,
    right: Operand,
}

#[derive(Debug, Clone)]
enum Operand {
    Path(Vec<Seg>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Why a path could not be evaluated (a `null` cell in tables; kubectl's `-o jsonpath`
/// prints the message).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError(pub String);

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Go's name for the type of a decoded JSON value, as client-go's messages print it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

impl JsonPath {
    /// Parses a printer-column `jsonPath`. Accepts an optional leading `$`
    /// and optional surrounding `{}` (upstream wraps the path in braces
    /// itself).
    pub fn parse(src: &str) -> Result<JsonPath, String> {
        let mut text = src.trim();
        if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            text = inner.trim();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let segs = parse_segments(&chars, &mut pos)?;
        skip_ws(&chars, &mut pos);
        if pos != chars.len() {
            return Err(format!("unexpected {:?} in {src:?}", chars[pos]));
        }
        Ok(JsonPath { segs })
    }

    /// Evaluates against `root`, returning all results in order.
    pub fn find<'a>(&self, root: &'a Value) -> Result<Vec<&'a Value>, EvalError> {
        eval(&self.segs, vec![root])
    }
}

fn skip_ws(chars: &[char], pos: &mut usize) {
    while *pos < chars.len() && chars[*pos].is_whitespace() {
        *pos += 1;
    }
}

/// client-go `isTerminator`.
fn is_terminator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}')
}

fn parse_segments(chars: &[char], pos: &mut usize) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    skip_ws(chars, pos);
    if *pos < chars.len() && (chars[*pos] == '$' || chars[*pos] == '@') {
        *pos += 1;
    }
    while *pos < chars.len() {
        match chars[*pos] {
            '.' => {
                if chars.get(*pos + 1) == Some(&'.') {
                    segs.push(Seg::Recursive);
                    *pos += 2;
                } else {
                    *pos += 1;
                }
                let field = read_field(chars, pos);
                if field.is_empty() {
                    if segs.last().is_some_and(|s| matches!(s, Seg::Recursive))
                        && chars.get(*pos) == Some(&'[')
                    {
                        continue;
                    }
                    return Err("empty field name".to_string());
                }
                if field == "*" {
                    segs.push(Seg::Wildcard);
                } else {
                    segs.push(Seg::Field(field));
                }
            }
            '[' => segs.push(parse_bracket(chars, pos)?),
            c if c.is_whitespace() => break,
            c => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(segs)
}

/// Reads a field name up to a terminator; `\` escapes the next character
/// (e.g. `app\.kubernetes\.io`), and backslashes are then dropped.
fn read_field(chars: &[char], pos: &mut usize) -> String {
    let mut out = String::new();
    while *pos < chars.len() {
        let c = chars[*pos];
        if c == '\\' {
            if let Some(&next) = chars.get(*pos + 1) {
                out.push(next);
                *pos += 2;
                continue;
            }
            *pos += 1;
            continue;
        }
        if is_terminator(c) {
            break;
        }
        out.push(c);
        *pos += 1;
    }
    out
}

fn parse_bracket(chars: &[char], pos: &mut usize) -> Result<Seg, String> {
    // chars[*pos] == '['
    let start = *pos + 1;
    if chars.get(start) == Some(&'?') {
        // Filter: [?( ... )]
        if chars.get(start + 1) != Some(&'(') {
            return Err("expected '(' after '?'".to_string());
        }
        let body_start = start + 2;
        let mut depth = 1;
        let mut i = body_start;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if let Some(q) = quote {
                if c == '\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            } else if c == '"' || c == '\'' {
                quote = Some(c);
            } else if c == '(' {
                depth += 1;
            } else if c == ')' {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            i += 1;
        }
        if i >= chars.len() || chars.get(i + 1) != Some(&']') {
            return Err("unterminated filter".to_string());
        }
        let body: String = chars[body_start..i].iter().collect();
        *pos = i + 2;
        return Ok(Seg::Filter(Box::new(parse_filter(&body)?)));
    }
    let mut i = start;
    while i < chars.len() && chars[i] != ']' {
        i += 1;
    }
    if i >= chars.len() {
        return Err("unterminated '['".to_string());
    }
    let inner: String = chars[start..i].iter().collect();
    *pos = i + 1;
    let inner = inner.trim();
    if inner == "*" {
        return Ok(Seg::Wildcard);
    }
    if let Some(q) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
        if inner.len() >= 2 && inner.ends_with(q) {
            return Ok(Seg::Field(unquote(&inner[1..inner.len() - 1])));
        }
        return Err("unterminated quoted field".to_string());
    }
    let parts: Vec<&str> = inner.split(':').collect();
    let num = |s: &str| -> Result<Option<i64>, String> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse::<i64>()
                .map(Some)
                .map_err(|_| format!("invalid array index {s:?}"))
        }
    };
    match parts.as_slice() {
        [one] => Ok(Seg::Array(Slice {
            start: Some(num(one)?.ok_or("empty array index")?),
            end: None,
            step: None,
            single: true,
        })),
        [a, b] => Ok(Seg::Array(Slice {
            start: num(a)?,
            end: num(b)?,
            step: None,
            single: false,
        })),
        [a, b, c] => Ok(Seg::Array(Slice {
            start: num(a)?,
            end: num(b)?,
            step: num(c)?,
            single: false,
        })),
        _ => Err(format!("invalid array index {inner:?}")),
    }
}

fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits `left op right` like client-go's `^([^!<>=]+)([!<>=]+)(.+?)$`.
fn parse_filter(body: &str) -> Result<Filter, String> {
    let op_start = body.find(['!', '<', '>', '=']);
    let Some(op_start) = op_start.filter(|i| *i > 0) else {
        return Ok(Filter {
            left: parse_operand(body)?,
            op: None,
            right: Operand::Bool(true),
        });
    };
    let rest = &body[op_start..];
    let op_len = rest
        .find(|c: char| !matches!(c, '!' | '<' | '>' | '='))
        .unwrap_or(rest.len());
    let op = &rest[..op_len];
    let right = &rest[op_len..];
    if right.is_empty() {
        return Err("missing filter operand".to_string());
    }
    Ok(Filter {
        left: parse_operand(&body[..op_start])?,
        op: Some(op.to_string()),
        right: parse_operand(right)?,
    })
}

fn parse_operand(text: &str) -> Result<Operand, String> {
    let t = text.trim();
    if let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') {
        if t.len() >= 2 && t.ends_with(q) {
            return Ok(Operand::Str(unquote(&t[1..t.len() - 1])));
        }
        return Err("unterminated quoted string".to_string());
    }
    if t == "true" {
        return Ok(Operand::Bool(true));
    }
    if t == "false" {
        return Ok(Operand::Bool(false));
    }
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        if t.contains('.') {
            return t
                .parse::<f64>()
                .map(Operand::Float)
                .map_err(|_| format!("invalid number {t:?}"));
        }
        return t
            .parse::<i64>()
            .map(Operand::Int)
            .map_err(|_| format!("invalid number {t:?}"));
    }
    let chars: Vec<char> = t.chars().collect();
    let mut pos = 0;
    let segs = parse_segments(&chars, &mut pos)?;
    if pos != chars.len() {
        return Err(format!("unexpected text in filter: {t:?}"));
    }
    Ok(Operand::Path(segs))
}

fn eval<'a>(segs: &[Seg], mut cur: Vec<&'a Value>) -> Result<Vec<&'a Value>, EvalError> {
    for seg in segs {
        let mut next: Vec<&'a Value> = Vec::new();
        match seg {
            Seg::Field(name) => {
                for v in cur {
                    if let Value::Object(m) = v {
                        if let Some(x) = m.get(name) {
                            next.push(x);
                        }
                    }
                }
            }
            Seg::Wildcard => {
                for v in cur {
                    match v {
                        Value::Object(m) => next.extend(m.values()),
                        Value::Array(a) => next.extend(a.iter()),
                        _ => {}
                    }
                }
            }
            Seg::Recursive => {
                for v in cur {
                    collect_descendants(v, &mut next);
                }
            }
            Seg::Array(slice) => {
                for v in cur {
                    match v {
                        Value::Null => {}
                        Value::Array(a) => next.extend(apply_slice(a, *slice)?),
                        other => {
                            return Err(EvalError(format!(
                                "{} is not array or slice",
                                go_type(other)
                            )))
                        }
                    }
                }
            }
            Seg::Filter(f) => {
                for v in cur {
                    match v {
                        Value::Null => {}
                        Value::Array(a) => {
                            for item in a {
                                if filter_matches(f, item)? {
                                    next.push(item);
                                }
                            }
                        }
                        other => {
                            return Err(EvalError(format!(
                                "{other} is not array or slice and cannot be filtered"
                            )))
                        }
                    }
                }
            }
        }
        cur = next;
    }
    Ok(cur)
}

/// All nodes at or below `v` in document order (client-go `..`).
fn collect_descendants<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Object(m) => m.values().for_each(|x| collect_descendants(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_descendants(x, out)),
        _ => {}
    }
}

fn out_of_bounds(index: i64, len: i64) -> EvalError {
    EvalError(format!(
        "array index out of bounds: index {index}, length {len}"
    ))
}

/// client-go's slice rules: negative bounds count from the end, an empty range is
/// allowed, and a start or end past the array is an error (no clamping).
fn apply_slice(a: &[Value], s: Slice) -> Result<Vec<&Value>, EvalError> {
    let len = a.len() as i64;
    let mut start = s.start.unwrap_or(0);
    if start < 0 {
        start += len;
    }
    if s.single {
        if start < 0 || start >= len {
            return Err(out_of_bounds(start, len));
        }
        return Ok(vec![&a[start as usize]]);
    }
    let mut end = s.end.unwrap_or(len);
    if end < 0 {
        end += len;
    }
    if end == start {
        return Ok(Vec::new());
    }
    if start < 0 || start >= len {
        return Err(out_of_bounds(start, len));
    }
    if end > len {
        return Err(out_of_bounds(end - 1, len));
    }
    if end < start {
        return Err(EvalError(format!("invalid slice index {start} > {end}")));
    }
    let step = s.step.unwrap_or(1);
    if step <= 0 {
        return Err(EvalError(format!("invalid slice step {step}")));
    }
    Ok((start..end)
        .step_by(step as usize)
        .map(|i| &a[i as usize])
        .collect())
}

fn operand_values<'a>(op: &'a Operand, item: &'a Value) -> Result<Vec<Lit<'a>>, EvalError> {
    Ok(match op {
        Operand::Path(segs) => eval(segs, vec![item])?.into_iter().map(Lit::Json).collect(),
        Operand::Str(s) => vec![Lit::Str(s)],
        Operand::Int(i) => vec![Lit::Int(*i)],
        Operand::Float(f) => vec![Lit::Float(*f)],
        Operand::Bool(b) => vec![Lit::Bool(*b)],
    })
}

enum Lit<'a> {
    Json(&'a Value),
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The comparable "basic kind" of a value (Go template `basicKind`).
enum Basic<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn basic<'a>(l: &Lit<'a>) -> Result<Basic<'a>, EvalError> {
    Ok(match l {
        Lit::Str(s) => Basic::Str(s),
        Lit::Int(i) => Basic::Int(*i),
        Lit::Float(f) => Basic::Float(*f),
        Lit::Bool(b) => Basic::Bool(*b),
        Lit::Json(v) => match v {
            Value::String(s) => Basic::Str(s),
            Value::Bool(b) => Basic::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Basic::Int(i),
                None => Basic::Float(
                    n.as_f64()
                        .ok_or_else(|| EvalError("invalid number".into()))?,
                ),
            },
            other => {
                return Err(EvalError(format!(
                    "invalid type for comparison: {}",
                    go_type(other)
                )))
            }
        },
    })
}

fn compare(op: &str, l: &Lit<'_>, r: &Lit<'_>) -> Result<bool, EvalError> {
    use std::cmp::Ordering;
    let (a, b) = (basic(l)?, basic(r)?);
    let ord: Option<Ordering> = match (&a, &b) {
        (Basic::Int(x), Basic::Int(y)) => Some(x.cmp(y)),
        (Basic::Float(x), Basic::Float(y)) => x.partial_cmp(y),
        (Basic::Str(x), Basic::Str(y)) => Some(x.cmp(y)),
        (Basic::Bool(x), Basic::Bool(y)) => {
            return match op {
                "==" => Ok(x == y),
                "!=" => Ok(x != y),
                _ => Err(EvalError("invalid type for comparison".into())),
            }
        }
        _ => return Err(EvalError("incompatible types for comparison".into())),
    };
    Ok(match op {
        "==" => ord == Some(Ordering::Equal),
        "!=" => ord != Some(Ordering::Equal),
        "<" => ord == Some(Ordering::Less),
        ">" => ord == Some(Ordering::Greater),
        "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        _ => return Err(EvalError(format!("unrecognized filter operator {op}"))),
    })
}

fn filter_matches(f: &Filter, item: &Value) -> Result<bool, EvalError> {
    let Some(op) = &f.op else {
        // exists: errors count as "not present".
        return Ok(operand_values(&f.left, item).is_ok_and(|v| !v.is_empty()));
    };
    let lefts = operand_values(&f.left, item)?;
    let left = match lefts.as_slice() {
        [] => return Ok(false),
        [one] => one,
        _ => return Err(EvalError("can only compare one element at a time".into())),
    };
    let rights = operand_values(&f.right, item)?;
    let right = match rights.as_slice() {
        [] => return Ok(false),
        [one] => one,
        _ => return Err(EvalError("can only compare one element at a time".into())),
    };
    compare(op, left, right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(path)
            .unwrap_or_else(|e| panic!("parse {path}: {e}"))
            .find(v)
            .ok()
            .and_then(|r| r.first().map(|x| (*x).clone()))
    }

    #[test]
    fn paths() {
        let obj = json!({
            "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "items": [1, 2, 3], "nothing": null},
            "status": {"conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True", "n": 2}
            ]}
        });
        assert_eq!(first(".spec.replicas", &obj), Some(json!(3)));
        assert_eq!(first("{.spec.replicas}", &obj), Some(json!(3)));
        assert_eq!(first("$.spec.replicas", &obj), Some(json!(3)));
        assert_eq!(first(".spec.missing", &obj), None);
        assert_eq!(first(".spec.nothing", &obj), Some(Value::Null));
        assert_eq!(first(".spec.nothing.deeper", &obj), None);
        assert_eq!(
            first(".status.conditions[?(@.type==\"Ready\")].status", &obj),
            Some(json!("True"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type=='Synced')].status", &obj),
            Some(json!("False"))
        );
        assert_eq!(
            first(".status.conditions[?(@.n==2)].type", &obj),
            Some(json!("Ready"))
        );
        assert_eq!(
            first(".status.conditions[?(@.n)].type", &obj),
            Some(json!("Ready"))
        );
        assert_eq!(first(".spec.items[1]", &obj), Some(json!(2)));
        assert_eq!(first(".spec.items[-1]", &obj), Some(json!(3)));
        assert_eq!(first(".spec.items[5]", &obj), None);
        assert_eq!(first(".spec.items[*]", &obj), Some(json!(1)));
        assert_eq!(first(".spec.items[1:]", &obj), Some(json!(2)));
        assert_eq!(
            first(".metadata.labels.app\\.kubernetes\\.io/name", &obj),
            Some(json!("web"))
        );
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &obj),
            Some(json!("web"))
        );
        assert_eq!(first("..name", &obj), Some(json!("x")));
        // indexing a non-array is an error
        assert_eq!(first(".spec.replicas[0]", &obj), None);
        assert!(JsonPath::parse(".spec[").is_err());
    }
}
