//! From the pod spec to what the runtime is asked for: the sandbox config (hostname, DNS,
//! hosts) and each container's config (argv, env with valueFrom, mounts, resources,
//! security context).

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::Api;
use rkube_apimachinery::quantity;
use rkube_runtime::container::{Mount, Resources, Seccomp, SecurityContext};
use rkube_runtime::{ContainerConfig, DnsConfig, PodSandboxConfig};

use crate::Config;

/// Why a container cannot be configured yet: the kubelet reports it as
/// `CreateContainerConfigError` and retries.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The sandbox for `pod`.
pub fn sandbox_config(config: &Config, pod: &Pod) -> PodSandboxConfig {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let uid = meta.uid.clone().unwrap_or_default();
    let hostname = spec
        .hostname
        .clone()
        .unwrap_or_else(|| name.chars().take(63).collect());
    PodSandboxConfig {
        log_directory: config.pod_log_dir(&ns, &name, &uid),
        hostname,
        dns: dns_config(config, pod),
        host_aliases: spec
            .host_aliases
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.ip, a.hostnames.unwrap_or_default()))
            .collect(),
        labels: meta.labels.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        host_network: spec.host_network.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        name,
        namespace: ns,
        uid,
        attempt: 0,
    }
}

/// The node's own resolver configuration (for dnsPolicy Default and hostNetwork pods).
fn host_dns() -> DnsConfig {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut d = DnsConfig::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => d.servers.extend(f.next().map(String::from)),
            Some("search") => d.searches = f.map(String::from).collect(),
            Some("options") => d.options = f.map(String::from).collect(),
            _ => {}
        }
    }
    d
}

/// resolv.conf per dnsPolicy (ClusterFirst, ClusterFirstWithHostNet, Default, None) and
/// dnsConfig, as the kubelet builds it.
pub fn dns_config(config: &Config, pod: &Pod) -> DnsConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let policy = spec
        .dns_policy
        .clone()
        .unwrap_or_else(|| "ClusterFirst".into());
    let host_net = spec.host_network.unwrap_or(false);
    let domain = &config.cluster_domain;
    let mut d = match policy.as_str() {
        "None" => DnsConfig::default(),
        "Default" => host_dns(),
        "ClusterFirst" if host_net => host_dns(),
        _ => DnsConfig {
            servers: vec![config.cluster_dns.to_string()],
            searches: vec![
                format!("{ns}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.clone(),
            ],
            options: vec!["ndots:5".into()],
        },
    };
    if let Some(dc) = spec.dns_config {
        for s in dc.nameservers.unwrap_or_default() {
            if !d.servers.contains(&s) {
                d.servers.push(s);
            }
        }
        for s in dc.searches.unwrap_or_default() {
            if !d.searches.contains(&s) {
                d.searches.push(s);
            }
        }
        for o in dc.options.unwrap_or_default() {
            let opt = match o.value {
                Some(v) => format!("{}:{v}", o.name.unwrap_or_default()),
                None => o.name.unwrap_or_default(),
            };
            let key = opt.split(':').next().unwrap_or("").to_string();
            d.options
                .retain(|x| x.split(':').next() != Some(key.as_str()));
            d.options.push(opt);
        }
    }
    d.servers.truncate(3);
    d.searches.truncate(32);
    d
}

/// Looks up ConfigMaps and Secrets for env and volumes, remembering what it fetched.
pub struct Lookup<'a> {
    pub client: &'a kube::Client,
    pub namespace: &'a str,
    config_maps: BTreeMap<String, Option<ConfigMap>>,
    secrets: BTreeMap<String, Option<Secret>>,
    service_env: Option<Vec<(String, String)>>,
}

impl<'a> Lookup<'a> {
    pub fn new(client: &'a kube::Client, namespace: &'a str) -> Self {
        Lookup {
            client,
            namespace,
            config_maps: BTreeMap::new(),
            secrets: BTreeMap::new(),
            service_env: None,
        }
    }

