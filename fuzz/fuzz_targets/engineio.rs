//! Engine.IO (src/proto/engineio/*): both transports (WebSocket messages,
//! polling payloads, JSONP), both protocol versions (3 and 4), the open
//! packet and the request target.
//!
//! Invariants: every span of every packet and problem lies within the
//! decoder's input; a payload keeps at most `max_packets` packets and counts
//! at least as many records; borrowed text data is exactly the bytes under
//! its data span.
#![no_main]

use std::ops::Range;

use dispel::proto::engineio::{
    self, Data, Limits, Packet, Version, decode_payload, decode_ws_binary, decode_ws_text,
};
use libfuzzer_sys::fuzz_target;

fn within(r: &Range<usize>, len: usize) {
    assert!(r.start <= r.end && r.end <= len, "span {r:?} outside 0..{len}");
}

fn check_packet(p: &Packet, input: &[u8]) {
    within(&p.span, input.len());
    within(&p.type_span, input.len());
    within(&p.data_span, input.len());
    for pr in &p.problems {
        if let Some(s) = pr.span() {
            within(&s, input.len());
        }
        let _ = (pr.message(), pr.section(), pr.id());
    }
    if let Data::Text(t) = &p.data {
        if !p.base64 {
            assert_eq!(t.as_bytes(), &input[p.data_span.clone()], "text is not its span");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_packets: 1 + usize::from(ctl & 7),
        ..Limits::default()
    };
    for version in [Version::V3, Version::V4] {
        if let Ok(text) = std::str::from_utf8(input) {
            match decode_ws_text(version, text) {
                Ok(p) => check_packet(&p, input),
                Err(pr) => {
                    if let Some(s) = pr.span() {
                        within(&s, input.len());
                    }
                }
            }
        }
        if let Ok(p) = decode_ws_binary(version, input) {
            check_packet(&p, input);
        }
        for ct in [None, Some("application/octet-stream"), Some("text/plain; charset=UTF-8")] {
            let payload = decode_payload(version, input, ct, &limits);
            assert!(payload.packets.len() <= limits.max_packets, "payload over the packet cap");
            assert!(payload.record_count >= payload.packets.len());
            for pp in &payload.packets {
                within(&pp.record, input.len());
                check_packet(&pp.packet, input);
            }
            for pr in payload.all_problems() {
                if let Some(s) = pr.span() {
                    within(&s, input.len());
                }
            }
            let _ = payload.exceeds_python_engineio_limit();
        }
    }
    // JSONP: unwrap, then decode the unwrapped text as a payload.
    for unwrapped in [
        engineio::unwrap_jsonp_response(input),
        engineio::unwrap_jsonp_post(input),
    ]
    .into_iter()
    .flatten()
    {
        let payload = decode_payload(Version::V3, unwrapped.as_bytes(), None, &limits);
        for pp in &payload.packets {
            check_packet(&pp.packet, unwrapped.as_bytes());
        }
    }
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = engineio::parse_open(text);
        if let Some(q) = engineio::parse_request_target(text) {
            let _ = q.version();
        }
    }
    let _ = engineio::is_post_ack(input);
});
