//! Strategic merge patches computed from documents (upstream's `diffMaps` and
//! `CreateThreeWayMergePatch`).
//!
//! A three-way patch is two diffs combined: the additions and changes from the live object
//! to the new manifest (deletions ignored, so fields set by others survive), and the
//! deletions from the last-applied configuration to the new manifest (only what this
//! client set before and dropped now is removed). Lists with the `merge` strategy are
//! diffed item by item through their merge key and carry `$setElementOrder` lists so the
//! server keeps the manifest's order; removed items become `$patch: delete` entries, and
//! removed scalars a `$deleteFromPrimitiveList` list.

use serde_json::{Map, Value};

use rkube_apimachinery::patch::schema::{PatchStrategy, Schema};

use super::strategic_merge::merge_map;

pub(super) type Obj = Map<String, Value>;

pub(super) const DIRECTIVE: &str = "$patch";
pub(super) const RETAIN_KEYS: &str = "$retainKeys";
pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";
pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

#[derive(Clone, Copy, Default)]
struct DiffOptions {
    set_element_order: bool,
    ignore_changes_and_additions: bool,
    ignore_deletions: bool,
    build_retain_keys: bool,
}

/// `CreateThreeWayMergePatch` with overwrite on (kubectl apply's default).
pub fn three_way(
    original: &Value,
    modified: &Value,
    current: &Value,
    schema: Schema,
) -> Result<Value, String> {
    let (original, modified, current) = (as_obj(original), as_obj(modified), as_obj(current));
    let delta = diff_maps(
        &current,
        &modified,
        schema,
        DiffOptions {
            set_element_order: true,
            ignore_deletions: true,
            ..Default::default()
        },
    )?;
    let deletions = diff_maps(
        &original,
        &modified,
        schema,
        DiffOptions {
            set_element_order: true,
            ignore_changes_and_additions: true,
            ..Default::default()
        },
    )?;
    Ok(Value::Object(merge_map(deletions, delta, schema)?))
}

/// `CreateTwoWayMergePatch`: the patch that turns `original` into `modified`.
pub fn two_way(original: &Value, modified: &Value, schema: Schema) -> Result<Value, String> {
    let patch = diff_maps(
        &as_obj(original),
        &as_obj(modified),
        schema,
        DiffOptions {
            set_element_order: true,
            ..Default::default()
        },
    )?;
    Ok(Value::Object(patch))
}

fn as_obj(v: &Value) -> Obj {
    v.as_object().cloned().unwrap_or_default()
}

