//! Startup, liveness and readiness probes (httpGet, tcpSocket, exec, grpc) with upstream's timing
//! fields and thresholds, and preStop hooks.
//!
//! Network probes run *inside the pod's network namespace* (a short-lived thread joins it),
//! so they reach the pod's ports whether or not a pod network is set up, and never depend
//! on routing from the host.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_runtime::ContainerStatus;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::events::Involved;
use crate::Agent;

#[derive(Debug, Clone, Default)]
struct State {
    container_id: String,
    started: bool,
    ready: bool,
}

/// Probe workers of one pod and their results.
pub struct Manager {
    agent: Arc<Agent>,
    states: Arc<Mutex<HashMap<String, State>>>,
    restarts: Arc<Mutex<Vec<String>>>,
    tasks: HashMap<String, Vec<JoinHandle<()>>>,
    notify: Arc<Notify>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What one probe attempt found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Success,
    Failure(String),
}

impl Manager {
    pub fn new(agent: Arc<Agent>) -> Self {
        Manager {
            agent,
            states: Arc::default(),
            restarts: Arc::default(),
            tasks: HashMap::new(),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the container passed its startup probe (true without one). Before its
    /// probes run (a container started in this very sync) only the spec can tell.
    pub fn started(&self, c: &Container) -> bool {
        self.lock()
            .get(&c.name)
            .map(|s| s.started)
            .unwrap_or(c.startup_probe.is_none())
    }

    /// Whether the container passes its readiness probe (true without one, once started).
    pub fn ready(&self, c: &Container) -> bool {
        self.lock()
            .get(&c.name)
            .map(|s| s.ready)
            .unwrap_or(c.readiness_probe.is_none())
    }

    /// Liveness or startup failures since the last call: containers to restart.
    pub fn take_restarts(&self) -> Vec<String> {
        std::mem::take(&mut *self.restarts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Resolves when a probe result changes.
    pub async fn changed(&self) {
        self.notify.notified().await
    }

    pub fn forget(&mut self, name: &str) {
        if let Some(ts) = self.tasks.remove(name) {
            for t in ts {
                t.abort();
            }
        }
        self.lock().remove(name);
    }

    pub fn stop_all(&mut self) {
        for (_, ts) in self.tasks.drain() {
            for t in ts {
                t.abort();
            }
        }
    }

    /// Starts the probe workers of a running container (once per container id).
    pub fn ensure(&mut self, pod: &Pod, c: &Container, running: &ContainerStatus) {
        if self.lock().get(&c.name).map(|s| s.container_id.as_str()) == Some(running.id.as_str()) {
            return;
        }
        self.forget(&c.name);
        let has_startup = c.startup_probe.is_some();
        self.lock().insert(
            c.name.clone(),
            State {
                container_id: running.id.clone(),
                started: !has_startup,
                ready: c.readiness_probe.is_none(),
            },
        );
        let mut tasks = Vec::new();
        for (kind, probe) in [
            (Kind::Startup, &c.startup_probe),
            (Kind::Liveness, &c.liveness_probe),
            (Kind::Readiness, &c.readiness_probe),
        ] {
            let Some(probe) = probe.clone() else { continue };
            let w = ProbeWorker {
                agent: self.agent.clone(),
                pod: pod.clone(),
                container: c.clone(),
                container_id: running.id.clone(),
                kind,
                probe,
                states: self.states.clone(),
                restarts: self.restarts.clone(),
                notify: self.notify.clone(),
                netns: self.netns(running),
            };
            tasks.push(tokio::spawn(w.run()));
        }
        self.tasks.insert(c.name.clone(), tasks);
        self.notify.notify_one();
    }

    fn netns(&self, c: &ContainerStatus) -> Option<PathBuf> {
        Some(self.agent.runtime.pod_sandbox_netns(&c.sandbox_id)).filter(|p| p.exists())
    }
}

struct ProbeWorker {
    agent: Arc<Agent>,
    pod: Pod,
    container: Container,
    container_id: String,
    kind: Kind,
    probe: Probe,
    states: Arc<Mutex<HashMap<String, State>>>,
    restarts: Arc<Mutex<Vec<String>>>,
    notify: Arc<Notify>,
    netns: Option<PathBuf>,
}

impl ProbeWorker {
    fn started(&self) -> bool {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.container.name)
            .is_some_and(|s| s.started)
    }

    fn set(&self, f: impl FnOnce(&mut State)) {
        let mut m = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.get_mut(&self.container.name) {
            if s.container_id == self.container_id {
                f(s);
            }
        }
        drop(m);
        self.notify.notify_one();
    }

    async fn run(self) {
        let p = &self.probe;
        let initial = p.initial_delay_seconds.unwrap_or(0).max(0) as u64;
        let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
        let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
        let success_threshold = p.success_threshold.unwrap_or(1).max(1);
        let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
        tokio::time::sleep(Duration::from_secs(initial)).await;
        let (mut successes, mut failures) = (0, 0);
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            if self.kind != Kind::Startup && !self.started() {
                continue;
            }
            let outcome = self.attempt(timeout).await;
            match outcome {
                Outcome::Success => {
                    failures = 0;
                    successes += 1;
                    if successes >= success_threshold {
                        match self.kind {
                            Kind::Startup => {
                                self.set(|s| s.started = true);
                                return;
                            }
                            Kind::Readiness => self.set(|s| s.ready = true),
                            Kind::Liveness => {}
                        }
                    }
                }
                Outcome::Failure(msg) => {
                    successes = 0;
                    failures += 1;
                    self.event(
                        "Warning",
                        "Unhealthy",
                        &format!("{} probe failed: {msg}", self.kind.label()),
                    )
                    .await;
                    if failures >= failure_threshold {
                        match self.kind {
                            Kind::Readiness => self.set(|s| s.ready = false),
                            Kind::Liveness | Kind::Startup => {
                                let what = if self.kind == Kind::Liveness {
                                    "liveness"
                                } else {
                                    "startup"
                                };
                                self.event(
                                    "Normal",
                                    "Killing",
                                    &format!(
                                        "Container {} failed {what} probe, will be restarted",
                                        self.container.name
                                    ),
                                )
                                .await;
                                self.restarts
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(self.container.name.clone());
                                self.set(|s| s.ready = false);
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    async fn attempt(&self, timeout: Duration) -> Outcome {
        let p = &self.probe;
        if let Some(exec) = &p.exec {
            let cmd = exec.command.clone().unwrap_or_default();
            return match self
                .agent
                .runtime
                .exec_sync(&self.container_id, &cmd, timeout)
                .await
            {
                Ok(r) if r.exit_code == 0 => Outcome::Success,
                Ok(r) => {
                    let mut out = String::from_utf8_lossy(&r.stdout).to_string();
                    out.push_str(&String::from_utf8_lossy(&r.stderr));
                    Outcome::Failure(out)
                }
                Err(e) => Outcome::Failure(e.to_string()),
            };
        }
        let pod_ip = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        if let Some(h) = &p.http_get {
            let Some(port) = resolve_port(&h.port, &self.container) else {
                return Outcome::Failure(format!("unknown port {:?}", h.port));
            };
            let host = h.host.clone().unwrap_or_else(|| pod_ip.clone());
            let scheme = h.scheme.clone().unwrap_or_else(|| "HTTP".into());
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let headers: Vec<(String, String)> = h
                .http_headers
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|hh| (hh.name, hh.value))
                .collect();
            return http_probe(
                self.netns.clone(),
                host,
                port,
                scheme,
                path,
                headers,
                timeout,
            )
            .await;
        }
        if let Some(t) = &p.tcp_socket {
            let Some(port) = resolve_port(&t.port, &self.container) else {
                return Outcome::Failure(format!("unknown port {:?}", t.port));
            };
            let host = t.host.clone().unwrap_or_else(|| pod_ip.clone());
            return in_netns(self.netns.clone(), move || {
                match connect(&host, port, timeout) {
                    Ok(_) => Outcome::Success,
                    Err(e) => Outcome::Failure(e),
                }
            })
            .await;
        }
        if let Some(g) = &p.grpc {
            let Ok(port) = u16::try_from(g.port) else {
                return Outcome::Failure(format!("invalid port {}", g.port));
            };
            let service = g.service.clone().unwrap_or_default();
            return crate::grpc_probe::probe(self.netns.clone(), pod_ip, port, service, timeout)
                .await;
        }
        Outcome::Success
    }

    async fn event(&self, type_: &str, reason: &str, msg: &str) {
        let obj = Involved {
            kind: "Pod",
            api_version: "v1",
            namespace: self.pod.metadata.namespace.as_deref().unwrap_or("default"),
            name: self.pod.metadata.name.as_deref().unwrap_or(""),
            uid: self.pod.metadata.uid.as_deref().unwrap_or(""),
            field_path: Some(format!("spec.containers{{{}}}", self.container.name)),
        };
        self.agent.events.record(&obj, type_, reason, msg).await;
    }
}

/// A port number, or a named container port.
fn resolve_port(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(s) => s.parse().ok().or_else(|| {
            c.ports
                .as_ref()?
                .iter()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }),
    }
}

pub(crate) fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("dial tcp {host}:{port}: no address"))?;
    TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                "i/o timeout".to_string()
            }
            _ => e.to_string(),
        };
        format!("dial tcp {addr}: {why}")
    })
}

/// Runs `f` on a fresh thread that joined the network namespace at `netns` (the thread ends
/// with the call, so no pooled thread is ever left in a pod's namespace).
async fn in_netns(netns: Option<PathBuf>, f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(match enter_netns(netns) {
            Ok(()) => f(),
            Err(e) => Outcome::Failure(e),
        });
    });
    rx.await
        .unwrap_or_else(|_| Outcome::Failure("probe thread failed".into()))
}

