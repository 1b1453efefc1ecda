//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: the API server finds the
//! pod's node and forwards the request to that node's kubelet over HTTPS (:10250, client
//! certificate from the cluster CA). Logs stream back as the kubelet writes them; upgraded
//! connections (WebSocket, SPDY) are spliced byte for byte, so every streaming protocol the
//! kubelet speaks reaches kubectl unchanged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tracing::debug;

use crate::http::{channel_body, full, Body};
use crate::ApiServer;
use rkube_apimachinery::status::ApiError;

/// The streaming subresources of pods.
pub(crate) fn match_path(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [ns, "pods", name, sub] if matches!(*sub, "log" | "exec" | "attach" | "portforward") => {
            Some((ns.to_string(), name.to_string(), sub.to_string()))
        }
        _ => None,
    }
}

/// Authorizes a pod stream before anything is forwarded. exec, attach and portforward are
/// `create` whatever the method (a WebSocket upgrade is a GET), as upstream's
/// AuthorizePodWebsocketUpgradeCreatePermission has it; log is `get`.
pub(crate) fn authorize(
    srv: &ApiServer,
    user: &crate::auth::User,
    path: &str,
    sub: &str,
) -> Result<(), ApiError> {
    let crate::request::Route::Resource(rr) = crate::request::route(path, &srv.resources)? else {
        return Ok(());
    };
    let method = if sub == "log" {
        http::Method::GET
    } else {
        http::Method::POST
    };
    crate::authz::authorize(srv, Some(user), &method, &rr, &[], "")
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest", msg)
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn container_names(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request is for, with upstream's errors.
fn pick_container(pod: &Value, name: &str, asked: Option<String>) -> Result<String, ApiError> {
    let containers = container_names(pod, "containers");
    let inits = container_names(pod, "initContainers");
    let ephemeral = container_names(pod, "ephemeralContainers");
    match asked.filter(|c| !c.is_empty()) {
        Some(c) => {
            if containers.contains(&c) || inits.contains(&c) || ephemeral.contains(&c) {
                Ok(c)
            } else {
                Err(bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !inits.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    inits.join(" ")
                ));
            }
            Err(bad_request(msg))
        }
    }
}

/// For logs: a container that never started has nothing to show yet.
fn check_started(pod: &Value, name: &str, container: &str, previous: bool) -> Result<(), ApiError> {
    if previous {
        return Ok(());
    }
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["status"]["initContainerStatuses"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    for s in statuses {
        if s["name"] == container {
            if let Some(w) = s["state"]["waiting"].as_object() {
                if s["lastState"]["terminated"].is_null() {
                    let reason = w.get("reason").and_then(|r| r.as_str()).unwrap_or("");
                    return Err(bad_request(format!(
                        "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                    )));
                }
            }
            return Ok(());
        }
    }
    Err(bad_request(format!(
        "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
    )))
}

/// Where the pod's kubelet listens.
fn kubelet_address(srv: &ApiServer, node_name: &str) -> Result<SocketAddr, ApiError> {
    let node = srv
        .cache
        .get(&format!("/registry/minions/{node_name}"))
        .ok_or_else(|| ApiError::not_found("", "nodes", node_name))?;
    let ip: IpAddr = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| {
            node["status"]["addresses"]
                .as_array()
                .and_then(|a| a.first())
        })
        .and_then(|a| a["address"].as_str())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("no address for node {node_name:?}"),
            )
        })?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(10250);
    Ok(SocketAddr::new(ip, port))
}

/// An HTTP/1.1 connection (with upgrades) to a node's kubelet.
async fn connect(
    srv: &ApiServer,
    node: &str,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>>,
        SocketAddr,
    ),
    ApiError,
> {
    let addr = kubelet_address(srv, node)?;
    let tls = srv
        .kubelet_tls
        .clone()
        .ok_or_else(|| ApiError::new(503, "ServiceUnavailable", "no kubelet client credentials"))?;
    let unavailable = |what: String| ApiError::new(503, "ServiceUnavailable", what);
    let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| unavailable(format!("dial tcp {addr}: i/o timeout")))?
        .map_err(|e| unavailable(format!("dial tcp {addr}: {e}")))?;
    let server_name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| unavailable(format!("kubelet TLS handshake with {addr}: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable(format!("kubelet connection {addr}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            debug!("kubelet connection ended: {e}");
        }
    });
    Ok((sender, addr))
}

