//! One Engine.IO packet: text form `<type digit><data>`, base64 form `b…`,
//! and the binary forms WebSocket carries.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use super::{Data, Packet, PacketType, Problem, Version};

/// Node's `Buffer.from(s, "base64")` and Python's `b64decode` both accept
/// missing padding; this engine lets dispel recover what they would.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes one WebSocket text message.
///
/// `Err` only when the message is empty (no type at all). An unknown type,
/// or base64 that does not decode, still gives a packet; its
/// [`Packet::problems`] say what is wrong.
///
/// The version matters only for `b…` messages: in v3 `b4AQID` is a base64
/// message with its type after the `b`; in v4 `bAQID` is a base64 message
/// (engine.io-parser decodes it on any transport, though WebSocket senders
/// use binary frames instead).
pub fn decode_ws_text(version: Version, text: &str) -> Result<Packet<'_>, Problem> {
    decode_text_at(version, text, 0)
}

/// Decodes one WebSocket binary message.
///
/// v4: the bytes are the data of an implicit message packet, with no type on
/// the wire. v3: the first byte is the type as a raw byte (`04 …` is a
/// message), so an empty message is `Err`.
pub fn decode_ws_binary(version: Version, bytes: &[u8]) -> Result<Packet<'_>, Problem> {
    let all = 0..bytes.len();
    match version {
        // Spec v4 §Packet encoding: WebSocket — binary data is sent as is,
        // one packet per frame, with no type prefix.
        Version::V4 => Ok(Packet {
            ptype: PacketType::Message,
            data: Data::Binary(Cow::Borrowed(bytes)),
            base64: false,
            span: all.clone(),
            type_span: 0..0,
            data_span: all,
            problems: Vec::new(),
        }),
        // Spec v3 §Encoding: Packet — a binary packet is its type as one raw
        // byte, followed by the binary data.
        Version::V3 => {
            let Some((&first, rest)) = bytes.split_first() else {
                return Err(Problem::EmptyPacket { span: 0..0 });
            };
            let ptype = PacketType::from_raw_byte(first);
            let mut problems = Vec::new();
            if !ptype.is_known() {
                problems.push(Problem::UnknownType {
                    span: 0..1,
                    byte: first,
                });
            }
            Ok(Packet {
                ptype,
                data: Data::Binary(Cow::Borrowed(rest)),
                base64: false,
                span: all,
                type_span: 0..1,
                data_span: 1..bytes.len(),
                problems,
            })
        }
    }
}

/// Encodes a text packet as a WebSocket text message (`<type digit><data>`).
pub fn encode_ws_text(ptype: PacketType, data: &str) -> String {
    let mut out = String::with_capacity(data.len().saturating_add(1));
    out.push(char::from(ptype.ascii()));
    out.push_str(data);
    out
}

/// Encodes a binary packet as a WebSocket binary message: the bare bytes in
/// v4 (which can only carry a message), the type byte then the bytes in v3.
pub fn encode_ws_binary(version: Version, ptype: PacketType, data: &[u8]) -> Vec<u8> {
    match version {
        Version::V4 => data.to_vec(),
        Version::V3 => {
            let mut out = Vec::with_capacity(data.len().saturating_add(1));
            out.push(ptype.digit().unwrap_or(match ptype {
                PacketType::Unknown(b) => b,
                _ => 0xff,
            }));
            out.extend_from_slice(data);
            out
        }
    }
}

/// Encodes the text form of a packet as it appears inside a polling record:
/// `<type><text>`, or base64 binary as `b<type><base64>` (v3) / `b<base64>`
/// (v4).
pub(super) fn encode_text_form(version: Version, packet: &super::OwnedPacket) -> String {
    use super::OwnedData;
    match &packet.data {
        OwnedData::Empty => encode_ws_text(packet.ptype, ""),
        OwnedData::Text(t) => encode_ws_text(packet.ptype, t),
        OwnedData::Binary(b) => {
            let mut out = String::from("b");
            if version == Version::V3 {
                out.push(char::from(packet.ptype.ascii()));
            }
            out.push_str(&STANDARD.encode(b));
            out
        }
    }
}

/// Decodes a text packet found at byte `base` of the caller's input; every
/// span is shifted by `base`.
pub(super) fn decode_text_at(
    version: Version,
    text: &str,
    base: usize,
) -> Result<Packet<'_>, Problem> {
    let at = |r: Range<usize>| base.saturating_add(r.start)..base.saturating_add(r.end);
    let span = at(0..text.len());
    let Some(first) = text.chars().next() else {
        // Spec v3 §Encoding: Packet / v4 §Packet encoding — a packet is
        // `<packet type id>[<data>]`: the type is not optional.
        return Err(Problem::EmptyPacket { span });
    };
    let first_byte = text.as_bytes().first().copied().unwrap_or(0);
    if first == 'b' {
        return decode_base64_at(version, text, base);
    }
    let type_len = first.len_utf8();
    let ptype = PacketType::from_ascii(first_byte);
    let rest = text.get(type_len..).unwrap_or("");
    let mut problems = Vec::new();
    if !ptype.is_known() {
        problems.push(Problem::UnknownType {
            span: at(0..type_len),
            byte: first_byte,
        });
    }
    Ok(Packet {
        ptype,
        data: if rest.is_empty() {
            Data::Empty
        } else {
            Data::Text(rest)
        },
        base64: false,
        span,
        type_span: at(0..type_len),
        data_span: at(type_len..text.len()),
        problems,
    })
}

