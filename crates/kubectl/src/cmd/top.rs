//! `kubectl top node|pod`: CPU and memory usage from the Metrics API
//! (`metrics.k8s.io/v1beta1`), printed as kubectl's top printer does (millicores, Mi, and
//! percentages of each node's allocatable).

use serde_json::Value;

use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};
use crate::printer::tabwriter::TabWriter;

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

const TOP_HELP: &str = "Display resource (CPU/memory) usage.

 The top command allows you to see the resource consumption for nodes or pods.

 This command requires Metrics Server to be correctly configured and working on the server.

Available Commands:
  node          Display resource (CPU/memory) usage of nodes
  pod           Display resource (CPU/memory) usage of pods

Usage:
  kubectl top [flags] [options]

Use \"kubectl top <command> --help\" for more information about a given command.
Use \"kubectl options\" for a list of global command-line options (applies to all commands).
";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// `node [NAME]` or `pod [NAME]`.
    pub args: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on (pods).
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Sort by cpu or memory.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// If present, print output without headers.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub no_headers: bool,
    /// Enables using protocol-buffers to access Metrics API (accepted; JSON is used).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "true")]
    pub use_protocol_buffers: bool,
    /// Print node resources based on Capacity instead of Allocatable (nodes).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub show_capacity: bool,
    /// List pods across all namespaces.
    #[arg(short = 'A', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub all_namespaces: bool,
    /// Print usage of containers within a pod.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub containers: bool,
    /// Print the sum of the resource usage (pods).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub sum: bool,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let (kind, rest) = match a.args.split_first() {
        Some((k, rest)) => (k.as_str(), rest),
        None => {
            // kubectl prints the command's help to stderr and fails.
            eprint!("{TOP_HELP}");
            return Err(Error::Silent(1));
        }
    };
    if let Some(s) = a.sort_by.as_deref().filter(|s| !s.is_empty()) {
        if s != "cpu" && s != "memory" {
            return Err(Error::client("--sort-by accepts only cpu or memory"));
        }
    }
    let sort_by = a.sort_by.clone().unwrap_or_default();
    match kind {
        "node" | "nodes" | "no" => {
            if rest.len() > 1 {
                return Err(Error::usage("top node", "node [NAME | -l label]"));
            }
            let name = rest.first().map(String::as_str);
            if name.is_some() && a.selector.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(Error::client(
                    "only one of NAME or --selector can be provided",
                ));
            }
            top_nodes(ctx, a, name, &sort_by).await
        }
        "pod" | "pods" | "po" => {
            if rest.len() > 1 {
                return Err(Error::usage("top pod", "pod [NAME | -l label]"));
            }
            let name = rest.first().map(String::as_str);
            let has_selector = a.selector.as_deref().is_some_and(|s| !s.is_empty())
                || a.field_selector.as_deref().is_some_and(|s| !s.is_empty());
            if name.is_some() && has_selector {
                return Err(Error::client(
                    "only one of NAME or selector can be provided",
                ));
            }
            top_pods(ctx, a, name, &sort_by).await
        }
        other => Err(Error::usage("top", format!("unknown command \"{other}\""))),
    }
}

/// Whether the server serves `metrics.k8s.io/v1beta1` (kubectl checks the group list).
async fn require_metrics_api(ctx: &Ctx) -> Result<()> {
    let groups = ctx.get_json("/apis").await?;
    let served = groups["groups"].as_array().is_some_and(|gs| {
        gs.iter().any(|g| {
            g["name"] == "metrics.k8s.io"
                && g["versions"]
                    .as_array()
                    .is_some_and(|vs| vs.iter().any(|v| v["version"] == "v1beta1"))
        })
    });
    if served {
        Ok(())
    } else {
        Err(Error::client("Metrics API not available"))
    }
}

