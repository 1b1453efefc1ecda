//! Strategic merge patch (`application/strategic-merge-patch+json`) as kube-apiserver
//! applies it (`strategicpatch.StrategicMergeMapPatch`, server-side options: parallel
//! lists are merged and unmatched `null`s ignored).
//!
//! Semantics, per field of the built-in type (metadata from [`schema`](super::schema)):
//! * objects merge key by key; `null` deletes a key;
//! * lists with strategy `merge` merge items by merge key (objects) or by value
//!   (primitives, e.g. `finalizers`); other lists are replaced;
//! * directives: `$patch: replace|delete` in a map, `$patch: replace|delete` items in a
//!   merged list, `$setElementOrder/<list>`, `$retainKeys`,
//!   `$deleteFromPrimitiveList/<list>`.
//!
//! Upstream finds list items by scanning the list once per item, which is quadratic in
//! the list length; a patch body near the size limit could then burn minutes of CPU.
//! Here every such search goes through a hash index over the same values (merge-key
//! values, or the items themselves for primitive lists) that yields the same matches
//! (the first one, where it matters), so list merges are linear apart from sorting.
//! `serde_json::Value`'s `Hash` agrees with its `==` (`+0.0` and `-0.0` hash alike,
//! `1` and `1.0` stay distinct), which is the equality upstream's scans used.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::schema::{PatchStrategy, Schema};
use super::{gofmt, PatchError};

const DIRECTIVE: &str = "$patch";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Patch types the API server accepts for custom resources, listed in the 415 answer.
pub const CUSTOM_RESOURCE_PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// The kind a patch targets; selects the schema with the merge metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupVersionKind<'a> {
    /// API group (`""` for the core group).
    pub group: &'a str,
    /// API version (`v1`).
    pub version: &'a str,
    /// Kind (`Deployment`).
    pub kind: &'a str,
}

impl<'a> GroupVersionKind<'a> {
    /// Convenience constructor.
    pub fn new(group: &'a str, version: &'a str, kind: &'a str) -> Self {
        GroupVersionKind {
            group,
            version,
            kind,
        }
    }
}

/// Applies a strategic merge patch to `original` (a versioned object as JSON).
///
/// Kinds without built-in metadata (custom resources) fail with
/// [`PatchError::UnsupportedMediaType`], as upstream refuses the content type for them.
pub fn apply(
    original: &Value,
    patch: &Value,
    gvk: &GroupVersionKind<'_>,
) -> Result<Value, PatchError> {
    let schema = Schema::for_kind(gvk.group, gvk.version, gvk.kind).ok_or_else(|| {
        PatchError::UnsupportedMediaType {
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: {CUSTOM_RESOURCE_PATCH_TYPES}"
            ),
        }
    })?;
    apply_with_schema(original, patch, schema)
}

/// Applies a strategic merge patch with an explicit schema (e.g. [`Schema::opaque`] to
/// get plain merge semantics with directive support).
pub fn apply_with_schema(
    original: &Value,
    patch: &Value,
    schema: Schema,
) -> Result<Value, PatchError> {
    let Value::Object(original) = original else {
        return Err(PatchError::BadRequest("invalid JSON document".to_string()));
    };
    let patch = match patch {
        // Go unmarshals `null` into the (empty) patch map without complaint.
        Value::Null => Map::new(),
        Value::Object(p) => p.clone(),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                match other {
                    Value::Array(_) => "array",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    _ => "bool",
                }
            )))
        }
    };
    let mut merged = Value::Object(merge_map(original.clone(), patch, schema)?);
    // Upstream decodes the result into the Go type, which drops directive keys left in
    // values that were copied verbatim (new list items, replaced lists). Do the same.
    strip_directives(&mut merged);
    Ok(merged)
}

// ---------------------------------------------------------------------------------------
// Errors, worded like k8s.io/apimachinery/pkg/util/mergepatch.
// ---------------------------------------------------------------------------------------

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        gofmt::value(&Value::Object(item.clone()))
    ))
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!(
        "expected a {expected}, but received a {}",
        gofmt::type_name(actual)
    ))
}

fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    PatchError::Internal(format!(
        "unknown patch type: {} in map: {}",
        gofmt::value(directive),
        gofmt::value(&Value::Object(map.clone()))
    ))
}

fn bad_retain_keys() -> PatchError {
    PatchError::BadRequest("invalid patch format of retainKeys".to_string())
}

fn bad_set_element_order() -> PatchError {
    PatchError::BadRequest("invalid patch format of setElementOrder list".to_string())
}

fn bad_primitive_list() -> PatchError {
    PatchError::BadRequest("invalid patch format of primitive list".to_string())
}

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// `$setElementOrder/containers` → `containers`.
fn directive_target(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_string()),
        _ if prefix == SET_ELEMENT_ORDER => Err(bad_set_element_order()),
        _ => Err(bad_primitive_list()),
    }
}

