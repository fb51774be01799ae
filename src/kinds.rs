//! The registry of every step kind dispel emits and the fields each kind can
//! carry: the vocabulary lesson files select on and interpolate, and the
//! labels the interactive view shows next to Wireshark-style names.
//!
//! It is kept honest by `tests/kinds.rs`, which runs every real capture and
//! a set of SYNTHETIC conversations reaching the rarer kinds through the
//! pipeline and fails on any (kind, field) that is not registered here with
//! the value type it was emitted with.

use serde::Serialize;

use crate::step::{Dir, Step, Value};

/// The type of a field's value, as lesson `where` conditions compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Bool,
    UInt,
    Int,
    Float,
    Str,
    /// Raw bytes (shown as hex; `where` compares with a lowercase hex string).
    Bytes,
    /// A JSON value (Engine.IO / Socket.IO data).
    Json,
}

impl ValueType {
    /// The type of a value.
    pub fn of(v: &Value) -> ValueType {
        match v {
            Value::Bool(_) => ValueType::Bool,
            Value::UInt(_) => ValueType::UInt,
            Value::Int(_) => ValueType::Int,
            Value::Float(_) => ValueType::Float,
            Value::Str(_) => ValueType::Str,
            Value::Bytes(_) | Value::SpanBytes => ValueType::Bytes,
            Value::Json(_) => ValueType::Json,
        }
    }

    /// The name used in diagnostics and the registry dump.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::UInt => "uint",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Str => "str",
            ValueType::Bytes => "bytes",
            ValueType::Json => "json",
        }
    }

    /// Whether values of this type are numbers (ordered by `lt`/`ge`…).
    pub fn is_number(self) -> bool {
        matches!(self, ValueType::UInt | ValueType::Int | ValueType::Float)
    }
}

/// One field a kind can carry.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    /// Wireshark display-filter name (or dispel's own, in the same style).
    pub name: &'static str,
    /// A plain-language label for the interactive view.
    pub label: &'static str,
    /// The value types it is emitted with (most fields have exactly one;
    /// `engineio.data` is text or binary, `websocket.pong.answers` a step
    /// number or `"none"`).
    pub types: &'static [ValueType],
}

/// Which directions steps of a kind travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dirs {
    Both,
    C2s,
    S2c,
}

impl Dirs {
    /// Whether a step of this kind can travel in `dir`.
    pub fn allows(self, dir: Dir) -> bool {
        match self {
            Dirs::Both => true,
            Dirs::C2s => dir == Dir::C2s,
            Dirs::S2c => dir == Dir::S2c,
        }
    }
}

/// One step kind.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct KindSpec {
    /// The dotted kind, e.g. `websocket.frame`.
    pub id: &'static str,
    /// The part before the first dot.
    pub layer: &'static str,
    /// One plain sentence: what a step of this kind is.
    pub about: &'static str,
    pub dirs: Dirs,
    /// The fields, in groups shared between kinds.
    #[serde(skip)]
    pub groups: &'static [&'static [FieldSpec]],
}

impl KindSpec {
    /// Every field of the kind.
    pub fn fields(&self) -> impl Iterator<Item = &'static FieldSpec> + '_ {
        self.groups.iter().flat_map(|g| g.iter())
    }

    /// The field of that name, if the kind can carry it.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().find(|f| f.name == name)
    }
}

use ValueType::{Bool as B, Bytes as Y, Json as J, Str as S, UInt as U};

macro_rules! fields {
    ($($name:literal, $label:literal, [$($t:ident),+];)*) => {
        &[$(FieldSpec { name: $name, label: $label, types: &[$($t),+] }),*]
    };
}

