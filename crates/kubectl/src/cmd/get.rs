//! `kubectl get`: lists or fetches objects and prints them as tables (from the server's
//! Table) or through a generic printer; `-w` follows changes.

use std::io::Write;

use http::Method;
use serde_json::Value;

mod files;
mod watch;

use crate::ctx::{query_escape, Ctx, JSON, TABLE_ACCEPT};
use crate::error::{Error, Result};
use crate::printer::table::{self, TableOptions};
use crate::printer::tabwriter::TabWriter;
use crate::printer::{self, Output};
use crate::resource::{split_type_name, Resolver, ResourceType};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE[.VERSION][.GROUP] [NAME ...] | TYPE[.VERSION][.GROUP]/NAME ...
    pub args: Vec<String>,
    /// Filename, directory, or URL to files identifying the resource to get from a server.
    #[arg(short = 'f', long)]
    pub filename: Vec<String>,
    /// Process the directory used in -f, --filename recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Output format: json, yaml, name, wide, jsonpath=..., custom-columns=...
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List the requested object(s) across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing/getting the requested object, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Watch for changes to the requested object(s), without listing/getting first.
    #[arg(long)]
    pub watch_only: bool,
    /// When printing, show all labels as the last column.
    #[arg(long)]
    pub show_labels: bool,
    /// Labels to present as columns.
    #[arg(short = 'L', long = "label-columns", value_delimiter = ',')]
    pub label_columns: Vec<String>,
    /// When using the default or custom-column output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// If present, list the resource type for the requested object(s).
    #[arg(long)]
    pub show_kind: bool,
    /// If the requested object does not exist the command will return exit code 0.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Raw URI to request from the server.
    #[arg(long)]
    pub raw: Option<String>,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
    /// Sort list types using this field specification (a JSONPath expression).
    #[arg(long)]
    pub sort_by: Option<String>,
    /// Output watch event objects when --watch or --watch-only is used.
    #[arg(long)]
    pub output_watch_events: bool,
    /// Return large lists in chunks rather than all at once.
    #[arg(long, default_value_t = 500)]
    pub chunk_size: i64,
}

/// One resource type and the names asked for (none: list).
pub(crate) struct Request {
    rt: ResourceType,
    names: Vec<String>,
    /// The namespace of named objects when it is not the command's (`-f` manifests).
    namespace: Option<String>,
}

impl Request {
    /// The URL of one named object.
    fn object_path(&self, ctx: &Ctx, name: &str) -> String {
        let ns = self.namespace.as_deref().unwrap_or(&ctx.namespace);
        self.rt.object_path(ns, name)
    }
}