// ---------------------------------------------------------------------------------------
// Maps
// ---------------------------------------------------------------------------------------

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some(REPLACE) => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some(DELETE) => Ok(Map::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, schema)?;

    let mut entries: Vec<(String, Value)> = std::mem::take(&mut patch).into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (raw_key, patch_value) in entries {
        let (key, is_delete_list) = if raw_key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (
                directive_target(&raw_key, DELETE_FROM_PRIMITIVE_LIST)?,
                true,
            )
        } else {
            (raw_key, false)
        };

        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }

        let Some(current) = original.get_mut(&key) else {
            if !is_delete_list {
                insert_patch_value(&mut original, key, patch_value);
            }
            continue;
        };

        if gofmt::type_name(current) != gofmt::type_name(&patch_value) {
            if !is_delete_list {
                insert_patch_value(&mut original, key, patch_value);
            }
            continue;
        }

        match (current, patch_value) {
            (Value::Object(current), Value::Object(patch_map)) => {
                let (sub, meta) = schema.field(&key);
                let merged = if meta.strategy == PatchStrategy::Replace {
                    patch_map
                } else {
                    merge_map(std::mem::take(current), patch_map, sub)?
                };
                *current = merged;
            }
            (Value::Array(current), Value::Array(patch_list)) => {
                let (sub, meta) = schema.field(&key);
                let merged = merge_list_field(
                    std::mem::take(current),
                    patch_list,
                    sub,
                    meta.strategy,
                    meta.merge_key.unwrap_or(""),
                    is_delete_list,
                )?;
                *current = merged;
            }
            (current, scalar) => *current = scalar,
        }
    }
    Ok(original)
}

/// A patch value with no live counterpart (or of another type) is taken as is, minus
/// `null` members and items carrying a `$patch` directive.
fn insert_patch_value(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.remove(&key);
        }
    }
}

/// `$retainKeys`: drop live keys not listed; every non-null patch key must be listed.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_retain_keys());
    };
    let retained: HashSet<&str> = retain.iter().filter_map(Value::as_str).collect();
    let listed = |k: &str| retained.contains(k);
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(bad_retain_keys());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `$setElementOrder/<list>`: merge the list now and order the result: patch items in
/// the directive's order, live-only items interleaved where they were.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive_key in keys {
        let Some(order) = patch.remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type(SLICE_TYPE, &order));
        };
        let field = directive_target(&directive_key, SET_ELEMENT_ORDER)?;
        if let Some(other) = original.get(&field).filter(|v| !v.is_array()) {
            return Err(bad_arg_type(SLICE_TYPE, other));
        }
        let patched = match patch.get(&field) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => return Err(bad_arg_type(SLICE_TYPE, other)),
        };
        let (sub, meta) = schema.field(&field);
        let merge_key = meta.merge_key.unwrap_or("");
        validate_against_order(patched.map_or(&[], |p| &p[..]), &order, merge_key)?;

        // Both lists are replaced by the ordered result (or left alone when absent).
        let take = |map: &mut Map<String, Value>| match map.remove(&field) {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        };
        let (live, patched) = (take(original), take(patch));
        let live_items = live.as_deref().unwrap_or(&[]);
        let patch_items = patched.as_deref().unwrap_or(&[]);
        // Decided on the lists before merging, reported after the merge's own errors.
        let is_map = element_kind_is_map(&[live_items, patch_items]);
        let live_order = if is_map == Ok(true)
            && !merge_key.is_empty()
            && meta.strategy == PatchStrategy::Merge
            && !patch_items.is_empty()
        {
            upstream_live_order(live_items, patch_items, merge_key)
        } else {
            live_items.to_vec()
        };
        let merged = match (live, patched) {
            (Some(live), None) => live,
            (None, Some(patched)) => match remove_directives(Value::Array(patched)) {
                Some(Value::Array(items)) => items,
                _ => continue,
            },
            (Some(live), Some(patched)) => {
                merge_list_field(live, patched, sub, meta.strategy, merge_key, false)?
            }
            (None, None) => continue,
        };

        let (in_order, live_only) = partition(merged, &order, merge_key)?;
        let is_map = is_map?;
        let ordered =
            normalize_element_order(in_order, live_only, &order, &live_order, merge_key, is_map)?;
        original.insert(field, Value::Array(ordered));
    }
    Ok(())
}

