//! The shim's side of the container's stdio: output into the CRI log and out to every
//! attached client, stdin and window sizes in from them (protocol: [`crate::attach`]).
//!
//! Plain threads, as the rest of the shim: one per output stream, one accepting clients, and
//! a reader and a writer per client. A writer drains a bounded queue, so a slow client never
//! holds up the container's output or the log.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;

use crate::attach;

/// Lines longer than this are split into partial (`P`) records, as containerd does.
const MAX_LINE: usize = 16 * 1024;

/// A client that takes longer than this to accept a write is dropped.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Frame = Arc<Vec<u8>>;

/// The container's stdio as the attached clients see it.
pub struct Hub {
    state: Mutex<State>,
    /// Where stdin goes: the pipe's write end, or the pty master; `None` once closed.
    stdin: Mutex<Option<File>>,
    /// The pty master (TTY containers), for resizes.
    tty: Option<File>,
    stdin_once: bool,
}

#[derive(Default)]
struct State {
    clients: Vec<(u64, SyncSender<Frame>)>,
    next_id: u64,
    /// Set when the container ended: later clients get only the exit frame.
    exit: Option<i32>,
    writers: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked thread leaves consistent data here (plain pushes and takes).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn new(stdin: Option<File>, tty: Option<File>, stdin_once: bool) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            stdin: Mutex::new(stdin),
            tty,
            stdin_once,
        })
    }

    /// Accepts clients on `listener` for as long as the shim lives.
    pub fn serve(self: &Arc<Self>, listener: UnixListener) {
        let hub = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => hub.add(s),
                    Err(e) => tracing::warn!("accept attach client: {e}"),
                }
            }
        });
    }

    fn add(self: &Arc<Self>, stream: UnixStream) {
        let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        let (reader, mut writer) = match stream.try_clone() {
            Ok(r) => (r, stream),
            Err(e) => {
                tracing::warn!("clone attach connection: {e}");
                return;
            }
        };
        let mut st = lock(&self.state);
        if let Some(code) = st.exit {
            drop(st);
            let _ = writer.write_all(&attach::encode(attach::EXIT, &code.to_be_bytes()));
            return;
        }
        let (tx, rx) = sync_channel::<Frame>(attach::CLIENT_BACKLOG);
        let id = st.next_id;
        st.next_id += 1;
        st.clients.push((id, tx));
        st.writers.push(std::thread::spawn(move || {
            for frame in rx {
                if writer.write_all(&frame).is_err() {
                    break;
                }
            }
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }));
        drop(st);
        let hub = self.clone();
        std::thread::spawn(move || hub.read_client(id, reader));
    }

    /// Handles one client's input until it disconnects.
    fn read_client(&self, id: u64, mut conn: UnixStream) {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let mut chunk = vec![0u8; 32 * 1024];
        // Whether this client attached stdin, and whether it already said it is done.
        let (mut uses_stdin, mut stdin_ended) = (false, false);
        'conn: loop {
            loop {
                match attach::decode(&mut buf) {
                    Ok(Some((attach::STDIN, data))) => {
                        uses_stdin = true;
                        if !data.is_empty() && !stdin_ended {
                            self.write_stdin(&data);
                        }
                    }
                    Ok(Some((attach::CLOSE_STDIN, _))) => {
                        uses_stdin = true;
                        if !stdin_ended {
                            stdin_ended = true;
                            self.client_stdin_done();
                        }
                    }
                    Ok(Some((attach::RESIZE, p))) => match attach::parse_resize(&p) {
                        Some((cols, rows)) => self.resize(cols, rows),
                        None => tracing::warn!("bad resize frame from attach client"),
                    },
                    Ok(Some((other, _))) => {
                        tracing::warn!(kind = other, "unknown frame from attach client");
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("attach client: {e}");
                        break 'conn;
                    }
                }
            }
            match conn.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if uses_stdin && !stdin_ended {
            self.client_stdin_done();
        }
        // Dropping the sender lets the writer finish what is queued and close.
        lock(&self.state).clients.retain(|(c, _)| *c != id);
    }

    fn write_stdin(&self, data: &[u8]) {
        let mut stdin = lock(&self.stdin);
        if let Some(f) = stdin.as_mut() {
            if let Err(e) = f.write_all(data) {
                // The container closed its stdin (or ended): nothing more can go in.
                tracing::warn!("write container stdin: {e}");
                *stdin = None;
            }
        }
    }

    /// A client that attached stdin is done with it: with `stdin_once` the container's
    /// stdin closes for good.
    fn client_stdin_done(&self) {
        if !self.stdin_once {
            return;
        }
        let mut stdin = lock(&self.stdin);
        if let (Some(f), Some(_)) = (stdin.as_mut(), &self.tty) {
            // A terminal has no EOF of its own: its EOF character ends a read.
            let veof = nix::sys::termios::tcgetattr(&*f)
                .map(|t| t.control_chars[nix::sys::termios::SpecialCharacterIndices::VEOF as usize])
                .unwrap_or(4);
            let _ = f.write_all(&[veof]);
        }
        *stdin = None;
    }

    fn resize(&self, cols: u16, rows: u16) {
        let Some(tty) = &self.tty else { return };
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; the fd is ours.
        if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            tracing::warn!("resize terminal: {}", std::io::Error::last_os_error());
        }
    }

    /// Sends output to every client; one that is too far behind is dropped.
    fn broadcast(&self, kind: u8, data: &[u8]) {
        let mut st = lock(&self.state);
        if st.clients.is_empty() {
            return;
        }
        let frame: Frame = Arc::new(attach::encode(kind, data));
        st.clients
            .retain(|(id, tx)| match tx.try_send(frame.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(client = id, "attach client too slow; disconnecting it");
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// The container ended: every client gets the exit frame and is closed. Returns once
    /// the writers are done (each is bounded by the write timeout).
    pub fn finish(&self, exit_code: i32) {
        let writers = {
            let mut st = lock(&self.state);
            st.exit = Some(exit_code);
            let frame: Frame = Arc::new(attach::encode(attach::EXIT, &exit_code.to_be_bytes()));
            for (_, tx) in st.clients.drain(..) {
                let _ = tx.try_send(frame.clone());
            }
            std::mem::take(&mut st.writers)
        };
        for w in writers {
            let _ = w.join();
        }
    }
}

/// Copies one output stream into the log as CRI records (`<time> <stream> F|P <text>`) and
/// to the attached clients as it comes.
pub fn pump(mut from: File, kind: u8, log: &Mutex<File>, hub: &Hub) {
    let stream = if kind == attach::STDERR {
        "stderr"
    } else {
        "stdout"
    };
    let mut buf = vec![0u8; 32 * 1024];
    let mut line: Vec<u8> = Vec::new();
    let emit = |line: &[u8], tag: &str| {
        let mut rec = format!("{} {stream} {tag} ", crate::now_rfc3339()).into_bytes();
        rec.extend_from_slice(line);
        rec.push(b'\n');
        let _ = lock(log).write_all(&rec);
    };
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A pty master reports EIO once the last terminal user is gone.
            Err(_) => break,
        };
        hub.broadcast(kind, &buf[..n]);
        line.extend_from_slice(&buf[..n]);
        split_records(&mut line, &mut |text, partial| {
            emit(text, if partial { "P" } else { "F" })
        });
    }
    if !line.is_empty() {
        emit(&line, "F");
    }
}

