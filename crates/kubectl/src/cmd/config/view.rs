//! `kubectl config view`: the merged kubeconfig, with `--minify` (only what the current
//! context uses), `--flatten` (file references inlined) and credentials hidden unless
//! `--raw`.

use std::path::Path;

use base64::Engine;

use crate::cli::GlobalFlags;
use crate::error::{Error, Result};
use crate::printer::{self, Output};

use super::files::Files;
use super::model::Config;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ViewArgs {
    /// Remove all information not used by current-context from the output.
    #[arg(long)]
    pub minify: bool,
    /// Display raw byte data and sensitive data.
    #[arg(long)]
    pub raw: bool,
    /// Flatten the resulting kubeconfig file into self-contained output.
    #[arg(long)]
    pub flatten: bool,
    /// Merge the full hierarchy of kubeconfig files.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = clap::ArgAction::Set)]
    pub merge: bool,
    /// Output format (yaml, json, jsonpath=…).
    #[arg(short = 'o', long, default_value = "yaml")]
    pub output: String,
}

pub fn run(flags: &GlobalFlags, a: &ViewArgs) -> Result<()> {
    if !a.merge && flags.kubeconfig.is_none() {
        return Err(Error::client(
            "if merge==false a precise file must be specified",
        ));
    }
    let files = Files::load(flags)?;
    let mut config = if a.merge {
        files.merged()
    } else {
        let mut c = files
            .loaded
            .first()
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        c.normalize();
        c
    };
    if a.minify {
        if let Some(ctx) = &flags.context {
            config.current_context = ctx.clone();
        }
        minify(&mut config)?;
    }
    if a.flatten {
        flatten(&mut config, &files)?;
    }
    // Flattened output is meant to be self-contained, so it is never redacted.
    if !a.raw && !a.flatten {
        config.redact();
    }
    let output = Output::parse(Some(&a.output))?;
    let text = match &output {
        Output::Yaml => printer::yaml::to_yaml(&serde_json::to_value(&config)?),
        Output::Json => printer::to_json_of(&config),
        Output::JsonPath { .. } => {
            let mut s = String::new();
            crate::cmd::get::print_objects(
                &output,
                vec![serde_json::to_value(&config)?],
                true,
                &mut s,
            )?;
            s
        }
        _ => {
            return Err(Error::client(format!(
                "--output {} is not available in kubectl config view",
                a.output
            )))
        }
    };
    print!("{text}");
    Ok(())
}

/// Keeps only the current context, its cluster and its user.
fn minify(c: &mut Config) -> Result<()> {
    if c.current_context.is_empty() {
        return Err(Error::client(
            "current-context must exist in order to minify",
        ));
    }
    let Some(ctx) = c.context(&c.current_context).cloned() else {
        return Err(Error::client(format!(
            "cannot locate context {}",
            c.current_context
        )));
    };
    let current = c.current_context.clone();
    c.contexts.retain(|x| x.name == current);
    c.clusters.retain(|x| x.name == ctx.cluster);
    c.users.retain(|x| x.name == ctx.user);
    Ok(())
}

/// Replaces certificate and key file references with their contents (users first, as
/// kubectl does, which decides which missing file is reported); relative paths
/// are relative to the kubeconfig file that defines the entry.
fn flatten(c: &mut Config, files: &Files) -> Result<()> {
    let origin_dir = |find: &dyn Fn(&Config) -> bool| -> std::path::PathBuf {
        files
            .loaded
            .iter()
            .find(|(_, f)| find(f))
            .and_then(|(p, _)| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    };
    for nu in &mut c.users {
        let name = nu.name.clone();
        let dir = origin_dir(&|f: &Config| f.users.iter().any(|x| x.name == name));
        inline(
            &dir,
            &mut nu.user.client_certificate,
            &mut nu.user.client_certificate_data,
        )?;
        inline(&dir, &mut nu.user.client_key, &mut nu.user.client_key_data)?;
    }
    for nc in &mut c.clusters {
        let name = nc.name.clone();
        let dir = origin_dir(&|f: &Config| f.clusters.iter().any(|x| x.name == name));
        inline(
            &dir,
            &mut nc.cluster.certificate_authority,
            &mut nc.cluster.certificate_authority_data,
        )?;
    }
    Ok(())
}

fn inline(dir: &Path, path: &mut String, data: &mut String) -> Result<()> {
    if path.is_empty() {
        return Ok(());
    }
    let full = dir.join(path.as_str());
    let bytes = std::fs::read(&full).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file or directory".to_string()
        } else {
            e.to_string()
        };
        Error::client(format!("open {}: {why}", full.display()))
    })?;
    *data = base64::engine::general_purpose::STANDARD.encode(bytes);
    path.clear();
    Ok(())
}
