//! Socket.IO: namespaces, events and acknowledgements on top of Engine.IO.
//!
//! Each Socket.IO packet travels as the data of one Engine.IO `message`
//! packet, so on the wire `socket.emit("chat", "hi")` is `42["chat","hi"]`:
//! `4` is Engine.IO's message type, the rest is decoded here. Binary values
//! are lifted out of the JSON into placeholders and follow as separate
//! Engine.IO binary messages; [`BinaryAssembler`] puts them back together.
//!
//! Sources, in order of authority: dispel's `PROTOCOLS.md` §5, then the
//! Socket.IO protocol specification — revision 4 (on Engine.IO 3; JS 1.x/2.x,
//! python-socketio 4.x) and revision 5 (on Engine.IO 4; JS 3.x/4.x,
//! python-socketio 5.x) — then socket.io-parser, whose caps (10 attachments)
//! dispel adopts.
//!
//! Like [`crate::proto::engineio`], this is an observer's decode: pure
//! functions from text to typed values, every field with a byte range into
//! the text it was decoded from (the Engine.IO message data, after its `4`),
//! and violations reported as [`Problem`] values, never panics. Caps from
//! [`Limits`] bound every number an attacker can choose before anything is
//! allocated or recursed on.

use std::borrow::Cow;
use std::ops::Range;

mod binary;
mod json;
mod msgpack;
mod packet;
#[cfg(test)]
mod proptests;

pub use crate::proto::engineio::Limits;
pub use binary::{
    Assembled, Attachment, BinaryAssembler, LogicalPacket, Placeholder, placeholders, reconstruct,
};
pub use msgpack::{Encoding, MsgpackPacket, MsgpackProblem, decode_msgpack, looks_like_map};
pub use packet::{
    Payload, RESERVED_EVENTS, check_payload, decode, decode_with, encode, event_name,
};

use crate::proto::engineio::Version;
use crate::rules::{self, Rule};

/// Socket.IO protocol revision; each runs on one Engine.IO revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Revision 4, on Engine.IO 3 (JS 1.x/2.x, python-socketio 4.x).
    V4,
    /// Revision 5, on Engine.IO 4 (JS 3.x/4.x, python-socketio 5.x).
    V5,
}

impl Protocol {
    /// The Socket.IO revision that runs on an Engine.IO revision.
    pub fn for_engineio(version: Version) -> Protocol {
        match version {
            Version::V3 => Protocol::V4,
            Version::V4 => Protocol::V5,
        }
    }

    /// The revision number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::V4 => 4,
            Protocol::V5 => 5,
        }
    }
}

/// Socket.IO packet type. `Unknown` keeps a type character outside 0–6 as
/// found (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: join a namespace (client), or accept the join (server).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event, `["name", args…]`.
    Event,
    /// `3`: the answer to an event that carried an ack id.
    Ack,
    /// `4`: the server refuses a namespace (`ERROR` in protocol 4).
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
    /// A type character outside 0–6.
    Unknown(u8),
}

impl PacketType {
    /// The packet type for a numeric value 0–6.
    pub fn from_digit(digit: u8) -> Option<PacketType> {
        Some(match digit {
            0 => PacketType::Connect,
            1 => PacketType::Disconnect,
            2 => PacketType::Event,
            3 => PacketType::Ack,
            4 => PacketType::ConnectError,
            5 => PacketType::BinaryEvent,
            6 => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// The packet type for the first byte of a packet (`b'2'` → EVENT).
    pub fn from_ascii(byte: u8) -> PacketType {
        byte.checked_sub(b'0')
            .and_then(PacketType::from_digit)
            .unwrap_or(PacketType::Unknown(byte))
    }

    /// The numeric value 0–6, or `None` for an unknown type.
    pub fn digit(self) -> Option<u8> {
        Some(match self {
            PacketType::Connect => 0,
            PacketType::Disconnect => 1,
            PacketType::Event => 2,
            PacketType::Ack => 3,
            PacketType::ConnectError => 4,
            PacketType::BinaryEvent => 5,
            PacketType::BinaryAck => 6,
            PacketType::Unknown(_) => return None,
        })
    }

    /// The type's name in the given protocol's terms: type 4 is `ERROR` in
    /// protocol 4 and `CONNECT_ERROR` in protocol 5.
    pub fn name(self, protocol: Protocol) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Event => "EVENT",
            PacketType::Ack => "ACK",
            PacketType::ConnectError => match protocol {
                Protocol::V4 => "ERROR",
                Protocol::V5 => "CONNECT_ERROR",
            },
            PacketType::BinaryEvent => "BINARY_EVENT",
            PacketType::BinaryAck => "BINARY_ACK",
            PacketType::Unknown(_) => "UNKNOWN",
        }
    }

    /// Whether packets of this type announce binary attachments (`5`, `6`).
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }

