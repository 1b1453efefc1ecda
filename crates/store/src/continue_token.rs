//! Continue tokens for paginated lists, in the shape the Kubernetes API server uses
//! (base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key suffix>"}`), so a token
//! handed to a client by one server is understood by another over the same store.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::{Revision, StoreError};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    #[serde(rename = "v")]
    pub api_version: String,
    /// The revision the first page was read at; every page is read there.
    #[serde(rename = "rv")]
    pub revision: Revision,
    /// The key to start from, relative to the listed prefix.
    pub start: String,
}

const VERSION: &str = "meta.k8s.io/v1";

impl ContinueToken {
    pub fn new(revision: Revision, start: String) -> Self {
        ContinueToken {
            api_version: VERSION.to_string(),
            revision,
            start,
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    pub fn decode(token: &str) -> Result<Self, StoreError> {
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(token)
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
            .map_err(|e| StoreError::InvalidContinue(format!("not base64: {e}")))?;
        let t: ContinueToken = serde_json::from_slice(&raw)
            .map_err(|e| StoreError::InvalidContinue(format!("malformed: {e}")))?;
        if t.api_version != VERSION {
            return Err(StoreError::InvalidContinue(format!(
                "unsupported version {:?}",
                t.api_version
            )));
        }
        if t.revision <= 0 {
            return Err(StoreError::InvalidContinue(
                "revision must be positive".into(),
            ));
        }
        // The start key is relative to the prefix; refuse attempts to escape it.
        if t.start.starts_with('/') || t.start.split('/').any(|s| s == "..") {
            return Err(StoreError::InvalidContinue("invalid start key".into()));
        }
        Ok(t)
    }

    /// The absolute key to resume at under `prefix`.
    pub fn start_key(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.start)
    }
}

/// Builds the token for the page after `last_key` (exclusive), relative to `prefix`.
pub(crate) fn next_token(prefix: &str, last_key: &str, revision: Revision) -> String {
    // Resume strictly after the last key: append the smallest byte.
    let rel = last_key.strip_prefix(prefix).unwrap_or(last_key);
    ContinueToken::new(revision, format!("{rel}\u{0}")).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = ContinueToken::new(42, "default/pod-1\u{0}".into());
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            ContinueToken::decode("!!!"),
            Err(StoreError::InvalidContinue(_))
        ));
        let bad = base64::engine::general_purpose::STANDARD
            .encode(b"{\"v\":\"x\",\"rv\":1,\"start\":\"a\"}");
        assert!(ContinueToken::decode(&bad).is_err());
        let escape = ContinueToken::new(3, "../secrets".into()).encode();
        assert!(ContinueToken::decode(&escape).is_err());
    }
}