/// The live list as upstream sees it when interleaving live-only items under
/// `$setElementOrder`.
///
/// Upstream merges the list in place first: deleting an item shifts the following items
/// left inside the same backing array and new items are appended into the freed slots,
/// and the ordering step then reads that array through the original length. The result
/// is observable (kubectl's "add and delete" patches depend on it), so we replay it:
/// only merge-key positions matter here.
fn upstream_live_order(live: &[Value], patch: &[Value], merge_key: &str) -> Vec<Value> {
    // Replayed with indexes instead of upstream's scans. Two views of the list:
    // `logical` (the list as merged so far) and `window` (the backing array). While
    // items are deleted, `window[..len]` is `logical` and `window[len]` keeps whatever
    // was last in `logical` when its length dropped to `len`; appended items then fill
    // `window[len..]` while there is room.
    fn key_of<'v>(item: &'v Value, merge_key: &str) -> Option<&'v Value> {
        item.get(merge_key)
    }
    let mut positions: HashMap<&Value, Vec<usize>> = HashMap::new();
    for (i, item) in live.iter().enumerate() {
        if let Some(key) = key_of(item, merge_key) {
            positions.entry(key).or_default().push(i);
        }
    }
    let n = live.len();
    let mut removed = vec![false; n];
    // `frozen[m]`: index in `live` of the item left in `window[m]` when `logical`
    // shrank to `m` items (meaningful for `m >= len`).
    let mut frozen = vec![0; n];
    let mut len = n;
    // Everything in `live[end..]` is deleted, so `logical` ends with `live[end - 1]`
    // once deleted items before it are skipped.
    let mut end = n;
    let mut replaced = false;
    for item in patch {
        match item.get(DIRECTIVE).and_then(Value::as_str) {
            Some(DELETE) => {
                let Some(wanted) = key_of(item, merge_key) else {
                    continue;
                };
                // Every live item with this key goes, first to last; a later deletion of
                // the same key finds nothing.
                for k in positions.remove(wanted).unwrap_or_default() {
                    while end > 0 && removed[end - 1] {
                        end -= 1;
                    }
                    len = len.saturating_sub(1);
                    if let Some(slot) = frozen.get_mut(len) {
                        *slot = end.saturating_sub(1);
                    }
                    if let Some(gone) = removed.get_mut(k) {
                        *gone = true;
                    }
                }
            }
            Some(REPLACE) => replaced = true,
            _ => {}
        }
    }
    let mut window: Vec<Value> = live
        .iter()
        .zip(&removed)
        .filter(|(_, gone)| !**gone)
        .map(|(item, _)| item.clone())
        .collect();
    window.extend(
        frozen
            .iter()
            .skip(len)
            .filter_map(|&i| live.get(i))
            .cloned(),
    );
    if replaced {
        return window;
    }
    let mut present: HashSet<Option<&Value>> = live
        .iter()
        .zip(&removed)
        .filter(|(_, gone)| !**gone)
        .map(|(item, _)| key_of(item, merge_key))
        .collect();
    for item in patch.iter().filter(|i| !has_directive(i)) {
        if !present.insert(key_of(item, merge_key)) {
            continue;
        }
        if let Some(slot) = window.get_mut(len) {
            *slot = item.clone();
        }
        len += 1;
    }
    window
}

/// Patch items (ignoring deletions) must appear in the `$setElementOrder` list, in the
/// same relative order.
fn validate_against_order(
    patch: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut non_delete = Vec::with_capacity(patch.len());
    if merge_key.is_empty() {
        non_delete.extend(patch.iter());
    } else {
        for item in patch {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(MAP_TYPE, item));
            };
            if map.get(DIRECTIVE).and_then(Value::as_str) != Some(DELETE) {
                non_delete.push(item);
            }
        }
    }
    let (mut p, mut o) = (0, 0);
    while p < non_delete.len() && o < order.len() {
        if has_directive(non_delete[p]) {
            p += 1;
            continue;
        }
        if merge_key_equal(non_delete[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < non_delete.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            gofmt::value(&Value::Array(patch.to_vec())),
            gofmt::value(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn has_directive(item: &Value) -> bool {
    item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(MAP_TYPE, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(MAP_TYPE, right));
    };
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

// ---------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------

/// Combines a live list with a patch list according to the field's strategy.
fn merge_list_field(
    live: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    strategy: PatchStrategy,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if strategy == PatchStrategy::Merge || is_delete_list {
        merge_list(live, patch, schema, merge_key, is_delete_list)
    } else {
        Ok(patch)
    }
}

fn merge_list(
    live: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if live.is_empty() && patch.is_empty() {
        return Ok(live);
    }
    let is_map = element_kind_is_map(&[&live, &patch])?;
    let (live, patch, merged) = if !is_map {
        if is_delete_list {
            let deleted: HashSet<&Value> = patch.iter().collect();
            return Ok(live.into_iter().filter(|v| !deleted.contains(v)).collect());
        }
        let mut seen: HashSet<&Value> = HashSet::with_capacity(live.len() + patch.len());
        let mut merged: Vec<Value> = Vec::with_capacity(live.len() + patch.len());
        for v in live.iter().chain(patch.iter()) {
            if seen.insert(v) {
                merged.push(v.clone());
            }
        }
        (live, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(PatchError::Internal(format!(
                "cannot merge lists without merge key for {}",
                schema.type_name().unwrap_or("struct")
            )));
        }
        let (live, patch) = apply_list_directives(live, patch, merge_key)?;
        // Ordering only looks at merge keys: keep those and let the merge consume items.
        let live_keys = key_stubs(&live, merge_key);
        let patch_keys = key_stubs(&patch, merge_key);
        let merged = merge_items_by_key(live, patch, merge_key, schema)?;
        (live_keys, patch_keys, merged)
    };
    let (in_patch, live_only) = partition(merged, &patch, merge_key)?;
    normalize_element_order(in_patch, live_only, &patch, &live, merge_key, is_map)
}

/// `{<merge key>: <value>}` per item (`{}` without one): what [`partition`] and
/// [`normalize_element_order`] read of a list of objects, without copying whole items.
fn key_stubs(items: &[Value], merge_key: &str) -> Vec<Value> {
    items
        .iter()
        .map(|item| {
            let mut stub = Map::new();
            if let Some(key_value) = item.get(merge_key) {
                stub.insert(merge_key.to_string(), key_value.clone());
            }
            Value::Object(stub)
        })
        .collect()
}

/// Handles `$patch` items of a merged list of objects: `delete` drops live items with
/// that merge key, `replace` makes the patch's other items the whole list.
fn apply_list_directives(
    mut live: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    // Deletions only drop objects, so whether the live list holds anything else never
    // changes; the deletions themselves are applied together at the end.
    let live_has_non_object = live.iter().any(|existing| !existing.is_object());
    let mut deleted: HashSet<Value> = HashSet::new();
    for item in patch {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let value = map
                    .get(merge_key)
                    .ok_or_else(|| no_merge_key(map, merge_key))?;
                if live_has_non_object {
                    return Err(PatchError::Internal(
                        "value for key 0 is not a map".to_string(),
                    ));
                }
                deleted.insert(value.clone());
            }
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ))
            }
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        if !deleted.is_empty() {
            live.retain(|existing| {
                existing
                    .get(merge_key)
                    .is_none_or(|value| !deleted.contains(value))
            });
        }
        Ok((live, plain))
    }
}

