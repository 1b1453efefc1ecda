//! `rkube image …`: the node's image store from the command line (like `ctr images` /
//! `crictl`), on the same data dir a running agent uses.

use std::process::ExitCode;

use rkube_runtime::image::{human_bytes, AuthConfig, Image, ImageService, TerminalProgress};

use crate::ImageCommand;

pub fn run(command: ImageCommand) -> ExitCode {
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rkube image: starting runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run_async(command))
}

/// Warnings only unless RKUBE_LOG says otherwise: the commands print their own results.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RKUBE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run_async(command: ImageCommand) -> ExitCode {
    match command {
        ImageCommand::Import { data_dir, files } => {
            if files.is_empty() {
                eprintln!("rkube image import: no archives given");
                return ExitCode::from(2);
            }
            let svc = match open(&data_dir) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut failed = false;
            for f in &files {
                match svc.import_archive(f).await {
                    Ok(images) => {
                        for i in images {
                            println!("imported {} ({})", names(&i), short_id(&i.id));
                        }
                    }
                    Err(e) => {
                        eprintln!("rkube image import: {e}");
                        failed = true;
                    }
                }
            }
            exit(failed)
        }
        ImageCommand::Ls { data_dir } => {
            let svc = match open(&data_dir) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match svc.list_images(None).await {
                Ok(images) => {
                    print!("{}", table(&images));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rkube image ls: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ImageCommand::Rm { data_dir, images } => {
            if images.is_empty() {
                eprintln!("rkube image rm: no images given");
                return ExitCode::from(2);
            }
            let svc = match open(&data_dir) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut failed = false;
            for name in &images {
                match svc.remove_image(name).await {
                    Ok(Some(i)) => println!("deleted {} ({})", names(&i), i.id),
                    Ok(None) => {
                        eprintln!("rkube image rm: image {name:?} not found");
                        failed = true;
                    }
                    Err(e) => {
                        eprintln!("rkube image rm: {name}: {e}");
                        failed = true;
                    }
                }
            }
            exit(failed)
        }
        ImageCommand::Pull {
            data_dir,
            creds,
            image,
        } => {
            let svc = match open(&data_dir) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let auth = match creds.as_deref().map(parse_creds) {
                None => None,
                Some(Ok(a)) => Some(a),
                Some(Err(msg)) => {
                    eprintln!("rkube image pull: {msg}");
                    return ExitCode::from(2);
                }
            };
            let progress = TerminalProgress::stderr();
            match svc
                .pull_image_with_progress(&image, auth.as_ref(), &progress)
                .await
            {
                Ok(id) => {
                    println!("Image is up to date for {id}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rkube image pull: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn open(data_dir: &std::path::Path) -> Result<ImageService, ExitCode> {
    ImageService::open(data_dir).map_err(|e| {
        eprintln!(
            "rkube image: opening the image store in {}: {e}",
            data_dir.display()
        );
        ExitCode::FAILURE
    })
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `user:password` (the password may contain colons).
fn parse_creds(s: &str) -> Result<AuthConfig, String> {
    let (u, p) = s
        .split_once(':')
        .ok_or_else(|| "--creds must be USER:PASSWORD".to_string())?;
    Ok(AuthConfig {
        username: u.to_string(),
        password: p.to_string(),
        ..AuthConfig::default()
    })
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

fn names(i: &Image) -> String {
    if i.repo_tags.is_empty() {
        i.repo_digests
            .first()
            .cloned()
            .unwrap_or_else(|| "<none>".to_string())
    } else {
        i.repo_tags.join(", ")
    }
}

/// crictl's layout: one row per name (untagged images once, as `<none>`).
fn table(images: &[Image]) -> String {
    let mut rows: Vec<[String; 4]> = vec![[
        "IMAGE".into(),
        "TAG".into(),
        "IMAGE ID".into(),
        "SIZE".into(),
    ]];
    for i in images {
        let size = human_bytes(i.size);
        let id = short_id(&i.id).to_string();
        if i.repo_tags.is_empty() {
            let repo = i
                .repo_digests
                .first()
                .and_then(|d| d.split('@').next())
                .unwrap_or("<none>");
            rows.push([repo.to_string(), "<none>".into(), id, size]);
        } else {
            for t in &i.repo_tags {
                // The tag follows the last ':' after the last '/'.
                let (repo, tag) = match t.rfind(':') {
                    Some(p) if !t[p..].contains('/') => (&t[..p], &t[p + 1..]),
                    _ => (t.as_str(), "<none>"),
                };
                rows.push([repo.to_string(), tag.to_string(), id.clone(), size.clone()]);
            }
        }
    }
    let mut widths = [0usize; 4];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line = format!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds() {
        let a = parse_creds("u:p:q").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p:q"));
        assert!(parse_creds("nocolon").is_err());
    }
}
