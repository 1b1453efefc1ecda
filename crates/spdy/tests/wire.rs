//! Byte-level tests: frames built by hand from the spec, and fixtures made by
//! an independent zlib (CPython's, i.e. C zlib 1.2.13), fed to a real server.

use std::time::Duration;

use spdy::frame::{self, Frame, Head};
use spdy::headers::{encode_block, HeaderDecoder};
use spdy::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Wraps a raw block in a zlib stream by hand: header `78 bb` (deflate, 32K
/// window, FDICT), the dictionary's adler32, then one *stored* deflate block
/// ending on a byte boundary — exactly what a sync flush leaves behind.
fn stored_zlib(first: bool, raw: &[u8]) -> Vec<u8> {
    let mut z = Vec::new();
    if first {
        z.extend_from_slice(&[0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2]);
    }
    z.push(0x00); // BFINAL=0, BTYPE=00 (stored), padding
    let len = raw.len() as u16;
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(raw);
    z
}

/// SYN_STREAM: `80 03 00 01 | flags | len24 | id | assoc | pri<<5 | slot | block`.
fn syn_stream(id: u32, flags: u8, zblock: &[u8]) -> Vec<u8> {
    let len = 10 + zblock.len() as u32;
    let mut f = vec![0x80, 0x03, 0x00, 0x01, flags];
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x00, 0x00]);
    f.extend_from_slice(zblock);
    f
}

async fn read_raw(io: &mut DuplexStream, dec: &mut HeaderDecoder) -> Frame {
    let mut head = [0u8; 8];
    io.read_exact(&mut head).await.unwrap();
    let head = Head::parse(head);
    let mut payload = vec![0u8; head.len()];
    io.read_exact(&mut payload).await.unwrap();
    frame::decode(head, payload.into(), dec).unwrap()
}

#[test]
fn parses_hand_built_syn_stream() {
    // Uncompressed block written out byte by byte from the spec's layout.
    let raw: Vec<u8> = [
        &[0, 0, 0, 2][..],
        &[0, 0, 0, 10],
        b"streamtype",
        &[0, 0, 0, 6],
        b"stdout",
        &[0, 0, 0, 4],
        b"port",
        &[0, 0, 0, 9],
        b"3000\x003001",
    ]
    .concat();
    let bytes = syn_stream(3, frame::FLAG_FIN, &stored_zlib(true, &raw));
    assert_eq!(&bytes[..4], &[0x80, 0x03, 0x00, 0x01]);
    let head = Head::parse(bytes[..8].try_into().unwrap());
    assert_eq!(
        head,
        Head::Control {
            version: 3,
            kind: 1,
            flags: 1,
            len: bytes.len() - 8
        }
    );
    let mut dec = HeaderDecoder::new();
    let f = frame::decode(head, bytes[8..].to_vec().into(), &mut dec).unwrap();
    let Frame::SynStream {
        stream_id,
        assoc_id,
        priority,
        flags,
        headers,
    } = f
    else {
        panic!("not a SYN_STREAM: {f:?}");
    };
    assert_eq!((stream_id, assoc_id, priority, flags), (3, 0, 0, 1));
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        h,
        [("streamtype", "stdout"), ("port", "3000"), ("port", "3001")]
    );
}

#[test]
fn encodes_control_frames_per_spec() {
    let mut enc = spdy::headers::HeaderEncoder::new().unwrap();
    let mut out = bytes::BytesMut::new();
    frame::encode(
        &Frame::RstStream {
            stream_id: 5,
            status: 5,
        },
        &mut enc,
        &mut out,
    )
    .unwrap();
    frame::encode(&Frame::Ping { id: 2 }, &mut enc, &mut out).unwrap();
    frame::encode(
        &Frame::WindowUpdate {
            stream_id: 0,
            delta: 0x8000,
        },
        &mut enc,
        &mut out,
    )
    .unwrap();
    frame::encode(
        &Frame::Data {
            stream_id: 1,
            flags: 1,
            data: bytes::Bytes::from_static(b"hi"),
        },
        &mut enc,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        &out[..],
        hex(concat!(
            "8003000300000008",
            "00000005",
            "00000005", // RST_STREAM CANCEL
            "8003000600000004",
            "00000002", // PING 2
            "8003000900000008",
            "00000000",
            "00008000", // session WINDOW_UPDATE
            "0000000101000002",
            "6869", // DATA FIN "hi"
        ))
    );
}

/// kubectl's port-forward pair of SYN_STREAMs, compressed by C zlib with the
/// dictionary; the second block is 12 bytes because it leans on the first.
#[tokio::test]
async fn server_accepts_foreign_zlib_and_replies() {
    let z1 = hex(concat!(
        "78f9e3c6a7c202253a48f95b044eeac0b46300a4398b20f195094ac78c06e094",
        "5852949a980b2d6c5853415101000000ffff"
    ));
    let z2 = hex("225333a8a44a04000000ffff");
    let (mut peer, io) = tokio::io::duplex(64 * 1024);
    let (_server, mut accept) = Session::server(io);
    peer.write_all(&syn_stream(1, frame::FLAG_FIN, &z1))
        .await
        .unwrap();
    peer.write_all(&syn_stream(3, 0, &z2)).await.unwrap();
    // A third block, hand-made (stored), continuing the same zlib stream.
    let raw = encode_block(&[("streamtype", "data"), ("requestid", "1")]);
    peer.write_all(&syn_stream(5, 0, &stored_zlib(false, &raw)))
        .await
        .unwrap();

    let mut err = accept.recv().await.unwrap();
    assert_eq!(err.id, 1);
    assert_eq!(err.header("streamtype"), Some("error"));
    assert_eq!(err.header("Port"), Some("3000"));
    assert_eq!(err.header("requestid"), Some("0"));
    let data = accept.recv().await.unwrap();
    assert_eq!((data.id, data.header("streamtype")), (3, Some("data")));
    let third = accept.recv().await.unwrap();
    assert_eq!(third.header("requestid"), Some("1"));
    // FIN on the SYN_STREAM: nothing will ever arrive on the error stream.
    assert_eq!(err.recv().await, None);

    err.reply(&[], false).await.unwrap();
    data.reply(&[("X-Test", "1")], false).await.unwrap();
    data.send(b"hello").await.unwrap();
    data.close().await.unwrap();

    let mut dec = HeaderDecoder::new();
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.push(
            tokio::time::timeout(Duration::from_secs(5), read_raw(&mut peer, &mut dec))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        frames,
        vec![
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: vec![]
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                headers: vec![("x-test".into(), "1".into())]
            },
            Frame::Data {
                stream_id: 3,
                flags: 0,
                data: bytes::Bytes::from_static(b"hello")
            },
            Frame::Data {
                stream_id: 3,
                flags: frame::FLAG_FIN,
                data: bytes::Bytes::new()
            },
        ]
    );
}
