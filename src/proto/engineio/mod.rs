//! Engine.IO: the transport layer under Socket.IO.
//!
//! Engine.IO carries a session of small packets (`open`, `ping`, `message`, …)
//! over either HTTP long-polling or a WebSocket. This module decodes what one
//! observed request, response or WebSocket message contains; it keeps no
//! session state and knows nothing of TCP, steps or lessons.
//!
//! Sources, in order of authority: dispel's `PROTOCOLS.md` §4, then the
//! Engine.IO protocol specification — revision 3 (`engine.io-protocol` branch
//! `v3`, used by JS clients 1.x/2.x and python-engineio 3.x) and revision 4
//! (JS 3.x/4.x, python-engineio 4.x) — then the reference parsers
//! (`engine.io-parser`, python-engineio). Where they disagree the choice is
//! written next to the code; the main ones are:
//!
//! * v3 polling lengths: the spec and JavaScript count UTF-16 code units,
//!   python-engineio 3.x counted UTF-8 bytes. Both are accepted, JavaScript's
//!   first, and each record says which rule matched ([`LengthRule`]).
//! * The spec's sample-session arrows for the upgrade contradict its prose;
//!   nothing here depends on direction, so the question never arises.
//!
//! Everything is an observer's decode: a violation becomes a [`Problem`] next
//! to whatever could still be decoded, never a panic. Every packet carries
//! byte ranges into the exact input it was decoded from, so a caller can
//! highlight the bytes behind each field.
//!
//! Entry points: [`decode_ws_text`] and [`decode_ws_binary`] for WebSocket
//! messages, [`decode_payload`] for polling bodies (after undoing chunked and
//! gzip framing), [`unwrap_jsonp_response`] / [`unwrap_jsonp_post`] for v3
//! JSONP, [`parse_request_target`] for the query string and [`parse_open`]
//! for the handshake.

use std::borrow::Cow;
use std::ops::Range;

use crate::rules::{self, Rule};

mod jsonp;
mod open;
mod packet;
mod payload;
#[cfg(test)]
mod proptests;
mod query;

pub use jsonp::{unwrap_jsonp_post, unwrap_jsonp_response, wrap_jsonp_post, wrap_jsonp_response};
pub use open::{OpenInfo, parse_open};
pub use packet::{decode_ws_binary, decode_ws_text, encode_ws_binary, encode_ws_text};
pub use payload::{
    Framing, LengthRule, PYTHON_ENGINEIO_MAX_PACKETS, Payload, PayloadPacket, decode_payload,
    encode_payload, encode_v3_binary_payload, encode_v3_text_payload, is_post_ack,
};
pub use query::{Query, parse_request_target};

/// Engine.IO protocol revision, from the `EIO=` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// Revision 3 (`EIO=3`): Socket.IO protocol 4, JS client 1.x/2.x,
    /// python-engineio 3.x.
    V3,
    /// Revision 4 (`EIO=4`): Socket.IO protocol 5, JS 3.x/4.x,
    /// python-engineio 4.x.
    V4,
}

impl Version {
    /// The version for an `EIO=` value; revisions 1 and 2 predate every
    /// library the course uses, so they are not recognised.
    pub fn from_eio(eio: u8) -> Option<Version> {
        match eio {
            3 => Some(Version::V3),
            4 => Some(Version::V4),
            _ => None,
        }
    }

    /// The number written in `EIO=`.
    pub fn number(self) -> u8 {
        match self {
            Version::V3 => 3,
            Version::V4 => 4,
        }
    }
}

/// Engine.IO packet type (identical in v3 and v4).
///
/// Unknown type bytes are kept as data: `Unknown` holds the type byte exactly
/// as it appeared on the wire — an ASCII character such as `b'7'` in a text
/// packet, a raw byte such as `0x07` in a v3 binary packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: the server's handshake, JSON data (see [`parse_open`]).
    Open,
    /// `1`: closes the transport.
    Close,
    /// `2`: heartbeat request (client→server in v3, server→client in v4), or
    /// `2probe` during the upgrade.
    Ping,
    /// `3`: heartbeat answer, or `3probe` during the upgrade.
    Pong,
    /// `4`: application data; Socket.IO packets travel inside these.
    Message,
    /// `5`: completes the switch from polling to WebSocket.
    Upgrade,
    /// `6`: does nothing; used to flush a pending long-poll during an upgrade.
    Noop,
    /// A type byte outside 0–6, as found on the wire.
    Unknown(u8),
}

