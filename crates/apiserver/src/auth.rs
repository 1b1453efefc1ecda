//! Authentication: who is asking. Client certificates signed by the cluster CA (verified by
//! TLS) and, later, bearer tokens. Authorization follows in its own issue; until then every
//! authenticated user may do everything, as upstream's `system:masters` may.

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn from_certificate(name: String, mut groups: Vec<String>) -> Self {
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_string());
        }
        User { name, groups }
    }
}

/// Paths anyone may read without credentials (upstream's `system:public-info-viewer`:
/// health and version).
pub fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/version" | "/version/"
    ) || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}
