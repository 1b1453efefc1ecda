//! The service proxy: kube-proxy's nftables mode.
//!
//! One table of our own (`ip rkube-proxy`). Packets are classified by shared verdict maps
//! keyed by `ip . proto . port` (and `proto . port` for node ports on local addresses), so
//! the cost of a lookup and of an update does not grow with the number of Services — unlike
//! one rule per Service, which at 10,000 Services takes seconds per update. Map elements
//! jump to a chain per Service port, which picks an endpoint chain with a cascade of
//! `numgen random` rules (see `plan::balance` for why not an anonymous vmap on this
//! kernel), which DNATs. Services without endpoints are rejected from filter hooks so that
//! clients fail at once instead of timing out.
//!
//! [`Proxier::sync`] keeps the previous input and plan per Service, replans only Services
//! whose input changed and sends one nftables transaction with just the difference; the
//! first sync rebuilds the table in one transaction (a full resync). Transactions go through
//! one long-lived libnftables context (see [`crate::nft`]): spawning `nft` per change
//! cost more than the change itself.

pub mod model;
pub mod plan;
pub mod script;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use ipnet::Ipv4Net;

pub use model::{
    Endpoint, EndpointPort, EndpointSlice, Protocol, Service, ServicePort, ServiceType, SyncStats,
    TrafficPolicy,
};
use plan::{MapName, PlanConfig, ServicePlan};
use script::Tx;

use crate::nft::Nft;

/// Default table name.
pub const TABLE: &str = "rkube-proxy";

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxierConfig {
    /// This node's name (endpoints with it are local for the `Local` traffic policies).
    pub node_name: String,
    /// The cluster's pod CIDR (see [`PlanConfig::cluster_cidr`]).
    pub cluster_cidr: Option<Ipv4Net>,
    pub masquerade_all: bool,
    /// nftables table name (`ip` family).
    pub table: String,
    /// Network namespace to program (the agent's own when `None`).
    pub netns: Option<PathBuf>,
    /// Rewrite the whole table when the last full sync is older than this, repairing what
    /// an incremental sync cannot see (e.g. one rule deleted by hand). `None`: never.
    pub full_resync_interval: Option<Duration>,
}

impl ProxierConfig {
    pub fn new(node_name: impl Into<String>, cluster_cidr: Option<Ipv4Net>) -> Self {
        ProxierConfig {
            node_name: node_name.into(),
            cluster_cidr,
            masquerade_all: false,
            table: TABLE.to_string(),
            netns: None,
            full_resync_interval: Some(Duration::from_secs(3600)),
        }
    }
}

/// `namespace/name` (`/` cannot occur in either).
type ServiceKey = String;

/// What was last written for one Service.
struct Applied {
    service: Service,
    slices: Vec<EndpointSlice>,
    plan: ServicePlan,
}

/// A Service whose input changed, with its new plan.
struct Changed<'a> {
    prev: Option<&'a Applied>,
    plan: ServicePlan,
    service: &'a Service,
    slices: Vec<&'a EndpointSlice>,
}

/// The slices of one Service (a chain through `next` in [`Proxier::prepare`]) and whether
/// the Service was listed.
struct Group {
    head: usize,
    seen: bool,
}

impl Group {
    const END: usize = usize::MAX;
}

impl Default for Group {
    fn default() -> Self {
        Group {
            head: Group::END,
            seen: false,
        }
    }
}

/// A computed, not yet applied, sync.
struct Prepared {
    script: String,
    stats: SyncStats,
    next: HashMap<ServiceKey, Applied>,
    removed: Vec<ServiceKey>,
}

/// Programs Services into nftables. Not `Sync`: one owner calls `sync` at a time.
pub struct Proxier {
    cfg: ProxierConfig,
    plan_cfg: PlanConfig,
    nft: Nft,
    applied: HashMap<ServiceKey, Applied>,
    /// Which Service wrote each map element (two Services claiming one key — possible only
    /// transiently — must not delete each other's element).
    owners: HashMap<(MapName, String), ServiceKey>,
    /// Shared chains in the kernel (created on first use, kept until the next full sync).
    shared_chains: HashSet<String>,
    /// How many Services use each shared set element.
    shared_refs: HashMap<(MapName, String), usize>,
    /// When the last full sync was applied; `None` until one succeeded (and again after a
    /// failed transaction).
    last_full: Option<Instant>,
}

impl Proxier {
    pub fn new(cfg: ProxierConfig) -> Self {
        let plan_cfg = PlanConfig {
            node_name: cfg.node_name.clone(),
            cluster_cidr: cfg.cluster_cidr,
            masquerade_all: cfg.masquerade_all,
        };
        let nft = Nft::new(cfg.netns.clone());
        Proxier {
            cfg,
            plan_cfg,
            nft,
            applied: HashMap::new(),
            owners: HashMap::new(),
            shared_chains: HashSet::new(),
            shared_refs: HashMap::new(),
            last_full: None,
        }
    }

