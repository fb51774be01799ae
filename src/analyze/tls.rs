//! The TLS layer of a connection: records framed across TCP segments, the
//! hello messages read in clear, and — with the connection's secrets from a
//! key log — the key schedule shown stage by stage and each record opened.
//!
//! It sits below HTTP (see [`super::layer`]): it reads the TCP bytes of a
//! direction as records, and hands the application data it decrypts to
//! the connection, which buffers it for the layer above (detection, then
//! HTTP or WebSocket, exactly as on a cleartext connection). Without keys
//! the records are still shown with their type and length, and the
//! connection is reported once as encrypted without keys. A record whose
//! authentication tag fails ends decoding of its direction: nothing that
//! is not plaintext reaches HTTP.

use std::sync::{Arc, RwLock};

use crate::proto::tls::crypto::{self, Keys, Suite};
use crate::proto::tls::keylog::{KeyLog, Secrets};
use crate::proto::tls::wire::{self, Hello};
use crate::rules;
use crate::step::{ConnId, Dir, Field, Finding, Origin, Span, Step, Value};
use crate::tcp::Provenance;

use super::stream::StreamBuf;
use super::up::Up;

/// The run's key log: `--keylog` files, and Decryption Secrets Blocks as
/// the capture reaches them (shared by every connection; it only grows).
pub type SharedKeyLog = Arc<RwLock<KeyLog>>;

/// Handshake bytes kept while a message is incomplete (a certificate chain
/// spans records); past it the handshake of that direction is not read.
pub const MAX_HANDSHAKE_BUFFER: usize = 256 * 1024;

/// Decrypted application data for the layer above, and the packet that
/// completed its record.
pub(super) struct Plain {
    /// Offset in the direction's decrypted stream.
    pub offset: u64,
    pub data: Vec<u8>,
    pub at: Provenance,
}

/// What one round of reading a direction gave.
#[derive(Default)]
pub(super) struct Output {
    pub plain: Vec<Plain>,
    /// Decoding of the direction stopped (a failed tag, bytes that are not
    /// records).
    pub stopped: bool,
}

#[derive(Debug, Clone, Default)]
struct TlsDir {
    started: bool,
    records: StreamBuf,
    /// The keys records are opened with now.
    keys: Option<Keys>,
    /// TLS 1.3: the traffic secret the keys came from (for KeyUpdate).
    secret: Option<Vec<u8>>,
    /// TLS 1.2: the keys that take effect at this side's ChangeCipherSpec.
    pending: Option<Keys>,
    seq: u64,
    /// TLS 1.2: this side sent ChangeCipherSpec; its records are protected.
    ccs: bool,
    hs: Vec<u8>,
    hs_broken: bool,
    stopped: bool,
    /// Decrypted application bytes handed up so far.
    plain: u64,
}

/// One connection's TLS state.
#[derive(Debug, Clone)]
pub(super) struct TlsConn {
    conn: ConnId,
    keylog: SharedKeyLog,
    client_random: Option<[u8; 32]>,
    sni: Option<String>,
    /// The version the ServerHello chose (0 before it).
    version: u16,
    suite: Option<Suite>,
    suite_id: u16,
    alpn: Option<String>,
    secrets: Option<Secrets>,
    told_no_keys: bool,
    /// TLS 1.2: master secret, client and server random (for the key
    /// derivation's step at each ChangeCipherSpec).
    tls12: Option<(Vec<u8>, [u8; 32], [u8; 32])>,
    dirs: [TlsDir; 2],
}

/// What the handshake messages of one record asked for after it.
#[derive(Default)]
struct After {
    /// TLS 1.3: switch this direction to its application traffic keys.
    app_keys: bool,
    /// TLS 1.3: a KeyUpdate: derive the next traffic secret.
    key_update: bool,
}

impl TlsConn {
    pub fn new(conn: ConnId, keylog: SharedKeyLog) -> TlsConn {
        TlsConn {
            conn,
            keylog,
            client_random: None,
            sni: None,
            version: 0,
            suite: None,
            suite_id: 0,
            alpn: None,
            secrets: None,
            told_no_keys: false,
            tls12: None,
            dirs: Default::default(),
        }
    }

    /// Whether this direction's bytes are TLS records.
    pub fn reads(&self, dir: Dir) -> bool {
        self.dirs[dir.index()].started
    }