static TCP_HEADER: &[FieldSpec] = fields! {
    "tcp.srcport", "source port", [U];
    "tcp.dstport", "destination port", [U];
    "tcp.seq", "sequence number (relative)", [U];
    "tcp.seq_raw", "sequence number (as on the wire)", [U];
    "tcp.ack", "acknowledgment number (relative)", [U];
    "tcp.ack_raw", "acknowledgment number (as on the wire)", [U];
    "tcp.flags.syn", "SYN flag", [B];
    "tcp.flags.ack", "ACK flag", [B];
    "tcp.flags.fin", "FIN flag", [B];
    "tcp.flags.reset", "RST flag", [B];
    "tcp.flags.push", "PSH flag", [B];
    "tcp.window_size_value", "receive window (unscaled)", [U];
    "tcp.len", "payload bytes in the segment", [U];
};

static TCP_ANALYSIS: &[FieldSpec] = fields! {
    "tcp.analysis.retransmission", "a retransmission", [B];
    "tcp.analysis.out_of_order", "arrived out of order", [B];
    "tcp.analysis.lost_segment", "bytes missing before this", [B];
};

static TCP_GAP: &[FieldSpec] = fields! {
    "tcp.seq", "first missing sequence number (relative)", [U];
    "tcp.analysis.lost_segment", "bytes missing before this", [B];
    "dispel.gap.len", "missing bytes", [U];
};

static TCP_DATA: &[FieldSpec] = fields! {
    "tcp.seq", "sequence number of the first byte (relative)", [U];
    "tcp.len", "bytes", [U];
    "tcp.payload", "the bytes", [Y];
};

static TLS_RECORD: &[FieldSpec] = fields! {
    "tls.record.content_type", "content type (outer)", [U];
    "tls.record.version", "record version", [U];
    "tls.record.length", "record length", [U];
    "tls.record.seq", "record sequence number (this direction, this key)", [U];
    "tls.record.nonce", "the AEAD nonce of this record", [Y];
    "tls.record.explicit_nonce", "TLS 1.2 AES-GCM: the nonce part sent before the ciphertext", [Y];
    "tls.record.encrypted", "the encrypted bytes (with the tag)", [Y];
    "tls.record.decrypted", "the decrypted bytes", [Y];
    "tls.record.inner_content_type", "the real content type (TLS 1.3, inside the encryption)", [U];
    "tls.record.padding", "zero padding after the inner type (bytes)", [U];
    "tls.handshake.types", "the handshake messages in the record", [S];
    "tls.alert_message.level", "alert level", [U];
    "tls.alert_message.desc", "alert description", [U];
};

static TLS_HELLO: &[FieldSpec] = fields! {
    "tls.handshake.version", "legacy_version", [U];
    "tls.handshake.random", "random (32 bytes)", [Y];
    "tls.handshake.session_id", "session id", [Y];
    "tls.handshake.ciphersuites", "cipher suites offered", [S];
    "tls.handshake.ciphersuite", "cipher suite chosen", [U];
    "tls.handshake.extensions_server_name", "server name (SNI)", [S];
    "tls.handshake.extensions_alpn_str", "application protocols (ALPN)", [S];
    "tls.handshake.extensions.supported_versions", "supported_versions", [S];
    "tls.negotiated_version", "the version the server chose", [S];
};

static TLS_KEYS: &[FieldSpec] = fields! {
    "tls.keys.label", "the key log label of the secret", [S];
    "tls.keys.hash", "hash of the key schedule", [S];
    "tls.keys.aead", "record cipher (AEAD)", [S];
    "tls.keys.secret", "the secret from the key log", [Y];
    "tls.keys.seed", "TLS 1.2 PRF seed: server random + client random", [Y];
    "tls.keys.key_block", "TLS 1.2 key block", [Y];
    "tls.keys.key_info", "HkdfLabel for the key", [Y];
    "tls.keys.key", "write key", [Y];
    "tls.keys.iv_info", "HkdfLabel for the IV", [Y];
    "tls.keys.iv", "write IV", [Y];
    "tls.keys.nonce", "how a record's nonce is made", [S];
};

