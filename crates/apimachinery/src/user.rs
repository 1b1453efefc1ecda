//! Who a request comes from, as upstream's `user.Info`: a user name and groups. With client
//! certificates (the API server's and the kubelet's authentication) the subject's common
//! name is the user and its organizations, in order, are the groups.

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user a client certificate names, or `None` if `der` is not a parseable X.509
    /// certificate or has no common name. The caller must have verified the certificate
    /// (rustls does so during the handshake).
    pub fn from_client_cert(der: &[u8]) -> Option<UserInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .find_map(|a| a.as_str().ok())?
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok())
            .map(str::to_string)
            .collect();
        Some(UserInfo { name, groups })
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
