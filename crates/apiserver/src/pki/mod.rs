//! The cluster's PKI: certificate authority, API server serving certificate, admin client
//! certificate, and the admin kubeconfig.
//!
//! [`ensure`] runs once at API server start-up. On the first start it creates, under the TLS
//! directory:
//!
//! | file | what |
//! |---|---|
//! | `ca.crt`, `ca.key` | self-signed cluster CA (ECDSA P-256, CN `rkube-ca`, 10 years) |
//! | `serving.crt`, `serving.key` | the API server's serving certificate, signed by the CA |
//! | `admin.crt`, `admin.key` | client certificate `CN=system:admin, O=system:masters` |
//!
//! On later starts the files are loaded and reused unchanged. A leaf certificate (serving or
//! admin) is re-issued from the existing CA only when it no longer fits: it lacks a subject
//! alternative name that is now required (say the node IP changed), it expires within
//! [`RENEW_BEFORE_DAYS`] days, it was not signed by the CA, or its key does not match. The CA
//! itself is never replaced silently, because every credential in the cluster depends on it.
//!
//! Every file is written atomically (temporary file in the same directory, `fsync`, rename),
//! so a crash never leaves half a file behind; key files have mode 0600.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// File name of the CA certificate inside the TLS directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key inside the TLS directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the API server's serving certificate inside the TLS directory.
pub const SERVING_CERT_FILE: &str = "serving.crt";
/// File name of the serving certificate's private key inside the TLS directory.
pub const SERVING_KEY_FILE: &str = "serving.key";
/// File name of the admin client certificate inside the TLS directory.
pub const ADMIN_CERT_FILE: &str = "admin.crt";
/// File name of the admin client certificate's private key inside the TLS directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "rkube-ca";
/// Common name of the API server's serving certificate.
pub const SERVING_COMMON_NAME: &str = "kube-apiserver";
/// User name of the admin client certificate.
pub const ADMIN_USER: &str = "system:admin";
/// Group of the admin client certificate (bound to `cluster-admin` upstream).
pub const ADMIN_GROUP: &str = "system:masters";

/// Validity of the CA certificate.
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// Validity of leaf certificates (serving, admin, and [`Pki::issue_client_cert`]).
pub const LEAF_VALIDITY_DAYS: i64 = 365;
/// A leaf certificate that expires within this many days is re-issued by [`ensure`].
pub const RENEW_BEFORE_DAYS: i64 = 90;
/// `notBefore` is back-dated by this much to tolerate clock skew between machines.
const BACKDATE: Duration = Duration::hours(1);

/// What [`ensure`] needs to know to produce the certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiConfig {
    /// Directory holding the certificates and keys (created with mode 0700 if missing).
    pub tls_dir: PathBuf,
    /// Addresses of this node; each becomes an IP SAN of the serving certificate.
    pub node_ips: Vec<IpAddr>,
    /// Cluster DNS domain, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// First address of the service CIDR (the `kubernetes` Service's cluster IP).
    pub first_service_ip: IpAddr,
    /// Additional SANs: an IP SAN if the string parses as an IP address, else a DNS SAN.
    pub extra_sans: Vec<String>,
}

/// Errors of the PKI module; every variant says which file or certificate it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Reading, writing or creating a file or directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Generating a key or signing a certificate failed.
    #[error("generate {what}: {source}")]
    Generate {
        /// Which key or certificate.
        what: String,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },
    /// A certificate or key could not be parsed, or is unusable.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which certificate or key (usually a path).
        what: String,
        /// Why it is unusable.
        reason: String,
    },
    /// A subject alternative name is not valid in a certificate.
    #[error("invalid subject alternative name {name:?}: {reason}")]
    InvalidSan {
        /// The offending name.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The CA certificate exists but its private key is missing, so nothing can be signed.
    /// Not repaired automatically: a new CA would invalidate every credential in the cluster.
    #[error(
        "CA certificate {} exists but its key {} is missing; restore the key or remove the \
         whole TLS directory to start a new CA",
        cert.display(),
        key.display()
    )]
    CaKeyMissing {
        /// The CA certificate path.
        cert: PathBuf,
        /// The missing key path.
        key: PathBuf,
    },
    /// Building the rustls configuration failed.
    #[error("build TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Building the client certificate verifier failed.
    #[error("build TLS client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The cluster's certificates and keys, PEM-encoded, as loaded or created by [`ensure`].
