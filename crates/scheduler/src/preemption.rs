//! Preemption (upstream's DefaultPreemption PostFilter): when a pod fits nowhere, find a
//! node where removing pods of lower priority makes it fit, with the least damage.
//!
//! Per node: remove every lower-priority pod; if the pod then fits, add them back one by one
//! from the most important (highest priority, then oldest) and keep back every pod that does
//! not stop it fitting. Among the candidate nodes pick, in upstream's order: the lowest
//! highest-victim priority, the lowest sum of victim priorities, the fewest victims, the
//! latest start of the highest-priority victims, then the first.
//! PodDisruptionBudgets are a preference, as upstream: victims that would break a budget
//! are kept back first, and the node whose victims break the fewest budgets wins before
//! every other criterion.

use std::collections::HashMap;
use std::sync::Arc;

use crate::algorithm::filter_node;
use crate::cache::Cache;
use crate::fit_error::FitError;
use crate::node::NodeInfo;
use crate::plugins::{Code, CycleState, Status};
use crate::pod::PodInfo;

pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NEVER: &str = "not eligible due to preemptionPolicy=Never.";
pub const TERMINATING: &str = "not eligible due to a terminating pod on the nominated node.";

/// Upstream's floor on how many candidate nodes a preemption dry run looks for.
const MIN_CANDIDATES: usize = 100;

/// The node to free and the pods to delete there.
#[derive(Clone, Debug)]
pub struct Preemption {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
}

fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| a.started_us.cmp(&b.started_us))
}

/// A node where preemption would make the pod fit.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub node: String,
    /// Most important first.
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims would break a PodDisruptionBudget.
    pub violations: usize,
}

/// The minimal set of victims on one node, and how many of them break a budget, or why
/// there is none.
pub fn select_victims(
    cache: &Cache,
    pod: &PodInfo,
    state: &CycleState,
    info: &NodeInfo,
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let Some(node) = info.node.as_deref() else {
        return Err(Status::unresolvable(NOT_HELPFUL));
    };
    let mut potential: Vec<Arc<PodInfo>> = info
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    let ns = &cache.namespaces;
    let mut without = info.clone();
    let mut st = state.clone();
    for v in &potential {
        without.remove_pod(&v.uid);
        st.update(pod, v, node, ns, -1);
    }
    filter_node(pod, &st, &without, cache)?;
    potential.sort_by(|a, b| more_important(a, b));
    // Pods whose deletion would break a budget are reprieved first.
    let breaks = crate::disruption::violations(&cache.budgets, potential.iter().map(|p| &**p));
    let (violating, other): (Vec<_>, Vec<_>) =
        potential.into_iter().zip(breaks).partition(|(_, b)| *b);
    let mut victims = Vec::new();
    let mut violations = 0;
    for (p, breaks) in violating.into_iter().chain(other) {
        without.add_pod(p.clone());
        st.update(pod, &p, node, ns, 1);
        if filter_node(pod, &st, &without, cache).is_err() {
            without.remove_pod(&p.uid);
            st.update(pod, &p, node, ns, -1);
            violations += usize::from(breaks);
            victims.push(p);
        }
    }
    victims.sort_by(|a, b| more_important(a, b));
    Ok((victims, violations))
}

/// Whether the pod may preempt at all (upstream's `PodEligibleToPreemptOthers`).
fn eligible(cache: &Cache, pod: &PodInfo, statuses: &HashMap<&str, &Status>) -> Result<(), String> {
    if pod.preempt_never {
        return Err(NEVER.into());
    }
    if pod.nominated_node.is_empty() {
        return Ok(());
    }
    if statuses
        .get(pod.nominated_node.as_str())
        .is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable)
    {
        return Ok(());
    }
    if let Some(info) = cache.node(&pod.nominated_node) {
        if info
            .pods
            .iter()
            .any(|p| p.terminating && p.priority < pod.priority)
        {
            return Err(TERMINATING.into());
        }
    }
    Ok(())
}