    /// Whether the type is one of the seven the protocol defines.
    pub fn is_known(self) -> bool {
        !matches!(self, PacketType::Unknown(_))
    }
}

/// One decoded Socket.IO packet.
///
/// Spans are byte ranges into the text given to [`decode`]; an absent field
/// has no span.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type.
    pub ptype: PacketType,
    /// For `BINARY_EVENT` / `BINARY_ACK`, the number of attachments announced
    /// before `-`.
    pub attachments: Option<u64>,
    /// The namespace; `/` when the packet names none (borrowed then: most
    /// packets name none, and this saves an allocation for each).
    pub nsp: Cow<'static, str>,
    /// The acknowledgement id.
    pub ack_id: Option<u64>,
    /// The JSON payload.
    pub data: Option<serde_json::Value>,
    /// The type character.
    pub type_span: Range<usize>,
    /// The attachment count digits (without `-`).
    pub attachments_span: Option<Range<usize>>,
    /// The namespace (without the `,` that ends it).
    pub nsp_span: Option<Range<usize>>,
    /// The ack id digits.
    pub ack_span: Option<Range<usize>>,
    /// The JSON text; for an unknown type, everything after the type.
    pub data_span: Option<Range<usize>>,
}

impl Packet {
    /// A packet with only a type, in the default namespace (spans empty).
    pub fn new(ptype: PacketType) -> Packet {
        Packet {
            ptype,
            attachments: None,
            nsp: Cow::Borrowed("/"),
            ack_id: None,
            data: None,
            type_span: 0..0,
            attachments_span: None,
            nsp_span: None,
            ack_span: None,
            data_span: None,
        }
    }
}

