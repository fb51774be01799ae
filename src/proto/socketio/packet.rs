//! The text form of a Socket.IO packet:
//! `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`.

use serde_json::Value;

use super::json::{sketch, skim, too_deep_at};
use super::{Limits, Packet, PacketType, Problem, Protocol};

/// Event names the libraries keep for themselves (socket.io-parser's
/// `RESERVED_EVENTS`); a received event with one of these names is refused.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Decodes the text of one Socket.IO packet: the data of an Engine.IO
/// message packet, after its `4`.
///
/// `Err` when the header or the JSON cannot be read. An unknown type is kept
/// as data: the packet comes back with [`PacketType::Unknown`] and the rest
/// of the text as its `data_span`, since the grammar after an unknown type
/// is unknown; [`check_payload`] reports it. Payload shape rules are left to
/// [`check_payload`], so a packet that parses is always returned.
///
/// The protocol does not change the grammar; it is taken so that every
/// decode site names the revision it is reading.
pub fn decode(text: &str, protocol: Protocol, limits: &Limits) -> Result<Packet, Problem> {
    decode_with(text, protocol, limits, Payload::Whole)
}

/// How much of the JSON payload [`decode_with`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The whole value.
    Whole,
    /// The payload is parsed (so validated) in full, but `data` keeps only
    /// what the shape rules of [`check_payload`], [`event_name`] and the
    /// binary placeholders read: the top-level type and an array's first
    /// element, with nested arrays and objects emptied. A payload with a
    /// `_placeholder` key anywhere is kept whole. For runs that check
    /// packets without showing them.
    Sketch,
}