/// Runs preemption for a pod that failed with `fit`. `Err` carries the PostFilter message
/// ("preemption: ...") for the FitError.
pub fn preempt(cache: &Cache, pod: &PodInfo, fit: &FitError) -> Result<Preemption, String> {
    let statuses: HashMap<&str, &Status> =
        fit.statuses.iter().map(|(n, s)| (n.as_str(), s)).collect();
    eligible(cache, pod, &statuses).map_err(|m| format!("preemption: {m}"))?;
    let state = CycleState::new(pod, cache);
    let nodes = cache.nodes();
    let want = (nodes.len() / 10).max(MIN_CANDIDATES);
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut failures: Vec<(String, Status)> = Vec::new();
    for info in nodes {
        let name = info.name();
        let helpful = statuses
            .get(name)
            .is_none_or(|s| s.code == Code::Unschedulable);
        if !helpful {
            failures.push((name.to_string(), Status::unresolvable(NOT_HELPFUL)));
            continue;
        }
        if candidates.len() >= want {
            continue;
        }
        match select_victims(cache, pod, &state, info) {
            Ok((victims, violations)) => candidates.push(Candidate {
                node: name.to_string(),
                victims,
                violations,
            }),
            Err(s) => failures.push((name.to_string(), s)),
        }
    }
    if candidates.is_empty() {
        let e = FitError {
            num_all_nodes: nodes.len(),
            statuses: failures,
            post_filter_msg: None,
        };
        return Err(format!("preemption: {}", e.message()));
    }
    let best = pick_one(&candidates);
    let c = candidates.swap_remove(best);
    Ok(Preemption {
        node: c.node,
        victims: c.victims,
    })
}

