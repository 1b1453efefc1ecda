//! `kubectl describe`: finds the objects as kubectl's resource builder does (names,
//! `TYPE/NAME`, whole types, `-l`, `-A`, `-f`), falls back to name-prefix matching when a
//! single `TYPE NAME` is not found, and prints each object through the describer for its
//! kind — or the generic one — separated as kubectl separates them.

mod containers;
mod core;
mod csr;
mod events;
mod generic;
mod network;
mod node;
mod pod;
mod policy;
mod storage;
mod util;
mod volumes;
mod workloads;
mod writer;

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::Value;

use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};
use crate::resource::{Resolver, ResourceType};
use util::s;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// (-f FILENAME | TYPE [NAME_PREFIX | -l label] | TYPE/NAME)
    pub args: Vec<String>,
    /// Filename, directory, or URL to files containing the resource to describe.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Process the directory used in -f, --filename recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// If present, list the requested object(s) across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// If true, display events related to the described object.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub show_events: bool,
    /// Return large lists in chunks rather than all at once.
    #[arg(long, default_value_t = 500)]
    pub chunk_size: i64,
}

/// `DescriberSettings`.
pub struct Settings {
    pub show_events: bool,
    pub chunk: i64,
}

impl Settings {
    /// The events about `obj` when they are shown (errors leave the list empty, as
    /// kubectl ignores them).
    pub async fn events(&self, ctx: &Ctx, obj: &Value) -> Option<Vec<Value>> {
        if !self.show_events {
            return None;
        }
        let r = events::EventRef::of(obj);
        Some(
            events::search(ctx, &r, self.chunk)
                .await
                .unwrap_or_default(),
        )
    }
}

/// One object to describe, with its type.
struct Info {
    rt: ResourceType,
    obj: Value,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if a.args.is_empty() && a.filename.is_empty() {
        return Err(Error::client(
            "You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources.",
        ));
    }
    let settings = Settings {
        show_events: a.show_events,
        chunk: a.chunk_size,
    };
    let mut resolver = Resolver::new();
    let mut errors: Vec<Error> = Vec::new();
    let mut infos: Vec<Info> = Vec::new();
    if !a.filename.is_empty() {
        from_files(ctx, &mut resolver, a, &mut infos, &mut errors).await?;
    }
    if !a.args.is_empty() {
        from_args(ctx, &mut resolver, a, &mut infos, &mut errors).await?;
    }

    if errors.len() == 1 && errors[0].is_not_found() && a.args.len() == 2 && a.filename.is_empty() {
        let original = errors.remove(0);
        return matching(ctx, &mut resolver, a, &settings, original).await;
    }

    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut first = true;
    let mut out = std::io::stdout().lock();
    for info in &infos {
        match describe(ctx, info, &settings).await {
            Ok(text) => {
                if first {
                    first = false;
                    out.write_all(text.as_bytes())?;
                } else {
                    out.write_all(format!("\n\n{text}").as_bytes())?;
                }
            }
            Err(e) => {
                if seen.insert(e.to_string()) {
                    errors.push(e);
                }
            }
        }
    }
    out.flush()?;
    if infos.is_empty() && errors.is_empty() {
        if a.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", ctx.namespace);
        }
    }
    report(errors)
}

/// Prints every error on its own line, as kubectl's aggregate does, and fails.
fn report(errors: Vec<Error>) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().unwrap_or(Error::Silent(1))),
        _ => {
            for e in &errors {
                eprintln!("{e}");
            }
            Err(Error::Silent(1))
        }
    }
}

/// Fills in `kind`/`apiVersion`, which list items lack.
fn typed(rt: &ResourceType, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.entry("apiVersion")
            .or_insert_with(|| Value::String(rt.api_version()));
        m.entry("kind")
            .or_insert_with(|| Value::String(rt.kind.clone()));
    }
    obj
}

async fn list(ctx: &Ctx, rt: &ResourceType, ns: Option<&str>, a: &Args) -> Result<Vec<Value>> {
    let query = a
        .selector
        .as_ref()
        .map(|l| format!("labelSelector={}", query_escape(l)))
        .unwrap_or_default();
    let items = events::list_all(ctx, &rt.collection_path(ns), &query, a.chunk_size).await?;
    Ok(items.into_iter().map(|o| typed(rt, o)).collect())
}