    pub async fn config_map(&mut self, name: &str) -> Result<Option<ConfigMap>, ConfigError> {
        if let Some(c) = self.config_maps.get(name) {
            return Ok(c.clone());
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), self.namespace);
        let got = api
            .get_opt(name)
            .await
            .map_err(|e| ConfigError(format!("configmap {name:?}: {e}")))?;
        self.config_maps.insert(name.to_string(), got.clone());
        Ok(got)
    }

    pub async fn secret(&mut self, name: &str) -> Result<Option<Secret>, ConfigError> {
        if let Some(c) = self.secrets.get(name) {
            return Ok(c.clone());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), self.namespace);
        let got = api
            .get_opt(name)
            .await
            .map_err(|e| ConfigError(format!("secret {name:?}: {e}")))?;
        self.secrets.insert(name.to_string(), got.clone());
        Ok(got)
    }

    /// The Service variables of a pod in this namespace (`links`: its
    /// `enableServiceLinks`). Read when the pod's containers are configured, as upstream's
    /// kubelet reads its Service informer then.
    pub async fn service_env(&mut self, links: bool) -> Result<Vec<(String, String)>, ConfigError> {
        if let Some(v) = &self.service_env {
            return Ok(v.clone());
        }
        let failed = |e: kube::Error| {
            ConfigError(format!(
                "failed to list services when setting up env vars: {e}"
            ))
        };
        let in_namespace = if links {
            Api::<Service>::namespaced(self.client.clone(), self.namespace)
                .list(&Default::default())
                .await
                .map_err(failed)?
                .items
        } else {
            Vec::new()
        };
        let master = Api::<Service>::namespaced(self.client.clone(), "default")
            .get_opt("kubernetes")
            .await
            .map_err(failed)?;
        let env = crate::service_env::from_services(&crate::service_env::select(
            self.namespace,
            in_namespace,
            master,
            links,
        ));
        self.service_env = Some(env.clone());
        Ok(env)
    }
}

fn config_map_value(cm: &ConfigMap, key: &str) -> Option<String> {
    cm.data
        .as_ref()
        .and_then(|d| d.get(key).cloned())
        .or_else(|| {
            cm.binary_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| String::from_utf8_lossy(&b.0).to_string())
        })
}

fn secret_value(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).to_string())
        .or_else(|| s.string_data.as_ref().and_then(|d| d.get(key).cloned()))
}

/// `metadata.labels['app']` style field paths and the plain ones.
pub fn field_ref(pod: &Pod, path: &str, node_ip: &str) -> Option<String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let map_key = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.and_then(|l| l.get(key).cloned()).unwrap_or_default())
    };
    if let Some(v) = map_key("metadata.labels['", m.labels.as_ref()) {
        return Some(v);
    }
    if let Some(v) = map_key("metadata.annotations['", m.annotations.as_ref()) {
        return Some(v);
    }
    let render = |map: Option<&BTreeMap<String, String>>| {
        map.map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
    };
    Some(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => render(m.labels.as_ref()),
        "metadata.annotations" => render(m.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => node_ip.to_string(),
        "status.hostIPs" => node_ip.to_string(),
        "status.podIP" | "status.podIPs" => {
            status.and_then(|s| s.pod_ip.clone()).unwrap_or_default()
        }
        _ => return None,
    })
}

/// `limits.cpu`, `requests.memory`, … of a container, in the divisor's units (rounded up).
pub fn resource_field_ref(
    c: &Container,
    resource: &str,
    divisor: Option<&str>,
    node_cpus: usize,
    node_memory: u64,
) -> Option<String> {
    let (kind, name) = resource.split_once('.')?;
    let res = c.resources.as_ref();
    let map = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => return None,
    };
    let milli = map
        .and_then(|m| m.get(name))
        .and_then(|q| quantity::parse_milli(&q.0));
    let milli = match (milli, kind, name) {
        (Some(v), _, _) => v,
        // Unset limits report the node's allocatable, as upstream.
        (None, "limits", "cpu") => node_cpus as i128 * 1000,
        (None, "limits", "memory") => node_memory as i128 * 1000,
        (None, _, _) => 0,
    };
    let div = divisor
        .and_then(quantity::parse_milli)
        .filter(|d| *d > 0)
        .unwrap_or(1000);
    Some(((milli + div - 1) / div).to_string())
}

