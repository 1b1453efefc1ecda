//! Objects from manifests (`-f FILE|DIR|-`, `-R`), as kubectl's resource builder reads
//! them: YAML streams (several documents) or JSON, `List` kinds flattened, directory
//! entries in name order and only `.json`/`.yaml`/`.yml` files, each object resolved to
//! its resource type and given the effective namespace.

pub mod yaml;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::resource::{Resolver, ResourceType};

/// `-f` and `-R` as every manifest-reading command declares them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FileFlags {
    /// Filename, directory, or URL to files to use.
    #[arg(short = 'f', long = "filename", value_delimiter = ',')]
    pub filename: Vec<String>,
    /// Process the directory used in -f, --filename recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// One decoded document and where it came from (`STDIN` or the path), for messages.
#[derive(Debug, Clone)]
pub struct Document {
    pub obj: Value,
    pub source: String,
}

/// One object ready to send: its type, namespace ("" when cluster-scoped) and name.
#[derive(Debug, Clone)]
pub struct Info {
    pub obj: Value,
    pub rt: ResourceType,
    pub namespace: String,
    pub name: String,
    pub source: String,
}

impl Info {
    /// The object's URL.
    pub fn path(&self) -> String {
        self.rt.object_path(&self.namespace, &self.name)
    }

    /// The collection URL it is created in.
    pub fn collection(&self) -> String {
        self.rt.collection_path(Some(&self.namespace))
    }

    /// `deployments.apps "web"` — how NotFound-style messages name it.
    pub fn quoted(&self) -> String {
        format!("{} \"{}\"", self.rt.qualified_plural(), self.name)
    }
}

/// Reads every document the flags name, in kubectl's order.
pub fn read(flags: &FileFlags) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for f in &flags.filename {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            decode(&text, "STDIN", &mut docs)?;
            continue;
        }
        let path = Path::new(f);
        let meta = std::fs::metadata(path)
            .map_err(|_| Error::client(format!("the path \"{f}\" does not exist")))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, flags.recursive, true, &mut files)?;
            for p in files {
                read_file(&p, &mut docs)?;
            }
        } else {
            read_file(path, &mut docs)?;
        }
    }
    Ok(docs)
}

fn walk(dir: &Path, recursive: bool, root: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    if !root && !recursive {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::client(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, recursive, false, out)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_file(path: &Path, docs: &mut Vec<Document>) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::client(format!("open {}: {e}", path.display())))?;
    decode(&text, &path.display().to_string(), docs)
}

/// Decodes a YAML stream or JSON text into documents, flattening lists. Documents are
/// checked in order, so the first bad one is the one reported.
pub fn decode(text: &str, source: &str, docs: &mut Vec<Document>) -> Result<()> {
    if text.trim_start().starts_with('{') {
        for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            let v = v.map_err(|e| Error::client(format!("error parsing {source}: {e}")))?;
            flatten(v, source, docs)?;
        }
        return Ok(());
    }
    let (values, err) = yaml::documents_until_error(text);
    for v in values {
        flatten(v, source, docs)?;
    }
    match err {
        None => Ok(()),
        Some(yaml::YamlError::Syntax) => Err(yaml_error(text, source)),
        Some(yaml::YamlError::Message(m)) => Err(Error::client(format!(
            "error parsing {source}: error converting YAML to JSON: yaml: {m}"
        ))),
    }
}

/// The syntax error in `text` as go-yaml words it (`yaml: line N: problem`). libyaml's
/// problem text is only reachable through serde_yaml's message; go-yaml numbers lines
/// from 0 for parser errors and from 1 for scanner errors.
fn yaml_error(text: &str, source: &str) -> Error {
    for d in serde_yaml::Deserializer::from_str(text) {
        if let Err(e) = Value::deserialize(d) {
            let msg = e.to_string();
            let problem = msg.split(" at line ").next().unwrap_or(&msg);
            let line = e.location().map_or(0, |l| l.line());
            let line = if msg.contains("while parsing") {
                line.saturating_sub(1)
            } else {
                line
            };
            let at = if line == 0 {
                String::new()
            } else {
                format!("line {line}: ")
            };
            return Error::client(format!(
                "error parsing {source}: error converting YAML to JSON: yaml: {at}{problem}"
            ));
        }
    }
    Error::client(format!(
        "error parsing {source}: error converting YAML to JSON: yaml: invalid document"
    ))
}

fn flatten(v: Value, source: &str, docs: &mut Vec<Document>) -> Result<()> {
    if v.is_null() {
        return Ok(());
    }
    if !v.is_object() {
        return Err(Error::client(format!(
            "error validating \"{source}\": error validating data: invalid object to validate; if you choose to ignore these errors, turn validation off with --validate=false"
        )));
    }
    let kind = v["kind"].as_str().unwrap_or_default();
    if kind.ends_with("List") && v["items"].is_array() {
        if let Value::Array(items) = v["items"].clone() {
            for it in items {
                flatten(it, source, docs)?;
            }
        }
        return Ok(());
    }
    let missing: Vec<String> = ["apiVersion", "kind"]
        .iter()
        .filter(|f| v[**f].as_str().is_none_or(str::is_empty))
        .map(|f| format!("{f} not set"))
        .collect();
    if !missing.is_empty() {
        let what = match missing.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        return Err(Error::client(format!(
            "error validating \"{source}\": error validating data: {what}; if you choose to ignore these errors, turn validation off with --validate=false"
        )));
    }
    docs.push(Document {
        obj: v,
        source: source.to_string(),
    });
    Ok(())
}

