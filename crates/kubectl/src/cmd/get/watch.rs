//! `get -w` / `--watch-only`: the current state (unless watch-only), then one line or
//! document per change, as kubectl prints them.
//!
//! Tables go through one tabwriter that remembers column widths: every event is flushed
//! on its own, columns only ever widen, and the header comes with the first rows printed.
//! `--output-watch-events` adds an EVENT column, or wraps objects in `{type, object}`
//! for the generic printers.

use std::io::Write;

use futures::{AsyncBufReadExt, StreamExt};
use http::Method;
use serde_json::Value;

use super::{fetch_table, print_objects_with, typed_items, with_query, Args, Request};
use crate::ctx::{query_escape, Ctx, JSON, TABLE_ACCEPT};
use crate::error::{Error, Result};
use crate::printer::table::{self, TableOptions};
use crate::printer::{self, Output};

const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Go's tabwriter with RememberWidths, flushed once per batch of lines.
#[derive(Default)]
struct RememberingWriter {
    widths: Vec<usize>,
}

impl RememberingWriter {
    fn flush(&mut self, lines: &[Vec<String>]) -> String {
        for line in lines {
            for (i, cell) in line.iter().take(line.len().saturating_sub(1)).enumerate() {
                if self.widths.len() <= i {
                    self.widths.push(0);
                }
                self.widths[i] = self.widths[i].max((cell.len() + PADDING).max(MIN_WIDTH));
            }
        }
        let mut out = String::new();
        for line in lines {
            let last = line.len().saturating_sub(1);
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    out.extend(std::iter::repeat_n(' ', self.widths[i] - cell.len()));
                }
            }
            out.push('\n');
        }
        out
    }
}

fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Runs `get -w` / `--watch-only` for one request.
pub async fn run(
    ctx: &Ctx,
    r: &Request,
    ns: Option<&str>,
    a: &Args,
    output: &Output,
) -> Result<()> {
    if output.is_table() {
        watch_table(ctx, r, ns, a, output).await
    } else {
        watch_objects(ctx, r, ns, a, output).await
    }
}

/// The watch URL: the list's filters, the one name, and where to start.
fn watch_path(r: &Request, ns: Option<&str>, a: &Args, rv: &str) -> String {
    let mut q = a.list_query(false);
    if let [name] = r.names.as_slice() {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&format!(
            "fieldSelector={}",
            query_escape(&format!("metadata.name={name}"))
        ));
    }
    if !q.is_empty() {
        q.push('&');
    }
    q.push_str("watch=true");
    if !rv.is_empty() {
        q.push_str(&format!("&resourceVersion={rv}"));
    }
    format!("{}?{q}", r.rt.collection_path(ns))
}

/// Streams watch events, calling `each` for every ADDED/MODIFIED/DELETED event.
async fn stream(
    ctx: &Ctx,
    path: &str,
    accept: &str,
    mut each: impl FnMut(&str, &Value) -> Result<()>,
) -> Result<()> {
    let req = http::Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(|e| Error::client(e.to_string()))?;
    let body = ctx
        .client()
        .request_stream(req)
        .await
        .map_err(|e| Error::client(e.to_string()))?;
    let mut lines = body.lines();
    while let Some(line) = lines.next().await {
        let line = line?;
        let Ok(ev) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let kind = ev["type"].as_str().unwrap_or_default();
        match kind {
            "BOOKMARK" => {}
            "ERROR" => {
                let s = &ev["object"];
                let text = [&s["status"], &s["reason"], &s["message"]]
                    .map(|v| v.as_str().unwrap_or_default())
                    .join("   ");
                emit(&format!("{text}\n"))?;
            }
            _ => each(kind, &ev["object"])?,
        }
    }
    Ok(())
}

