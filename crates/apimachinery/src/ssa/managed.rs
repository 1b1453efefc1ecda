//! `metadata.managedFields` ⇄ per-manager field sets.
//!
//! Upstream keys managers by an *identifier* (the JSON of manager name, operation,
//! apiVersion for updaters, subresource), so one name can hold several entries (an
//! `Apply` entry and `Update` entries per apiVersion and subresource). The encoded list
//! is sorted by operation, time, manager, apiVersion and subresource, which is what
//! clients see.

use crate::ssa::set::FieldSet;
use crate::ssa::value::write_go_string;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The operation that produced a managedFields entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, non-apply patch).
    Update,
}

impl Operation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of a managedFields entry (upstream's "manager identifier").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManagerId {
    /// The field manager name.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// Only part of the identity for updaters; appliers keep one entry across versions.
    pub api_version: String,
    /// Subresource the operation was made through, or empty.
    pub subresource: String,
}

impl ManagerId {
    /// Identity of an applier.
    pub fn apply(manager: &str, subresource: &str) -> Self {
        ManagerId {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.to_string(),
        }
    }

    /// Identity of an updater.
    pub fn update(manager: &str, api_version: &str, subresource: &str) -> Self {
        ManagerId {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }

    /// The identifier string upstream uses as map key; it also determines the order in
    /// which conflicts are grouped in error messages.
    pub fn identifier(&self) -> String {
        let mut s = String::from("{");
        let mut first = true;
        let mut field = |s: &mut String, name: &str, value: &str| {
            if value.is_empty() {
                return;
            }
            if !first {
                s.push(',');
            }
            first = false;
            write_go_string(s, name);
            s.push(':');
            write_go_string(s, value);
        };
        field(&mut s, "manager", &self.manager);
        field(&mut s, "operation", self.operation.as_str());
        field(&mut s, "apiVersion", &self.api_version);
        field(&mut s, "subresource", &self.subresource);
        s.push('}');
        s
    }

    /// Upstream's `printManager`: `"name"`, plus `with subresource "x"`, plus
    /// `using <apiVersion>` for updaters.
    pub fn display(&self) -> String {
        let mut s = crate::ssa::value::go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s = format!(
                "{s} with subresource {}",
                crate::ssa::value::go_quote(&self.subresource)
            );
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// The fields one manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedSet {
    /// Owned fields.
    pub set: FieldSet,
    /// apiVersion the paths refer to.
    pub api_version: String,
    /// Whether the fields were applied (as opposed to updated).
    pub applied: bool,
}

/// Decoded managedFields: field sets and operation times per manager.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Managed {
    /// Owned fields per manager.
    pub fields: BTreeMap<ManagerId, VersionedSet>,
    /// Last operation time per manager (RFC 3339, seconds precision, UTC).
    pub times: BTreeMap<ManagerId, String>,
}

fn str_field<'a>(entry: &'a Map<String, Value>, name: &str, i: usize) -> Result<&'a str, String> {
    match entry.get(name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "managed fields entry {i}: {name} must be a string, got {other}"
        )),
    }
}

impl Managed {
    /// Decodes a `metadata.managedFields` list with upstream's validation.
    pub fn decode(list: &Value) -> Result<Managed, String> {
        let mut m = Managed::default();
        let entries = match list {
            Value::Null => return Ok(m),
            Value::Array(a) => a,
            other => return Err(format!("managedFields must be a list, got {other}")),
        };
        for (i, e) in entries.iter().enumerate() {
            let Value::Object(entry) = e else {
                return Err(format!("managed fields entry {i} must be an object"));
            };
            let operation = match str_field(entry, "operation", i)? {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return Err("operation must be `Apply` or `Update`".into()),
            };
            let api_version = str_field(entry, "apiVersion", i)?;
            if api_version.is_empty() {
                return Err("apiVersion must not be empty".into());
            }
            match str_field(entry, "fieldsType", i)? {
                "FieldsV1" => {}
                "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
                other => {
                    return Err(format!(
                        "invalid fieldsType {other:?} in managed fields entry {i}"
                    ))
                }
            }
            let manager = str_field(entry, "manager", i)?;
            let subresource = str_field(entry, "subresource", i)?;
            let id = ManagerId {
                manager: manager.to_string(),
                operation,
                api_version: if operation == Operation::Apply {
                    String::new()
                } else {
                    api_version.to_string()
                },
                subresource: subresource.to_string(),
            };
            let set = match entry.get("fieldsV1") {
                None | Some(Value::Null) => FieldSet::new(),
                Some(f) => {
                    FieldSet::from_fields_v1(f).map_err(|e| format!("error decoding set: {e}"))?
                }
            };
            let time = str_field(entry, "time", i)?;
            if !time.is_empty() {
                let secs = parse_rfc3339(time)
                    .ok_or_else(|| format!("invalid time {time:?} in managed fields entry {i}"))?;
                m.times.insert(id.clone(), format_rfc3339(secs));
            } else {
                m.times.remove(&id);
            }
            m.fields.insert(
                id,
                VersionedSet {
                    set,
                    api_version: api_version.to_string(),
                    applied: operation == Operation::Apply,
                },
            );
        }
        Ok(m)
    }

