//! `kubectl set env`: sets (`KEY=VALUE`), removes (`KEY-`) or lists environment
//! variables of a pod template's containers, optionally from a ConfigMap or Secret.

use clap::ArgAction;
use serde_json::{json, Map, Value};

use super::{apply_patch, at, container_list_patch, pod_spec_path};
use crate::cmd::meta_edit::merge_diff;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::resource::split_type_name;
use crate::targets::{self, ChangeFlags, Query, Report};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct EnvArgs {
    /// (-f FILENAME | TYPE NAME) KEY_1=VAL_1 ... KEY_N=VAL_N
    pub args: Vec<String>,
    /// The names of containers in the selected pod templates to change - may use wildcards.
    #[arg(short = 'c', long, default_value = "*")]
    pub containers: String,
    /// Specify a key-value pair for an environment variable to set into each container.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// The name of a resource from which to inject environment variables.
    #[arg(long)]
    pub from: Option<String>,
    /// Comma-separated list of keys to import from specified resource.
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// Prefix to append to variable names.
    #[arg(long)]
    pub prefix: Option<String>,
    /// If true, display the environment and any changes in the standard format.
    #[arg(long)]
    pub list: bool,
    /// If true, allow environment to be overwritten.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub overwrite: bool,
    /// If true, select all resources in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub flags: ChangeFlags,
}

/// `key` as an environment variable name (upper case, invalid characters as `_`).
fn key_to_env_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .to_uppercase()
}

/// Go's `filepath.Match` for the `*` wildcards `-c` allows.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|i| {
                    name.is_char_boundary(head.len() + i) && wildcard(tail, &name[head.len() + i..])
                })
        }
    }
}

/// kubectl's `updateEnv`: replaces in place, drops removed names, appends new ones.
fn update_env(existing: &[Value], env: &[Value], remove: &[String]) -> Vec<Value> {
    let mut covered: Vec<String> = remove.to_vec();
    let mut out = Vec::new();
    let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_string();
    for e in existing {
        let n = name(e);
        if covered.contains(&n) {
            continue;
        }
        if let Some(newer) = env.iter().find(|x| name(x) == n) {
            covered.push(n);
            out.push(newer.clone());
            continue;
        }
        out.push(e.clone());
    }
    for e in env {
        let n = name(e);
        if covered.contains(&n) {
            continue;
        }
        covered.push(n);
        out.push(e.clone());
    }
    out
}

/// The strategic diff of one container's `env` list (merge key `name`).
fn env_patch(old: &[Value], new: &[Value]) -> Option<Value> {
    if old == new {
        return None;
    }
    if new.is_empty() {
        return Some(Value::Null);
    }
    let name = |v: &Value| v["name"].clone();
    let mut changes = Vec::new();
    for n in new {
        match old.iter().find(|o| name(o) == name(n)) {
            Some(o) if o == n => {}
            Some(o) => {
                let mut d = merge_diff(o, n);
                d["name"] = name(n);
                changes.push(d);
            }
            None => changes.push(n.clone()),
        }
    }
    let mut deleted: Vec<&Value> = old
        .iter()
        .filter(|o| !new.iter().any(|n| name(n) == name(o)))
        .collect();
    deleted.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    for d in deleted {
        changes.push(json!({"$patch": "delete", "name": name(d)}));
    }
    Some(Value::Array(changes))
}

