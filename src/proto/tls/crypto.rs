//! The key schedules and record protection dispel decrypts with.
//!
//! Written here, because they are what a student reads step by step:
//! HKDF-Expand-Label (RFC 8446 §7.1), the traffic key and IV derivation
//! and the KeyUpdate (§7.2, §7.3), the per-record nonce (§5.3), and the
//! TLS 1.2 PRF's key block (RFC 5246 §5, §6.3) with AES-GCM's explicit
//! nonce (RFC 5288 §3) and ChaCha20-Poly1305's XORed one (RFC 7905 §2).
//! The primitives are RustCrypto's.

use aes_gcm::aead::{Aead as _, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// The AEAD of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadKind {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl AeadKind {
    pub fn key_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm => 16,
            AeadKind::Aes256Gcm | AeadKind::ChaCha20Poly1305 => 32,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            AeadKind::Aes128Gcm => "AES-128-GCM",
            AeadKind::Aes256Gcm => "AES-256-GCM",
            AeadKind::ChaCha20Poly1305 => "ChaCha20-Poly1305",
        }
    }
}

/// The hash of a suite (HKDF's or the PRF's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Sha256,
    Sha384,
}

impl HashKind {
    /// The digest length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            HashKind::Sha256 => 32,
            HashKind::Sha384 => 48,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Sha256 => "SHA-256",
            HashKind::Sha384 => "SHA-384",
        }
    }
}

/// A cipher suite dispel can decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub aead: AeadKind,
    pub hash: HashKind,
    /// A TLS 1.3 suite (HKDF key schedule) rather than a TLS 1.2 one (PRF).
    pub tls13: bool,
}

/// The suite of that id, if dispel decrypts it. CBC suites (MAC-then-
/// encrypt, RFC 5246 §6.2.3.2) and CCM are left out.
pub fn suite(id: u16) -> Option<Suite> {
    use AeadKind::*;
    use HashKind::*;
    let (aead, hash, tls13) = match id {
        0x1301 => (Aes128Gcm, Sha256, true),
        0x1302 => (Aes256Gcm, Sha384, true),
        0x1303 => (ChaCha20Poly1305, Sha256, true),
        0xC02B | 0xC02F | 0x009C | 0x009E => (Aes128Gcm, Sha256, false),
        0xC02C | 0xC030 | 0x009D | 0x009F => (Aes256Gcm, Sha384, false),
        0xCCA8..=0xCCAA => (ChaCha20Poly1305, Sha256, false),
        _ => return None,
    };
    Some(Suite {
        id,
        aead,
        hash,
        tls13,
    })
}

/// The `HkdfLabel` structure HKDF-Expand-Label expands with (RFC 8446
/// §7.1): length, `"tls13 " + label`, context.
pub fn hkdf_label(label: &str, context: &[u8], len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len() + context.len());
    info.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    info.push(u8::try_from(full.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(full.as_bytes());
    info.push(u8::try_from(context.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(context);
    info
}

/// HKDF-Expand-Label(secret, label, context, len); `None` when the secret
/// is shorter than the hash (not a secret of this suite).
pub fn hkdf_expand_label(
    hash: HashKind,
    secret: &[u8],
    label: &str,
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let info = hkdf_label(label, context, len);
    let mut out = vec![0u8; len.min(255 * hash.len())];
    match hash {
        HashKind::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        HashKind::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
    }
    Some(out)
}

/// The TLS 1.2 PRF: P_hash(secret, label + seed) to `len` bytes (RFC 5246 §5).
pub fn prf(hash: HashKind, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    match hash {
        HashKind::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, len),
        HashKind::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, len),
    }
}

fn p_hash<M: Mac + KeyInit + Clone>(
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    len: usize,
) -> Vec<u8> {
    let Ok(base) = <M as KeyInit>::new_from_slice(secret) else {
        return Vec::new();
    };
    let mac = |parts: &[&[u8]]| {
        let mut m = base.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes()
    };
    let mut out = Vec::with_capacity(len);
    // A(1) = HMAC(secret, label + seed); A(i) = HMAC(secret, A(i-1)).
    let mut a = mac(&[label, seed]);
    while out.len() < len {
        out.extend_from_slice(&mac(&[&a, label, seed]));
        a = mac(&[&a]);
    }
    out.truncate(len);
    out
}

/// One direction's record protection keys.
#[derive(Clone)]
pub struct Keys {
    pub aead: AeadKind,
    cipher: Cipher,
    /// The write IV: 12 bytes (TLS 1.3, TLS 1.2 ChaCha20), or the 4-byte
    /// implicit salt of TLS 1.2 AES-GCM.
    pub iv: Vec<u8>,
    pub key: Vec<u8>,
}

#[derive(Clone)]
enum Cipher {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
    Cc(Box<ChaCha20Poly1305>),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("aead", &self.aead).finish()
    }
}

/// The authentication tag did not verify: wrong key, or altered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTag;