fn selector_query(label: Option<&str>, field: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(l) = label.filter(|l| !l.is_empty()) {
        q.push(format!("labelSelector={}", query_escape(l)));
    }
    if let Some(f) = field.filter(|f| !f.is_empty()) {
        q.push(format!("fieldSelector={}", query_escape(f)));
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

async fn top_nodes(ctx: &Ctx, a: &Args, name: Option<&str>, sort_by: &str) -> Result<()> {
    require_metrics_api(ctx).await?;
    let query = selector_query(a.selector.as_deref(), None);
    let (metrics, nodes) = match name {
        Some(n) => (
            vec![ctx.get_json(&format!("{METRICS}/nodes/{n}")).await?],
            vec![ctx.get_json(&format!("/api/v1/nodes/{n}")).await?],
        ),
        None => (
            items(ctx.get_json(&format!("{METRICS}/nodes{query}")).await?),
            items(ctx.get_json(&format!("/api/v1/nodes{query}")).await?),
        ),
    };
    if metrics.is_empty() {
        return Err(Error::client("metrics not available yet"));
    }
    let field = if a.show_capacity {
        "capacity"
    } else {
        "allocatable"
    };
    let mut rows: Vec<(String, i128, i128)> = metrics
        .iter()
        .map(|m| {
            (
                m["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                nanos(&m["usage"]["cpu"]),
                nanos(&m["usage"]["memory"]),
            )
        })
        .collect();
    sort_rows(&mut rows, sort_by);
    let mut w = TabWriter::new();
    if !a.no_headers {
        w.row([
            "NAME",
            "CPU(cores)",
            "CPU(%)",
            "MEMORY(bytes)",
            "MEMORY(%)",
            "",
        ]);
    }
    let mut seen = std::collections::HashSet::new();
    for (n, cpu, mem) in &rows {
        seen.insert(n.clone());
        let node = nodes.iter().find(|x| x["metadata"]["name"] == n.as_str());
        let mut cells = vec![n.clone(), cpu_text(*cpu)];
        if let Some(node) = node {
            let avail = &node["status"][field];
            cells.push(percent(milli(*cpu), milli(nanos(&avail["cpu"]))));
        }
        cells.push(mem_text(*mem));
        if let Some(node) = node {
            let avail = &node["status"][field];
            cells.push(percent(milli(*mem), milli(nanos(&avail["memory"]))));
        }
        cells.push(String::new());
        w.row(cells);
    }
    // Nodes the Metrics API knows nothing about.
    for node in &nodes {
        let n = node["metadata"]["name"].as_str().unwrap_or_default();
        if !seen.contains(n) {
            w.row([n, "<unknown>", "<unknown>", "<unknown>", "<unknown>", ""]);
        }
    }
    print!("{}", w.render());
    Ok(())
}

async fn top_pods(ctx: &Ctx, a: &Args, name: Option<&str>, sort_by: &str) -> Result<()> {
    require_metrics_api(ctx).await?;
    let ns_path = if a.all_namespaces {
        String::new()
    } else {
        format!("/namespaces/{}", ctx.namespace)
    };
    let query = selector_query(a.selector.as_deref(), a.field_selector.as_deref());
    let metrics = match name {
        Some(n) => vec![
            ctx.get_json(&format!("{METRICS}{ns_path}/pods/{n}"))
                .await?,
        ],
        None => items(
            ctx.get_json(&format!("{METRICS}{ns_path}/pods{query}"))
                .await?,
        ),
    };
    if metrics.is_empty() {
        verify_empty_metrics(ctx, name, &query).await?;
        if a.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", ctx.namespace);
        }
        return Ok(());
    }
    struct PodRow {
        ns: String,
        name: String,
        cpu: i128,
        mem: i128,
        containers: Vec<(String, i128, i128)>,
    }
    let mut rows: Vec<PodRow> = metrics
        .iter()
        .map(|m| {
            let containers: Vec<(String, i128, i128)> = m["containers"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            (
                                c["name"].as_str().unwrap_or_default().to_string(),
                                nanos(&c["usage"]["cpu"]),
                                nanos(&c["usage"]["memory"]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            PodRow {
                ns: m["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                name: m["metadata"]["name"].as_str().unwrap_or_default().into(),
                cpu: containers.iter().map(|c| c.1).sum(),
                mem: containers.iter().map(|c| c.2).sum(),
                containers,
            }
        })
        .collect();
    rows.sort_by(|x, y| match sort_by {
        "cpu" => milli(y.cpu).cmp(&milli(x.cpu)),
        "memory" => value(y.mem).cmp(&value(x.mem)),
        _ if a.all_namespaces && x.ns != y.ns => x.ns.cmp(&y.ns),
        _ => x.name.cmp(&y.name),
    });
    let mut w = TabWriter::new();
    if !a.no_headers {
        let mut h = Vec::new();
        if a.all_namespaces {
            h.push("NAMESPACE");
        }
        if a.containers {
            h.push("POD");
        }
        h.extend(["NAME", "CPU(cores)", "MEMORY(bytes)", ""]);
        w.row(h);
    }
    for r in &mut rows {
        if a.containers {
            sort_rows(&mut r.containers, sort_by);
            for (c, cpu, mem) in &r.containers {
                let mut cells = Vec::new();
                if a.all_namespaces {
                    cells.push(r.ns.clone());
                }
                cells.extend([
                    r.name.clone(),
                    c.clone(),
                    cpu_text(*cpu),
                    mem_text(*mem),
                    String::new(),
                ]);
                w.row(cells);
            }
        } else {
            let mut cells = Vec::new();
            if a.all_namespaces {
                cells.push(r.ns.clone());
            }
            cells.extend([
                r.name.clone(),
                cpu_text(r.cpu),
                mem_text(r.mem),
                String::new(),
            ]);
            w.row(cells);
        }
    }
    if a.sum {
        // kubectl counts the NAMESPACE and POD columns only while printing headers.
        let width = if a.no_headers {
            3
        } else {
            3 + usize::from(a.all_namespaces) + usize::from(a.containers)
        };
        let mut line = vec![String::new(); width - 2];
        line.extend([
            "________".to_string(),
            "________".to_string(),
            String::new(),
        ]);
        w.row(line);
        let mut line = vec![String::new(); width - 3];
        line.extend([
            String::new(),
            cpu_text(rows.iter().map(|r| r.cpu).sum()),
            mem_text(rows.iter().map(|r| r.mem).sum()),
            String::new(),
        ]);
        w.row(line);
    }
    print!("{}", w.render());
    Ok(())
}

/// Why there are no metrics: pods old enough to have them mean an error.
async fn verify_empty_metrics(ctx: &Ctx, name: Option<&str>, query: &str) -> Result<()> {
    let pods = match name {
        Some(n) => vec![
            ctx.get_json(&format!("/api/v1/namespaces/{}/pods/{n}", ctx.namespace))
                .await?,
        ],
        None => items(
            ctx.get_json(&format!("/api/v1/namespaces/{}/pods{query}", ctx.namespace))
                .await?,
        ),
    };
    if pods.is_empty() {
        return Ok(());
    }
    let now = jiff::Timestamp::now();
    for p in &pods {
        let created: Option<jiff::Timestamp> = p["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|t| t.parse().ok());
        if let Some(c) = created {
            let age = now.duration_since(c);
            if age.as_secs() > 120 {
                return Err(Error::client(format!(
                    "Metrics not available for pod {}/{}, age: {}",
                    p["metadata"]["namespace"].as_str().unwrap_or_default(),
                    p["metadata"]["name"].as_str().unwrap_or_default(),
                    go_duration(age.as_secs_f64())
                )));
            }
        }
    }
    Err(Error::client("metrics not available yet"))
}

/// A Go `time.Duration` string for an age (`2m3.5s`, `1h0m0s`).
fn go_duration(secs: f64) -> String {
    let h = (secs / 3600.0).floor();
    let m = ((secs - h * 3600.0) / 60.0).floor();
    let s = secs - h * 3600.0 - m * 60.0;
    let s = format!("{s:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if h > 0.0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0.0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn items(list: Value) -> Vec<Value> {
    match list {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn sort_rows(rows: &mut [(String, i128, i128)], sort_by: &str) {
    rows.sort_by(|x, y| match sort_by {
        "cpu" => milli(y.1).cmp(&milli(x.1)),
        "memory" => value(y.2).cmp(&value(x.2)),
        _ => x.0.cmp(&y.0),
    });
}

fn cpu_text(n: i128) -> String {
    format!("{}m", milli(n))
}

fn mem_text(n: i128) -> String {
    format!("{}Mi", value(n) / (1024 * 1024))
}

/// `int64(used / available * 100)` from milli values, as kubectl computes it.
fn percent(used: i128, available: i128) -> String {
    let f = if available == 0 {
        0.0
    } else {
        used as f64 / available as f64 * 100.0
    };
    format!("{}%", f as i64)
}

/// Milli units, rounded up like `Quantity.MilliValue`.
fn milli(nanos: i128) -> i128 {
    ceil_div(nanos, 1_000_000)
}

/// Whole units, rounded up like `Quantity.Value`.
fn value(nanos: i128) -> i128 {
    ceil_div(nanos, 1_000_000_000)
}

fn ceil_div(a: i128, b: i128) -> i128 {
    if a >= 0 {
        (a + b - 1) / b
    } else {
        a / b
    }
}

/// A quantity in billionths (exact for every suffix), so sums round like kubectl's
/// `Quantity.Add` followed by one rounding; 0 when absent or malformed.
fn nanos(v: &Value) -> i128 {
    v.as_str().and_then(parse_nanos).unwrap_or(0)
}

fn parse_nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (neg, num) = match num.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int}{frac}");
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    let (exp10, binary): (i32, i128) = match suffix {
        "n" => (-9, 1),
        "u" => (-6, 1),
        "m" => (-3, 1),
        "" => (0, 1),
        "k" => (3, 1),
        "M" => (6, 1),
        "G" => (9, 1),
        "T" => (12, 1),
        "P" => (15, 1),
        "E" => (18, 1),
        "Ki" => (0, 1 << 10),
        "Mi" => (0, 1 << 20),
        "Gi" => (0, 1 << 30),
        "Ti" => (0, 1 << 40),
        "Pi" => (0, 1 << 50),
        "Ei" => (0, 1 << 60),
        e if e.starts_with(['e', 'E']) => (e[1..].parse().ok()?, 1),
        _ => return None,
    };
    let shift = 9 + exp10 - frac.len() as i32;
    let scaled = if shift >= 0 {
        mantissa.checked_mul(10i128.checked_pow(shift as u32)?)?
    } else {
        ceil_div(mantissa, 10i128.checked_pow((-shift) as u32)?)
    };
    let n = scaled.checked_mul(binary)?;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_like_kubectl() {
        assert_eq!(parse_nanos("29982192n"), Some(29_982_192));
        assert_eq!(cpu_text(parse_nanos("29982192n").unwrap_or(0)), "30m");
        assert_eq!(mem_text(parse_nanos("1499836Ki").unwrap_or(0)), "1464Mi");
        assert_eq!(parse_nanos("1.5"), Some(1_500_000_000));
        assert_eq!(milli(parse_nanos("2").unwrap_or(0)), 2000);
        assert_eq!(percent(30, 2000), "1%");
        assert_eq!(go_duration(125.5), "2m5.5s");
        assert_eq!(go_duration(3600.0), "1h0m0s");
    }
}
