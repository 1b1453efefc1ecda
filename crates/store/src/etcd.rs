//! The etcd v3 backend (`--datastore-endpoint http://host:port`).
//!
//! Revisions are etcd's own. Guarded writes are single etcd transactions comparing the key's
//! create or mod revision, so they are atomic across any number of API servers.

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};
use tracing::{debug, info};

use crate::continue_token::{next_token, ContinueToken};
use crate::{
    check_value_size, prefix_end, Deleted, Event, EventKind, KeyValue, ListOptions, ListResult,
    Result, Revision, Store, StoreError, WatchStream,
};

/// A store on an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdStore {
    pool: std::sync::Arc<Pool>,
}

/// One client per endpoint, used in turn: requests go to the current endpoint, and when it
/// cannot be reached the next one takes over (a member that is down must not fail requests
/// while a quorum is up).
struct Pool {
    endpoints: Vec<String>,
    opts: etcd_client::ConnectOptions,
    slots: Vec<tokio::sync::Mutex<Option<Client>>>,
    current: std::sync::atomic::AtomicUsize,
}

impl Pool {
    /// A connected client, starting from the current endpoint.
    async fn pick(&self) -> Option<(usize, Client)> {
        use std::sync::atomic::Ordering;
        let n = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed);
        for k in 0..n {
            let i = (start + k) % n;
            let mut slot = self.slots[i].lock().await;
            if slot.is_none() {
                let connect =
                    Client::connect([self.endpoints[i].as_str()], Some(self.opts.clone()));
                match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
                    Ok(Ok(c)) => *slot = Some(c),
                    Ok(Err(e)) => {
                        debug!(endpoint = %self.endpoints[i], "etcd connect: {e}");
                        continue;
                    }
                    Err(_) => {
                        debug!(endpoint = %self.endpoints[i], "etcd connect timed out");
                        continue;
                    }
                }
            }
            if k > 0 {
                info!(endpoint = %self.endpoints[i], "etcd: switched endpoint");
                self.current.store(i, Ordering::Relaxed);
            }
            return slot.clone().map(|c| (i, c));
        }
        None
    }

    /// Forgets endpoint `i`'s client after it could not be reached.
    async fn failed(&self, i: usize) {
        use std::sync::atomic::Ordering;
        *self.slots[i].lock().await = None;
        let next = (i + 1) % self.endpoints.len();
        let _ = self
            .current
            .compare_exchange(i, next, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Whether a request failed before reaching etcd (so it is safe to send elsewhere).
fn unreachable(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            // 14: UNAVAILABLE.
            i32::from(s.code()) == 14
                && (s.message().contains("connect") || s.message().contains("transport"))
        }
        _ => false,
    }
}

fn etcd_err(context: &'static str) -> impl Fn(etcd_client::Error) -> StoreError {
    move |e| match &e {
        etcd_client::Error::GRpcStatus(s)
            if s.message().contains("required revision has been compacted") =>
        {
            StoreError::Compacted {
                requested: 0,
                compacted: 0,
            }
        }
        etcd_client::Error::GRpcStatus(s)
            if s.message()
                .contains("required revision is a future revision") =>
        {
            StoreError::FutureRevision {
                requested: 0,
                current: 0,
            }
        }
        _ => StoreError::backend(format!("etcd {context}"), e),
    }
}

fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|e| StoreError::backend("etcd key is not UTF-8", e))?
        .to_string();
    Ok(KeyValue {
        key,
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    })
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Revision {
    h.map(|h| h.revision()).unwrap_or(0)
}

/// Largest gRPC reply accepted: a page of large objects can exceed tonic's 4 MiB default.
const MAX_REPLY_BYTES: usize = 512 * 1024 * 1024;
/// Keys per etcd range request when a list asks for everything.
const PAGE: i64 = 1000;

impl EtcdStore {
    /// Runs a KV request on the current endpoint, moving on to the next ones while the
    /// endpoint cannot be reached.
    async fn kv<T, F, Fut>(&self, f: F) -> std::result::Result<T, etcd_client::Error>
    where
        F: Fn(etcd_client::KvClient) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let mut last = None;
        for _ in 0..self.pool.endpoints.len() {
            let Some((i, client)) = self.pool.pick().await else {
                break;
            };
            match f(client
                .kv_client()
                .max_decoding_message_size(MAX_REPLY_BYTES))
            .await
            {
                Err(e) if unreachable(&e) => {
                    debug!(endpoint = %self.pool.endpoints[i], "etcd unreachable: {e}");
                    self.pool.failed(i).await;
                    last = Some(e);
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| {
            etcd_client::Error::InvalidArgs(format!(
                "no etcd endpoint reachable ({})",
                self.pool.endpoints.join(",")
            ))
        }))
    }

