//! Shape of the generated schema table (`generated.rs`) and lookups into it.
//!
//! The table is data rather than code so that one small, well-tested walker
//! (`decode.rs`) handles every Kubernetes type; adding a Kubernetes release is a
//! matter of re-running `tools/gen_schema.py`, not writing conversions.

use crate::protobuf::generated::{KINDS, MESSAGES, META_KINDS};

/// Protobuf value type of a field (for maps: of the map value; keys are always strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `string`; JSON string.
    Str,
    /// `bytes` (Go `[]byte`); JSON base64 string.
    Bytes,
    /// `bool`.
    Bool,
    /// `int32`, carried as a varint.
    I32,
    /// `int64`, carried as a varint.
    I64,
    /// `double`, carried as fixed64.
    F64,
    /// A nested message: index into `MESSAGES`.
    Msg(u16),
}

/// Cardinality of a field on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `optional` field (all Kubernetes protos are proto2).
    Single,
    /// `repeated` field; scalars may be packed or not.
    Repeated,
    /// `map<string, Ty>`, i.e. repeated entry messages {key = 1, value = 2}.
    Map,
}

/// How Go's encoding/json treats the field of the struct the apiserver decodes
/// the message into. Needed because gogo-protobuf writes value-typed fields
/// even when they hold the zero value, so "present on the wire" does not mean
/// "present in JSON".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emit {
    /// Value type with `omitempty`: zero scalars and empty collections are left out.
    OmitEmpty,
    /// Value type without `omitempty` (or any struct value, which encoding/json
    /// never omits): always written; absent scalars become their zero value,
    /// absent collections `null`.
    Always,
    /// Pointer with `omitempty`: written exactly when present on the wire,
    /// zero values included (`replicas: 0` is meaningful).
    Pointer,
    /// Pointer without `omitempty`: `null` when absent.
    PointerNull,
    /// Embedded struct with `json:",inline"`: its fields join the parent object.
    Inline,
}

/// Messages whose JSON form Go produces with a hand-written MarshalJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// An ordinary struct: a JSON object built from the field table.
    None,
    /// metav1.Time: RFC 3339 with second precision, `null` when zero.
    Time,
    /// metav1.MicroTime: RFC 3339 with microseconds, `null` when zero.
    MicroTime,
    /// metav1.Duration: Go `time.Duration.String()` form such as `1h2m3s`.
    Duration,
    /// resource.Quantity: its string form.
    Quantity,
    /// intstr.IntOrString: a JSON number or string.
    IntOrString,
    /// runtime.RawExtension: the embedded JSON document.
    RawExtension,
    /// metav1.FieldsV1 and apiextensions JSON: embedded JSON in field 1.
    RawJson,
    /// metav1.GroupVersion: `group/version` string.
    GroupVersion,
    /// apiextensions JSONSchemaPropsOrArray: a schema or an array of schemas.
    PropsOrArray,
    /// apiextensions JSONSchemaPropsOrBool: a schema or a boolean.
    PropsOrBool,
    /// apiextensions JSONSchemaPropsOrStringArray: a schema or an array of strings.
    PropsOrStringArray,
    /// A Go named slice or map (e.g. `ExtraValue []string`) wrapped by
    /// go-to-protobuf in a one-field message; its JSON is that field's value.
    Unwrap,
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct FieldDef {
    /// Protobuf field number.
    pub tag: u32,
    /// JSON key (empty for inline fields).
    pub json: &'static str,
    pub ty: Ty,
    pub shape: Shape,
    pub emit: Emit,
}

/// One protobuf message.
#[derive(Debug)]
pub(crate) struct MessageDef {
    /// Fully qualified protobuf name, used in error messages.
    pub name: &'static str,
    pub special: Special,
    /// In Go struct order.
    pub fields: &'static [FieldDef],
}

impl MessageDef {
    /// The short message name (`Deployment` for `k8s.io.api.apps.v1.Deployment`).
    pub(crate) fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    /// Index of the field with protobuf number `tag`.
    pub(crate) fn field_index(&self, tag: u32) -> Option<usize> {
        self.fields.iter().position(|f| f.tag == tag)
    }
}

/// A registered object kind.
#[derive(Debug)]
pub(crate) struct KindDef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub message: u16,
}

/// The message definition at `index`, if the table has one.
pub(crate) fn message(index: u16) -> Option<&'static MessageDef> {
    MESSAGES.get(usize::from(index))
}

/// The message that encodes objects of this apiVersion and kind.
///
/// Options types and `Status` are registered by every group version in Go, so
/// clients send e.g. `apps/v1 DeleteOptions`; those fall back to meta.k8s.io/v1.
pub(crate) fn kind_message(api_version: &str, kind: &str) -> Option<u16> {
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
        .map(|k| k.message)
        .or_else(|| {
            META_KINDS
                .iter()
                .find(|(name, _)| *name == kind)
                .map(|(_, id)| *id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message reference in the table points at an existing message, and
    /// inline fields point at plain structs, so the walker never meets a
    /// dangling index in practice.
    #[test]
    fn table_is_consistent() {
        for def in MESSAGES.iter() {
            for f in def.fields {
                if let Ty::Msg(id) = f.ty {
                    let target = message(id).expect("dangling message index");
                    if f.emit == Emit::Inline {
                        assert_eq!(target.special, Special::None, "{}", def.name);
                    }
                }
                if def.special == Special::None && f.emit != Emit::Inline {
                    assert!(!f.json.is_empty(), "{}.{}", def.name, f.tag);
                }
            }
        }
        for k in KINDS.iter() {
            assert!(message(k.message).is_some());
        }
    }

    #[test]
    fn kinds_resolve() {
        let id = kind_message("apps/v1", "Deployment").expect("Deployment");
        assert_eq!(
            message(id).map(|m| m.name),
            Some("k8s.io.api.apps.v1.Deployment")
        );
        let id = kind_message("apps/v1", "DeleteOptions").expect("DeleteOptions");
        assert_eq!(
            message(id).map(MessageDef::short_name),
            Some("DeleteOptions")
        );
        assert!(kind_message("example.com/v1", "Widget").is_none());
    }
}
