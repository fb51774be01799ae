//! Socket.IO (src/proto/socketio/*): packet text of both protocol versions
//! (v4 over Engine.IO 3, v5 over Engine.IO 4) and binary attachment
//! assembly. The input is a sequence of inputs to one assembler: a tag byte
//! (even: text packet, odd: binary attachment), a length byte, the bytes.
//!
//! Invariants: every span lies within the packet text; the JSON depth cap
//! holds; the attachment cap holds (the assembler never waits on a header
//! announcing more attachments than the cap); a logical packet never holds more attachments
//! than it announced; encoding a decoded packet decodes to the same packet (unless its data is a
//! bare number, which is ambiguous on the wire).
#![no_main]

use std::ops::Range;

use dispel::proto::engineio::Limits;
use dispel::proto::socketio::{self, BinaryAssembler, Protocol};
use libfuzzer_sys::fuzz_target;

fn within(r: &Option<Range<usize>>, len: usize) {
    if let Some(r) = r {
        assert!(r.start <= r.end && r.end <= len, "span {r:?} outside 0..{len}");
    }
}

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_attachments: 3,
        max_json_depth: 8,
        ..Limits::default()
    };
    let mut asm = BinaryAssembler::new(&limits);
    let mut rest = data;
    while rest.len() >= 2 {
        let (tag, len) = (rest[0], usize::from(rest[1]));
        let bytes = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[2 + bytes.len()..];
        let assembled = if tag & 1 == 1 {
            asm.push_binary(bytes)
        } else {
            let Ok(text) = std::str::from_utf8(bytes) else {
                asm.push_undecodable();
                continue;
            };
            let protocol = if tag & 2 == 0 { Protocol::V5 } else { Protocol::V4 };
            match socketio::decode(text, protocol, &limits) {
                Ok(p) => {
                    let n = text.len();
                    assert!(p.type_span.end <= n);
                    within(&p.attachments_span, n);
                    within(&p.nsp_span, n);
                    within(&p.ack_span, n);
                    within(&p.data_span, n);
                    if let Some(d) = &p.data {
                        assert!(depth(d) <= limits.max_json_depth, "JSON deeper than the cap");
                    }
                    for pr in socketio::check_payload(&p, protocol) {
                        within(&pr.span(), n);
                        let _ = (pr.message(), pr.section(), pr.id());
                    }
                    let _ = socketio::event_name(&p);
                    // Round trip: what we encode decodes to the same packet
                    // content (spans may differ). Not for numeric data: a
                    // number right after the type or ack id is ambiguous on
                    // the wire itself (`2 2` re-encodes as `22`, ack id 2;
                    // see packet.rs whitespace_before_numeric_data_…).
                    let numeric = p.data.as_ref().is_some_and(|d| d.is_number());
                    if p.ptype.is_known() && !numeric {
                        let again = socketio::encode(&p);
                        if let Ok(q) = socketio::decode(&again, protocol, &limits) {
                            assert_eq!((&q.ptype, &q.nsp, q.ack_id, q.attachments), (&p.ptype, &p.nsp, p.ack_id, p.attachments));
                            assert_eq!(q.data, p.data, "re-encoded data differs");
                        }
                    }
                    asm.push_packet(p)
                }
                Err(pr) => {
                    within(&pr.span(), text.len());
                    let _ = pr.message();
                    asm.push_undecodable()
                }
            }
        };
        for lp in &assembled.packets {
            let announced = lp.packet.attachments.unwrap_or(0);
            assert!(lp.attachments.len() as u64 <= announced, "more attachments than announced");
            if lp.complete {
                assert_eq!(lp.attachments.len() as u64, announced);
            }
            let _ = lp.reconstruct();
        }
        if let Some((announced, got)) = asm.awaiting() {
            // A header over the cap is refused, never left waiting.
            assert!(announced <= limits.max_attachments, "waiting on more than the cap");
            assert!((got as u64) < announced);
        }
    }
    let _ = asm.finish();
});
