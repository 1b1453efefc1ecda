//! nftables text: the fixed skeleton of the table and the transaction turning one set of
//! [`ServicePlan`]s into another.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::plan::{MapName, ServicePlan};

/// The fwmark bit asking for masquerade in postrouting (kube-proxy's 0x4000).
pub const MASQ_MARK: u32 = 0x4000;

/// A set holding one element that every incremental transaction deletes and re-adds: if
/// somebody deleted the table (`nft flush ruleset`, `delete table`) or flushed the set, the
/// delete fails, the transaction aborts, and the proxier falls back to a full rewrite
/// instead of patching a table that is not there. `nft flush table` removes rules but not
/// set elements, so it is only repaired by the periodic full resync.
pub const CANARY: &str = "sync-canary";

/// The canary's delete (first) and re-add (last) around an incremental transaction.
pub fn canary(table: &str) -> (String, String) {
    (
        format!("delete element ip {table} {CANARY} {{ 1 }}\n"),
        format!("add element ip {table} {CANARY} {{ 1 }}\n"),
    )
}

/// The table's skeleton. Written on the first (full) sync, after deleting any table left
/// by an earlier run — in the same transaction, so there is no window without rules.
///
/// The endpoint maps say `ip protocol . tcp dport` in their `typeof` although the pick
/// rules look up `meta l4proto . th dport` (same types, any protocol): nft 1.0.6 rebuilds
/// a `typeof` from the kernel on later runs and rejects `th` after `ip` there.
pub fn skeleton(table: &str) -> String {
    let t = table;
    let mut s = String::new();
    let _ = writeln!(s, "table ip {t} {{}}");
    let _ = writeln!(s, "delete table ip {t}");
    let _ = write!(
        s,
        "table ip {t} {{
\tmap service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict; }}
\tmap service-nodeports {{ type inet_proto . inet_service : verdict; }}
\tmap no-endpoint-services {{ type ipv4_addr . inet_proto . inet_service : verdict; }}
\tmap no-endpoint-nodeports {{ type inet_proto . inet_service : verdict; }}
\tmap endpoints {{ typeof ip daddr . ip protocol . tcp dport . numgen random mod 1 : ip daddr . tcp dport; }}
\tmap nodeport-endpoints {{ typeof ip protocol . tcp dport . numgen random mod 1 : ip daddr . tcp dport; }}
\tset hairpin {{ type ipv4_addr . ipv4_addr; }}
\tset {CANARY} {{ type inet_service; elements = {{ 1 }}; }}
\tchain reject-chain {{
\t\tmeta l4proto tcp reject with tcp reset
\t\treject
\t}}
\tchain mark-for-masquerade {{
\t\tmeta mark set meta mark or {MASQ_MARK:#x}
\t}}
\tchain masquerading {{
\t\tct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade
\t\tmeta mark & {MASQ_MARK:#x} == 0 return
\t\tmeta mark set meta mark xor {MASQ_MARK:#x}
\t\tmasquerade fully-random
\t}}
\tchain services {{
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
\t}}
\tchain service-endpoints-check {{
\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services
\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
\t}}
\tchain filter-input {{
\t\ttype filter hook input priority -110; policy accept;
\t\tct state new jump service-endpoints-check
\t}}
\tchain filter-forward {{
\t\ttype filter hook forward priority -110; policy accept;
\t\tct state new jump service-endpoints-check
\t}}
\tchain filter-output {{
\t\ttype filter hook output priority -110; policy accept;
\t\tct state new jump service-endpoints-check
\t}}
\tchain nat-prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}}
\tchain nat-output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tjump services
\t}}
\tchain nat-postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tjump masquerading
\t}}
}}
"
    );
    s
}

/// Counts of what a transaction does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TxCounts {
    pub chains_written: usize,
    pub chains_deleted: usize,
    pub elements_added: usize,
    pub elements_deleted: usize,
}

/// The statements of one transaction, grouped so that they can be emitted in an order the
/// kernel accepts: objects exist before anything refers to them, and references are gone
/// before their targets are deleted.
#[derive(Debug, Default)]
pub struct Tx {
    add_sets: Vec<(String, String)>,
    add_chains: Vec<String>,
    del_elements: BTreeMap<MapName, Vec<String>>,
    flush_chains: Vec<String>,
    rules: Vec<(String, Vec<String>)>,
    add_elements: BTreeMap<MapName, Vec<(String, String)>>,
    del_chains: Vec<String>,
    del_sets: Vec<String>,
    pub counts: TxCounts,
}

