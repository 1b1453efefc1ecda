//! Schema-driven walk from protobuf bytes to Kubernetes JSON.
//!
//! The target is exactly what Go's `json.Marshal` writes for the struct the
//! apiserver would unmarshal from the same bytes, which is also what kubectl
//! sends when it speaks JSON: the rest of rkube (defaulting, validation,
//! storage) then sees the same object whichever encoding the client chose.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::protobuf::gofmt;
use crate::protobuf::schema::{self, Emit, FieldDef, MessageDef, Shape, Special, Ty};
use crate::protobuf::wire::{self, Raw, Reader, WireError};
use crate::protobuf::DecodeError;

/// Maximum message nesting. Real objects stay far below it (deep CRD schemas
/// reach a few dozen levels); it bounds stack use on hostile input.
pub(crate) const MAX_DEPTH: usize = 100;

/// One step of the location reported in errors.
enum Seg {
    Field(&'static str),
    Index(usize),
    Key(String),
}

/// Walk state: the current location (for errors) and nesting depth.
pub(crate) struct Decoder {
    path: Vec<Seg>,
    depth: usize,
}

/// Raw occurrences of each schema field in one message, by field index.
type Collected<'a> = Vec<Vec<Raw<'a>>>;

impl Decoder {
    /// Starts a walk whose error paths are rooted at `root` (usually the kind).
    pub(crate) fn new(root: &'static str, depth: usize) -> Self {
        Self {
            path: vec![Seg::Field(root)],
            depth,
        }
    }

    fn error(&self, reason: impl Into<String>) -> DecodeError {
        let mut path = String::new();
        for seg in &self.path {
            match seg {
                Seg::Field(name) if path.is_empty() => path.push_str(name),
                Seg::Field(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                Seg::Index(i) => path.push_str(&format!("[{i}]")),
                Seg::Key(k) => path.push_str(&format!("[{k:?}]")),
            }
        }
        DecodeError::Malformed {
            path,
            reason: reason.into(),
        }
    }

    fn wire_error(&self, e: WireError) -> DecodeError {
        self.error(e.to_string())
    }

    /// Decodes one message (by table index) into its JSON value.
    pub(crate) fn message(&mut self, id: u16, bytes: &[u8]) -> Result<Value, DecodeError> {
        let def = schema::message(id)
            .ok_or_else(|| self.error(format!("schema has no message #{id}")))?;
        self.enter(def)?;
        let out = self.message_body(def, bytes);
        self.depth -= 1;
        out
    }

    fn enter(&mut self, def: &MessageDef) -> Result<(), DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!(
                "{} nested more than {MAX_DEPTH} levels deep",
                def.short_name()
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn message_body(&mut self, def: &MessageDef, bytes: &[u8]) -> Result<Value, DecodeError> {
        match def.special {
            Special::None => {
                let mut map = Map::new();
                self.fields_into(def, bytes, &mut map)?;
                Ok(Value::Object(map))
            }
            special => self.special(def, special, bytes),
        }
    }

    /// Groups the wire fields of `bytes` by schema field, checking wire types.
    /// Unknown field numbers are skipped, as Go does: newer clients may send
    /// fields this table does not know yet.
    fn collect<'a>(&self, def: &MessageDef, bytes: &'a [u8]) -> Result<Collected<'a>, DecodeError> {
        let mut out: Collected<'a> = vec![Vec::new(); def.fields.len()];
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let (number, raw) = reader.field().map_err(|e| self.wire_error(e))?;
            let (Some(index), Some(raw)) = (def.field_index(number), raw) else {
                continue;
            };
            let Some(fd) = def.fields.get(index) else {
                continue;
            };
            if !wire_type_ok(fd, &raw) {
                return Err(self.error(format!(
                    "field {number} ({}) of {} has wire type {}, expected {}",
                    field_label(def, fd),
                    def.short_name(),
                    raw.wire_type(),
                    expected_wire_type(fd)
                )));
            }
            if let Some(slot) = out.get_mut(index) {
                slot.push(raw);
            }
        }
        Ok(out)
    }

