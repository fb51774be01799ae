//! An Engine.IO packet's fields and one-line description.

use std::sync::Arc;

use crate::proto::engineio::{self as eio, Data, PacketType, Version};
use crate::step::{Dir, Field, Origin, Span, Step, Value};

use super::Where;

/// An Engine.IO packet step's buffer and fields.
pub(super) fn packet_fields(
    s: &mut Step,
    w: &Where,
    version: Version,
    p: &eio::Packet<'_>,
    data: Arc<[u8]>,
    note: Option<&PayloadNote>,
) {
    let buf_name = if w.transport == "websocket" {
        "message"
    } else if note.is_some_and(|n| n.jsonp) {
        "jsonp"
    } else {
        "body"
    };
    s.fields.reserve(6);
    let b = s.add_buffer(buf_name, Origin::Derived, data);
    let sp = |r: &std::ops::Range<usize>| Span::bytes(b, r.start, r.len());
    s.fields.push(
        Field::new("engineio.type", p.ptype.name())
            .span(sp(&p.type_span))
            .show(crate::analyze::name_and_digit(
                p.ptype.name(),
                p.ptype.digit(),
            )),
    );
    s.fields
        .push(Field::new("engineio.version", version.number()));
    s.fields.push(Field::new("engineio.transport", w.transport));
    if let Some(n) = note {
        s.fields.push(
            Field::new("engineio.payload.index", n.index + 1).show(format!(
                "packet {} of {} in this payload",
                n.index + 1,
                n.count
            )),
        );
        if let Some(rule) = n.rule {
            s.fields
                .push(Field::new("engineio.payload.length_rule", rule).show(
                    if rule == "utf16-units" {
                        "the length prefix counts UTF-16 code units, as JavaScript does"
                    } else {
                        "the length prefix counts UTF-8 bytes, as python-engineio 3.x did"
                    },
                ));
        }
        s.fields
            .push(Field::new("engineio.payload.record", Value::SpanBytes).span(sp(&n.record)));
    }
    match &p.data {
        Data::Empty => {}
        Data::Text(t) => s
            .fields
            .push(Field::new("engineio.data", *t).span(sp(&p.data_span))),
        Data::Binary(bytes) => {
            if p.base64 {
                let bb = s.add_buffer("base64-decoded", Origin::Derived, Arc::from(bytes.as_ref()));
                s.fields.push(
                    Field::new("engineio.data", Value::SpanBytes)
                        .span(Span::bytes(bb, 0, bytes.len()))
                        .show("binary, sent as base64"),
                );
            } else {
                s.fields
                    .push(Field::new("engineio.data", Value::SpanBytes).span(sp(&p.data_span)));
            }
        }
        Data::Undecoded(_) => s
            .fields
            .push(Field::new("engineio.data", Value::SpanBytes).span(sp(&p.data_span))),
    }
}

pub(super) fn binary_len(d: &Data<'_>) -> Option<usize> {
    match d {
        Data::Binary(b) => Some(b.len()),
        Data::Undecoded(b) => Some(b.len()),
        _ => None,
    }
}

pub(super) struct PayloadNote {
    pub(super) index: usize,
    pub(super) count: usize,
    pub(super) rule: Option<&'static str>,
    pub(super) record: std::ops::Range<usize>,
    pub(super) too_many: bool,
    pub(super) jsonp: bool,
}

pub(super) fn side(d: Dir) -> &'static str {
    match d {
        Dir::C2s => "client",
        Dir::S2c => "server",
    }
}

/// A summary line, and the upgrade stage this packet is, if any.
pub(super) fn describe(
    ptype: PacketType,
    text: &str,
    dir: Dir,
    version: Version,
) -> (String, Option<&'static str>) {
    let shown = || crate::sanitize::preview(text.as_bytes(), 60);
    match (ptype, text) {
        (PacketType::Ping, "probe") => (
            "EIO ping \"probe\" (2probe): the client tests the new WebSocket before switching to it".into(),
            Some("probe ping"),
        ),
        (PacketType::Pong, "probe") => (
            "EIO pong \"probe\" (3probe): the server confirms the WebSocket works".into(),
            Some("probe pong"),
        ),
        (PacketType::Noop, _) => (
            "EIO noop (6): releases the pending long-poll so the client can finish switching".into(),
            Some("noop"),
        ),
        (PacketType::Upgrade, _) => (
            "EIO upgrade (5): the client switches to the WebSocket; polling stops".into(),
            Some("upgrade"),
        ),
        (PacketType::Open, _) => (format!("EIO open (0): the handshake {}", shown()), None),
        (PacketType::Close, _) => ("EIO close (1): the session ends".into(), None),
        (PacketType::Ping, _) => (
            format!(
                "EIO ping (2): heartbeat from the {}{}",
                side(dir),
                match version {
                    Version::V3 => " (in v3 the client pings)",
                    Version::V4 => " (in v4 the server pings)",
                }
            ),
            None,
        ),
        (PacketType::Pong, _) => (format!("EIO pong (3): heartbeat answer from the {}", side(dir)), None),
        (PacketType::Message, _) => {
            // One per message: built without the formatting machinery.
            let mut s = String::with_capacity(80);
            s.push_str("EIO message (4) \"");
            crate::sanitize::push_preview(&mut s, text.as_bytes(), 60);
            s.push('"');
            (s, None)
        }
        (PacketType::Unknown(b), _) => (format!("EIO unknown packet type {:?}", b as char), None),
    }
}
