//! SPDY/3 frame layouts: parsing and serialisation, without any I/O.
//!
//! Every frame starts with 8 bytes. Control frames: `1 | version:15 | type:16`
//! then `flags:8 | length:24`. Data frames: `0 | stream-id:31` then
//! `flags:8 | length:24`. The 24-bit length bounds every payload at 16 MiB.

use bytes::{BufMut, Bytes, BytesMut};

use crate::headers::{decode_block, HeaderDecoder, HeaderEncoder, Headers};
use crate::Error;

/// Protocol version carried in every control frame.
pub const VERSION: u16 = 3;
/// Frame header size.
pub const HEAD_LEN: usize = 8;
/// Largest payload the 24-bit length field can describe.
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

/// FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS: sender is done.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM: the recipient must not send on it.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// Control frame type numbers.
pub mod kind {
    pub const SYN_STREAM: u16 = 1;
    pub const SYN_REPLY: u16 = 2;
    pub const RST_STREAM: u16 = 3;
    pub const SETTINGS: u16 = 4;
    pub const PING: u16 = 6;
    pub const GOAWAY: u16 = 7;
    pub const HEADERS: u16 = 8;
    pub const WINDOW_UPDATE: u16 = 9;
}

/// RST_STREAM status codes.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const UNSUPPORTED_VERSION: u32 = 4;
    /// What kubectl sends for each stream when it is done with a session.
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
    pub const STREAM_ALREADY_CLOSED: u32 = 9;
    pub const FRAME_TOO_LARGE: u32 = 11;
}

/// GOAWAY status codes.
pub mod goaway {
    pub const OK: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INTERNAL_ERROR: u32 = 2;
}

/// SETTINGS id for the initial per-stream window (the only one we act on).
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;

/// The decoded 8-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    Control {
        version: u16,
        kind: u16,
        flags: u8,
        len: usize,
    },
    Data {
        stream_id: u32,
        flags: u8,
        len: usize,
    },
}

impl Head {
    /// Parses the fixed header; every bit pattern is a valid header.
    pub fn parse(b: [u8; HEAD_LEN]) -> Head {
        let flags = b[4];
        let len = u32::from_be_bytes([0, b[5], b[6], b[7]]) as usize;
        if b[0] & 0x80 != 0 {
            Head::Control {
                version: u16::from_be_bytes([b[0] & 0x7f, b[1]]),
                kind: u16::from_be_bytes([b[2], b[3]]),
                flags,
                len,
            }
        } else {
            Head::Data {
                stream_id: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                flags,
                len,
            }
        }
    }

    /// Payload length that follows the header.
    pub fn len(&self) -> usize {
        match *self {
            Head::Control { len, .. } | Head::Data { len, .. } => len,
        }
    }

