//! Server-side apply for rkube.
//!
//! A Rust implementation of the behaviour of `sigs.k8s.io/structured-merge-diff`
//! (field sets, merge, conflicts) and of the apiserver's field manager
//! (`k8s.io/apimachinery/pkg/util/managedfields`): it maintains
//! `metadata.managedFields`, merges `application/apply-patch+yaml` configurations into
//! stored objects, and reports conflicts in upstream's exact wording, so that
//! `kubectl apply --server-side`, client-go's apply configurations and controllers see
//! the same results as against a real API server.
//!
//! Entry points:
//! - [`apply()`] for apply patches (create when the object does not exist),
//! - [`record_update`] for every other write, to keep ownership current,
//! - [`validate_patch_options`] for the `fieldManager`/`force` query parameters,
//! - [`TypeSet::builtin`] for the merge facts of the common built-in kinds, and
//!   [`TypeSet::add_crd`] to register custom resources from their OpenAPI schema.
//!
//! Objects are `serde_json::Value`s in Kubernetes JSON shape. Left to the caller, as
//! upstream's handlers and REST layer do them: decoding YAML bodies, rejecting a create
//! whose configuration carries a `uid` (409 "uid mismatch"), the `resourceVersion`
//! precondition, restoring system metadata (uid, creationTimestamp, …), defaulting,
//! validation, and finally [`ignore_managed_fields_timestamps`] before writing.
//!
//! Differences from upstream, by design: objects are not converted between API
//! versions (entries recorded at another apiVersion are compared as-is), and the
//! built-in schema ([`TypeSet::builtin`]) spells out only the fields whose merge
//! behaviour differs from the defaults; [`TypeSet::add_openapi_definitions`] can load
//! the complete upstream schema instead.

pub mod apply;
pub mod builtin;
mod engine;
mod error;
pub mod fieldsv1;
mod last_applied;
pub mod managed;
mod object;
mod options;
pub mod path;
pub mod schema;
pub mod set;
pub mod typed;
mod update;
pub mod value;

pub use apply::{apply, ApplyOptions};
pub use error::{ApplyError, Conflict};
pub use fieldsv1::FieldsV1Error;
pub use last_applied::LAST_APPLIED_ANNOTATION;
pub use managed::{Managed, ManagerId, Operation, VersionedSet};
pub use options::{validate_field_manager, validate_patch_options};
pub use path::{Path, PathElement};
pub use schema::{
    type_from_openapi, FieldDef, ListDef, ListType, MapDef, MapType, Rest, ScalarType, Schema,
    TypeDef, TypeRef, TypeSet,
};
pub use set::FieldSet;
pub use typed::{Comparison, Typed, ValidationError, ValidationErrors};
pub use update::{
    ignore_managed_fields_timestamps, record_update, record_update_owned, MAX_UPDATE_MANAGERS,
};
