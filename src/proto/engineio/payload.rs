//! Polling payloads: several packets in one HTTP body.
//!
//! Three framings exist. v4 joins packets with the record separator `\x1e`.
//! v3 text writes `<length>:<packet>` records, the length counted in UTF-16
//! code units as JavaScript counts (python-engineio 3.x counted UTF-8 bytes).
//! v3 binary ("XHR2", `application/octet-stream`) writes a kind byte, the
//! length as one byte per decimal digit, `0xFF`, then the packet.

use std::borrow::Cow;
use std::ops::Range;

use super::packet::{decode_text_at, encode_text_form, undecodable_at};
use super::{Data, Limits, OwnedData, OwnedPacket, Packet, PacketType, Problem, Version};

/// python-engineio refuses a payload with more packets than this
/// (`max_decode_packets`); exceeding it is a fact worth showing, not a
/// protocol violation.
pub const PYTHON_ENGINEIO_MAX_PACKETS: usize = 16;

/// The v4 record separator (ASCII RS).
const SEPARATOR: u8 = 0x1e;

/// Which counting rule made a v3 text length prefix land on a record
/// boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthRule {
    /// UTF-16 code units, as the spec and JavaScript count (`2:4€`). Tried
    /// first, and reported whenever it fits, including when both rules agree.
    Utf16Units,
    /// UTF-8 bytes, as python-engineio 3.x counted (`4:4€`).
    Utf8Bytes,
}

/// How a polling body frames its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// v4: packets separated by `\x1e`.
    V4Separated,
    /// v3: `<length>:<packet>` records.
    V3Text,
    /// v3 binary (XHR2): kind byte, length digits, `0xFF`, packet.
    V3Binary,
}

/// One packet of a polling payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadPacket<'a> {
    /// The packet; its spans are into the body.
    pub packet: Packet<'a>,
    /// The whole record in the body, including any length prefix.
    pub record: Range<usize>,
    /// For v3 text records, the counting rule that matched; `None` for the
    /// other framings, whose lengths are unambiguous.
    pub length_rule: Option<LengthRule>,
}

impl PayloadPacket<'_> {
    /// Whether the packet travelled as base64 text (`b…`).
    pub fn is_base64(&self) -> bool {
        self.packet.base64
    }
}

/// A decoded polling body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The framing the body was read with.
    pub framing: Framing,
    /// The packets, in order, at most [`Limits::max_packets`] of them.
    pub packets: Vec<PayloadPacket<'a>>,
    /// Violations of the payload framing. Violations inside one packet are
    /// on that packet ([`Packet::problems`]).
    pub problems: Vec<Problem>,
    /// Records found, including any beyond the cap and any that did not
    /// decode to a packet.
    pub record_count: usize,
}

impl Payload<'_> {
    /// Whether python-engineio would refuse this payload for holding more
    /// than [`PYTHON_ENGINEIO_MAX_PACKETS`] packets.
    pub fn exceeds_python_engineio_limit(&self) -> bool {
        self.record_count > PYTHON_ENGINEIO_MAX_PACKETS
    }

    /// Every problem: the framing's, then each packet's, in body order.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .chain(self.packets.iter().flat_map(|p| p.packet.problems.iter()))
    }
}

/// Whether a POST response body is the `ok` that acknowledges a polling
/// write (spec v3 §Transports: Polling; v4 §Transports: HTTP long-polling:
/// Sending data).
pub fn is_post_ack(body: &[u8]) -> bool {
    body == b"ok"
}

