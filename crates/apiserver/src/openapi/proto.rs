//! Encodes a Swagger 2.0 JSON document as gnostic's `openapi.v2.Document`
//! protobuf, the form kubectl requests from `/openapi/v2`.
//!
//! Hand-written (no prost) because only a small, fixed subset of
//! `OpenAPIv2.proto` (google/gnostic-models `openapiv2/OpenAPIv2.proto`) is
//! ever produced. Field numbers below are taken from that file. As in Go's
//! proto3 marshalling, empty strings/false/zero scalars are omitted, and
//! vendor extensions (`x-*`) become `NamedAny { name, Any { yaml } }`.

use serde_json::{Map, Value};

use crate::openapi::yaml::to_yaml;

/// A protobuf message being built.
#[derive(Default)]
struct Msg(Vec<u8>);

const WIRE_VARINT: u32 = 0;
const WIRE_I64: u32 = 1;
const WIRE_LEN: u32 = 2;

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Msg {
    fn key(&mut self, field: u32, wire: u32) {
        put_varint(&mut self.0, u64::from((field << 3) | wire));
    }

    fn bytes(&mut self, field: u32, data: &[u8]) {
        self.key(field, WIRE_LEN);
        put_varint(&mut self.0, data.len() as u64);
        self.0.extend_from_slice(data);
    }

    /// proto3 `string`: omitted when empty.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// Element of a `repeated string` (always written, even when empty).
    fn repeated_string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    /// proto3 `bool`: omitted when false.
    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, WIRE_VARINT);
            self.0.push(1);
        }
    }

    /// proto3 `int64`: omitted when zero.
    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, WIRE_VARINT);
            put_varint(&mut self.0, v as u64);
        }
    }

    /// proto3 `double`: omitted when zero.
    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, WIRE_I64);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Embedded message; written even when empty (it is set).
    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    fn str_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn bool_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(b) = obj.get(key).and_then(Value::as_bool) {
            self.boolean(field, b);
        }
    }

    fn int_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_i64) {
            self.int64(field, n);
        }
    }

    fn double_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_f64) {
            self.double(field, n);
        }
    }

    fn strings_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        for s in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = s.as_str() {
                self.repeated_string(field, s);
            }
        }
    }

    /// `Any` field holding `value` as YAML.
    fn any_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(v) = obj.get(key) {
            self.message(field, any(v));
        }
    }

    /// `repeated Any` (enum values).
    fn anys_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        for v in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            self.message(field, any(v));
        }
    }

    /// `repeated NamedAny vendor_extension` for every `x-*` key.
    fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
        for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Msg::default();
            named.string(1, k);
            named.message(2, any(v));
            self.message(field, named);
        }
    }
}

/// `Any { yaml = 2 }`.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &to_yaml(v));
    m
}

/// Encodes a Swagger 2.0 document.
pub(crate) fn encode_document(doc: &Value) -> Vec<u8> {
    let Some(d) = doc.as_object() else {
        return Vec::new();
    };
    let mut m = Msg::default();
    m.str_field(1, d, "swagger");
    if let Some(info) = d.get("info").and_then(Value::as_object) {
        let mut i = Msg::default();
        i.str_field(1, info, "title");
        i.str_field(2, info, "version");
        i.str_field(3, info, "description");
        i.str_field(4, info, "termsOfService");
        i.extensions(7, info);
        m.message(2, i);
    }
    m.str_field(3, d, "host");
    m.str_field(4, d, "basePath");
    m.strings_field(5, d, "schemes");
    m.strings_field(6, d, "consumes");
    m.strings_field(7, d, "produces");
    if let Some(paths) = d.get("paths").and_then(Value::as_object) {
        m.message(8, encode_paths(paths));
    }
    if let Some(defs) = d.get("definitions").and_then(Value::as_object) {
        m.message(9, named_schemas(defs));
    }
    for req in d
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(req) = req.as_object() {
            m.message(12, security_requirement(req));
        }
    }
    if let Some(sec) = d.get("securityDefinitions").and_then(Value::as_object) {
        m.message(13, security_definitions(sec));
    }
    m.extensions(16, d);
    m.0
}

/// `Definitions`/`Properties`: `repeated NamedSchema additional_properties = 1`.
fn named_schemas(map: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (name, schema) in map {
        let mut named = Msg::default();
        named.string(1, name);
        named.message(2, encode_schema(schema));
        m.message(1, named);
    }
    m
}