/// Resolves every document's type and namespace. With `-n` given explicitly, an object
/// in another namespace is an error, as with kubectl.
pub async fn resolve(ctx: &Ctx, resolver: &mut Resolver, docs: Vec<Document>) -> Result<Vec<Info>> {
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        out.push(resolve_one(ctx, resolver, d).await?);
    }
    Ok(out)
}

/// Like [`resolve`] but going on past objects whose type cannot be resolved, as kubectl's
/// builder does with ContinueOnError: the others are still applied or created, and the
/// errors reported at the end.
pub async fn resolve_lenient(
    ctx: &Ctx,
    resolver: &mut Resolver,
    docs: Vec<Document>,
) -> (Vec<Info>, Vec<Error>) {
    let mut infos = Vec::with_capacity(docs.len());
    let mut errors = Vec::new();
    for d in docs {
        match resolve_one(ctx, resolver, d).await {
            Ok(i) => infos.push(i),
            Err(e) => errors.push(e),
        }
    }
    (infos, errors)
}

/// The `-f` objects of `create`, `replace` or `apply`, read and resolved leniently;
/// kubectl refuses manifests with no objects, naming the command.
pub async fn read_lenient(
    ctx: &Ctx,
    files: &FileFlags,
    command: &str,
) -> Result<(Vec<Info>, Vec<Error>)> {
    let docs = read(files)?;
    let (infos, errors) = resolve_lenient(ctx, &mut Resolver::new(), docs).await;
    if infos.is_empty() && errors.is_empty() {
        return Err(Error::client(format!("no objects passed to {command}")));
    }
    Ok((infos, errors))
}

async fn resolve_one(ctx: &Ctx, resolver: &mut Resolver, d: Document) -> Result<Info> {
    let Document { mut obj, source } = d;
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let obj_ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(rt) = resolver.resolve_kind(ctx, &api_version, &kind).await? else {
        return Err(Error::client(format!(
            "resource mapping not found for name: \"{name}\" namespace: \"{obj_ns}\" from \"{source}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first"
        )));
    };
    let mut namespace = String::new();
    if rt.namespaced {
        if obj_ns.is_empty() {
            namespace = ctx.namespace.clone();
            set_namespace(&mut obj, &namespace);
        } else if ctx.namespace_explicit() && obj_ns != ctx.namespace {
            return Err(Error::client(format!(
                "the namespace from the provided object \"{obj_ns}\" does not match the namespace \"{}\". You must pass '--namespace={obj_ns}' to perform this operation.",
                ctx.namespace
            )));
        } else {
            namespace = obj_ns;
        }
    }
    Ok(Info {
        obj,
        rt,
        namespace,
        name,
        source,
    })
}

fn set_namespace(obj: &mut Value, ns: &str) {
    if let Some(o) = obj.as_object_mut() {
        let meta = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = meta.as_object_mut() {
            m.insert("namespace".into(), Value::String(ns.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_streams_json_and_lists() {
        let mut docs = Vec::new();
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: b\n";
        decode(text, "x.yaml", &mut docs).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.obj["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let mut docs = Vec::new();
        decode(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#,
            "STDIN",
            &mut docs,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(docs.len(), 1);
        let mut docs = Vec::new();
        let e = decode("metadata:\n  name: x\n", "f.yaml", &mut docs);
        assert!(e.is_err_and(|e| e.to_string().contains("apiVersion not set")));
    }

    #[test]
    fn directories_in_name_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cm = |n: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n");
        std::fs::write(dir.path().join("b.yaml"), cm("b")).ok();
        std::fs::write(dir.path().join("a.yml"), cm("a")).ok();
        std::fs::write(dir.path().join("c.txt"), cm("c")).ok();
        std::fs::create_dir(dir.path().join("sub")).ok();
        std::fs::write(
            dir.path().join("sub/d.json"),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"}}"#,
        )
        .ok();
        let names = |recursive| -> Vec<String> {
            let flags = FileFlags {
                filename: vec![dir.path().display().to_string()],
                recursive,
            };
            read(&flags)
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|d| {
                    d.obj["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(names(false), ["a", "b"]);
        assert_eq!(names(true), ["a", "b", "d"]);
        let missing = read(&FileFlags {
            filename: vec!["/nonexistent/x.yaml".into()],
            recursive: false,
        });
        assert!(missing.is_err_and(
            |e| e.to_string() == "error: the path \"/nonexistent/x.yaml\" does not exist"
        ));
    }
}
