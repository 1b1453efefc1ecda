//! The container runtime behind a CRI-shaped trait: images (pull, import, unpack), overlayfs
//! snapshots, pod sandboxes and containers, cgroups.
