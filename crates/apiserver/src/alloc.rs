//! Service cluster IPs and node ports: allocated by the API server on create, as upstream's
//! service REST storage does, from `--service-cidr` and 30000–32767.
//!
//! Several servers may share one datastore, so a pick is only kept once it is reserved in the
//! store with a create that fails if the key exists (`/registry/ranges/serviceips/<ip>`,
//! `/registry/ranges/servicenodeports/<port>`, naming the owning Service); on a conflict the
//! server picks again. Reservations go with their Service's delete, and a repair loop on
//! every server (as upstream's repair controllers) drops those no Service holds any more
//! (a failed create, a type change) after a grace period.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rkube_apimachinery::status::{ApiError, Cause};
use rkube_store::{Store, StoreError};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::cache::Cache;

pub(crate) const IP_PREFIX: &str = "/registry/ranges/serviceips/";
pub(crate) const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";
const SERVICES: &str = "/registry/services/specs/";
/// A reservation no Service holds is kept this long (its Service may be on its way to the
/// store) before it can be taken over.
const GRACE_SECS: i64 = 30;
const REPAIR_EVERY: Duration = Duration::from_secs(30);

pub const NODE_PORT_RANGE: (u16, u16) = (30000, 32767);
/// How long a fresh allocation is remembered before the cache must show it.
const PENDING: Duration = Duration::from_secs(60);

/// An IPv4 range such as 10.43.0.0/16.
#[derive(Clone, Copy, Debug)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        if bits > 30 {
            return None;
        }
        let mask = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
        Some(Cidr {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            bits,
        })
    }

    pub fn size(&self) -> u32 {
        1u32 << (32 - self.bits as u32)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let off = u32::from(ip).wrapping_sub(u32::from(self.base));
        u32::from(ip) >= u32::from(self.base) && off < self.size()
    }

    /// The address at `offset` from the start of the range.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + offset)
    }
}

#[derive(Default)]
pub struct Allocator {
    pending_ips: HashMap<Ipv4Addr, Instant>,
    pending_ports: HashMap<u16, Instant>,
}

/// A cluster IP or node port, as reserved in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Item {
    Ip(Ipv4Addr),
    Port(u16),
}

impl Item {
    fn key(self) -> String {
        match self {
            Item::Ip(ip) => format!("{IP_PREFIX}{ip}"),
            Item::Port(p) => format!("{PORT_PREFIX}{p}"),
        }
    }

    fn from_key(key: &str) -> Option<Item> {
        if let Some(ip) = key.strip_prefix(IP_PREFIX) {
            return ip.parse().ok().map(Item::Ip);
        }
        key.strip_prefix(PORT_PREFIX)?.parse().ok().map(Item::Port)
    }
}

/// One item of an allocation, and whether the client asked for it by value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Picked {
    pub item: Item,
    pub requested: bool,
}

/// Items reserved in the store, as the cache shows them.
fn reserved(cache: &Cache) -> HashSet<Item> {
    let mut out = HashSet::new();
    for v in cache.list(IP_PREFIX, &|_| true).items {
        if let Some(ip) = v
            .get("ip")
            .and_then(Value::as_str)
            .and_then(|i| i.parse().ok())
        {
            out.insert(Item::Ip(ip));
        }
    }
    for v in cache.list(PORT_PREFIX, &|_| true).items {
        if let Some(p) = v
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            out.insert(Item::Port(p));
        }
    }
    out
}

/// The items a Service holds: its cluster IPs and node ports.
pub(crate) fn held_by(svc: &Value) -> Vec<Item> {
    let mut out = Vec::new();
    for ip in svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .chain(svc.pointer("/spec/clusterIP").and_then(Value::as_str))
        .filter_map(|i| i.parse::<Ipv4Addr>().ok())
    {
        if !out.contains(&Item::Ip(ip)) {
            out.push(Item::Ip(ip));
        }
    }
    for p in svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
        .filter_map(|p| u16::try_from(p).ok())
    {
        if !out.contains(&Item::Port(p)) {
            out.push(Item::Port(p));
        }
    }
    out
}

