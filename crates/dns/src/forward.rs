//! Forwarding to the node's upstream resolvers, with a bounded cache that honours TTLs.
//!
//! Every upstream query uses a fresh socket (a random source port) and a random id, the two
//! things that make blind spoofing of a forwarder hard. A truncated UDP reply is retried over
//! TCP against the same upstream. Only NOERROR and NXDOMAIN replies count as answers; any
//! other outcome moves on to the next upstream, and when none is left the client gets SERVFAIL.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Longest time a positive answer is cached, whatever the upstream says (CoreDNS: 3600).
const MAX_POSITIVE_TTL: u32 = 3600;
/// Longest time a denial is cached (CoreDNS: 1800).
const MAX_NEGATIVE_TTL: u32 = 1800;
/// The EDNS payload size we advertise upstream (the DNS flag day 2020 recommendation).
const EDNS_PAYLOAD: u16 = 1232;

/// The parts of an upstream reply that are copied into the client's response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Reply {
    pub fn servfail() -> Self {
        Reply {
            rcode: ResponseCode::ServFail,
            ..Default::default()
        }
    }

    /// How long this reply may be cached, or `None` when it must not be.
    fn cache_ttl(&self) -> Option<u32> {
        let ttl = if self.rcode == ResponseCode::NoError && !self.answers.is_empty() {
            self.answers
                .iter()
                .map(Record::ttl)
                .min()?
                .min(MAX_POSITIVE_TTL)
        } else if matches!(self.rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
            // RFC 2308: negative answers live for min(SOA TTL, SOA minimum); without an SOA,
            // they are not cached at all.
            let soa = self.authorities.iter().find_map(|r| match r.data() {
                RData::SOA(soa) => Some(r.ttl().min(soa.minimum())),
                _ => None,
            })?;
            soa.min(MAX_NEGATIVE_TTL)
        } else {
            return None;
        };
        (ttl > 0).then_some(ttl)
    }

    /// A copy with TTLs reduced by the time spent in the cache.
    fn aged(&self, elapsed: u32) -> Reply {
        let age = |records: &[Record]| {
            records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.set_ttl(r.ttl().saturating_sub(elapsed));
                    r
                })
                .collect()
        };
        Reply {
            rcode: self.rcode,
            answers: age(&self.answers),
            authorities: age(&self.authorities),
            additionals: age(&self.additionals),
        }
    }
}

type CacheKey = (Name, RecordType, DNSClass);

struct Entry {
    reply: Arc<Reply>,
    stored: Instant,
    ttl: u32,
    generation: u64,
}

/// A TTL cache evicting in insertion order once `capacity` entries are held.
struct Cache {
    capacity: usize,
    entries: HashMap<CacheKey, Entry>,
    order: VecDeque<(CacheKey, u64)>,
    generation: u64,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Cache {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    fn get(&mut self, key: &CacheKey) -> Option<Reply> {
        let entry = self.entries.get(key)?;
        let elapsed = u32::try_from(entry.stored.elapsed().as_secs()).unwrap_or(u32::MAX);
        if elapsed >= entry.ttl {
            self.entries.remove(key);
            return None;
        }
        Some(entry.reply.aged(elapsed))
    }

    fn insert(&mut self, key: CacheKey, reply: Reply, ttl: u32) {
        self.generation += 1;
        let generation = self.generation;
        self.order.push_back((key.clone(), generation));
        self.entries.insert(
            key,
            Entry {
                reply: Arc::new(reply),
                stored: Instant::now(),
                ttl,
                generation,
            },
        );
        while self.entries.len() > self.capacity {
            let Some((old, g)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&old).is_some_and(|e| e.generation == g) {
                self.entries.remove(&old);
            }
        }
        // Re-inserted keys leave stale order slots behind; drop them before they pile up.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order
                .retain(|(k, g)| entries.get(k).is_some_and(|e| e.generation == *g));
        }
    }
}

/// Why one upstream exchange produced no usable reply.
#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed reply: {0}")]
    Proto(#[from] hickory_proto::ProtoError),
    #[error("timed out")]
    Timeout,
    #[error("reply too large for TCP framing")]
    TooLarge,
}

