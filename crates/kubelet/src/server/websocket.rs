//! The server side of RFC 6455 as far as the Kubernetes stream protocols need it: the
//! handshake's accept key, binary frames out (unmasked), frames in (masked, possibly
//! fragmented), ping/pong and close.

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A message from the client.
#[derive(Debug, PartialEq)]
pub enum Message {
    Binary(Vec<u8>),
    Text(Vec<u8>),
    Close,
}

/// Largest message accepted from a client (stdin chunks and resize events are small).
const MAX_MESSAGE: usize = 16 << 20;

/// Reads the next data or close message, answering pings on `w`.
pub async fn read_message<R, W>(r: &mut R, w: &tokio::sync::Mutex<W>) -> std::io::Result<Message>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut data = Vec::new();
    let mut kind = 0u8;
    loop {
        let mut h = [0u8; 2];
        r.read_exact(&mut h).await?;
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let mut len = (h[1] & 0x7f) as u64;
        if len == 126 {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await?;
            len = u16::from_be_bytes(b) as u64;
        } else if len == 127 {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await?;
            len = u64::from_be_bytes(b);
        }
        if len as usize > MAX_MESSAGE || data.len() + len as usize > MAX_MESSAGE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "websocket message too large",
            ));
        }
        let mut mask = [0u8; 4];
        if masked {
            r.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload).await?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        match opcode {
            0x8 => return Ok(Message::Close),
            0x9 => {
                let mut w = w.lock().await;
                write_frame(&mut *w, 0xA, &payload).await?;
                continue;
            }
            0xA => continue,
            0x0 => data.extend_from_slice(&payload),
            op => {
                kind = op;
                data = payload;
            }
        }
        if fin {
            return Ok(if kind == 0x1 {
                Message::Text(data)
            } else {
                Message::Binary(data)
            });
        }
    }
}

/// Writes one unmasked frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut head = vec![0x80 | opcode];
    let len = payload.len();
    if len < 126 {
        head.push(len as u8);
    } else if len <= u16::MAX as usize {
        head.push(126);
        head.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        head.push(127);
        head.extend_from_slice(&(len as u64).to_be_bytes());
    }
    w.write_all(&head).await?;
    w.write_all(payload).await?;
    w.flush().await
}

/// A binary message on a Kubernetes stream channel.
pub async fn write_channel<W: AsyncWrite + Unpin>(
    w: &mut W,
    channel: u8,
    data: &[u8],
) -> std::io::Result<()> {
    let mut msg = Vec::with_capacity(data.len() + 1);
    msg.push(channel);
    msg.extend_from_slice(data);
    write_frame(w, 0x2, &msg).await
}

/// A normal close (1000).
pub async fn close<W: AsyncWrite + Unpin>(w: &mut W) -> std::io::Result<()> {
    write_frame(w, 0x8, &1000u16.to_be_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn masked_fragmented_messages_are_joined() {
        let mask = [1u8, 2, 3, 4];
        let enc = |fin: bool, op: u8, p: &[u8]| {
            let mut f = vec![if fin { 0x80 | op } else { op }, 0x80 | p.len() as u8];
            f.extend_from_slice(&mask);
            f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            f
        };
        let mut wire = enc(false, 2, b"\x00hel");
        wire.extend(enc(true, 0, b"lo"));
        wire.extend(enc(true, 8, b""));
        let sink = tokio::sync::Mutex::new(Vec::<u8>::new());
        let mut r = &wire[..];
        assert_eq!(
            read_message(&mut r, &sink).await.expect("msg"),
            Message::Binary(b"\x00hello".to_vec())
        );
        assert_eq!(
            read_message(&mut r, &sink).await.expect("close"),
            Message::Close
        );
    }
}