    /// The ALPN protocol the server chose, once known.
    pub fn alpn(&self) -> Option<&str> {
        self.alpn.as_deref()
    }

    /// This direction's bytes are records from now on, starting with those
    /// already buffered.
    pub fn start(&mut self, dir: Dir, buffered: StreamBuf) {
        let d = &mut self.dirs[dir.index()];
        d.started = true;
        d.records = buffered;
    }

    /// TCP bytes of a direction that reads records.
    pub fn push(&mut self, dir: Dir, offset: u64, data: &[u8], at: Provenance) {
        let d = &mut self.dirs[dir.index()];
        if !d.stopped {
            d.records.push(offset, data, at);
        }
    }

    /// A gap: record boundaries are lost for good in this direction.
    pub fn gap(&mut self, dir: Dir) {
        let d = &mut self.dirs[dir.index()];
        d.stopped = true;
        d.records.clear();
    }

    /// The connection ended: buffers go back.
    pub fn release(&mut self) {
        for d in &mut self.dirs {
            d.records = StreamBuf::default();
            d.hs = Vec::new();
            d.stopped = true;
        }
    }

    /// Reads every complete record buffered for `dir`.
    pub fn read(&mut self, dir: Dir, up: &mut Up<'_>) -> Output {
        let mut out = Output::default();
        loop {
            let d = &mut self.dirs[dir.index()];
            if d.stopped {
                d.records.clear();
                out.stopped = true;
                return out;
            }
            let Some(h) = wire::header(d.records.bytes()) else {
                return out;
            };
            if !(20..=24).contains(&h.content_type)
                || h.version >> 8 != 3
                || h.length > wire::MAX_RECORD
            {
                let s = self.malformed(dir, &h);
                up.step(s);
                let d = &mut self.dirs[dir.index()];
                d.stopped = true;
                d.records.clear();
                out.stopped = true;
                return out;
            }
            let total = wire::HEADER + h.length;
            if d.records.len() < total {
                return out;
            }
            let offset = d.records.offset();
            let (frames, time) = d.records.provenance(total);
            let bytes: Arc<[u8]> = Arc::from(&d.records.bytes()[..total]);
            d.records.consume(total);
            let at = Provenance {
                frame: frames.last().copied().unwrap_or_default(),
                time,
            };
            let mut s = Step::new(self.conn, dir, "tls.record", time);
            s.frames = frames;
            let stopped = self.record(dir, &h, offset, bytes, at, &mut s, up, &mut out);
            if stopped {
                out.stopped = true;
                let d = &mut self.dirs[dir.index()];
                d.stopped = true;
                d.records.clear();
                return out;
            }
        }
    }

    fn malformed(&self, dir: Dir, h: &wire::Header) -> Step {
        let d = &self.dirs[dir.index()];
        let (frames, time) = d.records.provenance(wire::HEADER);
        let mut s = Step::new(self.conn, dir, "tls.record", time);
        s.frames = frames;
        let b = s.add_buffer(
            "stream",
            Origin::Stream {
                offset: d.records.offset(),
            },
            Arc::from(&d.records.bytes()[..wire::HEADER]),
        );
        s.fields
            .push(Field::new("tls.record.content_type", h.content_type).span(Span::bytes(b, 0, 1)));
        s.fields
            .push(Field::new("tls.record.version", h.version).span(Span::bytes(b, 1, 2)));
        s.fields
            .push(Field::new("tls.record.length", h.length).span(Span::bytes(b, 3, 2)));
        s.summary = "TLS: bytes that are not a record; the direction is not decoded further".into();
        s.findings.push(Finding::new(
            &rules::TLS_MALFORMED,
            format!(
                "a record header must carry a content type 20–24, version 3.x and a length up to {}; this one has type {}, version {:#06x}, length {}",
                wire::MAX_RECORD,
                h.content_type,
                h.version,
                h.length
            ),
        ));
        s
    }

