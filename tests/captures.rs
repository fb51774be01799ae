//! The real captures, decoded end to end: each scenario's Socket.IO
//! conversation (as written in `captures/record/`) comes out of the trace in
//! order, with its acks linked to their events, its attachments joined, and
//! one Engine.IO session stitched across the capture's connections.

mod support;
mod tools;

use dispel::analyze::Collect;
use dispel::step::{Step, Value};

fn trace(name: &str) -> Collect {
    support::analyse(std::fs::read(tools::root().join("captures").join(name)).unwrap())
}

fn text(s: &Step, name: &str) -> Option<String> {
    match s.field(name).map(|f| &f.value) {
        Some(Value::Str(v)) => Some(v.clone()),
        _ => None,
    }
}

fn uint(s: &Step, name: &str) -> Option<u64> {
    match s.field(name).map(|f| &f.value) {
        Some(Value::UInt(v)) => Some(*v),
        _ => None,
    }
}

/// The Socket.IO conversation: "dir TYPE nsp event" per packet.
fn conversation(c: &Collect) -> Vec<String> {
    c.steps
        .iter()
        .filter(|s| s.kind == "socketio.packet")
        .map(|s| {
            let mut line = format!(
                "{} {}",
                s.dir.as_str(),
                text(s, "socketio.type").unwrap_or_default()
            );
            let nsp = text(s, "socketio.nsp").unwrap_or_default();
            if nsp != "/" {
                line.push(' ');
                line.push_str(&nsp);
            }
            if let Some(e) = text(s, "socketio.event") {
                line.push(' ');
                line.push_str(&e);
            }
            line
        })
        .collect()
}

/// The flask-socketio scenario (`captures/record/py/sio_client.py`): connect,
/// chat both ways, an ack, a room join and broadcast, a binary upload echoed,
/// disconnect.
const FLASK_SCENARIO: &[&str] = &[
    "c2s CONNECT",
    "s2c CONNECT",
    "c2s EVENT chat",
    "s2c EVENT chat",
    "c2s EVENT ack-me",
    "s2c ACK",
    "c2s EVENT join",
    "s2c EVENT room-news",
    "c2s BINARY_EVENT upload",
    "s2c BINARY_EVENT upload-echo",
    "c2s DISCONNECT",
];

#[test]
fn flask_socketio_stacks_carry_the_scenario() {
    for name in [
        "flask-socketio-gevent.pcap",
        "flask-socketio-eventlet.pcap",
        "flask-socketio-threading.pcap",
        "flask-socketio-ipv6.pcapng",
        "flask-socketio-any.pcap",
    ] {
        let c = trace(name);
        assert_eq!(conversation(&c), FLASK_SCENARIO, "{name}");
        // One Engine.IO v4 session, upgraded, across both connections.
        let sessions: Vec<&Step> = c
            .steps
            .iter()
            .filter(|s| s.kind == "engineio.session")
            .collect();
        assert_eq!(sessions.len(), 1, "{name}");
        let s = sessions[0];
        assert_eq!(uint(s, "engineio.version"), Some(4), "{name}");
        assert_eq!(
            text(s, "engineio.session.transports").as_deref(),
            Some("polling → websocket"),
            "{name}"
        );
        assert_eq!(
            text(s, "engineio.session.connections").as_deref(),
            Some("0, 1")
        );
        // The upgrade dance, in the prose's order.
        let stages: Vec<String> = c
            .steps
            .iter()
            .filter_map(|s| text(s, "engineio.upgrade_stage"))
            .collect();
        assert_eq!(
            stages[..3],
            ["probe ping", "probe pong", "upgrade"],
            "{name}: {stages:?}"
        );
        assert!(stages.iter().any(|s| s == "noop"), "{name}");
        // The ack answers the ack-me event; the attachment is joined.
        let ack = c
            .steps
            .iter()
            .find(|s| text(s, "socketio.type").as_deref() == Some("ACK"))
            .unwrap();
        let event_step = uint(ack, "socketio.ack.answers").unwrap() as usize;
        let event = &c.steps[event_step - 1];
        assert_eq!(text(event, "socketio.event").as_deref(), Some("ack-me"));
        let upload = c
            .steps
            .iter()
            .find(|s| text(s, "socketio.event").as_deref() == Some("upload"))
            .unwrap();
        assert_eq!(uint(upload, "socketio.attachments"), Some(1));
        assert!(upload.field("socketio.attachment").is_some(), "{name}");
        // The server pings (v4) and every ping is answered in time.
        let pings = c
            .steps
            .iter()
            .filter(|s| text(s, "engineio.type").as_deref() == Some("ping"))
            .filter(|s| text(s, "engineio.data").as_deref() != Some("probe"))
            .count();
        assert!(pings >= 2, "{name}: {pings} heartbeat pings");
        assert_eq!(support::count(&c, "engineio.ping-direction"), 0);
        assert_eq!(support::count(&c, "engineio.heartbeat-late"), 0);
        assert_eq!(support::count(&c, "socketio.ack-unmatched"), 0);
    }
}

