//! The ingress controller: an HTTP/HTTPS reverse proxy on every node routing by Ingress rules
//! straight to ready endpoints.
