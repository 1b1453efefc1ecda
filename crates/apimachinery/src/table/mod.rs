//! Server-side printing: converts API objects into the `meta.k8s.io/v1`
//! `Table` that `kubectl get` requests with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
//!
//! kubectl renders whatever columns and cells the server sends, so to make
//! `kubectl get` (and `-o wide`) against rkube look exactly like a real
//! cluster, the columns, their order, priorities and every cell value are a
//! transcription of upstream Kubernetes 1.33:
//!
//! * built-in kinds: `pkg/printers/internalversion/printers.go`
//!   ([`table_for`]); the server always prints "wide" and kubectl hides
//!   `priority: 1` columns unless `-o wide` is given;
//! * kinds without a printer (Role, ClusterRole, LimitRange,
//!   CustomResourceDefinition, ...): the apiserver's default table convertor
//!   with `Name` and `Created At` columns;
//! * custom resources: the apiextensions table convertor driven by the CRD's
//!   `additionalPrinterColumns` ([`table_from_printer_columns`]);
//! * ages: apimachinery `duration.HumanDuration` ([`human_duration`]);
//! * quantities: canonical `resource.Quantity` strings
//!   ([`canonical_quantity`]).
//!
//! All functions are pure: the caller supplies "now" (so tests and watch
//! replays are deterministic) and fills `metadata.resourceVersion` /
//! `continue` of the returned Table.

mod columns;
mod crd;
mod docs;
pub mod duration;
pub mod jsonpath;
mod labels;
mod printers;
mod quantity;
mod value;

use std::borrow::Borrow;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

pub use duration::human_duration;
pub use quantity::canonical_quantity;

/// The `includeObject` table option: what each row's `object` carries.
///
/// Upstream defaults to [`IncludeObject::Metadata`] (a
/// `PartialObjectMetadata`), which is what kubectl needs for `--show-labels`,
/// `-L` and namespaces in `--all-namespaces` output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `object: null`.
    None,
    /// `object` is a `meta.k8s.io/v1` `PartialObjectMetadata`.
    #[default]
    Metadata,
    /// `object` is the full object as passed in.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter. Empty means the default
    /// (`Metadata`); unknown values are a 400 Bad Request upstream.
    pub fn from_query(value: &str) -> Result<Self, TableError> {
        match value {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(TableError::UnrecognizedIncludeObject(other.to_string())),
        }
    }
}

/// `metav1.TableOptions` as far as table generation is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// What each row's `object` field carries.
    pub include_object: IncludeObject,
    /// `noHeaders`: omit `columnDefinitions` (serialized as `null`, like
    /// upstream), used by clients that already have the headers (watches).
    pub no_headers: bool,
}

/// Errors surfaced to API clients.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// The `includeObject` parameter is not `None`, `Metadata` or `Object`
    /// (upstream answers 400 with this message).
    #[error("unrecognized includeObject value: {0:?}")]
    UnrecognizedIncludeObject(String),
}

/// Normalizes a group argument: `""`, `"core"` and `"v1"` all mean the core
/// group, and a full `group/version` is reduced to its group, so callers can
/// pass whatever they have at hand.
fn normalize_group(group: &str) -> &str {
    let g = match group.split_once('/') {
        Some((g, _)) => g,
        None => group,
    };
    match g {
        "core" | "v1" => "",
        other => other,
    }
}

/// Column definitions (`metav1.TableColumnDefinition` JSON) for a kind,
/// including `priority: 1` (wide) columns. Kinds without an upstream printer
/// get the default `Name` / `Created At` columns.
pub fn column_definitions(group: &str, kind: &str) -> Vec<Value> {
    let group = normalize_group(group);
    let cols = match printers::lookup(group, kind) {
        Some(p) => p.columns,
        None => columns::DEFAULT,
    };
    cols.iter().map(|c| c.to_json()).collect()
}

/// Whether upstream has a dedicated printer for the kind (otherwise the
/// default Name/Created At table is produced).
pub fn has_printer(group: &str, kind: &str) -> bool {
    printers::lookup(normalize_group(group), kind).is_some()
}