    /// Writes the JSON members of a plain struct message into `map`.
    fn fields_into(
        &mut self,
        def: &MessageDef,
        bytes: &[u8],
        map: &mut Map<String, Value>,
    ) -> Result<(), DecodeError> {
        let collected = self.collect(def, bytes)?;
        for (fd, raws) in def.fields.iter().zip(&collected) {
            self.path.push(Seg::Field(field_label(def, fd)));
            let result = self.field(fd, raws, map);
            self.path.pop();
            result?;
        }
        Ok(())
    }

    fn field(
        &mut self,
        fd: &FieldDef,
        raws: &[Raw<'_>],
        map: &mut Map<String, Value>,
    ) -> Result<(), DecodeError> {
        let value = match fd.shape {
            Shape::Single => self.single(fd, raws, map)?,
            Shape::Repeated => {
                let items = self.repeated(fd.ty, raws)?;
                collection(fd.emit, items.is_empty(), Value::Array(items))
            }
            Shape::Map => {
                let entries = self.map_entries(fd.ty, raws)?;
                collection(fd.emit, entries.is_empty(), Value::Object(entries))
            }
        };
        if let Some(v) = value {
            map.insert(fd.json.to_owned(), v);
        }
        Ok(())
    }

    /// A singular field; returns the JSON member value, or `None` to omit it.
    fn single(
        &mut self,
        fd: &FieldDef,
        raws: &[Raw<'_>],
        map: &mut Map<String, Value>,
    ) -> Result<Option<Value>, DecodeError> {
        let present = !raws.is_empty();
        if let Ty::Msg(id) = fd.ty {
            // Repeated occurrences of a singular message merge, which for the
            // wire format is the same as decoding their concatenation.
            let bytes = concat(raws);
            return Ok(match fd.emit {
                Emit::Inline => {
                    let def = schema::message(id)
                        .ok_or_else(|| self.error(format!("schema has no message #{id}")))?;
                    self.enter(def)?;
                    let r = self.fields_into(def, &bytes, map);
                    self.depth -= 1;
                    r?;
                    None
                }
                Emit::Pointer if !present => None,
                Emit::PointerNull if !present => Some(Value::Null),
                Emit::OmitEmpty => {
                    // Only named slices/maps carry omitempty here (structs never omit).
                    let v = self.message(id, &bytes)?;
                    (!is_empty_json(&v)).then_some(v)
                }
                _ => Some(self.message(id, &bytes)?),
            });
        }
        // Last occurrence wins for singular scalars (protobuf merge semantics).
        let last = raws.last();
        if fd.ty == Ty::Bytes {
            // Go []byte: absent is nil (null / omitted), present is base64 even if empty.
            return Ok(match (last, fd.emit) {
                (None, Emit::Always | Emit::PointerNull) => Some(Value::Null),
                (None, _) => None,
                (Some(raw), Emit::OmitEmpty) => {
                    let v = self.scalar(Ty::Bytes, raw)?;
                    (v.as_str() != Some("")).then_some(v)
                }
                (Some(raw), _) => Some(self.scalar(Ty::Bytes, raw)?),
            });
        }
        let value = match last {
            Some(raw) => self.scalar(fd.ty, raw)?,
            None => zero(fd.ty),
        };
        Ok(match fd.emit {
            Emit::Pointer => present.then_some(value),
            Emit::PointerNull => Some(if present { value } else { Value::Null }),
            Emit::OmitEmpty => (!is_zero_scalar(&value)).then_some(value),
            Emit::Always => Some(value),
            Emit::Inline => return Err(self.error("schema marks a scalar field inline")),
        })
    }

    fn repeated(&mut self, ty: Ty, raws: &[Raw<'_>]) -> Result<Vec<Value>, DecodeError> {
        let mut items = Vec::with_capacity(raws.len());
        for raw in raws {
            match (ty, raw) {
                (Ty::Msg(id), Raw::Bytes(bytes)) => {
                    self.path.push(Seg::Index(items.len()));
                    let v = self.message(id, bytes);
                    self.path.pop();
                    items.push(v?);
                }
                (Ty::Bool | Ty::I32 | Ty::I64 | Ty::F64, Raw::Bytes(packed)) => {
                    let mut reader = Reader::new(packed);
                    while !reader.is_empty() {
                        let element = if ty == Ty::F64 {
                            reader.fixed64().map(Raw::Fixed64)
                        } else {
                            reader.varint().map(Raw::Varint)
                        };
                        let element = element.map_err(|e| self.wire_error(e))?;
                        items.push(self.scalar(ty, &element)?);
                    }
                }
                _ => items.push(self.scalar(ty, raw)?),
            }
        }
        Ok(items)
    }

    fn map_entries(
        &mut self,
        value_ty: Ty,
        raws: &[Raw<'_>],
    ) -> Result<Map<String, Value>, DecodeError> {
        let mut out = Map::new();
        for raw in raws {
            let Raw::Bytes(entry) = raw else {
                return Err(self.error("map entry is not length-delimited"));
            };
            let mut key: Option<Raw<'_>> = None;
            let mut value: Vec<Raw<'_>> = Vec::new();
            let mut reader = Reader::new(entry);
            while !reader.is_empty() {
                match reader.field().map_err(|e| self.wire_error(e))? {
                    (1, Some(r @ Raw::Bytes(_))) => key = Some(r),
                    (1, Some(r)) => {
                        return Err(self.error(format!(
                            "map key has wire type {}, expected 2",
                            r.wire_type()
                        )))
                    }
                    (2, Some(r)) => value.push(r),
                    _ => {}
                }
            }
            let key = match key {
                Some(Raw::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            self.path.push(Seg::Key(key.clone()));
            let decoded = self.map_value(value_ty, &value);
            self.path.pop();
            out.insert(key, decoded?);
        }
        Ok(out)
    }

    /// A map value; a missing value is the Go zero value of the value type.
    fn map_value(&mut self, ty: Ty, raws: &[Raw<'_>]) -> Result<Value, DecodeError> {
        match ty {
            Ty::Msg(id) => {
                for raw in raws {
                    if !matches!(raw, Raw::Bytes(_)) {
                        return Err(self.error("map value is not length-delimited"));
                    }
                }
                self.message(id, &concat(raws))
            }
            _ => match raws.last() {
                Some(raw) if wire_type_ok_scalar(ty, raw) => self.scalar(ty, raw),
                Some(raw) => {
                    Err(self.error(format!("map value has wire type {}", raw.wire_type())))
                }
                None => Ok(zero(ty)),
            },
        }
    }

    fn scalar(&self, ty: Ty, raw: &Raw<'_>) -> Result<Value, DecodeError> {
        Ok(match (ty, raw) {
            (Ty::Str, Raw::Bytes(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
            (Ty::Bytes, Raw::Bytes(b)) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (Ty::Bool, Raw::Varint(v)) => Value::Bool(*v != 0),
            // Truncation mirrors Go's generated decoders (`int32(v)`).
            (Ty::I32, Raw::Varint(v)) => Value::from(*v as i32),
            (Ty::I64, Raw::Varint(v)) => Value::from(*v as i64),
            (Ty::F64, Raw::Fixed64(bits)) => {
                let f = f64::from_bits(*bits);
                gofmt::float_value(f)
                    .ok_or_else(|| self.error(format!("json: unsupported float value {f}")))?
            }
            _ => {
                return Err(self.error(format!(
                    "wire type {} cannot carry a {ty:?} value",
                    raw.wire_type()
                )))
            }
        })
    }

    /// Messages with a hand-written MarshalJSON in Go.
    fn special(
        &mut self,
        def: &MessageDef,
        special: Special,
        bytes: &[u8],
    ) -> Result<Value, DecodeError> {
        let c = self.collect(def, bytes)?;
        let get = |tag: u32| -> &[Raw<'_>] {
            def.field_index(tag)
                .and_then(|i| c.get(i))
                .map_or(&[], Vec::as_slice)
        };
        let varint = |tag: u32| -> u64 {
            match get(tag).last() {
                Some(Raw::Varint(v)) => *v,
                _ => 0,
            }
        };
        let bytes_of = |tag: u32| -> Option<&[u8]> {
            match get(tag).last() {
                Some(Raw::Bytes(b)) => Some(b),
                _ => None,
            }
        };
        let msg_ty = |tag: u32| -> Option<u16> {
            def.field_index(tag)
                .and_then(|i| def.fields.get(i))
                .and_then(|f| match f.ty {
                    Ty::Msg(id) => Some(id),
                    _ => None,
                })
        };
        match special {
            Special::None => {
                let mut map = Map::new();
                self.fields_into(def, bytes, &mut map)?;
                Ok(Value::Object(map))
            }
            Special::Time | Special::MicroTime => {
                // metav1.Time/MicroTime.Unmarshal: empty data is the zero time.
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                let seconds = varint(1) as i64;
                let nanos = i64::from(varint(2) as i32);
                if special == Special::Time {
                    // Time drops nanoseconds on decode, matching its JSON precision.
                    return Ok(if seconds == gofmt::GO_ZERO_UNIX {
                        Value::Null
                    } else {
                        Value::String(gofmt::rfc3339(seconds, None))
                    });
                }
                // MicroTime truncates to microseconds; time.Unix normalizes the rest.
                let total = i128::from(seconds) * 1_000_000 + i128::from(nanos / 1_000);
                let secs = total.div_euclid(1_000_000);
                let micros = total.rem_euclid(1_000_000) as u32;
                let secs = i64::try_from(secs)
                    .map_err(|_| self.error("MicroTime seconds out of range"))?;
                Ok(if secs == gofmt::GO_ZERO_UNIX && micros == 0 {
                    Value::Null
                } else {
                    Value::String(gofmt::rfc3339(secs, Some(micros)))
                })
            }
            Special::Duration => Ok(Value::String(gofmt::go_duration(varint(1) as i64))),
            Special::Quantity => match bytes_of(1) {
                None => Ok(Value::String("0".to_owned())),
                Some(b) => {
                    let s = String::from_utf8_lossy(b);
                    if gofmt::is_quantity(&s) {
                        Ok(Value::String(s.into_owned()))
                    } else {
                        Err(self.error(format!(
                            "quantity {s:?} does not match the Kubernetes quantity syntax"
                        )))
                    }
                }
            },
            Special::IntOrString => match varint(1) {
                0 => Ok(Value::from(varint(2) as i32)),
                1 => Ok(Value::String(
                    String::from_utf8_lossy(bytes_of(3).unwrap_or_default()).into_owned(),
                )),
                other => Err(self.error(format!("impossible IntOrString.Type {other}"))),
            },
            Special::RawExtension | Special::RawJson => match bytes_of(1) {
                None | Some([]) => Ok(Value::Null),
                Some(raw)
                    if special == Special::RawExtension
                        && raw.starts_with(crate::protobuf::MAGIC) =>
                {
                    crate::protobuf::decode_body_at(raw, self.depth)
                }
                Some(raw) => serde_json::from_slice(raw)
                    .map_err(|e| self.error(format!("embedded raw data is not valid JSON: {e}"))),
            },
            Special::GroupVersion => {
                let text = |tag| String::from_utf8_lossy(bytes_of(tag).unwrap_or_default());
                let (group, version) = (text(1), text(2));
                Ok(Value::String(if group.is_empty() {
                    version.into_owned()
                } else {
                    format!("{group}/{version}")
                }))
            }
            Special::PropsOrArray => {
                let schemas = get(2);
                if !schemas.is_empty() {
                    let ty = msg_ty(2).ok_or_else(|| self.error("schema table: no type"))?;
                    return Ok(Value::Array(self.repeated(Ty::Msg(ty), schemas)?));
                }
                self.optional_schema(msg_ty(1), get(1))
            }
            Special::PropsOrBool => {
                if get(2).is_empty() {
                    return Ok(Value::Bool(varint(1) != 0));
                }
                self.optional_schema(msg_ty(2), get(2))
            }
            Special::PropsOrStringArray => {
                let property = get(2);
                if !property.is_empty() {
                    return Ok(Value::Array(self.repeated(Ty::Str, property)?));
                }
                self.optional_schema(msg_ty(1), get(1))
            }
            Special::Unwrap => {
                let fd = def
                    .fields
                    .first()
                    .ok_or_else(|| self.error("schema table: wrapper without field"))?;
                let raws = get(fd.tag);
                Ok(match fd.shape {
                    Shape::Map => {
                        let m = self.map_entries(fd.ty, raws)?;
                        if m.is_empty() {
                            Value::Null
                        } else {
                            Value::Object(m)
                        }
                    }
                    _ => {
                        let items = self.repeated(fd.ty, raws)?;
                        if items.is_empty() {
                            Value::Null
                        } else {
                            Value::Array(items)
                        }
                    }
                })
            }
        }
    }

    /// A `*JSONSchemaProps` inside the apiextensions or-types: `null` when nil.
    fn optional_schema(&mut self, ty: Option<u16>, raws: &[Raw<'_>]) -> Result<Value, DecodeError> {
        match (ty, raws.is_empty()) {
            (_, true) => Ok(Value::Null),
            (Some(id), false) => self.message(id, &concat(raws)),
            (None, false) => Err(self.error("schema table: no schema type")),
        }
    }
}

/// The label used for a field in error paths.
fn field_label(def: &MessageDef, fd: &FieldDef) -> &'static str {
    if fd.json.is_empty() {
        def.short_name()
    } else {
        fd.json
    }
}

/// JSON member value for a repeated or map field, following Go's nil rules.
fn collection(emit: Emit, empty: bool, value: Value) -> Option<Value> {
    match (emit, empty) {
        (_, false) => Some(value),
        (Emit::Always | Emit::PointerNull, true) => Some(Value::Null),
        (_, true) => None,
    }
}

/// Concatenates the length-delimited occurrences of a field.
fn concat<'a>(raws: &[Raw<'a>]) -> Cow<'a, [u8]> {
    let mut parts = raws.iter().filter_map(|r| match r {
        Raw::Bytes(b) => Some(*b),
        _ => None,
    });
    match (parts.next(), parts.next()) {
        (None, _) => Cow::Borrowed(&[]),
        (Some(one), None) => Cow::Borrowed(one),
        (Some(first), Some(second)) => {
            let mut v = first.to_vec();
            v.extend_from_slice(second);
            for p in parts {
                v.extend_from_slice(p);
            }
            Cow::Owned(v)
        }
    }
}

fn wire_type_ok_scalar(ty: Ty, raw: &Raw<'_>) -> bool {
    matches!(
        (ty, raw),
        (Ty::Str | Ty::Bytes | Ty::Msg(_), Raw::Bytes(_))
            | (Ty::Bool | Ty::I32 | Ty::I64, Raw::Varint(_))
            | (Ty::F64, Raw::Fixed64(_))
    )
}

fn wire_type_ok(fd: &FieldDef, raw: &Raw<'_>) -> bool {
    match fd.shape {
        Shape::Map => matches!(raw, Raw::Bytes(_)),
        // Repeated scalars may also arrive packed.
        Shape::Repeated if matches!(raw, Raw::Bytes(_)) => true,
        _ => wire_type_ok_scalar(fd.ty, raw),
    }
}

fn expected_wire_type(fd: &FieldDef) -> u8 {
    match (fd.shape, fd.ty) {
        (Shape::Map, _) | (_, Ty::Str | Ty::Bytes | Ty::Msg(_)) => wire::LEN,
        (_, Ty::F64) => wire::FIXED64,
        _ => wire::VARINT,
    }
}

/// The Go zero value of a scalar type as JSON.
fn zero(ty: Ty) -> Value {
    match ty {
        Ty::Str | Ty::Bytes => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::I32 | Ty::I64 | Ty::F64 => Value::from(0),
        Ty::Msg(_) => Value::Null,
    }
}

fn is_zero_scalar(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => false,
    }
}

fn is_empty_json(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
