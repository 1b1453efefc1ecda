//! SPDY/3 name/value header blocks and their zlib compression.
//!
//! A header block is `u32 count` followed by `count` pairs of `u32`-length
//! prefixed name and value (SPDY/3 uses 32-bit lengths; SPDY/2 used 16-bit).
//! Names are lowercase and unique inside one block; several values for one
//! name are joined with NUL bytes. Blocks travel through one long-lived zlib
//! stream per direction primed with [`DICTIONARY`], each block ending in a
//! `Z_SYNC_FLUSH`, so the compression state must never be reset or skipped —
//! even header blocks we do not care about have to be inflated.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::dictionary::DICTIONARY;
use crate::Error;

/// Ordered header list; a name may repeat (one entry per value).
pub type Headers = Vec<(String, String)>;

/// Upper bound for one inflated header block. kubectl sends a handful of short
/// headers; the cap stops a compression bomb from exhausting memory.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// Serialises headers into an uncompressed SPDY/3 block.
///
/// Names are lowercased and entries with the same name are merged with NUL,
/// because Go's reader (kubectl) rejects duplicate names in one block.
pub fn encode_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut merged: Vec<(String, Vec<u8>)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push(0);
                v.extend_from_slice(value.as_bytes());
            }
            None => merged.push((name, value.as_bytes().to_vec())),
        }
    }
    let mut out = Vec::with_capacity(4 + merged.len() * 32);
    out.extend_from_slice(&(merged.len() as u32).to_be_bytes());
    for (name, value) in &merged {
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Parses an uncompressed SPDY/3 block; NUL-joined values become separate entries.
///
/// Every length is checked against the remaining input, so a hostile count or
/// length cannot make us allocate or read past the block.
pub fn decode_block(block: &[u8]) -> Result<Headers, Error> {
    let mut rest = block;
    let count = take_u32(&mut rest)?;
    // Each pair needs at least 8 bytes of length fields.
    if (count as usize) > rest.len() / 8 {
        return Err(Error::Protocol("header count exceeds block size"));
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = take_str(&mut rest)?;
        if name.is_empty() {
            return Err(Error::Protocol("empty header name"));
        }
        let name = name.to_ascii_lowercase();
        let value = take_str(&mut rest)?;
        for part in value.split('\0') {
            headers.push((name.clone(), part.to_string()));
        }
    }
    if !rest.is_empty() {
        return Err(Error::Protocol("trailing bytes after header block"));
    }
    Ok(headers)
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, Error> {
    let Some((head, tail)) = rest.split_first_chunk::<4>() else {
        return Err(Error::Protocol("truncated header block"));
    };
    *rest = tail;
    Ok(u32::from_be_bytes(*head))
}

fn take_str(rest: &mut &[u8]) -> Result<String, Error> {
    let len = take_u32(rest)? as usize;
    if len > rest.len() {
        return Err(Error::Protocol("header length exceeds block"));
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    String::from_utf8(s.to_vec()).map_err(|_| Error::Protocol("header is not UTF-8"))
}

/// Outgoing half of the header compression context (one per session direction).
pub struct HeaderEncoder {
    z: Compress,
}

impl HeaderEncoder {
    /// Creates a deflater primed with the SPDY dictionary.
    pub fn new() -> Result<Self, Error> {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(DICTIONARY)
            .map_err(|e| Error::Compression(e.to_string()))?;
        Ok(Self { z })
    }

    /// Compresses one block, ending it with a sync flush so the peer can inflate
    /// it completely without waiting for more input.
    pub fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(block.len() / 2 + 64);
        let mut chunk = [0u8; 4096];
        let mut pos = 0;
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            self.z
                .compress(&block[pos..], &mut chunk, FlushCompress::Sync)
                .map_err(|e| Error::Compression(e.to_string()))?;
            let used = (self.z.total_in() - in0) as usize;
            let made = (self.z.total_out() - out0) as usize;
            pos += used;
            out.extend_from_slice(&chunk[..made]);
            // zlib's contract: the flush is complete once input is consumed and
            // it did not fill the whole output buffer.
            if pos == block.len() && made < chunk.len() {
                return Ok(out);
            }
            if used == 0 && made == 0 {
                return Err(Error::Compression("deflate made no progress".into()));
            }
        }
    }
}

/// Incoming half of the header compression context.
pub struct HeaderDecoder {
    z: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecoder {
    /// Creates an inflater; the dictionary is supplied when zlib asks for it.
    pub fn new() -> Self {
        Self {
            z: Decompress::new(true),
        }
    }

    /// Inflates one compressed block, bounded by [`MAX_HEADER_BLOCK`].
    pub fn decompress(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(input.len() * 4);
        let mut chunk = [0u8; 4096];
        let mut pos = 0;
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let res = self
                .z
                .decompress(&input[pos..], &mut chunk, FlushDecompress::Sync);
            let used = (self.z.total_in() - in0) as usize;
            let made = (self.z.total_out() - out0) as usize;
            pos += used;
            out.extend_from_slice(&chunk[..made]);
            if out.len() > MAX_HEADER_BLOCK {
                return Err(Error::Protocol("header block too large"));
            }
            match res {
                Ok(Status::StreamEnd) => {
                    return Err(Error::Compression("peer ended header zlib stream".into()))
                }
                Ok(_) => {}
                Err(e) => match e.needs_dictionary() {
                    Some(id) if id == crate::dictionary::DICTIONARY_ADLER32 => {
                        self.z
                            .set_dictionary(DICTIONARY)
                            .map_err(|e| Error::Compression(e.to_string()))?;
                        continue;
                    }
                    Some(id) => {
                        return Err(Error::Compression(format!(
                            "peer wants unknown dictionary {id:#x}"
                        )))
                    }
                    None => return Err(Error::Compression(e.to_string())),
                },
            }
            if pos == input.len() && made < chunk.len() {
                return Ok(out);
            }
            if used == 0 && made == 0 {
                return Err(Error::Compression("truncated header block".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trip_merges_and_splits_values() {
        let raw = encode_block(&[("StreamType", "error"), ("port", "80"), ("port", "81")]);
        let back = decode_block(&raw).unwrap();
        assert_eq!(
            back,
            vec![
                ("streamtype".to_string(), "error".to_string()),
                ("port".to_string(), "80".to_string()),
                ("port".to_string(), "81".to_string()),
            ]
        );
        // Two distinct names on the wire, not three.
        assert_eq!(&raw[..4], &2u32.to_be_bytes());
    }

    #[test]
    fn compressed_round_trip_shares_state_across_blocks() {
        let mut enc = HeaderEncoder::new().unwrap();
        let mut dec = HeaderDecoder::new();
        for i in 0..5 {
            let value = format!("value-{i}");
            let block = encode_block(&[("streamtype", "stdout"), ("requestid", &value)]);
            let z = enc.compress(&block).unwrap();
            // zlib header with FDICT set on the first block only.
            if i == 0 {
                assert_eq!(z[0], 0x78);
                assert_ne!(z[1] & 0x20, 0);
                assert_eq!(&z[2..6], &0xe3c6_a7c2u32.to_be_bytes());
            }
            assert_eq!(&z[z.len() - 4..], &[0, 0, 0xff, 0xff], "sync flush marker");
            assert_eq!(dec.decompress(&z).unwrap(), block);
        }
    }

    #[test]
    fn hostile_blocks_are_rejected() {
        assert!(decode_block(&[0, 0, 0]).is_err());
        assert!(decode_block(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_block(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']).is_err());
        let mut dec = HeaderDecoder::new();
        assert!(dec.decompress(b"not zlib at all").is_err());
    }

    #[test]
    fn compression_bomb_is_bounded() {
        let mut enc = HeaderEncoder::new().unwrap();
        let big = vec![b'a'; MAX_HEADER_BLOCK + 10];
        let z = enc.compress(&big).unwrap();
        assert!(z.len() < 4096);
        assert!(HeaderDecoder::new().decompress(&z).is_err());
    }
}