/// Decodes a polling body (already de-chunked and decompressed).
///
/// For v3, `content_type` chooses the framing: `application/octet-stream`
/// means binary (XHR2), any other type text. Without a content type the
/// first byte decides, as python-engineio does: `0x00`/`0x01` start a binary
/// record, a digit a text one. v4 has a single framing. JSONP bodies must be
/// unwrapped first ([`super::unwrap_jsonp_response`]).
pub fn decode_payload<'a>(
    version: Version,
    body: &'a [u8],
    content_type: Option<&str>,
    limits: &Limits,
) -> Payload<'a> {
    let framing = match version {
        Version::V4 => Framing::V4Separated,
        Version::V3 => match content_type {
            Some(ct) if is_octet_stream(ct) => Framing::V3Binary,
            Some(_) => Framing::V3Text,
            None if body.first().is_some_and(|&b| b <= 1) => Framing::V3Binary,
            None => Framing::V3Text,
        },
    };
    let mut out = Payload {
        framing,
        packets: Vec::new(),
        problems: Vec::new(),
        record_count: 0,
    };
    if body.is_empty() {
        // Every framing's grammar needs at least one packet.
        out.problems.push(Problem::EmptyPayload);
        return out;
    }
    match framing {
        Framing::V4Separated => decode_v4(body, limits, &mut out),
        Framing::V3Text => decode_v3_text(body, limits, &mut out),
        Framing::V3Binary => decode_v3_binary(body, limits, &mut out),
    }
    if out.record_count > limits.max_packets {
        out.problems.push(Problem::TooManyPackets {
            count: out.record_count,
            cap: limits.max_packets,
        });
    }
    out
}

/// `application/octet-stream`, ignoring case and parameters.
fn is_octet_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/octet-stream")
}

/// Keeps a decoded record, or its problem when it gave no packet.
fn keep<'a>(
    out: &mut Payload<'a>,
    decoded: Result<Packet<'a>, Problem>,
    record: Range<usize>,
    length_rule: Option<LengthRule>,
) {
    match decoded {
        Ok(packet) => out.packets.push(PayloadPacket {
            packet,
            record,
            length_rule,
        }),
        Err(problem) => out.problems.push(problem),
    }
}

fn decode_v4<'a>(body: &'a [u8], limits: &Limits, out: &mut Payload<'a>) {
    let mut start = 0usize;
    for piece in body.split(|&b| b == SEPARATOR) {
        let record = start..start.saturating_add(piece.len());
        start = record.end.saturating_add(1);
        out.record_count = out.record_count.saturating_add(1);
        if out.packets.len() >= limits.max_packets {
            continue;
        }
        // Spec v4 §Packet encoding: HTTP long-polling — packets are
        // concatenated with the record separator `\x1e`; a `b` packet is
        // base64 binary. The separator cannot occur inside UTF-8 text, so
        // splitting bytes before decoding text is sound.
        let decoded = match std::str::from_utf8(piece) {
            Ok(text) => decode_text_at(Version::V4, text, record.start),
            Err(e) => undecodable_at(Version::V4, piece, record.start, e.valid_up_to()),
        };
        keep(out, decoded, record, None);
    }
}

/// The UTF-8 prefix of `body`, and where invalid bytes begin if any.
fn utf8_prefix(body: &[u8]) -> (&str, Option<usize>) {
    match std::str::from_utf8(body) {
        Ok(text) => (text, None),
        Err(e) => {
            let valid = body.get(..e.valid_up_to()).unwrap_or(&[]);
            (
                std::str::from_utf8(valid).unwrap_or(""),
                Some(e.valid_up_to()),
            )
        }
    }
}

/// Parses ASCII decimal digits without overflow; `None` if they do not fit.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?
            .checked_add(u64::from(d.checked_sub(b'0')?))
    })
}