/// The container's environment: envFrom first, then env (later wins), with valueFrom
/// resolved. A missing required ConfigMap/Secret or key is upstream's error message.
pub async fn env(
    pod: &Pod,
    c: &Container,
    lookup: &mut Lookup<'_>,
    node_ip: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let services = lookup.service_env(links).await?;
    // `$(VAR)` may name a Service variable too; the container's own variables win.
    let vars = |out: &[(String, String)]| {
        let mut m = out_snapshot(out);
        for (k, v) in &services {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m
    };
    let mut out: Vec<(String, String)> = Vec::new();
    fn put(out: &mut Vec<(String, String)>, k: String, v: String) {
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    for src in c.env_from.clone().unwrap_or_default() {
        let prefix = src.prefix.clone().unwrap_or_default();
        if let Some(r) = &src.config_map_ref {
            match lookup.config_map(&r.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.unwrap_or_default() {
                        put(&mut out, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
            }
        }
        if let Some(r) = &src.secret_ref {
            match lookup.secret(&r.name).await? {
                Some(s) => {
                    for (k, v) in s.data.unwrap_or_default() {
                        put(
                            &mut out,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).to_string(),
                        );
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
            }
        }
    }
    for e in c.env.clone().unwrap_or_default() {
        let Some(from) = e.value_from else {
            let v = expand(&e.value.unwrap_or_default(), &vars(&out));
            put(&mut out, e.name, v);
            continue;
        };
        let value = if let Some(r) = from.config_map_key_ref {
            let optional = r.optional == Some(true);
            match lookup.config_map(&r.name).await? {
                Some(cm) => match config_map_value(&cm, &r.key) {
                    Some(v) => Some(v),
                    None if optional => None,
                    None => {
                        return Err(ConfigError(format!(
                            "couldn't find key {} in ConfigMap {}/{}",
                            r.key, lookup.namespace, r.name
                        )))
                    }
                },
                None if optional => None,
                None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
            }
        } else if let Some(r) = from.secret_key_ref {
            let optional = r.optional == Some(true);
            match lookup.secret(&r.name).await? {
                Some(s) => match secret_value(&s, &r.key) {
                    Some(v) => Some(v),
                    None if optional => None,
                    None => {
                        return Err(ConfigError(format!(
                            "couldn't find key {} in Secret {}/{}",
                            r.key, lookup.namespace, r.name
                        )))
                    }
                },
                None if optional => None,
                None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
            }
        } else if let Some(f) = from.field_ref {
            field_ref(pod, &f.field_path, node_ip)
        } else if let Some(r) = from.resource_field_ref {
            let target = match r.container_name.as_deref() {
                Some(n) if !n.is_empty() => pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.iter().find(|x| x.name == n))
                    .unwrap_or(c),
                _ => c,
            };
            resource_field_ref(
                target,
                &r.resource,
                r.divisor.as_ref().map(|d| d.0.as_str()),
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
                crate::node::capacity(std::path::Path::new("/")).memory_kib * 1024,
            )
        } else {
            None
        };
        if let Some(v) = value {
            put(&mut out, e.name, v);
        }
    }
    for (k, v) in services {
        if !out.iter().any(|(n, _)| *n == k) {
            out.push((k, v));
        }
    }
    Ok(out)
}

fn out_snapshot(out: &[(String, String)]) -> BTreeMap<String, String> {
    out.iter().cloned().collect()
}

/// `$(VAR)` references to earlier variables, `$$` escapes; unknown ones stay as written.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'(' {
                if let Some(end) = s[i + 2..].find(')') {
                    let name = &s[i + 2..i + 2 + end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&s[i..i + 3 + end]),
                    }
                    i += 3 + end;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// cgroup limits from requests and limits, converted as the kubelet does.
pub fn resources(c: &Container) -> Resources {
    let res = c.resources.clone().unwrap_or_default();
    let get =
        |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| {
            m.as_ref()
                .and_then(|m| m.get(k))
                .and_then(|q| quantity::parse_milli(&q.0))
        };
    let cpu_req = get(&res.requests, "cpu").or_else(|| get(&res.limits, "cpu"));
    let cpu_lim = get(&res.limits, "cpu");
    let mem_lim = get(&res.limits, "memory");
    let mut r = Resources {
        cpu_shares: Some(Resources::shares_from_millis(
            cpu_req.unwrap_or(0).clamp(0, i64::MAX as i128) as i64,
        )),
        memory_limit_bytes: mem_lim.map(|m| ((m + 999) / 1000).clamp(0, i64::MAX as i128) as i64),
        ..Default::default()
    };
    if let Some(l) = cpu_lim {
        let (q, p) = Resources::quota_from_millis(l.clamp(0, i64::MAX as i128) as i64);
        r.cpu_quota = Some(q);
        r.cpu_period = Some(p);
    }
    r
}

/// The effective security context: container's fields over the pod's.
pub fn security(pod: &Pod, c: &Container) -> SecurityContext {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let to_u32 = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
    let seccomp = sc
        .seccomp_profile
        .as_ref()
        .or(psc.seccomp_profile.as_ref())
        .map(|p| match p.type_.as_str() {
            "RuntimeDefault" => Seccomp::RuntimeDefault,
            _ => Seccomp::Unconfined,
        })
        .unwrap_or_default();
    let caps = sc.capabilities.clone().unwrap_or_default();
    SecurityContext {
        privileged: sc.privileged.unwrap_or(false),
        run_as_user: to_u32(sc.run_as_user.or(psc.run_as_user)),
        run_as_group: to_u32(sc.run_as_group.or(psc.run_as_group)),
        supplemental_groups: psc
            .supplemental_groups
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| u32::try_from(g).ok())
            .chain(psc.fs_group.and_then(|g| u32::try_from(g).ok()))
            .collect(),
        read_only_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
        add_capabilities: caps.add.unwrap_or_default(),
        drop_capabilities: caps.drop.unwrap_or_default(),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        seccomp,
    }
}

/// runAsNonRoot's check against the uid the container would run as: the kubelet's
/// `verifyRunAsNonRoot`, with its messages. `image_uid`/`image_user` are the image status's
/// uid and username; neither means root, as the kubelet's `getImageUser` takes it.
pub fn verify_non_root(
    pod: &Pod,
    c: &Container,
    image_uid: Option<i64>,
    image_user: &str,
) -> Result<(), ConfigError> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.clone());
    let sc = c.security_context.clone();
    let non_root = sc
        .as_ref()
        .and_then(|s| s.run_as_non_root)
        .or(psc.as_ref().and_then(|s| s.run_as_non_root))
        .unwrap_or(false);
    if !non_root {
        return Ok(());
    }
    let run_as_user = sc
        .as_ref()
        .and_then(|s| s.run_as_user)
        .or(psc.as_ref().and_then(|s| s.run_as_user));
    // The kubelet's format.Pod: name_namespace(uid).
    let pod_ref = format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    );
    let fail = |what: String| {
        Err(ConfigError(format!(
            "{what} (pod: \"{pod_ref}\", container: {})",
            c.name
        )))
    };
    if let Some(uid) = run_as_user {
        if uid == 0 {
            return fail("container's runAsUser breaks non-root policy".into());
        }
        return Ok(());
    }
    let image_uid = match (image_uid, image_user) {
        (None, "") => Some(0),
        (uid, _) => uid,
    };
    match image_uid {
        Some(0) => fail("container has runAsNonRoot and image will run as root".into()),
        Some(_) => Ok(()),
        None => fail(format!(
            "container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root"
        )),
    }
}

