//! `kubectl version`: the client's version and the server's `/version`.
//!
//! rkube reports its own build as the client version. kubectl also prints the version of
//! the kustomize library it embeds; rkube embeds none, so that line and the
//! `kustomizeVersion` field are left out.

use serde::{Deserialize, Serialize};

use crate::cli::GlobalFlags;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// If true, shows client version only (no server required).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub client: bool,
    /// One of 'yaml' or 'json'.
    #[arg(short = 'o', long, default_value = "")]
    pub output: String,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

/// apimachinery's `version.Info` as kubectl 1.32 knows it (newer servers add emulation
/// fields, which kubectl 1.32 drops when it decodes the reply).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Info {
    pub major: String,
    pub minor: String,
    pub git_version: String,
    pub git_commit: String,
    pub git_tree_state: String,
    pub build_date: String,
    pub go_version: String,
    pub compiler: String,
    pub platform: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    client_version: Info,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_version: Option<Info>,
}

/// This binary's version, in the shape of the server's `/version`.
pub fn client_info() -> Info {
    let arch = if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        std::env::consts::ARCH
    };
    Info {
        major: "1".into(),
        minor: "33".into(),
        git_version: format!("v1.33.0+rkube-{}", env!("CARGO_PKG_VERSION")),
        git_commit: String::new(),
        git_tree_state: "clean".into(),
        build_date: "1970-01-01T00:00:00Z".into(),
        go_version: "rust".into(),
        compiler: "rustc".into(),
        platform: format!("{}/{arch}", std::env::consts::OS),
    }
}

pub async fn run(flags: &GlobalFlags, a: &Args) -> Result<()> {
    if !a.extra.is_empty() {
        return Err(Error::client(format!(
            "extra arguments: [{}]",
            a.extra.join(" ")
        )));
    }
    if !matches!(a.output.as_str(), "" | "yaml" | "json") {
        return Err(Error::client("--output must be 'yaml' or 'json'"));
    }
    let client = client_info();
    let (server, server_err) = if a.client {
        (None, None)
    } else {
        match server_version(flags).await {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        }
    };
    match a.output.as_str() {
        "" => {
            println!("Client Version: {}", client.git_version);
            if let Some(s) = &server {
                println!("Server Version: {}", s.git_version);
                if let Some(w) = skew_warning(&client, s) {
                    eprintln!("{w}");
                }
            }
        }
        format => {
            let v = Versions {
                client_version: client,
                server_version: server,
            };
            let text = if format == "json" {
                serde_json::to_string_pretty(&v)?
            } else {
                crate::printer::yaml::to_yaml(&serde_json::to_value(&v)?)
            };
            println!("{text}");
        }
    }
    match server_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn server_version(flags: &GlobalFlags) -> Result<Info> {
    let ctx = Ctx::connect(flags).await?;
    let v = ctx.get_json("/version?timeout=32s").await?;
    Ok(serde_json::from_value(v)?)
}

/// kubectl's warning when client and server are more than one minor version apart.
fn skew_warning(client: &Info, server: &Info) -> Option<String> {
    let minor = |i: &Info| -> Option<i64> {
        let digits: String = i.minor.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let (c, s) = (minor(client)?, minor(server)?);
    if client.major != server.major || (c - s).abs() <= 1 {
        return None;
    }
    Some(format!(
        "WARNING: version difference between client ({}.{c}) and server ({}.{s}) exceeds the supported minor version skew of +/-1",
        client.major, server.major
    ))
}
