//! socket.io-msgpack-parser (issue 24 §2): the real capture
//! `captures/node-socketio-msgpack.pcap` decoded packet by packet and
//! compared with what each side's application logged it encoded
//! (`captures/node-socketio-msgpack.sent.jsonl`, written by
//! `captures/record/js/msgpack_log.js` at record time); and SYNTHETIC
//! sessions for the detection rule: a session is msgpack only when its first
//! Socket.IO payload is a binary message decoding to a packet map, and
//! binary messages that fit no parser are said once, as INFO.

mod support;
mod tools;

use dispel::analyze::Collect;
use dispel::step::{Step, Value};
use serde_json::Value as J;

fn field<'a>(s: &'a Step, name: &str) -> Option<&'a Value> {
    s.field(name).map(|f| &f.value)
}

fn text(s: &Step, name: &str) -> Option<String> {
    match field(s, name) {
        Some(Value::Str(v)) => Some(v.clone()),
        _ => None,
    }
}

/// A socketio.packet step as the log writes a packet: {type, nsp, id?, data?}.
fn as_logged(s: &Step) -> J {
    let ty = match text(s, "socketio.type").as_deref() {
        Some("CONNECT") => 0,
        Some("DISCONNECT") => 1,
        Some("EVENT") => 2,
        Some("ACK") => 3,
        Some("CONNECT_ERROR") => 4,
        other => panic!("unexpected type {other:?}"),
    };
    let mut o = serde_json::Map::new();
    o.insert("type".into(), J::from(ty));
    o.insert("nsp".into(), J::from(text(s, "socketio.nsp").unwrap()));
    if let Some(Value::UInt(id)) = field(s, "socketio.ack_id") {
        o.insert("id".into(), J::from(*id));
    }
    if let Some(Value::Json(d)) = field(s, "socketio.data") {
        o.insert("data".into(), d.clone());
    }
    J::Object(o)
}

/// The logged packet without the keys that are not part of the packet
/// format (`options`).
fn packet_part(p: &J) -> J {
    let mut o = serde_json::Map::new();
    for k in ["type", "nsp", "id", "data"] {
        if let Some(v) = p.get(k) {
            o.insert(k.into(), v.clone());
        }
    }
    J::Object(o)
}

#[test]
fn the_recorded_msgpack_app_decodes_to_what_it_logged() {
    let root = tools::root().join("captures");
    let c = support::analyse(std::fs::read(root.join("node-socketio-msgpack.pcap")).unwrap());
    let log = std::fs::read_to_string(root.join("node-socketio-msgpack.sent.jsonl")).unwrap();
    for (side, dir) in [("client", "c2s"), ("server", "s2c")] {
        let sent: Vec<J> = log
            .lines()
            .map(|l| serde_json::from_str::<J>(l).unwrap())
            .filter(|l| l["from"] == side)
            .map(|l| packet_part(&l["packet"]))
            .collect();
        let decoded: Vec<J> = c
            .steps
            .iter()
            .filter(|s| s.kind == "socketio.packet" && s.dir.as_str() == dir)
            .map(as_logged)
            .collect();
        assert!(
            sent.len() >= 4,
            "the {side} logged only {} packets",
            sent.len()
        );
        assert_eq!(decoded, sent, "the {side}'s packets");
    }
    // Every packet is labelled, carries its binary message, and nothing is
    // an orphan attachment any more.
    for s in c.steps.iter().filter(|s| s.kind == "socketio.packet") {
        assert_eq!(text(s, "socketio.encoding").as_deref(), Some("msgpack"));
        assert!(field(s, "socketio.binary").is_some());
    }
    assert_eq!(support::count(&c, "socketio.orphan-attachment"), 0);
    assert_eq!(support::count(&c, "socketio.bad-payload"), 0);
    // The acks are joined to their events, as on the text parser.
    let answers = c
        .steps
        .iter()
        .filter(|s| s.field("socketio.ack.answers").is_some())
        .count();
    assert_eq!(answers, 2);
    support::assert_registered(&c);
}

#[test]
fn json_sessions_are_labelled_json() {
    let root = tools::root().join("captures");
    let c = support::analyse(std::fs::read(root.join("node-socketio-v4.pcap")).unwrap());
    let packets: Vec<&Step> = c
        .steps
        .iter()
        .filter(|s| s.kind == "socketio.packet")
        .collect();
    assert!(!packets.is_empty());
    for s in packets {
        assert_eq!(text(s, "socketio.encoding").as_deref(), Some("json"));
    }
}

// --------------------------------------------------------------- SYNTHETIC --

/// A MessagePack map of string keys (SYNTHETIC, written by hand).
fn mp_map(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![0x80 | entries.len() as u8];
    for (k, v) in entries {
        out.push(0xa0 | k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v);
    }
    out
}

fn mp_str(s: &str) -> Vec<u8> {
    let mut v = vec![0xa0 | s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn run(after: &[(bool, Vec<u8>)]) -> Collect {
    support::run_conv(&support::eio_ws(4, after))
}

#[test]
fn binary_messages_that_fit_no_parser_are_said_once_as_info() {
    use support::cframe;
    // The first Socket.IO payload is binary but no packet map: a custom
    // parser. Three such messages: one INFO, no orphan attachments.
    let c = run(&[
        (true, cframe(0x2, &[0x01, 0x02, 0x03])),
        (true, cframe(0x2, &[0x04])),
        (true, cframe(0x2, &[0x05, 0x06])),
    ]);
    assert_eq!(support::count(&c, "socketio.unknown-encoding"), 1);
    assert_eq!(support::count(&c, "socketio.orphan-attachment"), 0);
    let f = c
        .steps
        .iter()
        .flat_map(|s| &s.findings)
        .find(|f| f.rule.id == "socketio.unknown-encoding")
        .unwrap();
    assert_eq!(f.rule.severity.as_str(), "INFO");
}

#[test]
fn a_text_session_keeps_its_orphan_attachment_finding() {
    use support::{cframe, ctext};
    // The first payload is text ("40"): the default parser; a stray binary
    // message is still an orphan attachment, not an unknown encoding.
    let c = run(&[(true, ctext("40")), (true, cframe(0x2, &[1, 2, 3]))]);
    assert_eq!(support::count(&c, "socketio.orphan-attachment"), 1);
    assert_eq!(support::count(&c, "socketio.unknown-encoding"), 0);
}

#[test]
fn a_msgpack_session_reports_a_binary_message_that_is_no_packet() {
    use support::cframe;
    let connect = mp_map(&[("type", &[0x00]), ("nsp", &mp_str("/"))]);
    let event = mp_map(&[
        ("type", &[0x02]),
        ("data", &[&[0x91][..], &mp_str("hi")].concat()),
        ("nsp", &mp_str("/")),
    ]);
    let c = run(&[
        (true, cframe(0x2, &connect)),
        (true, cframe(0x2, &event)),
        (true, cframe(0x2, &[0x82, 0xa4])),
    ]);
    let packets: Vec<&Step> = c
        .steps
        .iter()
        .filter(|s| s.kind == "socketio.packet")
        .collect();
    assert_eq!(packets.len(), 3);
    assert_eq!(text(packets[1], "socketio.event").as_deref(), Some("hi"));
    assert_eq!(support::count(&c, "socketio.bad-payload"), 1);
    support::assert_registered(&c);
}