/// The runtime config of container `c` (attempt `attempt`) with its resolved env and mounts.
pub fn container_config(
    pod: &Pod,
    c: &Container,
    attempt: u32,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
) -> ContainerConfig {
    let vars = out_snapshot(&env);
    let expand_all = |v: &Option<Vec<String>>| {
        v.clone()
            .unwrap_or_default()
            .iter()
            .map(|s| expand(s, &vars))
            .collect::<Vec<_>>()
    };
    let mut labels = BTreeMap::new();
    labels.insert(
        "io.kubernetes.pod.uid".to_string(),
        pod.metadata.uid.clone().unwrap_or_default(),
    );
    labels.insert("io.kubernetes.container.name".to_string(), c.name.clone());
    ContainerConfig {
        name: c.name.clone(),
        attempt,
        image: c.image.clone().unwrap_or_default(),
        command: expand_all(&c.command),
        args: expand_all(&c.args),
        working_dir: c.working_dir.clone(),
        env,
        mounts,
        labels,
        annotations: BTreeMap::new(),
        log_path: PathBuf::from(format!("{}/{attempt}.log", c.name)),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        resources: resources(c),
        security: security(pod, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_as_non_root_is_checked_with_the_kubelets_messages() {
        let pod = |pod_sc: serde_json::Value, sc: serde_json::Value| -> (Pod, Container) {
            let p: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
                "spec": {"securityContext": pod_sc, "containers": [{"name": "app", "securityContext": sc}]},
            }))
            .expect("pod");
            let c = p.spec.as_ref().expect("spec").containers[0].clone();
            (p, c)
        };
        let check = |p: &(Pod, Container), uid: Option<i64>, user: &str| {
            verify_non_root(&p.0, &p.1, uid, user).map_err(|e| e.0)
        };
        let suffix = "(pod: \"web_prod(u-1)\", container: app)";
        let root = format!("container has runAsNonRoot and image will run as root {suffix}");

        // Not asked for: anything goes.
        let off = pod(serde_json::json!({}), serde_json::json!({}));
        assert_eq!(check(&off, Some(0), ""), Ok(()));
        // Asked for at pod level, the image runs as root (by uid, or by saying nothing).
        let on = pod(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({}),
        );
        assert_eq!(check(&on, Some(0), ""), Err(root.clone()));
        assert_eq!(check(&on, None, ""), Err(root.clone()));
        assert_eq!(check(&on, Some(1000), ""), Ok(()));
        assert_eq!(
            check(&on, None, "nginx"),
            Err(format!("container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root {suffix}"))
        );
        // runAsUser decides over the image; 0 breaks the policy.
        let as_user = pod(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({"runAsUser": 1000}),
        );
        assert_eq!(check(&as_user, Some(0), ""), Ok(()));
        let as_root = pod(
            serde_json::json!({"runAsUser": 0}),
            serde_json::json!({"runAsNonRoot": true}),
        );
        assert_eq!(
            check(&as_root, Some(1000), ""),
            Err(format!(
                "container's runAsUser breaks non-root policy {suffix}"
            ))
        );
        // The container's setting overrides the pod's.
        let off_here = pod(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({"runAsNonRoot": false}),
        );
        assert_eq!(check(&off_here, Some(0), ""), Ok(()));
    }

    #[test]
    fn dependent_variables_expand_as_upstream() {
        let mut vars = BTreeMap::new();
        vars.insert("A".to_string(), "x".to_string());
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vars), "x-$(B)-$(A)");
        assert_eq!(expand("ünï $(A)", &vars), "ünï x");
    }

    #[test]
    fn resources_follow_the_kubelet() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "a",
            "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
        }))
        .expect("container");
        let r = resources(&c);
        assert_eq!(r.cpu_shares, Some(256));
        assert_eq!(r.cpu_quota, Some(50_000));
        assert_eq!(r.memory_limit_bytes, Some(64 << 20));
        assert_eq!(
            resource_field_ref(&c, "limits.memory", Some("1Mi"), 2, 0),
            Some("64".into())
        );
        assert_eq!(
            resource_field_ref(&c, "requests.cpu", Some("1m"), 2, 0),
            Some("250".into())
        );
    }

    #[test]
    fn field_refs() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"podIP": "10.42.0.9"},
        }))
        .expect("pod");
        assert_eq!(
            field_ref(&pod, "metadata.labels['app']", "1.2.3.4").as_deref(),
            Some("web")
        );
        assert_eq!(
            field_ref(&pod, "status.podIP", "").as_deref(),
            Some("10.42.0.9")
        );
        assert_eq!(
            field_ref(&pod, "status.hostIP", "1.2.3.4").as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(field_ref(&pod, "spec.nodeName", "").as_deref(), Some("n1"));
        assert_eq!(
            field_ref(&pod, "metadata.labels", "").as_deref(),
            Some("app=\"web\"")
        );
    }
}