/// Length of the run of ASCII digits at the start of `bytes`.
fn digit_run(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Whether a v3 text record may start at `at`: the end of the text, or
/// `<digits>:`.
fn record_starts_at(text: &str, at: usize) -> bool {
    match text.as_bytes().get(at..) {
        Some([]) => true,
        Some(rest) => {
            let digits = digit_run(rest);
            digits > 0 && rest.get(digits) == Some(&b':')
        }
        None => false,
    }
}

/// Where `units` UTF-16 code units starting at byte `start` end, if that is
/// a character boundary inside the text.
fn utf16_end(text: &str, start: usize, units: u64) -> Option<usize> {
    if units == 0 {
        return Some(start);
    }
    let mut counted = 0u64;
    for (i, ch) in text.get(start..)?.char_indices() {
        counted = counted.saturating_add(ch.len_utf16() as u64);
        if counted == units {
            return start.checked_add(i)?.checked_add(ch.len_utf8());
        }
        if counted > units {
            // The count ends between the two halves of a surrogate pair.
            return None;
        }
    }
    None
}

/// Where `bytes` UTF-8 bytes starting at byte `start` end, if that is a
/// character boundary inside the text.
fn utf8_end(text: &str, start: usize, bytes: u64) -> Option<usize> {
    let end = start.checked_add(usize::try_from(bytes).ok()?)?;
    text.is_char_boundary(end).then_some(end)
}

fn decode_v3_text<'a>(body: &'a [u8], limits: &Limits, out: &mut Payload<'a>) {
    let (text, invalid_from) = utf8_prefix(body);
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    while pos < text.len() {
        let rest = bytes.get(pos..).unwrap_or(&[]);
        let digits = digit_run(rest);
        let colon = pos.saturating_add(digits);
        // Spec v3 §Encoding: Payload — `<length1>:<packet1>[<length2>:<packet2>[...]]`.
        let why = if digits == 0 {
            Some("expected the decimal length of the next packet")
        } else if bytes.get(colon) != Some(&b':') {
            Some("the length must be followed by ':'")
        } else {
            None
        };
        if let Some(why) = why {
            let end = colon.saturating_add(1).min(text.len());
            out.problems.push(Problem::V3BadLength {
                span: pos..end,
                why,
            });
            return;
        }
        let prefix = pos..colon.saturating_add(1);
        let Some(declared) = parse_decimal(rest.get(..digits).unwrap_or(&[])) else {
            out.problems.push(Problem::V3BadLength {
                span: prefix,
                why: "the length does not fit in 64 bits",
            });
            return;
        };
        let start = prefix.end;
        // PROTOCOLS.md §4: lengths are UTF-16 code units as JavaScript counts
        // them, but python-engineio 3.x counted UTF-8 bytes; try JavaScript's
        // rule first and accept a rule only if the next record (or the end)
        // follows where it ends.
        let js = utf16_end(text, start, declared).filter(|&e| record_starts_at(text, e));
        let py = utf8_end(text, start, declared).filter(|&e| record_starts_at(text, e));
        let (end, rule) = match (js, py) {
            (Some(e), _) => (e, LengthRule::Utf16Units),
            (None, Some(e)) => (e, LengthRule::Utf8Bytes),
            (None, None) => {
                out.problems.push(Problem::V3LengthMismatch {
                    span: prefix,
                    declared,
                });
                return;
            }
        };
        out.record_count = out.record_count.saturating_add(1);
        let record = pos..end;
        pos = end;
        if out.packets.len() >= limits.max_packets {
            continue;
        }
        let packet_text = text.get(start..end).unwrap_or("");
        keep(
            out,
            decode_text_at(Version::V3, packet_text, start),
            record,
            Some(rule),
        );
    }
    if let Some(at) = invalid_from {
        out.problems.push(Problem::NotUtf8 {
            span: at..body.len(),
        });
    }
}