fn in_use(cache: &Cache) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
    let services = cache.list(SERVICES, &|_| true);
    let mut ips: HashSet<Ipv4Addr> = HashSet::new();
    let mut ports = HashSet::new();
    for s in services.items {
        if let Some(list) = s.pointer("/spec/clusterIPs").and_then(Value::as_array) {
            ips.extend(
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|i| i.parse::<Ipv4Addr>().ok()),
            );
        }
        if let Some(ip) = s
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|i| i.parse().ok())
        {
            ips.insert(ip);
        }
        for p in s
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                ports.insert(n as u16);
            }
        }
    }
    (ips, ports)
}

impl Allocator {
    /// Fills `spec.clusterIP(s)` and node ports of a new Service.
    /// Fills `spec.clusterIP(s)` and node ports of a new Service; returns what it picked,
    /// for [`reserve`]. Items in `taken` (found reserved in the store) are avoided, as are
    /// items the cache shows reserved unless asked for by value.
    pub(crate) fn service(
        &mut self,
        cache: &Cache,
        cidr: Cidr,
        svc: &mut Value,
        name: &str,
        taken: &HashSet<Item>,
    ) -> Result<Vec<Picked>, ApiError> {
        let now = Instant::now();
        self.pending_ips
            .retain(|_, t| now.duration_since(*t) < PENDING);
        self.pending_ports
            .retain(|_, t| now.duration_since(*t) < PENDING);
        // What Services hold: a value asked for is refused only for these (the store's
        // reservation decides the rest); picks also avoid this server's recent picks, what
        // lost to other servers and every reservation the cache shows.
        let (mut ips, mut ports) = in_use(cache);
        let mut avoid: HashSet<Item> = reserved(cache);
        avoid.extend(taken.iter().copied());
        avoid.extend(self.pending_ips.keys().map(|ip| Item::Ip(*ip)));
        avoid.extend(self.pending_ports.keys().map(|p| Item::Port(*p)));
        let mut picked = Vec::new();
        let invalid = |field: &str, msg: String| {
            ApiError::invalid(
                "",
                "Service",
                name,
                vec![Cause::new("FieldValueInvalid", field, msg)],
            )
        };
        let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(picked);
        };
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty != "ExternalName" {
            let requested = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ip = match requested.as_str() {
                "None" => None,
                "" => {
                    // Random probe, then a scan, skipping the network address and .1 (the
                    // `kubernetes` Service's, requested explicitly at bootstrap).
                    let size = cidr.size();
                    let start = (uuid::Uuid::new_v4().as_u128() % (size as u128 - 2)) as u32 + 1;
                    let found = (0..size - 2)
                        .map(|i| cidr.nth(1 + (start - 1 + i) % (size - 2)))
                        .find(|ip| {
                            !ips.contains(ip)
                                && !avoid.contains(&Item::Ip(*ip))
                                && *ip != cidr.nth(1)
                        });
                    match found {
                        Some(ip) => Some(ip),
                        None => {
                            return Err(ApiError::internal(
                                "failed to allocate a serviceIP: range is full",
                            ))
                        }
                    }
                }
                s => {
                    let ip: Ipv4Addr = s.parse().map_err(|_| {
                        invalid("spec.clusterIPs", format!("Invalid value: []string{{\"{s}\"}}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
                    })?;
                    if !cidr.contains(ip) {
                        return Err(invalid("spec.clusterIPs", format!(
                            "Invalid value: []string{{\"{s}\"}}: failed to allocate IP {s}: the provided IP ({s}) is not in the valid range. The range of valid IPs is {}/{}",
                            cidr.base, cidr.bits
                        )));
                    }
                    if ips.contains(&ip) {
                        return Err(invalid("spec.clusterIPs", format!(
                            "Invalid value: []string{{\"{s}\"}}: failed to allocate IP {s}: provided IP is already allocated"
                        )));
                    }
                    Some(ip)
                }
            };
            match ip {
                Some(ip) => {
                    self.pending_ips.insert(ip, now);
                    ips.insert(ip);
                    picked.push(Picked {
                        item: Item::Ip(ip),
                        requested: !requested.is_empty(),
                    });
                    spec.insert("clusterIP".into(), json!(ip.to_string()));
                    spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                }
                None => {
                    spec.insert("clusterIP".into(), json!("None"));
                    spec.insert("clusterIPs".into(), json!(["None"]));
                }
            }
        }
        if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
            let ports_list = spec.get_mut("ports").and_then(Value::as_array_mut);
            for (i, p) in ports_list.into_iter().flatten().enumerate() {
                match p.get("nodePort").and_then(Value::as_u64) {
                    Some(n) => {
                        let n16 = n as u16;
                        if n > u16::MAX as u64 || n16 < NODE_PORT_RANGE.0 || n16 > NODE_PORT_RANGE.1
                        {
                            return Err(invalid(&format!("spec.ports[{i}].nodePort"), format!(
                                "Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {}-{}",
                                NODE_PORT_RANGE.0, NODE_PORT_RANGE.1
                            )));
                        }
                        if ports.contains(&n16) {
                            return Err(invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                format!("Invalid value: {n}: provided port is already allocated"),
                            ));
                        }
                        ports.insert(n16);
                        self.pending_ports.insert(n16, now);
                        picked.push(Picked {
                            item: Item::Port(n16),
                            requested: true,
                        });
                    }
                    None => {
                        let span = (NODE_PORT_RANGE.1 - NODE_PORT_RANGE.0) as u32 + 1;
                        let start = (uuid::Uuid::new_v4().as_u128() % span as u128) as u32;
                        let found = (0..span)
                            .map(|k| NODE_PORT_RANGE.0 + ((start + k) % span) as u16)
                            .find(|n| !ports.contains(n) && !avoid.contains(&Item::Port(*n)));
                        let Some(n) = found else {
                            return Err(ApiError::internal(
                                "failed to allocate a nodePort: range is full",
                            ));
                        };
                        ports.insert(n);
                        self.pending_ports.insert(n, now);
                        picked.push(Picked {
                            item: Item::Port(n),
                            requested: false,
                        });
                        p["nodePort"] = json!(n);
                    }
                }
            }
        }
        Ok(picked)
    }

    /// Forgets a pick that lost to another server's reservation.
    pub(crate) fn forget(&mut self, item: Item) {
        match item {
            Item::Ip(ip) => self.pending_ips.remove(&ip),
            Item::Port(p) => self.pending_ports.remove(&p),
        };
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Fills a new Service's addresses and reserves them in the store (unless `dry_run`),
/// picking again when another server reserved a pick first.
pub(crate) async fn allocate_service(
    allocator: &tokio::sync::Mutex<Allocator>,
    store: &dyn Store,
    cache: &Cache,
    cidr: Cidr,
    obj: &mut Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    let name = crate::object::name(obj).unwrap_or("").to_string();
    let owner = format!("{}/{name}", crate::object::namespace(obj).unwrap_or(""));
    let mut taken = HashSet::new();
    // Each conflict rules one item out; a few rounds settle any realistic race.
    for _ in 0..32 {
        let mut candidate = obj.clone();
        let picked = allocator
            .lock()
            .await
            .service(cache, cidr, &mut candidate, &name, &taken)?;
        if dry_run {
            *obj = candidate;
            return Ok(());
        }
        match reserve(store, cache, &picked, &owner).await {
            Ok(()) => {
                *obj = candidate;
                return Ok(());
            }
            Err(ReserveError::Taken(p)) => {
                let mut a = allocator.lock().await;
                for q in &picked {
                    a.forget(q.item);
                }
                if p.requested {
                    return Err(already_allocated(&name, p.item));
                }
                taken.insert(p.item);
            }
            Err(ReserveError::Store(e)) => {
                return Err(ApiError::internal(format!(
                    "reserving the Service's addresses: {e}"
                )))
            }
        }
    }
    Err(ApiError::internal(
        "failed to allocate the Service's addresses: too many conflicts",
    ))
}

/// The refusal of an item asked for by value that another Service holds, as upstream's.
pub(crate) fn already_allocated(name: &str, item: Item) -> ApiError {
    let (field, msg) = match item {
        Item::Ip(ip) => (
            "spec.clusterIPs".to_string(),
            format!("Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"),
        ),
        Item::Port(n) => (
            "spec.ports[0].nodePort".to_string(),
            format!("Invalid value: {n}: provided port is already allocated"),
        ),
    };
    ApiError::invalid(
        "",
        "Service",
        name,
        vec![Cause::new("FieldValueInvalid", &field, msg)],
    )
}

/// Why [`reserve`] failed.
pub(crate) enum ReserveError {
    /// Another Service holds (or is being given) this item.
    Taken(Picked),
    Store(StoreError),
}

/// Reserves every picked item for `owner` (`<namespace>/<name>`), all or none.
pub(crate) async fn reserve(
    store: &dyn Store,
    cache: &Cache,
    picked: &[Picked],
    owner: &str,
) -> Result<(), ReserveError> {
    let mut made: Vec<String> = Vec::new();
    for p in picked {
        let key = p.item.key();
        let mut value = json!({"service": owner, "created": now_unix()});
        match p.item {
            Item::Ip(ip) => value["ip"] = json!(ip.to_string()),
            Item::Port(n) => value["port"] = json!(n),
        }
        let data = serde_json::to_vec(&value).unwrap_or_default();
        let mut result = store.create(&key, data.clone()).await;
        if matches!(result, Err(StoreError::AlreadyExists { .. }))
            && take_over(store, cache, &key).await
        {
            result = store.create(&key, data).await;
        }
        let err = match result {
            Ok(_) => {
                made.push(key);
                continue;
            }
            Err(StoreError::AlreadyExists { .. }) => ReserveError::Taken(*p),
            Err(e) => ReserveError::Store(e),
        };
        for k in made {
            let _ = store.delete(&k, None).await;
        }
        return Err(err);
    }
    Ok(())
}

/// Deletes the reservation at `key` if it is stale: older than the grace period and not
/// held by the Service it names. Guarded by revision, so two servers never both take it.
async fn take_over(store: &dyn Store, cache: &Cache, key: &str) -> bool {
    let Ok(Some(kv)) = store.get(key).await else {
        return false;
    };
    let Some(item) = Item::from_key(key) else {
        return false;
    };
    let v: Value = serde_json::from_slice(&kv.value).unwrap_or_default();
    let created = v.get("created").and_then(Value::as_i64).unwrap_or(0);
    if now_unix() - created < GRACE_SECS {
        return false;
    }
    let owner = v.get("service").and_then(Value::as_str).unwrap_or("");
    let held = cache
        .get(&format!("{SERVICES}{owner}"))
        .is_some_and(|svc| held_by(&svc).contains(&item));
    if held {
        return false;
    }
    store.delete(key, Some(kv.mod_revision)).await.is_ok()
}

/// Drops the reservations of a deleted Service (those that still name it), or, with
/// `now`, those of items the updated Service no longer holds (a node port given up).
pub(crate) async fn release(store: &dyn Store, svc: &Value, now: Option<&Value>) {
    let owner = format!(
        "{}/{}",
        crate::object::namespace(svc).unwrap_or(""),
        crate::object::name(svc).unwrap_or("")
    );
    let kept = now.map(held_by).unwrap_or_default();
    for item in held_by(svc).into_iter().filter(|i| !kept.contains(i)) {
        let key = item.key();
        let Ok(Some(kv)) = store.get(&key).await else {
            continue;
        };
        let v: Value = serde_json::from_slice(&kv.value).unwrap_or_default();
        if v.get("service").and_then(Value::as_str) == Some(owner.as_str()) {
            let _ = store.delete(&key, Some(kv.mod_revision)).await;
        }
    }
}

/// Every `REPAIR_EVERY`, drops stale reservations (see [`take_over`]).
pub(crate) fn start_repair(store: Arc<dyn Store>, cache: Arc<Cache>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REPAIR_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
            for prefix in [IP_PREFIX, PORT_PREFIX] {
                let Ok(list) = store.list(prefix, Default::default()).await else {
                    continue;
                };
                for kv in list.items {
                    let key = kv.key;
                    if take_over(store.as_ref(), &cache, &key).await {
                        tracing::info!(%key, "released a reservation no Service holds");
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, node_port: Option<u16>) -> Value {
        let mut port = json!({"port": 80});
        if let Some(n) = node_port {
            port["nodePort"] = json!(n);
        }
        json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort", "ports": [port]}})
    }

    /// Two servers over one store, neither's cache yet showing the other's picks: every
    /// address still goes to one Service only, and a released one is free at once.
    #[tokio::test]
    async fn servers_sharing_a_store_never_hand_out_an_address_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(rkube_store::RedbStore::open(dir.path().join("state.redb")).unwrap());
        let cancel = CancellationToken::new();
        let servers = [
            (
                tokio::sync::Mutex::new(Allocator::default()),
                Cache::start(store.clone(), cancel.clone()).await.unwrap(),
            ),
            (
                tokio::sync::Mutex::new(Allocator::default()),
                Cache::start(store.clone(), cancel.clone()).await.unwrap(),
            ),
        ];
        // A /29: offsets 2..=6 are free (.0 is the network, .1 the `kubernetes` Service's).
        let cidr = Cidr::parse("10.99.0.0/29").unwrap();
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        for i in 0..5 {
            let (alloc, cache) = &servers[i % 2];
            let mut s = svc(&format!("s{i}"), None);
            allocate_service(alloc, store.as_ref(), cache, cidr, &mut s, false)
                .await
                .unwrap();
            let ip = s["spec"]["clusterIP"].as_str().unwrap().to_string();
            assert!(ips.insert(ip.clone()), "{ip} given twice");
            assert!(ports.insert(s["spec"]["ports"][0]["nodePort"].as_u64().unwrap()));
        }
        let (alloc, cache) = &servers[1];
        let mut full = svc("s5", None);
        let err = allocate_service(alloc, store.as_ref(), cache, cidr, &mut full, false)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("range is full") || err.to_string().contains("conflicts"),
            "{err}"
        );
        // A node port asked for by value that the other server reserved.
        let held = *ports.iter().next().unwrap() as u16;
        let mut dup = svc("dup", Some(held));
        dup["spec"]["clusterIP"] = json!("None");
        let err = allocate_service(
            &servers[0].0,
            store.as_ref(),
            &servers[0].1,
            cidr,
            &mut dup,
            false,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("provided port is already allocated"),
            "{err}"
        );
        // Released (its Service deleted): free at once, on the other server too.
        let mut gone = svc("gone", Some(held));
        gone["spec"]["clusterIP"] = json!("None");
        let owner = store
            .list(PORT_PREFIX, Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|kv| kv.key.ends_with(&format!("/{held}")))
            .map(|kv| serde_json::from_slice::<Value>(&kv.value).unwrap()["service"].clone())
            .unwrap();
        let name = owner
            .as_str()
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap()
            .to_string();
        release(store.as_ref(), &svc(&name, Some(held)), None).await;
        allocate_service(
            &servers[1].0,
            store.as_ref(),
            &servers[1].1,
            cidr,
            &mut gone,
            false,
        )
        .await
        .unwrap();
        // An update that keeps the port releases nothing; one that drops it releases it.
        let key = Item::Port(held).key();
        release(store.as_ref(), &gone, Some(&gone)).await;
        assert!(store.get(&key).await.unwrap().is_some());
        let mut cluster_ip = gone.clone();
        cluster_ip["spec"]["type"] = json!("ClusterIP");
        cluster_ip["spec"]["ports"] = json!([{"port": 80}]);
        release(store.as_ref(), &gone, Some(&cluster_ip)).await;
        assert!(store.get(&key).await.unwrap().is_none());
        cancel.cancel();
    }

    #[test]
    fn items_and_their_keys() {
        for item in [Item::Ip("10.43.0.7".parse().unwrap()), Item::Port(30080)] {
            assert_eq!(Item::from_key(&item.key()), Some(item));
        }
        let svc = json!({"spec": {"clusterIP": "10.43.0.7", "clusterIPs": ["10.43.0.7"],
            "ports": [{"nodePort": 30080}, {"port": 81}]}});
        assert_eq!(
            held_by(&svc),
            vec![Item::Ip("10.43.0.7".parse().unwrap()), Item::Port(30080)]
        );
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.43.0.0/16").unwrap();
        assert_eq!(c.size(), 65536);
        assert!(c.contains("10.43.200.1".parse().unwrap()));
        assert!(!c.contains("10.44.0.1".parse().unwrap()));
        assert_eq!(c.nth(10), "10.43.0.10".parse::<Ipv4Addr>().unwrap());
    }
}
