//! `rkube token create`: more join tokens for agents, optionally expiring. They are
//! bootstrap tokens (`K10<CA hash>::<id>.<secret>`), stored through the API as
//! `kube-system/bootstrap-token-<id>` Secrets, so every server of the cluster accepts them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a join token and print it.
    Create {
        #[arg(long, default_value = "/var/lib/rkube", env = "RKUBE_DATA_DIR")]
        data_dir: PathBuf,
        /// Lifetime, e.g. 30m, 24h, 7d; 0 means it never expires.
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// Admin kubeconfig of the cluster (default: <data-dir>/kubeconfig).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
}

pub fn run(cmd: TokenCommand) -> std::process::ExitCode {
    match cmd {
        TokenCommand::Create {
            data_dir,
            ttl,
            kubeconfig,
        } => {
            let ttl = match parse_ttl(&ttl) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("rkube token create: --ttl {ttl:?}: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            let ca = data_dir.join("server/tls/ca.crt");
            let ca_pem = match std::fs::read_to_string(&ca) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!(
                        "rkube token create: read {}: {e} (has `rkube server --data-dir {}` run?)",
                        ca.display(),
                        data_dir.display()
                    );
                    return std::process::ExitCode::FAILURE;
                }
            };
            let kubeconfig = kubeconfig.unwrap_or_else(|| data_dir.join("kubeconfig"));
            match create(&kubeconfig, &ca_pem, ttl) {
                Ok(t) => {
                    println!("{t}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rkube token create: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

/// Stores a new bootstrap token's Secret through the API; returns the full token.
fn create(kubeconfig: &Path, ca_pem: &str, ttl: Option<Duration>) -> anyhow::Result<String> {
    use anyhow::Context;
    use rkube_apiserver::join;
    let (id, secret) = join::new_bootstrap_token();
    let expires = match ttl {
        Some(t) => {
            let now = k8s_openapi::jiff::Timestamp::now().as_second();
            let at = k8s_openapi::jiff::Timestamp::from_second(now + t.as_secs() as i64)
                .context("--ttl is too long")?;
            Some(at.to_string())
        }
        None => None,
    };
    let obj = join::bootstrap_secret(&id, &secret, expires.as_deref());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("read kubeconfig {}", kubeconfig.display()))?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .context("client config")?;
        let client = kube::Client::try_from(cfg).context("API client")?;
        let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(client, join::BOOTSTRAP_NAMESPACE);
        let secret_obj = serde_json::from_value(obj).context("bootstrap token Secret")?;
        secrets
            .create(&Default::default(), &secret_obj)
            .await
            .context("store the token's Secret")?;
        anyhow::Ok(())
    })?;
    Ok(format!("K10{}::{id}.{secret}", join::ca_hash(ca_pem)))
}

fn parse_ttl(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a number and a unit".to_string())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86400,
        u => return Err(format!("unknown unit {u:?} (s, m, h, d)")),
    };
    Ok(Some(Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttls_parse() {
        use std::time::Duration;
        assert_eq!(super::parse_ttl("0"), Ok(None));
        assert_eq!(super::parse_ttl("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(
            super::parse_ttl("2d"),
            Ok(Some(Duration::from_secs(172800)))
        );
        assert!(super::parse_ttl("x").is_err());
        assert!(super::parse_ttl("3w").is_err());
    }
}
