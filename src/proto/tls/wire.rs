//! TLS record framing (RFC 8446 §5.1, RFC 5246 §6.2) and the two hello
//! messages a passive observer reads in clear: what the client offers and
//! what the server chose. Everything is bounds-checked: a capture is
//! untrusted, and nothing is allocated before its bytes exist.

/// Record header length.
pub const HEADER: usize = 5;
/// Largest record body accepted: 2^14 plaintext + 256 expansion (RFC 8446
/// §5.2; TLS 1.2 allows 2048 expansion, RFC 5246 §6.2.3).
pub const MAX_RECORD: usize = (1 << 14) + 2048;

pub const CHANGE_CIPHER_SPEC: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;

/// The name of a record content type, as Wireshark shows it.
pub fn content_type_name(t: u8) -> &'static str {
    match t {
        CHANGE_CIPHER_SPEC => "Change Cipher Spec",
        ALERT => "Alert",
        HANDSHAKE => "Handshake",
        APPLICATION_DATA => "Application Data",
        24 => "Heartbeat",
        _ => "Unknown",
    }
}

/// The name of a handshake message type.
pub fn handshake_type_name(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        5 => "EndOfEarlyData",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        24 => "KeyUpdate",
        _ => "Unknown",
    }
}

/// A protocol version's name.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "unknown",
    }
}

/// A record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub content_type: u8,
    pub version: u16,
    pub length: usize,
}

/// Whether `b` starts like a TLS record (handshake, a known version, a
/// length within the limit), or `None` if too few bytes to tell.
pub fn looks_like_tls(b: &[u8]) -> Option<bool> {
    if b.is_empty() {
        return None;
    }
    if b[0] != HANDSHAKE {
        return Some(false);
    }
    if b.len() < 2 {
        return None;
    }
    if b[1] != 3 {
        return Some(false);
    }
    header(b).map(|h| h.version <= 0x0304 && h.length > 0 && h.length <= MAX_RECORD)
}

/// Parses a record header.
pub fn header(b: &[u8]) -> Option<Header> {
    let h = b.get(..HEADER)?;
    Some(Header {
        content_type: h[0],
        version: u16::from_be_bytes([h[1], h[2]]),
        length: usize::from(u16::from_be_bytes([h[3], h[4]])),
    })
}

/// A bounds-checked reader.
struct R<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// A ClientHello or ServerHello: the fields dispel shows, each with its
/// byte range in the handshake message (starting at its type byte).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hello {
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    pub random: [u8; 32],
    pub random_at: (usize, usize),
    pub session_id: Vec<u8>,
    /// Offered (ClientHello) or the one chosen (ServerHello).
    pub suites: Vec<u16>,
    pub suites_at: (usize, usize),
    /// server_name (SNI), ClientHello only.
    pub sni: Option<String>,
    pub sni_at: Option<(usize, usize)>,
    /// ALPN protocols offered, or the one chosen.
    pub alpn: Vec<String>,
    pub alpn_at: Option<(usize, usize)>,
    /// supported_versions: offered, or the one chosen.
    pub versions: Vec<u16>,
    pub versions_at: Option<(usize, usize)>,
}

impl Hello {
    /// The version the ServerHello chose: supported_versions if present
    /// (TLS 1.3), else legacy_version.
    pub fn negotiated(&self) -> u16 {
        self.versions.first().copied().unwrap_or(self.version)
    }
}

/// The random of a HelloRetryRequest (RFC 8446 §4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Parses a ClientHello (`client`) or ServerHello handshake message,
/// `msg` starting at its type byte.
pub fn hello(msg: &[u8], client: bool) -> Option<Hello> {
    let mut r = R { b: msg, pos: 0 };
    let ty = r.u8()?;
    if ty != if client { 1 } else { 2 } {
        return None;
    }
    let len = r.take(3)?;
    let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
    let body_end = 4usize.checked_add(len)?;
    let mut r = R {
        b: msg.get(..body_end)?,
        pos: 4,
    };
    let mut h = Hello {
        version: r.u16()?,
        ..Hello::default()
    };
    let start = r.pos;
    h.random.copy_from_slice(r.take(32)?);
    h.random_at = (start, 32);
    h.session_id = r.vec8()?.to_vec();
    if client {
        let start = r.pos;
        let suites = r.vec16()?;
        h.suites_at = (start, suites.len() + 2);
        h.suites = suites
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        r.vec8()?; // compression methods
    } else {
        let start = r.pos;
        h.suites = vec![r.u16()?];
        h.suites_at = (start, 2);
        r.u8()?;
    }
    if r.pos == r.b.len() {
        return Some(h);
    }
    let exts = r.vec16()?;
    let base = r.pos - exts.len();
    let mut e = R { b: exts, pos: 0 };
    while e.pos < exts.len() {
        let ty = e.u16()?;
        let data = e.vec16()?;
        let at = base + e.pos - data.len();
        let mut d = R { b: data, pos: 0 };
        match ty {
            0 if client => {
                // server_name_list: name_type(1) host_name<1..2^16-1>
                let list = d.vec16()?;
                let mut l = R { b: list, pos: 0 };
                while l.pos < list.len() {
                    let kind = l.u8()?;
                    let name = l.vec16()?;
                    if kind == 0 && h.sni.is_none() {
                        h.sni = Some(String::from_utf8_lossy(name).into_owned());
                        h.sni_at = Some((at + 2 + l.pos - name.len(), name.len()));
                    }
                }
            }
            16 => {
                let list = d.vec16()?;
                let mut l = R { b: list, pos: 0 };
                while l.pos < list.len() {
                    h.alpn.push(String::from_utf8_lossy(l.vec8()?).into_owned());
                }
                h.alpn_at = Some((at, data.len()));
            }
            43 => {
                if client {
                    let list = d.vec8()?;
                    h.versions = list
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                } else {
                    h.versions = vec![d.u16()?];
                }
                h.versions_at = Some((at, data.len()));
            }
            _ => {}
        }
    }
    Some(h)
}

/// A cipher suite's IANA name (the ones dispel decrypts, and common others).
pub fn suite_name(s: u16) -> &'static str {
    match s {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xCCA8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCA9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAA => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0x009C => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009E => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009F => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0xC009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xC00A => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xC013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xC014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xC023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xC028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0x002F => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x003C => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003D => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x00FF => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        s if s & 0x0f0f == 0x0a0a => "GREASE",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn record_detection_needs_a_handshake_header() {
        assert_eq!(looks_like_tls(b""), None);
        assert_eq!(looks_like_tls(b"\x16"), None);
        assert_eq!(looks_like_tls(b"\x16\x03\x01\x02"), None);
        assert_eq!(looks_like_tls(b"\x16\x03\x01\x02\x00"), Some(true));
        assert_eq!(looks_like_tls(b"GET / HTTP/1.1"), Some(false));
        assert_eq!(looks_like_tls(b"\x16\x03\x01\x00\x00"), Some(false));
        assert_eq!(looks_like_tls(b"\x16\x03\x01\xff\xff"), Some(false));
    }

    proptest! {
        #[test]
        fn hello_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), client: bool) {
            let _ = hello(&bytes, client);
            let _ = looks_like_tls(&bytes);
        }
    }
}
