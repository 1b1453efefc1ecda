//! A real in-process API server, the DNS server on a loopback port, a fake upstream resolver,
//! and small DNS client helpers.

#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub struct Cluster {
    pub client: Client,
    pub cancel: CancellationToken,
    pub dns: SocketAddr,
    pub upstream: FakeUpstream,
    _started: rkube_apiserver::Started,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    /// API server + fake upstream + DNS server forwarding to it.
    pub async fn start() -> Result<Self> {
        let upstream = FakeUpstream::start().await?;
        Self::start_with_upstreams(upstream, None).await
    }

    pub async fn start_with_upstreams(
        upstream: FakeUpstream,
        override_upstreams: Option<Vec<SocketAddr>>,
    ) -> Result<Self> {
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir_all(tmp.path().join("db"))?;
        let store: Arc<dyn rkube_store::Store> = Arc::new(rkube_store::RedbStore::open(
            tmp.path().join("db/state.redb"),
        )?);
        let cancel = CancellationToken::new();
        let started = rkube_apiserver::start(
            rkube_apiserver::Config {
                listen: "127.0.0.1:0".parse()?,
                tls_dir: tmp.path().join("tls"),
                kubeconfigs: vec![],
                node_ips: vec!["127.0.0.1".parse()?],
                cluster_domain: "cluster.local".into(),
                service_cidr: rkube_apiserver::Cidr::parse("10.43.0.0/16")
                    .ok_or("bad service CIDR")?,
            },
            store,
            cancel.clone(),
        )
        .await?;
        let yaml = started.component_kubeconfig("system:kube-dns", &[])?;
        let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        let client = Client::try_from(config)?;

        let upstreams = override_upstreams.unwrap_or_else(|| vec![upstream.addr]);
        let mut cfg = rkube_dns::DnsConfig::new(vec!["127.0.0.1:0".parse()?], "cluster.local")
            .with_upstreams(upstreams);
        cfg.upstream_timeout = Duration::from_millis(300);
        let server = rkube_dns::DnsServer::bind(client.clone(), cfg).await?;
        let dns = server.local_addrs()[0];
        tokio::spawn(server.serve(cancel.clone()));
        let cluster = Cluster {
            client,
            cancel,
            dns,
            upstream,
            _started: started,
            _tmp: tmp,
        };
        // The `kubernetes` Service is bootstrapped; once it resolves, the index has listed.
        wait("initial sync", || async {
            let m = cluster
                .query("kubernetes.default.svc.cluster.local.", RecordType::A)
                .await
                .ok()?;
            (!m.answers().is_empty()).then_some(())
        })
        .await?;
        Ok(cluster)
    }

    pub async fn create<K>(&self, ns: &str, obj: Value) -> Result<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        Ok(api
            .create(&PostParams::default(), &serde_json::from_value(obj)?)
            .await?)
    }

    pub async fn delete<K>(&self, ns: &str, name: &str) -> Result<()>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        api.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }

    pub async fn query(&self, name: &str, qtype: RecordType) -> Result<Message> {
        udp_query(self.dns, name, qtype, true).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Polls `f` until it yields `Some`, for at most 15 seconds.
pub async fn wait<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn request(name: &str, qtype: RecordType, edns: bool) -> Result<Message> {
    let mut m = Message::new();
    m.set_id(rand_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name)?, qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    Ok(m)
}

fn rand_id() -> u16 {
    static N: AtomicUsize = AtomicUsize::new(1);
    (N.fetch_add(7919, Ordering::Relaxed) & 0xffff) as u16
}

pub async fn udp_query(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    edns: bool,
) -> Result<Message> {
    let req = request(name, qtype, edns)?;
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    sock.send_to(&req.to_vec()?, server).await?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf)).await??;
    let resp = Message::from_vec(&buf[..n])?;
    if resp.id() != req.id() {
        return Err("id mismatch".into());
    }
    Ok(resp)
}

pub async fn tcp_query(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message> {
    let bytes = request(name, qtype, false)?.to_vec()?;
    let mut s = TcpStream::connect(server).await?;
    s.write_all(&u16::try_from(bytes.len())?.to_be_bytes())
        .await?;
    s.write_all(&bytes).await?;
    let len = tokio::time::timeout(Duration::from_secs(3), s.read_u16()).await??;
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await?;
    Ok(Message::from_vec(&buf)?)
}

/// Record data as text, in answer order.
pub fn rdata(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data().to_string()).collect()
}

/// A fake recursive resolver on loopback (UDP and TCP on one port):
/// - `big.example.test.`: 40 A records; over UDP only a truncated (TC) reply;
/// - `nx.example.test.`: NXDOMAIN with an SOA (minimum 30);
/// - `fail.example.test.`: SERVFAIL;
/// - any other name: one A record 192.0.2.1 with TTL 60.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
}

impl FakeUpstream {
    pub async fn start() -> Result<Self> {
        // UDP and TCP on one port: the UDP port the kernel picks may be taken for TCP, so
        // try again with another.
        let mut tries = 0;
        let (udp, tcp, addr) = loop {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let addr = udp.local_addr()?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, tcp, addr),
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let queries = Arc::new(AtomicUsize::new(0));
        let count = queries.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(bytes) = Message::from_vec(&buf[..n])
                    .ok()
                    .and_then(|m| fake_answer(&m, true))
                {
                    let _ = udp.send_to(&bytes, peer).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                tokio::spawn(async move {
                    let Ok(len) = s.read_u16().await else { return };
                    let mut buf = vec![0u8; usize::from(len)];
                    if s.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    let Some(bytes) = Message::from_vec(&buf)
                        .ok()
                        .and_then(|m| fake_answer(&m, false))
                    else {
                        return;
                    };
                    let _ = s.write_all(&(bytes.len() as u16).to_be_bytes()).await;
                    let _ = s.write_all(&bytes).await;
                });
            }
        });
        Ok(FakeUpstream { addr, queries })
    }

    pub fn count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn fake_answer(req: &Message, udp: bool) -> Option<Vec<u8>> {
    let q = req.queries().first()?.clone();
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .set_recursion_available(true)
        .add_query(q.clone());
    let name = q.name().to_lowercase().to_string();
    match name.as_str() {
        "big.example.test." if udp => {
            resp.set_truncated(true);
        }
        "big.example.test." => {
            for i in 0..40u8 {
                resp.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A::new(198, 51, 100, i)),
                ));
            }
        }
        "nx.example.test." => {
            resp.set_response_code(ResponseCode::NXDomain);
            let soa = SOA::new(
                Name::from_ascii("ns.example.test.").ok()?,
                Name::from_ascii("h.example.test.").ok()?,
                1,
                1,
                1,
                1,
                30,
            );
            resp.add_name_server(Record::from_rdata(
                Name::from_ascii("example.test.").ok()?,
                300,
                RData::SOA(soa),
            ));
        }
        "fail.example.test." => {
            resp.set_response_code(ResponseCode::ServFail);
        }
        _ if q.query_type() == RecordType::A => {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
        _ => {}
    }
    resp.to_vec().ok()
}
