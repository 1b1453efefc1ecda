//! `kubectl rollout`: status, history, undo, restart, pause and resume of Deployments,
//! DaemonSets and StatefulSets.

mod history;
mod simple;
mod status;
mod template;
pub(crate) mod watch;

use std::time::Duration;

use clap::ArgAction;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::targets::ChangeFlags;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Sub {
    /// Show the status of the rollout.
    Status(StatusArgs),
    /// View rollout history.
    History(HistoryArgs),
    /// Undo a previous rollout.
    Undo(UndoArgs),
    /// Restart a resource.
    Restart(SimpleArgs),
    /// Mark the provided resource as paused.
    Pause(SimpleArgs),
    /// Resume a paused resource.
    Resume(SimpleArgs),
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct StatusArgs {
    /// (TYPE NAME | TYPE/NAME)
    pub args: Vec<String>,
    /// Watch the status of the rollout until it's done.
    #[arg(short = 'w', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub watch: bool,
    /// Pin to a specific revision for showing its status. Defaults to 0 (last revision).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub revision: i64,
    /// The length of time to wait before ending watch, zero means never.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct HistoryArgs {
    /// (TYPE NAME | TYPE/NAME) ...
    pub args: Vec<String>,
    /// See the details, including podTemplate of the revision specified.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub revision: i64,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Debug, Clone, Default, clap::Args)]
#[command(mut_arg("output", |a| a.help("Output format: name")))]
pub struct UndoArgs {
    /// (TYPE NAME | TYPE/NAME) ...
    pub args: Vec<String>,
    /// The revision to rollback to. Default to 0 (last revision).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub to_revision: i64,
    #[command(flatten)]
    pub flags: ChangeFlags,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimpleArgs {
    /// RESOURCE/NAME | TYPE NAME ...
    pub args: Vec<String>,
    #[command(flatten)]
    pub flags: ChangeFlags,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    match &a.command {
        Sub::Status(s) => status::run(ctx, s).await,
        Sub::History(h) => history::run_history(ctx, h).await,
        Sub::Undo(u) => history::run_undo(ctx, u).await,
        Sub::Restart(s) => simple::run(ctx, simple::Action::Restart, s).await,
        Sub::Pause(s) => simple::run(ctx, simple::Action::Pause, s).await,
        Sub::Resume(s) => simple::run(ctx, simple::Action::Resume, s).await,
    }
}

/// Parses a Go duration (`90s`, `1m30s`, `2h`, `0`); `None` for an empty string.
pub(crate) fn parse_duration(s: &str) -> Result<Option<Duration>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    crate::duration::parse(s).map(Some).map_err(|e| {
        Error::client(format!(
            "invalid argument \"{s}\" for \"--timeout\" flag: {e}"
        ))
    })
}

/// A `metav1.LabelSelector` as the query string kubectl sends (`app=web,tier in (a,b)`).
pub(crate) fn selector_string(sel: &Value) -> String {
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let k = e["key"].as_str().unwrap_or_default().to_string();
        let mut values: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort();
        let text = match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{k} in ({})", values.join(",")),
            "NotIn" => format!("{k} notin ({})", values.join(",")),
            "Exists" => k.clone(),
            "DoesNotExist" => format!("!{k}"),
            _ => continue,
        };
        reqs.push((k, text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `Kind.group` (`Kind` for the core group), as Go prints a GroupKind.
pub(crate) fn group_kind(rt: &crate::resource::ResourceType) -> String {
    if rt.group.is_empty() {
        rt.kind.clone()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_and_selectors() {
        assert_eq!(
            parse_duration("1m30s").ok().flatten(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_duration("0").ok().flatten(), Some(Duration::ZERO));
        assert!(parse_duration("5x").is_err());
        assert_eq!(
            selector_string(&json!({"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}]})),
            "a=1,b=2,c in (x,y)"
        );
    }
}
