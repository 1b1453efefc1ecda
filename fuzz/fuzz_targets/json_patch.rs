//! JSON patch (`application/json-patch+json`, RFC 6902): any body must give `Ok` or a
//! `PatchError`, never a panic; decoding fails with 400/413, applying with 422 only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkube_apimachinery::patch::json_patch::JsonPatch;

fuzz_target!(|data: &[u8]| {
    let Some(input) = rkube_fuzz::patch_input(data) else {
        return;
    };
    let patch = match JsonPatch::from_slice(input.patch) {
        Ok(p) => p,
        Err(e) => {
            assert!(matches!(e.status_code(), 400 | 413), "decode error {e:?}");
            return;
        }
    };
    // A small copy limit too, so the limit check itself is exercised.
    let limit = if input.selector & 1 == 0 {
        Some(256)
    } else {
        None
    };
    for result in [
        patch.apply(&input.doc),
        patch.apply_with_copy_limit(&input.doc, limit),
    ] {
        if let Err(e) = result {
            assert_eq!(e.status_code(), 422, "apply error {e:?}");
        }
    }
});
