//! What the commands that write objects share: `--dry-run`, `--validate`, the query
//! parameters they turn into, and the `deployment.apps/web created` lines (or `-o`
//! output) kubectl prints afterwards.

use http::Method;
use serde_json::Value;

use crate::ctx::{query_escape, Ctx, JSON};
use crate::error::{Error, Result};
use crate::manifest::Info;
use crate::printer::{self, Output};

/// `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    None,
    Client,
    Server,
}

impl DryRun {
    /// Parses the flag's value as kubectl does (a bare `--dry-run` is refused).
    pub fn parse(v: Option<&str>) -> Result<DryRun> {
        match v {
            None | Some("none") => Ok(DryRun::None),
            Some("client") => Ok(DryRun::Client),
            Some("unchanged") => Err(Error::client(
                "--dry-run flag without a value was specified. A value must be set: \"none\", \"server\", or \"client\".",
            )),
            Some("server") => Ok(DryRun::Server),
            Some(other) => Err(Error::client(format!(
                "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
            ))),
        }
    }

    /// The text kubectl appends to operation lines.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// `--validate` as the `fieldValidation` value it sends.
pub fn field_validation(v: Option<&str>) -> Result<&'static str> {
    match v.map(str::to_lowercase).as_deref() {
        None | Some("strict") | Some("true") => Ok("Strict"),
        Some("warn") => Ok("Warn"),
        Some("ignore") | Some("false") => Ok("Ignore"),
        Some(other) => Err(Error::client(format!(
            "invalid - validate option \"{other}\"; must be one of: strict (or true), warn, ignore (or false)"
        ))),
    }
}

