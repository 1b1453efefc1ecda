//! `rkube token create|list`: more join tokens for agents, optionally expiring.

use std::path::PathBuf;
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
    },
}

pub fn run(cmd: TokenCommand) -> std::process::ExitCode {
    match cmd {
        TokenCommand::Create { data_dir, ttl } => {
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
            match rkube_apiserver::join::create_token(&data_dir.join("server"), &ca_pem, ttl) {
                Ok(t) => {
                    println!("{t}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rkube token create: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
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