async fn from_args(
    ctx: &Ctx,
    resolver: &mut Resolver,
    a: &Args,
    infos: &mut Vec<Info>,
    errors: &mut Vec<Error>,
) -> Result<()> {
    let mut reqs = crate::cmd::get::requests(ctx, resolver, "describe", &a.args).await?;
    if a.args[0].contains('/') {
        // TYPE/NAME arguments are visited in the order given, not grouped by type.
        let mut ordered = Vec::new();
        for arg in &a.args {
            let (ty, name) = crate::resource::split_type_name(arg);
            let rt = resolver.resolve(ctx, ty).await?;
            ordered.push((rt, vec![name.unwrap_or_default().to_string()]));
        }
        reqs = ordered;
    }
    let ns = (!a.all_namespaces).then_some(ctx.namespace.as_str());
    if a.selector.is_some() && reqs.iter().any(|(_, names)| !names.is_empty()) {
        return Err(Error::client(
            "name cannot be provided when a selector is specified",
        ));
    }
    for (rt, names) in reqs {
        if names.is_empty() {
            match list(ctx, &rt, ns, a).await {
                Ok(objs) => infos.extend(objs.into_iter().map(|obj| Info {
                    rt: rt.clone(),
                    obj,
                })),
                Err(e) => errors.push(e),
            }
            continue;
        }
        for name in names {
            match ctx.get_json(&rt.object_path(&ctx.namespace, &name)).await {
                Ok(obj) => infos.push(Info {
                    rt: rt.clone(),
                    obj: typed(&rt, obj),
                }),
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(())
}

/// `-f`: the objects the manifests name, fetched from the server.
async fn from_files(
    ctx: &Ctx,
    resolver: &mut Resolver,
    a: &Args,
    infos: &mut Vec<Info>,
    errors: &mut Vec<Error>,
) -> Result<()> {
    let mut docs = Vec::new();
    let mut paths = Vec::new();
    for f in &a.filename {
        manifest_paths(std::path::Path::new(f), a.recursive, true, &mut paths)?;
    }
    for f in &paths {
        let text = if f == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(f)
                .map_err(|e| Error::client(format!("error reading {f}: {e}")))?
        };
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| Error::client(format!("error parsing {f}: {e}")))?;
            if v.is_null() {
                continue;
            }
            match v["items"].as_array() {
                Some(items) if s(&v["kind"]).ends_with("List") => docs.extend(items.clone()),
                _ => docs.push(v),
            }
        }
    }
    for d in docs {
        let api_version = s(&d["apiVersion"]);
        let kind = s(&d["kind"]);
        let name = match api_version.split_once('/') {
            Some((g, v)) => format!("{kind}.{v}.{g}"),
            None => kind.to_string(),
        };
        let rt = resolver.resolve(ctx, &name).await?;
        let ns = match s(&d["metadata"]["namespace"]) {
            "" => ctx.namespace.clone(),
            n => n.to_string(),
        };
        match ctx
            .get_json(&rt.object_path(&ns, s(&d["metadata"]["name"])))
            .await
        {
            Ok(obj) => infos.push(Info {
                obj: typed(&rt, obj),
                rt,
            }),
            Err(e) => errors.push(e),
        }
    }
    Ok(())
}

/// The manifest files `-f` names: the file itself, or a directory's `.json`, `.yaml` and
/// `.yml` files in name order (subdirectories with `-R`).
fn manifest_paths(
    path: &std::path::Path,
    recursive: bool,
    top: bool,
    out: &mut Vec<String>,
) -> Result<()> {
    let shown = path.display().to_string();
    if shown == "-" {
        out.push(shown);
        return Ok(());
    }
    let meta = std::fs::metadata(path)
        .map_err(|_| Error::client(format!("the path \"{shown}\" does not exist")))?;
    if !meta.is_dir() {
        out.push(shown);
        return Ok(());
    }
    if !top && !recursive {
        return Ok(());
    }
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::client(format!("error reading {shown}: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            manifest_paths(&p, recursive, false, out)?;
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| ["json", "yaml", "yml"].contains(&x))
        {
            out.push(p.display().to_string());
        }
    }
    Ok(())
}

/// `DescribeMatchingResources`: every object of the type whose name starts with the
/// prefix, each followed by a blank line; the original error when none does.
async fn matching(
    ctx: &Ctx,
    resolver: &mut Resolver,
    a: &Args,
    settings: &Settings,
    original: Error,
) -> Result<()> {
    let (ty, prefix) = (&a.args[0], &a.args[1]);
    if ty.contains('/') || ty.contains(',') {
        return Err(original);
    }
    let rt = resolver.resolve(ctx, ty).await?;
    let query = String::new();
    let objs = events::list_all(
        ctx,
        &rt.collection_path(Some(&ctx.namespace)),
        &query,
        a.chunk_size,
    )
    .await?;
    let mut found = false;
    let mut out = std::io::stdout().lock();
    for obj in objs {
        if !s(&obj["metadata"]["name"]).starts_with(prefix.as_str()) {
            continue;
        }
        found = true;
        let info = Info {
            obj: typed(&rt, obj),
            rt: rt.clone(),
        };
        let text = describe(ctx, &info, settings).await?;
        out.write_all(format!("{text}\n").as_bytes())?;
    }
    out.flush()?;
    if !found {
        return Err(original);
    }
    Ok(())
}