    pub fn config(&self) -> &ProxierConfig {
        &self.cfg
    }

    /// Makes the table match `services` and their `slices` (all of them, every time: the
    /// proxier diffs against what it wrote last). A failed incremental transaction changed
    /// nothing in the kernel and is followed at once by a full rewrite; only when that fails
    /// too is the error returned (and the next call starts with a full rewrite).
    pub fn sync(
        &mut self,
        services: &[Service],
        slices: &[EndpointSlice],
    ) -> anyhow::Result<SyncStats> {
        let nft = self.nft.clone();
        self.sync_with(services, slices, |script| nft.apply(script))
    }

    /// [`Proxier::sync`] with the transaction handed to `apply` instead of nftables (tests
    /// inspect the scripts this way).
    pub fn sync_with(
        &mut self,
        services: &[Service],
        slices: &[EndpointSlice],
        mut apply: impl FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<SyncStats> {
        let started = Instant::now();
        let stale = match (self.last_full, self.cfg.full_resync_interval) {
            (Some(at), Some(every)) => at.elapsed() >= every,
            _ => false,
        };
        if stale {
            tracing::debug!(table = %self.cfg.table, "periodic full resync of the service proxy");
            self.reset();
        }
        let mut prepared = self.prepare(services, slices);
        if !prepared.script.is_empty() {
            if let Err(e) = apply(&prepared.script) {
                self.reset();
                if !prepared.stats.full {
                    // The table is not what we wrote (flushed or deleted by somebody, or a
                    // bug of ours): rewrite it whole.
                    tracing::warn!(table = %self.cfg.table, "incremental service proxy update failed, rewriting the table: {e:#}");
                    prepared = self.prepare(services, slices);
                    if let Err(e) = apply(&prepared.script) {
                        self.reset();
                        return Err(e).context("rewriting the service proxy table");
                    }
                } else {
                    return Err(e).context("applying the service proxy transaction");
                }
            }
        }
        let stats = prepared.stats.clone();
        if stats.full {
            self.applied.clear();
            self.last_full = Some(Instant::now());
        }
        for k in &prepared.removed {
            self.applied.remove(k);
        }
        self.applied.extend(prepared.next);
        tracing::debug!(
            ?stats,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "service proxy synced"
        );
        Ok(stats)
    }

    /// Computes the transaction from what was applied to the desired state. Updates the
    /// element owners as if it will be applied; a failed apply resets them.
    fn prepare(&mut self, services: &[Service], slices: &[EndpointSlice]) -> Prepared {
        let full = self.last_full.is_none();
        // Slices by Service as chains of indices into `slices`, so that grouping allocates
        // nothing per Service; the same map marks the Services seen (duplicates, removals).
        let mut groups: HashMap<(&str, &str), Group> =
            HashMap::with_capacity(services.len().max(slices.len()));
        let mut next = vec![Group::END; slices.len()];
        for (i, s) in slices.iter().enumerate().rev() {
            let g = groups
                .entry((s.namespace.as_str(), s.service_name.as_str()))
                .or_default();
            next[i] = g.head;
            g.head = i;
        }
        let next = &next;
        let chain = move |head: usize| {
            let more = |i: usize| Some(i).filter(|&i| i != Group::END);
            std::iter::successors(more(head), move |&i| more(next[i])).map(|i| &slices[i])
        };
        let empty = ServicePlan::default();
        let mut stats = SyncStats {
            full,
            services: services.len(),
            ..Default::default()
        };
        if full {
            self.owners.clear();
            self.shared_chains.clear();
            self.shared_refs.clear();
        }
        let owners = &mut self.owners;
        let mut changed: BTreeMap<ServiceKey, Changed> = BTreeMap::new();
        // Lookups go through one reused buffer: the unchanged majority costs no allocation.
        let mut key = String::new();
        let mut still_applied = 0usize;

        for svc in services {
            let group = groups
                .entry((svc.namespace.as_str(), svc.name.as_str()))
                .or_default();
            if group.seen {
                tracing::warn!(service = %format!("{}/{}", svc.namespace, svc.name), "Service listed twice; using the first");
                continue;
            }
            group.seen = true;
            let head = group.head;
            key.clear();
            key.push_str(&svc.namespace);
            key.push('/');
            key.push_str(&svc.name);
            let prev = if full {
                None
            } else {
                self.applied.get(key.as_str())
            };
            if let Some(prev) = prev {
                still_applied += 1;
                let mut now = chain(head);
                if prev.service == *svc
                    && prev.slices.iter().all(|a| now.next() == Some(a))
                    && now.next().is_none()
                {
                    // Unchanged input: nothing to plan, nothing to write.
                    continue;
                }
            }
            let my_slices: Vec<&EndpointSlice> = chain(head).collect();
            let plan = plan::plan_service(&self.plan_cfg, svc, &my_slices);
            changed.insert(
                key.clone(),
                Changed {
                    prev,
                    plan,
                    service: svc,
                    slices: my_slices,
                },
            );
        }
        // Services gone since the last sync (a scan only when some are).
        let removed: Vec<ServiceKey> = if full || still_applied == self.applied.len() {
            Vec::new()
        } else {
            self.applied
                .keys()
                .filter(|k| {
                    let (ns, name) = k.split_once('/').unwrap_or((k.as_str(), ""));
                    !groups.get(&(ns, name)).is_some_and(|g| g.seen)
                })
                .cloned()
                .collect()
        };
        // Release the keys of changed and removed Services before anybody claims them.
        if !full {
            for key in removed.iter().chain(changed.keys()) {
                if let Some(prev) = self.applied.get(key) {
                    for k in prev.plan.elements.keys() {
                        if owners.get(k) == Some(key) {
                            owners.remove(k);
                        }
                    }
                }
            }
        }
        let mut tx = Tx::default();
        // Shared set elements: count users before and after, write only the net change.
        let mut refs_before: BTreeMap<(MapName, String), usize> = BTreeMap::new();
        let refs = &mut self.shared_refs;
        let mut count = |k: &(MapName, String), up: bool| {
            let n = refs.entry(k.clone()).or_insert(0);
            refs_before.entry(k.clone()).or_insert(*n);
            *n = if up { *n + 1 } else { n.saturating_sub(1) };
        };
        if !full {
            for key in removed.iter().chain(changed.keys()) {
                if let Some(prev) = self.applied.get(key) {
                    prev.plan
                        .shared_elements
                        .iter()
                        .for_each(|k| count(k, false));
                }
            }
        }
        for c in changed.values() {
            c.plan.shared_elements.iter().for_each(|k| count(k, true));
        }
        for key in &removed {
            if let Some(prev) = self.applied.get(key) {
                tx.diff(&prev.plan, &empty);
            }
        }
        let mut next: HashMap<ServiceKey, Applied> = HashMap::with_capacity(changed.len());
        for (key, mut c) in changed {
            c.plan.elements.retain(|k, _| match owners.get(k) {
                Some(owner) if *owner != key => {
                    tracing::warn!(service = %key, element = %k.1,
                        "map element already used by {owner}; skipped");
                    false
                }
                _ => {
                    owners.insert(k.clone(), key.clone());
                    true
                }
            });
            for (name, rules) in &c.plan.shared_chains {
                if self.shared_chains.insert(name.clone()) {
                    tx.add_shared_chain(name, rules);
                }
            }
            tx.diff(c.prev.map(|p| &p.plan).unwrap_or(&empty), &c.plan);
            stats.changed_services += 1;
            next.insert(
                key,
                Applied {
                    service: c.service.clone(),
                    slices: c.slices.into_iter().cloned().collect(),
                    plan: c.plan,
                },
            );
        }
        for ((map, key), before) in refs_before {
            let now = self
                .shared_refs
                .get(&(map, key.clone()))
                .copied()
                .unwrap_or(0);
            if now == 0 {
                self.shared_refs.remove(&(map, key.clone()));
            }
            if (before == 0) != (now == 0) {
                tx.shared_element(map, &key, now > 0);
            }
        }
        stats.chains_written = tx.counts.chains_written;
        stats.chains_deleted = tx.counts.chains_deleted;
        stats.elements_added = tx.counts.elements_added;
        stats.elements_deleted = tx.counts.elements_deleted;

        let mut script = String::new();
        if full {
            script.push_str(&script::skeleton(&self.cfg.table));
            tx.render(&self.cfg.table, &mut script);
        } else if !tx.is_empty() {
            let (probe, restore) = script::canary(&self.cfg.table);
            script.push_str(&probe);
            tx.render(&self.cfg.table, &mut script);
            script.push_str(&restore);
        }
        stats.script_bytes = script.len();
        Prepared {
            script,
            stats,
            next,
            removed,
        }
    }

    /// Removes the table (on shutdown, or when another proxy takes over).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let t = &self.cfg.table;
        self.nft
            .apply(&format!("table ip {t} {{}}\ndelete table ip {t}\n"))
            .context("deleting the service proxy table")?;
        self.reset();
        Ok(())
    }

    /// Forgets everything applied: the next sync rebuilds the table (a full resync).
    pub fn reset(&mut self) {
        self.applied.clear();
        self.owners.clear();
        self.shared_chains.clear();
        self.shared_refs.clear();
        self.last_full = None;
    }
}

#[cfg(test)]
mod tests;
