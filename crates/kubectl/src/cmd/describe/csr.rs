//! `describe csr`: the request's subject and subject alternative names, read from the
//! PEM-encoded PKCS #10 request in `spec.request`.

use serde_json::Value;

use super::events;
use super::util::{arr, format_labels, i, rfc1123z, s};
use super::writer::{wr, Out};
use super::Settings;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

/// The parts of an `x509.CertificateRequest` the describer prints.
#[derive(Default, Debug, PartialEq)]
struct Request {
    common_name: String,
    serial_number: String,
    organization: Vec<String>,
    organizational_unit: Vec<String>,
    country: Vec<String>,
    locality: Vec<String>,
    province: Vec<String>,
    street_address: Vec<String>,
    postal_code: Vec<String>,
    dns_names: Vec<String>,
    emails: Vec<String>,
    uris: Vec<String>,
    ips: Vec<String>,
}

/// One DER element: tag and contents; `rest` follows it.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    rest: &'a [u8],
}

fn tlv(data: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, data) = data.split_first()?;
    let (&first, mut data) = data.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || data.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &data[..n] {
            len = (len << 8) | usize::from(b);
        }
        data = &data[n..];
        len
    };
    if data.len() < len {
        return None;
    }
    Some(Tlv {
        tag,
        body: &data[..len],
        rest: &data[len..],
    })
}

/// The elements of a constructed value.
fn children(mut data: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let t = tlv(data)?;
        data = t.rest;
        out.push(t);
    }
    Some(out)
}

