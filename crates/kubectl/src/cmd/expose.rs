//! `kubectl expose`: a Service in front of a pod, Deployment, ReplicaSet,
//! ReplicationController or Service, its selector and ports taken from the object unless
//! given (kubectl's service generator).

use http::Method;
use serde_json::{json, Map, Value};

use crate::ctx::{Ctx, JSON};
use crate::error::{Error, Result};
use crate::resource::Resolver;
use crate::targets::{self, DryRun, Query, Report};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE NAME or TYPE/NAME.
    pub args: Vec<String>,
    /// The port that the service should serve on.
    #[arg(long)]
    pub port: Option<String>,
    /// Name or number for the port on the container that the service should direct traffic to.
    #[arg(long)]
    pub target_port: Option<String>,
    /// The network protocol for the service to be created.
    #[arg(long)]
    pub protocol: Option<String>,
    /// The name for the newly created object.
    #[arg(long)]
    pub name: Option<String>,
    /// Type for this service: ClusterIP, NodePort, LoadBalancer, or ExternalName.
    #[arg(long = "type")]
    pub service_type: Option<String>,
    /// A label selector to use for this service (only equality-based selectors).
    #[arg(long)]
    pub selector: Option<String>,
    /// Labels to apply to the service created by this call.
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Additional external IP address (not managed by Kubernetes) to accept for the service.
    #[arg(long)]
    pub external_ip: Option<String>,
    /// ClusterIP to be assigned to the service. Leave empty to auto-allocate, or set to 'None'.
    #[arg(long)]
    pub cluster_ip: Option<String>,
    /// If non-empty, set the session affinity for the service to this; legal values: 'None', 'ClientIP'.
    #[arg(long)]
    pub session_affinity: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
    /// Output format: json, yaml or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// The name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-expose")]
    pub field_manager: String,
}

/// `a=b,c=d` into a map (only equality, as kubectl's generator accepts).
fn parse_map(s: &str, what: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Error::client(format!("invalid {what}: {pair:?}")));
        };
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(m)
}

/// The selector kubectl derives from the object.
fn selector_of(kind: &str, obj: &Value) -> Result<Map<String, Value>> {
    let sel = match kind {
        "Pod" => obj["metadata"]["labels"].clone(),
        "Service" | "ReplicationController" => obj["spec"]["selector"].clone(),
        "Deployment" | "ReplicaSet" => {
            if obj["spec"]["selector"]["matchExpressions"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                return Err(Error::client(
                    "couldn't retrieve selectors via --selector flag or introspection: the provided labelSelector has matchExpressions; expose doesn't support them",
                ));
            }
            obj["spec"]["selector"]["matchLabels"].clone()
        }
        other => return Err(Error::client(format!("cannot expose a {other}"))),
    };
    Ok(sel.as_object().cloned().unwrap_or_default())
}

/// The container (or service) ports of the object, with their protocols.
fn ports_of(kind: &str, obj: &Value) -> Vec<(i64, String)> {
    let containers = match kind {
        "Pod" => &obj["spec"]["containers"],
        "Service" => {
            return obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p["port"].as_i64()?,
                        p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    ))
                })
                .collect()
        }
        _ => &obj["spec"]["template"]["spec"]["containers"],
    };
    containers
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| {
            Some((
                p["containerPort"].as_i64()?,
                p["protocol"].as_str().unwrap_or("TCP").to_string(),
            ))
        })
        .collect()
}

fn int_or_string(s: &str) -> Value {
    match s.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(s),
    }
}