    /// True for a frame without payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed frame. Header blocks are already inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        assoc_id: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// `(flags, id, value)` triples; flags are informational only.
    Settings {
        flags: u8,
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// Unknown control types must be ignored (spec 2.2.1), not treated as errors.
    Unknown {
        kind: u16,
    },
}

fn u32_at(p: &[u8], at: usize) -> Result<u32, Error> {
    p.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or(Error::Protocol("control frame too short"))
}

/// Stream ids and window deltas are 31 bits; the top bit is reserved.
fn id_at(p: &[u8], at: usize) -> Result<u32, Error> {
    Ok(u32_at(p, at)? & 0x7fff_ffff)
}

/// Decodes one frame. The header decoder is always run for header-carrying
/// frames so the shared zlib state stays in step with the peer.
pub fn decode(head: Head, payload: Bytes, dec: &mut HeaderDecoder) -> Result<Frame, Error> {
    let (version, kind, flags) = match head {
        Head::Data {
            stream_id, flags, ..
        } => {
            if stream_id == 0 {
                return Err(Error::Protocol("DATA on stream 0"));
            }
            return Ok(Frame::Data {
                stream_id,
                flags,
                data: payload,
            });
        }
        Head::Control {
            version,
            kind,
            flags,
            ..
        } => (version, kind, flags),
    };
    if version != VERSION {
        return Err(Error::Protocol("unsupported SPDY version"));
    }
    let p = &payload[..];
    let mut headers_at = |offset: usize| -> Result<Headers, Error> {
        let z = p
            .get(offset..)
            .ok_or(Error::Protocol("control frame too short"))?;
        decode_block(&dec.decompress(z)?)
    };
    Ok(match kind {
        kind::SYN_STREAM => {
            let stream_id = id_at(p, 0)?;
            let assoc_id = id_at(p, 4)?;
            let priority = p.get(8).copied().unwrap_or(0) >> 5;
            let headers = headers_at(10)?;
            Frame::SynStream {
                stream_id,
                assoc_id,
                priority,
                flags,
                headers,
            }
        }
        kind::SYN_REPLY | kind::HEADERS => {
            let stream_id = id_at(p, 0)?;
            let headers = headers_at(4)?;
            if kind == kind::SYN_REPLY {
                Frame::SynReply {
                    stream_id,
                    flags,
                    headers,
                }
            } else {
                Frame::Headers {
                    stream_id,
                    flags,
                    headers,
                }
            }
        }
        kind::RST_STREAM => Frame::RstStream {
            stream_id: id_at(p, 0)?,
            status: u32_at(p, 4)?,
        },
        kind::SETTINGS => {
            let n = u32_at(p, 0)? as usize;
            if n > (p.len() - 4) / 8 {
                return Err(Error::Protocol("SETTINGS count exceeds frame"));
            }
            let mut entries = Vec::with_capacity(n);
            for i in 0..n {
                let fid = u32_at(p, 4 + i * 8)?;
                let value = u32_at(p, 8 + i * 8)?;
                entries.push(((fid >> 24) as u8, fid & 0x00ff_ffff, value));
            }
            Frame::Settings { flags, entries }
        }
        kind::PING => Frame::Ping { id: u32_at(p, 0)? },
        kind::GOAWAY => Frame::GoAway {
            last_good: id_at(p, 0)?,
            // SPDY/3 added the status; tolerate the 4-byte SPDY/2-style body.
            status: u32_at(p, 4).unwrap_or(goaway::OK),
        },
        kind::WINDOW_UPDATE => Frame::WindowUpdate {
            stream_id: id_at(p, 0)?,
            delta: id_at(p, 4)?,
        },
        other => Frame::Unknown { kind: other },
    })
}

fn put_control(out: &mut BytesMut, kind: u16, flags: u8, len: usize) -> Result<(), Error> {
    if len > MAX_PAYLOAD {
        return Err(Error::Protocol("frame payload too large"));
    }
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32(((flags as u32) << 24) | len as u32);
    Ok(())
}

/// Serialises one frame, compressing header blocks with the session encoder.
pub fn encode(frame: &Frame, enc: &mut HeaderEncoder, out: &mut BytesMut) -> Result<(), Error> {
    let block = |enc: &mut HeaderEncoder, h: &Headers| {
        let pairs: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        enc.compress(&crate::headers::encode_block(&pairs))
    };
    match frame {
        Frame::SynStream {
            stream_id,
            assoc_id,
            priority,
            flags,
            headers,
        } => {
            let z = block(enc, headers)?;
            put_control(out, kind::SYN_STREAM, *flags, 10 + z.len())?;
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(assoc_id & 0x7fff_ffff);
            out.put_u8((priority & 7) << 5);
            out.put_u8(0); // credential slot: unused
            out.put_slice(&z);
        }
        Frame::SynReply {
            stream_id,
            flags,
            headers,
        }
        | Frame::Headers {
            stream_id,
            flags,
            headers,
        } => {
            let k = if matches!(frame, Frame::SynReply { .. }) {
                kind::SYN_REPLY
            } else {
                kind::HEADERS
            };
            let z = block(enc, headers)?;
            put_control(out, k, *flags, 4 + z.len())?;
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_slice(&z);
        }
        Frame::RstStream { stream_id, status } => {
            put_control(out, kind::RST_STREAM, 0, 8)?;
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(*status);
        }
        Frame::Settings { flags, entries } => {
            put_control(out, kind::SETTINGS, *flags, 4 + 8 * entries.len())?;
            out.put_u32(entries.len() as u32);
            for (f, id, value) in entries {
                out.put_u32(((*f as u32) << 24) | (id & 0x00ff_ffff));
                out.put_u32(*value);
            }
        }
        Frame::Ping { id } => {
            put_control(out, kind::PING, 0, 4)?;
            out.put_u32(*id);
        }
        Frame::GoAway { last_good, status } => {
            put_control(out, kind::GOAWAY, 0, 8)?;
            out.put_u32(last_good & 0x7fff_ffff);
            out.put_u32(*status);
        }
        Frame::WindowUpdate { stream_id, delta } => {
            put_control(out, kind::WINDOW_UPDATE, 0, 8)?;
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(delta & 0x7fff_ffff);
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            if data.len() > MAX_PAYLOAD {
                return Err(Error::Protocol("frame payload too large"));
            }
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(((*flags as u32) << 24) | data.len() as u32);
            out.put_slice(data);
        }
        Frame::Unknown { .. } => return Err(Error::Protocol("cannot encode unknown frame")),
    }
    Ok(())
}
