//! Property tests for label and field selectors: random strings never panic, parsed
//! selectors survive `parse(display(s))`, and `matches` agrees with the requirements.
//!
//! Scale up with e.g. `PROPTEST_CASES=20000 cargo test -p rkube-apimachinery --test
//! proptest_selector`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::Config;
use rkube_apimachinery::selector::{
    escape_field_value, unescape_field_value, FieldOperator, FieldRequirement, FieldSelector,
    LabelSelector, Operator, Requirement,
};
use serde_json::{json, Value};

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Label keys: valid (with and without prefix) and invalid ones.
fn arb_label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "app", "tier", "env", "in", "notin", "a", "b", "x.y", "k8s.io/name",
            "example.com/role", "a-b_c.d", "1", "n",
        ])
        .prop_map(str::to_string),
        2 => "[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?",
        1 => "[a-z0-9]{1,4}(\\.[a-z0-9]{1,4}){0,2}/[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?",
        1 => "[ -~]{0,10}",
    ]
}

/// Label values: valid ones (incl. empty, numbers for `>`/`<`) and some invalid.
fn arb_label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "", "web", "db", "prod", "staging", "in", "notin", "1", "2", "10", "0", "a.b",
            "A-Z_z",
        ])
        .prop_map(str::to_string),
        2 => "[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?",
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "[ -~]{0,6}",
    ]
}

fn arb_operator() -> impl Strategy<Value = Operator> {
    prop::sample::select(vec![
        Operator::Equals,
        Operator::DoubleEquals,
        Operator::NotEquals,
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
        Operator::GreaterThan,
        Operator::LessThan,
    ])
}

/// One requirement in source form, usually well formed, with irregular spacing.
fn arb_requirement_text() -> impl Strategy<Value = String> {
    let space = prop::sample::select(vec!["", " ", "  ", "\t"]);
    (
        arb_label_key(),
        arb_operator(),
        prop::collection::vec(arb_label_value(), 0..4),
        space.clone(),
        space,
    )
        .prop_map(|(key, op, values, s1, s2)| {
            let first = values.first().cloned().unwrap_or_default();
            match op {
                Operator::Exists => key,
                Operator::DoesNotExist => format!("!{s1}{key}"),
                Operator::In | Operator::NotIn => {
                    let word = if op == Operator::In { "in" } else { "notin" };
                    format!(
                        "{key} {word}{s1}({s2}{})",
                        values.join(&format!("{s2},{s1}"))
                    )
                }
                Operator::Equals => format!("{key}{s1}={s2}{first}"),
                Operator::DoubleEquals => format!("{key}{s1}=={s2}{first}"),
                Operator::NotEquals => format!("{key}{s1}!={s2}{first}"),
                Operator::GreaterThan => format!("{key}{s1}>{s2}{first}"),
                Operator::LessThan => format!("{key}{s1}<{s2}{first}"),
            }
        })
}

/// Selector-shaped text: requirements joined by commas, sometimes mangled.
fn arb_label_selector_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(arb_requirement_text(), 0..5).prop_map(|r| r.join(",")),
        2 => prop::collection::vec(
            prop_oneof![
                arb_requirement_text(),
                prop::sample::select(vec![
                    "(", ")", ",", "!", "=", "==", "!=", "<", ">", "in", "notin", " ", "!!",
                    "=!", "(,)", ",,", "()",
                ])
                .prop_map(str::to_string),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat()),
        1 => "[a-z!=(),<> \t.-/]{0,24}",
        1 => any::<String>(),
    ]
}

/// Label sets drawn from the same keys and values the selectors use, so they match
/// sometimes.
fn arb_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(arb_label_key(), arb_label_value(), 0..6)
}

