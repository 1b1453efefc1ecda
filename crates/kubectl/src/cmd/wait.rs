//! `kubectl wait`: follows each object until a condition holds (`--for=condition=X[=v]`,
//! `--for=jsonpath='{…}'=v`) or it is gone (`--for=delete`), each within `--timeout`.

use serde_json::Value;

use super::rollout::parse_duration;
use super::rollout::watch::{Event, Follower};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::targets::{self, Query, Target};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// (-f FILENAME | TYPE NAME | TYPE/NAME ...)
    pub args: Vec<String>,
    /// The condition to wait on: [create|delete|condition=condition-name[=condition-value]|jsonpath='{JSONPath expression}'=[JSONPath value]].
    #[arg(long = "for")]
    pub for_: Option<String>,
    /// The length of time to wait before giving up. Zero means check once and don't wait.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Select all resources in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// If present, list the requested object(s) across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
}

/// What `--for` asks.
#[derive(Debug, Clone, PartialEq)]
enum Wanted {
    Delete,
    Condition { name: String, value: String },
    JsonPath { path: Vec<String>, value: String },
}

fn parse_for(s: &str) -> Result<Wanted> {
    if s == "delete" {
        return Ok(Wanted::Delete);
    }
    if let Some(rest) = s.strip_prefix("condition=") {
        let (name, value) = rest.split_once('=').unwrap_or((rest, "true"));
        return Ok(Wanted::Condition {
            name: name.into(),
            value: value.into(),
        });
    }
    if let Some(rest) = s.strip_prefix("jsonpath=") {
        let rest = rest.trim_matches('\'');
        let (expr, value) = match rest.rfind("}=") {
            Some(i) => (&rest[..=i], rest[i + 2..].trim_matches('\'')),
            None => (rest, ""),
        };
        let expr = expr.trim().trim_start_matches('{').trim_end_matches('}');
        let path = expr
            .trim_start_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        return Ok(Wanted::JsonPath {
            path,
            value: value.into(),
        });
    }
    Err(Error::client(format!("unrecognized condition: \"{s}\"")))
}

/// Follows a simple `.a.b[0].c` path.
fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = v;
    for part in path {
        let (field, index) = match part.split_once('[') {
            Some((f, i)) => (f, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part.as_str(), None),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn met(w: &Wanted, obj: &Value) -> bool {
    match w {
        Wanted::Delete => false,
        Wanted::Condition { name, value } => {
            let generation = obj["metadata"]["generation"].as_i64();
            obj["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    let fresh = match (generation, c["observedGeneration"].as_i64()) {
                        (Some(g), Some(o)) => o >= g,
                        _ => true,
                    };
                    c["type"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(name))
                        && c["status"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(value))
                        && fresh
                })
        }
        Wanted::JsonPath { path, value } => lookup(obj, path).is_some_and(|v| {
            if value.is_empty() {
                !v.is_null()
            } else {
                scalar_text(v) == *value
            }
        }),
    }
}

async fn wait_one(ctx: &Ctx, t: &Target, w: &Wanted, limit: std::time::Duration) -> Result<()> {
    let ns = t.namespace(ctx).to_string();
    let name = t.name().to_string();
    let timed_out = || {
        Error::client(format!(
            "timed out waiting for the condition on {}/{name}",
            t.rt.plural
        ))
    };
    if w != &Wanted::Delete && met(w, &t.obj) {
        println!("{} condition met", t.display());
        return Ok(());
    }
    if limit.is_zero() {
        return Err(timed_out());
    }
    let uid = t.obj["metadata"]["uid"].clone();
    let follow = async {
        let mut events = Follower::new(ctx, &t.rt, &ns, &name);
        let mut seen = false;
        loop {
            match events.next().await? {
                Event::Deleted if *w == Wanted::Delete => return Ok(()),
                Event::Deleted => {}
                Event::Upsert(obj) => {
                    seen = true;
                    if *w == Wanted::Delete {
                        if obj["metadata"]["uid"] != uid {
                            return Ok(());
                        }
                    } else if met(w, &obj) {
                        return Ok(());
                    }
                }
            }
            // The list came back empty: the object is already gone.
            if !seen && *w == Wanted::Delete {
                return Ok(());
            }
        }
    };
    match tokio::time::timeout(limit, follow).await {
        Ok(Ok(())) => {
            println!("{} condition met", t.display());
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out()),
    }
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let wanted = parse_for(a.for_.as_deref().unwrap_or(""))?;
    let limit = parse_duration(&a.timeout)?.unwrap_or_default();
    if a.args.is_empty() {
        return Err(Error::client(
            "resource(s) were provided, but no name was specified",
        ));
    }
    let sel = targets::select(
        ctx,
        &a.args,
        &Query {
            selector: a.selector.as_deref(),
            field_selector: a.field_selector.as_deref(),
            all: a.all,
            all_namespaces: a.all_namespaces,
        },
    )
    .await?;
    let mut errors = Vec::new();
    for e in sel.errors {
        // An object that is already gone has been deleted.
        if wanted == Wanted::Delete && e.is_not_found() {
            continue;
        }
        errors.push(e);
    }
    if sel.targets.is_empty() && errors.is_empty() && wanted != Wanted::Delete {
        return Err(Error::client("no matching resources found"));
    }
    if !errors.is_empty() {
        return targets::finish(errors);
    }
    // One deadline for all objects, as kubectl's single context: once it has passed,
    // the remaining objects time out without being checked.
    let deadline = std::time::Instant::now() + limit;
    for t in &sel.targets {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let r = if !limit.is_zero() && left.is_zero() {
            Err(Error::client(format!(
                "timed out waiting for the condition on {}/{}",
                t.rt.plural,
                t.name()
            )))
        } else {
            wait_one(ctx, t, &wanted, if limit.is_zero() { limit } else { left }).await
        };
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if errors.len() > 1 {
        // Several failures print as kubectl prints an aggregate: bare lines.
        for e in &errors {
            eprintln!("{}", e.to_string().trim_start_matches("error: "));
        }
        return Err(Error::Silent(1));
    }
    targets::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_and_paths() {
        let d = json!({"metadata": {"generation": 1}, "status": {"phase": "Running",
            "conditions": [{"type": "Available", "status": "True"}]}});
        assert!(met(
            &parse_for("condition=Available").unwrap_or(Wanted::Delete),
            &d
        ));
        assert!(!met(
            &parse_for("condition=Available=False").unwrap_or(Wanted::Delete),
            &d
        ));
        assert!(met(
            &parse_for("jsonpath={.status.phase}=Running").unwrap_or(Wanted::Delete),
            &d
        ));
        assert!(!met(
            &parse_for("jsonpath={.status.phase}=Failed").unwrap_or(Wanted::Delete),
            &d
        ));
        assert!(parse_for("foo").is_err());
    }
}