/// Takes every complete record off the front of `line`: a line ended by "\n" (or "\r\n",
/// as a terminal writes it) is a full record; a line longer than [`MAX_LINE`] yields partial
/// records of `MAX_LINE` bytes first — containerd's split (`max_container_log_line_size`).
/// What is left is an unfinished line of at most `MAX_LINE` bytes.
fn split_records(line: &mut Vec<u8>, emit: &mut impl FnMut(&[u8], bool)) {
    let mut start = 0;
    loop {
        let rest = &line[start..];
        let window = &rest[..rest.len().min(MAX_LINE + 1)];
        if let Some(pos) = window.iter().position(|&b| b == b'\n') {
            let end = if pos > 0 && rest[pos - 1] == b'\r' {
                pos - 1
            } else {
                pos
            };
            emit(&rest[..end], false);
            start += pos + 1;
        } else if rest.len() > MAX_LINE {
            emit(&rest[..MAX_LINE], true);
            start += MAX_LINE;
        } else {
            break;
        }
    }
    line.drain(..start);
}

/// Binds a listening Unix socket at `path` (replacing a stale one), however long the path.
pub fn listen(path: &std::path::Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let (_dir, addr) = attach::socket_address(path)?;
    UnixListener::bind(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (Vec<(Vec<u8>, bool)>, Vec<u8>) {
        let (mut out, mut line) = (Vec::new(), Vec::new());
        for c in chunks {
            line.extend_from_slice(c);
            split_records(&mut line, &mut |t, p| out.push((t.to_vec(), p)));
        }
        (out, line)
    }

    #[test]
    fn long_lines_become_partial_records_even_when_the_newline_comes_in_the_same_read() {
        let text: Vec<u8> = (0..40 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        // All at once, and in reads that do not line up with the record size.
        let mut whole = text.clone();
        whole.push(b'\n');
        let (a, rest_a) = split(&[&whole]);
        let (b, rest_b) = split(&[&text[..20_000], &text[20_000..], b"\n"]);
        for (recs, rest) in [(a, rest_a), (b, rest_b)] {
            assert!(rest.is_empty());
            let tags: Vec<bool> = recs.iter().map(|r| r.1).collect();
            assert_eq!(tags, [true, true, false]);
            assert_eq!(recs[0].0.len(), MAX_LINE);
            assert_eq!(recs[1].0.len(), MAX_LINE);
            let joined: Vec<u8> = recs.iter().flat_map(|r| r.0.clone()).collect();
            assert_eq!(joined, text);
        }
    }

    #[test]
    fn line_ends_and_the_exact_limit() {
        let (recs, rest) = split(&[b"one\r\ntwo\n\nthr", b"ee"]);
        assert_eq!(
            recs,
            [
                (b"one".to_vec(), false),
                (b"two".to_vec(), false),
                (Vec::new(), false)
            ]
        );
        assert_eq!(rest, b"three");
        // Exactly the limit is still one full record, one more byte is not.
        let mut exact = vec![b'x'; MAX_LINE];
        exact.push(b'\n');
        let (recs, _) = split(&[&exact]);
        assert_eq!(recs.len(), 1);
        assert!(!recs[0].1);
        let mut over = vec![b'x'; MAX_LINE + 1];
        over.push(b'\n');
        let (recs, _) = split(&[&over]);
        let lens: Vec<(usize, bool)> = recs.iter().map(|r| (r.0.len(), r.1)).collect();
        assert_eq!(lens, [(MAX_LINE, true), (1, false)]);
    }
}