/// Upstream's `pickOneNodeForPreemption`.
pub fn pick_one(candidates: &[Candidate]) -> usize {
    if let Some(i) = candidates.iter().position(|c| c.victims.is_empty()) {
        return i;
    }
    let mut idx: Vec<usize> = (0..candidates.len()).collect();
    let violations = idx.iter().map(|&i| candidates[i].violations).min();
    idx.retain(|&i| Some(candidates[i].violations) == violations);
    let keep_min = |idx: &mut Vec<usize>, key: &dyn Fn(&[Arc<PodInfo>]) -> i64| {
        let Some(min) = idx.iter().map(|&i| key(&candidates[i].victims)).min() else {
            return;
        };
        idx.retain(|&i| key(&candidates[i].victims) == min);
    };
    // Victims are sorted most important first.
    keep_min(&mut idx, &|v: &[Arc<PodInfo>]| {
        v.first().map_or(i64::MIN, |p| i64::from(p.priority))
    });
    keep_min(&mut idx, &|v: &[Arc<PodInfo>]| {
        v.iter()
            .map(|p| i64::from(p.priority) + i64::from(i32::MAX) + 1)
            .sum()
    });
    keep_min(&mut idx, &|v: &[Arc<PodInfo>]| v.len() as i64);
    // The latest "earliest start among the highest-priority victims".
    keep_min(&mut idx, &|v: &[Arc<PodInfo>]| {
        let top = v.first().map_or(0, |p| p.priority);
        -v.iter()
            .filter(|p| p.priority == top)
            .map(|p| p.started_us)
            .min()
            .unwrap_or(0)
    });
    idx.first().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{Algorithm, Options};
    use crate::plugins::testutil::*;
    use crate::resources::Resources;

    fn p(name: &str, prio: i32, cpu: i64, started: i64) -> PodInfo {
        PodInfo {
            priority: prio,
            started_us: started,
            requests: Resources {
                milli_cpu: cpu,
                ..Default::default()
            },
            ..pod(name, &[])
        }
    }

    fn place(c: &mut Cache, pod: PodInfo, node: &str) {
        c.update_bound_pod(Arc::new(PodInfo {
            node_name: node.into(),
            ..pod
        }));
    }

    fn run(c: &Cache, pod: &PodInfo) -> Result<Preemption, String> {
        let fit = match Algorithm::new(Options::default()).schedule(c, pod) {
            Ok(d) => panic!("expected no fit, got {d:?}"),
            Err(e) => e,
        };
        preempt(c, pod, &fit)
    }

    #[test]
    fn minimal_victims_lowest_priority_first() {
        let mut c = Cache::new();
        c.upsert_node(node("n1", &[])); // 4000m
        place(&mut c, p("a", 10, 2000, 1), "n1");
        place(&mut c, p("b", 5, 1000, 1), "n1");
        place(&mut c, p("c", 1, 1000, 1), "n1");
        // Needs 1000m: evicting "c" (lowest priority) is enough.
        let r = run(&c, &p("hi", 100, 1000, 0));
        let victims: Vec<String> = r
            .iter()
            .flat_map(|r| r.victims.iter().map(|v| v.name.clone()))
            .collect();
        assert_eq!(victims, vec!["c"]);
        // Needs 2000m: the two low ones go, "a" (priority 10) stays.
        let r = run(&c, &p("hi", 100, 2000, 0));
        let mut victims: Vec<String> = r
            .iter()
            .flat_map(|r| r.victims.iter().map(|v| v.name.clone()))
            .collect();
        victims.sort();
        assert_eq!(victims, vec!["b", "c"]);
    }

    #[test]
    fn picks_the_node_with_the_lowest_priority_victims() {
        let mut c = Cache::new();
        c.upsert_node(node("n1", &[]));
        c.upsert_node(node("n2", &[]));
        place(&mut c, p("a", 50, 4000, 1), "n1");
        place(&mut c, p("b", 10, 4000, 1), "n2");
        let r = run(&c, &p("hi", 100, 1000, 0));
        assert_eq!(r.map(|r| r.node).ok().as_deref(), Some("n2"));
    }

    fn guarded(mut pod: PodInfo) -> PodInfo {
        pod.labels.insert("app".into(), "guarded".into());
        pod
    }

    #[test]
    fn disruption_budgets_are_kept_when_possible() {
        let mut c = Cache::new();
        c.budgets.insert(
            "default/b".into(),
            crate::disruption::tests::budget("default", "guarded", 0, &[]),
        );
        c.upsert_node(node("n1", &[]));
        // On one node, either pod is enough; the budget keeps the guarded (lower
        // priority) one.
        place(&mut c, guarded(p("g", 1, 2000, 1)), "n1");
        place(&mut c, p("f", 5, 2000, 1), "n1");
        let r = run(&c, &p("hi", 100, 2000, 0)).unwrap();
        let names: Vec<&str> = r.victims.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["f"]);
        // Across nodes: fewer broken budgets beats lower victim priority.
        let mut c = Cache::new();
        c.budgets.insert(
            "default/b".into(),
            crate::disruption::tests::budget("default", "guarded", 0, &[]),
        );
        c.upsert_node(node("n1", &[]));
        c.upsert_node(node("n2", &[]));
        place(&mut c, guarded(p("g", 1, 4000, 1)), "n1");
        place(&mut c, p("f", 50, 4000, 1), "n2");
        let r = run(&c, &p("hi", 100, 1000, 0)).unwrap();
        assert_eq!(r.node, "n2");
        // When only a budget-breaking victim helps, it is still taken.
        c.remove_node("n2");
        let r = run(&c, &p("hi", 100, 1000, 0)).unwrap();
        assert_eq!(r.node, "n1");
    }

    #[test]
    fn messages_when_preemption_cannot_help() {
        let mut c = Cache::new();
        c.upsert_node(node("n1", &[]));
        c.upsert_node(tainted(node("n2", &[]), "k", "v", "NoSchedule"));
        place(&mut c, p("a", 500, 4000, 1), "n1");
        let e = run(&c, &p("hi", 100, 1000, 0)).err();
        assert_eq!(
            e.as_deref(),
            Some("preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
        );
        let mut never = p("never", 1000, 1000, 0);
        never.preempt_never = true;
        assert_eq!(
            run(&c, &never).err().as_deref(),
            Some("preemption: not eligible due to preemptionPolicy=Never.")
        );
        let big = p("big", 1000, 8000, 0);
        assert_eq!(
            run(&c, &big).err().as_deref(),
            Some("preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 Preemption is not helpful for scheduling.")
        );
    }
}