/// Decodes `b<type><base64>` (v3) or `b<base64>` (v4), starting at the `b`.
fn decode_base64_at(version: Version, text: &str, base: usize) -> Result<Packet<'_>, Problem> {
    let at = |r: Range<usize>| base.saturating_add(r.start)..base.saturating_add(r.end);
    let mut problems = Vec::new();
    let (ptype, type_span, data_start) = match version {
        // Spec v4 §Packet encoding: HTTP long-polling — binary data is
        // base64-encoded behind a `b`, and the packet is always a message.
        Version::V4 => (PacketType::Message, 0..1, 1),
        // Spec v3 §Encoding: Payload — a base64 packet is `b<type><base64>`.
        Version::V3 => {
            let Some(type_char) = text.get(1..).and_then(|t| t.chars().next()) else {
                return Err(Problem::EmptyPacket { span: at(0..1) });
            };
            let type_byte = text.as_bytes().get(1).copied().unwrap_or(0);
            let end = 1usize.saturating_add(type_char.len_utf8());
            let ptype = PacketType::from_ascii(type_byte);
            if !ptype.is_known() {
                problems.push(Problem::UnknownType {
                    span: at(1..end),
                    byte: type_byte,
                });
            }
            (ptype, 1..end, end)
        }
    };
    let encoded = text.get(data_start..).unwrap_or("");
    let data_span = at(data_start..text.len());
    let data = match decode_base64(encoded) {
        Ok(bytes) => Data::Binary(Cow::Owned(bytes)),
        Err((why, recovered)) => {
            problems.push(Problem::BadBase64 {
                span: data_span.clone(),
                why,
                recovered: recovered.is_some(),
            });
            match recovered {
                Some(bytes) => Data::Binary(Cow::Owned(bytes)),
                None => Data::Undecoded(encoded.as_bytes()),
            }
        }
    };
    Ok(Packet {
        ptype,
        data,
        base64: true,
        span: at(0..text.len()),
        type_span: at(type_span),
        data_span,
        problems,
    })
}

/// Strict base64 first; on failure, the strict complaint plus what a lenient
/// decoder (padding optional, non-alphabet characters dropped, as Python's
/// `b64decode` does by default) recovers.
fn decode_base64(encoded: &str) -> Result<Vec<u8>, (String, Option<Vec<u8>>)> {
    match STANDARD.decode(encoded) {
        Ok(bytes) => Ok(bytes),
        Err(strict) => {
            let kept: Vec<u8> = encoded
                .bytes()
                .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
                .collect();
            Err((strict.to_string(), LENIENT.decode(kept).ok()))
        }
    }
}