static HTTP_REQUEST_LINE: &[FieldSpec] = fields! {
    "http.request.method", "method", [S];
    "http.request.uri", "request target", [S];
    "http.request.version", "HTTP version", [S];
    "http.request.line", "a header line", [S];
};

static HTTP_RESPONSE_LINE: &[FieldSpec] = fields! {
    "http.response.version", "HTTP version", [S];
    "http.response.code", "status code", [U];
    "http.response.phrase", "reason phrase", [S];
    "http.response.line", "a header line", [S];
};

/// The headers `analyze::http` gives a field of their own (a fixed table,
/// Wireshark's names), and the body.
static HTTP_HEADERS: &[FieldSpec] = fields! {
    "http.host", "Host header", [S];
    "http.user_agent", "User-Agent header", [S];
    "http.connection", "Connection header", [S];
    "http.upgrade", "Upgrade header", [S];
    "http.sec_websocket_key", "Sec-WebSocket-Key header", [S];
    "http.sec_websocket_version", "Sec-WebSocket-Version header", [S];
    "http.sec_websocket_extensions", "Sec-WebSocket-Extensions header", [S];
    "http.sec_websocket_protocol", "Sec-WebSocket-Protocol header", [S];
    "http.sec_websocket_accept", "Sec-WebSocket-Accept header", [S];
    "http.content_length_header", "Content-Length header (not a number)", [S];
    "http.content_length", "Content-Length", [U];
    "http.content_type", "Content-Type header", [S];
    "http.content_encoding", "Content-Encoding header", [S];
    "http.transfer_encoding", "Transfer-Encoding header", [S];
    "http.server", "Server header", [S];
    "http.cookie", "Cookie header", [S];
    "http.set_cookie", "Set-Cookie header", [S];
    "http.date", "Date header", [S];
    "http.accept", "Accept header", [S];
    "http.accept_encoding", "Accept-Encoding header", [S];
    "http.accept_language", "Accept-Language header", [S];
    "http.location", "Location header", [S];
    "http.cache_control", "Cache-Control header", [S];
    "http.referer", "Referer header", [S];
    "http.file_data", "body", [Y];
    "http.body.length", "body length after decoding", [U];
    "http.body.truncated", "body cut at the cap", [B];
};

static HTTP_EIO_QUERY: &[FieldSpec] = fields! {
    "engineio.version", "Engine.IO version asked for (EIO=)", [U];
    "engineio.transport", "Engine.IO transport (transport=)", [S];
    "engineio.sid", "Engine.IO session id (sid=)", [S];
};

static HTTP_ERROR: &[FieldSpec] = fields! {
    "http.data", "the bytes that are not HTTP", [Y];
};

static WS_ACCEPT: &[FieldSpec] = fields! {
    "websocket.accept.key", "the client's key", [S];
    "websocket.accept.guid", "the fixed GUID", [S];
    "websocket.accept.concatenated", "key + GUID", [S];
    "websocket.accept.sha1", "SHA-1 of key + GUID", [Y];
    "websocket.accept.expected", "the Accept the server must send", [S];
    "websocket.accept.sent", "the Accept the server sent", [S];
    "websocket.accept.valid", "the Accept is right", [B];
};

static WS_HANDSHAKE: &[FieldSpec] = fields! {
    "websocket.handshake.result", "outcome", [S];
    "websocket.handshake.status", "response status", [U];
    "websocket.handshake.version", "Sec-WebSocket-Version", [S];
    "websocket.handshake.extensions_offered", "extensions the client offered", [S];
    "websocket.handshake.subprotocols_offered", "subprotocols the client offered", [S];
    "websocket.handshake.subprotocol", "subprotocol chosen", [S];
    "websocket.handshake.permessage_deflate", "compression agreed", [B];
    "websocket.handshake.client_no_context_takeover", "client resets its compressor per message", [B];
    "websocket.handshake.server_no_context_takeover", "server resets its compressor per message", [B];
    "websocket.handshake.client_max_window_bits", "client's LZ77 window (bits)", [U];
    "websocket.handshake.server_max_window_bits", "server's LZ77 window (bits)", [U];
    "websocket.handshake.reason", "why the upgrade did not happen", [S];
};

