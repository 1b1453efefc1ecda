//! `get -f FILE|DIR|-`: the objects named in manifests, looked up by kind, name and
//! namespace (the manifest's, else the command's).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::Request;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::resource::Resolver;

/// Reads every object from the given paths (`-` is stdin, directories are read for
/// .json/.yaml/.yml files, recursively with `-R`).
pub fn read_objects(paths: &[String], recursive: bool) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            parse_docs(&text, "STDIN", &mut out)?;
            continue;
        }
        let path = Path::new(p);
        if !path.exists() {
            return Err(Error::client(format!("the path \"{p}\" does not exist")));
        }
        if path.is_dir() {
            read_dir(path, recursive, &mut out)?;
        } else {
            let text = std::fs::read_to_string(path)?;
            parse_docs(&text, p, &mut out)?;
        }
    }
    Ok(out)
}

fn read_dir(dir: &Path, recursive: bool, out: &mut Vec<Value>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            if recursive {
                read_dir(&p, recursive, out)?;
            }
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| matches!(x, "json" | "yaml" | "yml"))
        {
            let text = std::fs::read_to_string(&p)?;
            parse_docs(&text, &p.display().to_string(), out)?;
        }
    }
    Ok(())
}

/// YAML (several documents) or JSON; `List` documents contribute their items.
fn parse_docs(text: &str, source: &str, out: &mut Vec<Value>) -> Result<()> {
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc)
            .map_err(|e| Error::client(format!("error parsing {source}: {e}")))?;
        match v {
            Value::Null => {}
            Value::Object(_) if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                out.extend(v["items"].as_array().cloned().unwrap_or_default());
            }
            Value::Object(_) => out.push(v),
            _ => {
                return Err(Error::client(format!(
                    "error parsing {source}: not a Kubernetes object"
                )))
            }
        }
    }
    Ok(())
}

/// One request per object, consecutive objects of one type and namespace sharing one.
pub async fn requests(
    ctx: &Ctx,
    resolver: &mut Resolver,
    objects: &[Value],
) -> Result<Vec<Request>> {
    let mut out: Vec<Request> = Vec::new();
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let api_version = o["apiVersion"].as_str().unwrap_or_default();
        let group = api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let rt = resolver.resolve(ctx, &qualified).await?;
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let namespace = o["metadata"]["namespace"]
            .as_str()
            .filter(|n| !n.is_empty() && rt.namespaced)
            .map(String::from);
        match out.last_mut() {
            Some(last) if last.rt == rt && last.namespace == namespace => last.names.push(name),
            _ => out.push(Request {
                rt,
                names: vec![name],
                namespace,
            }),
        }
    }
    Ok(out)
}
