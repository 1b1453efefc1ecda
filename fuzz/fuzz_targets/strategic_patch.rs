//! Strategic merge patch (`application/strategic-merge-patch+json`) on built-in kinds:
//! any body must give `Ok` or a `PatchError`, never a panic, and a successful result
//! must carry no directive keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkube_apimachinery::patch::schema::Schema;
use rkube_apimachinery::patch::strategic::{self, GroupVersionKind};
use serde_json::Value;

fn has_directive_key(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            k == "$patch"
                || k == "$retainKeys"
                || k.starts_with("$setElementOrder/")
                || k.starts_with("$deleteFromPrimitiveList/")
                || has_directive_key(v)
        }),
        Value::Array(items) => items.iter().any(has_directive_key),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = rkube_fuzz::patch_input(data) else {
        return;
    };
    // The handler decodes the body as JSON first; undecodable bodies are a 400 there.
    let Ok(patch) = serde_json::from_slice::<Value>(input.patch) else {
        return;
    };
    let (group, version, kind) = rkube_fuzz::kind(input.selector);
    let gvk = GroupVersionKind::new(group, version, kind);
    match strategic::apply(&input.doc, &patch, &gvk) {
        Ok(out) => assert!(!has_directive_key(&out), "directive key left in {out}"),
        Err(e) => {
            let _ = (e.status_code(), e.status_message());
        }
    }
    // The `/scale` subresource path: plain merge semantics with directives.
    if let Err(e) = strategic::apply_with_schema(&input.doc, &patch, Schema::opaque()) {
        let _ = e.status_message();
    }
});
