//! The controller manager: one module per controller, each an informer-driven work queue with
//! an idempotent `reconcile(key)`.
