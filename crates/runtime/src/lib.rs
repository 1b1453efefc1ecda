//! The container runtime behind a CRI-shaped trait: images (pull, import, unpack), overlayfs
//! snapshots, pod sandboxes and containers, cgroups.
//!
//! Today this crate holds the image half: [`image::ImageService`] pulls from OCI and Docker
//! registries (Docker Hub's token flow, basic auth, plain HTTP for loopback registries,
//! k3s-style `registries.yaml` mirrors), imports OCI and docker-archive tarballs, verifies
//! every digest, unpacks layers once per chain id into overlayfs-ready directories, and
//! lists, removes and garbage-collects images.

pub mod image;