/// Turns `pods a b`, `deploy,svc`, `pod/a svc/b` and `all` into requests.
pub async fn requests(
    ctx: &Ctx,
    resolver: &mut Resolver,
    command: &str,
    args: &[String],
) -> Result<Vec<(ResourceType, Vec<String>)>> {
    let Some(first) = args.first() else {
        eprintln!("You must specify the type of resource to {command}. Use \"kubectl api-resources\" for a complete list of supported resources.\n");
        return Err(Error::usage(
            command,
            "Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).",
        ));
    };
    let mut out: Vec<(ResourceType, Vec<String>)> = Vec::new();
    // Mixing `TYPE NAME` and `TYPE/NAME` forms is refused before anything is sent.
    if args.iter().any(|a| a.contains('/')) && !args.iter().all(|a| a.contains('/')) {
        return Err(Error::client(format!(
            "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl {command} resource/<resource_name>' instead of 'kubectl {command} resource resource/<resource_name>'"
        )));
    }
    if first.contains('/') {
        for a in args {
            let (t, n) = split_type_name(a);
            let Some(n) = n.filter(|n| !n.is_empty()) else {
                return Err(Error::client(
                    "arguments in resource/name form must have a single resource and name",
                ));
            };
            let rt = resolver.resolve(ctx, t).await?;
            match out.iter_mut().find(|(r, _)| *r == rt) {
                Some((_, names)) => names.push(n.to_string()),
                None => out.push((rt, vec![n.to_string()])),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    for t in first.split(',').filter(|t| !t.is_empty()) {
        let types = if t == "all" {
            resolver.category(ctx, "all").await?
        } else {
            vec![resolver.resolve(ctx, t).await?]
        };
        for rt in types {
            if !out.iter().any(|(r, _)| *r == rt) {
                out.push((rt, names.clone()));
            }
        }
    }
    Ok(out)
}

impl Args {
    pub(crate) fn list_query(&self, limit: bool) -> String {
        let mut q = Vec::new();
        if self.sort_by.is_some()
            && Output::parse(self.output.as_deref()).is_ok_and(|o| o.is_table())
        {
            // Sorting a table needs the full objects behind its rows.
            q.push("includeObject=Object".to_string());
        }
        if let Some(l) = &self.selector {
            q.push(format!("labelSelector={}", query_escape(l)));
        }
        if let Some(f) = &self.field_selector {
            q.push(format!("fieldSelector={}", query_escape(f)));
        }
        if limit && self.chunk_size > 0 {
            q.push(format!("limit={}", self.chunk_size));
        }
        q.join("&")
    }
}

pub(crate) fn with_query(path: &str, q: &str) -> String {
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// Fills in `kind`/`apiVersion` on list items, which the server leaves out.
pub(crate) fn typed_items(rt: &ResourceType, list: &mut Value) -> Vec<Value> {
    let mut items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    for it in &mut items {
        if let Some(m) = it.as_object_mut() {
            m.entry("apiVersion")
                .or_insert_with(|| Value::String(rt.api_version()));
            m.entry("kind")
                .or_insert_with(|| Value::String(rt.kind.clone()));
        }
    }
    items
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if let Some(raw) = &a.raw {
        let body = ctx.request(Method::GET, raw, JSON, None).await?;
        let mut out = std::io::stdout().lock();
        out.write_all(&body)?;
        return Ok(());
    }
    let output = Output::parse(a.output.as_deref())?;
    let mut resolver = Resolver::new();
    let reqs: Vec<Request> = if a.filename.is_empty() {
        requests(ctx, &mut resolver, "get", &a.args)
            .await?
            .into_iter()
            .map(|(rt, names)| Request {
                rt,
                names,
                namespace: None,
            })
            .collect()
    } else {
        if !a.args.is_empty() {
            return Err(Error::client("when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well"));
        }
        let objects = files::read_objects(&a.filename, a.recursive)?;
        files::requests(ctx, &mut resolver, &objects).await?
    };
    let ns = if a.all_namespaces {
        None
    } else {
        Some(ctx.namespace.as_str())
    };
    let types = reqs
        .iter()
        .enumerate()
        .filter(|(i, r)| !reqs[..*i].iter().any(|p| p.rt == r.rt))
        .count();
    let multi = types > 1 || a.show_kind;
    let mut errors: Vec<Error> = Vec::new();
    let mut stdout = String::new();
    let mut printed = 0usize;

    // Several names print as usual and then fail, as kubectl does.
    let watch_many = (a.watch || a.watch_only) && reqs.len() == 1 && reqs[0].names.len() > 1;
    if (a.watch || a.watch_only) && !watch_many {
        let [r] = reqs.as_slice() else {
            return Err(Error::client("you may only specify a single resource type"));
        };
        return watch::run(ctx, r, ns, a, &output).await;
    }

    if output.is_table() {
        let mut first_group = true;
        for r in &reqs {
            let opts = TableOptions {
                wide: output == Output::Wide,
                no_headers: a.no_headers,
                with_namespace: a.all_namespaces && r.rt.namespaced,
                kind_prefix: multi.then(|| r.rt.kind_prefix()),
                show_labels: a.show_labels,
                label_columns: a.label_columns.clone(),
            };
            let mut tables = Vec::new();
            if r.names.is_empty() {
                let path = with_query(&r.rt.collection_path(ns), &a.list_query(true));
                let mut t = fetch_table(ctx, &path).await?;
                if let Some(by) = &a.sort_by {
                    if reqs.len() > 1 {
                        // kubectl cannot sort tables of several types.
                        let path = printer::columns::relaxed_path(by)?;
                        return Err(Error::client(format!(
                            "couldn't find any field with path \"{path}\" in the list of objects"
                        )));
                    }
                    sort_table_rows(&mut t, by)?;
                }
                tables.push(t);
            } else {
                for n in &r.names {
                    let path = r.object_path(ctx, n);
                    match fetch_table(ctx, &path).await {
                        Ok(t) => tables.push(t),
                        Err(e) if e.is_not_found() && a.ignore_not_found => {}
                        Err(e) => errors.push(e),
                    }
                }
            }
            let mut w = TabWriter::new();
            let mut rows = 0;
            let mut headers_done = false;
            for t in &tables {
                let o = TableOptions {
                    no_headers: opts.no_headers || headers_done,
                    ..opts.clone()
                };
                let n = table::print(t, &o, &mut w);
                headers_done |= n > 0;
                rows += n;
            }
            if rows > 0 {
                if !first_group && !a.no_headers {
                    stdout.push('\n');
                }
                first_group = false;
                stdout.push_str(&w.render());
            }
            printed += rows;
        }
        if watch_many && !errors.is_empty() {
            // kubectl's watch stops at the first lookup that fails.
            stdout.clear();
        }
        flush(&mut stdout)?;
        let listing = reqs.iter().all(|r| r.names.is_empty());
        if printed == 0 && errors.is_empty() && listing {
            let namespaced = reqs.iter().any(|r| r.rt.namespaced);
            eprintln!("{}", no_resources(ctx, a, namespaced));
        }
        report(&errors)?;
        return watch_many_error(watch_many);
    }

    // Generic printers work on full objects.
    let mut objects: Vec<Value> = Vec::new();
    let mut single = reqs.len() == 1 && reqs[0].names.len() == 1;
    for r in &reqs {
        if r.names.is_empty() {
            single = false;
            let path = with_query(&r.rt.collection_path(ns), &a.list_query(true));
            let mut list = ctx.get_json(&path).await?;
            objects.extend(typed_items(&r.rt, &mut list));
        } else {
            for n in &r.names {
                match ctx.get_json(&r.object_path(ctx, n)).await {
                    Ok(o) => objects.push(o),
                    Err(e) if e.is_not_found() && a.ignore_not_found => {}
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    if !a.show_managed_fields && matches!(output, Output::Json | Output::Yaml) {
        objects.iter_mut().for_each(printer::strip_managed_fields);
    }
    if let Some(by) = &a.sort_by {
        printer::columns::sort_by(&mut objects, by)?;
    }
    print_objects_with(&output, objects, single, a.no_headers, &mut stdout)?;
    flush(&mut stdout)?;
    report(&errors)?;
    watch_many_error(watch_many)
}

fn watch_many_error(watch_many: bool) -> Result<()> {
    if watch_many {
        return Err(Error::client(
            "you may only watch a single resource or type of resource at a time",
        ));
    }
    Ok(())
}

/// Prints objects with a generic printer; `single` prints a lone object without a List.
pub fn print_objects(
    output: &Output,
    objects: Vec<Value>,
    single: bool,
    out: &mut String,
) -> Result<()> {
    print_objects_with(output, objects, single, false, out)
}

/// [`print_objects`] with `--no-headers` for custom columns.
pub fn print_objects_with(
    output: &Output,
    objects: Vec<Value>,
    single: bool,
    no_headers: bool,
    out: &mut String,
) -> Result<()> {
    if let Output::CustomColumns(spec) = output {
        let columns = printer::columns::parse_spec(spec)?;
        out.push_str(&printer::columns::render(&columns, &objects, no_headers)?);
        return Ok(());
    }
    let doc = if single && objects.len() == 1 {
        objects.into_iter().next().unwrap_or(Value::Null)
    } else {
        printer::as_list(objects)
    };
    match output {
        Output::Json => out.push_str(&printer::to_json(&doc)),
        Output::Yaml => out.push_str(&printer::yaml::to_yaml(&doc)),
        Output::Name => {
            let items = match doc.get("items") {
                Some(Value::Array(a)) if doc["kind"] == "List" => a.clone(),
                _ => vec![doc],
            };
            for it in items {
                out.push_str(&printer::name_of(&it));
                out.push('\n');
            }
        }
        Output::JsonPath { template, as_json } => {
            out.push_str(&run_jsonpath(template, *as_json, &doc)?);
        }
        other => {
            return Err(Error::client(format!(
                "output format {other:?} is not supported yet"
            )))
        }
    }
    Ok(())
}

/// Runs a `-o jsonpath` template; failures read as kubectl's, object dump included.
pub fn run_jsonpath(template: &str, as_json: bool, doc: &Value) -> Result<String> {
    use printer::jsonpath::{go_syntax, Template};
    if template.is_empty() {
        return Err(Error::client(
            "template format specified but no template given",
        ));
    }
    let t = Template::parse(template)
        .map_err(|e| Error::client(format!("error parsing jsonpath {template}, {e}")))?;
    t.execute(doc, as_json).map_err(|e| {
        Error::client(format!(
            "error executing jsonpath {}: Error executing template: {}. Printing more information for debugging the template:\n\ttemplate was:\n\t\t{template}\n\tobject given to jsonpath engine was:\n\t\t{}\n\n",
            go_syntax(&Value::String(template.to_string())),
            e.0,
            go_syntax(doc)
        ))
    })
}

/// `--sort-by` on a Table: rows ordered by the path applied to each row's object.
fn sort_table_rows(table: &mut Value, by: &str) -> Result<()> {
    let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut objects: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({"i": i, "o": r["object"]}))
        .collect();
    let path = printer::columns::relaxed_path(by)?;
    let inner = path.trim_start_matches("{.");
    if printer::columns::sort_by(&mut objects, &format!("{{.o.{inner}")).is_err() {
        // No row has the field: kubectl then prints no rows at all.
        rows.clear();
        return Ok(());
    }
    let old = std::mem::take(rows);
    for o in objects {
        if let Some(i) = o["i"].as_u64() {
            rows.push(old[i as usize].clone());
        }
    }
    Ok(())
}

fn flush(buf: &mut String) -> Result<()> {
    if !buf.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(buf.as_bytes())?;
        out.flush()?;
        buf.clear();
    }
    Ok(())
}

/// Prints every error but the last and returns the last, as kubectl reports several.
fn report(errors: &[Error]) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        eprintln!("{e}");
    }
    Err(Error::Silent(1))
}

fn no_resources(ctx: &Ctx, a: &Args, namespaced: bool) -> String {
    if a.all_namespaces || !namespaced {
        "No resources found".into()
    } else {
        format!("No resources found in {} namespace.", ctx.namespace)
    }
}

pub(crate) async fn fetch_table(ctx: &Ctx, path: &str) -> Result<Value> {
    let b = ctx.request(Method::GET, path, TABLE_ACCEPT, None).await?;
    let v: Value = serde_json::from_slice(&b)?;
    if v["kind"] == "Table" {
        return Ok(v);
    }
    Ok(metadata_table(&v))
}

/// A NAME/AGE table for servers that answer with plain objects, as kubectl builds one.
fn metadata_table(v: &Value) -> Value {
    let items: Vec<&Value> = match v["items"].as_array() {
        Some(a) => a.iter().collect(),
        None => vec![v],
    };
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let age = o["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| {
                    let nanos = now.duration_since(t).as_nanos();
                    rkube_apimachinery::table::duration::human_duration(
                        i64::try_from(nanos).unwrap_or(i64::MAX),
                    )
                })
                .unwrap_or_else(|| "<unknown>".into());
            serde_json::json!({"cells": [o["metadata"]["name"], age], "object": {"metadata": o["metadata"]}})
        })
        .collect();
    serde_json::json!({
        "kind": "Table",
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Age", "type": "string", "priority": 0},
        ],
        "rows": rows,
    })
}