/// Builds the whole `Table` for `objects` of one kind (a list, or a single
/// object for a GET).
///
/// `group` is the API group (`""`/`"core"` for core, `"apps"`,
/// `"events.k8s.io"`, ...); objects may be in any served version of the
/// kind. `metadata` is returned empty for the caller to fill with the list's
/// `resourceVersion`/`continue` (or the object's `resourceVersion`).
pub fn table_for<T: Borrow<Value>>(
    group: &str,
    kind: &str,
    objects: &[T],
    now: OffsetDateTime,
    opts: TableOptions,
) -> Value {
    let group = normalize_group(group);
    match printers::lookup(group, kind) {
        Some(printer) => {
            let ctx = printers::Ctx { now, group };
            let mut ordered: Vec<&Value> = objects.iter().map(Borrow::borrow).collect();
            printers::sort_objects(group, kind, &mut ordered);
            let rows: Vec<Value> = ordered
                .into_iter()
                .map(|obj| {
                    let row = (printer.print)(obj, &ctx);
                    row_json(row.cells, row.conditions, obj, opts.include_object)
                })
                .collect();
            let columns: Vec<Value> = printer.columns.iter().map(|c| c.to_json()).collect();
            let mut opts = opts;
            if group == "apiregistration.k8s.io" {
                // kube-aggregator's convertor always sends the headers.
                opts.no_headers = false;
            }
            table_json(columns, Value::Array(rows), opts)
        }
        None => default_table(objects, opts),
    }
}

/// The apiserver's default table convertor: `Name` and `Created At` (RFC
/// 3339, UTC). Like upstream, an empty input yields `rows: null`.
fn default_table<T: Borrow<Value>>(objects: &[T], opts: TableOptions) -> Value {
    let rows = if objects.is_empty() {
        Value::Null
    } else {
        Value::Array(
            objects
                .iter()
                .map(|obj| {
                    let obj = obj.borrow();
                    let cells = vec![
                        Value::String(value::name(obj).to_string()),
                        Value::String(duration::rfc3339_utc(value::creation(obj))),
                    ];
                    row_json(cells, None, obj, opts.include_object)
                })
                .collect(),
        )
    };
    let columns = columns::DEFAULT.iter().map(|c| c.to_json()).collect();
    table_json(columns, rows, opts)
}

/// Column definitions for a custom resource from its CRD version's
/// `additionalPrinterColumns` (`Name` first; a single `Age` column when the
/// CRD defines none).
pub fn printer_column_definitions(columns: &[Value]) -> Vec<Value> {
    let mut defs = vec![crd::name_column()];
    defs.extend(
        crd::parse_columns(columns)
            .into_iter()
            .map(|c| c.definition),
    );
    defs
}

/// Builds the `Table` for custom resources using the CRD version's
/// `additionalPrinterColumns` (each `{name, type, format, description,
/// priority, jsonPath}`), evaluating each column's JSONPath against the
/// object like the apiextensions-apiserver does: the first match is used,
/// missing values are `null` cells, `date` columns become ages.
pub fn table_from_printer_columns<T: Borrow<Value>>(
    columns: &[Value],
    objects: &[T],
    now: OffsetDateTime,
    opts: TableOptions,
) -> Value {
    let parsed = crd::parse_columns(columns);
    let mut defs = vec![crd::name_column()];
    defs.extend(parsed.iter().map(|c| c.definition.clone()));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let obj = obj.borrow();
            row_json(
                crd::cells(obj, &parsed, now),
                None,
                obj,
                opts.include_object,
            )
        })
        .collect();
    table_json(defs, Value::Array(rows), opts)
}

fn table_json(columns: Vec<Value>, rows: Value, opts: TableOptions) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": if opts.no_headers { Value::Null } else { Value::Array(columns) },
        "rows": rows,
    })
}

fn row_json(
    cells: Vec<Value>,
    conditions: Option<Value>,
    obj: &Value,
    include: IncludeObject,
) -> Value {
    let mut row = Map::new();
    row.insert("cells".to_string(), Value::Array(cells));
    if let Some(c) = conditions {
        row.insert("conditions".to_string(), c);
    }
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => partial_object_metadata(obj),
    };
    row.insert("object".to_string(), object);
    Value::Object(row)
}

/// `meta.AsPartialObjectMetadata`: the full `ObjectMeta`, wrapped. Go always
/// serializes `creationTimestamp` (as `null` when unset), so it is added if
/// missing.
fn partial_object_metadata(obj: &Value) -> Value {
    let mut metadata = match obj.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    metadata
        .entry("creationTimestamp".to_string())
        .or_insert(Value::Null);
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": Value::Object(metadata),
    })
}

#[cfg(test)]
mod tests;