impl Tx {
    pub fn is_empty(&self) -> bool {
        self.add_sets.is_empty()
            && self.add_chains.is_empty()
            && self.del_elements.is_empty()
            && self.flush_chains.is_empty()
            && self.rules.is_empty()
            && self.add_elements.is_empty()
            && self.del_chains.is_empty()
            && self.del_sets.is_empty()
    }

    /// Creates a shared chain (one that Services jump to but do not own).
    pub fn add_shared_chain(&mut self, name: &str, rules: &[String]) {
        self.add_chains.push(name.to_string());
        self.rules.push((name.to_string(), rules.to_vec()));
        self.counts.chains_written += 1;
    }

    /// Adds (`add`) or deletes a value-less set element shared between Services.
    pub fn shared_element(&mut self, map: MapName, key: &str, add: bool) {
        if add {
            self.add_elements
                .entry(map)
                .or_default()
                .push((key.to_string(), String::new()));
            self.counts.elements_added += 1;
        } else {
            self.del_elements
                .entry(map)
                .or_default()
                .push(key.to_string());
            self.counts.elements_deleted += 1;
        }
    }

    /// Adds the changes taking the table from `old` to `new` for one Service. Only what
    /// differs is touched: unchanged chains are not flushed, unchanged elements stay.
    pub fn diff(&mut self, old: &ServicePlan, new: &ServicePlan) {
        for (name, def) in &new.sets {
            if !old.sets.contains_key(name) {
                self.add_sets.push((name.clone(), def.clone()));
            }
        }
        for ((map, key), verdict) in &old.elements {
            if new.elements.get(&(*map, key.clone())) != Some(verdict) {
                self.del_elements.entry(*map).or_default().push(key.clone());
                self.counts.elements_deleted += 1;
            }
        }
        for (name, rules) in &new.chains {
            match old.chains.get(name) {
                None => {
                    self.add_chains.push(name.clone());
                    self.rules.push((name.clone(), rules.clone()));
                    self.counts.chains_written += 1;
                }
                Some(prev) if prev != rules => {
                    self.flush_chains.push(name.clone());
                    self.rules.push((name.clone(), rules.clone()));
                    self.counts.chains_written += 1;
                }
                Some(_) => {}
            }
        }
        for ((map, key), verdict) in &new.elements {
            if old.elements.get(&(*map, key.clone())) != Some(verdict) {
                self.add_elements
                    .entry(*map)
                    .or_default()
                    .push((key.clone(), verdict.clone()));
                self.counts.elements_added += 1;
            }
        }
        for name in old.chains.keys() {
            if !new.chains.contains_key(name) {
                self.flush_chains.push(name.clone());
                self.del_chains.push(name.clone());
                self.counts.chains_deleted += 1;
            }
        }
        for name in old.sets.keys() {
            if !new.sets.contains_key(name) {
                self.del_sets.push(name.clone());
            }
        }
    }

    /// The transaction as an `nft -f` script (appended to `out`).
    pub fn render(&self, table: &str, out: &mut String) {
        let t = table;
        for (name, def) in &self.add_sets {
            let _ = writeln!(out, "add set ip {t} {name} {{ {def} }}");
        }
        for name in &self.add_chains {
            let _ = writeln!(out, "add chain ip {t} {name}");
        }
        for (map, keys) in &self.del_elements {
            for chunk in keys.chunks(1000) {
                let _ = writeln!(
                    out,
                    "delete element ip {t} {} {{ {} }}",
                    map.as_str(),
                    chunk.join(", ")
                );
            }
        }
        for name in &self.flush_chains {
            let _ = writeln!(out, "flush chain ip {t} {name}");
        }
        for (name, rules) in &self.rules {
            for rule in rules {
                let _ = writeln!(out, "add rule ip {t} {name} {rule}");
            }
        }
        for (map, elems) in &self.add_elements {
            for chunk in elems.chunks(1000) {
                let body: Vec<String> = chunk
                    .iter()
                    .map(|(k, v)| {
                        if v.is_empty() {
                            k.clone()
                        } else {
                            format!("{k} : {v}")
                        }
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "add element ip {t} {} {{ {} }}",
                    map.as_str(),
                    body.join(", ")
                );
            }
        }
        for name in &self.del_chains {
            let _ = writeln!(out, "delete chain ip {t} {name}");
        }
        for name in &self.del_sets {
            let _ = writeln!(out, "delete set ip {t} {name}");
        }
    }
}
