//! kubectl's JSONPath templates (`-o jsonpath=…`, `jsonpath-as-json`): literal text and
//! `{…}` actions holding paths (evaluated by apimachinery's JSONPath), quoted strings,
//! and `range … end` loops. Results of one action print space-separated; maps and lists
//! print as compact JSON, `null` as `null`.

use rkube_apimachinery::table::jsonpath::JsonPath;
use serde_json::Value;

/// One parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    /// One `{…}` action: its steps are applied in turn, each to the previous results.
    Action(Vec<Step>),
    /// `{range STEPS}` … `{end}`.
    Range(Vec<Step>, Vec<Node>),
}

#[derive(Debug, Clone)]
enum Step {
    Path(JsonPath),
    Text(String),
}

/// Why executing failed (kubectl wraps this with the template and the object).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecError(pub String);

impl Template {
    /// Parses `src`; the error text is what follows `error parsing jsonpath SRC, `.
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut items: Vec<Item> = Vec::new();
        let chars: Vec<char> = src.chars().collect();
        let mut i = 0;
        let mut text = String::new();
        while i < chars.len() {
            if chars[i] == '{' {
                if !text.is_empty() {
                    items.push(Item::Text(std::mem::take(&mut text)));
                }
                i += 1;
                items.push(parse_action(&chars, &mut i)?);
            } else {
                text.push(chars[i]);
                i += 1;
            }
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        let mut it = items.into_iter();
        let nodes = nest(&mut it, false)?;
        Ok(Template {
            source: src.to_string(),
            nodes,
        })
    }

    /// Runs the template on `data`. Each top-level action contributes one result list;
    /// text renders as one string result.
    pub fn execute(&self, data: &Value, as_json: bool) -> Result<String, ExecError> {
        let lists = self.results(data)?;
        let mut out = String::new();
        for results in &lists {
            if as_json {
                out.push_str(&super::to_json(&Value::Array(results.clone())));
                continue;
            }
            let texts: Vec<String> = results.iter().map(text_of).collect();
            out.push_str(&texts.join(" "));
        }
        Ok(out)
    }