/// Merges each patch item into the live item with the same merge key, or appends it.
///
/// Upstream scans the list as merged so far for each patch item and takes the first item
/// with that merge-key value. The index below keeps, per value, the positions of the
/// items carrying it (smallest first), so the same item is found without the scan.
fn merge_items_by_key(
    mut live: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    schema: Schema,
) -> Result<Vec<Value>, PatchError> {
    // Merged and appended items are objects, so this position never changes.
    let first_non_object = live.iter().position(|existing| !existing.is_object());
    let mut index: HashMap<Value, BinaryHeap<Reverse<usize>>> = HashMap::new();
    for (i, existing) in live.iter().enumerate() {
        if let Some(key_value) = existing.get(merge_key) {
            index.entry(key_value.clone()).or_default().push(Reverse(i));
        }
    }
    for item in patch {
        let Value::Object(map) = item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let key_value = map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(&map, merge_key))?
            .clone();
        let found = index
            .get(&key_value)
            .and_then(|positions| positions.peek())
            .map(|&Reverse(i)| i);
        // The scan stops at the first match; a non-object before it is an error.
        if let Some(bad) = first_non_object {
            if found.is_none_or(|i| bad < i) {
                return Err(PatchError::Internal(format!(
                    "value for key {bad} is not a map"
                )));
            }
        }
        match found.and_then(|i| live.get_mut(i).map(|existing| (i, existing))) {
            Some((i, Value::Object(existing))) => {
                let merged = merge_map(std::mem::take(existing), map, schema)?;
                *existing = merged;
                // Merging can change the merge-key value itself (a `null`, a directive
                // inside it): file the item under its new value.
                let new_key = existing.get(merge_key);
                if new_key != Some(&key_value) {
                    if let Some(positions) = index.get_mut(&key_value) {
                        positions.pop();
                        if positions.is_empty() {
                            index.remove(&key_value);
                        }
                    }
                    if let Some(new_key) = new_key {
                        index.entry(new_key.clone()).or_default().push(Reverse(i));
                    }
                }
            }
            _ => {
                index
                    .entry(key_value)
                    .or_default()
                    .push(Reverse(live.len()));
                live.push(Value::Object(map));
            }
        }
    }
    Ok(live)
}

/// Element type of the lists: `true` for objects. Upstream refuses lists of lists, mixed
/// element types and (oddly, but observably) lists that are all empty.
fn element_kind_is_map(lists: &[&[Value]]) -> Result<bool, PatchError> {
    let mut first: Option<&'static str> = None;
    for list in lists {
        for item in list.iter() {
            let t = gofmt::type_name(item);
            match first {
                None => {
                    if item.is_array() {
                        return Err(PatchError::Unprocessable(
                            "lists of lists are not supported".to_string(),
                        ));
                    }
                    first = Some(t);
                }
                Some(prev) if prev != t => {
                    let all: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                    return Err(PatchError::Internal(format!(
                        "list element types are not identical: {}",
                        gofmt::value(&Value::Array(all))
                    )));
                }
                Some(_) => {}
            }
        }
    }
    match first {
        Some(t) => Ok(t == MAP_TYPE),
        None => Err(PatchError::Internal(
            "no elements in any of the given slices".to_string(),
        )),
    }
}

/// The merge-key value of an object item (or the item itself for primitives).
fn identity<'a>(item: &'a Value, merge_key: &str) -> Option<&'a Value> {
    if merge_key.is_empty() {
        Some(item)
    } else {
        item.as_object().and_then(|m| m.get(merge_key))
    }
}

/// Splits `merged` into items present in `by` and the rest, keeping relative order.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::with_capacity(merged.len());
    let mut absent = Vec::with_capacity(merged.len());
    if merge_key.is_empty() {
        let members: HashSet<&Value> = by.iter().collect();
        for item in merged {
            if members.contains(&item) {
                present.push(item);
            } else {
                absent.push(item);
            }
        }
        return Ok((present, absent));
    }
    // Upstream scans `by` for each item: a match ends the scan, a non-object before one
    // is an error.
    let first_non_object = by.iter().position(|candidate| !candidate.is_object());
    let mut first: HashMap<&Value, usize> = HashMap::with_capacity(by.len());
    for (i, candidate) in by.iter().enumerate() {
        if let Some(key_value) = candidate.as_object().and_then(|m| m.get(merge_key)) {
            first.entry(key_value).or_insert(i);
        }
    }
    for item in merged {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let key_value = map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(map, merge_key))?;
        let found = first.get(key_value).copied();
        if let Some(bad) = first_non_object {
            if found.is_none_or(|i| bad < i) {
                return Err(PatchError::Internal(format!(
                    "value for key {bad} is not a map"
                )));
            }
        }
        if found.is_some() {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// Position of the first item of a list per identity (what a scan of the list for an
/// item with that identity finds).
struct Positions<'a> {
    first: HashMap<Option<&'a Value>, usize>,
    merge_key: &'a str,
}

