//! Validation of the `fieldManager` and `force` request options.

use serde_json::{json, Value};

/// Validates the `fieldManager`/`force` query parameters of a PATCH like upstream's
/// `ValidatePatchOptions`; on failure returns the 422 `Status` to send.
///
/// `fieldManager` is mandatory for apply patches (kubectl defaults it to `kubectl`),
/// `force` is only allowed on apply patches, and manager names must be at most 128
/// printable characters.
pub fn validate_patch_options(
    is_apply: bool,
    field_manager: Option<&str>,
    force: Option<bool>,
) -> Option<Value> {
    let fm = field_manager.unwrap_or("");
    let mut errs: Vec<OptionError> = Vec::new();
    if is_apply {
        if fm.is_empty() {
            errs.push((
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch".into(),
            ));
        }
    } else if force.is_some() {
        errs.push((
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch".into(),
        ));
    }
    errs.extend(field_manager_errors(fm));
    invalid_options_status("PatchOptions", &errs)
}

/// Validates the `fieldManager` of a create or update (`options_kind` is
/// `CreateOptions` or `UpdateOptions`), as upstream's `ValidateFieldManager` does for
/// every write; on failure returns the 422 `Status`.
pub fn validate_field_manager(options_kind: &str, field_manager: Option<&str>) -> Option<Value> {
    invalid_options_status(
        options_kind,
        &field_manager_errors(field_manager.unwrap_or("")),
    )
}

/// (field, cause reason, message body) of an invalid request option.
type OptionError = (&'static str, &'static str, String);

/// `errors.NewInvalid` for a `meta.k8s.io` options kind.
fn invalid_options_status(options_kind: &str, errs: &[OptionError]) -> Option<Value> {
    if errs.is_empty() {
        return None;
    }
    let rendered: Vec<String> = errs.iter().map(|(f, _, b)| format!("{f}: {b}")).collect();
    let joined = if rendered.len() == 1 {
        rendered[0].clone()
    } else {
        format!("[{}]", rendered.join(", "))
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|(f, r, b)| json!({"reason": r, "message": b, "field": f}))
        .collect();
    Some(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("{options_kind}.meta.k8s.io \"\" is invalid: {joined}"),
        "reason": "Invalid",
        "details": {"group": "meta.k8s.io", "kind": options_kind, "causes": causes},
        "code": 422
    }))
}

/// Upstream's `ValidateFieldManager`: at most 128 bytes, printable characters only.
fn field_manager_errors(field_manager: &str) -> Vec<OptionError> {
    let mut errs = Vec::new();
    if field_manager.len() > 128 {
        errs.push((
            "fieldManager",
            "FieldValueTooLong",
            "Too long: may not be more than 128 bytes".to_string(),
        ));
    }
    for (i, c) in field_manager.char_indices() {
        if c.is_control() {
            errs.push((
                "fieldManager",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {}: invalid character U+{:04X} (at position {i})",
                    crate::ssa::value::go_quote(field_manager),
                    u32::from(c)
                ),
            ));
        }
    }
    errs
}