/// The Go type a decoded JSON value has (`int64` and `float64` differ).
pub(super) fn type_tag(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(n) if n.is_f64() => 3,
        Value::Number(_) => 2,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// A scalar as Go's `%v` prints it, which is what upstream sorts and compares by.
pub(super) fn scalar_str(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.abs() >= 1e21 => format!("{f:e}").replace('e', "e+"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn diff_maps(
    original: &Obj,
    modified: &Obj,
    schema: Schema,
    opts: DiffOptions,
) -> Result<Obj, String> {
    let mut patch = Obj::new();
    let mut retain_keys = Vec::new();
    for (key, mv) in modified {
        if opts.build_retain_keys && !mv.is_null() {
            retain_keys.push(Value::String(key.clone()));
        }
        let Some(ov) = original.get(key) else {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        };
        if key == DIRECTIVE {
            let (Some(o), Some(m)) = (ov.as_str(), mv.as_str()) else {
                return Err(format!("invalid value for special key: {DIRECTIVE}"));
            };
            if o != m {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        }
        if type_tag(ov) != type_tag(mv) {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        }
        match (ov, mv) {
            (Value::Object(o), Value::Object(m)) => {
                let (child, meta) = schema.field(key);
                let opts = DiffOptions {
                    build_retain_keys: meta.retain_keys,
                    ..opts
                };
                if meta.strategy == PatchStrategy::Replace {
                    if !opts.ignore_changes_and_additions {
                        patch.insert(key.clone(), mv.clone());
                    }
                } else {
                    let sub = diff_maps(o, m, child, opts)?;
                    if !sub.is_empty() {
                        patch.insert(key.clone(), Value::Object(sub));
                    }
                }
            }
            (Value::Array(o), Value::Array(m)) => {
                let (child, meta) = schema.field(key);
                if meta.strategy == PatchStrategy::Merge {
                    let opts = DiffOptions {
                        build_retain_keys: meta.retain_keys,
                        ..opts
                    };
                    let (add, del, order) = diff_lists(o, m, child, meta.merge_key, opts)?;
                    if !add.is_empty() {
                        patch.insert(key.clone(), Value::Array(add));
                    }
                    if !del.is_empty() {
                        patch.insert(
                            format!("{DELETE_FROM_PRIMITIVE_LIST}/{key}"),
                            Value::Array(del),
                        );
                    }
                    if !order.is_empty() {
                        patch.insert(format!("{SET_ELEMENT_ORDER}/{key}"), Value::Array(order));
                    }
                } else {
                    replace_if_not_equal(key, ov, mv, &mut patch, opts);
                }
            }
            _ => replace_if_not_equal(key, ov, mv, &mut patch, opts),
        }
    }
    if !opts.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    let additional = original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k));
    if !retain_keys.is_empty() && (!patch.is_empty() || additional) {
        patch.insert(RETAIN_KEYS.into(), Value::Array(sort_scalars(retain_keys)));
    }
    Ok(patch)
}

fn replace_if_not_equal(key: &str, ov: &Value, mv: &Value, patch: &mut Obj, opts: DiffOptions) {
    if !opts.ignore_changes_and_additions && ov != mv {
        patch.insert(key.to_string(), mv.clone());
    }
}

/// (additions and changes, primitive deletions, `$setElementOrder` list).
type ListDiff = (Vec<Value>, Vec<Value>, Vec<Value>);

fn diff_lists(
    original: &[Value],
    modified: &[Value],
    elem: Schema,
    merge_key: Option<&str>,
    opts: DiffOptions,
) -> Result<ListDiff, String> {
    if original.is_empty() {
        if modified.is_empty() || opts.ignore_changes_and_additions {
            return Ok(Default::default());
        }
        return Ok((modified.to_vec(), Vec::new(), Vec::new()));
    }
    match slice_element_type(&[original, modified])? {
        6 => {
            let mk = merge_key.unwrap_or_default();
            let (patch, deletions) = diff_lists_of_maps(original, modified, elem, mk, opts)?;
            let mut patch = normalize_slice_order(patch, modified, mk, true)?;
            let order_same = is_order_same(original, modified, mk)?;
            patch.extend(deletions);
            let mut order = Vec::new();
            if opts.set_element_order
                && ((!opts.ignore_changes_and_additions && (!patch.is_empty() || !order_same))
                    || (!opts.ignore_deletions && !patch.is_empty()))
            {
                order = modified
                    .iter()
                    .map(|v| {
                        let mut m = Obj::new();
                        m.insert(mk.to_string(), v.get(mk).cloned().unwrap_or(Value::Null));
                        Value::Object(m)
                    })
                    .collect();
            }
            Ok((patch, Vec::new(), order))
        }
        5 => Err("lists of lists are not supported".into()),
        _ => {
            let (add, del) = diff_lists_of_scalars(original, modified, opts);
            let add = normalize_slice_order(add, modified, "", false)?;
            let mut order = Vec::new();
            if opts.set_element_order
                && ((!opts.ignore_deletions && !del.is_empty())
                    || (!opts.ignore_changes_and_additions && original != modified))
            {
                order = modified.to_vec();
            }
            Ok((add, del, order))
        }
    }
}

/// The one element type of the lists, as upstream's `sliceElementType`.
pub(super) fn slice_element_type(lists: &[&[Value]]) -> Result<u8, String> {
    let mut prev = None;
    for l in lists {
        for v in l.iter() {
            let t = type_tag(v);
            match prev {
                None if t == 5 => return Err("lists of lists are not supported".into()),
                None => prev = Some(t),
                Some(p) if p != t => return Err("list element types are not identical".into()),
                _ => {}
            }
        }
    }
    prev.ok_or_else(|| "no elements in any of the given slices".to_string())
}

fn is_order_same(original: &[Value], modified: &[Value], mk: &str) -> Result<bool, String> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if merge_value(o, mk)? != merge_value(m, mk)? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn merge_value<'a>(item: &'a Value, mk: &str) -> Result<&'a Value, String> {
    let m = item
        .as_object()
        .ok_or_else(|| format!("expected a map, but got {item}"))?;
    m.get(mk)
        .ok_or_else(|| format!("map: {item} does not contain declared merge key: {mk}"))
}

