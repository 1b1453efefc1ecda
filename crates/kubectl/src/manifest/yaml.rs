//! YAML manifests read as kubectl reads them. kubectl converts YAML to JSON with go-yaml
//! v2, which follows YAML 1.1: plain `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0644` is
//! an octal integer (420), `<<` merges mappings, and integral floats (`1e3`) end up as
//! integers. A YAML 1.2 reader gives strings for most of these, so a `defaultMode: 0644`
//! would be sent as `"0644"`. Telling plain from quoted scalars needs the parser's events,
//! which only libyaml's low-level API exposes; this module drives it and builds the JSON
//! values with go-yaml's resolution rules.

use std::collections::HashMap;
use std::ffi::CStr;
use std::mem::MaybeUninit;

use serde_json::{Map, Number, Value};
use unsafe_libyaml as unsafe_y;

use crate::printer::yaml::{self, Plain};

/// One parser event, copied out of libyaml's buffers.
enum Event {
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(String),
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        value: String,
        plain: bool,
    },
    SequenceStart(Option<String>),
    SequenceEnd,
    MappingStart(Option<String>),
    MappingEnd,
    Other,
}

/// Owns an initialised libyaml parser reading from a borrowed string.
struct Parser<'a> {
    raw: Box<MaybeUninit<unsafe_y::yaml_parser_t>>,
    _input: &'a [u8],
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Option<Parser<'a>> {
        let mut raw = Box::new(MaybeUninit::<unsafe_y::yaml_parser_t>::uninit());
        // SAFETY: `raw` is valid writable memory for a parser; libyaml initialises it and
        // reports failure (out of memory) through `ok`.
        let ok = unsafe { unsafe_y::yaml_parser_initialize(raw.as_mut_ptr()).ok };
        if !ok {
            return None;
        }
        // SAFETY: the parser was initialised above; `input` outlives the parser (the
        // borrow is held by `_input`), as libyaml requires.
        unsafe {
            unsafe_y::yaml_parser_set_input_string(
                raw.as_mut_ptr(),
                input.as_ptr(),
                input.len() as _,
            )
        };
        Some(Parser { raw, _input: input })
    }

    /// The next event, or `None` on a syntax error.
    fn next(&mut self) -> Option<Event> {
        let mut ev = MaybeUninit::<unsafe_y::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised; on success libyaml fills `ev`, whose
        // pointers stay valid until `yaml_event_delete`, and everything needed is copied
        // out before that.
        unsafe {
            if !unsafe_y::yaml_parser_parse(self.raw.as_mut_ptr(), ev.as_mut_ptr()).ok {
                return None;
            }
            let mut ev = ev.assume_init();
            let out = copy_event(&ev);
            unsafe_y::yaml_event_delete(&mut ev);
            Some(out)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` and deleted exactly once.
        unsafe { unsafe_y::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

/// # Safety
/// `p` is null or a NUL-terminated string owned by a live event.
unsafe fn c_string(p: *const u8) -> Option<String> {
    if p.is_null() {
        return None;
    }
    Some(CStr::from_ptr(p.cast()).to_string_lossy().into_owned())
}

/// # Safety
/// `ev` is an event filled by `yaml_parser_parse` and not yet deleted.
unsafe fn copy_event(ev: &unsafe_y::yaml_event_t) -> Event {
    match ev.type_ {
        unsafe_y::YAML_STREAM_END_EVENT => Event::StreamEnd,
        unsafe_y::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
        unsafe_y::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
        unsafe_y::YAML_ALIAS_EVENT => {
            Event::Alias(c_string(ev.data.alias.anchor).unwrap_or_default())
        }
        unsafe_y::YAML_SCALAR_EVENT => {
            let s = ev.data.scalar;
            let bytes = if s.value.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(s.value, s.length as usize)
            };
            Event::Scalar {
                anchor: c_string(s.anchor),
                tag: c_string(s.tag),
                value: String::from_utf8_lossy(bytes).into_owned(),
                plain: s.style == unsafe_y::YAML_PLAIN_SCALAR_STYLE,
            }
        }
        unsafe_y::YAML_SEQUENCE_START_EVENT => {
            Event::SequenceStart(c_string(ev.data.sequence_start.anchor))
        }
        unsafe_y::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
        unsafe_y::YAML_MAPPING_START_EVENT => {
            Event::MappingStart(c_string(ev.data.mapping_start.anchor))
        }
        unsafe_y::YAML_MAPPING_END_EVENT => Event::MappingEnd,
        _ => Event::Other,
    }
}

/// Why a stream could not be read: a syntax error (worded by the caller) or go-yaml's
/// message for a semantic one.
#[derive(Debug)]
pub enum YamlError {
    Syntax,
    Message(String),
}

fn next(p: &mut Parser<'_>) -> Result<Event, YamlError> {
    p.next().ok_or(YamlError::Syntax)
}

/// The documents of a YAML stream as JSON values (`Null` for empty documents). Anchors
/// do not reach across documents, as kubectl splits the stream before parsing.
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let (docs, err) = documents_until_error(text);
    match err {
        Some(e) => Err(e),
        None => Ok(docs),
    }
}

/// The documents read before the first error, and that error: kubectl checks each
/// document before reading the next, so an earlier document's problem is reported
/// first.
pub fn documents_until_error(text: &str) -> (Vec<Value>, Option<YamlError>) {
    let mut docs = Vec::new();
    let Some(mut p) = Parser::new(text.as_bytes()) else {
        return (docs, Some(YamlError::Syntax));
    };
    loop {
        let ev = match next(&mut p) {
            Ok(ev) => ev,
            Err(e) => return (docs, Some(e)),
        };
        match ev {
            Event::StreamEnd => return (docs, None),
            Event::DocumentStart => match document(&mut p) {
                Ok(v) => docs.push(v),
                Err(e) => return (docs, Some(e)),
            },
            _ => {}
        }
    }
}

fn document(p: &mut Parser<'_>) -> Result<Value, YamlError> {
    let mut anchors = HashMap::new();
    match next(p)? {
        Event::DocumentEnd => Ok(Value::Null),
        ev => {
            let v = node(p, ev, &mut anchors)?;
            match next(p)? {
                Event::DocumentEnd => Ok(v),
                _ => Err(YamlError::Syntax),
            }
        }
    }
}

fn node(
    p: &mut Parser<'_>,
    ev: Event,
    anchors: &mut HashMap<String, Value>,
) -> Result<Value, YamlError> {
    let (anchor, v) = match ev {
        Event::Alias(a) => {
            return anchors
                .get(&a)
                .cloned()
                .ok_or_else(|| YamlError::Message(format!("unknown anchor '{a}' referenced")))
        }
        Event::Scalar {
            anchor,
            tag,
            value,
            plain,
        } => (anchor, scalar(&value, tag.as_deref(), plain)),
        Event::SequenceStart(anchor) => {
            let mut items = Vec::new();
            loop {
                match next(p)? {
                    Event::SequenceEnd => break,
                    ev => items.push(node(p, ev, anchors)?),
                }
            }
            (anchor, Value::Array(items))
        }
        Event::MappingStart(anchor) => {
            let mut m = Map::new();
            loop {
                let key_ev = next(p)?;
                if matches!(key_ev, Event::MappingEnd) {
                    break;
                }
                let is_merge = matches!(&key_ev, Event::Scalar { value, plain: true, tag: None, .. } if value == "<<");
                let key = node(p, key_ev, anchors)?;
                let ev = next(p)?;
                let value = node(p, ev, anchors)?;
                if is_merge {
                    merge_into(&mut m, value);
                    continue;
                }
                m.insert(key_string(&key), value);
            }
            (anchor, Value::Object(m))
        }
        _ => return Err(YamlError::Syntax),
    };
    if let Some(a) = anchor {
        anchors.insert(a, v.clone());
    }
    Ok(v)
}

/// `<<: *base` (or a list of them, earlier ones taking precedence).
fn merge_into(m: &mut Map<String, Value>, value: Value) {
    match value {
        Value::Object(src) => {
            for (k, v) in src {
                m.insert(k, v);
            }
        }
        Value::Array(items) => {
            for it in items.into_iter().rev() {
                merge_into(m, it);
            }
        }
        _ => {}
    }
}

/// Mapping keys become JSON object keys as text.
fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// A scalar resolved as go-yaml v2 resolves it.
fn scalar(s: &str, tag: Option<&str>, plain: bool) -> Value {
    match tag.and_then(|t| t.strip_prefix(TAG_PREFIX)) {
        Some("str") => return Value::String(s.into()),
        Some("null") => return Value::Null,
        Some("bool") | Some("int") | Some("float") => return resolve_plain(s),
        _ => {}
    }
    if !plain {
        return Value::String(s.into());
    }
    resolve_plain(s)
}

fn resolve_plain(s: &str) -> Value {
    match yaml::resolve_plain(s) {
        Plain::Null => Value::Null,
        Plain::Bool(b) => Value::Bool(b),
        Plain::Int(n) => Value::Number(n),
        Plain::Float(f) if f.is_finite() => float_value(f),
        // kubectl cannot send `.inf` or `.nan` as JSON; they stay text here.
        Plain::Float(_) | Plain::Timestamp | Plain::Str => Value::String(s.into()),
    }
}

/// A float as it reaches the API object: Go writes integral values in range without an
/// exponent, which then decode as integers.
fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        documents(text)
            .ok()
            .and_then(|d| d.into_iter().next())
            .unwrap_or_else(|| panic!("parse {text}"))
    }

    #[test]
    fn yaml_1_1_scalars_as_go_yaml_resolves_them() {
        let v = one("a: 0644\nb: yes\nc: 0x1F\nd: '0644'\ne: 1e3\nf: ~\ng: off\nh: \"on\"\ni: 1.5\nj: 2001-12-14\nk: 08\nl: -12\nm: 1_000\nnn:\no: !!str 12\ny: Norway\np: -+5\nq: 1e999\n");
        assert_eq!(
            v,
            json!({"a": 420, "b": true, "c": 31, "d": "0644", "e": 1000, "f": null, "g": false,
                   "h": "on", "i": 1.5, "j": "2001-12-14", "k": 8, "l": -12, "m": 1000,
                   "nn": null, "o": "12", "true": "Norway", "p": "-+5", "q": "1e999"})
        );
    }

    #[test]
    fn anchors_merges_and_documents() {
        let docs = documents(
            "base: &b {x: 1, z: 2}\nuse:\n  <<: *b\n  z: 3\nlist: [*b]\n---\n---\nk: v\n",
        )
        .unwrap_or_else(|e| panic!("parse: {e:?}"));
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["use"], json!({"x": 1, "z": 3}));
        assert_eq!(docs[0]["list"], json!([{"x": 1, "z": 2}]));
        assert_eq!(docs[1], Value::Null);
        assert_eq!(docs[2], json!({"k": "v"}));
        assert!(matches!(documents("a: [1, 2\n"), Err(YamlError::Syntax)));
        assert!(matches!(
            documents("a: &x 1\n---\nb: *x\n"),
            Err(YamlError::Message(m)) if m == "unknown anchor 'x' referenced"
        ));
        assert_eq!(one("|\n  text\n"), json!("text\n"));
    }
}