#[test]
fn node_socketio_v4_namespaces_acks_and_binary_ack() {
    let c = trace("node-socketio-v4.pcap");
    let conv = conversation(&c);
    for expected in [
        "c2s CONNECT",
        "c2s CONNECT /admin",
        "s2c CONNECT /admin",
        "c2s EVENT chat",
        "c2s EVENT ack-me",
        "s2c ACK",
        "s2c EVENT server-ask",
        "c2s ACK",
        "c2s BINARY_EVENT upload",
        "s2c BINARY_ACK",
        "c2s EVENT /admin stats",
        "s2c ACK /admin",
    ] {
        assert!(conv.iter().any(|l| l == expected), "{expected} in {conv:?}");
    }
    // The BINARY_ACK answers the binary upload, by (direction, nsp, id).
    let back = c
        .steps
        .iter()
        .find(|s| text(s, "socketio.type").as_deref() == Some("BINARY_ACK"))
        .unwrap();
    let answered = &c.steps[uint(back, "socketio.ack.answers").unwrap() as usize - 1];
    assert_eq!(text(answered, "socketio.event").as_deref(), Some("upload"));
    assert_eq!(uint(back, "socketio.attachments"), Some(1));
    assert_eq!(support::count(&c, "socketio.ack-unmatched"), 0);
    assert_eq!(support::count(&c, "socketio.connect-missing"), 0);
}

#[test]
fn node_socketio_eio3_client_speaks_engineio_3() {
    let c = trace("node-socketio-eio3.pcap");
    let conv = conversation(&c);
    assert_eq!(
        conv[0], "s2c CONNECT",
        "protocol 4: the server connects / by itself"
    );
    for expected in [
        "c2s EVENT chat",
        "c2s EVENT ack-me",
        "s2c ACK",
        "c2s BINARY_EVENT upload",
    ] {
        assert!(conv.iter().any(|l| l == expected), "{expected} in {conv:?}");
    }
    // v3 polling payloads use <len>:<packet> framing counted in UTF-16 units.
    assert!(
        c.steps
            .iter()
            .any(|s| text(s, "engineio.payload.length_rule").as_deref() == Some("utf16-units"))
    );
    // In v3 the client pings and the server pongs.
    let ping = c
        .steps
        .iter()
        .find(|s| {
            text(s, "engineio.type").as_deref() == Some("ping")
                && text(s, "engineio.data").as_deref() != Some("probe")
        })
        .unwrap();
    assert_eq!(ping.dir.as_str(), "c2s");
    assert_eq!(support::count(&c, "engineio.ping-direction"), 0);
    assert!(
        c.steps
            .iter()
            .all(|s| { s.kind != "engineio.packet" || uint(s, "engineio.version") == Some(3) })
    );
}

#[test]
fn flask_sock_echo_frames_cover_every_length_form_and_control_frame() {
    let c = trace("flask-sock-echo.pcap");
    let frames: Vec<&Step> = c
        .steps
        .iter()
        .filter(|s| s.kind == "websocket.frame")
        .collect();
    let forms: Vec<String> = frames
        .iter()
        .filter_map(|s| text(s, "websocket.payload_length.form"))
        .collect();
    for form in ["7-bit", "16-bit", "64-bit"] {
        assert!(forms.iter().any(|f| f == form), "{form}");
    }
    let big = frames
        .iter()
        .find(|s| uint(s, "websocket.payload_length_ext_64") == Some(70000))
        .unwrap();
    assert!(
        big.frames.len() > 1,
        "a 70000-byte frame spans several packets"
    );
    // The fragmented message: 4 frames, one message.
    let msg = c
        .steps
        .iter()
        .find(|s| s.kind == "websocket.message" && uint(s, "websocket.message.frames") == Some(4))
        .unwrap();
    assert_eq!(
        text(msg, "websocket.message.text").as_deref(),
        Some("fragment one, fragment two, fragment three")
    );
    let pong = frames
        .iter()
        .find(|s| uint(s, "websocket.opcode") == Some(10))
        .unwrap();
    assert!(uint(pong, "websocket.pong.answers").is_some());
    let close = frames
        .iter()
        .find(|s| uint(s, "websocket.opcode") == Some(8))
        .unwrap();
    assert_eq!(
        uint(close, "websocket.payload.close.status_code"),
        Some(1000)
    );
    assert_eq!(
        text(close, "websocket.payload.close.reason").as_deref(),
        Some("done, goodbye")
    );
    // Werkzeug writes an HTTP response onto the WebSocket: said once.
    assert_eq!(support::count(&c, "frame.desync"), 1);
}

