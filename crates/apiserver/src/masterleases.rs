//! The `kubernetes` Service's endpoints when several servers share a datastore (upstream's
//! lease endpoint reconciler): every server renews `/registry/masterleases/<ip>` every 10 s
//! with a 15 s expiry and rewrites the Endpoints and EndpointSlice `default/kubernetes` to
//! the addresses of the servers whose leases are live. A server that stops removes its
//! lease, so clients in pods move to the others.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::object::to_stored;
use crate::ApiServer;

const PREFIX: &str = "/registry/masterleases/";
const RENEW: Duration = Duration::from_secs(10);
const TTL_SECS: i64 = 15;
const ENDPOINTS: &str = "/registry/services/endpoints/default/kubernetes";
const SLICE: &str = "/registry/endpointslices/default/kubernetes";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn start(srv: Arc<ApiServer>, shutdown: CancellationToken) {
    let Some(ip) = srv.config.node_ips.first().map(|i| i.to_string()) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            if let Err(e) = renew(&srv, &ip).await {
                warn!("master lease: {e}");
            }
            if let Err(e) = reconcile(&srv).await {
                warn!("kubernetes endpoints: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(RENEW) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        // Leaving: drop our lease and our address at once.
        let _ = srv.store.delete(&format!("{PREFIX}{ip}"), None).await;
        if let Err(e) = reconcile(&srv).await {
            debug!("kubernetes endpoints on shutdown: {e}");
        }
    });
}

async fn renew(srv: &ApiServer, ip: &str) -> Result<(), rkube_store::StoreError> {
    let key = format!("{PREFIX}{ip}");
    let value =
        serde_json::to_vec(&json!({"ip": ip, "expires": now() + TTL_SECS})).unwrap_or_default();
    match srv.store.update(&key, value.clone(), None).await {
        Ok(_) => Ok(()),
        Err(rkube_store::StoreError::NotFound { .. }) => {
            srv.store.create(&key, value).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// The addresses of live servers, sorted.
async fn live(srv: &ApiServer) -> Result<Vec<String>, rkube_store::StoreError> {
    let list = srv.store.list(PREFIX, Default::default()).await?;
    let t = now();
    let mut ips: Vec<String> = list
        .items
        .iter()
        .filter_map(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
        .filter(|v| v["expires"].as_i64().is_some_and(|e| e > t))
        .filter_map(|v| v["ip"].as_str().map(str::to_string))
        .collect();
    ips.sort();
    ips.dedup();
    Ok(ips)
}

async fn reconcile(srv: &ApiServer) -> Result<(), rkube_store::StoreError> {
    let ips = live(srv).await?;
    if ips.is_empty() {
        return Ok(());
    }
    let port = srv.config.listen.port();
    if let Some(kv) = srv.store.get(ENDPOINTS).await? {
        let mut ep: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        let addresses: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        let want = json!([{"addresses": addresses, "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]);
        if ep.is_object() && ep["subsets"] != want {
            ep["subsets"] = want;
            srv.store
                .update(ENDPOINTS, to_stored(&ep), Some(kv.mod_revision))
                .await?;
            info!(servers = ?ips, "kubernetes endpoints updated");
        }
    }
    if let Some(kv) = srv.store.get(SLICE).await? {
        let mut slice: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        let want: Vec<Value> = ips
            .iter()
            .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
            .collect();
        if slice.is_object() && slice["endpoints"] != json!(want) {
            slice["endpoints"] = json!(want);
            srv.store
                .update(SLICE, to_stored(&slice), Some(kv.mod_revision))
                .await?;
        }
    }
    Ok(())
}