#[derive(Clone)]
pub struct Pki {
    tls_dir: PathBuf,
    ca_cert_pem: String,
    ca_key_pem: String,
    serving_cert_pem: String,
    serving_key_pem: String,
    admin_cert_pem: String,
    admin_key_pem: String,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print private keys.
        f.debug_struct("Pki")
            .field("tls_dir", &self.tls_dir)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// The CA's private key as PKCS#8 DER: it also signs service account tokens, so every
    /// server of a cluster (they share the CA) verifies every token.
    pub(crate) fn ca_key_pkcs8(&self) -> Result<Vec<u8>, PkiError> {
        KeyPair::from_pem(&self.ca_key_pem)
            .map(|k| k.serialize_der())
            .map_err(|e| PkiError::Invalid {
                what: CA_KEY_FILE.to_string(),
                reason: e.to_string(),
            })
    }

    /// The directory the files live in.
    pub fn tls_dir(&self) -> &Path {
        &self.tls_dir
    }

    /// The CA certificate (PEM).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The CA certificate (DER).
    pub fn ca_cert_der(&self) -> Result<CertificateDer<'static>, PkiError> {
        cert_der_from_pem(&self.ca_cert_pem, CA_CERT_FILE)
    }

    /// The API server's serving certificate (PEM).
    pub fn serving_cert_pem(&self) -> &str {
        &self.serving_cert_pem
    }

    /// The serving certificate's private key (PKCS#8 PEM).
    pub fn serving_key_pem(&self) -> &str {
        &self.serving_key_pem
    }

    /// The admin client certificate (PEM), `CN=system:admin, O=system:masters`.
    pub fn admin_cert_pem(&self) -> &str {
        &self.admin_cert_pem
    }

    /// The admin client certificate's private key (PKCS#8 PEM).
    pub fn admin_key_pem(&self) -> &str {
        &self.admin_key_pem
    }

    /// A rustls server configuration (ring provider, TLS 1.2 and 1.3) that presents the
    /// serving certificate, offers ALPN `h2` and `http/1.1`, and verifies client certificates
    /// against the cluster CA *if* the client presents one. Clients without a certificate are
    /// let through (bearer tokens, anonymous health checks); use
    /// [`rustls::ServerConnection::peer_certificates`] and [`identity_from_cert`] to learn who
    /// a certificate-authenticated client is.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());

        let mut roots = RootCertStore::empty();
        roots.add(self.ca_cert_der()?)?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()?;

        let cert = cert_der_from_pem(&self.serving_cert_pem, SERVING_CERT_FILE)?;
        let key = PrivateKeyDer::from_pem_slice(self.serving_key_pem.as_bytes()).map_err(|e| {
            PkiError::Invalid {
                what: SERVING_KEY_FILE.to_string(),
                reason: e.to_string(),
            }
        })?;

        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Issues a client certificate (EKU clientAuth, [`LEAF_VALIDITY_DAYS`] days) signed by the
    /// cluster CA for user `common_name` in groups `organizations`, with a fresh ECDSA P-256
    /// key. Returns `(certificate PEM, PKCS#8 key PEM)`. Nothing is written to disk.
    pub fn issue_client_cert(
        &self,
        common_name: &str,
        organizations: &[&str],
    ) -> Result<(String, String), PkiError> {
        let ca = Ca::parse(&self.ca_cert_pem, &self.ca_key_pem, CA_CERT_FILE)?;
        ca.issue(&LeafSpec {
            common_name,
            organizations,
            sans: &[],
            usage: ExtendedKeyUsagePurpose::ClientAuth,
        })
    }
}

impl Pki {
    /// Issues a serving certificate (EKU serverAuth) for a node's kubelet: `dns` names and
    /// `ips` as SANs. Returns `(certificate PEM, key PEM)`; nothing is written to disk.
    pub fn issue_serving_cert(
        &self,
        common_name: &str,
        dns: &[&str],
        ips: &[IpAddr],
    ) -> Result<(String, String), PkiError> {
        let ca = Ca::parse(&self.ca_cert_pem, &self.ca_key_pem, CA_CERT_FILE)?;
        let sans: Vec<San> = dns
            .iter()
            .map(|d| San::Dns(d.to_ascii_lowercase()))
            .chain(ips.iter().map(|ip| San::Ip(*ip)))
            .collect();
        ca.issue(&LeafSpec {
            common_name,
            organizations: &[],
            sans: &sans,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
        })
    }

