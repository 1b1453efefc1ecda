//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`): any body
//! must decode to a JSON object or fail with a `DecodeError`, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkube_apiserver::protobuf::{decode_body, decode_object, MAGIC};

/// Kinds `decode_object` is driven with directly (the request path names the type).
const KINDS: [(&str, &str); 8] = [
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("batch/v1", "CronJob"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("meta.k8s.io/v1", "Status"),
];

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = decode_body(data) {
        // The result is stored and served as JSON: it must serialize.
        assert!(serde_json::to_vec(&v).is_ok());
    }
    if !data.starts_with(MAGIC) {
        // Also behind a valid prefix, so mutations reach the envelope decoder.
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(data);
        let _ = decode_body(&body);
    }
    if let Some((&selector, raw)) = data.split_first() {
        let (api_version, kind) = KINDS[usize::from(selector) % KINDS.len()];
        if let Ok(v) = decode_object(api_version, kind, raw) {
            assert!(serde_json::to_vec(&v).is_ok());
        }
    }
});