    /// One whole record: its step, what it carries, and the steps that
    /// follow from it (hellos, key derivations). True: stop this direction.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        dir: Dir,
        h: &wire::Header,
        offset: u64,
        bytes: Arc<[u8]>,
        at: Provenance,
        s: &mut Step,
        up: &mut Up<'_>,
        out: &mut Output,
    ) -> bool {
        let b = s.add_buffer("stream", Origin::Stream { offset }, bytes.clone());
        s.fields.push(
            Field::new("tls.record.content_type", h.content_type)
                .show(wire::content_type_name(h.content_type))
                .span(Span::bytes(b, 0, 1)),
        );
        s.fields.push(
            Field::new("tls.record.version", h.version)
                .show(wire::version_name(h.version))
                .span(Span::bytes(b, 1, 2)),
        );
        s.fields
            .push(Field::new("tls.record.length", h.length).span(Span::bytes(b, 3, 2)));
        let body = &bytes[wire::HEADER..];
        let tls13 = self.version == 0x0304;
        let d = &self.dirs[dir.index()];
        // Application data is never in clear: before the ServerHello it is
        // TLS 1.3 early data (0-RTT), under keys dispel does not derive.
        let protected = h.content_type == wire::APPLICATION_DATA || (!tls13 && d.ccs);
        let (content_type, content) = if protected {
            match self.open(dir, h, b, body, tls13, at, s, up) {
                Ok(opened) => opened,
                Err(stops) => return stops,
            }
        } else {
            s.summary = format!(
                "TLS {} record, {} bytes (in clear)",
                wire::content_type_name(h.content_type),
                h.length
            );
            (h.content_type, body.to_vec())
        };
        let mut later: Vec<Step> = Vec::new();
        let mut after = After::default();
        let cx = (offset, protected, tls13, at);
        self.content(
            dir,
            content_type,
            content,
            cx,
            s,
            &mut after,
            &mut later,
            out,
        );
        up.step(std::mem::replace(
            s,
            Step::new(0, dir, "tls.record", at.time),
        ));
        for l in later {
            up.step(l);
        }
        self.after_record(dir, &after, at, up);
        false
    }

    /// Opens a protected record: its fields (sequence number, nonce,
    /// ciphertext, plaintext) and its content type and plaintext. When it
    /// cannot be opened its step is emitted here and `Err` says whether
    /// decoding of this direction stops.
    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        dir: Dir,
        h: &wire::Header,
        b: u16,
        body: &[u8],
        tls13: bool,
        at: Provenance,
        s: &mut Step,
        up: &mut Up<'_>,
    ) -> Result<(u8, Vec<u8>), bool> {
        let d = &self.dirs[dir.index()];
        let Some(keys) = d.keys.clone() else {
            s.fields.push(
                Field::new("tls.record.encrypted", Value::SpanBytes).span(Span::bytes(
                    b,
                    wire::HEADER,
                    body.len(),
                )),
            );
            let why = if self.version == 0 {
                "sent before the ServerHello (0-RTT early data), not decrypted"
            } else if self.suite.is_none() {
                "a cipher suite dispel does not decrypt"
            } else {
                "no keys"
            };
            s.summary = format!(
                "TLS {} record, {} bytes, encrypted ({why})",
                wire::content_type_name(h.content_type),
                h.length
            );
            // Reported once: early data and unsupported suites are said
            // above (and on the ServerHello), not as missing keys.
            if !self.told_no_keys && self.version != 0 && self.suite.is_some() {
                self.told_no_keys = true;
                s.findings
                    .push(Finding::new(&rules::TLS_NO_KEYS, self.no_keys_message()));
            }
            up.step(std::mem::replace(
                s,
                Step::new(0, dir, "tls.record", at.time),
            ));
            return Err(false);
        };
        let seq = self.dirs[dir.index()].seq;
        let (nonce, aad, ct_at) = self.nonce_and_aad(&keys, seq, h, body);
        s.fields.push(Field::new("tls.record.seq", seq));
        s.fields
            .push(Field::new("tls.record.nonce", Value::Bytes(nonce.to_vec())));
        if ct_at > 0 {
            // TLS 1.2 AES-GCM: the nonce's last 8 bytes travel in clear.
            s.fields.push(
                Field::new("tls.record.explicit_nonce", Value::SpanBytes).span(Span::bytes(
                    b,
                    wire::HEADER,
                    ct_at,
                )),
            );
        }
        s.fields.push(
            Field::new("tls.record.encrypted", Value::SpanBytes).span(Span::bytes(
                b,
                wire::HEADER + ct_at,
                body.len() - ct_at,
            )),
        );
        let opened = keys.open(&nonce, &aad, &body[ct_at..]);
        self.dirs[dir.index()].seq = seq.wrapping_add(1);
        let Ok(mut plain) = opened else {
            s.summary = format!(
                "TLS record {seq}, {} bytes: the authentication tag does not verify",
                h.length
            );
            s.findings.push(Finding::new(
                &rules::TLS_BAD_TAG,
                format!(
                    "record {seq} ({} bytes) did not authenticate under the {} key from the key log: the key is wrong (another connection's, or a key log that does not match), or the bytes were altered; decoding of this direction stops here",
                    h.length,
                    dir.as_str()
                ),
            ));
            up.step(std::mem::replace(
                s,
                Step::new(0, dir, "tls.record", at.time),
            ));
            return Err(true);
        };
        let ty = if tls13 {
            // TLSInnerPlaintext: content, the real type, zero padding.
            let Some(last) = plain.iter().rposition(|&x| x != 0) else {
                s.findings.push(Finding::new(
                    &rules::TLS_MALFORMED,
                    "a TLS 1.3 record decrypted to zeros only: it has no inner content type",
                ));
                up.step(std::mem::replace(
                    s,
                    Step::new(0, dir, "tls.record", at.time),
                ));
                return Err(true);
            };
            let padding = plain.len() - last - 1;
            let ty = plain[last];
            let dec = s.add_buffer("decrypted", Origin::Derived, Arc::from(&plain[..]));
            s.fields.push(
                Field::new("tls.record.decrypted", Value::SpanBytes)
                    .span(Span::bytes(dec, 0, last)),
            );
            s.fields.push(
                Field::new("tls.record.inner_content_type", ty)
                    .show(wire::content_type_name(ty))
                    .span(Span::bytes(dec, last, 1)),
            );
            s.fields.push(Field::new("tls.record.padding", padding));
            plain.truncate(last);
            ty
        } else {
            let dec = s.add_buffer("decrypted", Origin::Derived, Arc::from(&plain[..]));
            s.fields.push(
                Field::new("tls.record.decrypted", Value::SpanBytes).span(Span::bytes(
                    dec,
                    0,
                    plain.len(),
                )),
            );
            h.content_type
        };
        s.summary = format!(
            "TLS {} record {seq}: {} bytes encrypted → {} bytes of plaintext",
            wire::content_type_name(ty),
            h.length,
            plain.len()
        );
        Ok((ty, plain))
    }

    /// What a record's content means: handshake messages, the TLS 1.2
    /// ChangeCipherSpec, an alert, or application data for the layer above.
    #[allow(clippy::too_many_arguments)]
    fn content(
        &mut self,
        dir: Dir,
        content_type: u8,
        content: Vec<u8>,
        (offset, protected, tls13, at): (u64, bool, bool, Provenance),
        s: &mut Step,
        after: &mut After,
        later: &mut Vec<Step>,
        out: &mut Output,
    ) {
        match content_type {
            wire::HANDSHAKE => {
                let names = self.handshake(dir, &content, offset, protected, at, after, later);
                if !names.is_empty() {
                    s.fields
                        .push(Field::new("tls.handshake.types", names.join(", ")));
                }
            }
            wire::CHANGE_CIPHER_SPEC if !tls13 && self.version != 0 => {
                let d = &mut self.dirs[dir.index()];
                d.ccs = true;
                d.seq = 0;
                d.keys = d.pending.take();
                if d.keys.is_some() {
                    later.push(self.tls12_keys_step(dir, at));
                }
            }
            wire::ALERT => {
                if let [level, desc, ..] = content[..] {
                    s.fields.push(Field::new("tls.alert_message.level", level));
                    s.fields.push(Field::new("tls.alert_message.desc", desc));
                }
            }
            wire::APPLICATION_DATA if !content.is_empty() => {
                let d = &mut self.dirs[dir.index()];
                let offset = d.plain;
                d.plain += content.len() as u64;
                out.plain.push(Plain {
                    offset,
                    data: content,
                    at,
                });
            }
            _ => {}
        }
    }

    /// New traffic keys a record's handshake messages asked for.
    fn after_record(&mut self, dir: Dir, after: &After, at: Provenance, up: &mut Up<'_>) {
        if after.app_keys {
            let secret = self.secrets.as_ref().and_then(|x| match dir {
                Dir::C2s => x.client_app.clone(),
                Dir::S2c => x.server_app.clone(),
            });
            let label = match dir {
                Dir::C2s => "CLIENT_TRAFFIC_SECRET_0",
                Dir::S2c => "SERVER_TRAFFIC_SECRET_0",
            };
            self.tls13_epoch(dir, secret, label, at, up);
        }
        if after.key_update {
            let next = self.suite.and_then(|suite| {
                let cur = self.dirs[dir.index()].secret.as_ref()?;
                crypto::tls13_next_secret(suite, cur)
            });
            self.tls13_epoch(
                dir,
                next,
                "KeyUpdate: HKDF-Expand-Label(secret, \"traffic upd\")",
                at,
                up,
            );
        }
    }

    /// The nonce, additional data and where the ciphertext starts in the
    /// record body, for record `seq`.
    fn nonce_and_aad(
        &self,
        keys: &Keys,
        seq: u64,
        h: &wire::Header,
        body: &[u8],
    ) -> ([u8; 12], Vec<u8>, usize) {
        let header = [
            h.content_type,
            (h.version >> 8) as u8,
            h.version as u8,
            (h.length >> 8) as u8,
            h.length as u8,
        ];
        if self.version == 0x0304 {
            // RFC 8446 §5.2: the additional data is the record header.
            return (keys.xor_nonce(seq), header.to_vec(), 0);
        }
        // TLS 1.2 (RFC 5246 §6.2.3.3): seq_num + type + version + length
        // of the plaintext (the ciphertext less the 16-byte tag).
        let explicit = if keys.iv.len() == 4 { 8 } else { 0 };
        let plain_len = body.len().saturating_sub(explicit + 16);
        let mut aad = Vec::with_capacity(13);
        aad.extend_from_slice(&seq.to_be_bytes());
        aad.extend_from_slice(&header[..3]);
        aad.extend_from_slice(&(plain_len as u16).to_be_bytes());
        if explicit == 8 {
            // AES-GCM (RFC 5288 §3): the 4-byte salt from the key block,
            // then the 8-byte explicit nonce sent before the ciphertext.
            let mut n = [0u8; 12];
            n[..4].copy_from_slice(&keys.iv);
            if let Some(e) = body.get(..8) {
                n[4..].copy_from_slice(e);
            }
            (n, aad, 8.min(body.len()))
        } else {
            (keys.xor_nonce(seq), aad, 0)
        }
    }

    /// The sentence of the once-per-connection no-keys finding.
    fn no_keys_message(&self) -> String {
        let mut m = String::from(if self.secrets.is_some() {
            "this connection is encrypted and the key log has some of its secrets but not the one for these records"
        } else {
            "this connection is encrypted and the key log has no secrets for its client random"
        });
        if let Some(r) = &self.client_random {
            m.push_str(" (");
            m.push_str(&hex::encode(&r[..8]));
            m.push_str("…)");
        }
        m.push_str("; an observer still learns the server name (SNI ");
        m.push_str(&crate::sanitize::escape(
            self.sni.as_deref().unwrap_or("not sent"),
        ));
        m.push_str("), the application protocol (ALPN ");
        m.push_str(&crate::sanitize::escape(
            self.alpn.as_deref().unwrap_or("none"),
        ));
        m.push_str("), and every record's size and timing");
        m
    }

    /// Reads the handshake messages of a record's content; returns their
    /// names.
    #[allow(clippy::too_many_arguments)]
    fn handshake(
        &mut self,
        dir: Dir,
        content: &[u8],
        offset: u64,
        protected: bool,
        at: Provenance,
        after: &mut After,
        later: &mut Vec<Step>,
    ) -> Vec<&'static str> {
        let mut names = Vec::new();
        let d = &mut self.dirs[dir.index()];
        if d.hs_broken {
            return names;
        }
        // The content starts a fresh message run when nothing is pending:
        // then a hello's bytes are the record's own (stream spans).
        let fresh = d.hs.is_empty() && !protected;
        d.hs.extend_from_slice(content);
        let mut pos = 0;
        loop {
            let d = &mut self.dirs[dir.index()];
            let Some(hdr) = d.hs.get(pos..pos + 4) else {
                break;
            };
            let len = usize::from(hdr[1]) << 16 | usize::from(hdr[2]) << 8 | usize::from(hdr[3]);
            let ty = hdr[0];
            let Some(msg) = d.hs.get(pos..pos + 4 + len) else {
                break;
            };
            let msg = msg.to_vec();
            let origin = if fresh {
                Origin::Stream {
                    offset: offset + (wire::HEADER + pos) as u64,
                }
            } else {
                Origin::Derived
            };
            pos += 4 + len;
            names.push(wire::handshake_type_name(ty));
            match (ty, dir) {
                (1, Dir::C2s) => {
                    if let Some(hello) = wire::hello(&msg, true) {
                        self.client_random = Some(hello.random);
                        self.sni.clone_from(&hello.sni);
                        later.push(self.client_hello_step(&hello, msg, origin, at));
                    }
                }
                (2, Dir::S2c) => {
                    if let Some(hello) = wire::hello(&msg, false) {
                        let step = self.server_hello(&hello, msg, origin, at);
                        later.push(step);
                        self.keys_after_server_hello(&hello, at, later);
                    }
                }
                (20, _) if self.version == 0x0304 => after.app_keys = true,
                (24, _) if self.version == 0x0304 => after.key_update = true,
                _ => {}
            }
        }
        let d = &mut self.dirs[dir.index()];
        d.hs.drain(..pos.min(d.hs.len()));
        if d.hs.len() > MAX_HANDSHAKE_BUFFER {
            d.hs = Vec::new();
            d.hs_broken = true;
        }
        names
    }

    fn client_hello_step(&self, h: &Hello, msg: Vec<u8>, origin: Origin, at: Provenance) -> Step {
        let mut s = Step::new(self.conn, Dir::C2s, "tls.client-hello", at.time);
        s.frames.push(at.frame);
        let b = s.add_buffer("handshake", origin, Arc::from(msg));
        hello_fields(&mut s, b, h, true);
        s.summary = format!(
            "ClientHello: SNI {}, ALPN {}, {} suites offered",
            crate::sanitize::escape(h.sni.as_deref().unwrap_or("(none)")),
            crate::sanitize::escape(&if h.alpn.is_empty() {
                "(none)".to_string()
            } else {
                h.alpn.join(",")
            }),
            h.suites.len()
        );
        s
    }

    fn server_hello(&mut self, h: &Hello, msg: Vec<u8>, origin: Origin, at: Provenance) -> Step {
        let mut s = Step::new(self.conn, Dir::S2c, "tls.server-hello", at.time);
        s.frames.push(at.frame);
        let b = s.add_buffer("handshake", origin, Arc::from(msg));
        hello_fields(&mut s, b, h, false);
        if h.random == wire::HRR_RANDOM {
            s.summary = "HelloRetryRequest: the server asks for another key share".into();
            return s;
        }
        let version = h.negotiated();
        let suite_id = h.suites.first().copied().unwrap_or(0);
        self.version = version;
        self.suite_id = suite_id;
        self.suite = crypto::suite(suite_id).filter(|x| x.tls13 == (version == 0x0304));
        self.alpn = h.alpn.first().cloned();
        s.fields.push(Field::new(
            "tls.negotiated_version",
            wire::version_name(version),
        ));
        s.summary = format!(
            "ServerHello: {}, {}{}",
            wire::version_name(version),
            wire::suite_name(suite_id),
            self.alpn
                .as_deref()
                .map(|a| format!(", ALPN {}", crate::sanitize::escape(a)))
                .unwrap_or_default()
        );
        if self.suite.is_none() {
            s.findings.push(Finding::new(
                &rules::TLS_UNSUPPORTED,
                format!(
                    "{} with {} ({suite_id:#06x}) is not decrypted: dispel opens TLS 1.3 and TLS 1.2 AEAD suites (AES-GCM, ChaCha20-Poly1305); CBC suites are left out",
                    wire::version_name(version),
                    wire::suite_name(suite_id)
                ),
            ));
        }
        if self.alpn.as_deref() == Some("h2") {
            s.findings.push(Finding::new(
                &rules::TLS_H2,
                "the server chose HTTP/2 (ALPN h2): its binary frames are not HTTP/1.1, and dispel does not decode HTTP/2 yet, so the decrypted bytes are shown in the records only",
            ));
        }
        if let Some(r) = &self.client_random {
            self.secrets = self.keylog.read().ok().and_then(|k| k.get(r).cloned());
        }
        s
    }

    /// After the ServerHello: TLS 1.3 handshake keys for both directions
    /// (shown now), TLS 1.2 keys waiting for each side's ChangeCipherSpec.
    fn keys_after_server_hello(&mut self, h: &Hello, at: Provenance, later: &mut Vec<Step>) {
        let (Some(suite), Some(secrets)) = (self.suite, self.secrets.clone()) else {
            return;
        };
        if suite.tls13 {
            for (dir, secret, label) in [
                (
                    Dir::S2c,
                    secrets.server_hs,
                    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                ),
                (
                    Dir::C2s,
                    secrets.client_hs,
                    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                ),
            ] {
                if let Some(step) = self.tls13_install(dir, secret, label, at) {
                    later.push(step);
                }
            }
        } else if let (Some(master), Some(cr)) = (secrets.master, self.client_random)
            && let Some((_, client, server)) = crypto::tls12_keys(suite, &master, &cr, &h.random)
        {
            self.dirs[0].pending = Some(client);
            self.dirs[1].pending = Some(server);
            self.tls12 = Some((master, cr, h.random));
        }
    }
}