    /// A TLS client configuration for the API server's calls to kubelets: it trusts only the
    /// cluster CA and presents a client certificate for `kube-apiserver-kubelet-client`.
    pub fn kubelet_client_config(&self) -> Result<rustls::ClientConfig, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_cert_der()?)?;
        let (cert_pem, key_pem) =
            self.issue_client_cert("kube-apiserver-kubelet-client", &["system:masters"])?;
        let cert = cert_der_from_pem(&cert_pem, "kubelet client certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| PkiError::Invalid {
                what: "kubelet client key".into(),
                reason: e.to_string(),
            })?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Creates the CA, serving and admin certificates under `cfg.tls_dir` on first start, or
/// loads and reuses them on later starts. See the [module documentation](self) for when a
/// leaf certificate is re-issued.
pub fn ensure(cfg: &PkiConfig) -> Result<Pki, PkiError> {
    let dir = cfg.tls_dir.as_path();
    create_dir_private(dir)?;
    let sans = required_sans(cfg)?;

    let (ca_cert_pem, ca_key_pem, ca_is_new) = ensure_ca(dir)?;
    let ca = Ca::parse(
        &ca_cert_pem,
        &ca_key_pem,
        &dir.join(CA_CERT_FILE).display().to_string(),
    )?;

    let (serving_cert_pem, serving_key_pem) = ensure_leaf(
        dir,
        SERVING_CERT_FILE,
        SERVING_KEY_FILE,
        &ca,
        ca_is_new,
        &LeafSpec {
            common_name: SERVING_COMMON_NAME,
            organizations: &[],
            sans: &sans,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
        },
    )?;
    let (admin_cert_pem, admin_key_pem) = ensure_leaf(
        dir,
        ADMIN_CERT_FILE,
        ADMIN_KEY_FILE,
        &ca,
        ca_is_new,
        &LeafSpec {
            common_name: ADMIN_USER,
            organizations: &[ADMIN_GROUP],
            sans: &[],
            usage: ExtendedKeyUsagePurpose::ClientAuth,
        },
    )?;

    Ok(Pki {
        tls_dir: dir.to_path_buf(),
        ca_cert_pem,
        ca_key_pem,
        serving_cert_pem,
        serving_key_pem,
        admin_cert_pem,
        admin_key_pem,
    })
}

/// Writes a kubeconfig for the admin user: one cluster, one user and one context, all named
/// `cluster_name` (k3s uses `default`), with the CA and the admin certificate and key
/// embedded as base64 `*-data` fields and `current-context` set. The file gets mode 0600, is
/// written atomically, and its parent directories are created when missing.
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    pki: &Pki,
    cluster_name: &str,
) -> Result<(), PkiError> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let name = yaml_quote(cluster_name);
    let yaml = format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {name}\n  \
           cluster:\n    \
             certificate-authority-data: {ca}\n    \
             server: {server}\n\
         contexts:\n\
         - name: {name}\n  \
           context:\n    \
             cluster: {name}\n    \
             user: {name}\n\
         current-context: {name}\n\
         preferences: {{}}\n\
         users:\n\
         - name: {name}\n  \
           user:\n    \
             client-certificate-data: {cert}\n    \
             client-key-data: {key}\n",
        ca = b64(&pki.ca_cert_pem),
        server = yaml_quote(server_url),
        cert = b64(&pki.admin_cert_pem),
        key = b64(&pki.admin_key_pem),
    );

    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| PkiError::Io {
            op: "create directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_atomic(path, yaml.as_bytes(), 0o600)
}

/// The user (subject CN) and groups (subject O, in order) of a client certificate, or `None`
/// if `der` is not a parseable X.509 certificate or has no common name. The caller must have
/// verified the certificate (rustls does so during the handshake).
pub fn identity_from_cert(der: &[u8]) -> Option<(String, Vec<String>)> {
    rkube_apimachinery::user::UserInfo::from_client_cert(der).map(|u| (u.name, u.groups))
}