/// Field selector text: `field op value` terms with escapes, sometimes mangled.
fn arb_field_selector_text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        prop::sample::select(vec![
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "status.phase",
            "",
            "a",
            "a!b",
            "x\\,y",
        ])
        .prop_map(str::to_string),
        "[a-z.\\\\]{0,8}",
    ];
    let op = prop::sample::select(vec!["=", "==", "!=", "", "!", "==="]);
    let value = prop_oneof![
        any::<String>().prop_map(|v| escape_field_value(&v)),
        "[a-z\\\\,=!]{0,8}",
        Just(String::new()),
    ];
    prop_oneof![
        8 => prop::collection::vec((field, op, value), 0..5).prop_map(|terms| {
            terms
                .into_iter()
                .map(|(f, o, v)| format!("{f}{o}{v}"))
                .collect::<Vec<_>>()
                .join(",")
        }),
        1 => "[a-z=!,\\\\.]{0,24}",
        1 => any::<String>(),
    ]
}

// ---------------------------------------------------------------------------------------
// Reference semantics
// ---------------------------------------------------------------------------------------

/// Upstream's `Requirement.Matches`, written out independently.
fn reference_matches(r: &Requirement, labels: &BTreeMap<String, String>) -> bool {
    let has = labels.get(r.key());
    let in_values = |v: &String| r.values().iter().any(|x| x == v);
    match r.operator() {
        Operator::Equals | Operator::DoubleEquals | Operator::In => has.is_some_and(in_values),
        Operator::NotEquals | Operator::NotIn => !has.is_some_and(in_values),
        Operator::Exists => has.is_some(),
        Operator::DoesNotExist => has.is_none(),
        Operator::GreaterThan | Operator::LessThan => {
            let actual = has.and_then(|v| v.parse::<i64>().ok());
            let wanted = match r.values() {
                [v] => v.parse::<i64>().ok(),
                _ => None,
            };
            match (actual, wanted) {
                (Some(a), Some(w)) if r.operator() == Operator::GreaterThan => a > w,
                (Some(a), Some(w)) => a < w,
                _ => false,
            }
        }
    }
}

fn sorted_fields(s: &FieldSelector) -> Vec<FieldRequirement> {
    let mut r = s.requirements().to_vec();
    r.sort_by(|a, b| {
        (&a.field, a.operator == FieldOperator::Equals, &a.value).cmp(&(
            &b.field,
            b.operator == FieldOperator::Equals,
            &b.value,
        ))
    });
    r
}

