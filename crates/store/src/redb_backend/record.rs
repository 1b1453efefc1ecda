//! The on-disk encoding of one revision of one key.
//!
//! ```text
//! flags u8 | create_rev i64 | version i64 | prev_rev i64 | key_len u32 | key | value
//! ```
//! All integers little-endian. `prev_rev` links the versions of a key so history can be walked
//! backwards for reads at an old revision and for the previous value of a watch event.

use crate::{KeyValue, Revision, StoreError};

const TOMBSTONE: u8 = 1;
const HEADER: usize = 1 + 8 + 8 + 8 + 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub tombstone: bool,
    pub create_rev: Revision,
    pub version: i64,
    /// Revision of the key's previous record (0 = none).
    pub prev_rev: Revision,
    pub key: String,
    pub value: Vec<u8>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.key.len() + self.value.len());
        out.push(if self.tombstone { TOMBSTONE } else { 0 });
        out.extend_from_slice(&self.create_rev.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.prev_rev.to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    pub fn decode(rev: Revision, raw: &[u8]) -> Result<Record, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt {
            path: String::new(),
            reason: format!("record at revision {rev}: {why}"),
        };
        if raw.len() < HEADER {
            return Err(corrupt("truncated header"));
        }
        let i64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            i64::from_le_bytes(b)
        };
        let mut kl = [0u8; 4];
        kl.copy_from_slice(&raw[25..29]);
        let key_len = u32::from_le_bytes(kl) as usize;
        if raw.len() < HEADER + key_len {
            return Err(corrupt("truncated key"));
        }
        let key = std::str::from_utf8(&raw[HEADER..HEADER + key_len])
            .map_err(|_| corrupt("key is not UTF-8"))?
            .to_string();
        Ok(Record {
            tombstone: raw[0] & TOMBSTONE != 0,
            create_rev: i64_at(1),
            version: i64_at(9),
            prev_rev: i64_at(17),
            key,
            value: raw[HEADER + key_len..].to_vec(),
        })
    }

    /// Only the key, without copying the value (for scans that filter by prefix).
    pub fn decode_key(raw: &[u8]) -> Option<&str> {
        if raw.len() < HEADER {
            return None;
        }
        let mut kl = [0u8; 4];
        kl.copy_from_slice(&raw[25..29]);
        let key_len = u32::from_le_bytes(kl) as usize;
        raw.get(HEADER..HEADER + key_len)
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The key-value this record describes when it was written at `rev`.
    pub fn into_kv(self, rev: Revision) -> KeyValue {
        KeyValue {
            key: self.key,
            value: self.value,
            create_revision: if self.tombstone { 0 } else { self.create_rev },
            mod_revision: rev,
            version: if self.tombstone { 0 } else { self.version },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Record {
            tombstone: false,
            create_rev: 3,
            version: 2,
            prev_rev: 3,
            key: "/registry/pods/default/a".into(),
            value: b"{\"x\":1}".to_vec(),
        };
        let raw = r.encode();
        assert_eq!(Record::decode(7, &raw).unwrap(), r);
        assert_eq!(Record::decode_key(&raw), Some("/registry/pods/default/a"));
        assert!(Record::decode(7, &raw[..10]).is_err());
    }
}