/// Runs the describer kubectl registers for the object's group and kind.
async fn describe(ctx: &Ctx, info: &Info, st: &Settings) -> Result<String> {
    let obj = &info.obj;
    match (info.rt.group.as_str(), info.rt.kind.as_str()) {
        ("", "Pod") => {
            let evs = if st.show_events {
                let mut r = events::EventRef::of(obj);
                r.kind = None;
                if let Some(uid) =
                    obj["metadata"]["annotations"]["kubernetes.io/config.mirror"].as_str()
                {
                    r.uid = Some(uid);
                }
                Some(events::search(ctx, &r, st.chunk).await.unwrap_or_default())
            } else {
                None
            };
            Ok(pod::describe(obj, evs.as_deref()))
        }
        ("", "Service") => network::service(ctx, obj, st).await,
        ("", "Endpoints") => network::endpoints(ctx, obj, st).await,
        ("", "Node") => node::describe(ctx, obj, st).await,
        ("", "Namespace") => core::namespace(ctx, obj, st).await,
        ("", "ConfigMap") => core::config_map(ctx, obj, st).await,
        ("", "Secret") => Ok(core::secret(obj)),
        ("", "ServiceAccount") => core::service_account(ctx, obj, st).await,
        ("", "PersistentVolumeClaim") => core::pvc(ctx, obj, st).await,
        ("apps", "Deployment") => workloads::deployment(ctx, obj, st).await,
        ("apps", "ReplicaSet") => workloads::replica_set(ctx, obj, st).await,
        ("apps", "StatefulSet") => workloads::stateful_set(ctx, obj, st).await,
        ("apps", "DaemonSet") => workloads::daemon_set(ctx, obj, st).await,
        ("batch", "Job") => workloads::job(ctx, obj, st).await,
        ("batch", "CronJob") => workloads::cron_job(ctx, obj, st).await,
        ("networking.k8s.io", "Ingress") => network::ingress(ctx, obj, st).await,
        ("networking.k8s.io", "NetworkPolicy") => Ok(network::network_policy(obj)),
        ("networking.k8s.io", "IngressClass") => storage::ingress_class(ctx, obj, st).await,
        ("", "ResourceQuota") => Ok(policy::resource_quota(obj)),
        ("", "LimitRange") => Ok(policy::limit_range(obj)),
        ("", "ReplicationController") => policy::replication_controller(ctx, obj, st).await,
        ("", "PersistentVolume") => storage::persistent_volume(ctx, obj, st).await,
        ("policy", "PodDisruptionBudget") => policy::pod_disruption_budget(ctx, obj, st).await,
        ("scheduling.k8s.io", "PriorityClass") => policy::priority_class(ctx, obj, st).await,
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => Ok(policy::role(obj)),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            Ok(policy::binding(obj))
        }
        ("autoscaling", "HorizontalPodAutoscaler") => policy::hpa(ctx, obj, st).await,
        ("certificates.k8s.io", "CertificateSigningRequest") => csr::describe(ctx, obj, st).await,
        ("networking.k8s.io", "ServiceCIDR") => Ok(storage::service_cidr(
            obj,
            st.events(ctx, obj).await.as_deref(),
        )),
        ("networking.k8s.io", "IPAddress") => Ok(storage::ip_address(
            obj,
            st.events(ctx, obj).await.as_deref(),
        )),
        ("storage.k8s.io", "CSINode") => {
            Ok(storage::csi_node(obj, st.events(ctx, obj).await.as_deref()))
        }
        ("storage.k8s.io", "VolumeAttributesClass") => Ok(storage::volume_attributes_class(
            obj,
            st.events(ctx, obj).await.as_deref(),
        )),
        ("storage.k8s.io", "StorageClass") => storage::storage_class(ctx, obj, st).await,
        ("discovery.k8s.io", "EndpointSlice") => storage::endpoint_slice(ctx, obj, st).await,
        _ => {
            let evs = st.events(ctx, obj).await;
            Ok(generic::describe(obj, evs.as_deref()))
        }
    }
}
