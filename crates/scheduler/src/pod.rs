//! A pod as the scheduler sees it: every field the plugins read, parsed once when the pod
//! arrives from the informer, so a scheduling cycle over thousands of nodes parses nothing.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};

use crate::resources::{pod_non_zero_requests, pod_requests, Resources};
use crate::selector::{compile_node_selector, Labels, NodeTerm, Requirement, Selector};

/// The scheduler name pods get by default; pods naming another scheduler are not ours.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Labels of namespaces, for affinity terms with a `namespaceSelector`.
pub type Namespaces = HashMap<String, Labels>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    /// `Exists` (any value) rather than `Equal`.
    pub exists: bool,
    pub value: String,
    /// Empty: every effect.
    pub effect: String,
}

impl Toleration {
    /// Upstream's `ToleratesTaint`.
    pub fn tolerates(&self, t: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != t.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != t.key {
            return false;
        }
        if self.exists {
            return true;
        }
        // An empty key with Equal is invalid upstream; it tolerates nothing here.
        !self.key.is_empty() && self.value == t.value
    }
}

pub fn tolerated(tols: &[Toleration], t: &Taint) -> bool {
    tols.iter().any(|tol| tol.tolerates(t))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub port: i32,
    pub protocol: String,
    pub ip: String,
}

impl HostPort {
    /// Two host ports clash on the same port and protocol when either binds every address.
    pub fn conflicts(&self, o: &HostPort) -> bool {
        self.port == o.port
            && self.protocol == o.protocol
            && (self.ip == o.ip || self.ip == "0.0.0.0" || o.ip == "0.0.0.0")
    }
}

/// A pod (anti-)affinity term with its namespaces resolved as upstream does.
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    pub namespaces: Vec<String>,
    /// `None`: only the listed namespaces; `Some(empty)`: every namespace.
    pub namespace_selector: Option<Selector>,
    pub selector: Option<Selector>,
    pub topology_key: String,
}

impl AffinityTerm {
    fn compile(owner_ns: &str, owner_labels: &Labels, t: &PodAffinityTerm) -> Self {
        let mut namespaces = t.namespaces.clone().unwrap_or_default();
        let namespace_selector = t.namespace_selector.as_ref().map(Selector::compile);
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(owner_ns.to_string());
        }
        let selector = t.label_selector.as_ref().map(|s| {
            let mut sel = Selector::compile(s);
            for k in t.match_label_keys.iter().flatten() {
                if let Some(v) = owner_labels.get(k) {
                    sel = sel.with_requirement(Requirement::In(k.clone(), vec![v.clone()]));
                }
            }
            for k in t.mismatch_label_keys.iter().flatten() {
                if let Some(v) = owner_labels.get(k) {
                    sel = sel.with_requirement(Requirement::NotIn(k.clone(), vec![v.clone()]));
                }
            }
            sel
        });
        AffinityTerm {
            namespaces,
            namespace_selector,
            selector,
            topology_key: t.topology_key.clone(),
        }
    }

    /// Whether `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &PodInfo, ns: &Namespaces) -> bool {
        let Some(sel) = &self.selector else {
            return false;
        };
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                static EMPTY: std::sync::OnceLock<Labels> = std::sync::OnceLock::new();
                let labels = ns
                    .get(&pod.namespace)
                    .unwrap_or_else(|| EMPTY.get_or_init(Labels::new));
                s.matches(labels)
            });
        ns_ok && sel.matches(&pod.labels)
    }
}

/// A topology spread constraint with upstream's defaults applied.
#[derive(Clone, Debug)]
pub struct SpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    /// `DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    pub hard: bool,
    pub selector: Option<Selector>,
    pub min_domains: Option<i32>,
    /// nodeAffinityPolicy: Honor (the default) counts only nodes the pod could select.
    pub honor_node_affinity: bool,
    /// nodeTaintsPolicy: Ignore is the default.
    pub honor_taints: bool,
}

