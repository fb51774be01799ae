//! TLS as a passive observer with a key log sees it: the NSS key log
//! ([`keylog`]), record framing and the hello messages ([`wire`]), and the
//! key schedules and record protection of TLS 1.2 and 1.3 ([`crypto`]).
//!
//! The primitives (AES-GCM, ChaCha20-Poly1305, HMAC, HKDF, SHA-2) are
//! RustCrypto's; only the key schedule (HKDF-Expand-Label, the TLS 1.2 PRF
//! key block) and the record logic are written here, because they are
//! what dispel shows.

pub mod crypto;
pub mod keylog;
pub mod wire;