impl PacketType {
    /// The packet type for a numeric value 0–6; `None` for any other value.
    pub fn from_digit(digit: u8) -> Option<PacketType> {
        Some(match digit {
            0 => PacketType::Open,
            1 => PacketType::Close,
            2 => PacketType::Ping,
            3 => PacketType::Pong,
            4 => PacketType::Message,
            5 => PacketType::Upgrade,
            6 => PacketType::Noop,
            _ => return None,
        })
    }

    /// The packet type for the first byte of a text packet (`b'4'` → message).
    pub fn from_ascii(byte: u8) -> PacketType {
        byte.checked_sub(b'0')
            .and_then(PacketType::from_digit)
            .unwrap_or(PacketType::Unknown(byte))
    }

    /// The packet type for the first byte of a v3 binary packet (`0x04` →
    /// message).
    pub fn from_raw_byte(byte: u8) -> PacketType {
        PacketType::from_digit(byte).unwrap_or(PacketType::Unknown(byte))
    }

    /// The numeric value 0–6, or `None` for an unknown type.
    pub fn digit(self) -> Option<u8> {
        Some(match self {
            PacketType::Open => 0,
            PacketType::Close => 1,
            PacketType::Ping => 2,
            PacketType::Pong => 3,
            PacketType::Message => 4,
            PacketType::Upgrade => 5,
            PacketType::Noop => 6,
            PacketType::Unknown(_) => return None,
        })
    }

    /// The type's name as the specification writes it (`"message"`), or
    /// `"unknown"`.
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Open => "open",
            PacketType::Close => "close",
            PacketType::Ping => "ping",
            PacketType::Pong => "pong",
            PacketType::Message => "message",
            PacketType::Upgrade => "upgrade",
            PacketType::Noop => "noop",
            PacketType::Unknown(_) => "unknown",
        }
    }

    /// Whether the type is one of the seven the protocol defines.
    pub fn is_known(self) -> bool {
        !matches!(self, PacketType::Unknown(_))
    }

    /// The byte that stands for this type in a text packet.
    fn ascii(self) -> u8 {
        match (self, self.digit()) {
            (_, Some(d)) => b'0'.saturating_add(d),
            (PacketType::Unknown(b), None) => b,
            (_, None) => b'?',
        }
    }
}

/// What a packet carries after its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    /// Nothing follows the type (`2`, `6`).
    Empty,
    /// Text, borrowed from the input (`4hello` → `hello`).
    Text(&'a str),
    /// Binary data: borrowed for raw WebSocket / XHR2 bytes, owned when it
    /// was decoded from base64.
    Binary(Cow<'a, [u8]>),
    /// Bytes that could not be decoded as the packet claims (text that is not
    /// UTF-8, base64 that is not base64); kept so nothing is lost. A
    /// [`Problem`] on the packet says why.
    Undecoded(&'a [u8]),
}

/// One decoded Engine.IO packet.
///
/// All ranges are byte offsets into the buffer handed to the decoder (the
/// WebSocket message, the polling body, or the unwrapped JSONP text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The packet type.
    pub ptype: PacketType,
    /// The data after the type.
    pub data: Data<'a>,
    /// Whether the data travelled as base64 text (`b…`).
    pub base64: bool,
    /// The whole packet, from its first byte to its last.
    pub span: Range<usize>,
    /// The type byte (for a `b…` packet: the type after `b` in v3, the `b`
    /// marker itself in v4, where it stands for "binary message"; empty for
    /// a v4 binary WebSocket message, which has no type on the wire).
    pub type_span: Range<usize>,
    /// The data as it appears on the wire (the base64 text for `b…` packets).
    pub data_span: Range<usize>,
    /// Violations found in this packet, in the order found.
    pub problems: Vec<Problem>,
}

impl<'a> Packet<'a> {
    /// The text data: `Some("")` for a packet with no data, `None` for
    /// binary or undecoded data.
    pub fn text(&self) -> Option<&'a str> {
        match self.data {
            Data::Text(t) => Some(t),
            Data::Empty => Some(""),
            Data::Binary(_) | Data::Undecoded(_) => None,
        }
    }

    /// An owned copy, for encoders and tests. Undecoded bytes become binary.
    pub fn to_owned_packet(&self) -> OwnedPacket {
        OwnedPacket {
            ptype: self.ptype,
            data: match &self.data {
                Data::Empty => OwnedData::Empty,
                Data::Text(t) => OwnedData::Text((*t).to_owned()),
                Data::Binary(b) => OwnedData::Binary(b.to_vec()),
                Data::Undecoded(b) => OwnedData::Binary(b.to_vec()),
            },
        }
    }
}