/// Everything the scheduler needs to know about one pod.
#[derive(Clone, Debug, Default)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    /// metadata.generation: changes with the spec, not with status updates.
    pub generation: i64,
    pub labels: Labels,
    pub priority: i32,
    /// Creation time in microseconds since the epoch (queue order).
    pub created_us: i64,
    /// Start time (or creation time) in microseconds: preemption prefers younger victims.
    pub started_us: i64,
    pub scheduler_name: String,
    pub node_name: String,
    pub nominated_node: String,
    pub terminating: bool,
    /// Succeeded or Failed: holds no resources any more.
    pub terminal: bool,
    pub preempt_never: bool,
    pub requests: Resources,
    pub non_zero_cpu: i64,
    pub non_zero_mem: i64,
    pub host_ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    pub node_selector: Labels,
    /// Required node affinity (ORed terms); `None` when absent.
    pub required_node_terms: Option<Vec<NodeTerm>>,
    pub preferred_node_terms: Vec<(i32, NodeTerm)>,
    pub affinity: Vec<AffinityTerm>,
    pub anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<(i32, AffinityTerm)>,
    pub preferred_anti_affinity: Vec<(i32, AffinityTerm)>,
    pub spread: Vec<SpreadConstraint>,
    /// The controller ownerReference, as (API group, kind, name).
    pub controller: Option<(String, String, String)>,
    /// The message of a PodScheduled=False condition the pod already carries.
    pub unschedulable_message: Option<String>,
}

fn micros(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    t.0.as_microsecond()
}

impl PodInfo {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn has_pod_affinity(&self) -> bool {
        !self.affinity.is_empty()
            || !self.anti_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }

    pub fn from_pod(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let labels: Labels = meta.labels.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let created_us = meta.creation_timestamp.as_ref().map_or(0, micros);
        let phase = status.phase.as_deref().unwrap_or("");
        let mut host_ports = Vec::new();
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        for c in spec.containers.iter().chain(sidecars) {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        port: hp,
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                    });
                }
            }
        }
        let tolerations = spec
            .tolerations
            .iter()
            .flatten()
            .map(|t| Toleration {
                key: t.key.clone().unwrap_or_default(),
                exists: t.operator.as_deref() == Some("Exists"),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone().unwrap_or_default(),
            })
            .collect();
        let aff = spec.affinity.clone().unwrap_or_default();
        let node_aff = aff.node_affinity.unwrap_or_default();
        let required_node_terms = node_aff
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .map(compile_node_selector);
        let preferred_node_terms = node_aff
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| (p.weight, NodeTerm::compile(&p.preference)))
            .collect();
        let term = |t: &PodAffinityTerm| AffinityTerm::compile(&namespace, &labels, t);
        let pa = aff.pod_affinity.unwrap_or_default();
        let paa = aff.pod_anti_affinity.unwrap_or_default();
        let affinity = pa
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(term)
            .collect();
        let anti_affinity = paa
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(term)
            .collect();
        let preferred_affinity = pa
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|w| (w.weight, term(&w.pod_affinity_term)))
            .collect();
        let preferred_anti_affinity = paa
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|w| (w.weight, term(&w.pod_affinity_term)))
            .collect();
        let spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| {
                let selector = c.label_selector.as_ref().map(|s| {
                    let mut sel = Selector::compile(s);
                    for k in c.match_label_keys.iter().flatten() {
                        if let Some(v) = labels.get(k) {
                            sel = sel.with_requirement(Requirement::In(k.clone(), vec![v.clone()]));
                        }
                    }
                    sel
                });
                SpreadConstraint {
                    max_skew: c.max_skew,
                    topology_key: c.topology_key.clone(),
                    hard: c.when_unsatisfiable == "DoNotSchedule",
                    selector,
                    min_domains: c
                        .min_domains
                        .filter(|_| c.when_unsatisfiable == "DoNotSchedule"),
                    honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                    honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                }
            })
            .collect();
        let unschedulable_message = status.conditions.iter().flatten().find_map(|c| {
            (c.type_ == "PodScheduled" && c.status == "False")
                .then(|| c.message.clone().unwrap_or_default())
        });
        let (non_zero_cpu, non_zero_mem) = pod_non_zero_requests(&spec);
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| {
                let group = o.api_version.rsplit_once('/').map_or("", |(g, _)| g);
                (group.to_string(), o.kind.clone(), o.name.clone())
            });
        PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
            name: meta.name.clone().unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            created_us,
            started_us: status.start_time.as_ref().map_or(created_us, micros),
            scheduler_name: spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.into()),
            node_name: spec.node_name.clone().unwrap_or_default(),
            nominated_node: status.nominated_node_name.clone().unwrap_or_default(),
            terminating: meta.deletion_timestamp.is_some(),
            terminal: phase == "Succeeded" || phase == "Failed",
            preempt_never: spec.preemption_policy.as_deref() == Some("Never"),
            requests: pod_requests(&spec),
            non_zero_cpu,
            non_zero_mem,
            host_ports,
            tolerations,
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_node_terms,
            preferred_node_terms,
            affinity,
            anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            spread,
            controller,
            unschedulable_message,
            namespace,
            labels,
        }
    }
}