async fn watch_table(
    ctx: &Ctx,
    r: &Request,
    ns: Option<&str>,
    a: &Args,
    output: &Output,
) -> Result<()> {
    let opts = TableOptions {
        wide: *output == Output::Wide,
        no_headers: true,
        with_namespace: a.all_namespaces && r.rt.namespaced,
        show_labels: a.show_labels,
        label_columns: a.label_columns.clone(),
        kind_prefix: a.show_kind.then(|| r.rt.kind_prefix()),
    };
    let initial_path = match r.names.first() {
        Some(n) => r.object_path(ctx, n),
        None => with_query(&r.rt.collection_path(ns), &a.list_query(true)),
    };
    let initial = fetch_table(ctx, &initial_path).await?;
    let rv = match r.names.first() {
        Some(_) => &initial["rows"][0]["object"]["metadata"]["resourceVersion"],
        None => &initial["metadata"]["resourceVersion"],
    }
    .as_str()
    .unwrap_or_default()
    .to_string();
    let columns = initial["columnDefinitions"].clone();
    let header = || {
        let mut h = table::headers(&initial, &opts);
        if a.output_watch_events {
            h.insert(0, "EVENT".into());
        }
        h
    };
    let mut w = RememberingWriter::default();
    if a.output_watch_events {
        // kubectl's EVENT column is always wide enough for MODIFIED.
        w.widths.push("MODIFIED".len() + PADDING);
    }
    let mut header_done = a.no_headers;
    let with_event = |kind: &str, rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
        rows.into_iter()
            .map(|mut row| {
                if a.output_watch_events {
                    row.insert(0, kind.to_string());
                }
                row
            })
            .collect()
    };
    if !a.watch_only {
        let rows = with_event("ADDED", table::rows(&initial, &opts));
        if !rows.is_empty() {
            let mut lines = Vec::new();
            if !header_done {
                lines.push(header());
                header_done = true;
            }
            lines.extend(rows);
            emit(&w.flush(&lines))?;
        }
    }
    let path = watch_path(r, ns, a, &rv);
    stream(ctx, &path, TABLE_ACCEPT, |kind, obj| {
        let mut t = obj.clone();
        if t.get("columnDefinitions").is_none_or(Value::is_null) {
            t["columnDefinitions"] = columns.clone();
        }
        let rows = with_event(kind, table::rows(&t, &opts));
        if rows.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        if !header_done {
            lines.push(header());
            header_done = true;
        }
        lines.extend(rows);
        emit(&w.flush(&lines))
    })
    .await
}

async fn watch_objects(
    ctx: &Ctx,
    r: &Request,
    ns: Option<&str>,
    a: &Args,
    output: &Output,
) -> Result<()> {
    let (mut initial, rv) = match r.names.first() {
        Some(n) => {
            let o = ctx.get_json(&r.object_path(ctx, n)).await?;
            let rv = o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (vec![o], rv)
        }
        None => {
            let path = with_query(&r.rt.collection_path(ns), &a.list_query(true));
            let mut list = ctx.get_json(&path).await?;
            let rv = list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (typed_items(&r.rt, &mut list), rv)
        }
    };
    let mut printed = 0usize;
    let mut print = |kind: &str, mut obj: Value| -> Result<()> {
        // Wrapped in a watch event, the object keeps its managedFields (as in kubectl).
        if !a.show_managed_fields
            && !a.output_watch_events
            && matches!(output, Output::Json | Output::Yaml)
        {
            printer::strip_managed_fields(&mut obj);
        }
        if a.output_watch_events && matches!(output, Output::Json | Output::Yaml) {
            obj = serde_json::json!({"type": kind, "object": obj});
        }
        let mut text = String::new();
        if *output == Output::Yaml && printed > 0 {
            text.push_str("---\n");
        }
        print_objects_with(output, vec![obj], true, a.no_headers, &mut text)?;
        printed += 1;
        emit(&text)
    };
    if !a.watch_only {
        for o in initial.drain(..) {
            print("ADDED", o)?;
        }
    }
    let path = watch_path(r, ns, a, &rv);
    let (group, kind) = (r.rt.api_version(), r.rt.kind.clone());
    stream(ctx, &path, JSON, |ev, obj| {
        let mut o = obj.clone();
        if let Some(m) = o.as_object_mut() {
            m.entry("apiVersion")
                .or_insert_with(|| Value::String(group.clone()));
            m.entry("kind")
                .or_insert_with(|| Value::String(kind.clone()));
        }
        print(ev, o)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_only_grow_across_flushes() {
        let mut w = RememberingWriter::default();
        let row = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            w.flush(&[row(&["NAME", "DATA", "AGE"]), row(&["c1", "2", "5s"])]),
            "NAME   DATA   AGE\nc1     2      5s\n"
        );
        assert_eq!(
            w.flush(&[row(&["w30396", "1", "0s"])]),
            "w30396   1      0s\n"
        );
        assert_eq!(w.flush(&[row(&["c1", "2", "6s"])]), "c1       2      6s\n");
    }
}