static WS_FRAME: &[FieldSpec] = fields! {
    "websocket.fin", "final fragment (FIN)", [B];
    "websocket.rsv", "reserved bits", [U];
    "websocket.rsv1", "RSV1 (compressed, with permessage-deflate)", [B];
    "websocket.rsv2", "RSV2", [B];
    "websocket.rsv3", "RSV3", [B];
    "websocket.opcode", "opcode", [U];
    "websocket.mask", "masked (MASK bit)", [B];
    "websocket.payload_length", "7-bit payload length", [U];
    "websocket.payload_length.form", "length encoding", [S];
    "websocket.payload_length_ext_16", "16-bit extended length", [U];
    "websocket.payload_length_ext_64", "64-bit extended length", [U];
    "websocket.masking_key", "masking key", [Y];
    "websocket.masked_payload", "payload as sent (masked)", [Y];
    "websocket.payload", "payload", [Y];
    "websocket.payload.ping", "ping payload", [Y];
    "websocket.payload.pong", "pong payload", [Y];
    "websocket.pong.answers", "the ping step this pong answers", [U, S];
    "websocket.payload.close.status_code", "close code", [U];
    "websocket.payload.close.reason", "close reason", [S];
    "websocket.close.role", "starts, answers or repeats the closing handshake", [S];
};

static WS_MESSAGE: &[FieldSpec] = fields! {
    "websocket.message.opcode", "message type", [U];
    "websocket.message.frames", "frames", [U];
    "websocket.message.length", "length", [U];
    "websocket.message.compressed", "compressed", [B];
    "websocket.message.text", "text", [S];
    "websocket.message.data", "data", [Y];
};

static WS_INFLATE: &[FieldSpec] = fields! {
    "websocket.inflate.compressed_length", "compressed length", [U];
    "websocket.inflate.context_takeover", "window kept between messages (negotiated)", [B];
    "websocket.inflate.first", "first compressed message of this direction", [B];
    "websocket.inflate.used_window", "needed the window left by earlier messages", [B];
    "websocket.inflate.length", "inflated length", [U];
    "websocket.inflate.text", "inflated text", [S];
    "websocket.inflate.data", "inflated data", [Y];
};

static WS_AFTER_CLOSE: &[FieldSpec] = fields! {
    "websocket.after_close.length", "bytes after Close", [U];
    "websocket.after_close.data", "the bytes", [Y];
};

static WS_DESYNC: &[FieldSpec] = fields! {
    "websocket.desync.data", "the bytes that are not a frame", [Y];
};

static WS_INCOMPLETE: &[FieldSpec] = fields! {
    "websocket.incomplete.data", "the bytes of the unfinished frame", [Y];
};

static EIO_PACKET: &[FieldSpec] = fields! {
    "engineio.type", "packet type", [S];
    "engineio.version", "Engine.IO version", [U];
    "engineio.transport", "transport", [S];
    "engineio.payload.index", "position in the polling payload", [U];
    "engineio.payload.length_rule", "how the length prefix counts", [S];
    "engineio.payload.record", "the packet's record in the payload", [Y];
    "engineio.data", "data", [S, Y];
    "engineio.open.sid", "session id", [S];
    "engineio.open.upgrades", "transports it may upgrade to", [J];
    "engineio.open.ping_interval", "pingInterval (ms)", [U];
    "engineio.open.ping_timeout", "pingTimeout (ms)", [U];
    "engineio.open.max_payload", "maxPayload (bytes)", [U];
    "engineio.upgrade_stage", "upgrade stage", [S];
    "engineio.heartbeat.since_last_ms", "ms since the previous ping", [U];
    "engineio.heartbeat.answers", "the ping step this pong answers", [U];
};