/// `openapi.v2.Schema`.
fn encode_schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(s) = v.as_object() else {
        return m;
    };
    m.str_field(1, s, "$ref");
    m.str_field(2, s, "format");
    m.str_field(3, s, "title");
    m.str_field(4, s, "description");
    m.any_field(5, s, "default");
    m.double_field(6, s, "multipleOf");
    m.double_field(7, s, "maximum");
    m.bool_field(8, s, "exclusiveMaximum");
    m.double_field(9, s, "minimum");
    m.bool_field(10, s, "exclusiveMinimum");
    m.int_field(11, s, "maxLength");
    m.int_field(12, s, "minLength");
    m.str_field(13, s, "pattern");
    m.int_field(14, s, "maxItems");
    m.int_field(15, s, "minItems");
    m.bool_field(16, s, "uniqueItems");
    m.int_field(17, s, "maxProperties");
    m.int_field(18, s, "minProperties");
    m.strings_field(19, s, "required");
    m.anys_field(20, s, "enum");
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            // AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }
            let mut a = Msg::default();
            a.key(2, WIRE_VARINT);
            a.0.push(u8::from(*b));
            m.message(21, a);
        }
        Some(schema @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.message(1, encode_schema(schema));
            m.message(21, a);
        }
        _ => {}
    }
    match s.get("type") {
        Some(Value::String(t)) => {
            let mut t_item = Msg::default();
            t_item.repeated_string(1, t);
            m.message(22, t_item);
        }
        Some(Value::Array(ts)) => {
            let mut t_item = Msg::default();
            for t in ts.iter().filter_map(Value::as_str) {
                t_item.repeated_string(1, t);
            }
            m.message(22, t_item);
        }
        _ => {}
    }
    match s.get("items") {
        Some(item @ Value::Object(_)) => {
            let mut items = Msg::default();
            items.message(1, encode_schema(item));
            m.message(23, items);
        }
        Some(Value::Array(list)) => {
            let mut items = Msg::default();
            for item in list {
                items.message(1, encode_schema(item));
            }
            m.message(23, items);
        }
        _ => {}
    }
    for sub in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, encode_schema(sub));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        m.message(25, named_schemas(props));
    }
    m.str_field(26, s, "discriminator");
    m.bool_field(27, s, "readOnly");
    m.any_field(30, s, "example");
    m.extensions(31, s);
    m
}

/// `Paths { vendor_extension = 1; repeated NamedPathItem path = 2; }`.
fn encode_paths(paths: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.extensions(1, paths);
    for (path, item) in paths.iter().filter(|(k, _)| k.starts_with('/')) {
        let Some(item) = item.as_object() else {
            continue;
        };
        let mut p = Msg::default();
        p.str_field(1, item, "$ref");
        for (field, verb) in [
            (2, "get"),
            (3, "put"),
            (4, "post"),
            (5, "delete"),
            (6, "options"),
            (7, "head"),
            (8, "patch"),
        ] {
            if let Some(op) = item.get(verb).and_then(Value::as_object) {
                p.message(field, encode_operation(op));
            }
        }
        for param in item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            p.message(9, parameters_item(param));
        }
        p.extensions(10, item);
        let mut named = Msg::default();
        named.string(1, path);
        named.message(2, p);
        m.message(2, named);
    }
    m
}

/// `openapi.v2.Operation`.
fn encode_operation(op: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.strings_field(1, op, "tags");
    m.str_field(2, op, "summary");
    m.str_field(3, op, "description");
    m.str_field(5, op, "operationId");
    m.strings_field(6, op, "produces");
    m.strings_field(7, op, "consumes");
    for param in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameters_item(param));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        m.message(9, encode_responses(responses));
    }
    m.strings_field(10, op, "schemes");
    m.bool_field(11, op, "deprecated");
    m.extensions(13, op);
    m
}

