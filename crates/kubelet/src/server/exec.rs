//! `exec` over WebSocket (`v5.channel.k8s.io`, and `v4`): a process started in the container
//! through the runtime, its stdio on channels 0–2 (or a pty with `tty=true`, resized from
//! channel 4), and the exit status on channel 3 as a `Status`.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Mutex};

use super::websocket::{self, Message};

/// What the exec request asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecOptions {
    pub fn parse(query: &[(String, String)]) -> ExecOptions {
        let flag = |k: &str| {
            query
                .iter()
                .any(|(n, v)| n == k && matches!(v.as_str(), "true" | "1" | ""))
        };
        ExecOptions {
            command: query
                .iter()
                .filter(|(n, _)| n == "command")
                .map(|(_, v)| v.clone())
                .collect(),
            stdin: flag("stdin"),
            stdout: flag("stdout"),
            stderr: flag("stderr"),
            tty: flag("tty"),
        }
    }
}

/// The Status that ends a session.
pub fn status_for(code: i32, command: &[String]) -> serde_json::Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    }
}

fn set_winsize(fd: i32, width: u16, height: u16) {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// A process started for exec, or a container attached to: its output as `(channel,
/// bytes)` (1 stdout, 2 stderr), its stdin (`None` closes it), and how it resizes and ends.
pub struct Running {
    pub out: Option<mpsc::Receiver<(u8, Vec<u8>)>>,
    pub stdin: std::sync::mpsc::Sender<Option<Vec<u8>>>,
    end: End,
}

enum End {
    Process {
        pty: Option<OwnedFd>,
        child: std::process::Child,
        pumps: Vec<std::thread::JoinHandle<()>>,
    },
    Attach {
        resize: mpsc::Sender<(u16, u16)>,
        done: tokio::sync::oneshot::Receiver<i32>,
    },
}

/// Applies one resize event.
type Resizer = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Window size from a resize event (`{"Width":100,"Height":30}`).
fn parse_size(json: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    Some((
        v["Width"].as_u64().unwrap_or(80) as u16,
        v["Height"].as_u64().unwrap_or(24) as u16,
    ))
}

impl Running {
    /// Starts `cmd` with pipes, or with a fresh pty as its controlling terminal.
    pub fn spawn(mut cmd: std::process::Command, opts: &ExecOptions) -> Result<Running, String> {
        let (out_tx, out_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
        let (in_tx, in_rx) = std::sync::mpsc::channel::<Option<Vec<u8>>>();
        let mut pty_master: Option<OwnedFd> = None;
        let child = if opts.tty {
            let pty = nix::pty::openpty(None, None).map_err(|e| format!("allocate a pty: {e}"))?;
            let slave = pty.slave;
            let (s0, s1, s2) = match (slave.try_clone(), slave.try_clone(), slave.try_clone()) {
                (Ok(a), Ok(b), Ok(c)) => (a, b, c),
                _ => return Err("duplicate the pty".into()),
            };
            cmd.stdin(Stdio::from(s0))
                .stdout(Stdio::from(s1))
                .stderr(Stdio::from(s2));
            // SAFETY: setsid and ioctl are async-signal-safe; the child makes the pty its
            // controlling terminal so shells get job control and SIGWINCH.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                    Ok(())
                });
            }
            set_winsize(pty.master.as_raw_fd(), 80, 24);
            let child = cmd.spawn();
            drop(slave);
            pty_master = Some(pty.master);
            child
        } else {
            let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
            cmd.stdin(pipe(opts.stdin))
                .stdout(pipe(opts.stdout))
                .stderr(pipe(opts.stderr));
            cmd.spawn()
        };
        let mut child = child.map_err(|e| format!("start exec: {e}"))?;
        let mut pumps = Vec::new();
        let mut sink: Option<Box<dyn Write + Send>> = None;
        if let Some(master) = &pty_master {
            if let Ok(m) = master.try_clone() {
                let tx = out_tx.clone();
                pumps.push(std::thread::spawn(move || {
                    pump(std::fs::File::from(m), 1, tx)
                }));
            }
            if let Ok(m) = master.try_clone() {
                sink = Some(Box::new(std::fs::File::from(m)));
            }
        } else {
            if let Some(o) = child.stdout.take() {
                let tx = out_tx.clone();
                pumps.push(std::thread::spawn(move || pump(o, 1, tx)));
            }
            if let Some(e) = child.stderr.take() {
                let tx = out_tx.clone();
                pumps.push(std::thread::spawn(move || pump(e, 2, tx)));
            }
            if let Some(i) = child.stdin.take() {
                sink = Some(Box::new(i));
            }
        }
        if let Some(mut sink) = sink {
            std::thread::spawn(move || {
                while let Ok(Some(data)) = in_rx.recv() {
                    if sink.write_all(&data).and_then(|_| sink.flush()).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Running {
            out: Some(out_rx),
            stdin: in_tx,
            end: End::Process {
                pty: pty_master,
                child,
                pumps,
            },
        })
    }

    /// Attaches to a running container through its shim: output, stdin and resizes pass
    /// through; the session ends when the container exits or the shim hangs up.
    pub async fn attach(socket: &std::path::Path, opts: &ExecOptions) -> Result<Running, String> {
        use rkube_runtime::attach::{AttachClient, Output};
        let client = AttachClient::connect(socket, opts.stdin)
            .await
            .map_err(|e| e.to_string())?;
        let (mut reader, mut writer) = client.split();
        let (out_tx, out_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (want_out, want_err) = (opts.stdout, opts.stderr);
        tokio::spawn(async move {
            let code = loop {
                match reader.read().await {
                    Ok(Some(Output::Stdout(b))) if want_out => {
                        let _ = out_tx.send((1, b.to_vec())).await;
                    }
                    Ok(Some(Output::Stderr(b))) if want_err => {
                        let _ = out_tx.send((2, b.to_vec())).await;
                    }
                    Ok(Some(Output::Exit(c))) => break c,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break 0,
                }
            };
            let _ = done_tx.send(code);
        });
        // Stdin arrives on a std channel (shared with exec); a thread hands it over.
        let (in_tx, in_rx) = std::sync::mpsc::channel::<Option<Vec<u8>>>();
        let (fwd_tx, mut fwd_rx) = mpsc::channel::<Option<Vec<u8>>>(16);
        std::thread::spawn(move || {
            while let Ok(m) = in_rx.recv() {
                let end = m.is_none();
                if fwd_tx.blocking_send(m).is_err() || end {
                    return;
                }
            }
        });
        let (resize_tx, mut resize_rx) = mpsc::channel::<(u16, u16)>(8);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = fwd_rx.recv() => match m {
                        Some(Some(data)) if writer.write_stdin(&data).await.is_err() => return,
                        Some(Some(_)) => {}
                        Some(None) => {
                            let _ = writer.close_stdin().await;
                        }
                        None => {}
                    },
                    Some((w, h)) = resize_rx.recv() => {
                        if writer.resize(w, h).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Running {
            out: Some(out_rx),
            stdin: in_tx,
            end: End::Attach {
                resize: resize_tx,
                done: done_rx,
            },
        })
    }

    /// A function applying resize events.
    fn resizer(&self) -> Resizer {
        match &self.end {
            End::Process { pty, .. } => {
                let pty = pty.as_ref().and_then(|p| p.try_clone().ok());
                Box::new(move |ev| {
                    if let (Some(fd), Some((w, h))) = (&pty, parse_size(ev)) {
                        set_winsize(fd.as_raw_fd(), w, h);
                    }
                })
            }
            End::Attach { resize, .. } => {
                let tx = resize.clone();
                Box::new(move |ev| {
                    if let Some(size) = parse_size(ev) {
                        let _ = tx.try_send(size);
                    }
                })
            }
        }
    }

    /// Waits for the process (or attached container) and for its output to be read;
    /// returns the exit code.
    pub async fn wait(self) -> i32 {
        let (mut child, pty, pumps) = match self.end {
            End::Process { child, pty, pumps } => (child, pty, pumps),
            // An attach ends without a status of its own, as upstream's does: the
            // container's exit shows in the pod, not as an exec failure.
            End::Attach { done, .. } => {
                let _ = done.await;
                return 0;
            }
        };
        let code = tokio::task::spawn_blocking(move || child.wait())
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
            })
            .unwrap_or(255);
        // With a pty, the master never reports EOF while we hold it.
        drop(pty);
        for p in pumps {
            let _ = tokio::task::spawn_blocking(move || p.join()).await;
        }
        code
    }
}

/// What a session streams: a command to run in a container (exec), or the container's own
/// stdio through its shim (attach).
pub enum Target {
    Exec(std::process::Command),
    Attach(std::path::PathBuf),
}

impl Target {
    async fn start(self, opts: &ExecOptions) -> Result<Running, String> {
        match self {
            Target::Exec(cmd) => Running::spawn(cmd, opts),
            Target::Attach(socket) => Running::attach(&socket, opts).await,
        }
    }
}

/// Runs a WebSocket session on an upgraded connection until the process exits.
pub async fn session<IO>(io: IO, target: Target, opts: ExecOptions, v5: bool)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(io);
    let wr = Arc::new(Mutex::new(wr));
    let mut running = match target.start(&opts).await {
        Ok(r) => r,
        Err(e) => return fail(&wr, &e).await,
    };
    let Some(mut out_rx) = running.out.take() else {
        return;
    };
    let in_tx = running.stdin.clone();
    let (resize_tx, mut resize_rx) = mpsc::channel::<Vec<u8>>(8);
    let reader_wr = wr.clone();
    let reader = tokio::spawn(async move {
        loop {
            match websocket::read_message(&mut rd, &reader_wr).await {
                Ok(Message::Binary(m)) | Ok(Message::Text(m)) if !m.is_empty() => match m[0] {
                    0 => {
                        let _ = in_tx.send(Some(m[1..].to_vec()));
                    }
                    4 => {
                        let _ = resize_tx.send(m[1..].to_vec()).await;
                    }
                    255 if v5 && m.get(1) == Some(&0) => {
                        let _ = in_tx.send(None);
                    }
                    _ => {}
                },
                Ok(Message::Binary(_)) | Ok(Message::Text(_)) => {}
                Ok(Message::Close) | Err(_) => {
                    let _ = in_tx.send(None);
                    return;
                }
            }
        }
    });
    let out_wr = wr.clone();
    let forward = tokio::spawn(async move {
        while let Some((ch, data)) = out_rx.recv().await {
            let mut w = out_wr.lock().await;
            if websocket::write_channel(&mut *w, ch, &data).await.is_err() {
                break;
            }
        }
    });
    let wait = running_wait_with_resize(running, &mut resize_rx);
    let code = wait.await;
    let _ = forward.await;
    reader.abort();
    let status = status_for(code, &opts.command).to_string();
    let mut w = wr.lock().await;
    let _ = websocket::write_channel(&mut *w, 3, status.as_bytes()).await;
    let _ = websocket::close(&mut *w).await;
    let _ = w.shutdown().await;
}

