//! `kubectl cluster-info`: the API server's address and the cluster services
//! (kube-system services labelled `kubernetes.io/cluster-service=true`) with their proxy
//! URLs.
//!
//! kubectl 1.32 prints no colours, not even on a terminal, so neither does this.

use serde_json::Value;

use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// kubectl ignores stray arguments; `dump` is its subcommand.
    #[arg(hide = true)]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if a.args.first().is_some_and(|s| s == "dump") {
        return Err(Error::client(
            "kubectl cluster-info dump is not implemented in rkube yet",
        ));
    }
    // The namespace is -n or kube-system, never the context's.
    let ns = ctx.flags.namespace.as_deref().unwrap_or("kube-system");
    let path = format!(
        "/api/v1/namespaces/{ns}/services?labelSelector={}",
        query_escape("kubernetes.io/cluster-service=true")
    );
    let result = ctx.get_json(&path).await;
    let mut out = String::new();
    if let Ok(list) = &result {
        out.push_str(&line("Kubernetes control plane", &ctx.server));
        for svc in list["items"].as_array().into_iter().flatten() {
            let name = svc["metadata"]["labels"]["kubernetes.io/name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .or(svc["metadata"]["name"].as_str())
                .unwrap_or_default();
            out.push_str(&line(name, &service_link(&ctx.server, svc)));
        }
    }
    out.push_str(
        "\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n",
    );
    print!("{out}");
    result.map(|_| ())
}

fn line(name: &str, link: &str) -> String {
    format!("{name} is running at {link}\n")
}

/// The load balancer's addresses, else the API server's proxy URL for the first port.
fn service_link(host: &str, svc: &Value) -> String {
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    if let Some(ingress) = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .and_then(|i| i.first())
    {
        let ip = ingress["ip"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or(ingress["hostname"].as_str())
            .unwrap_or_default();
        return ports
            .iter()
            .map(|p| format!("http://{ip}:{} ", p["port"].as_i64().unwrap_or(0)))
            .collect();
    }
    let svc_name = svc["metadata"]["name"].as_str().unwrap_or_default();
    let mut name = svc_name.to_string();
    if let Some(p) = ports.first() {
        let port_name = p["name"].as_str().unwrap_or_default();
        let scheme = if port_name == "https" || p["port"].as_i64() == Some(443) {
            "https"
        } else {
            ""
        };
        name = if !scheme.is_empty() {
            format!("{scheme}:{svc_name}:{port_name}")
        } else if !port_name.is_empty() {
            format!("{svc_name}:{port_name}")
        } else {
            svc_name.to_string()
        };
    }
    let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
    format!("{host}/api/v1/namespaces/{ns}/services/{name}/proxy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_follow_kubectl() {
        let dns = json!({"metadata": {"name": "kube-dns", "namespace": "kube-system"},
                         "spec": {"ports": [{"name": "dns", "port": 53}]}});
        assert_eq!(
            service_link("https://h:6443", &dns),
            "https://h:6443/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"
        );
        let tls = json!({"metadata": {"name": "m", "namespace": "kube-system"},
                         "spec": {"ports": [{"port": 443}]}});
        assert_eq!(
            service_link("https://h", &tls),
            "https://h/api/v1/namespaces/kube-system/services/https:m:/proxy"
        );
        let lb = json!({"metadata": {"name": "m"}, "spec": {"ports": [{"port": 80}, {"port": 81}]},
                        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}});
        assert_eq!(
            service_link("x", &lb),
            "http://lb.example:80 http://lb.example:81 "
        );
    }
}