static EIO_SESSION: &[FieldSpec] = fields! {
    "engineio.sid", "session id", [S];
    "engineio.version", "Engine.IO version", [U];
    "engineio.session.connections", "TCP connections used", [S];
    "engineio.session.transports", "transports used", [S];
    "engineio.session.packets", "packets", [U];
    "engineio.session.upgraded", "upgraded to WebSocket", [B];
    "engineio.session.duration_ms", "duration (ms)", [U];
    "engineio.session.sid", "session id (absent: a handshake that opened no session)", [S];
    "engineio.session.upgrade", "the upgrade: upgraded, not-offered, not-tried, refused, probe-failed, no-answer, websocket-only", [S];
    "engineio.session.end.by", "who ended it: client, server, none", [S];
    "engineio.session.end.cause", "how it ended", [S];
    "engineio.session.end.step", "the step that ended it", [U];
    "engineio.session.end.close_code", "the WebSocket Close code that ended it", [U];
    "engineio.session.end.http_status", "the HTTP status that ended it", [U];
    "engineio.session.end.detail", "why, with the heartbeat arithmetic", [S];
    "engineio.session.end.deadlines", "the heartbeat deadline each side was keeping when it ended", [S];
    "engineio.session.namespaces", "Socket.IO namespaces and how each ended", [S];
    "engineio.session.follows", "the session this one reconnects after", [S];
    "engineio.session.reconnect_after_ms", "ms after that session ended", [U];
    "engineio.session.attempt", "reconnection attempt number", [U];
};

static SIO_PACKET: &[FieldSpec] = fields! {
    "socketio.type", "packet type", [S];
    "socketio.protocol", "Socket.IO protocol version", [U];
    "socketio.encoding", "encoding", [S];
    "socketio.nsp", "namespace", [S];
    "socketio.ack_id", "ack id", [U];
    "socketio.attachments", "binary attachments announced", [U];
    "socketio.event", "event name", [S];
    "socketio.data", "data", [J];
    "socketio.args", "event arguments", [J];
    "socketio.attachment", "a binary attachment", [Y];
    "socketio.data.reconstructed", "data with attachments put back", [J];
    "socketio.ack.answers", "the event step this ack answers", [U];
    "socketio.raw", "the undecodable packet text", [S];
    "socketio.binary", "binary message", [Y];
};

static SIO_ATTACHMENT: &[FieldSpec] = fields! {
    "socketio.attachment.data", "attachment bytes", [Y];
};

macro_rules! kinds {
    ($($id:literal, $layer:literal, $dirs:ident, [$($g:ident),*], $about:literal;)*) => {
        /// Every step kind, by layer.
        pub static KINDS: &[KindSpec] = &[$(KindSpec {
            id: $id, layer: $layer, about: $about, dirs: Dirs::$dirs, groups: &[$($g),*],
        }),*];
    };
}

