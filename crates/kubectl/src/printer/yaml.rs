//! YAML output. kubectl converts objects to JSON and then to YAML with go-yaml, so keys
//! come out sorted and sequences sit at their parent key's indentation.

use serde_json::Value;

/// `obj` as YAML, ending in a newline.
pub fn to_yaml(obj: &Value) -> String {
    serde_yaml::to_string(obj).unwrap_or_default()
}
