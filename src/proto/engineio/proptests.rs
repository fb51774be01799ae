//! Property tests: encode→decode round trips for every framing, and no
//! panic (with every span in bounds) for arbitrary input to every entry
//! point.

use proptest::prelude::*;

use super::*;

fn known_type() -> impl Strategy<Value = PacketType> {
    (0u8..=6).prop_map(|d| PacketType::from_digit(d).unwrap_or(PacketType::Noop))
}

/// Text that includes non-BMP characters, so UTF-16 and UTF-8 counts differ.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9:€😀é\u{10FFFF}]{1,12}",]
}

fn packet(version: Version) -> impl Strategy<Value = OwnedPacket> {
    let binary_type = match version {
        // v4 base64 packets are always messages.
        Version::V4 => Just(PacketType::Message).boxed(),
        Version::V3 => known_type().boxed(),
    };
    prop_oneof![
        known_type().prop_map(|t| OwnedPacket::text(t, "")),
        (known_type(), text()).prop_map(move |(t, s)| {
            // The v4 separator cannot appear inside a packet.
            let s = match version {
                Version::V4 => s.replace('\u{1e}', " "),
                Version::V3 => s,
            };
            OwnedPacket::text(t, s)
        }),
        (binary_type, prop::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(t, b)| OwnedPacket::binary(t, b)),
    ]
}

fn owned(p: &Payload<'_>) -> Vec<OwnedPacket> {
    p.packets
        .iter()
        .map(|p| p.packet.to_owned_packet())
        .collect()
}

/// Every span of every packet and problem lies inside the input.
fn spans_in_bounds(p: &Payload<'_>, len: usize) -> bool {
    let ok = |r: &std::ops::Range<usize>| r.start <= r.end && r.end <= len;
    p.packets.iter().all(|pp| {
        ok(&pp.record)
            && ok(&pp.packet.span)
            && ok(&pp.packet.type_span)
            && ok(&pp.packet.data_span)
    }) && p.all_problems().all(|pr| pr.span().is_none_or(|s| ok(&s)))
}

/// Bytes drawn mostly from the characters the framings care about.
fn framing_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(b"0123456789:b\x1e\x00\x01\xff4=A".to_vec()),
            any::<u8>(),
        ],
        0..64,
    )
}

