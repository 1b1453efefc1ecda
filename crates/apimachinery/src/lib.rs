//! Generic Kubernetes API machinery shared by the API server and its clients.
//!
//! This crate will own the resource registry (group/version/kind/plural, scope, short names,
//! categories, printer columns), object metadata helpers, label and field selectors,
//! quantities, strategic merge patch, server-side apply, Table printing and `Status` errors.
//! It depends on nothing else in the workspace so every role can use it.

pub mod registry;