/// Waits for the process while applying resize events.
async fn running_wait_with_resize(
    running: Running,
    resize_rx: &mut mpsc::Receiver<Vec<u8>>,
) -> i32 {
    let resize = running.resizer();
    let wait = running.wait();
    tokio::pin!(wait);
    loop {
        tokio::select! {
            code = &mut wait => return code,
            Some(ev) = resize_rx.recv() => resize(&ev),
        }
    }
}

/// Runs a SPDY/3.1 session (kubectl ≤1.29, and the fallback): the client opens one stream
/// per channel (`streamtype` error, stdin, stdout, stderr, resize); each gets a reply; the
/// exit status goes to the error stream as a `Status`.
pub async fn spdy_session<IO>(io: IO, target: Target, opts: ExecOptions)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (session, mut incoming) = spdy::Session::server(io);
    let expected = 1
        + usize::from(opts.stdin)
        + usize::from(opts.stdout)
        + usize::from(opts.stderr && !opts.tty)
        + usize::from(opts.tty);
    let mut streams: std::collections::HashMap<String, spdy::Stream> = Default::default();
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(30));
    tokio::pin!(deadline);
    while streams.len() < expected {
        tokio::select! {
            s = incoming.recv() => {
                let Some(s) = s else { return };
                let kind = s.header("streamtype").unwrap_or("").to_string();
                let _ = s.reply(&[], false).await;
                streams.insert(kind, s);
            }
            _ = &mut deadline => {
                tracing::debug!("exec: not every SPDY stream arrived");
                break;
            }
        }
    }
    let Some(error) = streams.remove("error") else {
        return;
    };
    let mut running = match target.start(&opts).await {
        Ok(r) => r,
        Err(e) => {
            let status = serde_json::json!({"metadata": {}, "status": "Failure", "message": e, "reason": "InternalError"});
            let _ = error.send(status.to_string().as_bytes()).await;
            let _ = error.close().await;
            return;
        }
    };
    if let Some(mut stdin) = streams.remove("stdin") {
        let tx = running.stdin.clone();
        tokio::spawn(async move {
            while let Some(data) = stdin.recv().await {
                if tx.send(Some(data.to_vec())).is_err() {
                    return;
                }
            }
            let _ = tx.send(None);
        });
    }
    let (resize_tx, mut resize_rx) = mpsc::channel::<Vec<u8>>(8);
    if let Some(mut resize) = streams.remove("resize") {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Some(data) = resize.recv().await {
                buf.extend_from_slice(&data);
                while let Some(i) = buf.iter().position(|b| *b == b'\n' || *b == b'}') {
                    let ev: Vec<u8> = buf.drain(..=i).collect();
                    let _ = resize_tx.send(ev).await;
                }
            }
        });
    }
    let stdout = streams.remove("stdout");
    let stderr = streams.remove("stderr");
    let Some(mut out_rx) = running.out.take() else {
        return;
    };
    let forward = tokio::spawn(async move {
        while let Some((ch, data)) = out_rx.recv().await {
            let target = if ch == 2 {
                stderr.as_ref()
            } else {
                stdout.as_ref()
            };
            if let Some(s) = target {
                if s.send(&data).await.is_err() {
                    break;
                }
            }
        }
        for s in [stdout, stderr].into_iter().flatten() {
            let _ = s.close().await;
        }
    });
    let code = running_wait_with_resize(running, &mut resize_rx).await;
    let _ = forward.await;
    let _ = error
        .send(status_for(code, &opts.command).to_string().as_bytes())
        .await;
    let _ = error.close().await;
    // kubectl resets the streams and goes away; give it a moment, then hang up.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), session.closed()).await;
    let _ = session.shutdown().await;
}

fn pump(mut from: impl Read, channel: u8, tx: mpsc::Sender<(u8, Vec<u8>)>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.blocking_send((channel, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}

async fn fail<W: tokio::io::AsyncWrite + Unpin>(wr: &Arc<Mutex<W>>, message: &str) {
    let status =
        json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"});
    let mut w = wr.lock().await;
    let _ = websocket::write_channel(&mut *w, 3, status.to_string().as_bytes()).await;
    let _ = websocket::close(&mut *w).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_exit_code() {
        assert_eq!(status_for(0, &[])["status"], "Success");
        let s = status_for(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert!(s["message"]
            .as_str()
            .is_some_and(|m| m.contains("[sh -c exit 3], exit code 3")));
    }
}