fn diff_lists_of_scalars(
    original: &[Value],
    modified: &[Value],
    opts: DiffOptions,
) -> (Vec<Value>, Vec<Value>) {
    let o = sort_scalars(original.to_vec());
    let m = sort_scalars(modified.to_vec());
    let (mut oi, mut mi) = (0, 0);
    let (mut add, mut del) = (Vec::new(), Vec::new());
    loop {
        let (o_in, m_in) = (oi < o.len(), mi < m.len());
        if !o_in && !m_in {
            break;
        }
        let os = o.get(oi).map(scalar_str).unwrap_or_default();
        let ms = m.get(mi).map(scalar_str).unwrap_or_default();
        if o_in && m_in && os == ms {
            oi += 1;
            mi += 1;
        } else if !o_in || (m_in && os > ms) {
            if !opts.ignore_changes_and_additions {
                add.push(m[mi].clone());
            }
            mi += 1;
        } else {
            if !opts.ignore_deletions {
                del.push(o[oi].clone());
            }
            oi += 1;
        }
    }
    (add, dedupe_scalars(del))
}

fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    elem: Schema,
    mk: &str,
    opts: DiffOptions,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut o = original.to_vec();
    let mut m = modified.to_vec();
    let key = |v: &Value| v.get(mk).map(scalar_str).unwrap_or_else(|| "<nil>".into());
    o.sort_by_key(key);
    m.sort_by_key(key);
    let (mut oi, mut mi) = (0, 0);
    let (mut patch, mut deletions) = (Vec::new(), Vec::new());
    loop {
        let (o_in, m_in) = (oi < o.len(), mi < m.len());
        if !o_in && !m_in {
            break;
        }
        let ov = if o_in {
            Some(merge_value(&o[oi], mk)?)
        } else {
            None
        };
        let mv = if m_in {
            Some(merge_value(&m[mi], mk)?)
        } else {
            None
        };
        let os = ov.map(scalar_str).unwrap_or_default();
        let ms = mv.map(scalar_str).unwrap_or_default();
        if o_in && m_in && os == ms {
            let (Some(oo), Some(mo)) = (o[oi].as_object(), m[mi].as_object()) else {
                return Err("expected maps in a merged list".into());
            };
            let mut sub = diff_maps(oo, mo, elem, opts)?;
            if !sub.is_empty() {
                sub.insert(mk.to_string(), mv.cloned().unwrap_or(Value::Null));
                patch.push(Value::Object(sub));
            }
            oi += 1;
            mi += 1;
        } else if !o_in || (m_in && os > ms) {
            if !opts.ignore_changes_and_additions {
                patch.push(m[mi].clone());
            }
            mi += 1;
        } else {
            if !opts.ignore_deletions {
                let mut d = Obj::new();
                d.insert(DIRECTIVE.into(), Value::String("delete".into()));
                d.insert(mk.to_string(), ov.cloned().unwrap_or(Value::Null));
                deletions.push(Value::Object(d));
            }
            oi += 1;
        }
    }
    Ok((patch, deletions))
}

/// Scalars sorted by their `%v` text.
pub(super) fn sort_scalars(mut s: Vec<Value>) -> Vec<Value> {
    s.sort_by_key(scalar_str);
    s
}

/// Upstream's in-place de-duplication (it moves the last element into each duplicate's
/// slot, so the order it leaves matters for the patch text).
pub(super) fn dedupe_scalars(mut s: Vec<Value>) -> Vec<Value> {
    if s.is_empty() {
        return s;
    }
    let mut length = s.len() - 1;
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i] == s[j] {
                s[j] = s[length].clone();
                s.truncate(length);
                length -= 1;
                continue;
            }
            j += 1;
        }
        i += 1;
    }
    s
}

