//! `kubectl logs`: one container's log (a pod's, or that of the pod kubectl picks for a
//! workload), every container's (`--all-containers`), or every selected pod's (`-l`),
//! streamed line by line so followed streams from several pods never interleave mid-line.

use std::io::Write;

use futures::stream::{self, StreamExt};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};
use crate::pods::{self, Rank, Target};
use crate::resource::Resolver;

const USAGE: &str = "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// POD | TYPE/NAME, and optionally the container.
    pub args: Vec<String>,
    /// Get all containers' logs in the pod(s).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub all_containers: bool,
    /// Specify if the logs should be streamed.
    #[arg(short = 'f', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub follow: bool,
    /// Include timestamps on each line in the log output.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub timestamps: bool,
    /// Maximum bytes of logs to return. Defaults to no limit.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub limit_bytes: i64,
    /// If true, print the logs for the previous instance of the container in a pod if it exists.
    #[arg(short = 'p', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub previous: bool,
    /// Lines of recent log file to display (-1: all; 10 with a selector).
    #[arg(long, allow_negative_numbers = true)]
    pub tail: Option<i64>,
    /// If watching / following pod logs, allow for any errors that occur to be non-fatal.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub ignore_errors: bool,
    /// Only return logs after a specific date (RFC3339).
    #[arg(long)]
    pub since_time: Option<String>,
    /// Only return logs newer than a relative duration like 5s, 2m, or 3h.
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Print the logs of this container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Skip verifying the identity of the kubelet that logs are requested from.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub insecure_skip_tls_verify_backend: bool,
    /// The length of time to wait until at least one pod is running.
    #[arg(long, default_value = "20s")]
    pub pod_running_timeout: String,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Maximum number of concurrent logs to follow when using by a selector.
    #[arg(long, default_value_t = 5)]
    pub max_log_requests: usize,
    /// Prefix each log line with the log source (pod name and container name).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub prefix: bool,
}

/// One log to fetch: which pod and container, and the line prefix for `--prefix`.
struct LogRequest {
    path: String,
    prefix: Option<String>,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let selector = a.selector.as_deref().filter(|s| !s.is_empty());
    let mut container = a.container.clone();
    let resource = match (a.args.as_slice(), selector) {
        ([], None) => return Err(Error::usage("logs", USAGE)),
        ([], Some(_)) => None,
        ([_], Some(_)) => {
            return Err(Error::usage(
                "logs",
                "only a selector (-l) or a POD name is allowed",
            ))
        }
        ([r], None) => Some(r.clone()),
        ([r, c], _) => {
            if a.container.is_some() {
                return Err(Error::client(
                    "only one of -c or an inline [CONTAINER] arg is allowed",
                ));
            }
            container = Some(c.clone());
            Some(r.clone())
        }
        _ => return Err(Error::usage("logs", USAGE)),
    };
    let query = query(a, selector.is_some(), container.as_deref())?;
    let timeout = super::exec::pod_running_timeout(&a.pod_running_timeout, "logs")?;