/// The upstream client and its cache, shared by all server tasks.
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS per process and varies per instance.
    (RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed)) & 0xffff) as u16
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>, timeout: Duration, cache_size: usize) -> Self {
        Forwarder {
            upstreams,
            timeout,
            cache: Mutex::new(Cache::new(cache_size)),
        }
    }

    fn cached(&self, key: &CacheKey) -> Option<Reply> {
        self.cache.lock().ok()?.get(key)
    }

    /// Resolves one question upstream (or from the cache); SERVFAIL when no upstream answers.
    pub async fn resolve(&self, query: &Query) -> Reply {
        let key = (
            query.name().to_lowercase(),
            query.query_type(),
            query.query_class(),
        );
        if let Some(hit) = self.cached(&key) {
            return hit;
        }
        for upstream in &self.upstreams {
            match self.exchange(*upstream, query).await {
                Ok(msg)
                    if matches!(
                        msg.response_code(),
                        ResponseCode::NoError | ResponseCode::NXDomain
                    ) =>
                {
                    let mut msg = msg;
                    let reply = Reply {
                        rcode: msg.response_code(),
                        answers: msg.take_answers(),
                        authorities: msg.take_name_servers(),
                        additionals: msg.take_additionals(),
                    };
                    if let (Some(ttl), Ok(mut cache)) = (reply.cache_ttl(), self.cache.lock()) {
                        cache.insert(key, reply.clone(), ttl);
                    }
                    return reply;
                }
                Ok(msg) => {
                    tracing::debug!(%upstream, rcode = %msg.response_code(), name = %query.name(), "upstream refused")
                }
                Err(e) => {
                    tracing::debug!(%upstream, error = %e, name = %query.name(), "upstream failed")
                }
            }
        }
        tracing::debug!(name = %query.name(), qtype = %query.query_type(), "no upstream answered");
        Reply::servfail()
    }

    async fn exchange(
        &self,
        upstream: SocketAddr,
        query: &Query,
    ) -> Result<Message, ExchangeError> {
        let id = random_id();
        let mut req = Message::new();
        req.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        req.set_edns(edns);
        let bytes = req.to_vec()?;
        let reply = tokio::time::timeout(self.timeout, udp_exchange(upstream, &bytes, id, query))
            .await
            .map_err(|_| ExchangeError::Timeout)??;
        if !reply.truncated() {
            return Ok(reply);
        }
        tokio::time::timeout(self.timeout, tcp_exchange(upstream, &bytes, id))
            .await
            .map_err(|_| ExchangeError::Timeout)?
    }
}

async fn udp_exchange(
    upstream: SocketAddr,
    bytes: &[u8],
    id: u16,
    query: &Query,
) -> Result<Message, ExchangeError> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(upstream).await?;
    sock.send(bytes).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        // Anything that is not the reply to this exact question is ignored (spoofing, strays).
        let Ok(msg) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let same_question = msg.queries().first().is_some_and(|q| {
            q.name() == query.name()
                && q.query_type() == query.query_type()
                && q.query_class() == query.query_class()
        });
        if msg.id() == id && msg.message_type() == MessageType::Response && same_question {
            return Ok(msg);
        }
    }
}

async fn tcp_exchange(
    upstream: SocketAddr,
    bytes: &[u8],
    id: u16,
) -> Result<Message, ExchangeError> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(bytes.len()).map_err(|_| ExchangeError::TooLarge)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    loop {
        let len = stream.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        let msg = Message::from_vec(&buf)?;
        if msg.id() == id {
            return Ok(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn a(ttl: u32) -> Record {
        Record::from_rdata(name("x.example."), ttl, RData::A(A::new(192, 0, 2, 1)))
    }

    #[test]
    fn ttl_rules() {
        let pos = Reply {
            answers: vec![a(30), a(10)],
            ..Default::default()
        };
        assert_eq!(pos.cache_ttl(), Some(10));
        assert_eq!(
            Reply {
                answers: vec![a(99_999)],
                ..Default::default()
            }
            .cache_ttl(),
            Some(MAX_POSITIVE_TTL)
        );
        assert_eq!(
            Reply {
                answers: vec![a(0)],
                ..Default::default()
            }
            .cache_ttl(),
            None
        );
        let soa = SOA::new(name("ns.example."), name("h.example."), 1, 1, 1, 1, 60);
        let neg = Reply {
            rcode: ResponseCode::NXDomain,
            authorities: vec![Record::from_rdata(name("example."), 300, RData::SOA(soa))],
            ..Default::default()
        };
        assert_eq!(neg.cache_ttl(), Some(60));
        assert_eq!(
            Reply {
                rcode: ResponseCode::NXDomain,
                ..Default::default()
            }
            .cache_ttl(),
            None
        );
        assert_eq!(Reply::servfail().cache_ttl(), None);
        assert_eq!(
            pos.aged(4)
                .answers
                .iter()
                .map(Record::ttl)
                .collect::<Vec<_>>(),
            vec![26, 6]
        );
    }

    #[test]
    fn cache_is_bounded_and_expires() {
        let mut cache = Cache::new(2);
        let key = |i: u8| (name(&format!("n{i}.example.")), RecordType::A, DNSClass::IN);
        for i in 0..5 {
            cache.insert(key(i), Reply::default(), 60);
        }
        assert_eq!(cache.entries.len(), 2);
        assert!(cache.get(&key(0)).is_none());
        assert!(cache.get(&key(4)).is_some());
        for _ in 0..10 {
            cache.insert(key(4), Reply::default(), 60);
        }
        assert!(cache.order.len() <= 4);
        cache.entries.get_mut(&key(4)).unwrap().stored -= Duration::from_secs(61);
        assert!(cache.get(&key(4)).is_none());
    }
}