fn decode_v3_binary<'a>(body: &'a [u8], limits: &Limits, out: &mut Payload<'a>) {
    let mut pos = 0usize;
    while let Some(&kind) = body.get(pos) {
        // Spec v3 §Encoding: Payload — binary records start with 0 for a
        // string packet or 1 for a binary one.
        if kind > 1 {
            out.problems.push(Problem::V3BadRecordKind {
                span: pos..pos.saturating_add(1),
                byte: kind,
            });
            return;
        }
        let digits_start = pos.saturating_add(1);
        let rest = body.get(digits_start..).unwrap_or(&[]);
        let digits = rest.iter().take_while(|&&b| b <= 9).count();
        let terminator = digits_start.saturating_add(digits);
        let header = pos..terminator.saturating_add(1).min(body.len());
        // Each length digit is a byte 0–9, and 0xFF ends the length.
        let why = match body.get(terminator) {
            Some(0xff) if digits == 0 => Some("the length has no digits before 0xFF"),
            Some(0xff) => None,
            Some(_) => Some("each length byte must be a digit 0–9 or the 0xFF terminator"),
            None => Some("the length is not terminated by 0xFF"),
        };
        if let Some(why) = why {
            out.problems
                .push(Problem::V3BadLength { span: header, why });
            return;
        }
        let declared = rest.get(..digits).and_then(|ds| {
            ds.iter()
                .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d)))
        });
        let Some(declared) = declared else {
            out.problems.push(Problem::V3BadLength {
                span: header,
                why: "the length does not fit in 64 bits",
            });
            return;
        };
        let start = header.end;
        let available = body.len().saturating_sub(start);
        let end = usize::try_from(declared)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|&e| e <= body.len());
        let Some(end) = end else {
            out.problems.push(Problem::V3Truncated {
                span: header,
                declared,
                available,
            });
            return;
        };
        out.record_count = out.record_count.saturating_add(1);
        let record = pos..end;
        pos = end;
        if out.packets.len() >= limits.max_packets {
            continue;
        }
        let piece = body.get(start..end).unwrap_or(&[]);
        let decoded = if kind == 0 {
            match std::str::from_utf8(piece) {
                Ok(text) => decode_text_at(Version::V3, text, start),
                Err(e) => undecodable_at(Version::V3, piece, start, e.valid_up_to()),
            }
        } else {
            decode_raw_binary(piece, start)
        };
        keep(out, decoded, record, None);
    }
}

/// A v3 binary record: the type as a raw byte, then the data.
fn decode_raw_binary(piece: &[u8], start: usize) -> Result<Packet<'_>, Problem> {
    let Some((&first, rest)) = piece.split_first() else {
        return Err(Problem::EmptyPacket { span: start..start });
    };
    let ptype = PacketType::from_raw_byte(first);
    let type_span = start..start.saturating_add(1);
    let end = start.saturating_add(piece.len());
    let mut problems = Vec::new();
    if !ptype.is_known() {
        problems.push(Problem::UnknownType {
            span: type_span.clone(),
            byte: first,
        });
    }
    Ok(Packet {
        ptype,
        data: Data::Binary(Cow::Borrowed(rest)),
        base64: false,
        span: start..end,
        type_span: type_span.clone(),
        data_span: type_span.end..end,
        problems,
    })
}

/// Encodes packets as a polling body: v4 with `\x1e` separators and base64
/// binary, v3 as text records with JavaScript's UTF-16 lengths.
pub fn encode_payload(version: Version, packets: &[OwnedPacket]) -> Vec<u8> {
    match version {
        Version::V4 => {
            let mut out = Vec::new();
            for (i, packet) in packets.iter().enumerate() {
                if i > 0 {
                    out.push(SEPARATOR);
                }
                out.extend_from_slice(encode_text_form(Version::V4, packet).as_bytes());
            }
            out
        }
        Version::V3 => encode_v3_text_payload(packets, LengthRule::Utf16Units).into_bytes(),
    }
}

/// Encodes a v3 text payload with the chosen length rule: `Utf16Units` as
/// engine.io (JavaScript) writes it, `Utf8Bytes` as python-engineio 3.x did.
pub fn encode_v3_text_payload(packets: &[OwnedPacket], rule: LengthRule) -> String {
    let mut out = String::new();
    for packet in packets {
        let form = encode_text_form(Version::V3, packet);
        let len = match rule {
            LengthRule::Utf16Units => form.encode_utf16().count(),
            LengthRule::Utf8Bytes => form.len(),
        };
        out.push_str(&len.to_string());
        out.push(':');
        out.push_str(&form);
    }
    out
}