impl<'a> Positions<'a> {
    fn new(list: &'a [Value], merge_key: &'a str, is_map: bool) -> Self {
        let merge_key = if is_map { merge_key } else { "" };
        let mut first = HashMap::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            first.entry(identity(item, merge_key)).or_insert(i);
        }
        Positions { first, merge_key }
    }

    fn of(&self, item: &Value) -> Option<usize> {
        self.first.get(&identity(item, self.merge_key)).copied()
    }
}

/// Orders patch items by `patch_order` and live-only items by `live_order`, then
/// interleaves them: a live-only item goes before the next patch item when it preceded
/// that item in the live list. Items being deleted (`$patch: delete`) go last.
fn normalize_element_order(
    patch_items: Vec<Value>,
    live_only: Vec<Value>,
    patch_order: &[Value],
    live_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let in_patch = Positions::new(patch_order, merge_key, is_map);
    let in_live = Positions::new(live_order, merge_key, is_map);
    let patch_items = sort_by_order(patch_items, patch_order, &in_patch, merge_key, is_map)?;
    let live_only = sort_by_order(live_only, live_order, &in_live, merge_key, is_map)?;

    let with_live_position = |items: Vec<Value>| -> Vec<(Option<usize>, Value)> {
        items
            .into_iter()
            .map(|item| (in_live.of(&item), item))
            .collect()
    };
    let live_only = with_live_position(live_only);
    let patch_items = with_live_position(patch_items);

    let mut out = Vec::with_capacity(patch_items.len() + live_only.len());
    let mut left = live_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((l, _)), Some((r, _))) => match (l, r) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, item)) = next {
            out.push(item);
        }
    }
    Ok(out)
}

/// Sorts `items` by their position in `order` (`in_order`), items being deleted last.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    in_order: &Positions<'_>,
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let mut to_delete = Vec::new();
    let mut keep = Vec::with_capacity(items.len());
    if is_map {
        for list in [&items[..], order] {
            for item in list {
                let Value::Object(map) = item else {
                    return Err(bad_arg_type(MAP_TYPE, item));
                };
                if !map.contains_key(merge_key) {
                    return Err(no_merge_key(map, merge_key));
                }
            }
        }
        for item in items {
            if item.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
                to_delete.push(item);
            } else {
                keep.push(item);
            }
        }
    } else {
        keep = items;
    }
    let mut keyed: Vec<(usize, Value)> = keep
        .into_iter()
        .map(|item| (in_order.of(&item).unwrap_or(usize::MAX), item))
        .collect();
    // Stable: items at the same position (or in none) keep their relative order.
    keyed.sort_by_key(|(position, _)| *position);
    let mut sorted: Vec<Value> = keyed.into_iter().map(|(_, item)| item).collect();
    sorted.extend(to_delete);
    Ok(sorted)
}

// ---------------------------------------------------------------------------------------
// Directive clean-up
// ---------------------------------------------------------------------------------------