/// `ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2; } }`.
fn parameters_item(v: &Value) -> Msg {
    let mut item = Msg::default();
    let Some(p) = v.as_object() else {
        return item;
    };
    if p.contains_key("$ref") {
        let mut r = Msg::default();
        r.str_field(1, p, "$ref");
        r.str_field(2, p, "description");
        item.message(2, r);
        return item;
    }
    // Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; } }
    let mut param = Msg::default();
    let location = p.get("in").and_then(Value::as_str).unwrap_or_default();
    if location == "body" {
        let mut b = Msg::default();
        b.str_field(1, p, "description");
        b.str_field(2, p, "name");
        b.str_field(3, p, "in");
        b.bool_field(4, p, "required");
        if let Some(schema) = p.get("schema") {
            b.message(5, encode_schema(schema));
        }
        b.extensions(6, p);
        param.message(1, b);
    } else {
        // NonBodyParameter { header = 1; form_data = 2; query = 3; path = 4; }
        let (variant, sub) = match location {
            "query" => (3, query_or_form(p)),
            "formData" => (2, query_or_form(p)),
            "header" => (1, path_or_header(p)),
            _ => (4, path_or_header(p)),
        };
        let mut nb = Msg::default();
        nb.message(variant, sub);
        param.message(2, nb);
    }
    item.message(1, param);
    item
}

/// `QueryParameterSubSchema` / `FormDataParameterSubSchema` (same numbering).
fn query_or_form(p: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.bool_field(1, p, "required");
    m.str_field(2, p, "in");
    m.str_field(3, p, "description");
    m.str_field(4, p, "name");
    m.bool_field(5, p, "allowEmptyValue");
    m.str_field(6, p, "type");
    m.str_field(7, p, "format");
    m.str_field(9, p, "collectionFormat");
    m.any_field(10, p, "default");
    m.bool_field(20, p, "uniqueItems");
    m.anys_field(21, p, "enum");
    m.extensions(23, p);
    m
}

/// `PathParameterSubSchema` / `HeaderParameterSubSchema` (same numbering).
fn path_or_header(p: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.bool_field(1, p, "required");
    m.str_field(2, p, "in");
    m.str_field(3, p, "description");
    m.str_field(4, p, "name");
    m.str_field(5, p, "type");
    m.str_field(6, p, "format");
    m.str_field(8, p, "collectionFormat");
    m.any_field(9, p, "default");
    m.bool_field(19, p, "uniqueItems");
    m.anys_field(20, p, "enum");
    m.extensions(22, p);
    m
}

/// `Responses { repeated NamedResponseValue response_code = 1; vendor_extension = 2; }`.
fn encode_responses(responses: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (code, resp) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
        let Some(resp) = resp.as_object() else {
            continue;
        };
        // ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2; } }
        let mut value = Msg::default();
        if resp.contains_key("$ref") {
            let mut r = Msg::default();
            r.str_field(1, resp, "$ref");
            value.message(2, r);
        } else {
            let mut r = Msg::default();
            r.str_field(1, resp, "description");
            if let Some(schema) = resp.get("schema") {
                // SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2; } }
                let mut item = Msg::default();
                item.message(1, encode_schema(schema));
                r.message(2, item);
            }
            r.extensions(5, resp);
            value.message(1, r);
        }
        let mut named = Msg::default();
        named.string(1, code);
        named.message(2, value);
        m.message(1, named);
    }
    m.extensions(2, responses);
    m
}

/// `SecurityRequirement { repeated NamedStringArray additional_properties = 1; }`.
fn security_requirement(req: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (name, scopes) in req {
        let mut arr = Msg::default();
        for s in scopes
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            arr.repeated_string(1, s);
        }
        let mut named = Msg::default();
        named.string(1, name);
        named.message(2, arr);
        m.message(1, named);
    }
    m
}

/// `SecurityDefinitions`; only the `apiKey` and `basic` schemes are used.
fn security_definitions(defs: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (name, def) in defs {
        let Some(def) = def.as_object() else {
            continue;
        };
        let mut item = Msg::default();
        match def.get("type").and_then(Value::as_str) {
            Some("apiKey") => {
                let mut k = Msg::default();
                k.str_field(1, def, "type");
                k.str_field(2, def, "name");
                k.str_field(3, def, "in");
                k.str_field(4, def, "description");
                k.extensions(5, def);
                item.message(2, k);
            }
            Some("basic") => {
                let mut b = Msg::default();
                b.str_field(1, def, "type");
                b.str_field(2, def, "description");
                b.extensions(3, def);
                item.message(1, b);
            }
            _ => continue,
        }
        let mut named = Msg::default();
        named.string(1, name);
        named.message(2, item);
        m.message(1, named);
    }
    m
}