/// A packet that could not be read as text because it is not UTF-8: the type
/// byte is still read, the rest kept raw.
pub(super) fn undecodable_at(
    version: Version,
    bytes: &[u8],
    base: usize,
    valid_up_to: usize,
) -> Result<Packet<'_>, Problem> {
    let at = |r: Range<usize>| base.saturating_add(r.start)..base.saturating_add(r.end);
    let Some((&first, rest)) = bytes.split_first() else {
        return Err(Problem::EmptyPacket { span: at(0..0) });
    };
    let (ptype, base64) = match (version, first) {
        (Version::V4, b'b') => (PacketType::Message, true),
        (Version::V3, b'b') => (
            PacketType::from_ascii(rest.first().copied().unwrap_or(0)),
            true,
        ),
        _ => (PacketType::from_ascii(first), false),
    };
    let mut problems = Vec::new();
    if !ptype.is_known() {
        problems.push(Problem::UnknownType {
            span: at(0..1),
            byte: first,
        });
    }
    problems.push(Problem::NotUtf8 {
        span: at(valid_up_to..bytes.len()),
    });
    Ok(Packet {
        ptype,
        data: Data::Undecoded(rest),
        base64,
        span: at(0..bytes.len()),
        type_span: at(0..1),
        data_span: at(1..bytes.len()),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_text_packets() {
        // Spec v4 §Protocol: Upgrade — the probe exchange.
        let p = decode_ws_text(Version::V4, "2probe").unwrap();
        assert_eq!(p.ptype, PacketType::Ping);
        assert_eq!(p.data, Data::Text("probe"));
        assert_eq!((p.type_span, p.data_span), (0..1, 1..6));
        let p = decode_ws_text(Version::V3, "3probe").unwrap();
        assert_eq!(p.ptype, PacketType::Pong);
        let p = decode_ws_text(Version::V4, "6").unwrap();
        assert_eq!((p.ptype, p.data), (PacketType::Noop, Data::Empty));
        let p = decode_ws_text(Version::V4, "4hello").unwrap();
        assert_eq!(p.ptype, PacketType::Message);
        assert_eq!(p.text(), Some("hello"));
        assert!(p.problems.is_empty());
    }

    #[test]
    fn v3_ws_binary_has_type_byte() {
        // Spec v3 §Encoding: Packet — `04 01 02 03` is a binary message.
        let p = decode_ws_binary(Version::V3, &[4, 1, 2, 3]).unwrap();
        assert_eq!(p.ptype, PacketType::Message);
        assert_eq!(p.data, Data::Binary(Cow::Borrowed(&[1, 2, 3])));
        assert_eq!((p.type_span, p.data_span), (0..1, 1..4));
        assert_eq!(
            decode_ws_binary(Version::V3, &[]),
            Err(Problem::EmptyPacket { span: 0..0 })
        );
    }

    #[test]
    fn v4_ws_binary_is_implicit_message() {
        let p = decode_ws_binary(Version::V4, &[1, 2, 3]).unwrap();
        assert_eq!(p.ptype, PacketType::Message);
        assert_eq!(p.data, Data::Binary(Cow::Borrowed(&[1, 2, 3])));
        assert_eq!(p.type_span, 0..0);
    }

    #[test]
    fn unknown_type_is_kept() {
        // Synthetic: 7 is not a packet type.
        let p = decode_ws_text(Version::V4, "7abc").unwrap();
        assert_eq!(p.ptype, PacketType::Unknown(b'7'));
        assert_eq!(p.data, Data::Text("abc"));
        assert_eq!(
            p.problems,
            vec![Problem::UnknownType {
                span: 0..1,
                byte: b'7'
            }]
        );
        // Synthetic: a multi-byte first character stays whole in the type span.
        let p = decode_ws_text(Version::V4, "€x").unwrap();
        assert_eq!(p.type_span, 0..3);
        assert_eq!(p.data, Data::Text("x"));
        let p = decode_ws_binary(Version::V3, &[9, 1]).unwrap();
        assert_eq!(p.ptype, PacketType::Unknown(9));
        assert_eq!(p.problems.len(), 1);
    }

    #[test]
    fn empty_message_is_an_error() {
        assert_eq!(
            decode_ws_text(Version::V4, ""),
            Err(Problem::EmptyPacket { span: 0..0 })
        );
        assert_eq!(
            decode_ws_text(Version::V3, "b"),
            Err(Problem::EmptyPacket { span: 0..1 })
        );
    }

    #[test]
    fn base64_over_text() {
        // Spec v3 §Encoding: Payload — `b4AQIDBA==` is message 01 02 03 04.
        let p = decode_ws_text(Version::V3, "b4AQIDBA==").unwrap();
        assert_eq!(p.ptype, PacketType::Message);
        assert!(p.base64);
        assert_eq!(p.data, Data::Binary(Cow::Owned(vec![1, 2, 3, 4])));
        assert_eq!((p.type_span, p.data_span), (1..2, 2..10));
        // v4: no type after `b`.
        let p = decode_ws_text(Version::V4, "bAQIDBA==").unwrap();
        assert_eq!(p.ptype, PacketType::Message);
        assert_eq!(p.data, Data::Binary(Cow::Owned(vec![1, 2, 3, 4])));
    }

    #[test]
    fn bad_base64_recovered_or_kept() {
        // Synthetic: missing padding, which Node and Python accept.
        let p = decode_ws_text(Version::V4, "bAQIDBA").unwrap();
        assert_eq!(p.data, Data::Binary(Cow::Owned(vec![1, 2, 3, 4])));
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::BadBase64 {
                recovered: true,
                ..
            }]
        ));
        // Synthetic: one base64 character cannot encode a byte.
        let p = decode_ws_text(Version::V4, "b!A").unwrap();
        assert_eq!(p.data, Data::Undecoded(b"!A"));
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::BadBase64 {
                span,
                recovered: false,
                ..
            }] if *span == (1..3)
        ));
    }

    #[test]
    fn encoders_round_trip() {
        assert_eq!(encode_ws_text(PacketType::Ping, "probe"), "2probe");
        assert_eq!(
            encode_ws_binary(Version::V3, PacketType::Message, &[1, 2]),
            vec![4, 1, 2]
        );
        assert_eq!(
            encode_ws_binary(Version::V4, PacketType::Message, &[1, 2]),
            vec![1, 2]
        );
    }
}
