//! YAML request bodies (`application/yaml`, `application/apply-patch+yaml`): the API
//! server decodes them with `serde_yaml` straight into `serde_json::Value`. Any body must
//! decode or fail with an error, never panic, recurse without bound or blow up in memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_yaml::from_slice::<Value>(data) {
        // Whatever decodes must be storable as JSON.
        assert!(serde_json::to_vec(&v).is_ok());
    }
});