/// Runs `f` on a fresh thread inside `netns`; if the namespace cannot be entered, `f` is
/// dropped unrun (its caller sees its channel close).
pub(crate) fn on_netns_thread(netns: Option<PathBuf>, f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        if enter_netns(netns).is_ok() {
            f();
        }
    });
}

fn enter_netns(netns: Option<PathBuf>) -> Result<(), String> {
    let Some(ns) = netns else {
        return Ok(());
    };
    let file = std::fs::File::open(&ns).map_err(|e| format!("open pod network: {e}"))?;
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("enter pod network: {e}"))
}

async fn http_probe(
    netns: Option<PathBuf>,
    host: String,
    port: u16,
    scheme: String,
    path: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
) -> Outcome {
    let https = scheme.eq_ignore_ascii_case("HTTPS");
    in_netns(netns, move || {
        let url = format!(
            "{}://{}/{}",
            if https { "https" } else { "http" },
            hostport(&host, port),
            path.trim_start_matches('/')
        );
        let tcp = match connect(&host, port, timeout) {
            Ok(s) => s,
            Err(e) => return Outcome::Failure(format!("Get \"{url}\": {e}")),
        };
        let _ = tcp.set_read_timeout(Some(timeout));
        let _ = tcp.set_write_timeout(Some(timeout));
        let req = probe_request(&path, &hostport(&host, port), &headers);
        let status_line = if https {
            match tls_client(&host) {
                Ok(conn) => exchange(rustls::StreamOwned::new(conn, tcp), &req, timeout),
                Err(e) => Err(e),
            }
        } else {
            exchange(tcp, &req, timeout)
        };
        let line = match status_line {
            Ok(l) => l,
            Err(e) => return Outcome::Failure(format!("Get \"{url}\": {e}")),
        };
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if (200..400).contains(&code) {
            Outcome::Success
        } else if code == 0 {
            Outcome::Failure(format!("Get \"{url}\": malformed HTTP response"))
        } else {
            Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
        }
    })
    .await
}

