//! Service/networking printers: Service, Endpoints, EndpointSlice, Ingress,
//! IngressClass, NetworkPolicy, ServiceCIDR, IPAddress.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{Ctx, Row};
use crate::table::duration::since;
use crate::table::labels::{format_label_selector, format_labels};
use crate::table::value::{arr_at, as_int, at, creation, name, opt_int_at, opt_str_at, s, str_at};

fn age(obj: &Value, ctx: &Ctx<'_>) -> Value {
    s(since(creation(obj), ctx.now))
}

/// Upstream `loadBalancerStatusStringer` with `wide == true` (the server
/// always prints wide, so the 16-character clipping never applies): the
/// sorted, de-duplicated set of ingress IPs (or hostnames when no IP).
fn load_balancer_status(ingress: &[Value]) -> String {
    let set: BTreeSet<&str> = ingress
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn service_external_ip(obj: &Value, svc_type: &str) -> String {
    let external_ips: Vec<&str> = arr_at(obj, &["spec", "externalIPs"])
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb_ips = load_balancer_status(arr_at(obj, &["status", "loadBalancer", "ingress"]));
            if !external_ips.is_empty() {
                let mut results: Vec<&str> = Vec::new();
                if !lb_ips.is_empty() {
                    results.extend(lb_ips.split(','));
                }
                results.extend(external_ips.iter().copied());
                return results.join(",");
            }
            if lb_ips.is_empty() {
                "<pending>".to_string()
            } else {
                lb_ips
            }
        }
        "ExternalName" => str_at(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Upstream `makePortString`: `port/proto` or `port:nodePort/proto`.
fn make_port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = opt_int_at(p, &["port"]).unwrap_or(0);
            // protocol defaults to TCP.
            let proto = opt_str_at(p, &["protocol"])
                .filter(|v| !v.is_empty())
                .unwrap_or("TCP");
            let node_port = opt_int_at(p, &["nodePort"]).unwrap_or(0);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn print_service(obj: &Value, ctx: &Ctx<'_>) -> Row {
    // spec.type defaults to ClusterIP.
    let svc_type = opt_str_at(obj, &["spec", "type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP");
    // Internal ClusterIPs[0]; defaulting keeps clusterIP == clusterIPs[0].
    let cluster_ips = arr_at(obj, &["spec", "clusterIPs"]);
    let internal_ip = match cluster_ips.first() {
        Some(ip) => ip.as_str().unwrap_or_default().to_string(),
        None => {
            let ip = str_at(obj, &["spec", "clusterIP"]);
            if ip.is_empty() {
                "<none>".to_string()
            } else {
                ip.to_string()
            }
        }
    };
    let mut ports = make_port_string(arr_at(obj, &["spec", "ports"]));
    if ports.is_empty() {
        ports = "<none>".to_string();
    }
    Row::new(vec![
        s(name(obj)),
        s(svc_type),
        s(internal_ip),
        s(service_external_ip(obj, svc_type)),
        s(ports),
        age(obj, ctx),
        s(format_labels(at(obj, &["spec", "selector"]))),
    ])
}

/// Go `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Upstream `formatEndpoints` with all ports.
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services with no ports.
            count += addresses.len();
            for addr in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(str_at(addr, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            let port_num = opt_int_at(port, &["port"]).unwrap_or(0);
            for addr in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(addr, &["ip"]), port_num));
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    ret
}

pub(crate) fn print_endpoints(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![s(name(obj)), s(format_endpoints(obj)), age(obj, ctx)])
}

/// Upstream `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        return "<unset>".to_string();
    }
    ret
}

pub(crate) fn print_endpoint_slice(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let max = 3;
    let (mut ports, mut more, mut count) = (Vec::new(), false, 0usize);
    for p in arr_at(obj, &["ports"]) {
        if ports.len() < max {
            let num = match (at(p, &["port"]).and_then(as_int), opt_str_at(p, &["name"])) {
                (Some(n), _) => n.to_string(),
                (None, Some(n)) => n.to_string(),
                (None, None) => "*".to_string(),
            };
            ports.push(num);
        } else if ports.len() == max {
            more = true;
        }
        count += 1;
    }
    let ports_str = list_with_more(&ports, more, count, max);

    let (mut addrs, mut more, mut count) = (Vec::new(), false, 0usize);
    for ep in arr_at(obj, &["endpoints"]) {
        for a in arr_at(ep, &["addresses"]) {
            if addrs.len() < max {
                addrs.push(a.as_str().unwrap_or_default().to_string());
            } else if addrs.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    let endpoints_str = list_with_more(&addrs, more, count, max);

    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["addressType"])),
        s(ports_str),
        s(endpoints_str),
        age(obj, ctx),
    ])
}

/// Upstream `formatHosts`.
fn format_hosts(rules: &[Value]) -> String {
    let max = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == max {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", rules.len() - max);
    }
    ret
}

pub(crate) fn print_ingress(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let class_name = opt_str_at(obj, &["spec", "ingressClassName"]).unwrap_or("<none>");
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    Row::new(vec![
        s(name(obj)),
        s(class_name),
        s(format_hosts(arr_at(obj, &["spec", "rules"]))),
        s(load_balancer_status(arr_at(
            obj,
            &["status", "loadBalancer", "ingress"],
        ))),
        s(ports),
        age(obj, ctx),
    ])
}

pub(crate) fn print_ingress_class(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let parameters = match at(obj, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut out = str_at(p, &["kind"]).to_string();
            if let Some(group) = opt_str_at(p, &["apiGroup"]) {
                out.push('.');
                out.push_str(group);
            }
            out.push('/');
            out.push_str(str_at(p, &["name"]));
            out
        }
    };
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "controller"])),
        s(parameters),
        age(obj, ctx),
    ])
}

pub(crate) fn print_network_policy(obj: &Value, ctx: &Ctx<'_>) -> Row {
    // podSelector is a struct (never nil) upstream: absent == empty selector.
    let empty = json!({});
    let selector = at(obj, &["spec", "podSelector"]).unwrap_or(&empty);
    Row::new(vec![
        s(name(obj)),
        s(format_label_selector(Some(selector))),
        age(obj, ctx),
    ])
}

pub(crate) fn print_service_cidr(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let cidrs: Vec<&str> = arr_at(obj, &["spec", "cidrs"])
        .iter()
        .map(|c| c.as_str().unwrap_or_default())
        .collect();
    Row::new(vec![s(name(obj)), s(cidrs.join(",")), age(obj, ctx)])
}

pub(crate) fn print_ip_address(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let parent = match at(obj, &["spec", "parentRef"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let group = str_at(p, &["group"]);
            let resource = str_at(p, &["resource"]);
            let gr = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            };
            let mut out = gr.to_lowercase();
            let ns = str_at(p, &["namespace"]);
            if !ns.is_empty() {
                out.push('/');
                out.push_str(ns);
            }
            out.push('/');
            out.push_str(str_at(p, &["name"]));
            out
        }
    };
    // Upstream emits an age cell although no Age column is defined.
    Row::new(vec![s(name(obj)), s(parent), age(obj, ctx)])
}
