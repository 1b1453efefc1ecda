//! Admission: metadata rules every object follows (names, labels, namespaces) and the
//! defaulting upstream applies on create. Kind-specific validation grows here.

use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::{ApiError, Cause};
use rkube_apimachinery::validation;
use serde_json::{json, Map, Value};

use crate::defaults;

/// Names of these resources become DNS labels, so they follow the stricter rule.
fn name_is_dns_label(info: &ResourceInfo) -> bool {
    matches!(info.plural, "namespaces" | "services")
}

/// Checks the metadata of an object for `info` and reports every problem at once.
pub fn validate_meta(info: &ResourceInfo, obj: &Value, name: &str) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let meta = obj.get("metadata").and_then(Value::as_object);
    let generate = meta
        .and_then(|m| m.get("generateName"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        if generate.is_empty() {
            causes.push(Cause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            ));
        }
    } else {
        let problems = if name_is_dns_label(info) {
            validation::dns1123_label(name)
        } else {
            validation::dns1123_subdomain(name)
        };
        for p in problems {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: \"{name}\": {p}"),
            ));
        }
    }
    if let Some(labels) = meta.and_then(|m| m.get("labels")) {
        match labels.as_object() {
            Some(l) => {
                for (k, v) in l {
                    for p in validation::qualified_name(k) {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            "metadata.labels",
                            format!("Invalid value: \"{k}\": {p}"),
                        ));
                    }
                    match v.as_str() {
                        Some(s) => {
                            for p in validation::label_value(s) {
                                causes.push(Cause::new(
                                    "FieldValueInvalid",
                                    "metadata.labels",
                                    format!("Invalid value: \"{s}\": {p}"),
                                ));
                            }
                        }
                        None => causes.push(Cause::new(
                            "FieldValueTypeInvalid",
                            format!("metadata.labels.{k}"),
                            "Invalid value: must be a string",
                        )),
                    }
                }
            }
            None if labels.is_null() => {}
            None => causes.push(Cause::new(
                "FieldValueTypeInvalid",
                "metadata.labels",
                "Invalid value: must be a map of strings",
            )),
        }
    }
    if let Some(ann) = meta.and_then(|m| m.get("annotations")) {
        if let Some(a) = ann.as_object() {
            let mut total = 0usize;
            for (k, v) in a {
                total += k.len() + v.as_str().map(str::len).unwrap_or(0);
                for p in validation::qualified_name(k) {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        "metadata.annotations",
                        format!("Invalid value: \"{k}\": {p}"),
                    ));
                }
                if !v.is_string() {
                    causes.push(Cause::new(
                        "FieldValueTypeInvalid",
                        format!("metadata.annotations.{k}"),
                        "Invalid value: must be a string",
                    ));
                }
            }
            if total > 256 * 1024 {
                causes.push(Cause::new(
                    "FieldValueTooLong",
                    "metadata.annotations",
                    "Too long: must have at most 262144 bytes",
                ));
            }
        } else if !ann.is_null() {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                "metadata.annotations",
                "Invalid value: must be a map of strings",
            ));
        }
    }
    causes.extend(defaults::validate(info, obj));
    if causes.is_empty() {
        Ok(())
    } else {
        let shown = if name.is_empty() { generate } else { name };
        Err(ApiError::invalid(info.group, info.kind, shown, causes))
    }
}

/// Fills the server-owned metadata of a new object.
pub fn prepare_create(obj: &mut Value, namespace: Option<&str>) -> String {
    let meta = crate::object::meta_mut(obj);
    let mut name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        if let Some(g) = meta.get("generateName").and_then(Value::as_str) {
            if !g.is_empty() {
                name = format!("{g}{}", random_suffix());
                meta.insert("name".into(), json!(name));
            }
        }
    }
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert(
        "creationTimestamp".into(),
        json!(crate::object::now_rfc3339()),
    );
    meta.insert("generation".into(), json!(1));
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(k);
    }
    name
}

/// Five characters from upstream's generateName alphabet (no vowels, no confusable digits).
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let id = uuid::Uuid::new_v4();
    id.as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Sets `apiVersion` and `kind` from the endpoint, refusing a body that names another kind.
pub fn check_type(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let want_av = info.api_version();
    if let Some(kind) = map.get("kind").and_then(Value::as_str) {
        if !kind.is_empty() && kind != info.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                info.kind
            )));
        }
    }
    if let Some(av) = map.get("apiVersion").and_then(Value::as_str) {
        if !av.is_empty() && av != want_av {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
    }
    map.insert("apiVersion".into(), json!(want_av));
    map.insert("kind".into(), json!(info.kind));
    if !map.contains_key("metadata") {
        map.insert("metadata".into(), Value::Object(Map::new()));
    }
    string_maps(info, map)
}

/// ConfigMap and Secret data are maps of strings; upstream's typed decoding refuses any other
/// value (`data: {enabled: true}` is a common YAML slip) with a 400 before anything else.
fn string_maps(info: &ResourceInfo, map: &Map<String, Value>) -> Result<(), ApiError> {
    let fields: &[(&str, &str)] = match (info.group, info.kind) {
        ("", "ConfigMap") => &[("data", "string"), ("binaryData", "[]uint8")],
        ("", "Secret") => &[("data", "[]uint8"), ("stringData", "string")],
        _ => return Ok(()),
    };
    for (field, go_type) in fields {
        let Some(v) = map.get(*field) else { continue };
        let bad = match v {
            Value::Null => None,
            Value::Object(m) => m.values().find(|x| !x.is_string() && !x.is_null()),
            other => Some(other),
        };
        if let Some(bad) = bad {
            let (what, go_type) = match v {
                Value::Object(_) => (json_type(bad), *go_type),
                _ => (json_type(bad), "map[string]string"),
            };
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot unmarshal {what} into Go struct field {kind}.{field} of type {go_type}",
                kind = info.kind,
                version = info.version,
            )));
        }
    }
    Ok(())
}

/// The JSON type name Go's decoder reports.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn from_query(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))),
        }
    }
}

/// Defaults, prunes and validates a custom resource against its CRD version's schema.
/// Returns the warnings to send (unknown fields under `Warn`).
pub fn custom_resource(
    resources: &crate::resources::Resources,
    info: &ResourceInfo,
    obj: &mut Value,
    mode: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let Some(version) = resources.crd_version(info.group, info.version, info.plural) else {
        return Ok(Vec::new());
    };
    let Some(schema) = &version.schema else {
        return Ok(Vec::new());
    };
    crate::crd_schema::apply_defaults(schema, obj);
    let mut pruned = Vec::new();
    crate::crd_schema::prune(schema, obj, "", &mut pruned);
    let warnings = unknown_fields(pruned, mode)?;
    let mut causes = Vec::new();
    crate::crd_schema::validate(schema, obj, "", &mut causes);
    if !causes.is_empty() {
        let name = crate::object::name(obj).unwrap_or("").to_string();
        return Err(ApiError::invalid(info.group, info.kind, &name, causes));
    }
    Ok(warnings)
}

/// What `fieldValidation` makes of dropped unknown fields: an error, warnings, or nothing.
pub fn unknown_fields(pruned: Vec<String>, mode: FieldValidation) -> Result<Vec<String>, ApiError> {
    if pruned.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = pruned
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    match mode {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        ))),
        FieldValidation::Warn => Ok(list),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}