// ---------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------

/// A subject alternative name in comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum San {
    /// Lower-case DNS name.
    Dns(String),
    Ip(IpAddr),
}

impl San {
    fn parse(s: &str) -> San {
        let s = s.trim();
        match s.parse::<IpAddr>() {
            Ok(ip) => San::Ip(ip),
            Err(_) => San::Dns(s.trim_end_matches('.').to_ascii_lowercase()),
        }
    }

    fn to_rcgen(&self) -> Result<SanType, PkiError> {
        match self {
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            San::Dns(name) => {
                let ia5 =
                    name.clone()
                        .try_into()
                        .map_err(|e: rcgen::Error| PkiError::InvalidSan {
                            name: name.clone(),
                            reason: e.to_string(),
                        })?;
                Ok(SanType::DnsName(ia5))
            }
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(n) => write!(f, "DNS:{n}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// The SANs the serving certificate must carry for `cfg`, without duplicates.
fn required_sans(cfg: &PkiConfig) -> Result<Vec<San>, PkiError> {
    let mut all = Vec::new();
    all.extend(cfg.node_ips.iter().copied().map(San::Ip));
    all.push(San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    all.push(San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    all.push(San::Ip(cfg.first_service_ip));
    for name in [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    ] {
        all.push(San::Dns(name.to_string()));
    }
    let domain = cfg.cluster_domain.trim().trim_matches('.');
    if !domain.is_empty() {
        all.push(San::parse(&format!("kubernetes.default.svc.{domain}")));
    }
    for extra in &cfg.extra_sans {
        if !extra.trim().is_empty() {
            all.push(San::parse(extra));
        }
    }

    let mut sans: Vec<San> = Vec::with_capacity(all.len());
    for san in all {
        if let San::Dns(name) = &san {
            if name.is_empty() || !name.is_ascii() || name.chars().any(|c| c.is_whitespace()) {
                return Err(PkiError::InvalidSan {
                    name: name.clone(),
                    reason: "not a valid DNS name or IP address".to_string(),
                });
            }
        }
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

/// What a leaf certificate must look like.
struct LeafSpec<'a> {
    common_name: &'a str,
    organizations: &'a [&'a str],
    sans: &'a [San],
    usage: ExtendedKeyUsagePurpose,
}

/// A loaded CA: its certificate (DER) and key.
struct Ca {
    cert_der: CertificateDer<'static>,
    key: KeyPair,
}

impl Ca {
    fn parse(cert_pem: &str, key_pem: &str, what: &str) -> Result<Ca, PkiError> {
        let cert_der = cert_der_from_pem(cert_pem, what)?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::Invalid {
            what: format!("{what} (key)"),
            reason: e.to_string(),
        })?;
        let (_, cert) = parse_x509(&cert_der, what)?;
        if !cert.is_ca() {
            return Err(PkiError::Invalid {
                what: what.to_string(),
                reason: "not a CA certificate (basicConstraints CA:TRUE missing)".to_string(),
            });
        }
        if cert.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::Invalid {
                what: what.to_string(),
                reason: "the CA key does not belong to the CA certificate".to_string(),
            });
        }
        if remaining_seconds(&cert) <= 0 {
            tracing::warn!(cert = what, "the cluster CA certificate has expired");
        }
        Ok(Ca { cert_der, key })
    }

    /// Issues a leaf certificate with a fresh key; returns (cert PEM, key PEM).
    fn issue(&self, spec: &LeafSpec<'_>) -> Result<(String, String), PkiError> {
        let generate_err = |source| PkiError::Generate {
            what: format!("certificate for {:?}", spec.common_name),
            source,
        };
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &self.key).map_err(generate_err)?;
        let key = KeyPair::generate().map_err(generate_err)?;
        let params = leaf_params(spec)?;
        let cert = params.signed_by(&key, &issuer).map_err(generate_err)?;
        Ok((self.with_groups(cert.der(), spec)?, key.serialize_pem()))
    }

    /// rcgen keeps at most one value per attribute type in a subject, but Kubernetes
    /// groups are repeated O attributes: put the full subject in and sign again.
    fn with_groups(&self, der: &[u8], spec: &LeafSpec<'_>) -> Result<String, PkiError> {
        if spec.organizations.is_empty() {
            return Ok(der::pem("CERTIFICATE", der));
        }
        let subject = der::subject(spec.common_name, spec.organizations);
        let der = der::replace_subject_and_resign(der, &subject, &self.key)?;
        Ok(der::pem("CERTIFICATE", &der))
    }
}

/// The certificate fields of a leaf: subject, SANs, usages and validity.
fn leaf_params(spec: &LeafSpec<'_>) -> Result<CertificateParams, PkiError> {
    if spec.common_name.is_empty() {
        return Err(PkiError::Invalid {
            what: "certificate subject".to_string(),
            reason: "empty common name".to_string(),
        });
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = spec
        .sans
        .iter()
        .map(San::to_rcgen)
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![spec.usage.clone()];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(LEAF_VALIDITY_DAYS);
    Ok(params)
}

mod csr;
mod der;

/// Self-signs a CA certificate for `key`.
fn self_sign_ca(key: &KeyPair) -> Result<String, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    let cert = params
        .self_signed(key)
        .map_err(|source| PkiError::Generate {
            what: "CA certificate".to_string(),
            source,
        })?;
    Ok(cert.pem())
}

/// Loads the CA under `dir`, or creates it; returns (cert PEM, key PEM). Servers sharing a
/// datastore call this before [`ensure`] to agree on one CA.
pub fn ensure_ca_files(dir: &Path) -> Result<(String, String), PkiError> {
    create_dir_private(dir)?;
    let (cert, key, _) = ensure_ca(dir)?;
    Ok((cert, key))
}

/// Replaces the CA under `dir` with another server's (leaf certificates signed by the old
/// one are re-issued by the next [`ensure`]).
pub fn adopt_ca_files(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(), PkiError> {
    create_dir_private(dir)?;
    write_atomic(&dir.join(CA_KEY_FILE), key_pem.as_bytes(), 0o600)?;
    write_atomic(&dir.join(CA_CERT_FILE), cert_pem.as_bytes(), 0o644)
}

/// Loads the CA, or creates it. Returns (cert PEM, key PEM, whether it is new).
fn ensure_ca(dir: &Path) -> Result<(String, String, bool), PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    match (read_optional(&cert_path)?, read_optional(&key_path)?) {
        (Some(cert), Some(key)) => Ok((cert, key, false)),
        (Some(_), None) => Err(PkiError::CaKeyMissing {
            cert: cert_path,
            key: key_path,
        }),
        (None, Some(key_pem)) => {
            // The key is written before the certificate, so this is a crash between the two
            // writes of the first start: finish the job with the existing key.
            tracing::warn!(path = %cert_path.display(), "CA key without certificate; self-signing a new CA certificate");
            let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::Invalid {
                what: key_path.display().to_string(),
                reason: e.to_string(),
            })?;
            let cert = self_sign_ca(&key)?;
            write_atomic(&cert_path, cert.as_bytes(), 0o644)?;
            Ok((cert, key_pem, true))
        }
        (None, None) => {
            tracing::info!(dir = %dir.display(), "creating cluster CA");
            let key = KeyPair::generate().map_err(|source| PkiError::Generate {
                what: "CA key".to_string(),
                source,
            })?;
            let key_pem = key.serialize_pem();
            let cert = self_sign_ca(&key)?;
            write_atomic(&key_path, key_pem.as_bytes(), 0o600)?;
            write_atomic(&cert_path, cert.as_bytes(), 0o644)?;
            Ok((cert, key_pem, true))
        }
    }
}

/// Loads a leaf certificate and key and reuses them if they still fit `spec`; otherwise
/// issues new ones from `ca` and writes them (key first, then certificate).
fn ensure_leaf(
    dir: &Path,
    cert_file: &str,
    key_file: &str,
    ca: &Ca,
    ca_is_new: bool,
    spec: &LeafSpec<'_>,
) -> Result<(String, String), PkiError> {
    let cert_path = dir.join(cert_file);
    let key_path = dir.join(key_file);
    let existing = (read_optional(&cert_path)?, read_optional(&key_path)?);
    let reason = match &existing {
        _ if ca_is_new => Some("new CA".to_string()),
        (Some(cert), Some(key)) => leaf_problem(cert, key, ca, spec),
        (None, _) | (_, None) => Some("missing".to_string()),
    };
    match (reason, existing) {
        (None, (Some(cert), Some(key))) => Ok((cert, key)),
        (reason, _) => {
            let reason = reason.unwrap_or_default();
            tracing::info!(cert = %cert_path.display(), %reason, "issuing certificate");
            let (cert, key) = ca.issue(spec)?;
            write_atomic(&key_path, key.as_bytes(), 0o600)?;
            write_atomic(&cert_path, cert.as_bytes(), 0o644)?;
            Ok((cert, key))
        }
    }
}

/// Why an existing leaf certificate must be re-issued, or `None` if it is fine.
fn leaf_problem(cert_pem: &str, key_pem: &str, ca: &Ca, spec: &LeafSpec<'_>) -> Option<String> {
    let der = match cert_der_from_pem(cert_pem, "") {
        Ok(der) => der,
        Err(e) => return Some(format!("unparseable certificate: {e}")),
    };
    let cert = match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => cert,
        Err(e) => return Some(format!("unparseable certificate: {e}")),
    };
    let key = match KeyPair::from_pem(key_pem) {
        Ok(key) => key,
        Err(e) => return Some(format!("unparseable key: {e}")),
    };
    if cert.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
        return Some("key does not match certificate".to_string());
    }
    let ca_cert = match x509_parser::parse_x509_certificate(&ca.cert_der) {
        Ok((_, ca_cert)) => ca_cert,
        Err(e) => return Some(format!("unparseable CA certificate: {e}")),
    };
    if cert.issuer().as_raw() != ca_cert.subject().as_raw()
        || cert
            .verify_signature(Some(&ca_cert.tbs_certificate.subject_pki))
            .is_err()
    {
        return Some("not signed by the cluster CA".to_string());
    }
    if remaining_seconds(&cert) < Duration::days(RENEW_BEFORE_DAYS).whole_seconds() {
        return Some(format!("expires within {RENEW_BEFORE_DAYS} days"));
    }
    let expected_orgs: Vec<String> = spec.organizations.iter().map(|o| o.to_string()).collect();
    if identity_from_cert(&der) != Some((spec.common_name.to_string(), expected_orgs)) {
        return Some("subject changed".to_string());
    }
    let present = cert_sans(&cert);
    let missing: Vec<String> = spec
        .sans
        .iter()
        .filter(|san| !present.contains(san))
        .map(San::to_string)
        .collect();
    if !missing.is_empty() {
        return Some(format!("lacks SANs {}", missing.join(", ")));
    }
    None
}

