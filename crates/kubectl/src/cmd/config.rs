//! `kubectl config`: reads and writes kubeconfig files, never the cluster.

mod files;
mod model;
mod view;

use clap::Subcommand;

use crate::cli::GlobalFlags;
use crate::error::{Error, Result};
use crate::printer::tabwriter::TabWriter;

use files::Files;
use model::{Context, NamedContext};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Display merged kubeconfig settings or a specified kubeconfig file.
    View(view::ViewArgs),
    /// Describe one or many contexts.
    GetContexts(GetContextsArgs),
    /// Display clusters defined in the kubeconfig.
    GetClusters(NoArgs),
    /// Display users defined in the kubeconfig.
    GetUsers(NoArgs),
    /// Display the current-context.
    CurrentContext(NoArgs),
    /// Set the current-context in a kubeconfig file.
    #[command(alias = "use")]
    UseContext(NoArgs),
    /// Set a context entry in kubeconfig.
    SetContext(SetContextArgs),
    /// Subcommands rkube does not implement yet.
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct NoArgs {
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct GetContextsArgs {
    pub names: Vec<String>,
    /// Output format. One of: (name).
    #[arg(short = 'o', long, default_value = "")]
    pub output: String,
    /// When using the default or custom-column output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SetContextArgs {
    pub name: Vec<String>,
    /// Modify the current context.
    #[arg(long)]
    pub current: bool,
    /// cluster for the context entry in kubeconfig.
    #[arg(long)]
    pub cluster: Option<String>,
    /// user for the context entry in kubeconfig.
    #[arg(long)]
    pub user: Option<String>,
    /// namespace for the context entry in kubeconfig.
    #[arg(long)]
    pub namespace: Option<String>,
}

pub async fn run(flags: &GlobalFlags, a: &Args) -> Result<()> {
    match &a.command {
        ConfigCommand::View(v) => view::run(flags, v),
        ConfigCommand::GetContexts(g) => get_contexts(flags, g),
        ConfigCommand::GetClusters(_) => names(flags, |c| {
            c.clusters.iter().map(|x| x.name.clone()).collect()
        }),
        ConfigCommand::GetUsers(_) => {
            names(flags, |c| c.users.iter().map(|x| x.name.clone()).collect())
        }
        ConfigCommand::CurrentContext(_) => {
            let c = Files::load(flags)?.merged();
            if c.current_context.is_empty() {
                return Err(Error::client("current-context is not set"));
            }
            println!("{}", c.current_context);
            Ok(())
        }
        ConfigCommand::UseContext(u) => use_context(flags, &u.args),
        ConfigCommand::SetContext(s) => set_context(flags, s),
        ConfigCommand::Other(args) => Err(Error::client(format!(
            "kubectl config {} is not implemented in rkube yet",
            args.first().map(String::as_str).unwrap_or_default()
        ))),
    }
}

fn names(flags: &GlobalFlags, pick: impl Fn(&model::Config) -> Vec<String>) -> Result<()> {
    let c = Files::load(flags)?.merged();
    let mut out = String::from("NAME\n");
    for n in pick(&c) {
        out.push_str(&n);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

fn get_contexts(flags: &GlobalFlags, a: &GetContextsArgs) -> Result<()> {
    if !matches!(a.output.as_str(), "" | "name") {
        return Err(Error::client(format!(
            "--output {} is not available in kubectl config get-contexts; resetting to default output format",
            a.output
        )));
    }
    let c = Files::load(flags)?.merged();
    let mut errors = Vec::new();
    let mut shown: Vec<&NamedContext> = Vec::new();
    if a.names.is_empty() {
        shown.extend(c.contexts.iter());
    } else {
        for n in &a.names {
            match c.contexts.iter().find(|x| &x.name == n) {
                Some(x) => shown.push(x),
                None => errors.push(format!("context {n} not found")),
            }
        }
        shown.sort_by(|x, y| x.name.cmp(&y.name));
    }
    let mut out = String::new();
    if a.output == "name" {
        for x in &shown {
            out.push_str(&x.name);
            out.push('\n');
        }
    } else {
        let mut w = TabWriter::new();
        if !a.no_headers {
            w.row(["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]);
        }
        for x in &shown {
            let mark = if x.name == c.current_context { "*" } else { "" };
            w.row([
                mark,
                &x.name,
                &x.context.cluster,
                &x.context.user,
                &x.context.namespace,
            ]);
        }
        out = w.render();
    }
    print!("{out}");
    match errors.len() {
        0 => Ok(()),
        1 => Err(Error::client(errors.remove(0))),
        _ => Err(Error::client(format!("[{}]", errors.join(", ")))),
    }
}

fn use_context(flags: &GlobalFlags, args: &[String]) -> Result<()> {
    let [name] = args else {
        return Err(Error::client(format!(
            "Unexpected args: [{}]",
            args.join(" ")
        )));
    };
    let files = Files::load(flags)?;
    let merged = files.merged();
    if merged.context(name).is_none() {
        return Err(Error::client(format!(
            "no context exists with the name: \"{name}\""
        )));
    }
    if merged.current_context != *name {
        let path = files.current_context_file();
        let mut c = files.file(&path);
        c.current_context = name.clone();
        files::write(&path, &c)?;
    }
    println!("Switched to context \"{name}\".");
    Ok(())
}

fn set_context(flags: &GlobalFlags, a: &SetContextArgs) -> Result<()> {
    let files = Files::load(flags)?;
    let merged = files.merged();
    let name = match (a.name.as_slice(), a.current) {
        ([_, ..], true) => {
            return Err(Error::client(
                "you cannot specify both a context name and --current",
            ))
        }
        ([], true) => {
            if merged.current_context.is_empty() {
                return Err(Error::client("no current context is set"));
            }
            merged.current_context.clone()
        }
        ([n], false) if !n.is_empty() => n.clone(),
        _ => {
            return Err(Error::client(
                "you must specify a non-empty context name or --current",
            ))
        }
    };
    let existing = merged.context(&name).cloned();
    let mut ctx: Context = existing.clone().unwrap_or_default();
    if let Some(v) = &a.cluster {
        ctx.cluster = v.clone();
    }
    if let Some(v) = &a.user {
        ctx.user = v.clone();
    }
    if let Some(v) = &a.namespace {
        ctx.namespace = v.clone();
    }
    if existing.as_ref() != Some(&ctx) {
        let path = match files.context_origin(&name) {
            Some(p) if !files.explicit => p.to_path_buf(),
            _ => files.default_file(),
        };
        let mut file = files.file(&path);
        file.contexts.retain(|c| c.name != name);
        file.contexts.push(NamedContext {
            name: name.clone(),
            context: ctx,
        });
        files::write(&path, &file)?;
    }
    let verb = if existing.is_some() {
        "modified"
    } else {
        "created"
    };
    println!("Context \"{name}\" {verb}.");
    Ok(())
}
