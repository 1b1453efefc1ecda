//! Signing nodes' certificate signing requests: the agent keeps its private keys and sends
//! PKCS#10 requests; the server decides every field of the certificate except the key.

use std::net::IpAddr;

use rcgen::{CertificateSigningRequestParams, ExtendedKeyUsagePurpose, Issuer};

use super::{leaf_params, Ca, LeafSpec, Pki, PkiError, San, CA_CERT_FILE};

/// What a node's CSRs become.
pub struct NodeCertificates {
    /// `CN=system:node:<name>, O=system:nodes`, clientAuth.
    pub client_pem: String,
    /// The kubelet's serving certificate for its name and addresses, serverAuth.
    pub serving_pem: String,
}

impl Pki {
    /// Signs a node's two CSRs (PEM). The requests' signatures are verified; their
    /// subjects and extensions are ignored: the identity comes from the join, not the CSR.
    pub fn sign_node_csrs(
        &self,
        node: &str,
        client_csr_pem: &str,
        serving_csr_pem: &str,
        ips: &[IpAddr],
    ) -> Result<NodeCertificates, PkiError> {
        let ca = Ca::parse(&self.ca_cert_pem, &self.ca_key_pem, CA_CERT_FILE)?;
        let user = format!("system:node:{node}");
        let client = LeafSpec {
            common_name: &user,
            organizations: &["system:nodes"],
            sans: &[],
            usage: ExtendedKeyUsagePurpose::ClientAuth,
        };
        let sans: Vec<San> = std::iter::once(San::Dns(node.to_ascii_lowercase()))
            .chain(ips.iter().map(|ip| San::Ip(*ip)))
            .collect();
        let serving = LeafSpec {
            common_name: &user,
            organizations: &["system:nodes"],
            sans: &sans,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
        };
        Ok(NodeCertificates {
            client_pem: ca.sign_csr(client_csr_pem, &client)?,
            serving_pem: ca.sign_csr(serving_csr_pem, &serving)?,
        })
    }
}

impl Ca {
    fn sign_csr(&self, csr_pem: &str, spec: &LeafSpec<'_>) -> Result<String, PkiError> {
        let mut csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::Invalid {
                what: "certificate signing request".into(),
                reason: e.to_string(),
            })?;
        csr.params = leaf_params(spec)?;
        let generate_err = |source| PkiError::Generate {
            what: format!("certificate for {:?}", spec.common_name),
            source,
        };
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &self.key).map_err(generate_err)?;
        let cert = csr.signed_by(&issuer).map_err(generate_err)?;
        self.with_groups(cert.der(), spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, PublicKeyData};

    #[test]
    fn node_csrs_become_node_certificates_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = super::super::ensure(&super::super::PkiConfig {
            tls_dir: dir.path().to_path_buf(),
            node_ips: vec![],
            cluster_domain: "cluster.local".into(),
            first_service_ip: "10.43.0.1".parse().expect("ip"),
            extra_sans: vec![],
        })
        .expect("pki");
        let key = KeyPair::generate().expect("key");
        let csr = CertificateParams::new(vec!["ignored".to_string()])
            .expect("params")
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem");
        let ip: IpAddr = "10.9.0.2".parse().expect("ip");
        let certs = pki.sign_node_csrs("n1", &csr, &csr, &[ip]).expect("signed");
        let der = super::super::cert_der_from_pem(&certs.client_pem, "client").expect("der");
        let (name, groups) = super::super::identity_from_cert(&der).expect("identity");
        assert_eq!(name, "system:node:n1");
        assert_eq!(groups, vec!["system:nodes".to_string()]);
        // The certificate carries the CSR's key, not a new one.
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
        assert_eq!(
            cert.public_key().raw,
            key.subject_public_key_info().as_slice()
        );
        // A tampered request fails its signature check.
        let mut bad = csr.clone();
        bad.replace_range(80..84, "AAAA");
        assert!(pki.sign_node_csrs("n1", &bad, &csr, &[]).is_err());
        assert!(pki.sign_node_csrs("n1", "garbage", &csr, &[]).is_err());
    }
}
