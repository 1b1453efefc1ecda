//! Minimal protobuf wire-format reader.
//!
//! Hand-written (rather than using prost's internals) because the decoder is
//! schema-driven: it needs raw (field number, wire value) pairs, and must turn
//! every malformation into an error instead of a panic.

use std::fmt;

/// Wire types (protobuf encoding spec).
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// Why the bytes are not valid protobuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    Truncated,
    VarintTooLong,
    LengthTooLarge(u64),
    InvalidWireType(u8),
    FieldNumberZero,
    UnexpectedEndGroup(u32),
    UnterminatedGroup(u32),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("unexpected end of data"),
            Self::VarintTooLong => f.write_str("varint longer than 10 bytes"),
            Self::LengthTooLarge(n) => write!(f, "length {n} exceeds the remaining data"),
            Self::InvalidWireType(t) => write!(f, "invalid wire type {t}"),
            Self::FieldNumberZero => f.write_str("illegal field number 0"),
            Self::UnexpectedEndGroup(n) => write!(f, "unexpected end-group for field {n}"),
            Self::UnterminatedGroup(n) => write!(f, "group for field {n} is not terminated"),
        }
    }
}

/// A raw field value as found on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    /// No Kubernetes field uses fixed32; only its presence is kept.
    Fixed32,
    Bytes(&'a [u8]),
}

impl Raw<'_> {
    /// Wire type number, for error messages.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Self::Varint(_) => VARINT,
            Self::Fixed64(_) => FIXED64,
            Self::Fixed32 => FIXED32,
            Self::Bytes(_) => LEN,
        }
    }
}

/// Cursor over a protobuf-encoded buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
            self.pos += 1;
            // Bits beyond 64 are dropped, as Go's generated decoders do.
            value |= u64::from(b & 0x7f).checked_shl(7 * i).unwrap_or(0);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::VarintTooLong)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn length_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let remaining = self.buf.len().saturating_sub(self.pos);
        match usize::try_from(len) {
            Ok(n) if n <= remaining => self.take(n),
            _ => Err(WireError::LengthTooLarge(len)),
        }
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        let mut arr = [0u8; 8];
        arr.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(arr))
    }

    pub(crate) fn fixed32(&mut self) -> Result<u32, WireError> {
        let bytes = self.take(4)?;
        let mut arr = [0u8; 4];
        arr.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(arr))
    }

    /// Reads a field key: (field number, wire type).
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let number = u32::try_from(key >> 3).unwrap_or(u32::MAX);
        if number == 0 {
            return Err(WireError::FieldNumberZero);
        }
        Ok((number, wire_type))
    }

    /// Reads the next field. Groups (deprecated, never used by Kubernetes) are
    /// skipped like Go's generated `skipGenerated` does, so `None` in the value
    /// position means "a group was skipped".
    pub(crate) fn field(&mut self) -> Result<(u32, Option<Raw<'a>>), WireError> {
        let (number, wire_type) = self.key()?;
        let raw = match wire_type {
            VARINT => Raw::Varint(self.varint()?),
            FIXED64 => Raw::Fixed64(self.fixed64()?),
            LEN => Raw::Bytes(self.length_delimited()?),
            FIXED32 => {
                self.fixed32()?;
                Raw::Fixed32
            }
            START_GROUP => {
                self.skip_group(number)?;
                return Ok((number, None));
            }
            END_GROUP => return Err(WireError::UnexpectedEndGroup(number)),
            other => return Err(WireError::InvalidWireType(other)),
        };
        Ok((number, Some(raw)))
    }

    /// Skips to the end-group matching an already consumed start-group, with
    /// an explicit stack so hostile nesting cannot exhaust the call stack.
    fn skip_group(&mut self, number: u32) -> Result<(), WireError> {
        let mut open = vec![number];
        while let Some(&innermost) = open.last() {
            if self.is_empty() {
                return Err(WireError::UnterminatedGroup(innermost));
            }
            let (n, wire_type) = self.key()?;
            match wire_type {
                VARINT => {
                    self.varint()?;
                }
                FIXED64 => {
                    self.fixed64()?;
                }
                LEN => {
                    self.length_delimited()?;
                }
                FIXED32 => {
                    self.fixed32()?;
                }
                START_GROUP => open.push(n),
                END_GROUP if n == innermost => {
                    open.pop();
                }
                END_GROUP => return Err(WireError::UnexpectedEndGroup(n)),
                other => return Err(WireError::InvalidWireType(other)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r = Reader::new(&[0x96, 0x01]);
        assert_eq!(r.varint(), Ok(150));
        assert!(r.is_empty());
        let mut r = Reader::new(&[0xff; 11]);
        assert_eq!(r.varint(), Err(WireError::VarintTooLong));
        let mut r = Reader::new(&[0x80]);
        assert_eq!(r.varint(), Err(WireError::Truncated));
        // -1 as int64: ten bytes.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.varint(), Ok(u64::MAX));
    }

    #[test]
    fn length_beyond_buffer() {
        let mut r = Reader::new(&[0x0a, 0x05, b'a']);
        assert_eq!(r.field().err(), Some(WireError::LengthTooLarge(5)));
    }

    #[test]
    fn groups_are_skipped() {
        // field 1 start-group, nested field 2 start/end, field 3 varint, end 1; then field 4 varint.
        let data = [0x0b, 0x13, 0x14, 0x18, 0x01, 0x0c, 0x20, 0x07];
        let mut r = Reader::new(&data);
        assert!(matches!(r.field(), Ok((1, None))));
        assert!(matches!(r.field(), Ok((4, Some(Raw::Varint(7))))));
        let mut r = Reader::new(&[0x0b, 0x18, 0x01]);
        assert_eq!(r.field().err(), Some(WireError::UnterminatedGroup(1)));
    }
}
