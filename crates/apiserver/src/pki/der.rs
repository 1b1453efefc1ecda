//! Just enough DER to replace the subject of a certificate and sign it again.

use super::PkiError;
use base64::Engine as _;
use rcgen::{KeyPair, SigningKey as _};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const BIT_STRING: u8 = 0x03;
const VERSION_TAG: u8 = 0xa0;
/// 2.5.4.3
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
/// 2.5.4.10
const OID_ORGANIZATION: [u8; 3] = [0x55, 0x04, 0x0a];

fn invalid(reason: &str) -> PkiError {
    PkiError::Invalid {
        what: "generated certificate".to_string(),
        reason: reason.to_string(),
    }
}

/// Encodes one element: tag, definite length, content.
pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// One DER element: its tag, its full encoding and its content.
struct Element<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
}

/// Splits the first element off `input`; returns it and the rest.
fn split(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = input
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    let element = Element {
        tag,
        whole,
        content: &whole[header..],
    };
    Some((element, &input[end..]))
}

/// A subject `O=<org>, ..., CN=<common_name>`, every value a UTF8String.
pub(super) fn subject(common_name: &str, organizations: &[&str]) -> Vec<u8> {
    let rdn = |oid: &[u8], value: &str| {
        let mut atv = tlv(OID, oid);
        atv.extend(tlv(UTF8_STRING, value.as_bytes()));
        tlv(SET, &tlv(SEQUENCE, &atv))
    };
    let mut rdns = Vec::new();
    for org in organizations {
        rdns.extend(rdn(&OID_ORGANIZATION, org));
    }
    rdns.extend(rdn(&OID_COMMON_NAME, common_name));
    tlv(SEQUENCE, &rdns)
}

/// Replaces the subject of the X.509 certificate `cert` with `subject` (DER) and signs the
/// result with `key`, the issuer's key, keeping the signature algorithm.
pub(super) fn replace_subject_and_resign(
    cert: &[u8],
    subject: &[u8],
    key: &KeyPair,
) -> Result<Vec<u8>, PkiError> {
    let malformed = || invalid("malformed DER");
    let (certificate, rest) = split(cert).ok_or_else(malformed)?;
    if certificate.tag != SEQUENCE || !rest.is_empty() {
        return Err(malformed());
    }
    let (tbs, after_tbs) = split(certificate.content).ok_or_else(malformed)?;
    if tbs.tag != SEQUENCE {
        return Err(malformed());
    }
    let (signature_algorithm, _) = split(after_tbs).ok_or_else(malformed)?;

    // version [0], serialNumber, signature, issuer, validity, subject, ...
    let mut fields = Vec::new();
    let mut remaining = tbs.content;
    while !remaining.is_empty() {
        let (field, rest) = split(remaining).ok_or_else(malformed)?;
        fields.push(field);
        remaining = rest;
    }
    if fields.first().map(|f| f.tag) != Some(VERSION_TAG) || fields.len() < 7 {
        return Err(invalid("unexpected TBSCertificate layout"));
    }
    let mut new_tbs_content = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        new_tbs_content.extend_from_slice(if i == 5 { subject } else { field.whole });
    }
    let new_tbs = tlv(SEQUENCE, &new_tbs_content);

    let signature = key.sign(&new_tbs).map_err(|source| PkiError::Generate {
        what: "certificate signature".to_string(),
        source,
    })?;
    let mut bits = vec![0u8];
    bits.extend(signature);

    let mut out = new_tbs;
    out.extend_from_slice(signature_algorithm.whole);
    out.extend(tlv(BIT_STRING, &bits));
    Ok(tlv(SEQUENCE, &out))
}

/// PEM encoding with 64-column lines.
pub(super) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
