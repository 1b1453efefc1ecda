//! `kubectl api-resources`: every resource type the server serves, from discovery.
//!
//! Like kubectl's `ServerPreferredResources`, each group contributes its resources in
//! the preferred version, plus those that only older versions serve. Rows are sorted by
//! group then name (or by `--sort-by` name|kind), whatever order discovery used.

use http::Method;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::printer::tabwriter::TabWriter;

/// Aggregated discovery as kubectl 1.32 asks for it (legacy documents as a fallback).
const DISCOVERY_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Limit to resources in the specified API group.
    #[arg(long)]
    pub api_group: Option<String>,
    /// Use the cached list of resources if available (rkube keeps no cache).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub cached: bool,
    /// Limit to resources that belong to the specified categories.
    #[arg(long, value_delimiter = ',')]
    pub categories: Vec<String>,
    /// If false, non-namespaced resources will be returned, otherwise returning namespaced resources by default.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub namespaced: Option<bool>,
    /// When using the default or custom-column output format, don't print headers.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub no_headers: bool,
    /// Output format. One of: (wide, name).
    #[arg(short = 'o', long, default_value = "")]
    pub output: String,
    /// If non-empty, sort list of resources using specified field ('name' or 'kind').
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// Limit to resources that support the specified verbs.
    #[arg(long, value_delimiter = ',')]
    pub verbs: Vec<String>,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// One row: a resource in the group-version that serves it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiResource {
    pub group: String,
    pub group_version: String,
    pub name: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub kind: String,
    pub verbs: Vec<String>,
    pub categories: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if !matches!(a.output.as_str(), "" | "wide" | "name") {
        return Err(Error::client(format!(
            "--output {} is not available",
            a.output
        )));
    }
    if !matches!(a.sort_by.as_str(), "" | "name" | "kind") {
        return Err(Error::client("--sort-by accepts only name or kind"));
    }
    if !a.args.is_empty() {
        return Err(Error::usage(
            "api-resources",
            format!("unexpected arguments: [{}]", a.args.join(" ")),
        ));
    }
    let mut rows: Vec<ApiResource> = discover(ctx)
        .await?
        .into_iter()
        .filter(|r| !r.verbs.is_empty())
        .filter(|r| a.api_group.as_ref().is_none_or(|g| *g == r.group))
        .filter(|r| a.namespaced.is_none_or(|n| n == r.namespaced))
        .filter(|r| a.verbs.iter().all(|v| r.verbs.contains(v)))
        .filter(|r| a.categories.iter().all(|c| r.categories.contains(c)))
        .collect();
    sort(&mut rows, &a.sort_by);
    print!("{}", render(&rows, &a.output, a.no_headers));
    Ok(())
}

/// Stable sort on the chosen field (group by default), ties broken by name.
pub fn sort(rows: &mut [ApiResource], by: &str) {
    rows.sort_by(|x, y| {
        let key = |r: &ApiResource| match by {
            "name" => r.name.clone(),
            "kind" => r.kind.clone(),
            _ => r.group.clone(),
        };
        key(x).cmp(&key(y)).then_with(|| x.name.cmp(&y.name))
    });
}

pub fn render(rows: &[ApiResource], output: &str, no_headers: bool) -> String {
    if output == "name" {
        return rows
            .iter()
            .map(|r| {
                if r.group.is_empty() {
                    format!("{}\n", r.name)
                } else {
                    format!("{}.{}\n", r.name, r.group)
                }
            })
            .collect();
    }
    let wide = output == "wide";
    let mut w = TabWriter::new();
    if !no_headers {
        let mut h = vec!["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"];
        if wide {
            h.extend(["VERBS", "CATEGORIES"]);
        }
        w.row(h);
    }
    for r in rows {
        let mut cells = vec![
            r.name.clone(),
            r.short_names.join(","),
            r.group_version.clone(),
            r.namespaced.to_string(),
            r.kind.clone(),
        ];
        if wide {
            cells.push(r.verbs.join(","));
            cells.push(r.categories.join(","));
        }
        w.row(cells);
    }
    w.render()
}

