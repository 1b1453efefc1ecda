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

/// Runs the session on an upgraded connection until the process exits.
pub async fn session<IO>(io: IO, mut cmd: std::process::Command, opts: ExecOptions, v5: bool)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(io);
    let wr = Arc::new(Mutex::new(wr));
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Option<Vec<u8>>>();
    let mut pty_master: Option<OwnedFd> = None;

    let child = if opts.tty {
        let pty = match nix::pty::openpty(None, None) {
            Ok(p) => p,
            Err(e) => return fail(&wr, &format!("allocate a pty: {e}")).await,
        };
        let slave = pty.slave;
        let (s0, s1, s2) = match (slave.try_clone(), slave.try_clone(), slave.try_clone()) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            _ => return fail(&wr, "duplicate the pty").await,
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
        cmd.stdin(if opts.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(if opts.stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if opts.stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.spawn()
    };
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(&wr, &format!("start exec: {e}")).await,
    };

    // Output pumps (blocking reads on threads: pipes and ptys alike).
    let mut pumps = Vec::new();
    let mut stdin_sink: Option<Box<dyn Write + Send>> = None;
    if let Some(master) = &pty_master {
        if let Ok(m) = master.try_clone() {
            let tx = out_tx.clone();
            pumps.push(std::thread::spawn(move || {
                pump(std::fs::File::from(m), 1, tx)
            }));
        }
        if let Ok(m) = master.try_clone() {
            stdin_sink = Some(Box::new(std::fs::File::from(m)));
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
            stdin_sink = Some(Box::new(i));
        }
    }
    drop(out_tx);
    let writer = stdin_sink.map(|mut sink| {
        std::thread::spawn(move || {
            while let Ok(Some(data)) = in_rx.recv() {
                if sink.write_all(&data).and_then(|_| sink.flush()).is_err() {
                    break;
                }
            }
        })
    });

    // Client → process.
    let master_fd = pty_master.as_ref().map(|m| m.as_raw_fd());
    let reader_wr = wr.clone();
    let reader = tokio::spawn(async move {
        loop {
            match websocket::read_message(&mut rd, &reader_wr).await {
                Ok(Message::Binary(m)) | Ok(Message::Text(m)) if !m.is_empty() => match m[0] {
                    0 => {
                        let _ = in_tx.send(Some(m[1..].to_vec()));
                    }
                    4 => {
                        if let (Some(fd), Ok(v)) = (
                            master_fd,
                            serde_json::from_slice::<serde_json::Value>(&m[1..]),
                        ) {
                            let w = v["Width"].as_u64().unwrap_or(80) as u16;
                            let h = v["Height"].as_u64().unwrap_or(24) as u16;
                            set_winsize(fd, w, h);
                        }
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

    // Process → client, until every output stream ended.
    let out_wr = wr.clone();
    let forward = tokio::spawn(async move {
        while let Some((ch, data)) = out_rx.recv().await {
            let mut w = out_wr.lock().await;
            if websocket::write_channel(&mut *w, ch, &data).await.is_err() {
                break;
            }
        }
    });
    let code = tokio::task::spawn_blocking(move || child.wait())
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|s| {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        })
        .unwrap_or(255);
    // With a pty, the master never reports EOF while we hold it: drop it to end the pump.
    drop(pty_master);
    for p in pumps {
        let _ = tokio::task::spawn_blocking(move || p.join()).await;
    }
    let _ = forward.await;
    reader.abort();
    if let Some(w) = writer {
        drop(w);
    }
    let status = status_for(code, &opts.command).to_string();
    let mut w = wr.lock().await;
    let _ = websocket::write_channel(&mut *w, 3, status.as_bytes()).await;
    let _ = websocket::close(&mut *w).await;
    let _ = w.shutdown().await;
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
