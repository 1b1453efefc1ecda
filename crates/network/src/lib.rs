//! The pod network (bridge, veth per pod, host-local IPAM, routes between nodes) and the
//! service proxy (one nftables table built around shared maps).
