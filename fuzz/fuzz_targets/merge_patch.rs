//! JSON merge patch (`application/merge-patch+json`, RFC 7386): any body must give `Ok`
//! or a `PatchError`, never a panic; applying `{}` to an object is the identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkube_apimachinery::patch::merge_patch;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Some(input) = rkube_fuzz::patch_input(data) else {
        return;
    };
    if let Err(e) = merge_patch::apply_slice(&input.doc, input.patch) {
        assert!(matches!(e.status_code(), 400 | 500), "error {e:?}");
    }
    if let Ok(patch) = serde_json::from_slice::<Value>(input.patch) {
        let mut target = input.doc.clone();
        merge_patch::merge(&mut target, &patch);
    }
    if input.doc.is_object() {
        assert_eq!(
            merge_patch::apply(&input.doc, &json!({})).ok().as_ref(),
            Some(&input.doc)
        );
    }
});