    /// Encodes to the sorted wire list, or `None` when nothing is managed (upstream then
    /// omits `managedFields` entirely).
    pub fn encode(&self) -> Option<Value> {
        if self.fields.is_empty() {
            return None;
        }
        let mut entries: Vec<(&ManagerId, &VersionedSet, Option<&String>)> = self
            .fields
            .iter()
            .map(|(id, vs)| (id, vs, self.times.get(id)))
            .collect();
        let op = |id: &ManagerId, vs: &VersionedSet| {
            if vs.applied {
                Operation::Apply
            } else {
                id.operation
            }
        };
        entries.sort_by(|a, b| {
            op(a.0, a.1)
                .as_str()
                .cmp(op(b.0, b.1).as_str())
                .then_with(|| time_secs(a.2).cmp(&time_secs(b.2)))
                .then_with(|| a.0.manager.cmp(&b.0.manager))
                .then_with(|| a.1.api_version.cmp(&b.1.api_version))
                .then_with(|| a.0.subresource.cmp(&b.0.subresource))
        });
        let list = entries
            .into_iter()
            .map(|(id, vs, time)| {
                let mut e = Map::new();
                if !id.manager.is_empty() {
                    e.insert("manager".into(), Value::String(id.manager.clone()));
                }
                e.insert(
                    "operation".into(),
                    Value::String(op(id, vs).as_str().into()),
                );
                e.insert("apiVersion".into(), Value::String(vs.api_version.clone()));
                if let Some(t) = time {
                    e.insert("time".into(), Value::String(t.clone()));
                }
                e.insert("fieldsType".into(), Value::String("FieldsV1".into()));
                e.insert("fieldsV1".into(), vs.set.to_fields_v1());
                if !id.subresource.is_empty() {
                    e.insert("subresource".into(), Value::String(id.subresource.clone()));
                }
                Value::Object(e)
            })
            .collect();
        Some(Value::Array(list))
    }
}

fn time_secs(t: Option<&String>) -> i64 {
    t.and_then(|s| parse_rfc3339(s)).unwrap_or(0)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses an RFC 3339 timestamp to Unix seconds (fractions are dropped, as
/// `metav1.Time` does when it re-serializes).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' || !matches!(rb[0], b'+' | b'-') {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rb[0] == b'-' {
                -o
            } else {
                o
            }
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Formats Unix seconds as `metav1.Time` does: `2006-01-02T15:04:05Z`.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Normalizes a caller-supplied timestamp to `metav1.Time`'s serialization; unparsable
/// input is kept as given.
pub fn normalize_time(s: &str) -> String {
    parse_rfc3339(s)
        .map(format_rfc3339)
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_roundtrip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            normalize_time("2019-03-30T16:00:00.000Z"),
            "2019-03-30T16:00:00Z"
        );
        assert_eq!(
            normalize_time("2019-03-30T18:00:00+02:00"),
            "2019-03-30T16:00:00Z"
        );
        assert_eq!(
            format_rfc3339(parse_rfc3339("2024-02-29T23:59:59Z").unwrap()),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(parse_rfc3339("nope"), None);
    }

    #[test]
    fn identifiers_match_upstream() {
        assert_eq!(
            ManagerId::update("kubectl-client-side-apply", "apps/v1", "").identifier(),
            r#"{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"apps/v1"}"#
        );
        assert_eq!(
            ManagerId::apply("kubectl", "status").identifier(),
            r#"{"manager":"kubectl","operation":"Apply","subresource":"status"}"#
        );
        assert_eq!(
            ManagerId::update("k", "v1", "status").display(),
            r#""k" with subresource "status" using v1"#
        );
        assert_eq!(ManagerId::apply("k", "").display(), r#""k""#);
    }

    #[test]
    fn decode_validates_and_encode_sorts() {
        let list = json!([
            {"manager": "b", "operation": "Update", "apiVersion": "v1", "time": "2020-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}},
            {"manager": "a", "operation": "Update", "apiVersion": "v1", "time": "2021-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:y": {}}}},
            {"manager": "z", "operation": "Apply", "apiVersion": "v1", "time": "2022-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:z": {}}}}
        ]);
        let m = Managed::decode(&list).unwrap();
        let enc = m.encode().unwrap();
        let names: Vec<&str> = enc
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["z", "b", "a"]);
        assert!(Managed::decode(&json!([{"manager": "a", "operation": "Bogus", "apiVersion": "v1", "fieldsType": "FieldsV1"}])).is_err());
        assert!(Managed::decode(
            &json!([{"manager": "a", "operation": "Apply", "apiVersion": "v1"}])
        )
        .is_err());
        assert!(Managed::decode(
            &json!([{"manager": "a", "operation": "Apply", "fieldsType": "FieldsV1"}])
        )
        .is_err());
    }
}