/// All resources of `/api` and `/apis`, in the preferred version where several serve
/// the same resource.
pub async fn discover(ctx: &Ctx) -> Result<Vec<ApiResource>> {
    let mut out = Vec::new();
    for root in ["/api", "/apis"] {
        let body = ctx
            .request(
                Method::GET,
                &format!("{root}?timeout=32s"),
                DISCOVERY_ACCEPT,
                None,
            )
            .await?;
        let doc: Value = serde_json::from_slice(&body)?;
        if doc["kind"] == "APIGroupDiscoveryList" {
            for g in doc["items"].as_array().into_iter().flatten() {
                aggregated_group(g, &mut out);
            }
        } else {
            legacy_root(ctx, root, &doc, &mut out).await?;
        }
    }
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

fn push_unique(out: &mut Vec<ApiResource>, r: ApiResource) {
    if !out.iter().any(|o| o.group == r.group && o.name == r.name) {
        out.push(r);
    }
}

fn aggregated_group(g: &Value, out: &mut Vec<ApiResource>) {
    let group = g["metadata"]["name"].as_str().unwrap_or_default();
    for v in g["versions"].as_array().into_iter().flatten() {
        let version = v["version"].as_str().unwrap_or_default();
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        for r in v["resources"].as_array().into_iter().flatten() {
            push_unique(
                out,
                ApiResource {
                    group: group.into(),
                    group_version: gv.clone(),
                    name: r["resource"].as_str().unwrap_or_default().into(),
                    short_names: strings(&r["shortNames"]),
                    namespaced: r["scope"] == "Namespaced",
                    kind: r["responseKind"]["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .into(),
                    verbs: strings(&r["verbs"]),
                    categories: strings(&r["categories"]),
                },
            );
        }
    }
}

/// `/api` (APIVersions) or `/apis` (APIGroupList): one resource list per group-version.
async fn legacy_root(ctx: &Ctx, root: &str, doc: &Value, out: &mut Vec<ApiResource>) -> Result<()> {
    let mut gvs: Vec<(String, String)> = Vec::new();
    if root == "/api" {
        for v in strings(&doc["versions"]) {
            gvs.push((String::new(), v));
        }
    } else {
        for g in doc["groups"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().unwrap_or_default().to_string();
            for v in g["versions"].as_array().into_iter().flatten() {
                if let Some(v) = v["version"].as_str() {
                    gvs.push((name.clone(), v.to_string()));
                }
            }
        }
    }
    for (group, version) in gvs {
        let (gv, path) = if group.is_empty() {
            (version.clone(), format!("/api/{version}"))
        } else {
            (
                format!("{group}/{version}"),
                format!("/apis/{group}/{version}"),
            )
        };
        let Ok(list) = ctx.get_json(&format!("{path}?timeout=32s")).await else {
            continue;
        };
        for r in list["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or_default();
            if name.contains('/') {
                continue;
            }
            push_unique(
                out,
                ApiResource {
                    group: group.clone(),
                    group_version: gv.clone(),
                    name: name.into(),
                    short_names: strings(&r["shortNames"]),
                    namespaced: r["namespaced"].as_bool().unwrap_or(false),
                    kind: r["kind"].as_str().unwrap_or_default().into(),
                    verbs: strings(&r["verbs"]),
                    categories: strings(&r["categories"]),
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregated_discovery_rows() {
        let g = json!({"metadata": {"name": "autoscaling"}, "versions": [
            {"version": "v2", "resources": [{"resource": "horizontalpodautoscalers",
              "responseKind": {"kind": "HorizontalPodAutoscaler"}, "scope": "Namespaced",
              "shortNames": ["hpa"], "categories": ["all"], "verbs": ["get", "list"]}]},
            {"version": "v1", "resources": [{"resource": "horizontalpodautoscalers",
              "responseKind": {"kind": "HorizontalPodAutoscaler"}, "scope": "Namespaced",
              "verbs": ["get"]}, {"resource": "olds", "responseKind": {"kind": "Old"},
              "scope": "Cluster", "verbs": ["get"]}]}]});
        let mut rows = Vec::new();
        aggregated_group(&g, &mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].group_version, "autoscaling/v2");
        assert_eq!(rows[1].group_version, "autoscaling/v1");
        sort(&mut rows, "");
        assert_eq!(
            render(&rows, "wide", false),
            "NAME                       SHORTNAMES   APIVERSION       NAMESPACED   KIND                      VERBS      CATEGORIES\n\
             horizontalpodautoscalers   hpa          autoscaling/v2   true         HorizontalPodAutoscaler   get,list   all\n\
             olds                                    autoscaling/v1   false        Old                       get        \n"
        );
        assert_eq!(
            render(&rows, "name", false),
            "horizontalpodautoscalers.autoscaling\nolds.autoscaling\n"
        );
    }
}
