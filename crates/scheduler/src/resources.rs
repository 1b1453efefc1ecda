//! Resource quantities and the requests a pod makes, computed once per pod so the filters
//! compare integers only.
//!
//! CPU is kept in millicores and everything else in its base unit (bytes, counts), rounded
//! up as upstream's `Quantity.MilliValue()`/`Value()` do.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Upstream's default CPU request assumed for scoring a container that requests none.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's default memory request assumed for scoring a container that requests none.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Parses a Kubernetes quantity ("100m", "1.5Gi", "2e3") and returns it multiplied by
/// `scale` (1000 for millis), rounded up. `None` for malformed input.
pub fn parse_quantity(s: &str, scale: i128) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(num_end);
    if number.is_empty() || number == "." {
        return None;
    }
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac_part.contains('.') {
        return None;
    }
    let mut mantissa: i128 = 0;
    for c in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(c - b'0'))?;
    }
    // value = mantissa * 2^bin * 10^dec / 10^frac
    let (bin, dec): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exp if exp.starts_with(['e', 'E']) => (0, exp[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let dec = dec - i32::try_from(frac_part.len()).ok()?;
    let mut numer = mantissa.checked_mul(scale)?.checked_mul(1i128 << bin)?;
    let mut denom: i128 = 1;
    if dec >= 0 {
        numer = numer.checked_mul(10i128.checked_pow(dec.unsigned_abs())?)?;
    } else {
        denom = 10i128.checked_pow(dec.unsigned_abs())?;
    }
    let v = (numer + denom - 1) / denom;
    let v = i64::try_from(v).unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

/// A quantity in the unit the scheduler compares for `name` (millicores for cpu).
pub fn quantity_value(name: &str, q: &Quantity) -> i64 {
    let scale = if name == "cpu" { 1000 } else { 1 };
    parse_quantity(&q.0, scale).unwrap_or(0)
}

/// Amounts of every resource a pod asks for or a node offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended and hugepages resources (`nvidia.com/gpu`, `hugepages-2Mi`), by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// From a resource list (`requests`, `allocatable`); `pods` is left out (it is a count of
    /// pods, not something a pod requests).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut r = Resources::default();
        for (name, q) in list {
            r.set(name, quantity_value(name, q));
        }
        r
    }

    fn set(&mut self, name: &str, v: i64) {
        match name {
            "cpu" => self.milli_cpu = v,
            "memory" => self.memory = v,
            "ephemeral-storage" => self.ephemeral_storage = v,
            "pods" => {}
            other => {
                self.scalar.insert(other.to_string(), v);
            }
        }
    }

    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn sub(&mut self, o: &Resources) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// Element-wise maximum, as upstream combines init containers with the main ones.
    pub fn max_with(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// A container's requests; a limit without a request counts as the request, as the API
/// server's defaulting does.
fn container_requests(c: &Container) -> Resources {
    let Some(res) = &c.resources else {
        return Resources::default();
    };
    let mut list = res.limits.clone().unwrap_or_default();
    if let Some(req) = &res.requests {
        list.extend(req.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Resources::from_list(&list)
}

/// The same with upstream's non-zero defaults for cpu and memory (used only for scoring, so
/// that pods without requests still spread).
fn container_requests_non_zero(c: &Container) -> Resources {
    let mut r = container_requests(c);
    if r.milli_cpu == 0 {
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if r.memory == 0 {
        r.memory = DEFAULT_MEMORY_REQUEST;
    }
    r
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream's `PodRequests`: the sum of the containers (and sidecar init containers), or the
/// largest init container step if that is bigger, plus the pod overhead.
fn aggregate(spec: &PodSpec, per: impl Fn(&Container) -> Resources) -> Resources {
    let mut reqs = Resources::default();
    for c in &spec.containers {
        reqs.add(&per(c));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = per(c);
        let step = if is_sidecar(c) {
            reqs.add(&r);
            sidecars.add(&r);
            sidecars.clone()
        } else {
            let mut t = r;
            t.add(&sidecars);
            t
        };
        init_max.max_with(&step);
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = &spec.overhead {
        reqs.add(&Resources::from_list(overhead));
    }
    reqs
}

/// What a pod requests, as the NodeResourcesFit filter counts it.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    aggregate(spec, container_requests)
}

/// Cpu and memory a pod requests with upstream's non-zero defaults, for scoring.
pub fn pod_non_zero_requests(spec: &PodSpec) -> (i64, i64) {
    let r = aggregate(spec, container_requests_non_zero);
    (r.milli_cpu, r.memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    #[test]
    fn parses_quantities() {
        assert_eq!(parse_quantity("100m", 1000), Some(100));
        assert_eq!(parse_quantity("1", 1000), Some(1000));
        assert_eq!(parse_quantity("1.5", 1000), Some(1500));
        assert_eq!(parse_quantity("0.1", 1000), Some(100));
        assert_eq!(parse_quantity("1Gi", 1), Some(1 << 30));
        assert_eq!(parse_quantity("128Mi", 1), Some(128 << 20));
        assert_eq!(parse_quantity("1G", 1), Some(1_000_000_000));
        assert_eq!(parse_quantity("2e3", 1), Some(2000));
        assert_eq!(parse_quantity("1k", 1), Some(1000));
        assert_eq!(parse_quantity("500m", 1), Some(1), "rounds up");
        assert_eq!(parse_quantity("1n", 1000), Some(1), "rounds up");
        assert_eq!(parse_quantity("abc", 1), None);
        assert_eq!(parse_quantity("1Zi", 1), None);
        assert_eq!(parse_quantity("", 1), None);
    }

    fn container(req: &[(&str, &str)]) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(req.iter().map(|(k, v)| (k.to_string(), q(v))).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn init_containers_take_the_max_and_sidecars_add() {
        let mut spec = PodSpec {
            containers: vec![
                container(&[("cpu", "100m"), ("memory", "100Mi")]),
                container(&[("cpu", "200m")]),
            ],
            init_containers: Some(vec![container(&[("cpu", "500m"), ("memory", "10Mi")])]),
            ..Default::default()
        };
        let r = pod_requests(&spec);
        assert_eq!(r.milli_cpu, 500);
        assert_eq!(r.memory, 100 << 20);

        let mut sidecar = container(&[("cpu", "50m")]);
        sidecar.restart_policy = Some("Always".into());
        spec.init_containers = Some(vec![sidecar, container(&[("cpu", "100m")])]);
        spec.overhead = Some([("cpu".to_string(), q("10m"))].into());
        let r = pod_requests(&spec);
        // containers 300m + sidecar 50m = 350m; init step 100m + 50m = 150m; + overhead 10m.
        assert_eq!(r.milli_cpu, 360);
    }

    #[test]
    fn non_zero_defaults_apply_per_container() {
        let spec = PodSpec {
            containers: vec![container(&[]), container(&[("cpu", "1")])],
            ..Default::default()
        };
        assert_eq!(
            pod_non_zero_requests(&spec),
            (1100, 2 * DEFAULT_MEMORY_REQUEST)
        );
        assert!(pod_requests(&spec).memory == 0);
    }

    #[test]
    fn limits_count_as_requests_when_missing() {
        let c = Container {
            resources: Some(ResourceRequirements {
                limits: Some([("memory".to_string(), q("1Gi"))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(container_requests(&c).memory, 1 << 30);
    }
}