impl Keys {
    pub fn new(aead: AeadKind, key: &[u8], iv: &[u8]) -> Option<Keys> {
        let cipher = match aead {
            AeadKind::Aes128Gcm => Cipher::A128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            AeadKind::Aes256Gcm => Cipher::A256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            AeadKind::ChaCha20Poly1305 => {
                Cipher::Cc(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        };
        Some(Keys {
            aead,
            cipher,
            iv: iv.to_vec(),
            key: key.to_vec(),
        })
    }

    /// The nonce of record `seq` when the IV is 12 bytes: IV XOR the
    /// 64-bit sequence number, left-padded (RFC 8446 §5.3, RFC 7905 §2).
    pub fn xor_nonce(&self, seq: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        let iv = self.iv.get(..12).unwrap_or(&[0; 12]);
        n.copy_from_slice(iv);
        for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    /// Opens `ciphertext` (with its tag) under `nonce` and `aad`.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, BadTag> {
        let p = Payload {
            msg: ciphertext,
            aad,
        };
        let n = nonce.into();
        match &self.cipher {
            Cipher::A128(c) => c.decrypt(n, p),
            Cipher::A256(c) => c.decrypt(n, p),
            Cipher::Cc(c) => c.decrypt(n, p),
        }
        .map_err(|_| BadTag)
    }
}

/// The TLS 1.3 traffic key and IV of a traffic secret (RFC 8446 §7.3).
pub fn tls13_keys(suite: Suite, secret: &[u8]) -> Option<Keys> {
    let key = hkdf_expand_label(suite.hash, secret, "key", b"", suite.aead.key_len())?;
    let iv = hkdf_expand_label(suite.hash, secret, "iv", b"", 12)?;
    Keys::new(suite.aead, &key, &iv)
}

/// The next traffic secret after a KeyUpdate (RFC 8446 §7.2).
pub fn tls13_next_secret(suite: Suite, secret: &[u8]) -> Option<Vec<u8>> {
    hkdf_expand_label(suite.hash, secret, "traffic upd", b"", suite.hash.len())
}

/// TLS 1.2: the key block of an AEAD suite and the two directions' keys
/// cut from it (RFC 5246 §6.3: client key, server key, client IV, server
/// IV; AEAD suites have no MAC keys).
pub fn tls12_keys(
    suite: Suite,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(Vec<u8>, Keys, Keys)> {
    let k = suite.aead.key_len();
    let iv = tls12_iv_len(suite.aead);
    let mut seed = Vec::with_capacity(64);
    seed.extend_from_slice(server_random);
    seed.extend_from_slice(client_random);
    let block = prf(suite.hash, master, b"key expansion", &seed, 2 * k + 2 * iv);
    let client = Keys::new(suite.aead, &block[..k], &block[2 * k..2 * k + iv])?;
    let server = Keys::new(suite.aead, &block[k..2 * k], &block[2 * k + iv..])?;
    Some((block, client, server))
}

/// The length of a TLS 1.2 write IV: AES-GCM's 4-byte salt, ChaCha20's 12.
pub fn tls12_iv_len(aead: AeadKind) -> usize {
    match aead {
        AeadKind::ChaCha20Poly1305 => 12,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8448 §3 (simple 1-RTT handshake): the server's handshake traffic
    // secret, and the key and IV derived from it.
    #[test]
    fn rfc8448_server_handshake_keys() {
        let secret =
            hex::decode("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
                .unwrap();
        let s = suite(0x1301).unwrap();
        let k = tls13_keys(s, &secret).unwrap();
        assert_eq!(hex::encode(&k.key), "3fce516009c21727d0f2e4e86ee403bc");
        assert_eq!(hex::encode(&k.iv), "5d313eb2671276ee13000b30");
        assert_eq!(hex::encode(k.xor_nonce(1)), "5d313eb2671276ee13000b31");
    }

    // RFC 5246 PRF test vector (P_SHA256), as published with the IETF TLS
    // working group's PRF test vectors.
    #[test]
    fn prf_sha256_vector() {
        let secret = hex::decode("9bbe436ba940f017b17652849a71db35").unwrap();
        let seed = hex::decode("a0ba9f936cda311827a6f796ffd5198c").unwrap();
        let out = prf(HashKind::Sha256, &secret, b"test label", &seed, 100);
        assert_eq!(hex::encode(&out[..16]), "e3f229ba727be17b8d122620557cd453");
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn a_wrong_key_fails_the_tag() {
        let k = Keys::new(AeadKind::Aes128Gcm, &[1; 16], &[2; 12]).unwrap();
        assert_eq!(k.open(&k.xor_nonce(0), b"aad", &[0; 20]), Err(BadTag));
        let k = Keys::new(AeadKind::ChaCha20Poly1305, &[1; 32], &[2; 12]).unwrap();
        assert_eq!(k.open(&k.xor_nonce(0), b"aad", &[0; 3]), Err(BadTag));
    }
}
