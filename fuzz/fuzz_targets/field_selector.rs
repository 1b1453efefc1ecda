//! Field selectors (`fieldSelector=`): any input must parse or fail cleanly, and a parsed
//! selector must keep its requirements through `parse(display(s))`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkube_apimachinery::selector::{unescape_field_value, FieldSelector};

fn canonical(s: &FieldSelector) -> Vec<String> {
    // Term order may change when `==` prints as `=`; the set of terms may not.
    let mut terms: Vec<String> = s.requirements().iter().map(|r| r.to_string()).collect();
    terms.sort();
    terms
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = unescape_field_value(text);
    if let Ok(sel) = FieldSelector::parse(text) {
        let shown = sel.to_string();
        match FieldSelector::parse(&shown) {
            Ok(again) => assert_eq!(canonical(&again), canonical(&sel), "{text:?} -> {shown:?}"),
            Err(e) => panic!("{text:?} displayed as {shown:?}, which does not parse: {e}"),
        }
        let _ = sel.matches(|f| Some(f.to_string()));
    }
});
