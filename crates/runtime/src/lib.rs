//! The container runtime behind a CRI-shaped trait: images (pull, import, unpack), overlayfs
//! snapshots, pod sandboxes and containers, cgroups.
//!
//! [`image::ImageService`] pulls from OCI and Docker registries (Docker Hub's token flow,
//! basic auth, plain HTTP for loopback registries, k3s-style `registries.yaml` mirrors),
//! imports OCI and docker-archive tarballs, verifies every digest, unpacks layers once per
//! chain id into overlayfs-ready directories, and lists, removes and garbage-collects images.
//!
//! [`RuntimeService`] is the sandbox/container half, implemented by [`Runtime`]: pinned
//! namespaces for sandboxes ([`sandbox`]), an overlayfs rootfs and OCI bundle per container
//! ([`container`]) run by youki's libcontainer under a per-container [`shim`] that owns
//! stdio, writes CRI logs and records the exit — so containers outlive the agent. Clients
//! attach to a running container's stdio through the shim's socket ([`attach`]).

pub mod attach;
pub mod cgroups;
pub mod container;
pub mod error;
pub mod image;
pub mod sandbox;
pub mod service;
pub mod shim;
mod sys;

pub use container::{ContainerConfig, ContainerState, ContainerStatus};
pub use error::{Result, RuntimeError};
pub use sandbox::{DnsConfig, PodSandbox, PodSandboxConfig, SandboxState};
pub use service::{ExecResult, Runtime, RuntimeService, ShimCommand, POD_UID_LABEL};

/// Now as RFC 3339 with nanoseconds in UTC (`2016-10-06T00:17:09.669794202Z`), the form CRI
/// logs and statuses use.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
