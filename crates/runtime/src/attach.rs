//! Attaching to a running container: the shim's `attach.sock` and a client for it.
//!
//! Every shim listens on a Unix stream socket in its container directory
//! ([`crate::RuntimeService::attach_socket`]). Any number of clients may be connected at
//! once; each receives the container's output from the moment it connects (fanned out; the
//! CRI log is written as before) and may send stdin and window sizes.
//!
//! # Wire protocol
//!
//! Both directions carry frames: one type byte, a big-endian `u32` payload length, then the
//! payload (at most [`MAX_FRAME`] bytes).
//!
//! | type | direction      | payload                                                    |
//! |------|----------------|------------------------------------------------------------|
//! | 0    | client → shim  | stdin bytes; an empty one only says "this client attaches stdin" |
//! | 1    | shim → client  | stdout bytes (with a TTY: the raw terminal stream)         |
//! | 2    | shim → client  | stderr bytes (never with a TTY)                            |
//! | 3    | shim → client  | the container exited: `i32` exit code, big-endian; then EOF |
//! | 4    | client → shim  | this client's stdin ended (empty)                          |
//! | 5    | client → shim  | window size: `u16` columns, `u16` rows, big-endian         |
//!
//! Stdin frames are dropped unless the container was created with `stdin: true`. A client
//! *uses stdin* once it sends a type 0 or 4 frame. With `stdin_once`, the container's stdin
//! is closed when such a client sends type 4 or disconnects, and stays closed: a pipe gets
//! EOF; a terminal gets its EOF character (^D) and no further input. Without `stdin_once`
//! the container's stdin stays open for the next client. Resizes apply only to TTY
//! containers (`TIOCSWINSZ` on the pty master, which signals SIGWINCH inside). Closing the
//! connection detaches; a client that only wants to stop sending sends type 4 instead.
//! A client too slow to take output (over [`CLIENT_BACKLOG`] chunks behind) is disconnected
//! rather than slowing the container down.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Frame types (see the module documentation).
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const CLOSE_STDIN: u8 = 4;
pub const RESIZE: u8 = 5;

/// The largest payload either side accepts.
pub const MAX_FRAME: usize = 1 << 20;
/// Output chunks queued for one client before the shim gives up on it.
pub const CLIENT_BACKLOG: usize = 1024;
/// Frame header: type and length.
pub const HEADER: usize = 5;

/// The socket's file name in the container directory.
pub const SOCKET_NAME: &str = "attach.sock";

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("connect to attach socket {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("attach protocol: {0}")]
    Protocol(String),
}

/// What the container sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
    /// The container ended with this exit code; nothing follows.
    Exit(i32),
}

/// One frame as bytes.
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + payload.len());
    b.push(kind);
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// Splits a complete frame off the front of `buf`, if there is one.
pub fn decode(buf: &mut BytesMut) -> Result<Option<(u8, Bytes)>, AttachError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_FRAME {
        return Err(AttachError::Protocol(format!(
            "frame of {len} bytes (max {MAX_FRAME})"
        )));
    }
    if buf.len() < HEADER + len {
        buf.reserve(HEADER + len - buf.len());
        return Ok(None);
    }
    let kind = buf.get_u8();
    buf.advance(4);
    Ok(Some((kind, buf.split_to(len).freeze())))
}

/// The payload of a resize frame.
pub fn resize_payload(cols: u16, rows: u16) -> [u8; 4] {
    let mut p = [0u8; 4];
    p[..2].copy_from_slice(&cols.to_be_bytes());
    p[2..].copy_from_slice(&rows.to_be_bytes());
    p
}

/// `(cols, rows)` from a resize payload.
pub fn parse_resize(p: &[u8]) -> Option<(u16, u16)> {
    match p {
        [c0, c1, r0, r1] => Some((
            u16::from_be_bytes([*c0, *c1]),
            u16::from_be_bytes([*r0, *r1]),
        )),
        _ => None,
    }
}

/// A path the kernel accepts as a socket address (`sun_path` holds 107 bytes): `path` itself
/// when short, else `/proc/self/fd/<dir>/<name>` through the returned directory handle,
/// which must stay open until the bind or connect is done.
pub fn socket_address(path: &Path) -> io::Result<(Option<std::fs::File>, PathBuf)> {
    if path.as_os_str().len() < 100 {
        return Ok((None, path.to_path_buf()));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path has no directory",
        ));
    };
    let d = std::fs::File::open(dir)?;
    let short = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&d)
    ))
    .join(name);
    Ok((Some(d), short))
}

/// A connection to a container's attach socket.
pub struct AttachClient {
    reader: AttachReader,
    writer: AttachWriter,
}