/// Packet data owned by the caller, for building packets to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedData {
    /// Nothing after the type.
    Empty,
    /// Text data.
    Text(String),
    /// Binary data.
    Binary(Vec<u8>),
}

/// A packet to encode (see [`encode_payload`], [`encode_ws_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPacket {
    /// The packet type.
    pub ptype: PacketType,
    /// The data after the type.
    pub data: OwnedData,
}

impl OwnedPacket {
    /// A text packet; empty text is the same as no data on the wire.
    pub fn text(ptype: PacketType, text: impl Into<String>) -> OwnedPacket {
        let text = text.into();
        let data = if text.is_empty() {
            OwnedData::Empty
        } else {
            OwnedData::Text(text)
        };
        OwnedPacket { ptype, data }
    }

    /// A binary packet.
    pub fn binary(ptype: PacketType, bytes: impl Into<Vec<u8>>) -> OwnedPacket {
        OwnedPacket {
            ptype,
            data: OwnedData::Binary(bytes.into()),
        }
    }
}

/// Caps that keep hostile input from costing unbounded time or memory, for
/// both this module and [`crate::proto::socketio`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Packets kept from one polling payload; the rest are counted, not
    /// decoded. python-engineio itself refuses more than
    /// [`PYTHON_ENGINEIO_MAX_PACKETS`], which [`Payload`] reports as a fact.
    pub max_packets: usize,
    /// Binary attachments one Socket.IO packet may announce (current
    /// socket.io-parser refuses more than 10).
    pub max_attachments: u64,
    /// Nesting depth of `[` / `{` accepted in Socket.IO JSON, checked by a
    /// byte scan before any JSON parser recurses.
    pub max_json_depth: usize,
    /// Digits accepted in a Socket.IO ack id; 19 digits always fit in a u64.
    pub max_ack_id_digits: usize,
    /// Bytes accepted in a Socket.IO namespace.
    pub max_namespace_len: usize,
    /// Socket.IO events with an ack id still waiting for their ack, per
    /// session; past it one waiting event is forgotten (its ack, if it
    /// comes, is then reported unmatched).
    pub max_pending_acks: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_packets: 1000,
            max_attachments: 10,
            max_json_depth: 64,
            max_ack_id_digits: 19,
            max_namespace_len: 1024,
            max_pending_acks: 4096,
        }
    }
}

