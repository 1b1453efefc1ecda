//! The SPDY/3 header-compression dictionary.
//!
//! Every SPDY/3 header block is compressed in one zlib stream per direction that
//! is primed with this exact dictionary (draft-mbelshe-httpbis-spdy-00, section
//! 2.6.10.1). A single wrong byte makes the peer's inflate fail with a dictionary
//! mismatch, so the bytes are pinned by their adler32 (0xe3c6a7c2) in a test.
//! The data is a list of `u32` length-prefixed tokens (header names, methods,
//! status lines, common values) followed by a free-form tail.

/// Length of [`DICTIONARY`] in bytes.
pub const DICTIONARY_LEN: usize = 1423;

/// Adler-32 of [`DICTIONARY`]; zlib puts this id in the stream header (FDICT).
pub const DICTIONARY_ADLER32: u32 = 0xe3c6_a7c2;

/// The dictionary bytes, written as escaped ASCII so the tokens stay readable.
pub const DICTIONARY: &[u8; DICTIONARY_LEN] = b"\
\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put\
\x00\x00\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\
\x00\x00\x00\x0eaccept-charset\x00\x00\x00\x0faccept-encoding\
\x00\x00\x00\x0faccept-language\x00\x00\x00\x0daccept-ranges\x00\x00\x00\x03age\
\x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\x00\x00\x0dcache-control\
\x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\
\x00\x00\x00\x10content-encoding\x00\x00\x00\x10content-language\
\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location\
\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-range\x00\x00\x00\x0ccontent-type\
\x00\x00\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect\
\x00\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\x00\x04host\
\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since\
\x00\x00\x00\x0dif-none-match\x00\x00\x00\x08if-range\
\x00\x00\x00\x13if-unmodified-since\x00\x00\x00\x0dlast-modified\
\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\
\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization\
\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after\
\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07trailer\
\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00\x0auser-agent\
\x00\x00\x00\x04vary\x00\x00\x00\x03via\x00\x00\x00\x07warning\
\x00\x00\x00\x10www-authenticate\x00\x00\x00\x06method\x00\x00\x00\x03get\
\x00\x00\x00\x06status\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\
\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06public\
\x00\x00\x00\x0aset-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin\
1001012012022052063003023033043053063074024054064074084094104114124134144154\
16417502504505203 Non-Authoritative Information204 No Content301 Moved Perma\
nently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal \
Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Ju\
n Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTch\
unked,text/html,image/png,image/jpg,image/gif,application/xml,application/xh\
tml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcha\
rset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// Adler-32 as defined in RFC 1950; kept here so the test does not trust zlib.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % MOD;
        b = (b + a) % MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_checksum_matches_spec() {
        assert_eq!(DICTIONARY.len(), 1423);
        assert_eq!(adler32(DICTIONARY), DICTIONARY_ADLER32);
        assert!(DICTIONARY.starts_with(b"\0\0\0\x07options"));
        assert!(DICTIONARY.ends_with(b"enq=0."));
    }

    #[test]
    fn adler32_known_vector() {
        // RFC 1950 / Wikipedia example.
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }
}