/// A Socket.IO protocol violation.
///
/// Spans are byte ranges into the text given to [`decode`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
pub enum Problem {
    /// The Engine.IO message carried no Socket.IO packet at all.
    EmptyPacket,
    /// A type character outside 0–6.
    UnknownType {
        /// The type character.
        span: Range<usize>,
        /// Its first byte.
        byte: u8,
    },
    /// A `BINARY_EVENT` / `BINARY_ACK` without a valid `<count>-` prefix.
    BadAttachmentCount {
        /// The count, as far as it goes.
        span: Range<usize>,
        /// What is wrong.
        why: &'static str,
    },
    /// A namespace longer than [`Limits::max_namespace_len`].
    BadNamespace {
        /// The namespace.
        span: Range<usize>,
        /// Its length in bytes.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// An ack id with more digits than [`Limits::max_ack_id_digits`] or too
    /// large for 64 bits.
    BadAckId {
        /// The digits.
        span: Range<usize>,
        /// What is wrong.
        why: &'static str,
    },
    /// JSON nested deeper than [`Limits::max_json_depth`].
    JsonTooDeep {
        /// From the bracket that went too deep to the end of the JSON.
        span: Range<usize>,
        /// The cap.
        cap: usize,
    },
    /// Text after the header that is not valid JSON.
    BadJson {
        /// The JSON text.
        span: Range<usize>,
        /// The parser's complaint.
        why: String,
    },
    /// A payload of the wrong shape for the packet type.
    BadPayload {
        /// The packet type.
        ptype: PacketType,
        /// The protocol whose rule applies.
        protocol: Protocol,
        /// What the rule requires.
        expected: &'static str,
        /// What was found.
        found: &'static str,
        /// The payload, when there is one.
        span: Option<Range<usize>>,
    },
    /// An event named with a name the libraries reserve.
    ReservedEvent {
        /// The event name.
        name: String,
        /// The payload.
        span: Option<Range<usize>>,
    },
    /// A text message arrived (or the stream ended) before all announced
    /// attachments did.
    MissingAttachments {
        /// Attachments announced.
        expected: u64,
        /// Attachments received.
        received: usize,
        /// Input index of the packet that announced them.
        header_input: usize,
    },
    /// A binary message with no packet waiting for attachments.
    OrphanAttachment {
        /// Its input index.
        input: usize,
    },
    /// A placeholder whose `num` is not an index into the attachments.
    PlaceholderOutOfRange {
        /// The placeholder's JSON pointer in the payload.
        path: String,
        /// The `num` found, when it is a non-negative integer.
        num: Option<u64>,
        /// Attachments announced.
        attachments: u64,
    },
    /// A packet announcing more attachments than [`Limits::max_attachments`].
    TooManyAttachments {
        /// Attachments announced.
        claimed: u64,
        /// The cap.
        cap: u64,
    },
}

impl Problem {
    /// One sentence that teaches what the rule is and what was seen.
    pub fn message(&self) -> String {
        match self {
            Problem::EmptyPacket => {
                "The Engine.IO message is empty, but a Socket.IO packet starts \
                 with its type digit 0–6."
                    .to_owned()
            }
            Problem::UnknownType { byte, .. } => format!(
                "The Socket.IO type is {}, but only 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, \
                 4 CONNECT_ERROR, 5 BINARY_EVENT and 6 BINARY_ACK exist; the rest of the packet \
                 cannot be read.",
                show_byte(*byte)
            ),
            Problem::BadAttachmentCount { why, .. } => format!(
                "A binary packet starts with its number of attachments and a `-` (as in \
                 `451-[…]`), but {why}."
            ),
            Problem::BadNamespace { len, cap, .. } => format!(
                "The namespace is {len} bytes long; dispel refuses namespaces over {cap} bytes, \
                 far beyond any real one."
            ),
            Problem::BadAckId { why, .. } => format!(
                "The acknowledgement id is a decimal number after the namespace, but {why}."
            ),
            Problem::JsonTooDeep { span, cap } => format!(
                "The JSON payload nests more than {cap} arrays or objects (at byte {}); dispel \
                 stops there so that hostile input cannot exhaust the parser's stack.",
                span.start
            ),
            Problem::BadJson { why, .. } => format!(
                "Everything after the header must be one JSON value, but this is not JSON \
                 ({why})."
            ),
            Problem::BadPayload {
                ptype,
                protocol,
                expected,
                found,
                ..
            } => {
                let name = ptype.name(*protocol);
                let article = if name.starts_with(['A', 'E', 'U']) {
                    "an"
                } else {
                    "a"
                };
                format!(
                    "In Socket.IO protocol {}, {article} {name} packet carries {expected}, but \
                     this one carries {found}.",
                    protocol.number()
                )
            }
            Problem::ReservedEvent { name, .. } => format!(
                "The event name \"{name}\" is reserved for the library's own events (connect, \
                 connect_error, disconnect, disconnecting, newListener, removeListener), so a \
                 receiver refuses it."
            ),
            Problem::MissingAttachments { .. } | Problem::OrphanAttachment { .. } => {
                self.message_with_steps(|_| None)
            }
            Problem::PlaceholderOutOfRange {
                path,
                num,
                attachments,
            } => format!(
                "The placeholder at {} has num {}, but with {attachments} attachment{} it must \
                 be a whole number from 0 to {}.",
                if path.is_empty() { "the root" } else { path },
                num.map_or_else(
                    || "that is not a whole number".to_owned(),
                    |n| n.to_string()
                ),
                if *attachments == 1 { "" } else { "s" },
                attachments.saturating_sub(1)
            ),
            Problem::TooManyAttachments { claimed, cap } => format!(
                "The packet announces {claimed} attachments, but socket.io-parser refuses more \
                 than {cap}; no attachments are awaited for it."
            ),
        }
    }

    /// The message, naming the Engine.IO message an attachment problem is
    /// about by its step number where `step_of` knows it (input index →
    /// step): evidence a student can look up, rather than an index into
    /// the decoder's inputs.
    pub fn message_with_steps(&self, step_of: impl Fn(usize) -> Option<u64>) -> String {
        match self {
            Problem::MissingAttachments {
                expected,
                received,
                header_input,
            } => {
                let which = match step_of(*header_input) {
                    Some(st) => format!("The binary packet of step {st}"),
                    None => "A binary packet".to_owned(),
                };
                format!(
                    "{which} announced {expected} attachment{}, but only {received} arrived \
                     before the next packet; its attachments must follow it immediately, as \
                     binary messages from the same side.",
                    if *expected == 1 { "" } else { "s" }
                )
            }
            Problem::OrphanAttachment { input } => {
                let which = match step_of(*input) {
                    Some(st) => format!("The binary message of step {st}"),
                    None => "This binary message".to_owned(),
                };
                format!(
                    "{which} is not awaited by any packet: binary attachments only follow a \
                     BINARY_EVENT or BINARY_ACK that announces them, and no such packet from \
                     this side is waiting for one."
                )
            }
            other => other.message(),
        }
    }

