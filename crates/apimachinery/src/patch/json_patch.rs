//! JSON patch (RFC 6902) as kube-apiserver applies it (`gopkg.in/evanphx/json-patch.v4`).
//!
//! Upstream's library is more lenient than the RFC in a few places and clients depend on
//! it, so we follow it: `replace` of a missing object member adds it, a missing `value`
//! means `null`, negative array indices count from the end, and a `test` of a missing
//! member against `null` succeeds. Messages use upstream's wording.

use serde_json::{Map, Value};

use super::PatchError;

/// Upstream's cap on operations in one JSON patch (answered with 413).
pub const MAX_OPERATIONS: usize = 10_000;

/// kube-apiserver's default `--json-patch-max-copy-bytes`-style limit on bytes `copy`
/// operations may add in one patch (3 MiB).
pub const DEFAULT_MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Escapes one JSON pointer reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Decodes one JSON pointer reference token (`~1` → `/`, `~0` → `~`), in one pass so
/// `~01` becomes `~1` as RFC 6901 requires.
pub fn unescape_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('0') => {
                    chars.next();
                    out.push('~');
                    continue;
                }
                Some('1') => {
                    chars.next();
                    out.push('/');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// A decoded JSON patch: a list of operation objects, checked lazily on apply like
/// upstream (so a bad operation is a 422 from the apply step, not a 400).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPatch {
    operations: Vec<Map<String, Value>>,
}

impl JsonPatch {
    /// Decodes a request body (400 for anything that is not an array of objects, 413 for
    /// more than [`MAX_OPERATIONS`] operations).
    pub fn from_slice(body: &[u8]) -> Result<Self, PatchError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| PatchError::BadRequest(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Like [`JsonPatch::from_slice`] for an already parsed body.
    pub fn from_value(patch: &Value) -> Result<Self, PatchError> {
        let Value::Array(items) = patch else {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_type(patch)
            )));
        };
        let mut operations = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::Object(op) => operations.push(op.clone()),
                // Go decodes a null element as an empty operation.
                Value::Null => operations.push(Map::new()),
                other => {
                    return Err(PatchError::BadRequest(format!(
                        "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                        json_type(other)
                    )))
                }
            }
        }
        if operations.len() > MAX_OPERATIONS {
            return Err(PatchError::TooLarge(format!(
                "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}",
                operations.len()
            )));
        }
        Ok(JsonPatch { operations })
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// True when the patch has no operations.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Applies all operations to a copy of `doc` with the default copy limit.
    pub fn apply(&self, doc: &Value) -> Result<Value, PatchError> {
        self.apply_with_copy_limit(doc, Some(DEFAULT_MAX_COPY_BYTES))
    }

    /// Applies all operations; `copy_limit` bounds the serialized bytes added by `copy`
    /// operations (`None` disables the check). Failures are 422s.
    pub fn apply_with_copy_limit(
        &self,
        doc: &Value,
        copy_limit: Option<usize>,
    ) -> Result<Value, PatchError> {
        let mut doc = doc.clone();
        let mut copied = 0usize;
        for op in &self.operations {
            apply_operation(&mut doc, op, copy_limit, &mut copied)
                .map_err(PatchError::Unprocessable)?;
        }
        Ok(doc)
    }
}

/// Decodes and applies `patch` to `doc` (the common one-shot use).
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    JsonPatch::from_value(patch)?.apply(doc)
}

/// Go's name for a JSON value's type in `encoding/json` unmarshal errors.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const MISSING: &str = "missing value";
const INVALID_INDEX: &str = "invalid index referenced";

/// Reads a string member; `Err` carries the inner error text (missing or mistyped).
fn string_member(op: &Map<String, Value>, name: &str, missing: &str) -> Result<String, String> {
    match op.get(name) {
        None | Some(Value::Null) => Err(format!("{missing}: {MISSING}")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_type(other)
        )),
    }
}

fn path_of(op: &Map<String, Value>) -> Result<String, String> {
    string_member(op, "path", "operation missing path field")
}

fn from_of(op: &Map<String, Value>) -> Result<String, String> {
    string_member(op, "from", "operation, missing from field")
}

/// The operation's `value`; absent and `null` are both `null` upstream.
fn value_of(op: &Map<String, Value>) -> Value {
    op.get("value").cloned().unwrap_or(Value::Null)
}