/// An Engine.IO protocol violation, found while decoding.
///
/// Spans are byte ranges into the decoder's input, like [`Packet`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum Problem {
    /// A polling body with no packet at all.
    EmptyPayload,
    /// A packet with no type byte (an empty record or message, or a lone `b`).
    EmptyPacket {
        /// Where the packet should have been.
        span: Range<usize>,
    },
    /// A type byte outside 0–6; the packet is kept with
    /// [`PacketType::Unknown`].
    UnknownType {
        /// The type byte.
        span: Range<usize>,
        /// The byte as found.
        byte: u8,
    },
    /// Text that is not valid UTF-8.
    NotUtf8 {
        /// From the first invalid byte to the end of the text.
        span: Range<usize>,
    },
    /// Base64 data that a strict decoder refuses.
    BadBase64 {
        /// The base64 text.
        span: Range<usize>,
        /// The decoder's complaint.
        why: String,
        /// Whether a lenient decode (missing padding, stray characters
        /// dropped, as Node and Python do) still recovered the bytes.
        recovered: bool,
    },
    /// More packets in one payload than [`Limits::max_packets`].
    TooManyPackets {
        /// Records found in the payload.
        count: usize,
        /// The cap; only this many were decoded.
        cap: usize,
    },
    /// A v3 length prefix that is not a decimal number followed by `:` (text)
    /// or by `0xFF` (binary), or that does not fit in 64 bits.
    V3BadLength {
        /// The prefix.
        span: Range<usize>,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A v3 text record whose length fits neither counting rule.
    V3LengthMismatch {
        /// The length prefix, including `:`.
        span: Range<usize>,
        /// The declared length.
        declared: u64,
    },
    /// A v3 binary (XHR2) record that starts with neither `0x00` (string)
    /// nor `0x01` (binary).
    V3BadRecordKind {
        /// The kind byte.
        span: Range<usize>,
        /// The byte as found.
        byte: u8,
    },
    /// A v3 binary (XHR2) record whose declared length runs past the body.
    V3Truncated {
        /// The record header (kind, length digits, `0xFF`).
        span: Range<usize>,
        /// The declared length.
        declared: u64,
        /// Bytes left in the body after the header.
        available: usize,
    },
    /// A v3 JSONP body that does not have the expected shape.
    BadJsonp {
        /// What is wrong.
        why: String,
    },
    /// An `open` packet whose JSON is not the handshake object.
    BadOpen {
        /// What is wrong.
        why: String,
    },
}

impl Problem {
    /// One sentence that teaches what the rule is and what was seen.
    pub fn message(&self) -> String {
        match self {
            Problem::EmptyPayload => {
                "The polling body is empty, but an Engine.IO payload carries at \
                 least one packet."
                    .to_owned()
            }
            Problem::EmptyPacket { span } => format!(
                "At byte {} there is a packet with no type: every Engine.IO packet starts with \
                 its type digit 0–6 (a base64 packet with `b`, then in v3 the type digit).",
                span.start
            ),
            Problem::UnknownType { span, byte } => format!(
                "The packet type at byte {} is {}, but Engine.IO defines only 0 open, 1 close, \
                 2 ping, 3 pong, 4 message, 5 upgrade and 6 noop; the packet is kept as unknown.",
                span.start,
                show_byte(*byte)
            ),
            Problem::NotUtf8 { span } => format!(
                "The text from byte {} is not valid UTF-8, which Engine.IO text packets must \
                 be; those bytes are kept undecoded.",
                span.start
            ),
            Problem::BadBase64 {
                span,
                why,
                recovered,
            } => format!(
                "The base64 data at bytes {}..{} is not strict base64 ({why}); {}",
                span.start,
                span.end,
                if *recovered {
                    "a lenient decoder, like Node's and Python's, still recovers the bytes."
                } else {
                    "even a lenient decoder cannot recover the bytes, so they are kept as text."
                }
            ),
            Problem::TooManyPackets { count, cap } => format!(
                "The payload holds {count} packets; dispel decodes the first {cap} and only counts \
                 the rest (python-engineio refuses any payload with more than \
                 {PYTHON_ENGINEIO_MAX_PACKETS})."
            ),
            Problem::V3BadLength { span, why } => format!(
                "The v3 record at byte {} has a bad length prefix: {why}.",
                span.start
            ),
            Problem::V3LengthMismatch { span, declared } => format!(
                "The v3 record at byte {} declares length {declared}, but neither counting UTF-16 \
                 code units (as JavaScript does) nor UTF-8 bytes (as python-engineio 3.x did) \
                 ends it exactly at the next record or at the end of the body.",
                span.start
            ),
            Problem::V3BadRecordKind { span, byte } => format!(
                "The v3 binary record at byte {} starts with {}, but each record of a binary \
                 (XHR2) payload starts with 0x00 for a string packet or 0x01 for a binary packet.",
                span.start,
                show_byte(*byte)
            ),
            Problem::V3Truncated {
                span,
                declared,
                available,
            } => format!(
                "The v3 binary record at byte {} declares {declared} bytes, but only {available} \
                 remain in the body.",
                span.start
            ),
            Problem::BadJsonp { why } => {
                format!("This is not a v3 JSONP body as engine.io writes it: {why}.")
            }
            Problem::BadOpen { why } => format!(
                "The open packet must carry the handshake object \
                 {{\"sid\":…,\"upgrades\":[…],\"pingInterval\":…,\"pingTimeout\":…}}, but {why}."
            ),
        }
    }

