//! The node agent: registers the Node, renews its Lease, runs one worker per pod that converges
//! runtime state to the pod spec, and reports status.