kinds! {
    "tcp.syn", "tcp", C2s, [TCP_HEADER], "The client's SYN: it asks to open a TCP connection.";
    "tcp.syn-ack", "tcp", S2c, [TCP_HEADER], "The server's SYN-ACK: it accepts the connection.";
    "tcp.fin", "tcp", Both, [TCP_HEADER], "A FIN: this side has nothing more to send.";
    "tcp.rst", "tcp", Both, [TCP_HEADER], "A RST: this side aborts the connection.";
    "tcp.segment", "tcp", Both, [TCP_ANALYSIS], "A segment worth noting: a retransmission, out of order, or overlapping.";
    "tcp.gap", "tcp", Both, [TCP_GAP], "Bytes of the stream missing from the capture.";
    "tcp.data", "tcp", Both, [TCP_DATA], "TCP bytes no higher layer could decode.";
    "tls.record", "tls", Both, [TLS_RECORD], "One TLS record: type and length in clear, and with keys its decrypted bytes.";
    "tls.client-hello", "tls", C2s, [TLS_HELLO], "The ClientHello, in clear: server name, protocols, versions and suites offered.";
    "tls.server-hello", "tls", S2c, [TLS_HELLO], "The ServerHello, in clear: the version and cipher suite chosen.";
    "tls.keys", "tls", Both, [TLS_KEYS], "Record keys derived from a key log secret, stage by stage.";
    "http.request", "http", Both, [HTTP_REQUEST_LINE, HTTP_HEADERS, HTTP_EIO_QUERY], "An HTTP request: start line, headers and body.";
    "http.response", "http", Both, [HTTP_RESPONSE_LINE, HTTP_HEADERS], "An HTTP response: status line, headers and body.";
    "http.error", "http", Both, [HTTP_ERROR], "Bytes that could not be parsed as HTTP.";
    "websocket.accept", "websocket", S2c, [WS_ACCEPT], "The Sec-WebSocket-Accept check, stage by stage.";
    "websocket.handshake", "websocket", S2c, [WS_HANDSHAKE], "The opening handshake's outcome: upgraded or refused, and what was agreed.";
    "websocket.frame", "websocket", Both, [WS_FRAME], "One RFC 6455 frame: header bits, length, mask and payload.";
    "websocket.message", "websocket", Both, [WS_MESSAGE], "A complete message assembled from its frames.";
    "websocket.inflate", "websocket", Both, [WS_INFLATE], "A permessage-deflate message inflated.";
    "websocket.after-close", "websocket", Both, [WS_AFTER_CLOSE], "Bytes sent after this side's Close frame.";
    "websocket.desync", "websocket", Both, [WS_DESYNC], "Bytes that are not a frame: the frame boundaries are lost.";
    "websocket.incomplete", "websocket", Both, [WS_INCOMPLETE], "A frame cut off by the end of the capture or connection.";
    "engineio.packet", "engineio", Both, [EIO_PACKET], "One Engine.IO packet, over polling or WebSocket.";
    "engineio.error", "engineio", Both, [], "A polling payload that could not be decoded.";
    "engineio.session", "engineio", S2c, [EIO_SESSION], "The summary of one Engine.IO session (or of a handshake that opened none) at the capture's end: transports, upgrade, and how and why it ended.";
    "socketio.packet", "socketio", Both, [SIO_PACKET], "One Socket.IO packet: type, namespace, event, data.";
    "socketio.attachment", "socketio", Both, [SIO_ATTACHMENT], "A binary attachment of a Socket.IO packet.";
}

/// The kind of that id.
pub fn kind(id: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.id == id)
}

/// A layer of the stack, as every view names it.
#[derive(Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// The part of a kind before the first dot, e.g. `websocket`.
    pub id: &'static str,
    /// A name for narrow columns, e.g. `ws`.
    pub short: &'static str,
    /// Its place in the stack, bottom first: what views colour layers by.
    pub rank: u8,
}

/// The layers, bottom first.
pub static LAYERS: &[LayerSpec] = &[
    LayerSpec {
        id: "tcp",
        short: "tcp",
        rank: 0,
    },
    LayerSpec {
        id: "tls",
        short: "tls",
        rank: 1,
    },
    LayerSpec {
        id: "http",
        short: "http",
        rank: 2,
    },
    LayerSpec {
        id: "websocket",
        short: "ws",
        rank: 3,
    },
    LayerSpec {
        id: "engineio",
        short: "eio",
        rank: 4,
    },
    LayerSpec {
        id: "socketio",
        short: "sio",
        rank: 5,
    },
];

/// The layer of that id.
pub fn layer(id: &str) -> Option<&'static LayerSpec> {
    LAYERS.iter().find(|l| l.id == id)
}