    let mut resolver = Resolver::new();
    let targets: Vec<Value> = match &resource {
        None => {
            let path = format!(
                "/api/v1/namespaces/{}/pods?labelSelector={}",
                ctx.namespace,
                query_escape(selector.unwrap_or_default())
            );
            let list = ctx.get_json(&path).await?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                eprintln!("No resources found in {} namespace.", ctx.namespace);
            }
            items
        }
        Some(r) => match pods::resolve(ctx, &mut resolver, r, Rank::Logging)
            .await
            .map_err(|e| pods::builder_error(e, &ctx.namespace))?
        {
            Target::Pod(p) => vec![p],
            Target::Selector {
                namespace,
                selector,
            } => {
                let ranked =
                    pods::ranked_pods(ctx, &namespace, &selector, timeout, Rank::Logging).await?;
                let n = ranked.len();
                let first = ranked.into_iter().next().ok_or_else(|| {
                    Error::client("timed out waiting for the condition".to_string())
                })?;
                if n > 1 {
                    eprintln!("Found {n} pods, using pod/{}", pods::name(&first));
                }
                vec![first]
            }
        },
    };

    let mut requests = Vec::new();
    for pod in &targets {
        requests.extend(requests_for_pod(
            pod,
            container.as_deref(),
            a.all_containers,
            a.prefix,
            &query,
        )?);
    }

    if a.follow && requests.len() > 1 {
        if requests.len() > a.max_log_requests {
            return Err(Error::client(format!(
                "you are attempting to follow {} log streams, but maximum allowed concurrency is {}, use --max-log-requests to increase the limit",
                requests.len(),
                a.max_log_requests
            )));
        }
        let results = stream::iter(requests.iter())
            .map(|r| async move {
                let res = consume(ctx, r).await;
                match res {
                    Err(e) if a.ignore_errors => {
                        write_line(format!("{e}\n").as_bytes());
                        Ok(())
                    }
                    other => other,
                }
            })
            .buffer_unordered(a.max_log_requests.max(1))
            .collect::<Vec<_>>()
            .await;
        return results.into_iter().collect();
    }
    for r in &requests {
        consume(ctx, r).await?;
    }
    Ok(())
}

