//! The Kubernetes REST API over HTTPS.
//!
//! The API server is the only component that touches the store (`rkube-store`); every other
//! role is a client of this API, also inside one `rkube server` process.
pub mod pki;