/// The query string of a write: `fieldManager`, `fieldValidation`, `dryRun` and extras.
pub fn write_query(
    field_manager: &str,
    validation: Option<&str>,
    dry_run: DryRun,
    extra: &[(&str, &str)],
) -> String {
    let mut q = Vec::new();
    if dry_run == DryRun::Server {
        q.push("dryRun=All".to_string());
    }
    if !field_manager.is_empty() {
        q.push(format!("fieldManager={}", query_escape(field_manager)));
    }
    if let Some(v) = validation {
        q.push(format!("fieldValidation={v}"));
    }
    for (k, v) in extra {
        q.push(format!("{k}={}", query_escape(v)));
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// How a write command reports the objects it handled.
pub struct Report {
    output: Option<Output>,
    dry_run: DryRun,
    show_managed_fields: bool,
    /// Objects kept for `-o json|yaml`, printed together at the end.
    objects: Vec<Value>,
}

impl Report {
    /// `-o` must be one of the generic formats for writes (`name`, `json`, `yaml`).
    pub fn new(output: Option<&str>, dry_run: DryRun) -> Result<Report> {
        let output = match output {
            None | Some("") => None,
            Some(o) => match Output::parse(Some(o))? {
                Output::Table | Output::Wide => {
                    return Err(Error::client(format!(
                        "unable to match a printer suitable for the output format \"{o}\", allowed formats are: go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,yaml"
                    )))
                }
                other => Some(other),
            },
        };
        Ok(Report {
            output,
            dry_run,
            show_managed_fields: false,
            objects: Vec::new(),
        })
    }

    pub fn show_managed_fields(mut self, show: bool) -> Self {
        self.show_managed_fields = show;
        self
    }

    /// Whether whole objects are printed (json/yaml) rather than one line each.
    pub fn prints_objects(&self) -> bool {
        self.output.as_ref().is_some_and(|o| *o != Output::Name)
    }

    /// Reports one object: `kind.group/name operation` (or the name alone with `-o
    /// name`); with `-o json|yaml` the object is kept for [`Report::finish`].
    pub fn object(&mut self, obj: &Value, operation: &str) {
        match &self.output {
            None => println!(
                "{} {operation}{}",
                printer::name_of(obj),
                self.dry_run.suffix()
            ),
            Some(Output::Name) => println!("{}", printer::name_of(obj)),
            Some(_) => {
                let mut o = obj.clone();
                if !self.show_managed_fields {
                    printer::strip_managed_fields(&mut o);
                }
                self.objects.push(o);
            }
        }
    }

    /// Prints the kept objects: one alone, several as a `List`.
    pub fn finish(&mut self) -> Result<()> {
        let Some(output) = &self.output else {
            return Ok(());
        };
        if self.objects.is_empty() || *output == Output::Name {
            return Ok(());
        }
        let mut objects = std::mem::take(&mut self.objects);
        let mut out = String::new();
        if objects.len() == 1 {
            crate::cmd::get::print_objects(output, vec![objects.remove(0)], true, &mut out)?;
        } else if *output == Output::Json {
            out = json_list(&objects);
        } else {
            // A `List` with empty metadata (not get's `resourceVersion: ""`).
            let doc = serde_json::json!({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {}});
            crate::cmd::get::print_objects(output, vec![doc], true, &mut out)?;
        }
        print!("{out}");
        Ok(())
    }
}

/// Several objects as kubectl prints its typed `List` in JSON: the list's own fields in
/// Go field order (kind, apiVersion, metadata, items), the items' keys sorted.
fn json_list(items: &[Value]) -> String {
    let mut out = String::from("{\n    \"kind\": \"List\",\n    \"apiVersion\": \"v1\",\n    \"metadata\": {},\n    \"items\": [");
    for (i, it) in items.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        let text = printer::to_json(it);
        let lines: Vec<&str> = text.trim_end().lines().collect();
        for (j, l) in lines.iter().enumerate() {
            out.push_str("        ");
            out.push_str(l);
            if j + 1 < lines.len() {
                out.push('\n');
            }
        }
    }
    if items.is_empty() {
        out.push_str("]\n}\n");
    } else {
        out.push_str("\n    ]\n}\n");
    }
    out
}

/// POSTs a manifest object (returning it unsent with `--dry-run=client`); a failure
/// names the manifest as kubectl's "creating" errors do.
pub async fn create_object(
    ctx: &Ctx,
    info: &Info,
    obj: Value,
    dry_run: DryRun,
    query: &str,
) -> Result<Value> {
    if dry_run == DryRun::Client {
        return Ok(obj);
    }
    let path = format!("{}{query}", info.collection());
    ctx.send_json(Method::POST, &path, JSON, &obj)
        .await
        .map_err(|e| add_source("creating", &info.source, e))
}

/// Prints every error but the last, which is returned (kubectl reports each failed object
/// and exits 1).
pub fn report_errors(errors: Vec<Error>) -> Result<()> {
    let n = errors.len();
    for (i, e) in errors.into_iter().enumerate() {
        if i + 1 == n {
            return Err(e);
        }
        eprintln!("{e}");
    }
    Ok(())
}

/// Names the manifest a failed request came from, as kubectl's `AddSourceToErr`: server
/// errors keep their reason with the message prefixed, other errors become client errors.
pub fn add_source(verb: &str, source: &str, e: Error) -> Error {
    if source.is_empty() {
        return e;
    }
    match e {
        Error::Server(mut s) => {
            s.message = format!("error when {verb} \"{source}\": {}", s.message);
            Error::Server(s)
        }
        Error::Client(m) => Error::Client(format!("error when {verb} \"{source}\": {m}")),
        other => other,
    }
}

/// Removes `null` map values recursively (kubectl does before creating from a manifest).
pub fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_queries() {
        assert_eq!(DryRun::parse(Some("server")).ok(), Some(DryRun::Server));
        assert!(DryRun::parse(Some("x")).is_err());
        assert_eq!(DryRun::Client.suffix(), " (dry run)");
        assert_eq!(
            write_query(
                "kubectl-client-side-apply",
                Some("Strict"),
                DryRun::Server,
                &[]
            ),
            "?dryRun=All&fieldManager=kubectl-client-side-apply&fieldValidation=Strict"
        );
        assert_eq!(field_validation(Some("false")).ok(), Some("Ignore"));
    }
}
