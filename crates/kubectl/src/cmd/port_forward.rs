//! `kubectl port-forward`: local TCP ports forwarded to a pod's ports.
//!
//! The tunnel is SPDY/3.1 on an upgraded connection (`portforward.k8s.io`), the protocol
//! every Kubernetes API server serves for port-forward; kube-rs's own port-forward speaks a
//! WebSocket channel protocol that rkube's kubelet does not. Each local connection gets an
//! `error` and a `data` stream with the same `requestid`, as kubectl opens them.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ctx::{status_error, Ctx};
use crate::error::{Error, Result};
use crate::pods::{self, Rank};
use crate::resource::{split_type_name, Resolver};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE/NAME (or POD), then [LOCAL_PORT:]REMOTE_PORT...
    pub args: Vec<String>,
    /// Addresses to listen on (comma separated); localhost means 127.0.0.1 and ::1.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    pub address: Vec<String>,
    /// The length of time to wait until at least one pod is running.
    #[arg(long, default_value = "1m0s")]
    pub pod_running_timeout: String,
}

/// One forwarded port: where we listen and the pod port it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortSpec {
    local: Option<u16>,
    remote: u16,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if a.args.len() < 2 {
        return Err(Error::usage(
            "port-forward",
            "TYPE/NAME and list of ports are required for port-forward",
        ));
    }
    let timeout = super::exec::pod_running_timeout(&a.pod_running_timeout, "port-forward")?;
    let resource = &a.args[0];
    let mut resolver = Resolver::new();
    let (pod, _) = pods::pick_pod(ctx, &mut resolver, resource, timeout, Rank::Attachable).await?;
    let specs: Vec<String> = match split_type_name(resource) {
        (t, Some(name)) if resolver.resolve(ctx, t).await?.kind == "Service" => {
            let path = format!("/api/v1/namespaces/{}/services/{name}", ctx.namespace);
            let svc = ctx.get_json(&path).await?;
            a.args[1..]
                .iter()
                .map(|p| service_port_to_target(&svc, &pod, p))
                .collect::<Result<_>>()?
        }
        _ => a.args[1..].to_vec(),
    };
    let ports = specs
        .iter()
        .map(|s| parse_port(&pod, s))
        .collect::<Result<Vec<_>>>()?;
    let phase = pods::pod_phase(&pod);
    if phase != "Running" {
        return Err(Error::client(format!(
            "unable to forward port because pod is not running. Current status={phase}"
        )));
    }

    let session = Arc::new(connect(ctx, pods::namespace(&pod), pods::name(&pod)).await?);
    let request_ids = Arc::new(AtomicU64::new(0));
    let mut listeners = Vec::new();
    for p in &ports {
        let bound = listen(&a.address, p).await?;
        for (l, addr) in bound {
            println!("Forwarding from {addr} -> {}", p.remote);
            listeners.push((l, addr.port(), p.remote));
        }
    }
    for (listener, local, remote) in listeners {
        let session = session.clone();
        let ids = request_ids.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                println!("Handling connection for {local}");
                let id = ids.fetch_add(1, Ordering::SeqCst);
                let session = session.clone();
                tokio::spawn(async move {
                    if let Err(e) = forward(&session, conn, remote, id).await {
                        eprintln!("error: an error occurred forwarding {local} -> {remote}: {e}");
                    }
                });
            }
        });
    }
    // ^C ends forwarding quietly with success, as kubectl's stop channel does.
    tokio::select! {
        _ = session.closed() => Err(Error::client("lost connection to pod")),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// `translateServicePortToTargetPort`: a service port becomes the pod port it targets
/// (a named target port is looked up in the pod's containers).
fn service_port_to_target(svc: &Value, pod: &Value, spec: &str) -> Result<String> {
    let (local, remote) = match spec.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, spec),
    };
    let Ok(port) = remote.parse::<i64>() else {
        return Ok(spec.to_string());
    };
    let svc_name = svc["metadata"]["name"].as_str().unwrap_or_default();
    let sp = svc["spec"]["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["port"].as_i64() == Some(port)))
        .ok_or_else(|| {
            Error::client(format!(
                "Service {svc_name} does not have a service port {port}"
            ))
        })?;
    let target = match &sp["targetPort"] {
        Value::Number(n) => n.as_i64().unwrap_or(port),
        Value::String(name) => container_port_by_name(pod, name).ok_or_else(|| {
            Error::client(format!(
                "Pod '{}' does not have a named port '{name}'",
                pods::name(pod)
            ))
        })?,
        _ => port,
    };
    let local = local.map(String::from).unwrap_or_else(|| port.to_string());
    if local == target.to_string() && spec.split_once(':').is_none() {
        return Ok(local);
    }
    Ok(format!("{local}:{target}"))
}