    /// The finding rule this problem breaks: the one place a Socket.IO
    /// problem meets the rule registry ([`crate::rules`]).
    pub fn rule(&self) -> &'static Rule {
        match self {
            Problem::UnknownType { .. } => &rules::SOCKETIO_UNKNOWN_TYPE,
            Problem::ReservedEvent { .. } => &rules::SOCKETIO_RESERVED_EVENT,
            Problem::MissingAttachments { .. } => &rules::SOCKETIO_MISSING_ATTACHMENTS,
            Problem::OrphanAttachment { .. } => &rules::SOCKETIO_ORPHAN_ATTACHMENT,
            Problem::PlaceholderOutOfRange { .. } => &rules::SOCKETIO_PLACEHOLDER_OUT_OF_RANGE,
            Problem::TooManyAttachments { .. } => &rules::SOCKETIO_TOO_MANY_ATTACHMENTS,
            Problem::EmptyPacket
            | Problem::BadAttachmentCount { .. }
            | Problem::BadNamespace { .. }
            | Problem::BadAckId { .. }
            | Problem::JsonTooDeep { .. }
            | Problem::BadJson { .. }
            | Problem::BadPayload { .. } => &rules::SOCKETIO_BAD_PAYLOAD,
        }
    }

    /// The bytes of the decoded text the problem is about, when it is about
    /// particular bytes.
    pub fn span(&self) -> Option<Range<usize>> {
        match self {
            Problem::UnknownType { span, .. }
            | Problem::BadAttachmentCount { span, .. }
            | Problem::BadNamespace { span, .. }
            | Problem::BadAckId { span, .. }
            | Problem::JsonTooDeep { span, .. }
            | Problem::BadJson { span, .. } => Some(span.clone()),
            Problem::BadPayload { span, .. } | Problem::ReservedEvent { span, .. } => span.clone(),
            Problem::EmptyPacket
            | Problem::MissingAttachments { .. }
            | Problem::OrphanAttachment { .. }
            | Problem::PlaceholderOutOfRange { .. }
            | Problem::TooManyAttachments { .. } => None,
        }
    }
}

/// A byte as a student would recognise it: the character when printable.
fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", char::from(byte))
    } else {
        format!("0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_teaches() {
        let all = [
            Problem::EmptyPacket,
            Problem::UnknownType {
                span: 0..1,
                byte: b'9',
            },
            Problem::BadAttachmentCount {
                span: 1..1,
                why: "no count follows the type",
            },
            Problem::BadNamespace {
                span: 1..2001,
                len: 2000,
                cap: 1024,
            },
            Problem::BadAckId {
                span: 1..30,
                why: "it does not fit in 64 bits",
            },
            Problem::JsonTooDeep {
                span: 65..100,
                cap: 64,
            },
            Problem::BadJson {
                span: 1..3,
                why: "EOF".into(),
            },
            Problem::BadPayload {
                ptype: PacketType::ConnectError,
                protocol: Protocol::V4,
                expected: "a string",
                found: "an array",
                span: None,
            },
            Problem::ReservedEvent {
                name: "disconnect".into(),
                span: None,
            },
            Problem::MissingAttachments {
                expected: 2,
                received: 1,
                header_input: 0,
            },
            Problem::OrphanAttachment { input: 3 },
            Problem::PlaceholderOutOfRange {
                path: "/1".into(),
                num: Some(4),
                attachments: 1,
            },
            Problem::TooManyAttachments {
                claimed: 1_000_000_000,
                cap: 10,
            },
        ];
        let mut ids = std::collections::BTreeSet::new();
        for p in &all {
            let m = p.message();
            assert!(m.ends_with('.') && m.len() > 40, "{m}");
            assert_eq!(p.to_string(), m);
            assert!(rules::ALL.contains(&p.rule()), "{p:?}: unregistered rule");
            ids.insert(p.rule().id);
        }
        // Every problem-specific rule is reachable; the rest share bad-payload.
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            [
                "socketio.bad-payload",
                "socketio.missing-attachments",
                "socketio.orphan-attachment",
                "socketio.placeholder-out-of-range",
                "socketio.reserved-event",
                "socketio.too-many-attachments",
                "socketio.unknown-type",
            ]
        );
        // Type 4 goes by its protocol-4 name in protocol 4's rules.
        assert!(
            all[7].message().contains("an ERROR packet")
                || all[7].message().contains("a ERROR packet")
        );
    }

    #[test]
    fn packet_types() {
        for d in 0..=6 {
            let t = PacketType::from_digit(d).unwrap();
            assert_eq!(t.digit(), Some(d));
            assert_eq!(PacketType::from_ascii(b'0' + d), t);
        }
        assert_eq!(PacketType::ConnectError.name(Protocol::V4), "ERROR");
        assert_eq!(PacketType::ConnectError.name(Protocol::V5), "CONNECT_ERROR");
        assert_eq!(Protocol::for_engineio(Version::V3), Protocol::V4);
        assert_eq!(Protocol::for_engineio(Version::V4), Protocol::V5);
    }
}