#[test]
fn ws_permessage_deflate_inflates_with_context_takeover() {
    let c = trace("ws-permessage-deflate.pcap");
    let inflations: Vec<&Step> = c
        .steps
        .iter()
        .filter(|s| s.kind == "websocket.inflate")
        .collect();
    assert!(inflations.len() >= 4);
    // RFC 7692 §7.2.3.2: "Hello" compresses to 7 bytes, then with context
    // takeover to 5 bytes — the capture shows exactly that.
    let firsts: Vec<(u64, u64)> = inflations
        .iter()
        .filter(|s| s.dir.as_str() == "c2s")
        .take(2)
        .map(|s| {
            (
                uint(s, "websocket.inflate.compressed_length").unwrap(),
                uint(s, "websocket.inflate.length").unwrap(),
            )
        })
        .collect();
    assert_eq!(firsts, [(7, 5), (5, 5)]);
    // The message compressed over several frames is inflated whole.
    assert!(c.steps.iter().any(|s| s.kind == "websocket.message"
        && uint(s, "websocket.message.frames").unwrap_or(0) > 1
        && matches!(
            s.field("websocket.message.compressed").map(|f| &f.value),
            Some(Value::Bool(true))
        )));
    assert_eq!(support::count(&c, "deflate.inflate-failed"), 0);
    assert_eq!(support::count(&c, "deflate.rsv1-on-continuation"), 0);
}

#[test]
fn impaired_capture_reassembles_despite_loss_and_reordering() {
    let c = trace("impaired-flask-sock.pcap");
    assert!(support::count(&c, "tcp.retransmission") > 10);
    assert!(support::count(&c, "tcp.out-of-order") > 10);
    assert_eq!(support::count(&c, "tcp.gap"), 0);
    // Every echo came back: each client message has its server twin, byte
    // for byte, despite the loss and reordering underneath.
    let messages = |dir: &str| -> Vec<Vec<u8>> {
        c.steps
            .iter()
            .filter(|s| s.kind == "websocket.message" && s.dir.as_str() == dir)
            .map(|s| s.buffers[0].data.to_vec())
            .collect()
    };
    let sent = messages("c2s");
    assert!(sent.len() >= 5, "{} client messages", sent.len());
    assert!(sent.iter().any(|m| m.len() == 20000));
    assert_eq!(sent, messages("s2c"));
}

/// Everything points at bytes: in every step of every real capture, every
/// field's span lies inside one of the step's buffers, bit masks fit their
/// bytes, and a bytes-valued field's value is exactly its span's bytes.
#[test]
fn every_field_of_every_real_step_points_at_its_bytes() {
    let mut spans = 0;
    for path in tools::captures() {
        let c = support::analyse(std::fs::read(&path).unwrap());
        for s in &c.steps {
            for f in &s.fields {
                let Some(span) = f.span else { continue };
                let bytes = s.span_bytes(&span).unwrap_or_else(|| {
                    panic!(
                        "{}: {} of a {} step points outside its buffers",
                        path.display(),
                        f.name,
                        s.kind
                    )
                });
                if let Some(mask) = span.mask {
                    assert!(span.len <= 8 && mask >> (8 * span.len) == 0, "{}", f.name);
                }
                if let Value::Bytes(b) = &f.value {
                    assert_eq!(b.as_slice(), bytes, "{} of a {} step", f.name, s.kind);
                }
                spans += 1;
            }
        }
    }
    assert!(spans > 4000, "{spans} spans checked");
}

/// "dir role" of each Close frame (`websocket.close.role`), in order.
fn close_roles(c: &Collect) -> Vec<String> {
    c.steps
        .iter()
        .filter(|s| s.kind == "websocket.frame")
        .filter_map(|s| text(s, "websocket.close.role").map(|r| format!("{} {r}", s.dir.as_str())))
        .collect()
}

#[test]
fn close_roles_on_real_captures() {
    // The client closes first and the server answers.
    assert_eq!(
        close_roles(&trace("ws-permessage-deflate.pcap")),
        ["c2s starts", "s2c answers"]
    );
    // The browser's tab went away: the server's Close comes first (and
    // the browser's answer never made it into the capture).
    assert_eq!(
        close_roles(&trace("browser-flask-socketio.pcap")),
        ["s2c starts"]
    );
    // The python-socketio client sends its Close a second time after the
    // server's answer: a repeat, flagged.
    let c = trace("flask-socketio-gevent.pcap");
    assert_eq!(
        close_roles(&c),
        ["c2s starts", "s2c answers", "c2s repeats"]
    );
    assert_eq!(support::count(&c, "frame.close-repeated"), 1);
}

#[test]
fn inflate_window_use_on_the_deflate_capture() {
    let c = trace("ws-permessage-deflate.pcap");
    let flag = |s: &Step, name: &str| match s.field(name).map(|f| &f.value) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    let client: Vec<(Option<bool>, Option<bool>)> = c
        .steps
        .iter()
        .filter(|s| s.kind == "websocket.inflate" && s.dir.as_str() == "c2s")
        .map(|s| {
            (
                flag(s, "websocket.inflate.first"),
                flag(s, "websocket.inflate.used_window"),
            )
        })
        .collect();
    // The first "Hello" stands alone; its repeat is 5 bytes that inflate
    // only with the first message's window.
    assert_eq!(client[0], (Some(true), Some(false)));
    assert_eq!(client[1], (Some(false), Some(true)));
    assert!(client[2..].iter().all(|(first, _)| *first == Some(false)));
    // Context takeover is negotiated, yet some later messages stand alone.
    assert!(client[2..].contains(&(Some(false), Some(false))));
}
