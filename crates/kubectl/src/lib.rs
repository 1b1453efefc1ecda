//! The kubectl-compatible command-line client behind `rkube kubectl`.