/// Index of `val` in `list` by merge key (maps) or by value (scalars); -1 when absent.
pub(super) fn index_of(list: &[Value], val: &Value, mk: &str, maps: bool) -> isize {
    let key = |v: &Value| -> Option<Value> {
        if maps {
            v.as_object().and_then(|m| m.get(mk)).cloned()
        } else {
            Some(v.clone())
        }
    };
    let want = key(val);
    list.iter()
        .position(|v| key(v) == want)
        .map_or(-1, |i| i as isize)
}

/// Sorts `to_sort` by the positions of its items in `order` (upstream's
/// `normalizeSliceOrder`: a stable insertion sort with its own comparison, items marked
/// `$patch: delete` moved to the end).
pub(super) fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    mk: &str,
    maps: bool,
) -> Result<Vec<Value>, String> {
    let (mut keep, deletes): (Vec<Value>, Vec<Value>) = if maps {
        for v in to_sort.iter().chain(order) {
            merge_value(v, mk)?;
        }
        to_sort
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
    } else {
        (to_sort, Vec::new())
    };
    let less = |a: &Value, b: &Value| {
        let ia = index_of(order, a, mk, maps);
        let ib = index_of(order, b, mk, maps);
        if ia >= 0 && ib >= 0 {
            ia < ib
        } else {
            true
        }
    };
    for i in 1..keep.len() {
        let mut j = i;
        while j > 0 && less(&keep[j], &keep[j - 1]) {
            keep.swap(j, j - 1);
            j -= 1;
        }
    }
    keep.extend(deletes);
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Schema {
        Schema::for_kind("apps", "v1", "Deployment").unwrap_or_else(|| panic!("schema"))
    }

    #[test]
    fn three_way_changes_deletions_and_order() {
        let last = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1",
            "env": [{"name": "X", "value": "1"}]}]}}}});
        let modified = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}});
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "uid": "u"}, "spec": {"replicas": 1,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1",
            "imagePullPolicy": "IfNotPresent", "env": [{"name": "X", "value": "1"}]}]}}}});
        let p = three_way(&last, &modified, &live, deploy()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p,
            json!({"metadata": {"labels": {"b": null}}, "spec": {"replicas": 2, "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}],
                "containers": [{"name": "web", "image": "nginx:2", "env": null}]}}}})
        );
        // Nothing changed: an empty patch.
        let p = three_way(&modified, &modified, &live, deploy());
        assert!(p.is_ok());
        let same = json!({"spec": {"replicas": 1}});
        assert_eq!(
            three_way(
                &same,
                &same,
                &json!({"spec": {"replicas": 1, "paused": false}}),
                deploy()
            )
            .ok(),
            Some(json!({}))
        );
    }

    #[test]
    fn removed_list_items_and_scalars() {
        let pod = Schema::for_kind("", "v1", "Pod").unwrap_or_else(|| panic!("schema"));
        let last = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let modified = json!({"metadata": {"finalizers": ["a"]}, "spec": {"containers": [
            {"name": "a", "image": "x"}]}});
        let p = three_way(&last, &modified, &last, pod).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"],
                "$setElementOrder/finalizers": ["a"]},
                "spec": {"$setElementOrder/containers": [{"name": "a"}],
                "containers": [{"$patch": "delete", "name": "b"}]}})
        );
    }

    #[test]
    fn retain_keys_for_deployment_strategy() {
        let last = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
        let modified = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let live = json!({"spec": {"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%"}}}});
        let p = three_way(&last, &modified, &live, deploy()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
        );
    }

    #[test]
    fn helpers_follow_go() {
        assert_eq!(
            dedupe_scalars(vec![json!("a"), json!("b"), json!("a"), json!("c")]),
            vec![json!("a"), json!("b"), json!("c")]
        );
        assert_eq!(scalar_str(&json!(80)), "80");
        assert_eq!(
            two_way(
                &json!({"spec": {"replicas": 1}}),
                &json!({"spec": {"replicas": 3}}),
                deploy()
            )
            .ok(),
            Some(json!({"spec": {"replicas": 3}}))
        );
    }
}
