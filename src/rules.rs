//! The finding rules: stable ids graders depend on, each with its severity
//! and the spec section it enforces.
//!
//! Ids are dotted (`layer.what`) and never renamed once published; a rule's
//! sentence for a particular instance lives in the [`crate::step::Finding`].

use Severity::{Info, Must, Should};

/// How serious a finding is, in the RFC 2119 vocabulary graders use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A MUST (or MUST NOT) of the specification is violated.
    Must,
    /// A SHOULD is violated.
    Should,
    /// Not a violation: an anomaly worth knowing about (a retransmission, a
    /// capture gap, a guessed role).
    Info,
}

impl Severity {
    /// The name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Must => "MUST",
            Severity::Should => "SHOULD",
            Severity::Info => "INFO",
        }
    }
}

/// A finding rule.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable dotted id, e.g. `frame.client-unmasked`.
    pub id: &'static str,
    pub severity: Severity,
    /// The clause it enforces, e.g. `RFC 6455 §5.1`.
    pub section: &'static str,
    /// What the rule checks, in a few words (for `check` reports and lessons).
    pub title: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $section:literal, $title:literal;)*) => {
        $(
            #[doc = $title]
            pub static $name: Rule = Rule { id: $id, severity: $sev, section: $section, title: $title };
        )*
        /// Every rule, in a stable order (by layer, then as listed).
        pub static ALL: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    // Capture container and link layer.
    IP_FRAGMENT = "ip.fragment", Info, "RFC 791 §2.3",
        "IPv4 fragments are not reassembled; their TCP bytes are missing";
    // The run as a whole.
    LIMIT_DECODED_TOTAL = "limit.decoded-total", Info, "dispel limits",
        "the run's budget for decoded content was reached; content past it is shown as length and SHA-256";
    // TCP, as a passive observer sees it.
    TCP_ROLE_GUESSED = "tcp.role-guessed", Info, "RFC 9293 §3.5",
        "the capture starts mid-connection, so client and server are guessed from the ports";
    TCP_RETRANSMISSION = "tcp.retransmission", Info, "RFC 9293 §3.8.1",
        "a segment carried bytes that had already been seen";
    TCP_OUT_OF_ORDER = "tcp.out-of-order", Info, "RFC 9293 §3.10.7.4",
        "a segment arrived after bytes that follow it";
    TCP_OVERLAP_CONFLICT = "tcp.overlap-conflict", Should, "RFC 9293 §3.10.7.4",
        "overlapping segments carried different bytes for the same sequence numbers";
    TCP_GAP = "tcp.gap", Info, "RFC 9293 §3.4",
        "bytes of the stream are missing from the capture";
    TCP_PENDING_CAP = "tcp.pending-cap", Info, "dispel limits",
        "out-of-order data exceeded the reassembly buffer cap";
    TCP_UNEXPECTED_SYN = "tcp.unexpected-syn", Info, "RFC 9293 §3.10.7.4",
        "a SYN restarting the sequence numbers of a connection that already carried data";
    TCP_DATA_AFTER_FIN = "tcp.data-after-fin", Must, "RFC 9293 §3.10.7.4",
        "a side sent data after its FIN";
    // TLS, as an observer with (or without) a key log sees it.
    TLS_NO_KEYS = "tls.no-keys", Info, "RFC 8446 §2",
        "the connection is encrypted and no key log has its secrets; only the handshake in clear, record sizes and timing are visible";
    TLS_BAD_TAG = "tls.bad-tag", Info, "RFC 8446 §5.2",
        "a record did not authenticate under the logged key (wrong key, or altered bytes); decoding of that direction stops";
    TLS_UNSUPPORTED = "tls.unsupported", Info, "dispel limits",
        "the negotiated version or cipher suite is not one dispel decrypts (CBC suites, CCM, TLS 1.1 and older)";
    TLS_H2 = "tls.h2", Info, "RFC 9113 §3.2",
        "the server chose HTTP/2 by ALPN; dispel does not decode HTTP/2";
    TLS_MALFORMED = "tls.malformed", Must, "RFC 8446 §5.1",
        "bytes that cannot be a TLS record (or a record with no inner content type)";
    // HTTP/1.1.
    HTTP_MALFORMED = "http.malformed", Must, "RFC 9112 §2.2",
        "an HTTP message could not be parsed";
    HTTP_HEAD_TOO_LARGE = "http.head-too-large", Info, "dispel limits",
        "an HTTP head exceeded the size or header-count cap";
    HTTP_BODY_TOO_LARGE = "http.body-too-large", Info, "dispel limits",
        "an HTTP body exceeded the body cap, or inflated past the decompression cap";
    HTTP_LENGTH_AND_CHUNKED = "http.length-and-chunked", Must, "RFC 9112 §6.3",
        "a message had both Content-Length and Transfer-Encoding";
    HTTP_BODY_DECODE = "http.body-decode", Should, "RFC 9110 §8.4",
        "a Content-Encoding could not be undone";
    // The WebSocket opening handshake.
    HANDSHAKE_METHOD = "handshake.method", Must, "RFC 6455 §4.1",
        "the opening handshake must be a GET";
    HANDSHAKE_HTTP_VERSION = "handshake.http-version", Must, "RFC 6455 §4.1",
        "the opening handshake must be HTTP/1.1 or later";
    HANDSHAKE_HOST_MISSING = "handshake.host-missing", Must, "RFC 6455 §4.1",
        "the opening handshake must carry a Host header";
    HANDSHAKE_UPGRADE_HEADER = "handshake.upgrade-header", Must, "RFC 6455 §4.1",
        "the request must carry Upgrade: websocket";
    HANDSHAKE_CONNECTION_HEADER = "handshake.connection-header", Must, "RFC 6455 §4.1",
        "the request's Connection header must include the Upgrade token";
    HANDSHAKE_KEY_INVALID = "handshake.key-invalid", Must, "RFC 6455 §4.1",
        "Sec-WebSocket-Key must be base64 of 16 random bytes";
    HANDSHAKE_VERSION = "handshake.version", Must, "RFC 6455 §4.1",
        "Sec-WebSocket-Version must be 13";
    HANDSHAKE_STATUS = "handshake.status", Must, "RFC 6455 §4.2.2",
        "a server accepting the upgrade (it sends Sec-WebSocket-Accept) answers 101, not another status";
    HANDSHAKE_RESPONSE_UPGRADE = "handshake.response-upgrade", Must, "RFC 6455 §4.2.2",
        "the 101 response must carry Upgrade: websocket";
    HANDSHAKE_RESPONSE_CONNECTION = "handshake.response-connection", Must, "RFC 6455 §4.2.2",
        "the 101 response must carry Connection: Upgrade";
    HANDSHAKE_ACCEPT_MISSING = "handshake.accept-missing", Must, "RFC 6455 §4.2.2",
        "the 101 response must carry Sec-WebSocket-Accept";
    HANDSHAKE_ACCEPT_MISMATCH = "handshake.accept-mismatch", Must, "RFC 6455 §4.2.2",
        "Sec-WebSocket-Accept must be base64(SHA-1(key + GUID))";
    HANDSHAKE_EXTENSION_NOT_OFFERED = "handshake.extension-not-offered", Must, "RFC 6455 §9.1",
        "the server selected an extension the client did not offer";
    HANDSHAKE_EXTENSION_INVALID = "handshake.extension-invalid", Must, "RFC 7692 §5, §7",
        "a Sec-WebSocket-Extensions header was malformed or carried invalid permessage-deflate parameters";
    HANDSHAKE_SUBPROTOCOL_NOT_OFFERED = "handshake.subprotocol-not-offered", Must, "RFC 6455 §4.2.2",
        "the server selected a subprotocol the client did not offer";
    HANDSHAKE_FAILED = "handshake.failed", Info, "RFC 6455 §4.1",
        "the upgrade was refused; the connection stays HTTP";
    // RFC 6455 frames.
    FRAME_CLIENT_UNMASKED = "frame.client-unmasked", Must, "RFC 6455 §5.1",
        "a client must mask every frame it sends";
    FRAME_SERVER_MASKED = "frame.server-masked", Must, "RFC 6455 §5.1",
        "a server must not mask any frame it sends";
    FRAME_RSV_WITHOUT_EXTENSION = "frame.rsv-without-extension", Must, "RFC 6455 §5.2",
        "RSV bits must be 0 unless a negotiated extension defines them";
    FRAME_RESERVED_OPCODE = "frame.reserved-opcode", Must, "RFC 6455 §5.2",
        "reserved opcodes must not be used";
    FRAME_CONTROL_TOO_LONG = "frame.control-too-long", Must, "RFC 6455 §5.5",
        "control frames carry at most 125 bytes of payload";
    FRAME_CONTROL_FRAGMENTED = "frame.control-fragmented", Must, "RFC 6455 §5.5",
        "control frames must not be fragmented";
    FRAME_CONTINUATION_WITHOUT_START = "frame.continuation-without-start", Must, "RFC 6455 §5.4",
        "a continuation frame needs an open fragmented message";
    FRAME_DATA_DURING_FRAGMENTED = "frame.data-during-fragmented-message", Must, "RFC 6455 §5.4",
        "a new data message cannot start before the fragmented one ends";
    FRAME_LENGTH_NOT_MINIMAL = "frame.length-not-minimal", Must, "RFC 6455 §5.2",
        "the payload length must use the minimal number of bytes";
    FRAME_LENGTH_MSB_SET = "frame.length-msb-set", Must, "RFC 6455 §5.2",
        "the most significant bit of a 64-bit length must be 0";
    FRAME_TEXT_INVALID_UTF8 = "frame.text-invalid-utf8", Must, "RFC 6455 §8.1",
        "a text message must be valid UTF-8";
    FRAME_CLOSE_PAYLOAD_LENGTH = "frame.close-payload-length", Must, "RFC 6455 §5.5.1",
        "a close body is empty or at least a 2-byte code";
    FRAME_CLOSE_CODE_INVALID = "frame.close-code-invalid", Must, "RFC 6455 §7.4",
        "the close code must be one that may be sent";
    FRAME_CLOSE_REASON_INVALID_UTF8 = "frame.close-reason-invalid-utf8", Must, "RFC 6455 §5.5.1",
        "a close reason must be valid UTF-8";
    FRAME_AFTER_CLOSE = "frame.after-close", Must, "RFC 6455 §5.5.1",
        "no data frame (nor any non-frame byte) may follow a side's Close frame";
    FRAME_CLOSE_REPEATED = "frame.close-repeated", Info, "RFC 6455 §5.5.1",
        "a side sent a second Close frame; the closing handshake takes one from each side";
    FRAME_DESYNC = "frame.desync", Must, "RFC 6455 §5.2",
        "the byte stream no longer parses as frames";
    FRAME_TOO_LARGE = "frame.too-large", Info, "dispel limits",
        "a message exceeded the assembly cap and was truncated";
    // permessage-deflate (RFC 7692).
    DEFLATE_RSV1_ON_CONTINUATION = "deflate.rsv1-on-continuation", Must, "RFC 7692 §6.1",
        "RSV1 is set on the first frame of a compressed message only";
    DEFLATE_INFLATE_FAILED = "deflate.inflate-failed", Must, "RFC 7692 §7.2.2",
        "a compressed message could not be inflated";
    DEFLATE_TOO_LARGE = "deflate.too-large", Info, "dispel limits",
        "a message inflated past the decompression cap";
    // Engine.IO.
    ENGINEIO_UNKNOWN_TYPE = "engineio.unknown-type", Must, "Engine.IO protocol §packet types",
        "an Engine.IO packet type must be 0–6";
    ENGINEIO_BAD_OPEN = "engineio.bad-open", Must, "Engine.IO protocol §handshake",
        "the open packet must carry a JSON handshake with a sid";
    ENGINEIO_VERSION_MISMATCH = "engineio.version-mismatch", Info, "Engine.IO protocol §handshake",
        "client and server speak different Engine.IO versions";
    ENGINEIO_PING_DIRECTION = "engineio.ping-direction", Must, "Engine.IO protocol §heartbeat",
        "pings come from the server in v4 and from the client in v3";
    ENGINEIO_HEARTBEAT_LATE = "engineio.heartbeat-late", Should, "Engine.IO protocol §heartbeat",
        "pings come within pingInterval and pongs within pingTimeout";
    ENGINEIO_TOO_MANY_PACKETS = "engineio.too-many-packets", Should, "Engine.IO protocol §payload",
        "a polling payload carried more packets than the cap";
    ENGINEIO_V3_LENGTH_MISMATCH = "engineio.v3-length-mismatch", Must, "Engine.IO protocol v3 §payload",
        "a v3 payload length prefix does not match its packet";
    ENGINEIO_AFTER_UPGRADE = "engineio.after-upgrade", Must, "Engine.IO protocol §upgrade",
        "polling was used after the upgrade completed";
    ENGINEIO_BAD_PAYLOAD = "engineio.bad-payload", Must, "Engine.IO protocol §payload",
        "a polling payload could not be decoded";
    ENGINEIO_PING_TIMEOUT = "engineio.ping-timeout", Should, "Engine.IO protocol §heartbeat",
        "a session ended because a heartbeat went unanswered past pingTimeout (or no ping came within pingInterval + pingTimeout)";
    ENGINEIO_SESSION_UNKNOWN = "engineio.session-unknown", Should, "Engine.IO protocol §handshake",
        "a request named a session id the server does not know (restarted server, or no sticky sessions)";
    ENGINEIO_PAYLOAD_TOO_LARGE = "engineio.payload-too-large", Should, "Engine.IO protocol §handshake (maxPayload)",
        "a session ended because a payload exceeded the server's size limit";
    ENGINEIO_ORIGIN_REFUSED = "engineio.origin-refused", Info, "Engine.IO protocol §handshake",
        "the server refused a handshake because of its Origin (CORS)";
    // Socket.IO.
    SOCKETIO_UNKNOWN_TYPE = "socketio.unknown-type", Must, "Socket.IO protocol §packet types",
        "a Socket.IO packet type must be 0–6";
    SOCKETIO_BAD_PAYLOAD = "socketio.bad-payload", Must, "Socket.IO protocol §packet format",
        "the packet's data does not have the shape its type requires";
    SOCKETIO_RESERVED_EVENT = "socketio.reserved-event", Must, "Socket.IO protocol §event names",
        "reserved event names cannot be emitted";
    SOCKETIO_MISSING_ATTACHMENTS = "socketio.missing-attachments", Must, "Socket.IO protocol §binary",
        "a binary packet's attachments must follow it before anything else";
    SOCKETIO_ORPHAN_ATTACHMENT = "socketio.orphan-attachment", Must, "Socket.IO protocol §binary",
        "a binary message arrived with no binary packet waiting for it";
    SOCKETIO_PLACEHOLDER_OUT_OF_RANGE = "socketio.placeholder-out-of-range", Must, "Socket.IO protocol §binary",
        "a placeholder's num must be below the attachment count";
    SOCKETIO_TOO_MANY_ATTACHMENTS = "socketio.too-many-attachments", Should, "socket.io-parser limits",
        "a packet claimed more attachments than the cap";
    SOCKETIO_ACK_UNMATCHED = "socketio.ack-unmatched", Should, "Socket.IO protocol §acknowledgements",
        "an ack answers no event, or an event's ack never came";
    SOCKETIO_CONNECT_MISSING = "socketio.connect-missing", Must, "Socket.IO protocol v5 §connection",
        "a v5 client must send CONNECT before using a namespace";
    SOCKETIO_UNKNOWN_ENCODING = "socketio.unknown-encoding", Info, "Socket.IO docs §custom parser",
        "a session's binary messages fit no Socket.IO parser dispel knows";
}

/// Looks a rule up by id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_dotted_and_lowercase() {
        let mut seen = HashSet::new();
        for r in ALL {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            assert!(r.id.contains('.'), "{} is not dotted", r.id);
            assert_eq!(r.id, r.id.to_lowercase());
            assert!(!r.section.is_empty() && !r.title.is_empty());
        }
        assert_eq!(by_id("frame.client-unmasked"), Some(&FRAME_CLIENT_UNMASKED));
        assert_eq!(by_id("no.such-rule"), None);
    }
}