    /// The finding rule this problem breaks: the one place an Engine.IO
    /// problem meets the rule registry ([`crate::rules`]).
    pub fn rule(&self) -> &'static Rule {
        match self {
            Problem::UnknownType { .. } => &rules::ENGINEIO_UNKNOWN_TYPE,
            Problem::BadOpen { .. } => &rules::ENGINEIO_BAD_OPEN,
            Problem::V3LengthMismatch { .. } => &rules::ENGINEIO_V3_LENGTH_MISMATCH,
            Problem::TooManyPackets { .. } => &rules::ENGINEIO_TOO_MANY_PACKETS,
            Problem::EmptyPayload
            | Problem::EmptyPacket { .. }
            | Problem::NotUtf8 { .. }
            | Problem::BadBase64 { .. }
            | Problem::V3BadLength { .. }
            | Problem::V3BadRecordKind { .. }
            | Problem::V3Truncated { .. }
            | Problem::BadJsonp { .. } => &rules::ENGINEIO_BAD_PAYLOAD,
        }
    }

    /// The bytes the problem is about, when it is about particular bytes.
    pub fn span(&self) -> Option<Range<usize>> {
        match self {
            Problem::EmptyPacket { span }
            | Problem::UnknownType { span, .. }
            | Problem::NotUtf8 { span }
            | Problem::BadBase64 { span, .. }
            | Problem::V3BadLength { span, .. }
            | Problem::V3LengthMismatch { span, .. }
            | Problem::V3BadRecordKind { span, .. }
            | Problem::V3Truncated { span, .. } => Some(span.clone()),
            Problem::EmptyPayload
            | Problem::TooManyPackets { .. }
            | Problem::BadJsonp { .. }
            | Problem::BadOpen { .. } => None,
        }
    }
}

/// A byte as a student would recognise it: the character when printable.
fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}' (0x{byte:02x})", char::from(byte))
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
            Problem::EmptyPayload,
            Problem::EmptyPacket { span: 0..0 },
            Problem::UnknownType {
                span: 0..1,
                byte: b'7',
            },
            Problem::NotUtf8 { span: 1..2 },
            Problem::BadBase64 {
                span: 1..3,
                why: "bad".into(),
                recovered: false,
            },
            Problem::TooManyPackets {
                count: 2000,
                cap: 1000,
            },
            Problem::V3BadLength {
                span: 0..1,
                why: "no digits",
            },
            Problem::V3LengthMismatch {
                span: 0..2,
                declared: 9,
            },
            Problem::V3BadRecordKind {
                span: 0..1,
                byte: 2,
            },
            Problem::V3Truncated {
                span: 0..3,
                declared: 9,
                available: 2,
            },
            Problem::BadJsonp {
                why: "no callback".into(),
            },
            Problem::BadOpen {
                why: "it has no `sid`".into(),
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
                "engineio.bad-open",
                "engineio.bad-payload",
                "engineio.too-many-packets",
                "engineio.unknown-type",
                "engineio.v3-length-mismatch",
            ]
        );
        assert!(all[2].message().contains("'7'"));
    }

    #[test]
    fn packet_types() {
        for d in 0..=6 {
            let t = PacketType::from_digit(d).unwrap();
            assert_eq!(t.digit(), Some(d));
            assert_eq!(PacketType::from_ascii(b'0' + d), t);
            assert_eq!(PacketType::from_raw_byte(d), t);
        }
        assert_eq!(PacketType::from_digit(7), None);
        assert_eq!(PacketType::from_ascii(b'x'), PacketType::Unknown(b'x'));
        assert_eq!(PacketType::Message.name(), "message");
        assert_eq!(Version::from_eio(4).map(Version::number), Some(4));
    }
}