// ---------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn label_parse_never_panics(s in arb_label_selector_text()) {
        if let Err(e) = LabelSelector::parse(&s) {
            prop_assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn label_parse_arbitrary_unicode_never_panics(s in any::<String>()) {
        let _ = LabelSelector::parse(&s);
        let _ = s.parse::<LabelSelector>();
    }

    #[test]
    fn label_parse_display_round_trips(s in arb_label_selector_text()) {
        if let Ok(sel) = LabelSelector::parse(&s) {
            let shown = sel.to_string();
            let again = LabelSelector::parse(&shown);
            prop_assert_eq!(again.as_ref(), Ok(&sel), "{:?} displayed as {:?}", s, shown);
            prop_assert_eq!(again.map(|a| a.to_string()), Ok(shown));
        }
    }

    #[test]
    fn label_matches_agrees_with_requirements(
        s in arb_label_selector_text(), labels in arb_labels()
    ) {
        if let Ok(sel) = LabelSelector::parse(&s) {
            let by_requirements = sel.requirements().iter().all(|r| r.matches(&labels));
            let by_reference = sel.requirements().iter().all(|r| reference_matches(r, &labels));
            prop_assert_eq!(sel.matches(&labels), by_requirements);
            prop_assert_eq!(sel.matches(&labels), by_reference, "{} vs {:?}", sel, labels);
            if let Some(r) = sel.requirements().first() {
                if let Some(v) = sel.requires_exact_match(r.key()) {
                    // A pinned label must have that value for the selector to match.
                    if sel.matches(&labels) {
                        prop_assert_eq!(labels.get(r.key()).map(String::as_str), Some(v));
                    }
                }
            }
        }
    }

    #[test]
    fn label_requirements_built_directly_round_trip(
        key in arb_label_key(),
        op in arb_operator(),
        values in prop::collection::btree_set(arb_label_value(), 0..4),
        labels in arb_labels(),
    ) {
        // Requirement::new validates like upstream's NewRequirement; what it accepts
        // prints as a selector that parses back to the same requirement.
        let values: Vec<String> = values.into_iter().collect();
        if let Ok(r) = Requirement::new(key, op, values) {
            prop_assert_eq!(r.matches(&labels), reference_matches(&r, &labels));
            let sel = LabelSelector::from_requirements(vec![r.clone()]);
            let parsed = LabelSelector::parse(&sel.to_string());
            prop_assert_eq!(parsed, Ok(sel));
        }
    }

    #[test]
    fn label_set_selector_matches_its_set(labels in arb_labels(), extra in arb_labels()) {
        let sel = LabelSelector::from_set(&labels);
        prop_assert!(sel.matches(&labels));
        let mut more = extra;
        more.extend(labels.clone());
        prop_assert!(sel.matches(&more));
        prop_assert!(!LabelSelector::nothing().matches(&labels));
        prop_assert!(LabelSelector::everything().matches(&labels));
    }

    #[test]
    fn label_selector_object_never_panics(
        match_labels in prop::option::of(prop::collection::btree_map(
            arb_label_key(), prop_oneof![arb_label_value().prop_map(Value::String),
            Just(Value::Null), Just(json!(1))], 0..4)),
        exprs in prop::option::of(prop::collection::vec(
            (
                prop::option::of(arb_label_key()),
                prop::option::of(prop::sample::select(vec![
                    "In", "NotIn", "Exists", "DoesNotExist", "Gt", "in", "",
                ])),
                prop::option::of(prop::collection::vec(
                    prop_oneof![arb_label_value().prop_map(Value::String), Just(json!(2))],
                    0..3,
                )),
            ),
            0..4,
        )),
        labels in arb_labels(),
    ) {
        let mut sel = serde_json::Map::new();
        if let Some(m) = match_labels {
            sel.insert("matchLabels".into(), json!(m));
        }
        if let Some(exprs) = exprs {
            let exprs: Vec<Value> = exprs
                .into_iter()
                .map(|(k, o, v)| {
                    let mut e = serde_json::Map::new();
                    if let Some(k) = k {
                        e.insert("key".into(), json!(k));
                    }
                    if let Some(o) = o {
                        e.insert("operator".into(), json!(o));
                    }
                    if let Some(v) = v {
                        e.insert("values".into(), Value::Array(v));
                    }
                    Value::Object(e)
                })
                .collect();
            sel.insert("matchExpressions".into(), Value::Array(exprs));
        }
        if let Ok(s) = LabelSelector::from_label_selector(&Value::Object(sel)) {
            let by_reference = s.requirements().iter().all(|r| reference_matches(r, &labels));
            prop_assert_eq!(s.matches(&labels), by_reference);
        }
    }

    #[test]
    fn label_selector_arbitrary_json_never_panics(
        v in any::<String>().prop_map(|s| serde_json::from_str::<Value>(&s)
            .unwrap_or(Value::String(s)))
    ) {
        let _ = LabelSelector::from_label_selector(&v);
        let _ = LabelSelector::from_label_selector(&json!({ "matchExpressions": [v.clone()] }));
        let _ = LabelSelector::from_label_selector(&json!({ "matchLabels": v }));
    }
}