proptest! {
    #[test]
    fn v3_text_round_trip(packets in prop::collection::vec(packet(Version::V3), 1..8)) {
        let body = encode_payload(Version::V3, &packets);
        let p = decode_payload(Version::V3, &body, Some("text/plain; charset=UTF-8"), &Limits::default());
        prop_assert_eq!(p.all_problems().count(), 0, "{:?}", p);
        prop_assert_eq!(owned(&p), packets);
        prop_assert!(p.packets.iter().all(|pp| pp.length_rule == Some(LengthRule::Utf16Units)));
        // Records tile the body.
        let mut at = 0;
        for pp in &p.packets {
            prop_assert_eq!(pp.record.start, at);
            at = pp.record.end;
        }
        prop_assert_eq!(at, body.len());
    }

    #[test]
    fn v3_python_lengths_round_trip(packet in packet(Version::V3)) {
        // One record: with several, a UTF-8 count can be ambiguous (see
        // payload::tests::v3_python_lengths_can_be_ambiguous).
        let body = encode_v3_text_payload(std::slice::from_ref(&packet), LengthRule::Utf8Bytes);
        let p = decode_payload(Version::V3, body.as_bytes(), None, &Limits::default());
        prop_assert_eq!(p.all_problems().count(), 0);
        prop_assert_eq!(owned(&p), vec![packet]);
        let form_is_ascii = body.is_ascii();
        let expected = if form_is_ascii { LengthRule::Utf16Units } else { LengthRule::Utf8Bytes };
        prop_assert_eq!(p.packets[0].length_rule, Some(expected));
    }

    #[test]
    fn v4_round_trip(packets in prop::collection::vec(packet(Version::V4), 1..8)) {
        let body = encode_payload(Version::V4, &packets);
        let p = decode_payload(Version::V4, &body, None, &Limits::default());
        prop_assert_eq!(p.all_problems().count(), 0);
        prop_assert_eq!(owned(&p), packets);
    }

    #[test]
    fn v3_binary_round_trip(packets in prop::collection::vec(packet(Version::V3), 1..8)) {
        let body = encode_v3_binary_payload(&packets);
        let p = decode_payload(Version::V3, &body, None, &Limits::default());
        prop_assert_eq!(p.framing, Framing::V3Binary);
        prop_assert_eq!(p.all_problems().count(), 0);
        prop_assert_eq!(owned(&p), packets);
    }

    #[test]
    fn ws_round_trip(packet in packet(Version::V3), version in prop_oneof![Just(Version::V3), Just(Version::V4)]) {
        match &packet.data {
            OwnedData::Binary(b) => {
                let wire = encode_ws_binary(version, packet.ptype, b);
                let p = decode_ws_binary(version, &wire).map_err(|e| TestCaseError::fail(e.message()))?;
                prop_assert_eq!(p.data, Data::Binary(std::borrow::Cow::Borrowed(b.as_slice())));
            }
            OwnedData::Text(_) | OwnedData::Empty => {
                let text = match &packet.data { OwnedData::Text(t) => t.as_str(), _ => "" };
                let wire = encode_ws_text(packet.ptype, text);
                let p = decode_ws_text(version, &wire).map_err(|e| TestCaseError::fail(e.message()))?;
                prop_assert_eq!(p.to_owned_packet(), packet);
            }
        }
    }

    #[test]
    fn jsonp_response_round_trip(payload in any::<String>(), index in any::<u32>()) {
        let body = wrap_jsonp_response(index, &payload);
        prop_assert_eq!(unwrap_jsonp_response(body.as_bytes()), Ok(payload));
    }

    #[test]
    fn jsonp_post_round_trip(payload in any::<String>().prop_filter(
        "the client's escaping loses a backslash before a newline",
        |s| !s.contains("\\\n"),
    )) {
        let body = wrap_jsonp_post(&payload);
        prop_assert_eq!(unwrap_jsonp_post(body.as_bytes()), Ok(payload));
    }

    #[test]
    fn payloads_never_panic(
        body in prop_oneof![framing_bytes(), any::<Vec<u8>>()],
        version in prop_oneof![Just(Version::V3), Just(Version::V4)],
        ct in prop_oneof![Just(None), Just(Some("application/octet-stream")), Just(Some("text/plain"))],
        cap in 0usize..4,
    ) {
        let limits = Limits { max_packets: cap, ..Limits::default() };
        let p = decode_payload(version, &body, ct, &limits);
        prop_assert!(p.packets.len() <= cap);
        prop_assert!(spans_in_bounds(&p, body.len()));
        let p = decode_payload(version, &body, ct, &Limits::default());
        prop_assert!(spans_in_bounds(&p, body.len()));
    }

    #[test]
    fn single_messages_never_panic(bytes in prop_oneof![framing_bytes(), any::<Vec<u8>>()], s in any::<String>()) {
        for v in [Version::V3, Version::V4] {
            let _ = decode_ws_binary(v, &bytes);
            if let Ok(p) = decode_ws_text(v, &s) {
                prop_assert!(p.span.end <= s.len() && p.data_span.end <= s.len());
            }
        }
        let _ = unwrap_jsonp_response(&bytes);
        let _ = unwrap_jsonp_post(&bytes);
        let _ = is_post_ack(&bytes);
        let _ = parse_open(&s);
        let _ = parse_request_target(&s);
        let _ = parse_request_target(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn jsonp_bodies_never_panic(inner in "[\\\\\"a-z0-9u\\n]{0,24}") {
        let _ = unwrap_jsonp_response(format!("___eio[1](\"{inner}").as_bytes());
        let _ = unwrap_jsonp_response(format!("___eio[1](\"{inner}\");").as_bytes());
        let _ = unwrap_jsonp_post(format!("d={inner}").as_bytes());
    }
}