/// Encodes a v3 binary (XHR2) payload: text packets as string records, binary
/// packets as binary records with a raw type byte.
pub fn encode_v3_binary_payload(packets: &[OwnedPacket]) -> Vec<u8> {
    let mut out = Vec::new();
    for packet in packets {
        let (kind, content) = match &packet.data {
            OwnedData::Binary(bytes) => {
                let mut content = vec![packet.ptype.digit().unwrap_or(0xff)];
                content.extend_from_slice(bytes);
                (1u8, content)
            }
            OwnedData::Empty | OwnedData::Text(_) => {
                (0u8, encode_text_form(Version::V3, packet).into_bytes())
            }
        };
        out.push(kind);
        out.extend(
            content
                .len()
                .to_string()
                .bytes()
                .map(|d| d.saturating_sub(b'0')),
        );
        out.push(0xff);
        out.extend_from_slice(&content);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(version: Version, body: &[u8]) -> Payload<'_> {
        decode_payload(version, body, None, &Limits::default())
    }

    fn owned(p: &Payload<'_>) -> Vec<OwnedPacket> {
        p.packets
            .iter()
            .map(|p| p.packet.to_owned_packet())
            .collect()
    }

    #[test]
    fn v4_spec_example() {
        // Spec v4 §Packet encoding: HTTP long-polling — text, text, binary.
        let body = b"4hello\x1e4world\x1ebAQIDBA==";
        let p = decode(Version::V4, body);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.framing, Framing::V4Separated);
        assert_eq!(
            owned(&p),
            vec![
                OwnedPacket::text(PacketType::Message, "hello"),
                OwnedPacket::text(PacketType::Message, "world"),
                OwnedPacket::binary(PacketType::Message, vec![1, 2, 3, 4]),
            ]
        );
        assert_eq!(p.packets[1].record, 7..13);
        assert_eq!(p.packets[1].packet.data_span, 8..13);
        assert!(p.packets[2].is_base64());
        assert_eq!(p.packets[2].packet.data_span, 15..23);
        assert_eq!(encode_payload(Version::V4, &owned(&p)), body.to_vec());
    }

    #[test]
    fn v3_utf16_length() {
        // PROTOCOLS.md §4: `2:4€` — one UTF-16 unit for the type, one for €.
        let body = "2:4€".as_bytes();
        let p = decode(Version::V3, body);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.framing, Framing::V3Text);
        assert_eq!(p.packets.len(), 1);
        assert_eq!(p.packets[0].length_rule, Some(LengthRule::Utf16Units));
        assert_eq!(p.packets[0].packet.data, Data::Text("€"));
        assert_eq!(p.packets[0].record, 0..body.len());
    }

    #[test]
    fn v3_utf8_length_fallback() {
        // Synthetic: python-engineio 3.x counts the same packet as 4 bytes.
        let body = "4:4€1:2".as_bytes();
        let p = decode(Version::V3, body);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.packets.len(), 2);
        assert_eq!(p.packets[0].length_rule, Some(LengthRule::Utf8Bytes));
        assert_eq!(p.packets[0].packet.data, Data::Text("€"));
        assert_eq!(p.packets[1].packet.ptype, PacketType::Ping);
    }

    #[test]
    fn v3_base64_length_covers_marker() {
        // PROTOCOLS.md §4 / spec v3 §Encoding: Payload.
        let p = decode(Version::V3, b"10:b4AQIDBA==");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let pk = &p.packets[0].packet;
        assert_eq!(pk.ptype, PacketType::Message);
        assert!(pk.base64);
        assert_eq!(pk.data, Data::Binary(Cow::Owned(vec![1, 2, 3, 4])));
        assert_eq!((pk.type_span.clone(), pk.data_span.clone()), (4..5, 5..13));
    }

    #[test]
    fn v3_sample_session() {
        // Socket.IO protocol v4 §Sample session, request n°1 and n°3.
        let body = br#"96:0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}2:40"#;
        let p = decode(Version::V3, body);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.packets.len(), 2);
        assert_eq!(p.packets[0].packet.ptype, PacketType::Open);
        assert_eq!(p.packets[1].packet.text(), Some("0"));
        let p = decode(Version::V3, br#"11:42["hello"]11:42["world"]"#);
        assert_eq!(p.packets.len(), 2);
        assert_eq!(p.packets[1].packet.text(), Some(r#"2["world"]"#));
    }

    #[test]
    fn v3_python_lengths_can_be_ambiguous() {
        // Synthetic: python-engineio 3.x would mean `4€€` (7 bytes) then
        // `2:4a`, but 7 UTF-16 units also end exactly at the end of the body.
        // JavaScript's rule is tried first, as PROTOCOLS.md says, which is
        // also how a JavaScript client would have read it: one record.
        let p = decode(Version::V3, "7:4€€2:4a".as_bytes());
        assert!(p.problems.is_empty());
        assert_eq!(p.packets.len(), 1);
        assert_eq!(p.packets[0].length_rule, Some(LengthRule::Utf16Units));
        assert_eq!(p.packets[0].packet.data, Data::Text("€€2:4a"));
    }

    #[test]
    fn v3_binary_xhr2() {
        // PROTOCOLS.md §4: "4hello" then binary message 01 02 03.
        let body = [
            0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x01, 0x04, 0xff, 0x04, 0x01,
            0x02, 0x03,
        ];
        for ct in [Some("application/octet-stream"), None] {
            let p = decode_payload(Version::V3, &body, ct, &Limits::default());
            assert!(p.problems.is_empty(), "{:?}", p.problems);
            assert_eq!(p.framing, Framing::V3Binary);
            assert_eq!(
                owned(&p),
                vec![
                    OwnedPacket::text(PacketType::Message, "hello"),
                    OwnedPacket::binary(PacketType::Message, vec![1, 2, 3]),
                ]
            );
            assert_eq!(p.packets[0].record, 0..9);
            assert_eq!(p.packets[1].record, 9..16);
            assert_eq!(p.packets[1].packet.type_span, 12..13);
            assert_eq!(encode_v3_binary_payload(&owned(&p)), body.to_vec());
        }
    }

    #[test]
    fn post_ack() {
        assert!(is_post_ack(b"ok"));
        assert!(!is_post_ack(b"ok\n"));
    }

    #[test]
    fn empty_payload() {
        for v in [Version::V3, Version::V4] {
            assert_eq!(decode(v, b"").problems, vec![Problem::EmptyPayload]);
        }
    }

    #[test]
    fn empty_records() {
        // Synthetic: a trailing separator leaves an empty v4 record.
        let p = decode(Version::V4, b"2\x1e");
        assert_eq!(p.packets.len(), 1);
        assert_eq!(p.problems, vec![Problem::EmptyPacket { span: 2..2 }]);
        // Synthetic: `0:` is an empty v3 record.
        let p = decode(Version::V3, b"0:1:2");
        assert_eq!(p.problems, vec![Problem::EmptyPacket { span: 2..2 }]);
        assert_eq!(p.packets.len(), 1);
    }

    #[test]
    fn too_many_packets_counts_all() {
        // Synthetic: 20 pings; python-engineio would refuse them.
        let body = vec!["2"; 20].join("\x1e");
        let p = decode_payload(
            Version::V4,
            body.as_bytes(),
            None,
            &Limits {
                max_packets: 5,
                ..Limits::default()
            },
        );
        assert_eq!(p.packets.len(), 5);
        assert_eq!(p.record_count, 20);
        assert!(p.exceeds_python_engineio_limit());
        assert_eq!(
            p.problems,
            vec![Problem::TooManyPackets { count: 20, cap: 5 }]
        );
        let p = decode(Version::V4, body.as_bytes());
        assert!(p.problems.is_empty());
        assert!(p.exceeds_python_engineio_limit());
        let few = decode(Version::V4, b"2\x1e2");
        assert!(!few.exceeds_python_engineio_limit());
    }

    #[test]
    fn v3_bad_lengths() {
        // Synthetic, one per rule.
        let cases: [(&[u8], Problem); 4] = [
            (
                b"x:4a",
                Problem::V3BadLength {
                    span: 0..1,
                    why: "expected the decimal length of the next packet",
                },
            ),
            (
                b"12",
                Problem::V3BadLength {
                    span: 0..2,
                    why: "the length must be followed by ':'",
                },
            ),
            (
                b"99999999999999999999:4",
                Problem::V3BadLength {
                    span: 0..21,
                    why: "the length does not fit in 64 bits",
                },
            ),
            (
                b"5:4ab",
                Problem::V3LengthMismatch {
                    span: 0..2,
                    declared: 5,
                },
            ),
        ];
        for (body, problem) in cases {
            let p = decode_payload(Version::V3, body, Some("text/plain"), &Limits::default());
            assert_eq!(p.problems, vec![problem], "{body:?}");
            assert!(p.packets.is_empty());
        }
        // A length ending inside a surrogate pair fits neither rule.
        let p = decode(Version::V3, "2:4😀".as_bytes());
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::V3LengthMismatch { declared: 2, .. }]
        ));
    }

    #[test]
    fn v3_binary_problems() {
        // Synthetic, one per rule.
        let xhr2 = Some("application/octet-stream");
        let p = decode_payload(
            Version::V3,
            &[0x02, 1, 0xff, 0x32],
            xhr2,
            &Limits::default(),
        );
        assert_eq!(
            p.problems,
            vec![Problem::V3BadRecordKind {
                span: 0..1,
                byte: 2
            }]
        );
        let p = decode_payload(Version::V3, &[0x00, 1, 0x30], None, &Limits::default());
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::V3BadLength { .. }]
        ));
        let p = decode_payload(Version::V3, &[0x00, 1], None, &Limits::default());
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::V3BadLength { .. }]
        ));
        let p = decode_payload(Version::V3, &[0x00, 0xff], None, &Limits::default());
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::V3BadLength { .. }]
        ));
        let mut huge = vec![0x01];
        huge.extend([9u8; 25]);
        huge.push(0xff);
        let p = decode_payload(Version::V3, &huge, None, &Limits::default());
        assert!(matches!(
            p.problems.as_slice(),
            [Problem::V3BadLength {
                why: "the length does not fit in 64 bits",
                ..
            }]
        ));
        let p = decode_payload(
            Version::V3,
            &[0x01, 9, 0xff, 4, 1],
            None,
            &Limits::default(),
        );
        assert_eq!(
            p.problems,
            vec![Problem::V3Truncated {
                span: 0..3,
                declared: 9,
                available: 2
            }]
        );
        let p = decode_payload(Version::V3, &[0x01, 0, 0xff], None, &Limits::default());
        assert_eq!(p.problems, vec![Problem::EmptyPacket { span: 3..3 }]);
    }

    #[test]
    fn not_utf8() {
        // Synthetic: 0xff cannot occur in UTF-8.
        let p = decode(Version::V4, b"4a\xffb\x1e2");
        assert_eq!(p.packets.len(), 2);
        let first = &p.packets[0].packet;
        assert_eq!(first.ptype, PacketType::Message);
        assert_eq!(first.data, Data::Undecoded(b"a\xffb"));
        assert_eq!(first.problems, vec![Problem::NotUtf8 { span: 2..4 }]);
        let p = decode_payload(
            Version::V3,
            b"2:4a\xff",
            Some("text/plain"),
            &Limits::default(),
        );
        assert_eq!(p.packets.len(), 1);
        assert_eq!(p.problems, vec![Problem::NotUtf8 { span: 4..5 }]);
    }

    #[test]
    fn unknown_type_in_payload() {
        // Synthetic: type 9 is kept as data with its problem.
        let p = decode(Version::V4, b"9x\x1e4y");
        assert_eq!(p.packets[0].packet.ptype, PacketType::Unknown(b'9'));
        assert_eq!(p.all_problems().count(), 1);
    }
}
