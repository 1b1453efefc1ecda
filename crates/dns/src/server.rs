//! The DNS front end: UDP and TCP listeners and the per-query decision between the cluster
//! index and the forwarder.
//!
//! Cluster answers are built inline on the UDP receive loop (a read lock and a few map probes
//! are cheaper than spawning a task); only queries that wait on an upstream get a task.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::cluster::{self, Local, Zone};
use crate::forward::{Forwarder, Reply};
use crate::index::Index;
use crate::names;

/// The payload size we accept from EDNS clients (and advertise back).
const EDNS_PAYLOAD: u16 = 1232;
/// A TCP client idle this long is disconnected (RFC 7766 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Open TCP connections beyond this are refused rather than exhausting file descriptors.
const MAX_TCP_CONNECTIONS: usize = 512;
/// CNAME chains inside the cluster zone are followed at most this far.
const MAX_CHASE: usize = 8;

/// What is left to do for a query after the synchronous part.
pub(crate) enum Plan {
    /// The response is complete.
    Done(Message),
    /// Ask the upstreams and copy their answer into the response.
    Forward(Message, Query),
    /// Append the resolution of a CNAME target (ExternalName services).
    Chase(Message, Name, RecordType),
}

/// Query handling shared by all listeners.
pub(crate) struct Handler {
    pub index: Arc<RwLock<Index>>,
    pub zone: Zone,
    pub forwarder: Forwarder,
}

/// The response skeleton: same id, question and flags a resolver expects back.
fn response_to(req: &Message) -> Message {
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(req.op_code())
        .set_recursion_desired(req.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(req.checking_disabled())
        .add_queries(req.queries().iter().cloned());
    if req.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        resp.set_edns(edns);
    }
    resp
}

impl Handler {
    fn local(&self, name: &Name, lower: &Name, qtype: RecordType) -> Option<Local> {
        let idx = self.index.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(local) = cluster::answer(&idx, &self.zone, name, lower, qtype) {
            return Some(local);
        }
        if qtype == RecordType::PTR {
            let ip = names::reverse_ip(lower)?;
            let answers = cluster::reverse(&idx, &self.zone, name, &ip)?;
            return Some(Local {
                answers,
                ..Default::default()
            });
        }
        None
    }

    fn soa(&self) -> hickory_proto::rr::Record {
        let serial = self
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .serial();
        self.zone.soa(serial)
    }

    /// Everything that can be decided without waiting; `None` means "send nothing".
    pub fn plan(&self, req: &Message) -> Option<Plan> {
        if req.message_type() != MessageType::Query {
            return None;
        }
        let mut resp = response_to(req);
        if req.op_code() != OpCode::Query {
            resp.set_response_code(ResponseCode::NotImp);
            return Some(Plan::Done(resp));
        }
        let [query] = req.queries() else {
            resp.set_response_code(ResponseCode::FormErr);
            return Some(Plan::Done(resp));
        };
        let lower = query.name().to_lowercase();
        let qtype = query.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) && self.zone.name.zone_of(&lower) {
            resp.set_response_code(ResponseCode::Refused);
            return Some(Plan::Done(resp));
        }
        let Some(local) = self.local(query.name(), &lower, qtype) else {
            return Some(Plan::Forward(resp, query.clone()));
        };
        tracing::trace!(name = %query.name(), %qtype, rcode = %local.rcode, "cluster answer");
        resp.set_authoritative(true);
        let chase = local.chase.clone();
        self.fill(&mut resp, local);
        Some(match chase {
            Some(target) => Plan::Chase(resp, target, qtype),
            None => Plan::Done(resp),
        })
    }

    fn fill(&self, resp: &mut Message, local: Local) {
        resp.set_response_code(local.rcode);
        let empty = local.answers.is_empty();
        resp.add_answers(local.answers);
        resp.add_additionals(local.additionals);
        if empty && local.rcode != ResponseCode::ServFail {
            resp.add_name_server(self.soa());
        }
    }

    /// Completes a plan, waiting on upstreams where needed.
    pub async fn finish(&self, plan: Plan) -> Message {
        match plan {
            Plan::Done(resp) => resp,
            Plan::Forward(mut resp, query) => {
                let reply = self.forwarder.resolve(&query).await;
                copy_reply(&mut resp, reply, query.name());
                resp
            }
            Plan::Chase(resp, target, qtype) => self.chase(resp, target, qtype).await,
        }
    }

    /// Follows a CNAME: inside the zone from the index, outside through the forwarder, so
    /// stub resolvers (which do not chase CNAMEs themselves) get addresses in one answer.
    async fn chase(&self, mut resp: Message, mut target: Name, qtype: RecordType) -> Message {
        for _ in 0..MAX_CHASE {
            let lower = target.to_lowercase();
            match self.local(&target, &lower, qtype) {
                Some(local) => {
                    let next = local.chase.clone();
                    resp.set_response_code(local.rcode);
                    resp.add_answers(local.answers);
                    resp.add_additionals(local.additionals);
                    match next {
                        Some(n) => target = n,
                        None => return resp,
                    }
                }
                None => {
                    let reply = self
                        .forwarder
                        .resolve(&Query::query(target.clone(), qtype))
                        .await;
                    resp.set_response_code(reply.rcode);
                    resp.add_answers(reply.answers);
                    return resp;
                }
            }
        }
        resp.set_response_code(ResponseCode::ServFail);
        resp
    }

    pub async fn handle(&self, req: &Message) -> Option<Message> {
        Some(self.finish(self.plan(req)?).await)
    }
}