/// `# NAME from …` text for a reference, as kubectl's `GetEnvVarRefString`.
fn ref_string(from: &Value) -> String {
    if let Some(r) = from["configMapKeyRef"].as_object() {
        return format!(
            "configmap {}, key {}",
            r.get("name").and_then(Value::as_str).unwrap_or_default(),
            r.get("key").and_then(Value::as_str).unwrap_or_default()
        );
    }
    if let Some(r) = from["secretKeyRef"].as_object() {
        return format!(
            "secret {}, key {}",
            r.get("name").and_then(Value::as_str).unwrap_or_default(),
            r.get("key").and_then(Value::as_str).unwrap_or_default()
        );
    }
    if let Some(r) = from["fieldRef"].as_object() {
        return format!(
            "field path {}",
            r.get("fieldPath")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
    }
    if let Some(r) = from["resourceFieldRef"].as_object() {
        let mut s = String::new();
        if let Some(c) = r
            .get("containerName")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            s.push_str(&format!("{c}/"));
        }
        s.push_str(
            r.get("resource")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        return s;
    }
    "invalid valueFrom".into()
}

/// Env vars from `--from=configmap/x` or `secret/x`, keys sorted.
async fn from_source(ctx: &Ctx, from: &str, keys: &[String]) -> Result<Vec<Value>> {
    let (t, n) = split_type_name(from);
    let Some(n) = n else {
        return Err(Error::client("unsupported resource specified in --from"));
    };
    let (plural, ref_key) = match t {
        "configmap" | "configmaps" | "cm" => ("configmaps", "configMapKeyRef"),
        "secret" | "secrets" => ("secrets", "secretKeyRef"),
        _ => return Err(Error::client("unsupported resource specified in --from")),
    };
    let obj = ctx
        .get_json(&format!(
            "/api/v1/namespaces/{}/{plural}/{n}",
            ctx.namespace
        ))
        .await?;
    let data = obj["data"].as_object().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for k in data.keys().filter(|k| keys.is_empty() || keys.contains(k)) {
        let name = key_to_env_name(k);
        if &name != k {
            eprintln!("Warning: key {k} transferred to {name}");
        }
        out.push(json!({"name": name, "valueFrom": {ref_key: {"key": k, "name": n}}}));
    }
    Ok(out)
}

pub async fn run(ctx: &Ctx, a: &EnvArgs) -> Result<()> {
    let split = a
        .args
        .iter()
        .position(|x| x.contains('=') || x.ends_with('-'));
    let (resources, env_args) = match split {
        Some(i) => (a.args[..i].to_vec(), a.args[i..].to_vec()),
        None => (a.args.clone(), Vec::new()),
    };
    if env_args
        .iter()
        .any(|x| !x.contains('=') && !x.ends_with('-'))
    {
        return Err(Error::client(format!(
            "all resources must be specified before environment changes: {}",
            a.args.join(" ")
        )));
    }
    if a.all && a.flags.selector.is_some() {
        return Err(Error::client(
            "cannot set --all and --selector at the same time",
        ));
    }
    let report = Report::from_flags(a.flags.output.as_deref(), a.flags.dry_run.as_deref())?;
    if resources.is_empty() {
        return Err(Error::client(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
        ));
    }
    if a.list && a.flags.output.is_some() {
        return Err(Error::client(
            "--list and --output may not be specified together",
        ));
    }
    if !a.keys.is_empty() && a.from.is_none() {
        return Err(Error::client(
            "when specifying --keys, a configmap or secret must be provided with --from",
        ));
    }
    report.validate()?;
    let mut env: Vec<Value> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    for e in a.env.iter().chain(env_args.iter()) {
        if let Some((k, v)) = e.split_once('=') {
            if k.is_empty() {
                return Err(Error::client(format!("invalid key name: {e}")));
            }
            env.retain(|x| x["name"] != k);
            env.push(json!({"name": k, "value": v}));
        } else if let Some(k) = e.strip_suffix('-') {
            remove.push(k.to_string());
        }
    }
    if let Some(from) = &a.from {
        env.extend(from_source(ctx, from, &a.keys).await?);
    }
    if let Some(p) = &a.prefix {
        for e in &mut env {
            let n = format!("{p}{}", e["name"].as_str().unwrap_or_default());
            e["name"] = json!(n);
        }
    }
    let sel = targets::select(
        ctx,
        &resources,
        &Query {
            selector: a.flags.selector.as_deref(),
            all: a.all,
            ..Query::default()
        },
    )
    .await?;
    let mut errors = sel.errors;
    for t in &sel.targets {
        let Some(path) = pod_spec_path(&t.rt.kind) else {
            errors.push(Error::Client(format!(
                "{}/{} the object is not a pod or does not have a pod template: *unstructured.Unstructured",
                t.rt.plural,
                t.name()
            )));
            continue;
        };
        let spec = at(&t.obj, path);
        let mut patch = Map::new();
        let mut matched = 0;
        let mut failure = None;
        let mut listing = String::new();
        // Containers first, then init containers, as kubectl visits them.
        for list in ["containers", "initContainers"] {
            let containers = spec[list].as_array().cloned().unwrap_or_default();
            let mut changed = Vec::new();
            for c in &containers {
                let cname = c["name"].as_str().unwrap_or_default();
                if !wildcard(&a.containers, cname) {
                    continue;
                }
                matched += 1;
                let old = c["env"].as_array().cloned().unwrap_or_default();
                if !a.overwrite {
                    for e in &env {
                        if let Some(cur) = old.iter().find(|o| o["name"] == e["name"]) {
                            if cur["value"] != e["value"] {
                                failure = Some(format!(
                                    "'{}' already has a value ({}), and --overwrite is false",
                                    cur["name"].as_str().unwrap_or_default(),
                                    cur["value"].as_str().unwrap_or_default()
                                ));
                            }
                        }
                    }
                }
                let new = update_env(&old, &env, &remove);
                if a.list {
                    listing.push_str(&format!(
                        "# {} {}, container {cname}\n",
                        t.rt.kind,
                        t.name()
                    ));
                    for e in &new {
                        let n = e["name"].as_str().unwrap_or_default();
                        if e["valueFrom"].is_object() {
                            listing
                                .push_str(&format!("# {n} from {}\n", ref_string(&e["valueFrom"])));
                        } else {
                            listing.push_str(&format!(
                                "{n}={}\n",
                                e["value"].as_str().unwrap_or_default()
                            ));
                        }
                    }
                    continue;
                }
                if let Some(p) = env_patch(&old, &new) {
                    let mut cp = Map::new();
                    if let Value::Array(items) = &p {
                        let order: Vec<Value> =
                            new.iter().map(|e| json!({"name": e["name"]})).collect();
                        cp.insert("$setElementOrder/env".into(), Value::Array(order));
                        cp.insert("env".into(), Value::Array(items.clone()));
                    } else {
                        cp.insert("env".into(), Value::Null);
                    }
                    cp.insert("name".into(), json!(cname));
                    changed.push(Value::Object(cp));
                }
            }
            container_list_patch(list, &containers, changed, &mut patch);
        }
        if let Some(f) = failure {
            errors.push(Error::Client(format!("{}/{} {f}", t.rt.plural, t.name())));
            continue;
        }
        if matched == 0 {
            eprintln!(
                "Warning: {}/{} does not have any containers matching \"{}\"",
                t.rt.kind,
                t.name(),
                a.containers
            );
        }
        if a.list {
            print!("{listing}");
            continue;
        }
        if patch.is_empty() {
            continue;
        }
        if env.is_empty() && env_args.is_empty() {
            return Err(Error::client(
                "at least one environment variable must be provided",
            ));
        }
        if let Err(e) = apply_patch(ctx, &report, t, path, patch, "env updated", "env").await {
            errors.push(e);
        }
    }
    targets::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_updates_and_patches_like_kubectl() {
        let old = vec![
            json!({"name": "A", "value": "1"}),
            json!({"name": "B", "value": "2"}),
        ];
        let new = update_env(
            &old,
            &[
                json!({"name": "B", "value": "3"}),
                json!({"name": "C", "value": "4"}),
            ],
            &["A".into()],
        );
        assert_eq!(
            new,
            vec![
                json!({"name": "B", "value": "3"}),
                json!({"name": "C", "value": "4"})
            ]
        );
        assert_eq!(
            env_patch(&old, &new),
            Some(
                json!([{"name": "B", "value": "3"}, {"name": "C", "value": "4"}, {"$patch": "delete", "name": "A"}])
            )
        );
        assert_eq!(env_patch(&old, &[]), Some(Value::Null));
        assert!(wildcard("*", "web") && wildcard("w*b", "web") && !wildcard("x*", "web"));
        assert_eq!(key_to_env_name("db.host-name"), "DB_HOST_NAME");
    }
}