/// The probe's request head. Like upstream's prober, a user's `Host`, `User-Agent` or
/// `Accept` header replaces the default instead of being sent twice.
fn probe_request(path: &str, default_host: &str, headers: &[(String, String)]) -> String {
    let given = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    let host = given("Host").map_or(default_host, |(_, v)| v.as_str());
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    if given("User-Agent").is_none() {
        req.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if given("Accept").is_none() {
        req.push_str("Accept: */*\r\n");
    }
    req.push_str("Connection: close\r\n");
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("Host") {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    req
}

/// Sends the request and reads up to the end of the status line.
fn exchange(mut s: impl Read + Write, req: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        if Instant::now() > deadline {
            return Err(
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into(),
            );
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return Err(format!(
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers): {e}"
            ))
            }
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Accepts any server certificate (handshake signatures are still checked). Upstream's
/// prober does not verify certificates (`InsecureSkipVerify`): a probe checks that the
/// container answers, not who it is. An agent also uses it once to fetch the cluster CA
/// that its join token's hash then vouches for.
#[derive(Debug)]
pub struct AnyCert(pub Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_client(host: &str) -> Result<rustls::ClientConnection, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("server name {host:?}: {e}"))?;
    rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())
}

pub(crate) fn hostport(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Runs a container's preStop hook (exec or httpGet) before it is stopped, within the
/// grace period.
pub async fn pre_stop(
    agent: &Agent,
    pod: &Pod,
    c: &Container,
    running: &ContainerStatus,
    deadline: Instant,
) {
    let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()) else {
        return;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if let Some(exec) = hook.exec {
        let cmd = exec.command.unwrap_or_default();
        let _ = agent.runtime.exec_sync(&running.id, &cmd, left).await;
    } else if let Some(h) = hook.http_get {
        if let Some(port) = resolve_port(&h.port, c) {
            let netns = Some(agent.runtime.pod_sandbox_netns(&running.sandbox_id));
            let host = h
                .host
                .or_else(|| pod.status.as_ref().and_then(|s| s.pod_ip.clone()))
                .unwrap_or_else(|| "127.0.0.1".into());
            let _ = tokio::time::timeout(
                left,
                http_probe(
                    netns,
                    host,
                    port,
                    h.scheme.unwrap_or_else(|| "HTTP".into()),
                    h.path.unwrap_or_else(|| "/".into()),
                    vec![],
                    left,
                ),
            )
            .await;
        }
    } else if let Some(sleep) = hook.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64).min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// A one-shot HTTPS server on loopback with a fresh self-signed certificate.
    fn https_server(status: &'static str) -> u16 {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=probe",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
            .expect("certs")
            .collect::<Result<_, _>>()
            .expect("cert");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).expect("key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("config"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((tcp, _)) = listener.accept() {
                let conn = rustls::ServerConnection::new(config).expect("conn");
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                );
                let _ = s.flush();
            }
        });
        port
    }

    #[test]
    fn a_users_host_header_replaces_the_default() {
        let h = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            probe_request("/healthz", "10.42.0.5:8080", &[]),
            "GET /healthz HTTP/1.1\r\nHost: 10.42.0.5:8080\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let req = probe_request(
            "/",
            "10.42.0.5:8080",
            &h(&[
                ("host", "example.com"),
                ("X-Custom", "1"),
                ("Accept", "text/plain"),
            ]),
        );
        assert_eq!(
            req,
            "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\nX-Custom: 1\r\nAccept: text/plain\r\n\r\n"
        );
        assert_eq!(
            req.matches("Host:").count() + req.matches("host:").count(),
            1
        );
    }

    #[tokio::test]
    async fn https_probes_speak_tls_and_check_the_status() {
        let port = https_server("200 OK");
        let r = http_probe(
            None,
            "127.0.0.1".into(),
            port,
            "HTTPS".into(),
            "/healthz".into(),
            vec![],
            Duration::from_secs(3),
        )
        .await;
        assert_eq!(r, Outcome::Success);
        let port = https_server("500 Internal Server Error");
        let r = http_probe(
            None,
            "127.0.0.1".into(),
            port,
            "HTTPS".into(),
            "/healthz".into(),
            vec![],
            Duration::from_secs(3),
        )
        .await;
        assert_eq!(
            r,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
    }
}