/// What a step's kind means to folding in a timeline: the one statement of
/// which steps fold under which, that every view reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// `websocket.frame`, `websocket.inflate`: fold under the message they
    /// complete (the next `websocket.message` of the same connection and
    /// direction).
    Frame,
    /// `websocket.message`: what frames fold under.
    Message,
    /// `engineio.session`: the summary a session's steps fold under.
    Session,
    /// `engineio.packet`: the WebSocket message that carried it folds with
    /// it into its session.
    EioPacket,
    /// Any other `websocket.*` kind.
    OtherWebsocket,
    /// Everything else.
    Other,
}

/// How steps of `kind` fold.
pub fn fold(kind: &str) -> Fold {
    match kind {
        "websocket.frame" | "websocket.inflate" => Fold::Frame,
        "websocket.message" => Fold::Message,
        "engineio.session" => Fold::Session,
        "engineio.packet" => Fold::EioPacket,
        k if k.starts_with("websocket.") => Fold::OtherWebsocket,
        _ => Fold::Other,
    }
}

/// The fields that name an Engine.IO session's id, in the order to look:
/// how every view identifies a session.
pub const SESSION_ID_FIELDS: [&str; 2] = ["engineio.sid", "engineio.open.sid"];

/// The Engine.IO session id a step names, if it names one.
pub fn session_id(step: &Step) -> Option<&str> {
    SESSION_ID_FIELDS
        .iter()
        .find_map(|n| step.field(n))
        .and_then(|f| match &f.value {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
}

/// Every layer, in registry order.
pub fn layers() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for k in KINDS {
        if !v.contains(&k.layer) {
            v.push(k.layer);
        }
    }
    v
}

/// The label of a field of a kind (falls back to any kind's field of that
/// name, then to `None`).
pub fn label(kind: &str, field: &str) -> Option<&'static str> {
    self::kind(kind)
        .and_then(|k| k.field(field))
        .or_else(|| KINDS.iter().find_map(|k| k.field(field)))
        .map(|f| f.label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_layers_match() {
        let mut seen = HashSet::new();
        for k in KINDS {
            assert!(seen.insert(k.id), "duplicate kind {}", k.id);
            assert_eq!(k.id.split('.').next(), Some(k.layer));
            let mut names = HashSet::new();
            for f in k.fields() {
                assert!(names.insert(f.name), "{} lists {} twice", k.id, f.name);
                assert!(!f.label.is_empty() && !f.types.is_empty());
            }
        }
        assert_eq!(
            layers(),
            ["tcp", "tls", "http", "websocket", "engineio", "socketio"]
        );
        assert_eq!(
            label("websocket.frame", "websocket.mask"),
            Some("masked (MASK bit)")
        );
        assert_eq!(kind("websocket.frame").unwrap().field("tcp.seq"), None);
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_kind_has_a_declared_layer_in_stack_order() {
        for k in KINDS {
            assert!(
                layer(k.layer).is_some(),
                "{}: layer {} undeclared",
                k.id,
                k.layer
            );
        }
        let ranks: Vec<u8> = LAYERS.iter().map(|l| l.rank).collect();
        assert_eq!(ranks, (0..LAYERS.len() as u8).collect::<Vec<_>>());
        assert_eq!(layers(), LAYERS.iter().map(|l| l.id).collect::<Vec<_>>());
    }

    #[test]
    fn folding_is_declared_for_the_kinds_that_fold() {
        assert_eq!(fold("websocket.frame"), Fold::Frame);
        assert_eq!(fold("websocket.inflate"), Fold::Frame);
        assert_eq!(fold("websocket.message"), Fold::Message);
        assert_eq!(fold("websocket.handshake"), Fold::OtherWebsocket);
        assert_eq!(fold("engineio.session"), Fold::Session);
        assert_eq!(fold("engineio.packet"), Fold::EioPacket);
        assert_eq!(fold("socketio.packet"), Fold::Other);
        for k in KINDS {
            // Every kind a fold names is registered.
            if fold(k.id) != Fold::Other {
                assert!(matches!(k.layer, "websocket" | "engineio"), "{}", k.id);
            }
        }
    }
}
