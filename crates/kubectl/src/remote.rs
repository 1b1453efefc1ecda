//! A remote-command session (`exec`, `attach`, `run -i`) over kube-rs's WebSocket client
//! (`v5.channel.k8s.io`, falling back to `v4`): local stdin to the container, its stdout and
//! stderr to ours, terminal sizes when there is a TTY, and the final `Status` turned into
//! kubectl's exit code and message.

use std::io::Write;

use futures::SinkExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, AttachedProcess, TerminalSize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::ctx::Ctx;
use crate::error::{Error, Result, StatusError};
use crate::term;

/// What to start: a new process, or the container's own stdio.
pub enum Kind<'a> {
    Exec(&'a [String]),
    Attach,
}

/// Which streams to wire up.
pub struct Streams {
    pub stdin: bool,
    /// A remote TTY with the local terminal in raw mode (stderr then travels on stdout).
    pub tty: bool,
    /// Send the first size one larger, then the real one, so a program that is already
    /// running (attach) redraws its screen.
    pub redraw: bool,
}

/// Runs the session to its end and maps the remote outcome as kubectl does: success is
/// `Ok`, a non-zero exit prints `command terminated with exit code N` and exits N.
pub async fn run(
    ctx: &Ctx,
    namespace: &str,
    pod: &str,
    container: &str,
    kind: Kind<'_>,
    streams: Streams,
) -> Result<()> {
    let api: kube::Api<Pod> = kube::Api::namespaced(ctx.client().clone(), namespace);
    let params = AttachParams {
        container: Some(container.to_string()),
        stdin: streams.stdin,
        stdout: true,
        stderr: !streams.tty,
        tty: streams.tty,
        max_stdin_buf_size: Some(32 * 1024),
        max_stdout_buf_size: Some(32 * 1024),
        max_stderr_buf_size: Some(32 * 1024),
    };
    let process = match kind {
        Kind::Exec(command) => api.exec(pod, command.to_vec(), &params).await,
        Kind::Attach => api.attach(pod, &params).await,
    }
    .map_err(kube_error)?;
    // Raw mode only once the session exists; the guard restores the terminal on every
    // way out of this function.
    let raw = if streams.tty {
        Some(term::RawMode::enable(libc::STDIN_FILENO)?)
    } else {
        None
    };
    let status = tokio::select! {
        s = pump(process, streams) => s,
        code = terminated() => {
            drop(raw);
            return Err(Error::Silent(code));
        }
    };
    // The terminal is back to normal before anything more is printed.
    drop(raw);
    match status {
        Some(s) => status_outcome(&s),
        None => Ok(()),
    }
}

/// Resolves when we are asked to stop (SIGTERM, SIGHUP, or SIGINT sent by `kill`; in raw
/// mode ^C goes to the remote side), with the exit code a shell reports for the signal.
/// Ending the session this way still restores the terminal.
async fn terminated() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => 143,
        _ = hup.recv() => 129,
        _ = int.recv() => 130,
    }
}

/// Moves bytes until the remote side ends; returns the final Status, if one came.
async fn pump(
    mut process: AttachedProcess,
    streams: Streams,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status> {
    let status = process.take_status();
    let stdout = process.stdout();
    let stderr = process.stderr();
    let stdin = if streams.stdin { process.stdin() } else { None };
    let resize = process.terminal_size();

    let out = copy_to(stdout, std::io::stdout());
    let err = copy_to(stderr, std::io::stderr());
    let input = async move {
        if let Some(mut w) = stdin {
            let mut rx = spawn_stdin_reader();
            while let Some(chunk) = rx.recv().await {
                if w.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            // EOF: kube-rs tells the server with a close signal on v5.
            let _ = w.shutdown().await;
        }
    };
    let sizes = async move {
        if let Some(mut tx) = resize {
            let mut watcher = term::SizeWatcher::new();
            if streams.redraw {
                if let Some((w, h)) = term::session_size() {
                    let bigger = TerminalSize {
                        width: w.saturating_add(1),
                        height: h.saturating_add(1),
                    };
                    if tx.send(bigger).await.is_err() {
                        return;
                    }
                }
            }
            loop {
                let (width, height) = watcher.next().await;
                if tx.send(TerminalSize { width, height }).await.is_err() {
                    return;
                }
            }
        }
    };
    // Input and resizes run until the outputs end; stdin may never reach EOF.
    let outputs = async { futures::join!(out, err) };
    tokio::pin!(outputs);
    let background = async { futures::join!(input, sizes) };
    tokio::pin!(background);
    tokio::select! {
        _ = &mut outputs => {}
        _ = &mut background => { (&mut outputs).await; }
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    drop(process);
    status
}

/// kubectl's reading of the final Status (client-go's v4 error decoder).
fn status_outcome(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Result<()> {
    match s.status.as_deref() {
        Some("Success") => Ok(()),
        Some("Failure") if s.reason.as_deref() == Some("NonZeroExitCode") => {
            let code = s
                .details
                .as_ref()
                .and_then(|d| d.causes.as_ref())
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.reason.as_deref() == Some("ExitCode"))
                        .and_then(|c| c.message.as_deref())
                })
                .and_then(|m| m.parse::<i64>().ok());
            match code {
                Some(code) => {
                    eprintln!("command terminated with exit code {code}");
                    Err(Error::Silent(code.clamp(0, 255) as u8))
                }
                None => Err(Error::client(format!(
                    "command terminated with non-zero exit code: {}",
                    s.message.as_deref().unwrap_or_default()
                ))),
            }
        }
        Some("Failure") => Err(Error::client(s.message.clone().unwrap_or_default())),
        _ => Err(Error::client("error stream protocol error: unknown error")),
    }
}

/// Copies a remote stream to a local one, flushing each chunk (interactive output).
async fn copy_to<R: AsyncRead + Unpin>(reader: Option<R>, mut to: impl Write) {
    let Some(mut r) = reader else { return };
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads stdin on a plain thread: a blocked read must not keep the runtime from shutting
/// down when the remote side ends first (tokio's stdin would).
fn spawn_stdin_reader() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    });
    rx
}

/// A kube-rs error as kubectl would print it: a server Status as `Error from server`.
pub fn kube_error(e: kube::Error) -> Error {
    match e {
        kube::Error::Api(s) => Error::Server(StatusError {
            reason: s.reason.clone(),
            message: s.message.clone(),
            code: s.code,
            details: None,
        }),
        other => Error::client(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    #[test]
    fn exit_codes_come_from_the_status() {
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert!(status_outcome(&ok).is_ok());
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code: 3".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            status_outcome(&failed).err().map(|e| e.exit_code()),
            Some(3)
        );
        let other = Status {
            status: Some("Failure".into()),
            message: Some("boom".into()),
            ..Default::default()
        };
        assert_eq!(
            status_outcome(&other).err().map(|e| e.to_string()),
            Some("error: boom".into())
        );
    }
}
