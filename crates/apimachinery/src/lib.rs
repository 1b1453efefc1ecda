//! Generic Kubernetes API machinery shared by the API server and its clients.
//!
//! This crate owns the resource registry (group/version/kind/plural, scope, short names,
//! categories), `Status` errors, object metadata helpers, label and field selectors, patches
//! and Table printing. It depends on nothing else in the workspace so every role can use it.

pub mod conversion;
pub mod patch;
pub mod quantity;
pub mod quota;
pub mod registry;
pub mod selector;
pub mod ssa;
pub mod status;
pub mod table;
pub mod user;
pub mod validation;
