//! `kubectl explain TYPE[.FIELD…]`: documentation of a resource or one of its fields,
//! from the server's OpenAPI v3 document for the type's group-version.

mod render;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::resource::Resolver;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE[.FIELD…]
    pub args: Vec<String>,
    /// Print the fields of fields (Currently only 1 level deep).
    #[arg(long)]
    pub recursive: bool,
    /// Use given api-version (group/version) of the resource.
    #[arg(long)]
    pub api_version: Option<String>,
    /// Format in which to render the schema (plaintext).
    #[arg(short = 'o', long, default_value = "plaintext")]
    pub output: String,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let Some(target) = a.args.first() else {
        return Err(Error::client(
            "You must specify the type of resource to explain. Use \"kubectl api-resources\" for a complete list of supported resources.",
        ));
    };
    if a.args.len() > 1 {
        return Err(Error::client(
            "We accept only this format: explain RESOURCE",
        ));
    }
    if a.output != "plaintext" {
        return Err(Error::client(format!(
            "unsupported output format: {}",
            a.output
        )));
    }
    let mut parts = target.split('.');
    let resource = parts.next().unwrap_or_default();
    let field_path: Vec<String> = parts.map(String::from).collect();
    let mut resolver = Resolver::new();
    let mut rt = match resolver.resolve(ctx, resource).await {
        Ok(rt) => rt,
        // kubectl prints this one without the `error: ` prefix.
        Err(Error::Client(msg)) if msg.starts_with("the server doesn't have") => {
            eprintln!("{msg}");
            return Err(Error::Silent(1));
        }
        Err(e) => return Err(e),
    };
    if let Some(av) = &a.api_version {
        let (g, v) = av.rsplit_once('/').unwrap_or(("", av.as_str()));
        rt.group = g.to_string();
        rt.version = v.to_string();
    }
    let gv_key = if rt.group.is_empty() {
        format!("api/{}", rt.version)
    } else {
        format!("apis/{}/{}", rt.group, rt.version)
    };
    let root = ctx.get_json("/openapi/v3?timeout=32s").await?;
    let Some(url) = root["paths"][gv_key.as_str()]["serverRelativeURL"].as_str() else {
        return Err(Error::client(format!(
            "couldn't find resource for \"{}/{}, Resource={}\"",
            rt.group, rt.version, rt.plural
        )));
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let doc = ctx.get_json(&format!("{url}{sep}timeout=32s")).await?;
    let Some(gvk) = render::find_gvk(&doc, &rt.group, &rt.version, &rt.plural) else {
        return Err(Error::client(format!(
            "GVR ({}/{}, Resource={}) not found in OpenAPI schema",
            rt.group, rt.version, rt.plural
        )));
    };
    match render::render(&doc, &gvk, &field_path, a.recursive) {
        Ok(text) => {
            print!("{text}");
            Ok(())
        }
        Err(f) => {
            print!("{}", f.partial);
            Err(Error::client(f.message))
        }
    }
}