fn apply_operation(
    doc: &mut Value,
    op: &Map<String, Value>,
    copy_limit: Option<usize>,
    copied: &mut usize,
) -> Result<(), String> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    match kind {
        "add" => {
            let path = path_of(op)
                .map_err(|_| format!("add operation failed to decode path: {MISSING}"))?;
            let (container, key) = find_container(doc, &path).ok_or_else(|| {
                format!("add operation does not apply: doc is missing path: \"{path}\": {MISSING}")
            })?;
            add(container, &key, value_of(op))
                .map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path = path_of(op)
                .map_err(|_| format!("remove operation failed to decode path: {MISSING}"))?;
            let (container, key) = find_container(doc, &path).ok_or_else(|| {
                format!(
                    "remove operation does not apply: doc is missing path: \"{path}\": {MISSING}"
                )
            })?;
            remove(container, &key)
                .map(|_| ())
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path =
                path_of(op).map_err(|e| format!("replace operation failed to decode path: {e}"))?;
            if path.is_empty() {
                // Upstream only swaps the whole document for an object or array value and
                // silently ignores anything else.
                let value = value_of(op);
                if value.is_object() || value.is_array() {
                    *doc = value;
                }
                return Ok(());
            }
            let (container, key) = find_container(doc, &path).ok_or_else(|| {
                format!("replace operation does not apply: doc is missing path: {path}: {MISSING}")
            })?;
            if get(container, &key).is_err() {
                return Err(format!(
                    "replace operation does not apply: doc is missing key: {path}: {MISSING}"
                ));
            }
            // Upstream's message says "remove" here; kept for recognisability.
            set(container, &key, value_of(op))
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "move" => {
            let from =
                from_of(op).map_err(|e| format!("move operation failed to decode from: {e}"))?;
            let (container, key) = find_container(doc, &from).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing from path: {from}: {MISSING}"
                )
            })?;
            get(container, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let value = remove(container, &key)
                .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let path =
                path_of(op).map_err(|e| format!("move operation failed to decode path: {e}"))?;
            let (container, key) = find_container(doc, &path).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing destination path: {path}: {MISSING}"
                )
            })?;
            add(container, &key, value)
                .map_err(|e| format!("error in move for path: '{path}': {e}"))
        }
        "test" => {
            let path =
                path_of(op).map_err(|e| format!("test operation failed to decode path: {e}"))?;
            let expected = value_of(op);
            let failed = || format!("testing value {path} failed: test failed");
            if path.is_empty() {
                return if *doc == expected {
                    Ok(())
                } else {
                    Err(failed())
                };
            }
            let (container, key) = find_container(doc, &path).ok_or_else(|| {
                format!("test operation does not apply: is missing path: {path}: {MISSING}")
            })?;
            let actual = get(container, &key)
                .map_err(|e| format!("error in test for path: '{path}': {e}"))?;
            match actual {
                // A missing member and a null member are both "nil" upstream.
                None => {
                    if expected.is_null() {
                        Ok(())
                    } else {
                        Err(failed())
                    }
                }
                Some(actual) if !expected.is_null() && *actual == expected => Ok(()),
                Some(_) => Err(failed()),
            }
        }
        "copy" => {
            let from =
                from_of(op).map_err(|e| format!("copy operation failed to decode from: {e}"))?;
            let (container, key) = find_container(doc, &from).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing from path: {from}: {MISSING}"
                )
            })?;
            let value = get(container, &key)
                .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
                .cloned()
                .unwrap_or(Value::Null);
            let path = path_of(op)
                .map_err(|_| format!("copy operation failed to decode path: {MISSING}"))?;
            let (container, key) = find_container(doc, &path).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing destination path: {path}: {MISSING}"
                )
            })?;
            *copied = copied.saturating_add(value.to_string().len());
            if let Some(limit) = copy_limit {
                if limit > 0 && *copied > limit {
                    return Err(format!(
                        "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {limit}"
                    ));
                }
            }
            add(container, &key, value)
                .map_err(|e| format!("error while adding value during copy: {e}"))
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