/// [`decode`], keeping as much of the payload as `keep` says.
pub fn decode_with(
    text: &str,
    protocol: Protocol,
    limits: &Limits,
    keep: Payload,
) -> Result<Packet, Problem> {
    let _ = protocol;
    let bytes = text.as_bytes();
    let Some(first) = text.chars().next() else {
        return Err(Problem::EmptyPacket);
    };
    let first_byte = bytes.first().copied().unwrap_or(0);
    let mut i = first.len_utf8();
    let mut packet = Packet::new(PacketType::from_ascii(first_byte));
    packet.type_span = 0..i;
    if !packet.ptype.is_known() {
        if i < text.len() {
            packet.data_span = Some(i..text.len());
        }
        return Ok(packet);
    }

    // Spec §Packet encoding: Encoding format — `[<# of binary attachments>-]`,
    // present for BINARY_EVENT and BINARY_ACK only.
    if packet.ptype.is_binary() {
        let digits = digit_run(bytes.get(i..).unwrap_or(&[]));
        let end = i.saturating_add(digits);
        let span = i..end;
        if digits == 0 {
            return Err(Problem::BadAttachmentCount {
                span,
                why: "no count follows the type",
            });
        }
        if bytes.get(end) != Some(&b'-') {
            return Err(Problem::BadAttachmentCount {
                span,
                why: "the count is not followed by `-`",
            });
        }
        let Some(count) = parse_decimal(bytes.get(i..end).unwrap_or(&[])) else {
            return Err(Problem::BadAttachmentCount {
                span,
                why: "the count does not fit in 64 bits",
            });
        };
        packet.attachments = Some(count);
        packet.attachments_span = Some(span);
        i = end.saturating_add(1);
    }

    // Spec §Packet encoding: Encoding format — the namespace is included only
    // when it is not `/`; it starts with `/` and ends at the first `,` (or
    // at the end of the text).
    if bytes.get(i) == Some(&b'/') {
        let rest = bytes.get(i..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        let end = i.saturating_add(len);
        let span = i..end;
        if len > limits.max_namespace_len {
            return Err(Problem::BadNamespace {
                span,
                len,
                cap: limits.max_namespace_len,
            });
        }
        packet.nsp = text.get(span.clone()).unwrap_or("/").to_owned().into();
        packet.nsp_span = Some(span);
        i = end;
        if bytes.get(i) == Some(&b',') {
            i = i.saturating_add(1);
        }
    }

    // Spec §Packet encoding: Encoding format — `[<acknowledgment id>]`, the
    // digits that follow the namespace.
    let digits = digit_run(bytes.get(i..).unwrap_or(&[]));
    if digits > 0 {
        let end = i.saturating_add(digits);
        let span = i..end;
        if digits > limits.max_ack_id_digits {
            return Err(Problem::BadAckId {
                span,
                why: "it has more digits than any real id",
            });
        }
        let Some(id) = parse_decimal(bytes.get(i..end).unwrap_or(&[])) else {
            return Err(Problem::BadAckId {
                span,
                why: "it does not fit in 64 bits",
            });
        };
        packet.ack_id = Some(id);
        packet.ack_span = Some(span);
        i = end;
    }

    // Spec §Packet encoding: Encoding format — `[JSON-stringified payload]`,
    // everything that is left.
    if i < text.len() {
        let json = text.get(i..).unwrap_or("");
        let span = i..text.len();
        if keep == Payload::Sketch
            && let Some(value) = skim(json, limits.max_json_depth)
        {
            packet.data = Some(value);
            packet.data_span = Some(span);
            return Ok(packet);
        }
        if let Some(at) = too_deep_at(json.as_bytes(), limits.max_json_depth) {
            return Err(Problem::JsonTooDeep {
                span: i.saturating_add(at)..text.len(),
                cap: limits.max_json_depth,
            });
        }
        let bad = |e: serde_json::Error| Problem::BadJson {
            span: span.clone(),
            why: e.to_string(),
        };
        let sketched = match keep {
            Payload::Sketch => sketch(json).map_err(bad)?,
            Payload::Whole => None,
        };
        let value: Value = match sketched {
            Some(v) => v,
            None => serde_json::from_str(json).map_err(bad)?,
        };
        packet.data = Some(value);
        packet.data_span = Some(span);
    }
    Ok(packet)
}

/// Encodes a packet the way socket.io-parser does: the namespace followed by
/// `,` unless it is `/`, the attachment count only for binary types.
pub fn encode(packet: &Packet) -> String {
    let mut out = String::new();
    match packet.ptype.digit() {
        Some(d) => out.push(char::from(b'0'.saturating_add(d))),
        None => match packet.ptype {
            PacketType::Unknown(b) => out.push(char::from(b)),
            _ => out.push('?'),
        },
    }
    if packet.ptype.is_binary() {
        out.push_str(&packet.attachments.unwrap_or(0).to_string());
        out.push('-');
    }
    if !packet.nsp.is_empty() && packet.nsp != "/" {
        out.push_str(&packet.nsp);
        out.push(',');
    }
    if let Some(id) = packet.ack_id {
        out.push_str(&id.to_string());
    }
    if let Some(data) = &packet.data {
        out.push_str(&data.to_string());
    }
    out
}

/// The event name of an `EVENT` or `BINARY_EVENT` (`42["chat","hi"]` → `chat`).
pub fn event_name(packet: &Packet) -> Option<&str> {
    match packet.ptype {
        PacketType::Event | PacketType::BinaryEvent => packet.data.as_ref()?.get(0)?.as_str(),
        _ => None,
    }
}

/// Checks the payload shape rules of the packet's type (and reports an
/// unknown type). An empty result means the packet is well-formed.
pub fn check_payload(packet: &Packet, protocol: Protocol) -> Vec<Problem> {
    let data = packet.data.as_ref();
    let span = packet.data_span.clone();
    let found = describe(data);
    let bad = |expected: &'static str| {
        vec![Problem::BadPayload {
            ptype: packet.ptype,
            protocol,
            expected,
            found,
            span: span.clone(),
        }]
    };
    match packet.ptype {
        PacketType::Unknown(byte) => vec![Problem::UnknownType {
            span: packet.type_span.clone(),
            byte,
        }],
        // Spec v5 §Packet types: CONNECT — the client may send an auth object
        // and the server answers with `{"sid":…}`; PROTOCOLS.md §5 allows an
        // object or nothing in both revisions.
        PacketType::Connect => match data {
            None | Some(Value::Object(_)) => Vec::new(),
            Some(_) => bad("a JSON object or nothing"),
        },
        // Spec §Packet types: DISCONNECT — it does not contain any payload.
        PacketType::Disconnect => match data {
            None => Vec::new(),
            Some(_) => bad("no payload"),
        },
        PacketType::ConnectError => match (protocol, data) {
            // Spec v5 §Packet types: CONNECT_ERROR — the payload is an object
            // (`{"message":…}`).
            (Protocol::V5, Some(Value::Object(_))) => Vec::new(),
            (Protocol::V5, _) => bad("a JSON object such as {\"message\":\"…\"}"),
            // Spec v4 §Packet types: ERROR — it may contain a payload
            // indicating the reason of the refusal (a string; JS 2.x servers
            // also sent error objects).
            (Protocol::V4, None | Some(Value::String(_) | Value::Object(_))) => Vec::new(),
            (Protocol::V4, Some(_)) => bad("a string, an object or nothing"),
        },
        // socket.io-parser's isPayloadValid: a non-empty array whose first
        // element is a number or a string other than a reserved event name.
        PacketType::Event | PacketType::BinaryEvent => match data {
            Some(Value::Array(items)) => match items.first() {
                Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
                    vec![Problem::ReservedEvent {
                        name: name.clone(),
                        span,
                    }]
                }
                Some(Value::String(_) | Value::Number(_)) => Vec::new(),
                Some(_) => bad("an array whose first element is the event name"),
                None => bad("a non-empty array [\"event\", …]"),
            },
            _ => bad("a non-empty array [\"event\", …]"),
        },
        // Spec §Packet types: ACK — the arguments of the acknowledgement
        // callback, an array.
        PacketType::Ack | PacketType::BinaryAck => match data {
            Some(Value::Array(_)) => Vec::new(),
            _ => bad("an array of the callback's arguments"),
        },
    }
}