/// The DNS and IP SANs of a certificate.
fn cert_sans(cert: &X509Certificate<'_>) -> Vec<San> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(San::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| San::Ip(IpAddr::from(b))),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| San::Ip(IpAddr::from(b))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Seconds until the certificate expires (negative once expired).
fn remaining_seconds(cert: &X509Certificate<'_>) -> i64 {
    cert.validity().not_after.timestamp() - OffsetDateTime::now_utc().unix_timestamp()
}

fn parse_x509<'a>(der: &'a [u8], what: &str) -> Result<(&'a [u8], X509Certificate<'a>), PkiError> {
    x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Invalid {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

fn cert_der_from_pem(pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Invalid {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Reads a UTF-8 file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
fn create_dir_private(dir: &Path) -> Result<(), PkiError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PkiError::Io {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory (created
/// with mode 0600, then set to `mode`), `fsync`, rename over `path`, `fsync` the directory.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let io_err = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| PkiError::Io {
            op,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".rkube-tmp-")
        .tempfile_in(dir)
        .map_err(io_err("create temporary file in", dir))?;
    tmp.write_all(contents)
        .map_err(io_err("write", tmp.path()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_err("set permissions of", tmp.path()))?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err("sync", tmp.path()))?;
    tmp.persist(path).map_err(|e| PkiError::Io {
        op: "rename temporary file to",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // Make the rename durable; failure here does not undo the (already visible) write.
    if let Ok(d) = std::fs::File::open(dir) {
        if let Err(e) = d.sync_all() {
            tracing::debug!(dir = %dir.display(), error = %e, "fsync of directory failed");
        }
    }
    Ok(())
}

/// A YAML double-quoted scalar (JSON string syntax, which YAML accepts).
fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