/// Resolves all but the last pointer token; returns the parent container (object or
/// array) and the decoded last token. `None` when any step is missing.
fn find_container<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let tokens: Vec<&str> = path.split('/').collect();
    if tokens.len() < 2 || !tokens[0].is_empty() {
        return None;
    }
    let last = tokens.len() - 1;
    let mut current = doc;
    for raw in &tokens[1..last] {
        let token = unescape_token(raw);
        let next = match current {
            Value::Object(map) => map.get_mut(&token)?,
            Value::Array(items) => {
                let idx = resolve_index(&token, items.len(), false).ok()?;
                items.get_mut(idx)?
            }
            _ => return None,
        };
        if !(next.is_object() || next.is_array()) {
            return None;
        }
        current = next;
    }
    if !(current.is_object() || current.is_array()) {
        return None;
    }
    Some((current, unescape_token(tokens[last])))
}

/// Go's `strconv.Atoi` error text.
fn atoi(token: &str) -> Result<i64, String> {
    token
        .parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing \"{token}\": invalid syntax"))
}

/// Turns a (possibly negative) index into a position; `insert` allows one past the end.
fn resolve_index(token: &str, len: usize, insert: bool) -> Result<usize, String> {
    let idx = atoi(token)?;
    let size = if insert { len + 1 } else { len };
    let size_i = i64::try_from(size).unwrap_or(i64::MAX);
    let invalid = || format!("Unable to access invalid index: {idx}: {INVALID_INDEX}");
    let resolved = if idx < 0 {
        if idx < -size_i {
            return Err(invalid());
        }
        idx + size_i
    } else {
        idx
    };
    let resolved = usize::try_from(resolved).map_err(|_| invalid())?;
    if resolved >= size {
        return Err(invalid());
    }
    Ok(resolved)
}

/// Reads a member; `Ok(None)` for a missing or null object member (upstream's nil).
fn get<'a>(container: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match container {
        Value::Object(map) => Ok(map.get(key).filter(|v| !v.is_null())),
        Value::Array(items) => {
            let idx = resolve_index(key, items.len(), false)?;
            Ok(items.get(idx).filter(|v| !v.is_null()))
        }
        _ => Err(format!(
            "Unable to access invalid index: {key}: {INVALID_INDEX}"
        )),
    }
}

fn add(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            if key == "-" {
                items.push(value);
                return Ok(());
            }
            atoi(key).map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            let idx = resolve_index(key, items.len(), true)?;
            items.insert(idx, value);
            Ok(())
        }
        _ => Err(format!(
            "Unable to access invalid index: {key}: {INVALID_INDEX}"
        )),
    }
}

fn remove(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(map) => map
            .remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: {MISSING}")),
        Value::Array(items) => {
            let idx = resolve_index(key, items.len(), false)?;
            Ok(items.remove(idx))
        }
        _ => Err(format!(
            "Unable to access invalid index: {key}: {INVALID_INDEX}"
        )),
    }
}