    /// The result lists of the template's actions, in order.
    pub fn results(&self, data: &Value) -> Result<Vec<Vec<Value>>, ExecError> {
        let mut lists: Vec<Vec<Value>> = Vec::new();
        run(&self.nodes, data, &mut lists)?;
        Ok(lists)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A flat template element before `range`/`end` are paired.
enum Item {
    Text(String),
    Action(Vec<Step>),
    Range(Vec<Step>),
    End,
}

fn nest(it: &mut impl Iterator<Item = Item>, in_range: bool) -> Result<Vec<Node>, String> {
    let mut out = Vec::new();
    while let Some(item) = it.next() {
        match item {
            Item::Text(t) => out.push(Node::Text(t)),
            Item::Action(steps) => out.push(Node::Action(steps)),
            Item::Range(steps) => {
                let body = nest(it, true)?;
                out.push(Node::Range(steps, body));
            }
            Item::End if in_range => return Ok(out),
            // An `end` outside any range fails when executed, as in client-go.
            Item::End => out.push(Node::Action(vec![Step::Text("\u{0}end".into())])),
        }
    }
    Ok(out)
}

/// Parses one action after its `{`, up to and including the `}`.
fn parse_action(chars: &[char], i: &mut usize) -> Result<Item, String> {
    let mut steps = Vec::new();
    let mut range = false;
    loop {
        let Some(&c) = chars.get(*i) else {
            return Err("unclosed action".into());
        };
        match c {
            '}' => {
                *i += 1;
                break;
            }
            '\n' | '\r' => return Err("unclosed action".into()),
            ' ' | '\t' => *i += 1,
            '"' | '\'' => steps.push(Step::Text(parse_quote(chars, i, c)?)),
            c if c.is_alphabetic() && !matches!(c, '@' | '$') => {
                let start = *i;
                while chars
                    .get(*i)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    *i += 1;
                }
                let word: String = chars[start..*i].iter().collect();
                match word.as_str() {
                    "range" if steps.is_empty() && !range => range = true,
                    "end" if steps.is_empty() && !range => {
                        skip_to_close(chars, i)?;
                        return Ok(Item::End);
                    }
                    _ => return Err(format!("unrecognized identifier {word}")),
                }
            }
            _ => {
                let start = *i;
                scan_path(chars, i)?;
                let text: String = chars[start..*i].iter().collect();
                let path = JsonPath::parse(&text)?;
                steps.push(Step::Path(path));
            }
        }
    }
    Ok(if range {
        Item::Range(steps)
    } else {
        Item::Action(steps)
    })
}

fn skip_to_close(chars: &[char], i: &mut usize) -> Result<(), String> {
    while let Some(&c) = chars.get(*i) {
        *i += 1;
        match c {
            '}' => return Ok(()),
            ' ' | '\t' => {}
            c => return Err(format!("unrecognized character in action: {c:?}")),
        }
    }
    Err("unclosed action".into())
}

/// Advances over one path expression: up to a blank, a quote or the closing brace,
/// keeping brackets (filters may hold any of those) whole.
fn scan_path(chars: &[char], i: &mut usize) -> Result<(), String> {
    let start = *i;
    while let Some(&c) = chars.get(*i) {
        match c {
            '\\' => *i += 2,
            '[' => {
                let mut depth = 0;
                let mut quote: Option<char> = None;
                while let Some(&d) = chars.get(*i) {
                    *i += 1;
                    match (quote, d) {
                        (Some(q), '\\') if q != '\0' => *i += 1,
                        (Some(q), d) if d == q => quote = None,
                        (Some(_), _) => {}
                        (None, '"' | '\'') => quote = Some(d),
                        (None, '[') => depth += 1,
                        (None, ']') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    return Err("unclosed action".into());
                }
            }
            '}' | ' ' | '\t' | '"' | '\'' => break,
            '\n' | '\r' => return Err("unclosed action".into()),
            _ => *i += 1,
        }
    }
    if *i == start {
        return Err(format!(
            "unrecognized character in action: {:?}",
            chars.get(start).copied().unwrap_or(' ')
        ));
    }
    Ok(())
}

/// A quoted string with Go escapes (`\n`, `\t`, `\"`, `\\`, `\uXXXX`).
fn parse_quote(chars: &[char], i: &mut usize, q: char) -> Result<String, String> {
    *i += 1;
    let mut out = String::new();
    loop {
        let Some(&c) = chars.get(*i) else {
            return Err("unterminated quoted string".into());
        };
        *i += 1;
        match c {
            '\n' => return Err("unterminated quoted string".into()),
            c if c == q => return Ok(out),
            '\\' => {
                let Some(&e) = chars.get(*i) else {
                    return Err("unterminated quoted string".into());
                };
                *i += 1;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'u' => {
                        let hex: String = chars.iter().skip(*i).take(4).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or("invalid syntax")?;
                        out.push(code);
                        *i += 4;
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
}

fn eval_steps(steps: &[Step], data: &Value) -> Result<Vec<Value>, ExecError> {
    let mut cur: Vec<Value> = vec![data.clone()];
    for step in steps {
        match step {
            Step::Text(t) if t == "\u{0}end" => {
                return Err(ExecError("not in range, nothing to end".into()))
            }
            Step::Text(t) => cur = vec![Value::String(t.clone())],
            Step::Path(p) => {
                let mut next = Vec::new();
                for v in &cur {
                    let found = p.find(v).map_err(|e| ExecError(e.0))?;
                    next.extend(found.into_iter().cloned());
                }
                cur = next;
            }
        }
    }
    Ok(cur)
}

fn run(nodes: &[Node], data: &Value, out: &mut Vec<Vec<Value>>) -> Result<(), ExecError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push(vec![Value::String(t.clone())]),
            Node::Action(steps) => out.push(eval_steps(steps, data)?),
            Node::Range(steps, body) => {
                for item in eval_steps(steps, data)? {
                    run(body, &item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// How one result prints: strings as they are, numbers as Go prints them, everything
/// else as compact JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => match n.as_u64() {
                Some(u) => u.to_string(),
                None => super::yaml::format_g(n.as_f64().unwrap_or(0.0)),
            },
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => super::go_json(other),
    }
}

/// Go's `%#v` of a decoded JSON value, which kubectl prints when a template fails.
pub fn go_syntax(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => text_of(v),
        Value::String(s) => go_quote(s),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_syntax).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "map[string]interface {{}}{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_syntax(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Go's `%q` for strings.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !go_printable(c) => {
                let n = c as u32;
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: no controls, no spaces other than
/// U+0020, no format characters, no private-use or non-characters.
fn go_printable(c: char) -> bool {
    let n = c as u32;
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        return false;
    }
    !matches!(n,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF | 0xF0000..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exec(t: &str, v: &Value) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .execute(v, false)
            .unwrap_or_else(|e| panic!("{t}: {}", e.0))
    }

    #[test]
    fn templates_print_as_kubectl() {
        let list = json!({"items": [
            {"metadata": {"name": "a", "labels": {"app": "x"}}, "spec": {"n": 2, "f": 1.5},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b"}, "spec": {"n": null},
             "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        ]});
        assert_eq!(exec("{.items[*].metadata.name}", &list), "a b");
        assert_eq!(
            exec("{range .items[*]}{.metadata.name}{\"\\n\"}{end}", &list),
            "a\nb\n"
        );
        assert_eq!(
            exec("{range .items[*]}[{@.metadata.name}]{end}after", &list),
            "[a][b]after"
        );
        assert_eq!(
            exec(
                "{.items[*].status.conditions[?(@.type==\"Ready\")].status}",
                &list
            ),
            "True False"
        );
        assert_eq!(
            exec("x{.items[0].metadata.labels}y", &list),
            "x{\"app\":\"x\"}y"
        );
        assert_eq!(
            exec("{.items[*].spec.n} {.items[0].spec.f}", &list),
            "2 null 1.5"
        );
        assert_eq!(exec("{.nope}{$.items[1].metadata.name}", &list), "b");
        assert_eq!(exec("{.items[0].metadata.name 'q'}", &list), "q");
        let err = Template::parse("{.items[9]}")
            .ok()
            .and_then(|t| t.execute(&list, false).err());
        assert_eq!(
            err.map(|e| e.0),
            Some("array index out of bounds: index 9, length 2".to_string())
        );
        assert_eq!(
            Template::parse("{.data").err().as_deref(),
            Some("unclosed action")
        );
        let end = Template::parse("{.a}{end}")
            .ok()
            .and_then(|t| t.execute(&list, false).err());
        assert_eq!(
            end.map(|e| e.0),
            Some("not in range, nothing to end".to_string())
        );
        let as_json = Template::parse("{.items[*].metadata.name}{.nope}")
            .ok()
            .and_then(|t| t.execute(&list, true).ok());
        assert_eq!(
            as_json.as_deref(),
            Some("[\n    \"a\",\n    \"b\"\n]\n[]\n")
        );
        assert_eq!(go_quote("a\u{2028}b\u{feff}😀"), "\"a\\u2028b\\ufeff😀\"");
        assert_eq!(
            go_syntax(&json!({"a": [1, "x\"y", null]})),
            "map[string]interface {}{\"a\":[]interface {}{1, \"x\\\"y\", interface {}(nil)}}"
        );
    }
}