    async fn watcher(&self) -> Result<etcd_client::WatchClient> {
        let (_, client) = self.pool.pick().await.ok_or_else(|| {
            StoreError::backend(
                "etcd watch",
                std::io::Error::other("no etcd endpoint reachable"),
            )
        })?;
        Ok(client
            .watch_client()
            .max_decoding_message_size(MAX_REPLY_BYTES))
    }

    /// Connects to the etcd endpoints (comma-separated `http://host:port` URLs).
    pub async fn connect(endpoints: &str) -> Result<Self> {
        let eps: Vec<String> = endpoints
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if eps.is_empty() {
            return Err(StoreError::backend(
                "etcd connect",
                std::io::Error::other("no datastore endpoint given"),
            ));
        }
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(30));
        let pool = Pool {
            slots: eps.iter().map(|_| tokio::sync::Mutex::new(None)).collect(),
            endpoints: eps.clone(),
            opts,
            current: std::sync::atomic::AtomicUsize::new(0),
        };
        let store = EtcdStore {
            pool: std::sync::Arc::new(pool),
        };
        // Fail at start, not at the first request, when etcd is not there.
        let (_, mut client) = store.pool.pick().await.ok_or_else(|| {
            StoreError::backend(
                "etcd connect",
                std::io::Error::other(format!("no endpoint of {} answers", eps.join(","))),
            )
        })?;
        let status = client.status().await.map_err(etcd_err("status"))?;
        info!(endpoints = %eps.join(","), version = status.version(), "connected to etcd");
        Ok(store)
    }

    /// The current value of `key` read inside a failed transaction, to report why it failed.
    fn existing(resp: &etcd_client::TxnResponse) -> Result<Option<KeyValue>> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(g) = op {
                return g.kvs().first().map(to_kv).transpose();
            }
        }
        Ok(None)
    }

    fn guard(key: &str, expected: Option<Revision>) -> Compare {
        match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        }
    }

    fn guard_failed(
        key: &str,
        expected: Option<Revision>,
        existing: Option<KeyValue>,
    ) -> StoreError {
        match existing {
            None => StoreError::NotFound {
                key: key.to_string(),
            },
            Some(kv) => StoreError::Conflict {
                key: key.to_string(),
                expected: expected.unwrap_or_default(),
                actual: kv.mod_revision,
            },
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision> {
        let resp =
            self.kv(|mut kv| async move {
                kv.get("/", Some(GetOptions::new().with_count_only())).await
            })
            .await
            .map_err(etcd_err("get revision"))?;
        Ok(header_revision(resp.header()))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .kv(|mut kv| async move { kv.get(key, None).await })
            .await
            .map_err(etcd_err("get"))?;
        resp.kvs().first().map(to_kv).transpose()
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let (mut start, mut at) = match &opts.continue_token {
            Some(t) => {
                let t = ContinueToken::decode(t)?;
                (t.start_key(prefix), t.revision)
            }
            None => (prefix.to_string(), opts.revision.unwrap_or(0)),
        };
        let limit = opts.limit.filter(|l| *l > 0);
        let requested = at;
        let mut items: Vec<KeyValue> = Vec::new();
        // Read in pages pinned to one revision, so a large list never needs one huge reply.
        loop {
            let want = match limit {
                Some(l) => (l - items.len()) as i64,
                None => PAGE,
            }
            .min(PAGE);
            let mut get = GetOptions::new()
                .with_range(prefix_end(prefix.as_bytes()))
                .with_limit(want);
            if at > 0 {
                get = get.with_revision(at);
            }
            let resp = self
                .kv(|mut kv| {
                    let (start, get) = (start.clone(), get.clone());
                    async move { kv.get(start, Some(get)).await }
                })
                .await
                .map_err(|e| match etcd_err("list")(e) {
                    StoreError::Compacted { .. } => StoreError::Compacted {
                        requested,
                        compacted: 0,
                    },
                    StoreError::FutureRevision { .. } => StoreError::FutureRevision {
                        requested,
                        current: 0,
                    },
                    other => other,
                })?;
            if at == 0 {
                at = header_revision(resp.header());
            }
            let page = resp.kvs().iter().map(to_kv).collect::<Result<Vec<_>>>()?;
            let remaining = resp.count() - page.len() as i64;
            items.extend(page);
            let full = limit.is_some_and(|l| items.len() >= l);
            if !resp.more() || full {
                let more = resp.more();
                let continue_token = match items.last() {
                    Some(last) if more => Some(next_token(prefix, &last.key, at)),
                    _ => None,
                };
                return Ok(ListResult {
                    items,
                    revision: at,
                    continue_token,
                    remaining: (more && remaining > 0).then_some(remaining),
                });
            }
            match items.last() {
                Some(last) => start = format!("{}\u{0}", last.key),
                None => {
                    return Ok(ListResult {
                        items,
                        revision: at,
                        continue_token: None,
                        remaining: None,
                    });
                }
            }
        }
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        check_value_size(key, &value)?;
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.clone(), None)]);
        let resp = self
            .kv(|mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await
            .map_err(etcd_err("create"))?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let rev = header_revision(resp.header());
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
    ) -> Result<KeyValue> {
        check_value_size(key, &value)?;
        let txn = Txn::new()
            .when([Self::guard(key, expected)])
            .and_then([TxnOp::put(
                key,
                value.clone(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = self
            .kv(|mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await
            .map_err(etcd_err("update"))?;
        if !resp.succeeded() {
            return Err(Self::guard_failed(key, expected, Self::existing(&resp)?));
        }
        let rev = header_revision(resp.header());
        let prev = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Put(p) => p.prev_key().map(to_kv),
            _ => None,
        });
        let prev = prev.transpose()?.ok_or_else(|| StoreError::NotFound {
            key: key.to_string(),
        })?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: rev,
            version: prev.version + 1,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let txn = Txn::new()
            .when([Self::guard(key, expected)])
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = self
            .kv(|mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await
            .map_err(etcd_err("delete"))?;
        if !resp.succeeded() {
            return Err(Self::guard_failed(key, expected, Self::existing(&resp)?));
        }
        let revision = header_revision(resp.header());
        let prev = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(to_kv),
            _ => None,
        });
        let prev = prev.transpose()?.ok_or_else(|| StoreError::NotFound {
            key: key.to_string(),
        })?;
        Ok(Deleted { prev, revision })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // etcd reports a compacted start only after confirming the watch; a read at `after`
        // tells up front, so callers get the error from `watch` itself as with redb.
        if after > 0 {
            let probe = self
                .kv(|mut kv| async move {
                    kv.get(
                        prefix,
                        Some(GetOptions::new().with_count_only().with_revision(after)),
                    )
                    .await
                })
                .await;
            if let Err(e) = probe {
                match etcd_err("watch")(e) {
                    StoreError::Compacted { .. } => {
                        return Err(StoreError::Compacted {
                            requested: after,
                            compacted: 0,
                        })
                    }
                    // A future revision is fine for a watch: it waits for it.
                    StoreError::FutureRevision { .. } => {}
                    other => return Err(other),
                }
            }
        }
        let opts = WatchOptions::new()
            .with_range(prefix_end(prefix.as_bytes()))
            .with_start_revision(after + 1)
            .with_prev_key();
        let mut stream = self
            .watcher()
            .await?
            .watch(prefix, Some(opts))
            .await
            .map_err(etcd_err("watch"))?;
        // The first message confirms creation or reports a compacted start revision.
        let first = stream.message().await.map_err(etcd_err("watch"))?;
        let mut pending = None;
        if let Some(resp) = first {
            if resp.compact_revision() > 0 || resp.canceled() {
                return Err(StoreError::Compacted {
                    requested: after,
                    compacted: resp.compact_revision(),
                });
            }
            if !resp.created() {
                pending = Some(resp);
            }
        }
        let (tx, out) = WatchStream::channel();
        tokio::spawn(async move {
            let mut next = pending;
            loop {
                let resp = match next.take() {
                    Some(r) => r,
                    None => {
                        let msg = tokio::select! {
                            m = stream.message() => m,
                            _ = tx.closed() => return,
                        };
                        match msg {
                            Ok(Some(r)) => r,
                            Ok(None) => {
                                let _ = tx.send(Err(StoreError::Closed)).await;
                                return;
                            }
                            Err(e) => {
                                let _ = tx.send(Err(etcd_err("watch")(e))).await;
                                return;
                            }
                        }
                    }
                };
                if resp.compact_revision() > 0 || resp.canceled() {
                    let _ = tx
                        .send(Err(StoreError::Compacted {
                            requested: after,
                            compacted: resp.compact_revision(),
                        }))
                        .await;
                    return;
                }
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let converted = (|| -> Result<Event> {
                        let mut kv = to_kv(kv)?;
                        let prev = ev.prev_kv().map(to_kv).transpose()?;
                        let kind = match ev.event_type() {
                            EventType::Put => EventKind::Put,
                            EventType::Delete => {
                                kv.value.clear();
                                EventKind::Delete
                            }
                        };
                        Ok(Event { kind, kv, prev })
                    })();
                    if tx.send(converted).await.is_err() {
                        return;
                    }
                }
            }
        });
        debug!(prefix, after, "etcd watch started");
        Ok(out)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let res = self
            .kv(|mut kv| async move {
                kv.compact(
                    revision,
                    Some(etcd_client::CompactionOptions::new().with_physical()),
                )
                .await
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            // Compacting to an already compacted revision is not an error for callers.
            Err(e) => match etcd_err("compact")(e) {
                StoreError::Compacted { .. } => Ok(()),
                StoreError::FutureRevision { .. } => Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await.unwrap_or(0),
                }),
                other => Err(other),
            },
        }
    }
}
