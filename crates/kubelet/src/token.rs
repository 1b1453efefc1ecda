//! Service account tokens for projected volumes, as upstream's kubelet token manager gets
//! them: a TokenRequest for the pod's account, bound to the pod, and requested again only
//! once 80 % of the token's lifetime has passed (or 24 hours, whichever is first).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

const MAX_AGE_SECS: i64 = 24 * 3600;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether `token` (a JWT the volume already holds) can be kept at `now`.
fn fresh(token: &[u8], now: i64) -> bool {
    let claims = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok());
    let Some(c) = claims else { return false };
    let (Some(iat), Some(exp)) = (c["iat"].as_i64(), c["exp"].as_i64()) else {
        return false;
    };
    let renew_at = iat + ((exp - iat) * 8 / 10).min(MAX_AGE_SECS);
    now < renew_at
}

/// The token for `pod`'s service account: `current` while it is fresh, else a new one.
pub async fn for_pod(
    client: &kube::Client,
    pod: &Pod,
    audience: Option<&str>,
    expiration_seconds: i64,
    current: Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    if let Some(t) = current.filter(|t| fresh(t, now())) {
        return Ok(t);
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let mut spec = json!({
        "expirationSeconds": expiration_seconds,
        "boundObjectRef": {
            "apiVersion": "v1", "kind": "Pod",
            "name": pod.metadata.name, "uid": pod.metadata.uid,
        },
    });
    if let Some(a) = audience.filter(|a| !a.is_empty()) {
        spec["audiences"] = json!([a]);
    }
    let body =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), ns);
    let answer: Value = api
        .create_subresource("token", account, &PostParams::default(), &body)
        .await
        .map_err(|e| format!("failed to fetch token: {e}"))?;
    answer
        .pointer("/status/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| t.as_bytes().to_vec())
        .ok_or_else(|| "failed to fetch token: the answer holds none".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(iat: i64, exp: i64) -> Vec<u8> {
        let p = URL_SAFE_NO_PAD.encode(json!({"iat": iat, "exp": exp}).to_string());
        format!("h.{p}.s").into_bytes()
    }

    #[test]
    fn renewed_after_eighty_percent_or_a_day() {
        assert!(fresh(&jwt(1000, 2000), 1799));
        assert!(!fresh(&jwt(1000, 2000), 1800));
        // A week-long token is renewed after a day.
        assert!(fresh(&jwt(0, 7 * 86400), 86399));
        assert!(!fresh(&jwt(0, 7 * 86400), 86400));
        assert!(!fresh(b"junk", 0));
    }
}