fn container_port_by_name(pod: &Value, name: &str) -> Option<i64> {
    pod["spec"]["containers"].as_array()?.iter().find_map(|c| {
        c["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_i64())
    })
}

/// `[LOCAL:]REMOTE`, REMOTE a number or a named container port; an empty LOCAL (`:80`)
/// lets the system pick.
fn parse_port(pod: &Value, spec: &str) -> Result<PortSpec> {
    let (local, remote) = match spec.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, spec),
    };
    // kubectl reads a lone port as the local one first.
    if local.is_none() && remote.parse::<i64>().is_ok() {
        if let Err(e) = remote.parse::<u16>() {
            return Err(Error::client(format!(
                "error parsing local port '{remote}': strconv.ParseUint: parsing \"{remote}\": {}",
                go_parse_error(&e)
            )));
        }
    }
    let remote_num = match remote.parse::<u16>() {
        Ok(n) => n,
        Err(_) if remote.parse::<i64>().is_err() => {
            let n = container_port_by_name(pod, remote).ok_or_else(|| {
                Error::client(format!(
                    "Pod '{}' does not have a named port '{remote}'",
                    pods::name(pod)
                ))
            })?;
            u16::try_from(n).map_err(|_| {
                Error::client(format!(
                    "error parsing remote port '{remote}': invalid port"
                ))
            })?
        }
        Err(e) => {
            return Err(Error::client(format!(
                "error parsing remote port '{remote}': strconv.ParseUint: parsing \"{remote}\": {}",
                go_parse_error(&e)
            )))
        }
    };
    if remote_num == 0 {
        return Err(Error::client("remote port must be > 0"));
    }
    let local = match local {
        None => Some(remote_num),
        Some("") => None,
        Some(l) => Some(l.parse::<u16>().map_err(|e| {
            Error::client(format!(
                "error parsing local port '{l}': strconv.ParseUint: parsing \"{l}\": {}",
                go_parse_error(&e)
            ))
        })?),
    };
    Ok(PortSpec {
        local,
        remote: remote_num,
    })
}

fn go_parse_error(e: &std::num::ParseIntError) -> &'static str {
    match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            "value out of range"
        }
        _ => "invalid syntax",
    }
}

/// Binds the port on every address (`localhost` = 127.0.0.1 and ::1, like kubectl, which
/// fails only when none of them can be bound). A picked port is reused for the others.
async fn listen(addresses: &[String], p: &PortSpec) -> Result<Vec<(TcpListener, SocketAddr)>> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addresses {
        match a.as_str() {
            "localhost" => {
                ips.push(IpAddr::from([127, 0, 0, 1]));
                ips.push(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
            }
            other => ips.push(
                other
                    .parse()
                    .map_err(|_| Error::client(format!("{other} is not a valid IP")))?,
            ),
        }
    }
    let mut port = p.local.unwrap_or(0);
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for ip in ips {
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(l) => {
                let addr = l.local_addr()?;
                port = addr.port();
                out.push((l, addr));
            }
            Err(e) => errors.push(format!(
                "unable to create listener: Error listen tcp{}: {e}",
                if ip.is_ipv4() { "4" } else { "6" }
            )),
        }
    }
    if out.is_empty() {
        return Err(Error::client(format!(
            "Unable to listen on port {}: Listeners failed to create with the following errors: [{}]",
            p.local.unwrap_or(0),
            errors.join(" ")
        )));
    }
    Ok(out)
}

