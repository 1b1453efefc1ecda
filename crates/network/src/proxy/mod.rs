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
//! whose input changed and sends one `nft -f -` transaction with just the difference; the
//! first sync rebuilds the table in one transaction (a full resync).

pub mod model;
pub mod plan;
pub mod script;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

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
}

impl ProxierConfig {
    pub fn new(node_name: impl Into<String>, cluster_cidr: Option<Ipv4Net>) -> Self {
        ProxierConfig {
            node_name: node_name.into(),
            cluster_cidr,
            masquerade_all: false,
            table: TABLE.to_string(),
            netns: None,
        }
    }
}

type ServiceKey = (String, String);

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
    /// False until a full sync has succeeded (and again after a failed transaction).
    synced: bool,
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
            synced: false,
        }
    }

    pub fn config(&self) -> &ProxierConfig {
        &self.cfg
    }

    /// Makes the table match `services` and their `slices` (all of them, every time: the
    /// proxier diffs against what it wrote last). On a failed transaction nothing changed
    /// in the kernel, and the next call does a full resync.
    pub fn sync(
        &mut self,
        services: &[Service],
        slices: &[EndpointSlice],
    ) -> anyhow::Result<SyncStats> {
        let nft = self.nft.clone();
        self.sync_with(services, slices, |script| nft.apply(script))
    }

    /// [`Proxier::sync`] with the transaction handed to `apply` instead of `nft` (tests
    /// inspect the scripts this way).
    pub fn sync_with(
        &mut self,
        services: &[Service],
        slices: &[EndpointSlice],
        apply: impl FnOnce(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<SyncStats> {
        let started = std::time::Instant::now();
        let prepared = self.prepare(services, slices);
        if !prepared.script.is_empty() {
            if let Err(e) = apply(&prepared.script) {
                self.reset();
                return Err(e).context("applying the service proxy transaction");
            }
        }
        let stats = prepared.stats.clone();
        if stats.full {
            self.applied.clear();
        }
        for k in &prepared.removed {
            self.applied.remove(k);
        }
        self.applied.extend(prepared.next);
        self.synced = true;
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
        let full = !self.synced;
        let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for s in slices {
            by_service
                .entry((s.namespace.as_str(), s.service_name.as_str()))
                .or_default()
                .push(s);
        }
        let empty = ServicePlan::default();
        let mut stats = SyncStats {
            full,
            services: services.len(),
            ..Default::default()
        };
        if full {
            self.owners.clear();
        }
        let owners = &mut self.owners;
        let mut changed: BTreeMap<ServiceKey, Changed> = BTreeMap::new();
        let mut live: HashSet<(&str, &str)> = HashSet::with_capacity(services.len());

        for svc in services {
            if !live.insert((svc.namespace.as_str(), svc.name.as_str())) {
                tracing::warn!(service = %format!("{}/{}", svc.namespace, svc.name), "Service listed twice; using the first");
                continue;
            }
            let key = (svc.namespace.clone(), svc.name.clone());
            let my_slices = by_service
                .get(&(svc.namespace.as_str(), svc.name.as_str()))
                .cloned()
                .unwrap_or_default();
            let prev = if full { None } else { self.applied.get(&key) };
            if let Some(prev) = prev {
                if prev.service == *svc
                    && prev.slices.len() == my_slices.len()
                    && prev.slices.iter().zip(&my_slices).all(|(a, b)| a == *b)
                {
                    // Unchanged input: nothing to plan, nothing to write.
                    continue;
                }
            }
            let plan = plan::plan_service(&self.plan_cfg, svc, &my_slices);
            changed.insert(
                key,
                Changed {
                    prev,
                    plan,
                    service: svc,
                    slices: my_slices,
                },
            );
        }
        // Services gone since the last sync.
        let removed: Vec<ServiceKey> = if full {
            Vec::new()
        } else {
            self.applied
                .keys()
                .filter(|k| !live.contains(&(k.0.as_str(), k.1.as_str())))
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
        for key in &removed {
            if let Some(prev) = self.applied.get(key) {
                tx.diff(&prev.plan, &empty);
            }
        }
        let mut next: HashMap<ServiceKey, Applied> = HashMap::with_capacity(changed.len());
        for (key, mut c) in changed {
            c.plan.elements.retain(|k, _| match owners.get(k) {
                Some(owner) if *owner != key => {
                    tracing::warn!(service = %format!("{}/{}", key.0, key.1), element = %k.1,
                        "map element already used by {}/{}; skipped", owner.0, owner.1);
                    false
                }
                _ => {
                    owners.insert(k.clone(), key.clone());
                    true
                }
            });
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
        stats.chains_written = tx.counts.chains_written;
        stats.chains_deleted = tx.counts.chains_deleted;
        stats.elements_added = tx.counts.elements_added;
        stats.elements_deleted = tx.counts.elements_deleted;

        let mut script = String::new();
        if full {
            script.push_str(&script::skeleton(&self.cfg.table));
        }
        if !tx.is_empty() {
            tx.render(&self.cfg.table, &mut script);
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
        self.synced = false;
    }
}

#[cfg(test)]
mod tests;