/// The `PodLogOptions` query shared by every request, minus the container.
fn query(a: &Args, has_selector: bool, container: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut q: Vec<(String, String)> = Vec::new();
    if a.follow {
        q.push(("follow".into(), "true".into()));
    }
    if a.insecure_skip_tls_verify_backend {
        q.push(("insecureSkipTLSVerifyBackend".into(), "true".into()));
    }
    if a.limit_bytes != 0 {
        q.push(("limitBytes".into(), a.limit_bytes.to_string()));
    }
    if a.previous {
        q.push(("previous".into(), "true".into()));
    }
    let since = match a.since.as_deref() {
        Some(s) => {
            let (neg, d) = crate::duration::parse_signed(s)
                .map_err(|e| crate::duration::flag_error("logs", "since", s, &e))?;
            // Rounded to the nearest second, as kubectl does.
            let secs = (d.as_secs_f64()).round() as i64;
            if d.is_zero() {
                None
            } else {
                Some(if neg { -secs } else { secs })
            }
        }
        None => None,
    };
    if a.since_time.as_deref().is_some_and(|t| !t.is_empty()) && since.is_some() {
        return Err(Error::client(
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    if a.all_containers {
        if let Some(c) = container.filter(|c| !c.is_empty()) {
            return Err(Error::client(format!(
                "--all-containers=true should not be specified with container name {c}"
            )));
        }
    }
    if a.limit_bytes < 0 {
        return Err(Error::client("--limit-bytes must be greater than 0"));
    }
    if let Some(s) = since {
        if s < 0 {
            return Err(Error::client("--since must be greater than 0"));
        }
        q.push(("sinceSeconds".into(), s.to_string()));
    }
    if let Some(t) = a.since_time.as_deref().filter(|t| !t.is_empty()) {
        let ts: jiff::Timestamp = t.parse().map_err(|_| {
            Error::client(format!(
                "parsing time \"{t}\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"{t}\" as \"2006\""
            ))
        })?;
        q.push((
            "sinceTime".into(),
            ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ));
    }
    let tail = match a.tail {
        Some(t) if t != -1 => Some(t),
        None if has_selector => Some(10),
        _ => None,
    };
    if let Some(t) = tail {
        if t < -1 {
            return Err(Error::client("--tail must be greater than or equal to -1"));
        }
        q.push(("tailLines".into(), t.to_string()));
    }
    if a.timestamps {
        q.push(("timestamps".into(), "true".into()));
    }
    Ok(q)
}

/// `logsForObject` for one pod: the containers to read and their URLs.
fn requests_for_pod(
    pod: &Value,
    container: Option<&str>,
    all_containers: bool,
    prefix: bool,
    query: &[(String, String)],
) -> Result<Vec<LogRequest>> {
    let name = pods::name(pod);
    let ns = pods::namespace(pod);
    let containers: Vec<String> = if all_containers {
        ["initContainers", "containers", "ephemeralContainers"]
            .iter()
            .flat_map(|f| pods::container_names(pod, f))
            .map(String::from)
            .collect()
    } else {
        let mut chosen = container.filter(|c| !c.is_empty()).map(String::from);
        if chosen.is_none() {
            if let Some(d) = pod["metadata"]["annotations"][pods::DEFAULT_CONTAINER_ANNOTATION]
                .as_str()
                .filter(|d| !d.is_empty())
            {
                if pods::find_container(pod, d).is_some() {
                    chosen = Some(d.to_string());
                } else {
                    eprintln!("Default container name \"{d}\" not found in pod {name}");
                }
            }
        }
        let chosen = match chosen {
            Some(c) => c,
            None => {
                let first = pods::container_names(pod, "containers")
                    .first()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                if pods::has_choice(pod) {
                    eprintln!(
                        "Defaulted container \"{first}\" out of: {}",
                        pods::all_container_names(pod)
                    );
                }
                first
            }
        };
        if pods::find_container(pod, &chosen).is_none() {
            return Err(Error::client(format!(
                "container {chosen} is not valid for pod {name}"
            )));
        }
        vec![chosen]
    };
    Ok(containers
        .into_iter()
        .map(|c| {
            let mut q = vec![format!("container={}", query_escape(&c))];
            q.extend(
                query
                    .iter()
                    .map(|(k, v)| format!("{k}={}", query_escape(v))),
            );
            LogRequest {
                path: format!("/api/v1/namespaces/{ns}/pods/{name}/log?{}", q.join("&")),
                prefix: prefix.then(|| format!("[pod/{name}/{c}] ")),
            }
        })
        .collect())
}

/// Streams one log to stdout a whole line at a time (with its prefix), until the server
/// ends it.
async fn consume(ctx: &Ctx, r: &LogRequest) -> Result<()> {
    let mut body = ctx.stream(&r.path).await?;
    let mut pending: Vec<u8> = Vec::new();
    let emit = |line: &[u8]| {
        let mut out = Vec::with_capacity(line.len() + 32);
        if let Some(p) = &r.prefix {
            out.extend_from_slice(p.as_bytes());
        }
        out.extend_from_slice(line);
        write_line(&out);
    };
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => return Err(Error::client(format!("reading logs: {e}"))),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            emit(&line);
        }
    }
    if !pending.is_empty() {
        emit(&pending);
    }
    Ok(())
}

/// Writes and flushes at once so concurrent streams stay line-atomic.
fn write_line(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_name_containers_and_prefixes() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}],
                     "initContainers": [{"name": "i"}]}
        });
        let q = vec![("tailLines".to_string(), "2".to_string())];
        let all = requests_for_pod(&pod, None, true, true, &q).unwrap_or_default();
        let paths: Vec<_> = all.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/v1/namespaces/ns/pods/p/log?container=i&tailLines=2",
                "/api/v1/namespaces/ns/pods/p/log?container=a&tailLines=2",
                "/api/v1/namespaces/ns/pods/p/log?container=b&tailLines=2",
            ]
        );
        assert_eq!(all[1].prefix.as_deref(), Some("[pod/p/a] "));
        let bad = requests_for_pod(&pod, Some("x"), false, false, &q).err();
        assert_eq!(
            bad.map(|e| e.to_string()),
            Some("error: container x is not valid for pod p".into())
        );
    }

    #[test]
    fn selector_defaults_tail_to_ten() {
        let a = Args {
            since: Some("90s".into()),
            ..Default::default()
        };
        let q = query(&a, true, None).unwrap_or_default();
        assert!(q.contains(&("tailLines".into(), "10".into())));
        assert!(q.contains(&("sinceSeconds".into(), "90".into())));
        let a = Args {
            tail: Some(-1),
            ..Default::default()
        };
        assert!(query(&a, true, None).unwrap_or_default().is_empty());
    }
}
