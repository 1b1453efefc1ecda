//! TLS termination: certificates from `kubernetes.io/tls` Secrets chosen by SNI, a self-signed
//! default otherwise. The host → certificate map is swapped atomically, so new handshakes
//! use new certificates while established connections keep theirs.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no certificate in PEM data")]
    NoCertificate,
    #[error("invalid certificate PEM: {0}")]
    CertPem(rustls_pki_types::pem::Error),
    #[error("invalid private key PEM: {0}")]
    KeyPem(rustls_pki_types::pem::Error),
    #[error("unsupported private key: {0}")]
    Key(rustls::Error),
    #[error("generating the default certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building TLS config: {0}")]
    Config(rustls::Error),
}

/// Parses a PEM chain and key (the `tls.crt`/`tls.key` of a Secret).
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(TlsError::CertPem)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(TlsError::KeyPem)?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(TlsError::Key)?;
    Ok(Arc::new(CertifiedKey::new(certs, signer)))
}

/// A self-signed certificate for `names` as (cert PEM, key PEM); also used by tests.
pub fn self_signed_pem(names: &[&str]) -> Result<(String, String), TlsError> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names)?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

/// Host pattern (`foo.com` or `*.foo.com`, lowercase) → certificate.
pub type CertMap = HashMap<String, Arc<CertifiedKey>>;

/// The SNI resolver installed in the HTTPS listener's rustls config.
#[derive(Debug)]
pub struct CertStore {
    certs: ArcSwap<CertMap>,
    default: Arc<CertifiedKey>,
}

impl CertStore {
    /// A store whose default is a fresh self-signed certificate (as ingress-nginx's
    /// "Kubernetes Ingress Controller Fake Certificate").
    pub fn new() -> Result<Self, TlsError> {
        let (c, k) = self_signed_pem(&["ingress.local"])?;
        Ok(Self::with_default(certified_key(
            c.as_bytes(),
            k.as_bytes(),
        )?))
    }

    pub fn with_default(default: Arc<CertifiedKey>) -> Self {
        CertStore {
            certs: ArcSwap::from_pointee(CertMap::new()),
            default,
        }
    }

    /// Replaces the host → certificate map.
    pub fn swap(&self, certs: CertMap) {
        self.certs.store(Arc::new(certs));
    }

    /// The certificate for a server name: exact, then one-label wildcard, then the default.
    pub fn lookup(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = sni.map(str::to_ascii_lowercase) else {
            return self.default.clone();
        };
        let map = self.certs.load();
        if let Some(c) = map.get(&name) {
            return c.clone();
        }
        if let Some((_, suffix)) = name.split_once('.') {
            if let Some(c) = map.get(&format!("*.{suffix}")) {
                return c.clone();
            }
        }
        self.default.clone()
    }

    /// A rustls server config resolving through this store, offering h2 and http/1.1.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.lookup(hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_for(name: &str) -> Arc<CertifiedKey> {
        let (c, k) = self_signed_pem(&[name]).unwrap();
        certified_key(c.as_bytes(), k.as_bytes()).unwrap()
    }

    #[test]
    fn sni_lookup_order() {
        let store = CertStore::new().unwrap();
        let exact = key_for("a.foo.com");
        let wild = key_for("*.foo.com");
        let mut m = CertMap::new();
        m.insert("a.foo.com".into(), exact.clone());
        m.insert("*.foo.com".into(), wild.clone());
        store.swap(m);
        assert!(Arc::ptr_eq(&store.lookup(Some("A.foo.com")), &exact));
        assert!(Arc::ptr_eq(&store.lookup(Some("b.foo.com")), &wild));
        assert!(Arc::ptr_eq(
            &store.lookup(Some("x.b.foo.com")),
            &store.default
        ));
        assert!(Arc::ptr_eq(&store.lookup(None), &store.default));
        store.swap(CertMap::new());
        assert!(Arc::ptr_eq(
            &store.lookup(Some("a.foo.com")),
            &store.default
        ));
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(matches!(
            certified_key(b"junk", b"junk"),
            Err(TlsError::NoCertificate)
        ));
        let (c, _) = self_signed_pem(&["x"]).unwrap();
        assert!(certified_key(c.as_bytes(), b"not a key").is_err());
    }
}