impl AttachClient {
    /// Connects to `socket`; with `stdin`, this client attaches the container's stdin at once
    /// (what `stdin_once` counts), even before it sends any data.
    pub async fn connect(socket: &Path, stdin: bool) -> Result<AttachClient, AttachError> {
        let connect_err = |source| AttachError::Connect {
            path: socket.to_path_buf(),
            source,
        };
        let (_dir, addr) = socket_address(socket).map_err(connect_err)?;
        let stream = UnixStream::connect(&addr).await.map_err(connect_err)?;
        let (r, w) = stream.into_split();
        let mut client = AttachClient {
            reader: AttachReader {
                stream: r,
                buf: BytesMut::with_capacity(16 * 1024),
                done: false,
            },
            writer: AttachWriter { stream: w },
        };
        if stdin {
            client.writer.write_stdin(&[]).await?;
        }
        tracing::debug!(socket = %socket.display(), stdin, "attached");
        Ok(client)
    }

    /// The halves, to read output and send input concurrently.
    pub fn split(self) -> (AttachReader, AttachWriter) {
        (self.reader, self.writer)
    }

    pub async fn read(&mut self) -> Result<Option<Output>, AttachError> {
        self.reader.read().await
    }
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), AttachError> {
        self.writer.write_stdin(data).await
    }
    pub async fn close_stdin(&mut self) -> Result<(), AttachError> {
        self.writer.close_stdin().await
    }
    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), AttachError> {
        self.writer.resize(cols, rows).await
    }
}

/// The receiving half of an [`AttachClient`].
pub struct AttachReader {
    stream: OwnedReadHalf,
    buf: BytesMut,
    done: bool,
}

impl AttachReader {
    /// The next piece of output; `None` once the shim closed the connection (after
    /// [`Output::Exit`], or when the shim went away).
    pub async fn read(&mut self) -> Result<Option<Output>, AttachError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some((kind, payload)) = decode(&mut self.buf)? {
                match kind {
                    STDOUT => return Ok(Some(Output::Stdout(payload))),
                    STDERR => return Ok(Some(Output::Stderr(payload))),
                    EXIT => {
                        let code = match payload[..] {
                            [a, b, c, d] => i32::from_be_bytes([a, b, c, d]),
                            _ => return Err(AttachError::Protocol("bad exit frame".into())),
                        };
                        self.done = true;
                        return Ok(Some(Output::Exit(code)));
                    }
                    other => {
                        return Err(AttachError::Protocol(format!(
                            "unexpected frame type {other} from the shim"
                        )))
                    }
                }
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|source| AttachError::Io {
                    what: "read from attach socket",
                    source,
                })?;
            if n == 0 {
                if !self.buf.is_empty() {
                    return Err(AttachError::Protocol("connection closed mid-frame".into()));
                }
                self.done = true;
            }
        }
    }
}

/// The sending half of an [`AttachClient`].
pub struct AttachWriter {
    stream: OwnedWriteHalf,
}

impl AttachWriter {
    async fn send(&mut self, kind: u8, payload: &[u8]) -> Result<(), AttachError> {
        let mut b = BytesMut::with_capacity(HEADER + payload.len());
        b.put_u8(kind);
        b.put_u32(payload.len() as u32);
        b.put_slice(payload);
        self.stream
            .write_all(&b)
            .await
            .map_err(|source| AttachError::Io {
                what: "write to attach socket",
                source,
            })
    }

    /// Sends stdin data (split into frames of at most [`MAX_FRAME`] bytes).
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), AttachError> {
        if data.is_empty() {
            return self.send(STDIN, &[]).await;
        }
        for chunk in data.chunks(MAX_FRAME) {
            self.send(STDIN, chunk).await?;
        }
        Ok(())
    }

    /// Says this client's stdin ended (closes the container's stdin with `stdin_once`).
    pub async fn close_stdin(&mut self) -> Result<(), AttachError> {
        self.send(CLOSE_STDIN, &[]).await
    }

    /// Sets the terminal's size (TTY containers).
    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), AttachError> {
        self.send(RESIZE, &resize_payload(cols, rows)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_all_bytes() {
        let mut buf = BytesMut::new();
        let f = encode(STDOUT, b"hello");
        buf.extend_from_slice(&f[..3]);
        assert!(matches!(decode(&mut buf), Ok(None)));
        buf.extend_from_slice(&f[3..]);
        buf.extend_from_slice(&encode(RESIZE, &resize_payload(120, 40)));
        let (k, p) = decode(&mut buf).ok().flatten().unwrap_or_default();
        assert_eq!((k, &p[..]), (STDOUT, &b"hello"[..]));
        let (k, p) = decode(&mut buf).ok().flatten().unwrap_or_default();
        assert_eq!((k, parse_resize(&p)), (RESIZE, Some((120, 40))));
        assert!(buf.is_empty());
        let mut big = BytesMut::from(&[STDIN, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(decode(&mut big).is_err());
    }

    #[test]
    fn long_socket_paths_go_through_proc() {
        let long = PathBuf::from("/tmp")
            .join("x".repeat(120))
            .join(SOCKET_NAME);
        assert!(socket_address(&long).is_err(), "directory does not exist");
        let (dir, short) = socket_address(Path::new("/tmp/attach.sock")).unwrap_or_default();
        assert!(dir.is_none());
        assert_eq!(short, Path::new("/tmp/attach.sock"));
        let (dir, short) =
            socket_address(&Path::new("/tmp").join("y".repeat(110))).unwrap_or_default();
        assert!(dir.is_some() && short.starts_with("/proc/self/fd"));
    }
}