/// Upgrades a request on `…/portforward` to SPDY/3.1 and starts the client session.
async fn connect(ctx: &Ctx, ns: &str, pod: &str) -> Result<spdy::Session> {
    let path = format!("/api/v1/namespaces/{ns}/pods/{pod}/portforward");
    let req = Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", "portforward.k8s.io")
        .header(http::header::CONTENT_LENGTH, "0")
        .body(kube::client::Body::empty())
        .map_err(|e| Error::client(format!("building the port-forward request: {e}")))?;
    let res = ctx
        .client()
        .send(req)
        .await
        .map_err(|e| Error::client(format!("error upgrading connection: {e}")))?;
    if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        let s = status_error(status, &body);
        return Err(Error::client(format!(
            "error upgrading connection: {}",
            s.message
        )));
    }
    let upgraded = hyper::upgrade::on(res)
        .await
        .map_err(|e| Error::client(format!("error upgrading connection: {e}")))?;
    let (session, _incoming) = spdy::Session::client(hyper_util::rt::TokioIo::new(upgraded));
    Ok(session)
}

/// One local connection: an error stream and a data stream to the pod port, bytes copied
/// both ways until either side ends.
async fn forward(
    session: &spdy::Session,
    mut conn: TcpStream,
    remote: u16,
    id: u64,
) -> std::result::Result<(), String> {
    let port = remote.to_string();
    let rid = id.to_string();
    let mut error_stream = session
        .open_stream(
            &[
                ("streamtype", "error"),
                ("port", &port),
                ("requestid", &rid),
            ],
            true,
        )
        .await
        .map_err(|e| format!("error creating error stream for port {remote}: {e}"))?;
    let mut data = session
        .open_stream(
            &[("streamtype", "data"), ("port", &port), ("requestid", &rid)],
            false,
        )
        .await
        .map_err(|e| format!("error creating forwarding stream for port {remote}: {e}"))?;
    error_stream
        .wait_reply()
        .await
        .map_err(|e| format!("error creating error stream for port {remote}: {e}"))?;
    data.wait_reply()
        .await
        .map_err(|e| format!("error creating forwarding stream for port {remote}: {e}"))?;
    let writer = data.writer();
    let (mut rd, mut wr) = conn.split();
    let to_pod = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.send(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = writer.close().await;
    };
    let from_pod = async {
        while let Some(chunk) = data.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let remote_error = async {
        let mut text = Vec::new();
        while let Some(chunk) = error_stream.recv().await {
            text.extend_from_slice(&chunk);
        }
        text
    };
    let ((), (), err) = tokio::join!(to_pod, from_pod, remote_error);
    if !err.is_empty() {
        return Err(String::from_utf8_lossy(&err).trim().to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_parse_like_kubectl() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]}});
        assert_eq!(
            parse_port(&pod, "9000:80").ok(),
            Some(PortSpec {
                local: Some(9000),
                remote: 80
            })
        );
        assert_eq!(
            parse_port(&pod, ":http").ok(),
            Some(PortSpec {
                local: None,
                remote: 8080
            })
        );
        assert_eq!(
            parse_port(&pod, "nope").err().map(|e| e.to_string()),
            Some("error: Pod 'p' does not have a named port 'nope'".into())
        );
        let svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [
            {"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 9090}]}});
        assert_eq!(
            service_port_to_target(&svc, &pod, "80").ok().as_deref(),
            Some("80:8080")
        );
        assert_eq!(
            service_port_to_target(&svc, &pod, "7:81").ok().as_deref(),
            Some("7:9090")
        );
        assert!(service_port_to_target(&svc, &pod, "82").is_err());
    }
}