impl TlsConn {
    /// TLS 1.3: this direction's records are opened from now on with keys
    /// derived from `secret`; the derivation's step, stage by stage.
    fn tls13_install(
        &mut self,
        dir: Dir,
        secret: Option<Vec<u8>>,
        label: &str,
        at: Provenance,
    ) -> Option<Step> {
        let d = &mut self.dirs[dir.index()];
        d.keys = None;
        d.secret = None;
        d.seq = 0;
        let suite = self.suite?;
        let secret = secret?;
        let keys = crypto::tls13_keys(suite, &secret)?;
        let mut s = Step::new(self.conn, dir, "tls.keys", at.time);
        s.frames.push(at.frame);
        s.summary = format!(
            "{} keys: {label} → HKDF-Expand-Label → {} key and IV",
            dir.as_str(),
            suite.aead.name()
        );
        s.fields.push(Field::new("tls.keys.label", label));
        s.fields
            .push(Field::new("tls.keys.hash", suite.hash.name()));
        s.fields
            .push(Field::new("tls.keys.aead", suite.aead.name()));
        s.fields
            .push(Field::new("tls.keys.secret", Value::Bytes(secret.clone())));
        s.fields.push(Field::new(
            "tls.keys.key_info",
            Value::Bytes(crypto::hkdf_label("key", b"", suite.aead.key_len())),
        ));
        s.fields
            .push(Field::new("tls.keys.key", Value::Bytes(keys.key.clone())));
        s.fields.push(Field::new(
            "tls.keys.iv_info",
            Value::Bytes(crypto::hkdf_label("iv", b"", 12)),
        ));
        s.fields
            .push(Field::new("tls.keys.iv", Value::Bytes(keys.iv.clone())));
        s.fields.push(Field::new(
            "tls.keys.nonce",
            "record N: IV XOR N (N as 8 bytes, left-padded to 12)",
        ));
        let d = &mut self.dirs[dir.index()];
        d.keys = Some(keys);
        d.secret = Some(secret);
        Some(s)
    }

