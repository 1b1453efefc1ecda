//! The objects a changing command works on, chosen as kubectl's resource builder chooses
//! them: `TYPE NAME…`, `TYPE/NAME…`, or `TYPE` with `-l` / `--all`, each object fetched
//! fresh. Missing objects do not stop the others (kubectl's `ContinueOnError`): they come
//! back as errors beside the objects that were found.

use serde_json::Value;

use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};
use crate::resource::{split_type_name, Resolver, ResourceType};

/// One object to change, with its resource type.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: ResourceType,
    pub obj: Value,
}

impl Target {
    pub fn name(&self) -> &str {
        self.obj["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace<'a>(&'a self, ctx: &'a Ctx) -> &'a str {
        self.obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&ctx.namespace)
    }

    /// The object's URL.
    pub fn path(&self, ctx: &Ctx) -> String {
        self.rt.object_path(self.namespace(ctx), self.name())
    }

    /// `deployment.apps/web`, the name printers and messages use.
    pub fn display(&self) -> String {
        format!("{}/{}", self.rt.kind_prefix(), self.name())
    }
}

/// What the arguments picked: the objects found and the errors for those that were not.
#[derive(Debug, Default)]
pub struct Selection {
    pub targets: Vec<Target>,
    pub errors: Vec<Error>,
    /// Exactly one object was named (kubectl's `IntoSingleItemImplied`).
    pub single: bool,
}

/// How the objects are chosen besides their names.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub selector: Option<&'a str>,
    pub field_selector: Option<&'a str>,
    /// `--all`: every object of the types.
    pub all: bool,
    pub all_namespaces: bool,
}

/// Splits `args` into resource arguments and `KEY=VALUE` / `KEY-` pairs, as kubectl's
/// `GetResourcesAndPairs` does; `kind` names the pairs in the error (`label`, `image`).
pub fn split_pairs(args: &[String], kind: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut resources = Vec::new();
    let mut pairs = Vec::new();
    for a in args {
        let is_pair = a.contains('=') || a.ends_with('-');
        if is_pair {
            pairs.push(a.clone());
        } else if pairs.is_empty() {
            resources.push(a.clone());
        } else {
            return Err(Error::client(format!(
                "all resources must be specified before {kind} changes: {a}"
            )));
        }
    }
    Ok((resources, pairs))
}

/// Fetches the objects `args` and `q` name. Fails outright for arguments kubectl rejects
/// before any request (unknown types, names with a selector, a type without names).
pub async fn select(ctx: &Ctx, args: &[String], q: &Query<'_>) -> Result<Selection> {
    let mut resolver = Resolver::new();
    let mut sel = Selection::default();
    let Some(first) = args.first() else {
        return Ok(sel);
    };
    let selecting = q.selector.is_some() || q.field_selector.is_some() || q.all;
    if args.iter().any(|a| a.contains('/')) {
        let mut pairs = Vec::new();
        for a in args {
            let (t, n) = split_type_name(a);
            let Some(n) = n.filter(|n| !n.is_empty() && a.contains('/')) else {
                if a.contains('/') {
                    return Err(Error::client(
                        "arguments in resource/name form must have a single resource and name",
                    ));
                }
                return Err(Error::client(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'",
                ));
            };
            pairs.push((resolver.resolve(ctx, t).await?, n.to_string()));
        }
        if selecting {
            return Err(Error::client(
                "selectors and the all flag cannot be used when passing resource/name arguments",
            ));
        }
        sel.single = pairs.len() == 1;
        for (rt, name) in pairs {
            fetch(ctx, rt, &name, &mut sel).await;
        }
        return Ok(sel);
    }
    let mut types = Vec::new();
    for t in first.split(',').filter(|t| !t.is_empty()) {
        let rt = resolver.resolve(ctx, t).await?;
        if !types.contains(&rt) {
            types.push(rt);
        }
    }
    let names = &args[1..];
    if !names.is_empty() {
        if selecting {
            return Err(Error::client(
                "name cannot be provided when a selector is specified",
            ));
        }
        sel.single = names.len() == 1 && types.len() == 1;
        for rt in &types {
            for name in names {
                fetch(ctx, rt.clone(), name, &mut sel).await;
            }
        }
        return Ok(sel);
    }
    if !selecting {
        return Err(Error::client(
            "resource(s) were provided, but no name was specified",
        ));
    }
    for rt in types {
        let ns = (!q.all_namespaces).then_some(ctx.namespace.as_str());
        let mut query = Vec::new();
        if let Some(l) = q.selector {
            query.push(format!("labelSelector={}", query_escape(l)));
        }
        if let Some(f) = q.field_selector {
            query.push(format!("fieldSelector={}", query_escape(f)));
        }
        let mut path = rt.collection_path(ns);
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let list = ctx.get_json(&path).await?;
        for mut it in list["items"].as_array().cloned().unwrap_or_default() {
            if let Some(m) = it.as_object_mut() {
                m.entry("apiVersion")
                    .or_insert_with(|| Value::String(rt.api_version()));
                m.entry("kind")
                    .or_insert_with(|| Value::String(rt.kind.clone()));
            }
            sel.targets.push(Target {
                rt: rt.clone(),
                obj: it,
            });
        }
    }
    Ok(sel)
}