fn oid(body: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (n, &b) in body.iter().enumerate() {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if n == 0 || parts.is_empty() {
                parts.push(v.min(80) / 40);
                parts.push(v - parts[0] * 40);
            } else {
                parts.push(v);
            }
            v = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn text(t: &Tlv<'_>) -> String {
    String::from_utf8_lossy(t.body).into_owned()
}

fn parse(der: &[u8]) -> Option<Request> {
    let csr = tlv(der)?;
    let info = tlv(csr.body)?;
    let fields = children(info.body)?;
    let mut r = Request::default();
    // version, subject, subjectPKInfo, [0] attributes
    let subject = fields.get(1)?;
    for set in children(subject.body)? {
        for atv in children(set.body)? {
            let parts = children(atv.body)?;
            let (id, value) = (oid(parts.first()?.body), text(parts.get(1)?));
            match id.as_str() {
                "2.5.4.3" => r.common_name = value,
                "2.5.4.5" => r.serial_number = value,
                "2.5.4.6" => r.country.push(value),
                "2.5.4.7" => r.locality.push(value),
                "2.5.4.8" => r.province.push(value),
                "2.5.4.9" => r.street_address.push(value),
                "2.5.4.10" => r.organization.push(value),
                "2.5.4.11" => r.organizational_unit.push(value),
                "2.5.4.17" => r.postal_code.push(value),
                _ => {}
            }
        }
    }
    if let Some(attrs) = fields.get(3).filter(|a| a.tag == 0xa0) {
        for attr in children(attrs.body)? {
            let parts = children(attr.body)?;
            if oid(parts.first()?.body) != "1.2.840.113549.1.9.14" {
                continue;
            }
            for exts in children(parts.get(1)?.body)? {
                for ext in children(exts.body)? {
                    let e = children(ext.body)?;
                    if oid(e.first()?.body) != "2.5.29.17" {
                        continue;
                    }
                    let value = e.last()?;
                    let names = tlv(value.body)?;
                    for name in children(names.body)? {
                        match name.tag & 0x1f {
                            1 => r.emails.push(text(&name)),
                            2 => r.dns_names.push(text(&name)),
                            6 => r.uris.push(text(&name)),
                            7 => r.ips.push(ip_string(name.body)),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Some(r)
}

fn ip_string(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            let v6 = std::net::Ipv6Addr::from(a);
            match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            }
        }
        _ => format!(
            "?{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// `certificate.ParseCSR`: a PEM block of type CERTIFICATE REQUEST.
fn parse_pem(pem: &str) -> std::result::Result<Request, String> {
    use base64::Engine;
    let begin = "-----BEGIN CERTIFICATE REQUEST-----";
    let start = pem
        .find("-----BEGIN ")
        .ok_or("PEM block type must be CERTIFICATE REQUEST")?;
    if !pem[start..].starts_with(begin) {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let body = &pem[start + begin.len()..];
    let end = body
        .find("-----END CERTIFICATE REQUEST-----")
        .ok_or("PEM block type must be CERTIFICATE REQUEST")?;
    let b64: String = body[..end].split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    parse(&der).ok_or_else(|| "asn1: syntax error: data truncated".to_string())
}

/// `extractCSRStatus`.
fn status(csr: &Value) -> String {
    let types: Vec<&str> = arr(&csr["status"]["conditions"])
        .iter()
        .map(|c| s(&c["type"]))
        .collect();
    let mut out = if types.contains(&"Denied") {
        "Denied".to_string()
    } else if types.contains(&"Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if types.contains(&"Failed") {
        out.push_str(",Failed");
    }
    if !s(&csr["status"]["certificate"]).is_empty() {
        out.push_str(",Issued");
    }
    out
}

pub async fn describe(ctx: &Ctx, csr: &Value, st: &Settings) -> Result<String> {
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(s(&csr["spec"]["request"]))
        .unwrap_or_default();
    let req = parse_pem(&String::from_utf8_lossy(&pem))
        .map_err(|e| Error::client(format!("Error parsing CSR: {e}")))?;
    let evs = st.events(ctx, csr).await;
    let meta = &csr["metadata"];
    let spec = &csr["spec"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Labels:\t{}\n", format_labels(&meta["labels"]));
    wr!(
        w,
        0,
        "Annotations:\t{}\n",
        format_labels(&meta["annotations"])
    );
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(&meta["creationTimestamp"])
    );
    wr!(w, 0, "Requesting User:\t{}\n", s(&spec["username"]));
    if !s(&spec["signerName"]).is_empty() {
        wr!(w, 0, "Signer:\t{}\n", s(&spec["signerName"]));
    }
    if spec["expirationSeconds"].is_i64() {
        let nanos = i(&spec["expirationSeconds"]).saturating_mul(1_000_000_000);
        wr!(
            w,
            0,
            "Requested Duration:\t{}\n",
            rkube_apimachinery::table::human_duration(nanos)
        );
    }
    wr!(w, 0, "Status:\t{}\n", status(csr));
    w.write(0, "Subject:\n");
    wr!(w, 0, "\tCommon Name:\t{}\n", req.common_name);
    wr!(w, 0, "\tSerial Number:\t{}\n", req.serial_number);
    let list = |w: &mut Out, name: &str, values: &[String]| {
        if values.is_empty() {
            return;
        }
        wr!(w, 0, "\t{name}:\t");
        w.write(0, &values.join("\n\t\t"));
        w.write(0, "\n");
    };
    list(&mut w, "Organization", &req.organization);
    list(&mut w, "Organizational Unit", &req.organizational_unit);
    list(&mut w, "Country", &req.country);
    list(&mut w, "Locality", &req.locality);
    list(&mut w, "Province", &req.province);
    list(&mut w, "StreetAddress", &req.street_address);
    list(&mut w, "PostalCode", &req.postal_code);
    if req.dns_names.len() + req.emails.len() + req.ips.len() + req.uris.len() > 0 {
        w.write(0, "Subject Alternative Names:\n");
        list(&mut w, "DNS Names", &req.dns_names);
        list(&mut w, "Email Addresses", &req.emails);
        list(&mut w, "URIs", &req.uris);
        list(&mut w, "IP Addresses", &req.ips);
    }
    Ok(events::finish(w, evs.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_subject_and_names() {
        // openssl req -new -subj "/CN=alice/O=dev/O=ops/C=US" -addext "subjectAltName=
        //   DNS:a.example,IP:10.0.0.1,email:a@example.com,URI:spiffe://x/y" (EC P-256 key)
        let pem = "-----BEGIN CERTIFICATE REQUEST-----
MIIBPzCB5QIBADA5MQ4wDAYDVQQDDAVhbGljZTEMMAoGA1UECgwDZGV2MQwwCgYD
VQQKDANvcHMxCzAJBgNVBAYTAlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
yde1v08RuE/tpEh33lJaSKLVtF/hnOeNWpyb8vmHpWHswdQPlzRhXYa1+C6arwJr
bk2t27IMIPvnMY2cWuLbXKBKMEgGCSqGSIb3DQEJDjE7MDkwNwYDVR0RBDAwLoIJ
YS5leGFtcGxlhwQKAAABgQ1hQGV4YW1wbGUuY29thgxzcGlmZmU6Ly94L3kwCgYI
KoZIzj0EAwIDSQAwRgIhAP40qWp8tN6f0KlDwVVKwuXI2ML18tdQeGVTwwLy6czq
AiEAxJtU7DUHYxPxY6aUr6683j2bI6jLyVmSoZDmsrXHSgA=
-----END CERTIFICATE REQUEST-----
";
        let r = parse_pem(pem).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.common_name, "alice");
        assert_eq!(r.organization, vec!["dev", "ops"]);
        assert_eq!(r.dns_names, vec!["a.example"]);
        assert_eq!(r.ips, vec!["10.0.0.1"]);
        assert_eq!(r.country, vec!["US"]);
        assert_eq!(r.emails, vec!["a@example.com"]);
        assert_eq!(r.uris, vec!["spiffe://x/y"]);
        assert!(parse_pem("nothing").is_err());
    }
}