    /// TLS 1.3: a new epoch (application traffic keys after Finished, or
    /// the next secret after a KeyUpdate), shown at once.
    fn tls13_epoch(
        &mut self,
        dir: Dir,
        secret: Option<Vec<u8>>,
        label: &str,
        at: Provenance,
        up: &mut Up<'_>,
    ) {
        if let Some(s) = self.tls13_install(dir, secret, label, at) {
            up.step(s);
        }
    }

    /// TLS 1.2: the step of the keys a ChangeCipherSpec put in effect: the
    /// master secret, the PRF's seed, the key block and this side's cut.
    fn tls12_keys_step(&self, dir: Dir, at: Provenance) -> Step {
        let mut s = Step::new(self.conn, dir, "tls.keys", at.time);
        s.frames.push(at.frame);
        let (Some(suite), Some((master, cr, sr))) = (self.suite, &self.tls12) else {
            return s;
        };
        let k = suite.aead.key_len();
        let iv = crypto::tls12_iv_len(suite.aead);
        let mut seed = Vec::with_capacity(64);
        seed.extend_from_slice(sr);
        seed.extend_from_slice(cr);
        let block = crypto::prf(suite.hash, master, b"key expansion", &seed, 2 * k + 2 * iv);
        let (key, ivb) = match dir {
            Dir::C2s => (&block[..k], &block[2 * k..2 * k + iv]),
            Dir::S2c => (&block[k..2 * k], &block[2 * k + iv..]),
        };
        s.summary = format!(
            "{} keys: master secret → PRF(\"key expansion\", server random + client random) → {} key and IV",
            dir.as_str(),
            suite.aead.name()
        );
        s.fields.push(Field::new("tls.keys.label", "CLIENT_RANDOM"));
        s.fields
            .push(Field::new("tls.keys.hash", suite.hash.name()));
        s.fields
            .push(Field::new("tls.keys.aead", suite.aead.name()));
        s.fields
            .push(Field::new("tls.keys.secret", Value::Bytes(master.clone())));
        s.fields
            .push(Field::new("tls.keys.seed", Value::Bytes(seed)));
        s.fields.push(Field::new(
            "tls.keys.key_block",
            Value::Bytes(block.clone()),
        ));
        s.fields
            .push(Field::new("tls.keys.key", Value::Bytes(key.to_vec())));
        s.fields
            .push(Field::new("tls.keys.iv", Value::Bytes(ivb.to_vec())));
        s.fields.push(Field::new(
            "tls.keys.nonce",
            if iv == 4 {
                "record N: the 4-byte IV + the 8-byte explicit nonce sent with the record"
            } else {
                "record N: IV XOR N (N as 8 bytes, left-padded to 12)"
            },
        ));
        s
    }
}

