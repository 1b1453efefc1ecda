//! Expected texts were produced by kubectl 1.32 (`kubectl label --local -o yaml` and
//! `-o json` on the same object, kept in `testdata/`).

use serde_json::{json, Value};

use super::resolve::{format_g, key_order, needs_quotes};
use super::to_yaml;

fn first_difference(got: &str, want: &str) -> String {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if g != w {
            return format!("line {}:\n got: {g:?}\nwant: {w:?}", i + 1);
        }
    }
    format!(
        "lengths differ: got {} lines, want {}",
        got.lines().count(),
        want.lines().count()
    )
}

#[test]
fn tricky_values_match_kubectl() {
    let input: Value = serde_json::from_str(include_str!("testdata/tricky.json")).expect("fixture");
    let want = include_str!("testdata/tricky.yaml");
    let got = to_yaml(&input);
    assert!(got == want, "{}", first_difference(&got, want));
}

#[test]
fn quoting_follows_go_yaml_resolution() {
    for s in [
        "",
        "yes",
        "Off",
        "~",
        "null",
        "123",
        "-5",
        "0x1F",
        "0b101",
        "1_000",
        "1e3",
        ".5",
        ".inf",
        "2026-11-21T08:26:51Z",
        "2024-1-2",
        "2024-02-29",
        "1:20",
    ] {
        assert!(needs_quotes(s), "{s:?} should be quoted");
    }
    for s in [
        "web",
        "0x1G",
        ".foo",
        "2024-13-01",
        "2023-02-29",
        "1:60",
        "a:b",
        "1.2.3",
        "v1.32",
        "-",
        "<<",
    ] {
        assert!(!needs_quotes(s), "{s:?} should stay plain");
    }
}

#[test]
fn keys_sort_naturally() {
    let mut keys = vec!["a10", "a2", "Z", "_x", "a", "10", "9", "a01", "a1"];
    keys.sort_by(|a, b| key_order(a, b));
    assert_eq!(keys, ["_x", "9", "10", "Z", "a", "a1", "a01", "a2", "a10"]);
}

#[test]
fn floats_print_as_go_g_format() {
    assert_eq!(format_g(1.5), "1.5");
    assert_eq!(format_g(1e21), "1e+21");
    assert_eq!(format_g(0.00001), "1e-05");
    assert_eq!(format_g(0.0001), "0.0001");
    assert_eq!(format_g(123456.5), "123456.5");
    assert_eq!(format_g(1234567.5), "1.2345675e+06");
    assert_eq!(to_yaml(&json!({"f": 2.0, "g": -0.25})), "f: 2\ng: -0.25\n");
}

#[test]
fn nested_layout() {
    let v = json!({"spec": {"containers": [{"name": "a", "args": ["x", "y"]}], "m": {}}});
    assert_eq!(
        to_yaml(&v),
        "spec:\n  containers:\n  - args:\n    - x\n    - \"y\"\n    name: a\n  m: {}\n"
    );
}
