//! What the first start of a server creates: the namespaces every cluster has, the
//! `kubernetes` Service and the system PriorityClasses. Idempotent: existing objects are
//! left alone.

use serde_json::{json, Value};
use tracing::info;

use crate::object::{now_rfc3339, to_stored};
use crate::{anyhow_free, ApiServer};

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "uid": uuid::Uuid::new_v4().to_string(),
        "creationTimestamp": now_rfc3339(),
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

pub async fn run(srv: &ApiServer) -> anyhow_free::Result<()> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let mut m = meta(ns, None);
        m["labels"] = json!({"kubernetes.io/metadata.name": ns});
        let obj = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": m,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        create_if_missing(srv, &format!("/registry/namespaces/{ns}"), &obj).await?;
    }
    let ip = srv.config.service_cidr.nth(1).to_string();
    let mut m = meta("kubernetes", Some("default"));
    m["labels"] = json!({"component": "apiserver", "provider": "kubernetes"});
    let svc = json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": m,
        "spec": {
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": srv.config.listen.port()}],
            "clusterIP": ip,
            "clusterIPs": [ip],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    });
    create_if_missing(srv, "/registry/services/specs/default/kubernetes", &svc).await?;
    // The API server's own endpoints (upstream's endpoint reconciler for the `kubernetes`
    // Service): this server's node IP and port.
    let ip = srv
        .config
        .node_ips
        .first()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let port = srv.config.listen.port();
    let mut m = meta("kubernetes", Some("default"));
    m["labels"] = json!({"endpointslice.kubernetes.io/skip-mirror": "true"});
    let ep = json!({
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": m,
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    create_if_missing(srv, "/registry/services/endpoints/default/kubernetes", &ep).await?;
    let mut m = meta("kubernetes", Some("default"));
    m["labels"] = json!({"kubernetes.io/service-name": "kubernetes"});
    let slice = json!({
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": m,
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    create_if_missing(srv, "/registry/endpointslices/default/kubernetes", &slice).await?;
    for (key, name, mut pc) in crate::priority::system_classes() {
        pc["metadata"] = meta(name, None);
        create_if_missing(srv, &key, &pc).await?;
    }
    Ok(())
}

async fn create_if_missing(srv: &ApiServer, key: &str, obj: &Value) -> anyhow_free::Result<()> {
    match srv.store.create(key, to_stored(obj)).await {
        Ok(_) => {
            info!(%key, "created");
            Ok(())
        }
        Err(rkube_store::StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(anyhow_free::Error::msg(format!("bootstrap {key}: {e}"))),
    }
}