/// `GET path` on a node's kubelet, the whole body (at most 16 MiB).
pub(crate) async fn kubelet_get(
    srv: &ApiServer,
    node: &str,
    path: &str,
) -> Result<Bytes, ApiError> {
    let (mut sender, addr) = connect(srv, node).await?;
    let req = Request::builder()
        .uri(path)
        .header(http::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| ApiError::internal(format!("build kubelet request: {e}")))?;
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .map_err(|_| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("kubelet {addr} timed out"),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("kubelet request to {addr}: {e}"),
            )
        })?;
    let status = resp.status();
    let body = http_body_util::Limited::new(resp.into_body(), 16 << 20)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("kubelet body from {addr}: {e}"),
            )
        })?;
    if !status.is_success() {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!("kubelet {addr} answered {status}"),
        ));
    }
    Ok(body)
}

/// Handles one pod streaming request end to end.
pub(crate) async fn handle(
    srv: &Arc<ApiServer>,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
    sub: &str,
) -> Result<Response<Body>, ApiError> {
    let pod = srv
        .cache
        .get(&format!("/registry/pods/{ns}/{name}"))
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let query = req.uri().query().map(String::from);
    let node = pod["spec"]["nodeName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad_request(format!("pod {name} does not have a host assigned")))?
        .to_string();
    let target = match sub {
        "portforward" => format!("/portForward/{ns}/{name}"),
        _ => {
            let container = pick_container(&pod, name, query_param(query.as_deref(), "container"))?;
            if sub == "log" {
                let previous = query_param(query.as_deref(), "previous").as_deref() == Some("true");
                check_started(&pod, name, &container, previous)?;
            }
            let path = match sub {
                "log" => "containerLogs",
                other => other,
            };
            format!("/{path}/{ns}/{name}/{container}")
        }
    };
    let target = match &query {
        Some(q) => format!("{target}?{q}"),
        None => target,
    };
    let (mut sender, addr) = connect(srv, &node).await?;
    let unavailable = |what: String| ApiError::new(503, "ServiceUnavailable", what);
    let mut forward = Request::builder().method(req.method()).uri(&target);
    for (k, v) in req.headers() {
        if k != http::header::HOST && k != http::header::AUTHORIZATION {
            forward = forward.header(k, v);
        }
    }
    let forward = forward
        .header(http::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| ApiError::internal(format!("build kubelet request: {e}")))?;
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut resp = sender
        .send_request(forward)
        .await
        .map_err(|e| unavailable(format!("kubelet request to {addr}: {e}")))?;
    let status = resp.status();
    let mut out = Response::builder().status(status);
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let kubelet_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, kubelet) = match tokio::join!(client_upgrade, kubelet_upgrade) {
                (Ok(c), Ok(k)) => (c, k),
                (c, k) => {
                    debug!(client = ?c.err(), kubelet = ?k.err(), "upgrade failed");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut kubelet = TokioIo::new(kubelet);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut kubelet).await;
        });
        return out
            .body(full(Bytes::new()))
            .map_err(|e| ApiError::internal(e.to_string()));
    }
    if status.is_client_error() || status.is_server_error() {
        // The kubelet's error text becomes a Status, as kubectl expects from the API server.
        let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_string();
        let reason = match status.as_u16() {
            400 => "BadRequest",
            404 => "NotFound",
            403 => "Forbidden",
            _ => "InternalError",
        };
        return Err(ApiError::new(status.as_u16(), reason, text));
    }
    // A streamed body (logs): copied chunk by chunk.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut body = resp.into_body();
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                if tx.send(data).await.is_err() {
                    break;
                }
            }
        }
    });
    out.body(channel_body(rx))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        assert_eq!(
            match_path("/api/v1/namespaces/default/pods/web/exec"),
            Some(("default".into(), "web".into(), "exec".into()))
        );
        assert_eq!(
            match_path("/api/v1/namespaces/default/pods/web/status"),
            None
        );
        assert_eq!(
            query_param(
                Some("command=echo&command=hi&container=web%2Dx"),
                "container"
            )
            .as_deref(),
            Some("web-x")
        );
        assert_eq!(query_param(Some("follow"), "follow").as_deref(), Some(""));
    }

    #[test]
    fn container_choice_errors_as_upstream() {
        let pod = serde_json::json!({"spec": {"containers": [{"name": "main"}, {"name": "sidecar"}],
                                              "initContainers": [{"name": "init"}]}});
        assert_eq!(
            pick_container(&pod, "multi", None).map_err(|e| e.message),
            Err("a container name must be specified for pod multi, choose one of: [main sidecar] or one of the init containers: [init]".to_string())
        );
        assert_eq!(
            pick_container(&pod, "multi", Some("nope".into())).map_err(|e| e.message),
            Err("container nope is not valid for pod multi".to_string())
        );
        assert_eq!(
            pick_container(&pod, "multi", Some("init".into())).ok(),
            Some("init".into())
        );
    }
}