/// What a payload is, in a student's words.
fn describe(value: Option<&Value>) -> &'static str {
    match value {
        None => "nothing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(a)) if a.is_empty() => "an empty array",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    }
}

fn digit_run(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?
            .checked_add(u64::from(d.checked_sub(b'0')?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::ops::Range;

    /// Spans in tests are easier to read as `(start, end)` pairs.
    fn pair(r: &Option<Range<usize>>) -> Option<(usize, usize)> {
        r.as_ref().map(|r| (r.start, r.end))
    }

    fn dec(text: &str, protocol: Protocol) -> Packet {
        decode(text, protocol, &Limits::default()).unwrap()
    }

    /// Found by the `socketio` fuzz target (input `2 2`): JSON after the
    /// type may start with whitespace (socket.io-parser's `JSON.parse`
    /// accepts it too), so `2 2` is an EVENT whose data is the number 2 with
    /// no ack id. Re-encoded as socket.io-parser does, it becomes `22`,
    /// which reads as ack id 2 with no data: a number right after the type
    /// (or ack id) is ambiguous on the wire itself. The decoder keeps the
    /// sender's reading, and the payload check flags the non-array data.
    #[test]
    fn whitespace_before_numeric_data_is_data_not_an_ack_id() {
        let p = dec("2 2", Protocol::V5);
        assert_eq!((p.ack_id, p.data.clone()), (None, Some(json!(2))));
        assert_eq!(pair(&p.data_span), Some((1, 3)));
        assert!(!check_payload(&p, Protocol::V5).is_empty());
        let again = dec(&encode(&p), Protocol::V5);
        assert_eq!((again.ack_id, again.data), (Some(2), None));
    }

    /// Found by the `socketio` fuzz target: a long number literal parsed
    /// 1 ULP off the correctly rounded value (serde_json's fast float path),
    /// so the data shown was not the number sent (JavaScript's JSON.parse
    /// rounds correctly) and did not survive re-encoding.
    #[test]
    fn long_number_literals_parse_correctly_rounded() {
        let lit = "666666666666666666646666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666";
        let p = dec(&format!("2[{lit}]"), Protocol::V5);
        let expected: f64 = lit.parse().unwrap();
        assert_eq!(p.data, Some(json!([expected])));
        let again = dec(&encode(&p), Protocol::V5);
        assert_eq!(again.data, p.data);
    }

    #[test]
    fn spec_examples_v5() {
        // PROTOCOLS.md §5 and spec v5 §Packet encoding: Examples (the wire
        // form is these texts behind Engine.IO's `4`).
        let p = dec(r#"2["chat","hi"]"#, Protocol::V5);
        assert_eq!(p.ptype, PacketType::Event);
        assert_eq!(p.nsp, "/");
        assert_eq!(p.data, Some(json!(["chat", "hi"])));
        assert_eq!(event_name(&p), Some("chat"));
        assert_eq!(pair(&p.data_span), Some((1, 14)));
        assert!(check_payload(&p, Protocol::V5).is_empty());

        let p = dec(r#"2/admin,1["tellme"]"#, Protocol::V5);
        assert_eq!(p.nsp, "/admin");
        assert_eq!(p.ack_id, Some(1));
        assert_eq!(pair(&p.nsp_span), Some((1, 7)));
        assert_eq!(pair(&p.ack_span), Some((8, 9)));
        assert_eq!(pair(&p.data_span), Some((9, 19)));

        let p = dec(r#"3/admin,1["bar"]"#, Protocol::V5);
        assert_eq!((p.ptype, p.ack_id), (PacketType::Ack, Some(1)));
        assert!(check_payload(&p, Protocol::V5).is_empty());

        let p = dec(r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#, Protocol::V5);
        assert_eq!(p.ptype, PacketType::Connect);
        assert_eq!(p.data, Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"})));
        assert!(check_payload(&p, Protocol::V5).is_empty());

        let p = dec(r#"4{"message":"Not authorized"}"#, Protocol::V5);
        assert_eq!(p.ptype, PacketType::ConnectError);
        assert_eq!(p.ptype.name(Protocol::V5), "CONNECT_ERROR");
        assert!(check_payload(&p, Protocol::V5).is_empty());

        let p = dec(
            r#"51-["upload",{"_placeholder":true,"num":0}]"#,
            Protocol::V5,
        );
        assert_eq!(p.ptype, PacketType::BinaryEvent);
        assert_eq!(p.attachments, Some(1));
        assert_eq!(pair(&p.attachments_span), Some((1, 2)));
        assert_eq!(event_name(&p), Some("upload"));
        assert!(check_payload(&p, Protocol::V5).is_empty());
    }

    #[test]
    fn spec_examples_v4() {
        // Spec v4 §Packet encoding: Examples.
        let p = dec("0/admin,", Protocol::V4);
        assert_eq!((p.ptype, p.nsp.as_ref()), (PacketType::Connect, "/admin"));
        assert_eq!(p.data, None);
        let p = dec("1/admin,", Protocol::V4);
        assert_eq!(p.ptype, PacketType::Disconnect);
        assert!(check_payload(&p, Protocol::V4).is_empty());
        let p = dec(r#"2/admin,456["project:delete",123]"#, Protocol::V4);
        assert_eq!(p.ack_id, Some(456));
        let p = dec("3/admin,456[]", Protocol::V4);
        assert_eq!(p.data, Some(json!([])));
        assert!(check_payload(&p, Protocol::V4).is_empty());
        let p = dec(r#"4/admin,"Not authorized""#, Protocol::V4);
        assert_eq!(p.ptype.name(Protocol::V4), "ERROR");
        assert!(check_payload(&p, Protocol::V4).is_empty());
        let p = dec(
            r#"51-/admin,456["project:delete",{"_placeholder":true,"num":0}]"#,
            Protocol::V4,
        );
        assert_eq!((p.attachments, p.ack_id), (Some(1), Some(456)));
        assert_eq!(p.nsp, "/admin");
        let p = dec(
            r#"61-/admin,456[{"_placeholder":true,"num":0}]"#,
            Protocol::V4,
        );
        assert_eq!(p.ptype, PacketType::BinaryAck);
        assert!(check_payload(&p, Protocol::V4).is_empty());
        // Spec v4 §Packet types: CONNECT — a query string may ride in the
        // namespace; it ends at the first `,` like any namespace.
        let p = dec("0/admin?token=1234&uid=abcd,", Protocol::V4);
        assert_eq!(p.nsp, "/admin?token=1234&uid=abcd");
        // The namespace may also end the text.
        let p = dec("0/admin", Protocol::V4);
        assert_eq!(p.nsp, "/admin");
    }

    #[test]
    fn encode_spec_examples() {
        for text in [
            "0",
            "0/admin,",
            r#"2["hello",1]"#,
            r#"2/admin,456["project:delete",123]"#,
            "3/admin,456[]",
            r#"4/admin,"Not authorized""#,
            r#"51-/admin,456["project:delete",{"_placeholder":true,"num":0}]"#,
        ] {
            assert_eq!(encode(&dec(text, Protocol::V4)), text);
        }
    }

    #[test]
    fn payload_shapes() {
        let shape = |text: &str, protocol| check_payload(&dec(text, protocol), protocol);
        // PROTOCOLS.md §5: `42{}` is not an event.
        assert!(matches!(
            shape("2{}", Protocol::V5).as_slice(),
            [Problem::BadPayload {
                ptype: PacketType::Event,
                found: "an object",
                ..
            }]
        ));
        // Synthetic, one per rule.
        for (text, protocol) in [
            ("2", Protocol::V5),
            ("2[]", Protocol::V5),
            ("2[{}]", Protocol::V5),
            ("5", Protocol::V5),
            ("0[]", Protocol::V5),
            ("1{}", Protocol::V5),
            (r#"4"Not authorized""#, Protocol::V5),
            ("4", Protocol::V5),
            ("4[]", Protocol::V4),
            ("3", Protocol::V5),
            ("6{}", Protocol::V4),
        ] {
            let text = if text.starts_with(['5', '6']) {
                format!("{}0-{}", &text[..1], &text[1..])
            } else {
                text.to_owned()
            };
            assert!(
                matches!(
                    shape(&text, protocol).as_slice(),
                    [Problem::BadPayload { .. }]
                ),
                "{text}"
            );
        }
        for (text, protocol) in [
            ("0", Protocol::V5),
            ("4", Protocol::V4),
            (r#"4{"message":"x"}"#, Protocol::V4),
            ("2[1]", Protocol::V5),
        ] {
            assert!(shape(text, protocol).is_empty(), "{text}");
        }
    }

    #[test]
    fn reserved_events() {
        for name in RESERVED_EVENTS {
            let p = dec(&format!(r#"2["{name}"]"#), Protocol::V5);
            assert_eq!(
                check_payload(&p, Protocol::V5),
                vec![Problem::ReservedEvent {
                    name: name.to_owned(),
                    span: Some(1..name.len() + 5),
                }]
            );
        }
    }

    #[test]
    fn unknown_type_kept() {
        // Synthetic.
        let p = dec("9abc", Protocol::V5);
        assert_eq!(p.ptype, PacketType::Unknown(b'9'));
        assert_eq!(pair(&p.data_span), Some((1, 4)));
        assert_eq!(
            check_payload(&p, Protocol::V5),
            vec![Problem::UnknownType {
                span: 0..1,
                byte: b'9'
            }]
        );
    }

    #[test]
    fn header_errors() {
        // Synthetic, one per rule.
        let lim = Limits::default();
        let err = |text: &str| decode(text, Protocol::V5, &lim).unwrap_err();
        assert_eq!(err(""), Problem::EmptyPacket);
        assert!(matches!(
            err(r#"5["a"]"#),
            Problem::BadAttachmentCount { .. }
        ));
        assert!(matches!(
            err(r#"51["a"]"#),
            Problem::BadAttachmentCount { .. }
        ));
        assert!(matches!(
            err("599999999999999999999999-[]"),
            Problem::BadAttachmentCount {
                why: "the count does not fit in 64 bits",
                ..
            }
        ));
        let long = format!("2/{},[\"a\"]", "n".repeat(2000));
        assert_eq!(
            err(&long),
            Problem::BadNamespace {
                span: 1..2002,
                len: 2001,
                cap: 1024
            }
        );
        assert!(matches!(
            err("212345678901234567890[]"),
            Problem::BadAckId { .. }
        ));
        let lax = Limits {
            max_ack_id_digits: 30,
            ..Limits::default()
        };
        assert!(matches!(
            decode("299999999999999999999[]", Protocol::V5, &lax),
            Err(Problem::BadAckId {
                why: "it does not fit in 64 bits",
                ..
            })
        ));
        assert!(matches!(err(r#"2["a""#), Problem::BadJson { .. }));
        assert!(matches!(err(r#"2admin,["a"]"#), Problem::BadJson { .. }));
        // u64::MAX itself fits.
        let p = decode("218446744073709551615[]", Protocol::V5, &lax).unwrap();
        assert_eq!(p.ack_id, Some(u64::MAX));
    }

    #[test]
    fn deep_json_is_refused_before_parsing() {
        let text = format!("2{}", "[".repeat(100_000));
        let err = decode(&text, Protocol::V5, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            Problem::JsonTooDeep {
                span: 65..100_001,
                cap: 64
            }
        );
        let nested = format!("2{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(decode(&nested, Protocol::V5, &Limits::default()).is_ok());
    }
}
