//! Label selectors (`labelSelector=` and `metav1.LabelSelector` objects): any input must
//! parse or fail cleanly, and a parsed selector must survive `parse(display(s))`.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rkube_apimachinery::selector::LabelSelector;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sel) = LabelSelector::parse(text) {
        let shown = sel.to_string();
        let again = LabelSelector::parse(&shown);
        assert_eq!(again.as_ref(), Ok(&sel), "{text:?} displayed as {shown:?}");
        // Matching against labels built from the selector's own terms.
        let labels: BTreeMap<String, String> = sel
            .requirements()
            .iter()
            .map(|r| {
                let value = r.values().first().cloned().unwrap_or_default();
                (r.key().to_string(), value)
            })
            .collect();
        let all = sel.requirements().iter().all(|r| r.matches(&labels));
        assert_eq!(sel.matches(&labels), all);
    }
    // The same bytes as an API LabelSelector object, when they are JSON.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let _ = LabelSelector::from_label_selector(&v);
    }
});
