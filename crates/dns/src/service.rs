//! The `kube-system/kube-dns` Service, as every distribution creates it: it reserves the
//! cluster DNS address in the Service range (so no other Service is allocated it) and tells
//! tools where DNS is. Its address is served by the DNS server on every node (the agent puts
//! it on the node's loopback), so the service proxy leaves it alone: see
//! [`NODE_LOCAL_ANNOTATION`].

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use serde_json::json;

/// Services with this annotation are answered on every node itself, not proxied.
pub const NODE_LOCAL_ANNOTATION: &str = "rkube.io/node-local";

/// Creates the Service if it is missing.
pub async fn ensure_service(client: kube::Client, ip: IpAddr) -> anyhow::Result<()> {
    let api: Api<Service> = Api::namespaced(client, "kube-system");
    if api.get_opt("kube-dns").await?.is_some() {
        return Ok(());
    }
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                       "kubernetes.io/name": "CoreDNS"},
            "annotations": {NODE_LOCAL_ANNOTATION: "true"},
        },
        "spec": {
            "clusterIP": ip.to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    }))?;
    match api.create(&PostParams::default(), &svc).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