// ---------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn field_parse_never_panics(s in arb_field_selector_text()) {
        let _ = FieldSelector::parse(&s);
    }

    #[test]
    fn field_parse_arbitrary_unicode_never_panics(s in any::<String>()) {
        let _ = FieldSelector::parse(&s);
        let _ = unescape_field_value(&s);
    }

    #[test]
    fn field_escape_round_trips(v in any::<String>()) {
        prop_assert_eq!(unescape_field_value(&escape_field_value(&v)), Ok(v));
    }

    #[test]
    fn field_parse_display_round_trips(s in arb_field_selector_text()) {
        // Terms are kept sorted by their source text and `==` prints as `=`, so the
        // printed form may list terms in another order (as upstream does); the set of
        // requirements is what must survive.
        if let Ok(sel) = FieldSelector::parse(&s) {
            let shown = sel.to_string();
            let again = FieldSelector::parse(&shown);
            prop_assert!(again.is_ok(), "{:?} displayed as {:?}: {:?}", s, shown, again);
            if let Ok(again) = again {
                prop_assert_eq!(sorted_fields(&again), sorted_fields(&sel));
                // Printing is a fixpoint after one round.
                let twice = FieldSelector::parse(&again.to_string()).map(|s| s.to_string());
                let thrice = twice.as_ref().ok().map(|t| {
                    FieldSelector::parse(t).map(|s| s.to_string())
                });
                prop_assert_eq!(thrice, Some(twice));
            }
        }
    }

    #[test]
    fn field_matches_agrees_with_requirements(
        s in arb_field_selector_text(),
        fields in prop::collection::btree_map(
            prop::sample::select(vec!["metadata.name", "metadata.namespace", "a", ""])
                .prop_map(str::to_string),
            "[a-z\\\\,=]{0,3}",
            0..4,
        ),
    ) {
        if let Ok(sel) = FieldSelector::parse(&s) {
            let get = |f: &str| fields.get(f).cloned();
            let expected = sel.requirements().iter().all(|r| {
                let actual = fields.get(&r.field).cloned().unwrap_or_default();
                match r.operator {
                    FieldOperator::Equals => actual == r.value,
                    FieldOperator::NotEquals => actual != r.value,
                }
            });
            prop_assert_eq!(sel.matches(get), expected);
            for r in sel.requirements() {
                if let Some(v) = sel.requires_exact_match(&r.field) {
                    if sel.matches(get) {
                        prop_assert_eq!(get(&r.field).unwrap_or_default(), v);
                    }
                }
            }
        }
    }

    #[test]
    fn field_set_selector_matches_its_set(
        fields in prop::collection::btree_map("[a-z.]{1,12}", any::<String>(), 0..5)
    ) {
        let sel = FieldSelector::from_set(&fields);
        prop_assert!(sel.matches(|f| fields.get(f).cloned()));
        // Field names of a set never contain operators, so the printed form parses back.
        let parsed = FieldSelector::parse(&sel.to_string());
        prop_assert!(parsed.is_ok(), "{:?}", parsed);
        if let Ok(parsed) = parsed {
            prop_assert_eq!(sorted_fields(&parsed), sorted_fields(&sel));
            prop_assert!(parsed.matches(|f| fields.get(f).cloned()));
        }
    }
}

/// The one way printing changes term order: `==` prints as `=`, which can sort
/// differently from the source text. Same requirements, same meaning.
#[test]
fn field_double_equals_reorders_but_keeps_requirements() {
    let sel = FieldSelector::parse("a==b,a=\\=").unwrap_or_else(|e| panic!("{e}"));
    let again = FieldSelector::parse(&sel.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sorted_fields(&sel), sorted_fields(&again));
}

/// Guards against vacuous properties: the generators must produce selectors that parse
/// often enough for the round-trip and matching properties to mean something.
#[test]
fn generators_produce_parseable_selectors() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut labels_ok, mut fields_ok, mut nonempty) = (0, 0, 0);
    let n = 1000;
    for _ in 0..n {
        let Ok(tree) = arb_label_selector_text().new_tree(&mut runner) else {
            continue;
        };
        if let Ok(sel) = LabelSelector::parse(&tree.current()) {
            labels_ok += 1;
            if !sel.is_empty() {
                nonempty += 1;
            }
        }
        let Ok(tree) = arb_field_selector_text().new_tree(&mut runner) else {
            continue;
        };
        if FieldSelector::parse(&tree.current()).is_ok() {
            fields_ok += 1;
        }
    }
    eprintln!("parsed: labels {labels_ok}/{n} ({nonempty} non-empty), fields {fields_ok}/{n}");
    assert!(
        nonempty * 10 > n,
        "too few label selectors parse: {nonempty}/{n}"
    );
    assert!(
        fields_ok * 10 > n,
        "too few field selectors parse: {fields_ok}/{n}"
    );
}