async fn fetch(ctx: &Ctx, rt: ResourceType, name: &str, sel: &mut Selection) {
    match ctx.get_json(&rt.object_path(&ctx.namespace, name)).await {
        Ok(obj) => sel.targets.push(Target { rt, obj }),
        Err(e) => sel.errors.push(e),
    }
}

/// How a changing command reports its result: `-o` (`name`, `json`, `yaml`) or the
/// default `deployment.apps/web <operation>` line, with kubectl's dry-run suffixes.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub output: Option<String>,
    pub dry_run: DryRun,
}

/// `-l`, `-o` and `--dry-run` as the `rollout` and `set` commands declare them (last,
/// so the help lists them where kubectl does).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ChangeFlags {
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Output format: json, yaml, name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}

/// `--dry-run`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DryRun {
    #[default]
    None,
    Client,
    Server,
}

impl DryRun {
    /// Parses `--dry-run` as kubectl does (`none`, `client`, `server`; bare = `client`).
    pub fn parse(v: Option<&str>) -> Result<DryRun> {
        match v {
            None | Some("none") | Some("false") => Ok(DryRun::None),
            Some("client") | Some("true") | Some("") => Ok(DryRun::Client),
            Some("server") => Ok(DryRun::Server),
            Some(other) => Err(Error::client(format!(
                "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
            ))),
        }
    }

    /// The query parameter a server dry run adds (`&dryRun=All`), else nothing.
    pub fn query(&self) -> &'static str {
        if *self == DryRun::Server {
            "dryRun=All"
        } else {
            ""
        }
    }
}

impl Report {
    /// From the `-o` and `--dry-run` values.
    pub fn from_flags(output: Option<&str>, dry_run: Option<&str>) -> Result<Report> {
        Ok(Report {
            output: output.map(str::to_string),
            dry_run: DryRun::parse(dry_run)?,
        })
    }

    /// Checks `-o` before anything is changed, as kubectl does.
    pub fn validate(&self) -> Result<()> {
        match self.output.as_deref() {
            None | Some("") | Some("name") | Some("json") | Some("yaml") => Ok(()),
            Some(o) => Err(Error::client(format!(
                "unable to match a printer suitable for the output format \"{o}\", allowed formats are: json,name,yaml"
            ))),
        }
    }

    /// The text printed for `obj` (of type `rt`) after `operation`.
    pub fn render(&self, rt: &ResourceType, obj: &Value, operation: &str) -> String {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let mut obj = obj.clone();
        if let Some(m) = obj.as_object_mut() {
            m.entry("apiVersion")
                .or_insert_with(|| Value::String(rt.api_version()));
            m.entry("kind")
                .or_insert_with(|| Value::String(rt.kind.clone()));
        }
        crate::printer::strip_managed_fields(&mut obj);
        match self.output.as_deref() {
            Some("name") => format!("{}/{name}\n", rt.kind_prefix()),
            Some("json") => crate::printer::to_json(&obj),
            Some("yaml") => crate::printer::yaml::to_yaml(&obj),
            _ => {
                let suffix = match self.dry_run {
                    DryRun::None => "",
                    DryRun::Client => " (dry run)",
                    DryRun::Server => " (server dry run)",
                };
                format!("{}/{name} {operation}{suffix}\n", rt.kind_prefix())
            }
        }
    }

    /// Prints [`Report::render`] to stdout.
    pub fn print(&self, rt: &ResourceType, obj: &Value, operation: &str) {
        print!("{}", self.render(rt, obj, operation));
    }
}

/// Adds `extra` (`fieldManager=…`, `dryRun=All`) to `path` as query parameters.
pub fn with_query(path: &str, extra: &[&str]) -> String {
    let q: Vec<&str> = extra.iter().copied().filter(|s| !s.is_empty()).collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// Prints every error, as kubectl prints an aggregate of per-object errors, and returns
/// the exit status: all but the last are printed here, the last is returned.
pub fn finish(mut errors: Vec<Error>) -> Result<()> {
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("{e}");
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_follow_resources() {
        let args: Vec<String> = ["deploy", "web", "a=1", "b-"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (r, p) = split_pairs(&args, "label").unwrap_or_default();
        assert_eq!(r, ["deploy", "web"]);
        assert_eq!(p, ["a=1", "b-"]);
        let bad: Vec<String> = ["deploy", "a=1", "web"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(split_pairs(&bad, "label").is_err());
        assert_eq!(DryRun::parse(Some("server")).ok(), Some(DryRun::Server));
        assert_eq!(with_query("/x", &["a=1", "", "b=2"]), "/x?a=1&b=2");
    }
}