/// The fields both hellos share.
fn hello_fields(s: &mut Step, b: u16, h: &Hello, client: bool) {
    s.fields.push(
        Field::new("tls.handshake.version", h.version)
            .show(wire::version_name(h.version))
            .span(Span::bytes(b, 4, 2)),
    );
    s.fields.push(
        Field::new("tls.handshake.random", Value::SpanBytes).span(Span::bytes(
            b,
            h.random_at.0,
            h.random_at.1,
        )),
    );
    s.fields.push(Field::new(
        "tls.handshake.session_id",
        Value::Bytes(h.session_id.clone()),
    ));
    if client {
        let names: Vec<&str> = h.suites.iter().map(|&x| wire::suite_name(x)).collect();
        s.fields.push(
            Field::new("tls.handshake.ciphersuites", names.join(", ")).span(Span::bytes(
                b,
                h.suites_at.0,
                h.suites_at.1,
            )),
        );
        if let (Some(sni), Some(at)) = (&h.sni, h.sni_at) {
            s.fields.push(
                Field::new(
                    "tls.handshake.extensions_server_name",
                    crate::sanitize::escape(sni).into_owned(),
                )
                .span(Span::bytes(b, at.0, at.1)),
            );
        }
    } else if let Some(&suite) = h.suites.first() {
        s.fields.push(
            Field::new("tls.handshake.ciphersuite", suite)
                .show(wire::suite_name(suite))
                .span(Span::bytes(b, h.suites_at.0, h.suites_at.1)),
        );
    }
    if let Some(at) = h.alpn_at {
        let alpn: Vec<String> = h
            .alpn
            .iter()
            .map(|a| crate::sanitize::escape(a).into_owned())
            .collect();
        s.fields.push(
            Field::new("tls.handshake.extensions_alpn_str", alpn.join(","))
                .span(Span::bytes(b, at.0, at.1)),
        );
    }
    if let Some(at) = h.versions_at {
        let v: Vec<&str> = h
            .versions
            .iter()
            .map(|&x| {
                if x & 0x0f0f == 0x0a0a {
                    "GREASE"
                } else {
                    wire::version_name(x)
                }
            })
            .collect();
        s.fields.push(
            Field::new("tls.handshake.extensions.supported_versions", v.join(", "))
                .span(Span::bytes(b, at.0, at.1)),
        );
    }
}