/// The Service kubectl's generator makes for `obj`.
fn service_for(a: &Args, kind: &str, obj: &Value) -> Result<Value> {
    let name = match &a.name {
        Some(n) => n.clone(),
        None => obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let selector = match &a.selector {
        Some(s) => parse_map(s, "selector")?,
        None => selector_of(kind, obj)?,
    };
    let labels = match &a.labels {
        Some(l) => parse_map(l, "labels")?,
        None => obj["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let found = ports_of(kind, obj);
    let ports: Vec<(i64, String)> = match &a.port {
        Some(p) => {
            let mut out = Vec::new();
            for (i, part) in p.split(',').enumerate() {
                let n: i64 = part
                    .trim()
                    .parse()
                    .map_err(|_| Error::client(format!("invalid port: {part:?}")))?;
                let proto = a
                    .protocol
                    .clone()
                    .or_else(|| found.get(i).map(|(_, pr)| pr.clone()))
                    .unwrap_or_else(|| "TCP".into());
                out.push((n, proto));
            }
            out
        }
        None if found.is_empty() => {
            return Err(Error::client(
                "couldn't find port via --port flag or introspection",
            ))
        }
        None => found
            .iter()
            .map(|(n, pr)| (*n, a.protocol.clone().unwrap_or_else(|| pr.clone())))
            .collect(),
    };
    let many = ports.len() > 1;
    let port_values: Vec<Value> = ports
        .iter()
        .enumerate()
        .map(|(i, (port, proto))| {
            let mut p = Map::new();
            if many {
                p.insert("name".into(), json!(format!("port-{}", i + 1)));
            }
            p.insert("port".into(), json!(port));
            p.insert("protocol".into(), json!(proto));
            let target = match &a.target_port {
                Some(t) => int_or_string(t),
                None if kind == "Service" => obj["spec"]["ports"][i]["targetPort"].clone(),
                None => json!(port),
            };
            p.insert(
                "targetPort".into(),
                if target.is_null() {
                    json!(port)
                } else {
                    target
                },
            );
            Value::Object(p)
        })
        .collect();
    let mut meta = Map::new();
    meta.insert("creationTimestamp".into(), Value::Null);
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    meta.insert("name".into(), json!(name));
    let mut spec = Map::new();
    spec.insert("ports".into(), Value::Array(port_values));
    if !selector.is_empty() {
        spec.insert("selector".into(), Value::Object(selector));
    }
    if let Some(t) = &a.service_type {
        spec.insert("type".into(), json!(t));
    }
    if let Some(ip) = &a.cluster_ip {
        spec.insert("clusterIP".into(), json!(ip));
    }
    if let Some(ip) = &a.external_ip {
        spec.insert("externalIPs".into(), json!([ip]));
    }
    if let Some(s) = &a.session_affinity {
        spec.insert("sessionAffinity".into(), json!(s));
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": spec,
        "status": {"loadBalancer": {}},
    }))
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let report = Report::from_flags(a.output.as_deref(), a.dry_run.as_deref())?;
    report.validate()?;
    if a.args.is_empty() {
        return Err(Error::client(
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    let selection = targets::select(ctx, &a.args, &Query::default()).await?;
    let mut errors = selection.errors;
    let mut resolver = Resolver::new();
    let services = resolver.resolve(ctx, "services").await?;
    for t in &selection.targets {
        let kind = t.rt.kind.clone();
        let mut svc = match service_for(a, &kind, &t.obj) {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let ns = t.namespace(ctx).to_string();
        if report.dry_run == DryRun::Client {
            report.print(&services, &svc, "exposed");
            continue;
        }
        let manager = format!(
            "fieldManager={}",
            crate::ctx::query_escape(&a.field_manager)
        );
        let path = targets::with_query(
            &services.collection_path(Some(&ns)),
            &[&manager, report.dry_run.query()],
        );
        if let Some(m) = svc.as_object_mut() {
            m.remove("status");
        }
        match ctx.send_json(Method::POST, &path, JSON, &svc).await {
            Ok(created) => report.print(&services, &created, "exposed"),
            Err(e) => errors.push(e),
        }
    }
    targets::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployments_service() {
        let d = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "c", "ports": [
                         {"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]}]}}},
        });
        let a = Args::default();
        let s = service_for(&a, "Deployment", &d).unwrap_or_default();
        assert_eq!(
            s["spec"]["ports"],
            json!([
                {"name": "port-1", "port": 8080, "protocol": "TCP", "targetPort": 8080},
                {"name": "port-2", "port": 53, "protocol": "UDP", "targetPort": 53},
            ])
        );
        let a = Args {
            port: Some("80".into()),
            target_port: Some("http".into()),
            ..Default::default()
        };
        let s = service_for(&a, "Deployment", &d).unwrap_or_default();
        assert_eq!(
            s["spec"]["ports"],
            json!([{"port": 80, "protocol": "TCP", "targetPort": "http"}])
        );
        assert_eq!(s["spec"]["selector"], json!({"app": "web"}));
    }
}
