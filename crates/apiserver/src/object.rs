//! Helpers on objects as JSON values: metadata access, the stored form (no resourceVersion;
//! the store's mod revision is the resourceVersion), timestamps.

use serde_json::{Map, Value};

/// RFC 3339 with seconds, as Kubernetes writes `metav1.Time`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// The metadata map, created if missing or not an object.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(map) = obj else {
        unreachable!("just made an object")
    };
    let m = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    match m {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str)
}

pub fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name")
}

pub fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace")
}

pub fn set_resource_version(obj: &mut Value, rv: i64) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
}

/// Metadata fields the store never keeps: the store's revision is the resourceVersion.
const NOT_STORED: [&str; 2] = ["resourceVersion", "selfLink"];

/// The bytes the store keeps: the object without its resourceVersion. Serialized in place
/// (no copy of the object): every write goes through here.
pub fn to_stored(obj: &Value) -> Vec<u8> {
    serde_json::to_vec(&Stored(obj)).unwrap_or_default()
}

/// Whether two objects have the same stored form (an update that changes nothing).
pub fn same_stored(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let (Some(am), Some(bm)) = (
                a.get("metadata").and_then(Value::as_object),
                b.get("metadata").and_then(Value::as_object),
            ) else {
                return a == b;
            };
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| k == "metadata" || b.get(k) == Some(v))
                && stored_entries(am).count() == stored_entries(bm).count()
                && stored_entries(am).all(|(k, v)| bm.get(k) == Some(v))
        }
        _ => a == b,
    }
}

/// The metadata entries the store keeps.
fn stored_entries(meta: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    meta.iter()
        .filter(|(k, _)| !NOT_STORED.contains(&k.as_str()))
}

/// An object serialized as the store keeps it.
struct Stored<'a>(&'a Value);

impl serde::Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(top) = self.0 else {
            return self.0.serialize(s);
        };
        let mut map = s.serialize_map(Some(top.len()))?;
        for (k, v) in top {
            match v {
                Value::Object(meta) if k == "metadata" => {
                    map.serialize_entry(k, &StoredMeta(meta))?;
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

struct StoredMeta<'a>(&'a Map<String, Value>);

impl serde::Serialize for StoredMeta<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (k, v) in stored_entries(self.0) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// An object read from the store, with its resourceVersion.
pub fn from_stored(bytes: &[u8], rv: i64) -> Result<Value, serde_json::Error> {
    let mut v: Value = serde_json::from_slice(bytes)?;
    set_resource_version(&mut v, rv);
    Ok(v)
}

/// Labels as (key, value) pairs.
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    meta(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Value at a dotted path (`spec.nodeName`), rendered as a field-selector string.
pub fn field_string(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_drops_resource_version() {
        let o = json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let stored = to_stored(&o);
        let back = from_stored(&stored, 9).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "9");
        assert!(!String::from_utf8(stored)
            .unwrap()
            .contains("resourceVersion"));
    }

    #[test]
    fn stored_form_is_the_object_without_what_is_not_stored() {
        let o = json!({"kind": "Pod", "metadata": {"name": "a", "selfLink": "/x",
            "resourceVersion": "7", "labels": {"b": "1", "a": "2"}}, "spec": {"x": [1, {"y": null}]}});
        let mut expected = o.clone();
        let m = expected["metadata"].as_object_mut().unwrap();
        m.remove("resourceVersion");
        m.remove("selfLink");
        assert_eq!(to_stored(&o), serde_json::to_vec(&expected).unwrap());
        assert_eq!(to_stored(&json!([1])), b"[1]");
    }

    #[test]
    fn same_stored_ignores_only_resource_version_and_self_link() {
        let a = json!({"metadata": {"name": "a", "resourceVersion": "7"}, "spec": {"x": 1}});
        let b = json!({"metadata": {"name": "a", "resourceVersion": "9", "selfLink": "/y"}, "spec": {"x": 1}});
        assert!(same_stored(&a, &b) && same_stored(&b, &a));
        let c = json!({"metadata": {"name": "a"}, "spec": {"x": 2}});
        assert!(!same_stored(&a, &c));
        let d = json!({"metadata": {"name": "a", "labels": {}}, "spec": {"x": 1}});
        assert!(!same_stored(&a, &d) && !same_stored(&d, &a));
        let e = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {}});
        assert!(!same_stored(&a, &e) && !same_stored(&e, &a));
        assert!(!same_stored(&a, &json!({"spec": {"x": 1}})));
    }

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.ends_with('Z'));
    }
}
