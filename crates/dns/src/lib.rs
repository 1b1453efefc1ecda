//! Cluster DNS: answers `<svc>.<ns>.svc.<domain>` from Services and EndpointSlices and
//! forwards everything else to the node's upstream resolvers.