fn set(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let idx = resolve_index(key, items.len(), false)?;
            if let Some(slot) = items.get_mut(idx) {
                *slot = value;
            }
            Ok(())
        }
        _ => Err(format!(
            "Unable to access invalid index: {key}: {INVALID_INDEX}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(doc: Value, patch: Value) -> Value {
        apply(&doc, &patch).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(doc: Value, patch: Value) -> PatchError {
        match apply(&doc, &patch) {
            Ok(v) => panic!("unexpectedly applied: {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn add_remove_replace() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}});
        let out = ok(
            doc,
            json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "replace", "path": "/spec/list/0", "value": 10},
                {"op": "add", "path": "/spec/list/-", "value": 3},
                {"op": "add", "path": "/spec/list/1", "value": 5}
            ]),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"list": [10, 5, 2, 3]}})
        );
    }

    #[test]
    fn pointer_escaping() {
        let doc = json!({"metadata": {"annotations": {"example.com/a~b": "x"}}});
        let out = ok(
            doc,
            json!([
                {"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "y"},
                {"op": "add", "path": "/metadata/annotations/k8s.io~1c", "value": "z"}
            ]),
        );
        assert_eq!(
            out,
            json!({"metadata": {"annotations": {"example.com/a~b": "y", "k8s.io/c": "z"}}})
        );
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(unescape_token("~01"), "~1");
    }

    #[test]
    fn move_copy_test() {
        let doc = json!({"a": {"x": 1}, "b": [1, 2, 3]});
        let out = ok(
            doc,
            json!([
                {"op": "test", "path": "/a/x", "value": 1},
                {"op": "copy", "from": "/a", "path": "/c"},
                {"op": "move", "from": "/a/x", "path": "/d"},
                {"op": "move", "from": "/b/0", "path": "/b/-"},
                {"op": "test", "path": "/missing", "value": null}
            ]),
        );
        assert_eq!(out, json!({"a": {}, "b": [2, 3, 1], "c": {"x": 1}, "d": 1}));
    }

    #[test]
    fn upstream_leniency() {
        // replace of a missing member adds it (evanphx/json-patch v4 behaviour).
        assert_eq!(
            ok(
                json!({"a": {}}),
                json!([{"op": "replace", "path": "/a/b", "value": 1}])
            ),
            json!({"a": {"b": 1}})
        );
        // negative indices count from the end.
        assert_eq!(
            ok(
                json!({"l": [1, 2, 3]}),
                json!([{"op": "remove", "path": "/l/-1"}])
            ),
            json!({"l": [1, 2]})
        );
        // a missing value is null.
        assert_eq!(
            ok(json!({}), json!([{"op": "add", "path": "/a"}])),
            json!({"a": null})
        );
    }

    #[test]
    fn errors_are_422_with_upstream_text() {
        let e = err(
            json!({"a": 1}),
            json!([{"op": "test", "path": "/a", "value": 2}]),
        );
        assert_eq!(e.status_code(), 422);
        assert_eq!(e.to_string(), "testing value /a failed: test failed");
        assert_eq!(
            e.status_message(),
            "the server rejected our request due to an error in our request"
        );
        assert_eq!(
            err(json!({}), json!([{"op": "remove", "path": "/x"}])).to_string(),
            "error in remove for path: '/x': Unable to remove nonexistent key: x: missing value"
        );
        assert_eq!(
            err(
                json!({}),
                json!([{"op": "add", "path": "/a/b", "value": 1}])
            )
            .to_string(),
            "add operation does not apply: doc is missing path: \"/a/b\": missing value"
        );
        assert_eq!(
            err(json!({"l": []}), json!([{"op": "add", "path": "/l/5", "value": 1}])).to_string(),
            "error in add for path: '/l/5': Unable to access invalid index: 5: invalid index referenced"
        );
        assert_eq!(
            err(json!({"l": []}), json!([{"op": "add", "path": "/l/x", "value": 1}])).to_string(),
            "error in add for path: '/l/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            err(
                json!({"l": [1]}),
                json!([{"op": "replace", "path": "/l/3", "value": 1}])
            )
            .to_string(),
            "replace operation does not apply: doc is missing key: /l/3: missing value"
        );
        assert_eq!(
            err(json!({}), json!([{"op": "frobnicate", "path": "/a"}])).to_string(),
            "Unexpected kind: frobnicate"
        );
        assert_eq!(
            err(json!({}), json!([{"op": "add", "value": 1}])).to_string(),
            "add operation failed to decode path: missing value"
        );
        assert_eq!(
            err(
                json!({}),
                json!([{"op": "move", "from": "/x", "path": "/y"}])
            )
            .to_string(),
            "error in move for path: 'x': Unable to remove nonexistent key: x: missing value"
        );
    }

    #[test]
    fn decode_errors_are_400_and_413() {
        let e = err(json!({}), json!({"op": "add"}));
        assert_eq!(e.status_code(), 400);
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        );
        let many = Value::Array(vec![
            json!({"op": "test", "path": "/a"});
            MAX_OPERATIONS + 1
        ]);
        assert_eq!(err(json!({}), many).status_code(), 413);
        assert!(JsonPatch::from_slice(b"not json").is_err());
    }

    #[test]
    fn copy_limit() {
        let patch = JsonPatch::from_value(&json!([
            {"op": "copy", "from": "/a", "path": "/b"},
            {"op": "copy", "from": "/a", "path": "/c"}
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let doc = json!({"a": "0123456789"});
        assert!(patch.apply_with_copy_limit(&doc, Some(20)).is_err());
        assert!(patch.apply_with_copy_limit(&doc, Some(24)).is_ok());
        assert!(patch.apply_with_copy_limit(&doc, None).is_ok());
    }
}
