//! The NSS key log format (`SSLKEYLOGFILE`), as browsers, Python's
//! `SSLContext.keylog_filename`, Node's `--tls-keylog` and pcapng
//! Decryption Secrets Blocks carry it: one secret per line,
//! `LABEL <client random hex> <secret hex>`; `#` starts a comment.
//!
//! Secrets are looked up by the ClientHello's random. Lines this reader
//! does not use (other labels, malformed lines) are counted, never fatal:
//! a key log is untrusted input like the capture.

use std::collections::HashMap;

/// The secrets known for one connection (one client random).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `CLIENT_RANDOM`: the TLS 1.2 master secret (48 bytes).
    pub master: Option<Vec<u8>>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    pub client_hs: Option<Vec<u8>>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    pub server_hs: Option<Vec<u8>>,
    /// `CLIENT_TRAFFIC_SECRET_0` (TLS 1.3).
    pub client_app: Option<Vec<u8>>,
    /// `SERVER_TRAFFIC_SECRET_0` (TLS 1.3).
    pub server_app: Option<Vec<u8>>,
}

/// Secrets by client random.
#[derive(Debug, Clone, Default)]
pub struct KeyLog {
    by_random: HashMap<[u8; 32], Secrets>,
    /// Lines that were neither used, blank nor comments.
    pub skipped: usize,
}

/// Longest secret accepted (bytes): SHA-384's 48 is the largest in use.
const MAX_SECRET: usize = 64;

impl KeyLog {
    /// Reads a key log's text, adding its secrets (later lines win).
    pub fn add_text(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = trim(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            if !self.add_line(line) {
                self.skipped += 1;
            }
        }
    }

    fn add_line(&mut self, line: &[u8]) -> bool {
        let mut parts = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|p| !p.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Some(random) = hex32(random) else {
            return false;
        };
        if secret.len() > MAX_SECRET * 2 {
            return false;
        }
        let Ok(secret) = hex::decode(secret) else {
            return false;
        };
        if secret.is_empty() {
            return false;
        }
        let e = self.by_random.entry(random).or_default();
        let slot = match label {
            b"CLIENT_RANDOM" if secret.len() == 48 => &mut e.master,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut e.client_hs,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut e.server_hs,
            b"CLIENT_TRAFFIC_SECRET_0" => &mut e.client_app,
            b"SERVER_TRAFFIC_SECRET_0" => &mut e.server_app,
            _ => {
                if *e == Secrets::default() {
                    self.by_random.remove(&random);
                }
                return false;
            }
        };
        *slot = Some(secret);
        true
    }

    /// The secrets logged for a ClientHello's random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.by_random.get(client_random)
    }

    /// How many connections (client randoms) have secrets.
    pub fn len(&self) -> usize {
        self.by_random.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_random.is_empty()
    }

    /// Adds every secret of `other` (its lines win).
    pub fn merge(&mut self, other: &KeyLog) {
        for (r, s) in &other.by_random {
            let e = self.by_random.entry(*r).or_default();
            for (dst, src) in [
                (&mut e.master, &s.master),
                (&mut e.client_hs, &s.client_hs),
                (&mut e.server_hs, &s.server_hs),
                (&mut e.client_app, &s.client_app),
                (&mut e.server_app, &s.server_app),
            ] {
                if src.is_some() {
                    dst.clone_from(src);
                }
            }
        }
        self.skipped += other.skipped;
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

fn hex32(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_every_label_and_skips_the_rest() {
        let r = "ab".repeat(32);
        let text = format!(
            "# comment\r\n\nCLIENT_RANDOM {r} {}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\nCLIENT_TRAFFIC_SECRET_0 {r} {}\n\
             SERVER_TRAFFIC_SECRET_0 {r} {}\nEXPORTER_SECRET {r} 00\nCLIENT_RANDOM zz 00\n\
             CLIENT_RANDOM {r} 0011\n",
            "01".repeat(48),
            "02".repeat(32),
            "03".repeat(32),
            "04".repeat(48),
            "05".repeat(48),
        );
        let mut k = KeyLog::default();
        k.add_text(text.as_bytes());
        let s = k.get(&[0xab; 32]).expect("secrets");
        assert_eq!(s.master.as_deref(), Some(&[1u8; 48][..]));
        assert_eq!(s.client_hs.as_deref(), Some(&[2u8; 32][..]));
        assert_eq!(s.server_hs.as_deref(), Some(&[3u8; 32][..]));
        assert_eq!(s.client_app.as_deref(), Some(&[4u8; 48][..]));
        assert_eq!(s.server_app.as_deref(), Some(&[5u8; 48][..]));
        // EXPORTER_SECRET, a bad random, a master secret of the wrong size.
        assert_eq!(k.skipped, 3);
        assert_eq!(k.len(), 1);
        assert!(k.get(&[0; 32]).is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut k = KeyLog::default();
            k.add_text(&bytes);
            prop_assert!(k.len() <= bytes.len() / 64 + 1);
        }

        #[test]
        fn arbitrary_lines_of_the_format_never_panic(
            label in "(CLIENT_RANDOM|SERVER_TRAFFIC_SECRET_0|[A-Z_]{0,12})",
            random in "[0-9a-fA-F]{0,70}",
            secret in "[0-9a-fA-Fx ]{0,140}",
        ) {
            let mut k = KeyLog::default();
            k.add_text(format!("{label} {random} {secret}").as_bytes());
        }
    }
}