/// Copies an upstream reply, giving answer records the client's spelling of the name (the
/// cache may hold them under another case, and some clients compare case-sensitively).
fn copy_reply(resp: &mut Message, reply: Reply, qname: &Name) {
    resp.set_response_code(reply.rcode);
    for mut record in reply.answers {
        if record.name() == qname {
            record.set_name(qname.clone());
        }
        resp.add_answer(record);
    }
    resp.add_name_servers(reply.authorities);
    resp.add_additionals(reply.additionals);
}

/// Encodes a response for a transport of `max` bytes; too large means an empty, truncated
/// reply (TC set), which makes the client retry over TCP.
fn encode(resp: &Message, max: usize) -> Option<Vec<u8>> {
    match resp.to_vec() {
        Ok(bytes) if bytes.len() <= max => Some(bytes),
        Ok(_) => resp.truncate().to_vec().ok(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode response");
            let mut fail = Message::error_msg(resp.id(), resp.op_code(), ResponseCode::ServFail);
            fail.add_queries(resp.queries().iter().cloned());
            fail.to_vec().ok()
        }
    }
}

/// The UDP payload a client can take: 512 bytes, or its EDNS size (capped at ours).
fn udp_limit(req: &Message) -> usize {
    match req.extensions() {
        Some(edns) => usize::from(edns.max_payload().clamp(512, EDNS_PAYLOAD)),
        None => 512,
    }
}

pub(crate) async fn serve_udp(
    sock: Arc<UdpSocket>,
    handler: Arc<Handler>,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive failed");
                    continue;
                }
            },
        };
        let Ok(req) = Message::from_vec(&buf[..n]) else {
            tracing::debug!(%peer, "dropping malformed query");
            continue;
        };
        let limit = udp_limit(&req);
        match handler.plan(&req) {
            None => {}
            Some(Plan::Done(resp)) => send_udp(&sock, &resp, limit, peer).await,
            Some(plan) => {
                let (sock, handler) = (sock.clone(), handler.clone());
                tokio::spawn(async move {
                    let resp = handler.finish(plan).await;
                    send_udp(&sock, &resp, limit, peer).await;
                });
            }
        }
    }
}

async fn send_udp(sock: &UdpSocket, resp: &Message, limit: usize, peer: std::net::SocketAddr) {
    let Some(bytes) = encode(resp, limit) else {
        return;
    };
    if let Err(e) = sock.send_to(&bytes, peer).await {
        tracing::debug!(%peer, error = %e, "udp send failed");
    }
}

pub(crate) async fn serve_tcp(
    listener: TcpListener,
    handler: Arc<Handler>,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many DNS TCP connections; closing");
            continue;
        };
        let (handler, cancel) = (handler.clone(), cancel.clone());
        tokio::spawn(async move {
            if let Err(e) = tcp_connection(stream, &handler, &cancel).await {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
            drop(permit);
        });
    }
}

/// Serves length-prefixed queries on one connection until the client goes quiet or leaves.
async fn tcp_connection(
    mut stream: TcpStream,
    handler: &Handler,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    loop {
        let len = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(TCP_IDLE, stream.read_u16()) => match r {
                Ok(len) => len?,
                Err(_) => return Ok(()),
            },
        };
        let mut buf = vec![0u8; usize::from(len)];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let Ok(req) = Message::from_vec(&buf) else {
            return Ok(());
        };
        let Some(resp) = handler.handle(&req).await else {
            continue;
        };
        let Some(bytes) = encode(&resp, usize::from(u16::MAX)) else {
            continue;
        };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await?;
    }
}