/// Drops objects carrying `$patch` (they only make sense against a live value).
/// Returns `None` when `value` itself is such an object.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            let cleaned = map
                .into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(cleaned))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Removes `null` members of objects, recursively (through arrays too).
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                discard_nulls(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                discard_nulls(v);
            }
        }
        _ => {}
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with("$setElementOrder/")
        || key.starts_with("$deleteFromPrimitiveList/")
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_directive_key(k));
            for v in map.values_mut() {
                strip_directives(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                strip_directives(v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOYMENT: GroupVersionKind<'static> = GroupVersionKind {
        group: "apps",
        version: "v1",
        kind: "Deployment",
    };
    const POD: GroupVersionKind<'static> = GroupVersionKind {
        group: "",
        version: "v1",
        kind: "Pod",
    };

    fn ok(original: &Value, patch: Value, gvk: &GroupVersionKind<'_>) -> Value {
        apply(original, &patch, gvk).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(original: &Value, patch: Value, gvk: &GroupVersionKind<'_>) -> PatchError {
        match apply(original, &patch, gvk) {
            Ok(v) => panic!("unexpectedly applied: {v}"),
            Err(e) => e,
        }
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": containers, "restartPolicy": "Always"}
                }
            }
        })
    }

    fn containers(v: &Value) -> &Value {
        &v["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn kubectl_apply_image_change_keeps_order_and_other_container() {
        let original = deployment(json!([
            {"name": "web", "image": "nginx:v2", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}
        ]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"image":"nginx:v3","name":"web"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            containers(&out),
            &json!([
                {"name": "web", "image": "nginx:v3", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}
            ])
        );
        // The same with the server-only container first: it stays first.
        let original = deployment(json!([
            {"name": "sidecar", "image": "busybox"},
            {"name": "web", "image": "nginx:v2"}
        ]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"image":"nginx:v3","name":"web"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            containers(&out),
            &json!([{"name": "sidecar", "image": "busybox"}, {"name": "web", "image": "nginx:v3"}])
        );
        assert!(out.to_string().find('$').is_none());
    }

    #[test]
    fn set_element_order_reorders() {
        let original = deployment(json!([
            {"name": "a", "image": "a"},
            {"name": "b", "image": "b"},
            {"name": "c", "image": "c"}
        ]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}],
                "containers":[{"name":"a","image":"a2"}]
            }}}}),
            &DEPLOYMENT,
        );
        let names: Vec<&str> = containers(&out)
            .as_array()
            .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, vec!["c", "a", "b"]);
        assert_eq!(containers(&out)[1]["image"], json!("a2"));
    }

    #[test]
    fn kubectl_apply_removes_container_with_delete_directive() {
        let original = deployment(json!([
            {"name": "web", "image": "nginx"},
            {"name": "sidecar", "image": "busybox"}
        ]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"$patch":"delete","name":"sidecar"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            containers(&out),
            &json!([{"name": "web", "image": "nginx"}])
        );
        // Without the ordering directive too.
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"web"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            containers(&out),
            &json!([{"name": "sidecar", "image": "busybox"}])
        );
    }

    #[test]
    fn kubectl_apply_add_and_delete_container_keeps_server_only_position() {
        // kubectl removes "old" and adds "new"; "extra" was added by someone else.
        let original = deployment(json!([
            {"name": "old", "image": "o"},
            {"name": "keep", "image": "k"},
            {"name": "extra", "image": "e"}
        ]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"keep"},{"name":"new"}],
                "containers":[{"image":"n","name":"new"},{"$patch":"delete","name":"old"}]
            }}}}),
            &DEPLOYMENT,
        );
        // Upstream interleaves against the live list as rewritten in place by the merge
        // (see `upstream_live_order`), which puts "extra" before "new".
        assert_eq!(
            containers(&out),
            &json!([
                {"name": "keep", "image": "k"},
                {"name": "extra", "image": "e"},
                {"name": "new", "image": "n"}
            ])
        );
    }

    #[test]
    fn replace_strategy_and_retain_keys_in_merged_list() {
        let schema = crate::patch::schema::test_types::item();
        let out = apply_with_schema(
            &json!({"replacingItem": {"a": 1, "b": 2}, "retainKeysMergingList": [
                {"name": "x", "value": "1", "other": "o"},
                {"name": "y", "value": "2"}
            ]}),
            &json!({"replacingItem": {"c": 3}, "retainKeysMergingList": [
                {"$retainKeys": ["name", "value"], "name": "x", "value": "10"}
            ]}),
            schema,
        );
        assert_eq!(
            out,
            Ok(json!({"replacingItem": {"c": 3}, "retainKeysMergingList": [
                {"name": "x", "value": "10"},
                {"name": "y", "value": "2"}
            ]}))
        );
    }

    #[test]
    fn env_merges_by_name() {
        let original = deployment(json!([{
            "name": "web",
            "image": "nginx",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
        }]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"containers":[{"name":"web","env":[
                {"name":"B","value":"20"},
                {"name":"C","value":"3"},
                {"name":"A","$patch":"delete"}
            ]}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            containers(&out)[0]["env"],
            json!([{"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
        );
        // valueFrom replaced by value: null deletes the old member.
        let original = deployment(json!([{
            "name": "web",
            "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        }]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"A","value":"x","valueFrom":null}]}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            containers(&out)[0]["env"],
            json!([{"name": "A", "value": "x"}])
        );
    }

    #[test]
    fn retain_keys_switches_strategy() {
        let original = deployment(json!([{"name": "web"}]));
        let out = ok(
            &original,
            json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}}),
            &DEPLOYMENT,
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        // A patch key missing from $retainKeys is a 400.
        let e = err(
            &original,
            json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":{}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(e.status_code(), 400);
        assert_eq!(e.to_string(), "invalid patch format of retainKeys");
    }

    #[test]
    fn retain_keys_in_volume_items() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "c"}],
                "volumes": [
                    {"name": "data", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "cm"}}
                ]
            }
        });
        let out = ok(
            &pod,
            json!({"spec":{"$setElementOrder/volumes":[{"name":"data"},{"name":"cfg"}],"volumes":[{"$retainKeys":["name","secret"],"name":"data","secret":{"secretName":"s"}}]}}),
            &POD,
        );
        assert_eq!(
            out["spec"]["volumes"],
            json!([
                {"name": "data", "secret": {"secretName": "s"}},
                {"name": "cfg", "configMap": {"name": "cm"}}
            ])
        );
    }

    #[test]
    fn finalizers_merge_as_primitive_set() {
        let original = json!({"metadata": {"name": "c", "finalizers": ["a", "b"]}, "data": {}});
        let cm = GroupVersionKind::new("", "v1", "ConfigMap");
        let out = ok(
            &original,
            json!({"metadata": {"finalizers": ["c", "a"]}}),
            &cm,
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));

        let out = ok(
            &original,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["d"]}}),
            &cm,
        );
        // Without $setElementOrder upstream puts items new to the list first.
        assert_eq!(out["metadata"]["finalizers"], json!(["d", "b"]));

        let out = ok(
            &original,
            json!({"metadata": {"$setElementOrder/finalizers": ["b", "x", "a"], "finalizers": ["x"]}}),
            &cm,
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "x", "a"]));

        let out = ok(&original, json!({"metadata": {"finalizers": null}}), &cm);
        assert_eq!(out["metadata"], json!({"name": "c"}));

        // Labels are a plain map: merged, null deletes.
        let original = json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}});
        let out = ok(
            &original,
            json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
            &cm,
        );
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    }

    #[test]
    fn replace_directives() {
        let original = deployment(json!([
            {"name": "a", "image": "a"},
            {"name": "b", "image": "b"}
        ]));
        let out = ok(
            &original,
            json!({"spec":{"template":{"spec":{"containers":[{"name":"z","image":"z"},{"$patch":"replace"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(containers(&out), &json!([{"name": "z", "image": "z"}]));

        let out = ok(
            &original,
            json!({"spec":{"selector":{"$patch":"replace","matchLabels":{"x":"y"}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"x": "y"}}));

        let out = ok(
            &original,
            json!({"metadata":{"labels":{"$patch":"delete"}}}),
            &DEPLOYMENT,
        );
        assert!(out["metadata"].get("labels").is_none());

        let out = ok(
            &original,
            json!({"spec":{"selector":{"$patch":"delete"}}}),
            &DEPLOYMENT,
        );
        assert_eq!(out["spec"]["selector"], json!({}));
    }

    #[test]
    fn lists_without_strategy_are_replaced() {
        let pod = json!({
            "spec": {
                "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "a"}}]}],
                "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]
            }
        });
        let out = ok(
            &pod,
            json!({"spec": {
                "tolerations": [{"key": "c", "operator": "Exists"}],
                "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}]
            }}),
            &POD,
        );
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "c", "operator": "Exists"}])
        );
        assert_eq!(
            out["spec"]["containers"][0]["envFrom"],
            json!([{"secretRef": {"name": "s"}}])
        );
    }

    #[test]
    fn ports_and_volume_mounts_merge_by_their_keys() {
        let pod = json!({
            "spec": {"containers": [{
                "name": "c",
                "ports": [{"containerPort": 80, "name": "http"}],
                "volumeMounts": [{"mountPath": "/a", "name": "x"}]
            }]}
        });
        let out = ok(
            &pod,
            json!({"spec": {"containers": [{"name": "c",
                "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 80, "protocol": "TCP"}],
                "volumeMounts": [{"mountPath": "/b", "name": "y"}]
            }]}}),
            &POD,
        );
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([
                {"containerPort": 443, "name": "https"},
                {"containerPort": 80, "name": "http", "protocol": "TCP"}
            ])
        );
        // New items go before live-only ones unless $setElementOrder says otherwise.
        assert_eq!(
            out["spec"]["containers"][0]["volumeMounts"],
            json!([{"mountPath": "/b", "name": "y"}, {"mountPath": "/a", "name": "x"}])
        );

        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
        let out = ok(
            &svc,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            &GroupVersionKind::new("", "v1", "Service"),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
        );
    }

    #[test]
    fn status_conditions_merge_by_type() {
        let node = json!({"status": {
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "Starting"},
                {"type": "MemoryPressure", "status": "False"}
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]
        }});
        let out = ok(
            &node,
            json!({"status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "addresses": [{"type": "Hostname", "address": "n1"}]
            }}),
            &GroupVersionKind::new("", "v1", "Node"),
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                {"type": "MemoryPressure", "status": "False"}
            ])
        );
        assert_eq!(
            out["status"]["addresses"],
            json!([
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.1"}
            ])
        );

        let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [{"name": "a", "ready": false}, {"name": "b", "ready": true}]}});
        let out = ok(
            &pod,
            json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}], "containerStatuses": [{"name": "a", "ready": true}]}}),
            &POD,
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}])
        );
        // containerStatuses has no merge key: replaced.
        assert_eq!(
            out["status"]["containerStatuses"],
            json!([{"name": "a", "ready": true}])
        );
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let original = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "ReplicaSet"}]}});
        let out = ok(
            &original,
            json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b", "kind": "ReplicaSet"}]}}),
            &POD,
        );
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([
                {"uid": "2", "name": "b", "kind": "ReplicaSet"},
                {"uid": "1", "name": "a", "kind": "ReplicaSet"}
            ])
        );
    }

    #[test]
    fn cronjob_template_and_new_fields() {
        let cj = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]
        }}}}}});
        let out = ok(
            &cj,
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "b", "image": "b2", "args": null}],
                "nodeSelector": {"disk": "ssd", "gone": null}
            }}}}}}),
            &GroupVersionKind::new("batch", "v1", "CronJob"),
        );
        let spec = &out["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"],
            json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b2"}])
        );
        assert_eq!(spec["nodeSelector"], json!({"disk": "ssd"}));
    }

    #[test]
    fn error_classes() {
        let original = deployment(json!([{"name": "web"}]));
        let e = err(
            &original,
            json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(e.status_code(), 500);
        assert_eq!(
            e.to_string(),
            "map: map[image:x] does not contain declared merge key: name"
        );

        let e = err(
            &original,
            json!({"spec":{"template":{"spec":{"containers":[{"name":"web","$patch":"frob"}]}}}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            e.to_string(),
            "unknown patch type: frob in map: map[$patch:frob name:web]"
        );

        let e = err(&original, json!({"spec":{"$patch":"merge"}}), &DEPLOYMENT);
        assert_eq!(e.status_code(), 500);

        let e = err(
            &original,
            json!({"metadata":{"$setElementOrder":[]}}),
            &DEPLOYMENT,
        );
        assert_eq!(
            e.to_string(),
            "invalid patch format of setElementOrder list"
        );
        assert_eq!(e.status_code(), 400);

        let e = err(
            &original,
            json!({"spec":{"$retainKeys":"type"}}),
            &DEPLOYMENT,
        );
        assert_eq!(e.status_code(), 400);

        let cm = json!({"metadata": {"finalizers": [["a"]]}});
        let e = err(&cm, json!({"metadata": {"finalizers": [["b"]]}}), &POD);
        assert_eq!(e.status_code(), 422);
        assert_eq!(e.to_string(), "lists of lists are not supported");

        let e = err(&original, json!([1]), &DEPLOYMENT);
        assert_eq!(e.status_code(), 400);

        let e = err(
            &original,
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"web"}],
                "containers":[{"name":"other"}]
            }}}}),
            &DEPLOYMENT,
        );
        assert_eq!(e.status_code(), 500);
        assert!(e.to_string().starts_with("The order in patch list:"));
    }

    #[test]
    fn twenty_thousand_item_lists_merge_like_small_ones() {
        let n = 20_000;
        let c = |i: usize| format!("c{i}");

        // New containers go first, in patch order, ahead of the live-only one.
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main"}]}});
        let added: Vec<Value> = (0..n)
            .map(|i| json!({"name": c(i), "image": "x"}))
            .collect();
        let out = ok(&pod, json!({"spec": {"containers": added.clone()}}), &POD);
        let mut expected = added;
        expected.push(json!({"name": "main"}));
        assert_eq!(out["spec"]["containers"], Value::Array(expected));

        // kubectl-style: every tenth container deleted, the even ones updated, new ones
        // added, all kept ones reordered (reversed) by $setElementOrder, and ten
        // server-only containers at the end of the live list. Those land before the new
        // containers, as upstream's in-place merge has it (see `upstream_live_order`).
        let mut live: Vec<Value> = (0..n)
            .map(|i| json!({"name": c(i), "image": "old"}))
            .collect();
        live.extend((0..10).map(|i| json!({"name": format!("x{i}")})));
        let (mut items, mut order, mut expected) = (Vec::new(), Vec::new(), Vec::new());
        for i in (0..n).rev() {
            if i % 10 == 5 {
                items.push(json!({"name": c(i), "$patch": "delete"}));
                continue;
            }
            order.push(json!({"name": c(i)}));
            if i % 2 == 0 {
                items.push(json!({"name": c(i), "image": "new"}));
                expected.push(json!({"name": c(i), "image": "new"}));
            } else {
                expected.push(json!({"name": c(i), "image": "old"}));
            }
        }
        expected.extend((0..10).map(|i| json!({"name": format!("x{i}")})));
        for i in 0..n / 10 {
            items.push(json!({"name": format!("d{i}"), "image": "d"}));
            order.push(json!({"name": format!("d{i}")}));
            expected.push(json!({"name": format!("d{i}"), "image": "d"}));
        }
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": live}});
        let out = ok(
            &pod,
            json!({"spec": {"containers": items, "$setElementOrder/containers": order}}),
            &POD,
        );
        assert_eq!(out["spec"]["containers"], Value::Array(expected));

        // Finalizers: the odd ones deleted, n new ones (one repeated) merged in front.
        let f = |p: &str, i: usize| json!(format!("{p}{i}"));
        let live: Vec<Value> = (0..n).map(|i| f("f", i)).collect();
        let deleted: Vec<Value> = (1..n).step_by(2).map(|i| f("f", i)).collect();
        let mut added: Vec<Value> = (0..n).map(|i| f("g", i)).collect();
        added.push(f("g", 0));
        let out = ok(
            &json!({"metadata": {"name": "p", "finalizers": live}}),
            json!({"metadata": {
                "finalizers": added,
                "$deleteFromPrimitiveList/finalizers": deleted
            }}),
            &POD,
        );
        let expected: Vec<Value> = (0..n)
            .map(|i| f("g", i))
            .chain((0..n).step_by(2).map(|i| f("f", i)))
            .collect();
        assert_eq!(out["metadata"]["finalizers"], Value::Array(expected));
    }

    #[test]
    fn custom_resources_are_unsupported() {
        let e = err(
            &json!({"spec": {}}),
            json!({"spec": {"a": 1}}),
            &GroupVersionKind::new("example.com", "v1", "Widget"),
        );
        assert_eq!(e.status_code(), 415);
        assert_eq!(
            e.to_string(),
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        );
    }

    #[test]
    fn null_patch_is_noop_and_opaque_schema_merges_maps() {
        let original = deployment(json!([{"name": "web"}]));
        assert_eq!(ok(&original, Value::Null, &DEPLOYMENT), original);
        let out = apply_with_schema(
            &json!({"a": {"b": 1, "c": [1]}}),
            &json!({"a": {"c": [2], "d": 3}}),
            Schema::opaque(),
        );
        assert_eq!(out, Ok(json!({"a": {"b": 1, "c": [2], "d": 3}})));
    }
}
