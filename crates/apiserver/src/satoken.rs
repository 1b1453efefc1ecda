//! Service account tokens: upstream's TokenRequest (`serviceaccounts/<name>/token`) issues
//! them and its JWT authenticator accepts them as `Authorization: Bearer` credentials.
//!
//! Tokens are ES256 JWTs with upstream's claims (`iss`, `sub`, `aud`, `exp`, `iat`, `nbf`,
//! `jti` and the private `kubernetes.io` claim naming the namespace, the service account
//! and any bound object). They are signed with the cluster CA's key (a departure: upstream
//! takes a separate `--service-account-key-file`): servers of one cluster share the CA, so
//! each verifies the others' tokens without a second shared secret. A token is valid only
//! while its service account, and the pod or secret it is bound to, still exist with the
//! same uid.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use rkube_apimachinery::status::{ApiError, Cause};
use serde_json::{json, Value};

use crate::auth::User;
use crate::ApiServer;

/// Upstream's default `--service-account-issuer` and API audience.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// TokenRequest's default and minimum lifetimes.
const DEFAULT_EXPIRATION: i64 = 3600;
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;

/// Signs and checks tokens.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    kid: String,
}

impl Signer {
    pub fn new(pkcs8: &[u8]) -> Result<Signer, String> {
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| format!("service account signing key: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(Signer { key, rng, kid })
    }

    fn sign(&self, claims: &Value) -> Result<String, ApiError> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| ApiError::internal("signing the token failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// The claims of a well-formed token this signer signed; `None` for anything else.
    fn claims(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header["alg"] != "ES256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        )
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn stored(
    srv: &ApiServer,
    resource: &str,
    ns: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let key = format!("/registry/{resource}/{ns}/{name}");
    let kv = srv
        .store
        .get(&key)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(kv.and_then(|kv| serde_json::from_slice(&kv.value).ok()))
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `POST namespaces/<ns>/serviceaccounts/<name>/token`: answers the TokenRequest with a
/// signed token in `status`.
pub async fn request(
    srv: &ApiServer,
    ns: &str,
    name: &str,
    mut req: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let invalid = |field: &str, msg: String| {
        ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![Cause::new("FieldValueInvalid", field, msg)],
        )
    };
    let sa = stored(srv, "serviceaccounts", ns, name)
        .await?
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION,
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid(
                "spec.expirationSeconds",
                format!("Invalid value: {v}: must be an integer"),
            )
        })?,
    };
    if expiration < MIN_EXPIRATION {
        return Err(invalid(
            "spec.expirationSeconds",
            format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
        ));
    }
    if expiration > MAX_EXPIRATION {
        return Err(invalid(
            "spec.expirationSeconds",
            format!(
                "Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"
            ),
        ));
    }
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("spec.audiences", "Invalid value: must be strings".into()))?,
        _ => vec![ISSUER.to_string()],
    };
    let mut private = json!({
        "namespace": ns,
        "serviceaccount": {"name": name, "uid": uid(&sa)},
    });
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        let kind = bound["kind"].as_str().unwrap_or("");
        let bname = bound["name"].as_str().unwrap_or("");
        let (resource, claim) = match kind {
            "Pod" => ("pods", "pod"),
            "Secret" => ("secrets", "secret"),
            _ => {
                return Err(invalid(
                    "spec.boundObjectRef.kind",
                    format!("Unsupported value: {kind:?}: supported values: \"Pod\", \"Secret\""),
                ))
            }
        };
        let obj = stored(srv, resource, ns, bname)
            .await?
            .ok_or_else(|| ApiError::not_found("", resource, bname))?;
        if let Some(want) = bound["uid"].as_str().filter(|u| !u.is_empty()) {
            if want != uid(&obj) {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                    ),
                ));
            }
        }
        private[claim] = json!({"name": bname, "uid": uid(&obj)});
        if kind == "Pod" {
            if let Some(node) = obj.pointer("/spec/nodeName").and_then(Value::as_str) {
                private["node"] = json!({"name": node});
            }
        }
        req["spec"]["boundObjectRef"]["uid"] = json!(uid(&obj));
    }
    let iat = now();
    let exp = iat + expiration;
    let claims = json!({
        "aud": audiences,
        "exp": exp,
        "iat": iat,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": private,
        "nbf": iat,
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    });
    let token = if dry_run {
        String::new()
    } else {
        srv.sa_tokens.sign(&claims)?
    };
    req["apiVersion"] = json!("authentication.k8s.io/v1");
    req["kind"] = json!("TokenRequest");
    req["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
    req["spec"]["audiences"] = json!(audiences);
    req["spec"]["expirationSeconds"] = json!(expiration);
    req["status"] =
        json!({"token": token, "expirationTimestamp": crate::protobuf::gofmt::rfc3339(exp, None)});
    Ok(req)
}

/// The user a bearer token names, if it is one of ours and still valid.
pub async fn authenticate(srv: &ApiServer, token: &str) -> Option<User> {
    let claims = srv.sa_tokens.claims(token)?;
    let t = now();
    // Clocks of servers sharing a cluster may differ a little: upstream allows 60 s.
    if claims["iss"] != ISSUER
        || claims["exp"].as_i64()? + 60 < t
        || claims["nbf"].as_i64().unwrap_or(0) > t + 60
    {
        return None;
    }
    let audiences = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if !audiences.contains(&ISSUER) {
        return None;
    }
    let k = &claims["kubernetes.io"];
    let ns = k["namespace"].as_str()?;
    let name = k["serviceaccount"]["name"].as_str()?;
    let sa = stored(srv, "serviceaccounts", ns, name).await.ok()??;
    if uid(&sa) != k["serviceaccount"]["uid"].as_str()? {
        return None;
    }
    for (claim, resource) in [("pod", "pods"), ("secret", "secrets")] {
        if let Some(b) = k.get(claim).filter(|b| b.is_object()) {
            let obj = stored(srv, resource, ns, b["name"].as_str()?)
                .await
                .ok()??;
            if uid(&obj) != b["uid"].as_str()? {
                return None;
            }
        }
    }
    Some(User {
        name: format!("system:serviceaccount:{ns}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        let key = rcgen::KeyPair::generate().expect("key");
        Signer::new(&key.serialize_der()).expect("signer")
    }

    #[test]
    fn signed_claims_round_trip_and_tampering_fails() {
        let s = signer();
        let token = s.sign(&json!({"sub": "x", "exp": 5})).expect("sign");
        assert_eq!(s.claims(&token), Some(json!({"sub": "x", "exp": 5})));
        // Another key's tokens, altered payloads and junk are refused.
        assert_eq!(signer().claims(&token), None);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": 5}).to_string()),
            parts[2]
        );
        assert_eq!(s.claims(&forged), None);
        for junk in ["", "a.b", "a.b.c", "a.b.c.d", &format!("{token}.x")] {
            assert_eq!(s.claims(junk), None, "{junk}");
        }
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
            parts[1]
        );
        assert_eq!(s.claims(&none), None);
    }
}
