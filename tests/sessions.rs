//! How each session ended, on the real `ending-*` captures (recorded by
//! `captures/record/record.sh` with Node socket.io and python-socketio):
//! each summary step's fields and its sentence, and the two decodes of a
//! session's transports that were wrong before.

mod support;
mod tools;

use dispel::analyze::Collect;
use dispel::step::{Step, Value};

fn trace(name: &str) -> Collect {
    support::analyse(std::fs::read(tools::root().join("captures").join(name)).unwrap())
}

/// The summary steps, in order.
fn summaries(c: &Collect) -> Vec<&Step> {
    c.steps
        .iter()
        .filter(|s| s.kind == "engineio.session")
        .collect()
}

fn text<'a>(s: &'a Step, name: &str) -> Option<&'a str> {
    match s.field(name).map(|f| &f.value) {
        Some(Value::Str(v)) => Some(v.as_str()),
        _ => None,
    }
}

fn uint(s: &Step, name: &str) -> Option<u64> {
    match s.field(name).map(|f| &f.value) {
        Some(Value::UInt(v)) => Some(*v),
        _ => None,
    }
}

/// upgrade, end.by, end.cause of a summary step.
fn verdict(s: &Step) -> (Option<&str>, &str, &str) {
    (
        text(s, "engineio.session.upgrade"),
        text(s, "engineio.session.end.by").unwrap(),
        text(s, "engineio.session.end.cause").unwrap(),
    )
}

fn rules(s: &Step) -> Vec<&'static str> {
    s.findings.iter().map(|f| f.rule.id).collect()
}

fn says(s: &Step, what: &str) {
    assert!(
        s.summary.contains(what),
        "the summary does not say {what:?}: {}",
        s.summary
    );
}

/// The step an `engineio.session.end.step` names.
fn end_step<'a>(c: &'a Collect, s: &Step) -> &'a Step {
    let n = uint(s, "engineio.session.end.step").unwrap() as usize;
    &c.steps[n - 1]
}

#[test]
fn client_silent_is_a_server_ping_timeout() {
    // The client's event loop was blocked: the server's ping went
    // unanswered and the server closed after pingTimeout (1 s).
    let c = trace("ending-client-silent.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 1);
    assert_eq!(verdict(s[0]), (Some("upgraded"), "server", "ping-timeout"));
    assert!(text(s[0], "engineio.session.sid").is_some());
    says(
        s[0],
        "went unanswered; pingTimeout is 1000 ms, so it waited until",
    );
    assert_eq!(rules(s[0]), ["engineio.ping-timeout"]);
    assert!(
        s[0].findings[0]
            .message
            .starts_with("session 1: ended by ping timeout — the client stopped answering pings")
    );
    // Both deadlines at the end: the server's for the pong, the client's
    // for the next ping.
    let d = text(s[0], "engineio.session.end.deadlines").unwrap();
    assert!(
        d.contains("the server was waiting for the pong to its ping of step"),
        "{d}"
    );
    assert!(
        d.contains("the client was waiting for the next ping until"),
        "{d}"
    );
    // What ended it is the server's, after the ping it names.
    let end = end_step(&c, s[0]);
    assert_eq!(end.dir.as_str(), "s2c");
    assert_eq!(end.conn, s[0].conn);
}

#[test]
fn server_silent_is_a_client_ping_timeout_then_a_reconnection() {
    let c = trace("ending-server-silent.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 2);
    assert_eq!(verdict(s[0]), (Some("upgraded"), "client", "ping-timeout"));
    says(s[0], "pingInterval + pingTimeout = 1000 + 1000 = 2000 ms");
    assert_eq!(rules(s[0]), ["engineio.ping-timeout"]);
    assert!(
        s[0].findings[0]
            .message
            .contains("the server sent no ping for")
    );
    assert_eq!(end_step(&c, s[0]).dir.as_str(), "c2s");
    // The client reconnects to a new session, which ends cleanly.
    assert_eq!(verdict(s[1]), (Some("upgraded"), "client", "disconnect"));
    assert_eq!(
        text(s[1], "engineio.session.follows"),
        text(s[0], "engineio.session.sid")
    );
    assert_eq!(uint(s[1], "engineio.session.attempt"), Some(1));
    says(s[1], "reconnected after");
    assert!(rules(s[1]).is_empty());
}

#[test]
fn a_server_disconnect() {
    let c = trace("ending-server-disconnect.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 1);
    assert_eq!(verdict(s[0]), (Some("upgraded"), "server", "disconnect"));
    assert_eq!(
        text(s[0], "engineio.session.namespaces"),
        Some("/ disconnected by the server")
    );
    assert_eq!(
        text(end_step(&c, s[0]), "socketio.type"),
        Some("DISCONNECT")
    );
    assert!(rules(s[0]).is_empty());
}

#[test]
fn a_client_disconnect() {
    // node-socketio-v4: the client disconnects /admin, then /.
    let c = trace("node-socketio-v4.pcap");
    let s = summaries(&c);
    assert_eq!(verdict(s[0]), (Some("upgraded"), "client", "disconnect"));
    assert_eq!(
        text(s[0], "engineio.session.namespaces"),
        Some("/ disconnected by the client, /admin disconnected by the client")
    );
    says(s[0], "DISCONNECT for namespace /");
}

#[test]
fn a_killed_server_is_a_transport_close() {
    for name in [
        "ending-server-killed-ws.pcap",
        "ending-server-killed-polling.pcap",
    ] {
        let c = trace(name);
        let s = summaries(&c);
        assert_eq!(s.len(), 1, "{name}");
        let (_, by, cause) = verdict(s[0]);
        assert_eq!((by, cause), ("server", "transport-close"), "{name}");
        let end = end_step(&c, s[0]);
        assert!(
            matches!(end.kind, "tcp.fin" | "tcp.rst"),
            "{name}: {}",
            end.kind
        );
        says(s[0], "a \"transport close\"");
    }
    let ws = summaries(&trace("ending-server-killed-ws.pcap"))[0].clone();
    assert_eq!(text(&ws, "engineio.session.upgrade"), Some("upgraded"));
    let polling = summaries(&trace("ending-server-killed-polling.pcap"))[0].clone();
    // The client asked for polling only.
    assert_eq!(
        text(&polling, "engineio.session.upgrade"),
        Some("not-tried")
    );
}

#[test]
fn a_restarted_server_and_the_new_session() {
    let c = trace("ending-server-restart.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 2);
    assert_eq!(
        verdict(s[0]),
        (Some("not-tried"), "server", "transport-close")
    );
    assert_eq!(verdict(s[1]), (Some("not-tried"), "client", "disconnect"));
    assert_eq!(
        text(s[1], "engineio.session.follows"),
        text(s[0], "engineio.session.sid")
    );
    assert!(uint(s[1], "engineio.session.reconnect_after_ms").is_some());
}

#[test]
fn upgrades_not_offered_and_not_tried() {
    let c = trace("ending-not-offered.pcap");
    let s = summaries(&c);
    assert_eq!(verdict(s[0]), (Some("not-offered"), "client", "disconnect"));
    says(s[0], "the open packet's `upgrades` list is empty");
    let c = trace("ending-polling-only.pcap");
    let s = summaries(&c);
    assert_eq!(verdict(s[0]), (Some("not-tried"), "client", "disconnect"));
    assert_eq!(text(s[0], "engineio.session.transports"), Some("polling"));
}

#[test]
fn a_payload_over_the_limit() {
    let c = trace("ending-too-large.pcap");
    let s = summaries(&c);
    assert_eq!(
        verdict(s[0]),
        (Some("upgraded"), "server", "payload-too-large")
    );
    assert_eq!(uint(s[0], "engineio.session.end.close_code"), Some(1009));
    assert_eq!(rules(s[0]), ["engineio.payload-too-large"]);
    // Over polling: the POST is answered 413.
    let c = trace("ending-too-large-polling.pcap");
    let s = summaries(&c);
    assert_eq!(
        verdict(s[0]),
        (Some("not-tried"), "server", "payload-too-large")
    );
    assert_eq!(uint(s[0], "engineio.session.end.http_status"), Some(413));
    assert!(
        s[0].findings[0]
            .message
            .contains("maxPayload is 1000 bytes")
    );
}

#[test]
fn a_refused_origin_opens_no_session() {
    let c = trace("ending-origin-refused.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].session, None);
    assert_eq!(text(s[0], "engineio.session.sid"), None);
    assert_eq!(verdict(s[0]), (None, "server", "origin-refused"));
    assert_eq!(uint(s[0], "engineio.session.end.http_status"), Some(400));
    says(s[0], "Not an accepted origin.");
    assert_eq!(rules(s[0]), ["engineio.origin-refused"]);
}

#[test]
fn a_polled_packet_during_the_probe_is_no_transport_switch() {
    // node-socketio-v4: the client's /admin CONNECT goes by polling while
    // the WebSocket is probed; the session switched transports once.
    let c = trace("node-socketio-v4.pcap");
    let s = summaries(&c);
    assert_eq!(
        text(s[0], "engineio.session.transports"),
        Some("polling → websocket")
    );
    // Packets did travel by polling after the first one over the WebSocket
    // (the probe): the summary is about switches, not packets.
    let first_ws = c
        .steps
        .iter()
        .position(|s| {
            s.kind == "engineio.packet" && text(s, "engineio.transport") == Some("websocket")
        })
        .unwrap();
    assert!(c.steps[first_ws..].iter().any(|s| {
        s.kind == "engineio.packet" && text(s, "engineio.transport") == Some("polling")
    }));
}

#[test]
fn a_noop_without_an_upgrade_is_not_called_part_of_one() {
    for name in [
        "ending-polling-only.pcap",
        "ending-not-offered.pcap",
        // The upgrade was refused, or its WebSocket closed during the
        // probe: the noop after the client's close answers a poll of a
        // session that stayed on polling.
        "ending-upgrade-refused.pcap",
        "ending-probe-failed.pcap",
    ] {
        let c = trace(name);
        let noops: Vec<&Step> = c
            .steps
            .iter()
            .filter(|s| s.kind == "engineio.packet" && text(s, "engineio.type") == Some("noop"))
            .collect();
        assert!(!noops.is_empty(), "{name}");
        for n in noops {
            assert!(!n.summary.contains("switching"), "{name}: {}", n.summary);
            assert!(n.field("engineio.upgrade_stage").is_none(), "{name}");
        }
    }
    // In an upgrade, the noop is still the upgrade's, also when the server
    // sends it as the WebSocket request arrives, before the probe
    // (python-engineio).
    for name in ["flask-socketio-gevent.pcap", "ending-py-client-silent.pcap"] {
        let c = trace(name);
        let noop = c
            .steps
            .iter()
            .position(|s| s.kind == "engineio.packet" && text(s, "engineio.type") == Some("noop"))
            .unwrap();
        assert!(c.steps[noop].summary.contains("finish switching"), "{name}");
        assert_eq!(text(&c.steps[noop], "engineio.upgrade_stage"), Some("noop"));
        if name.starts_with("ending-py") {
            assert!(
                c.steps[noop..]
                    .iter()
                    .any(|s| s.summary.contains("(2probe)"))
            );
        }
    }
}

#[test]
fn no_sticky_sessions_is_session_id_unknown_then_reconnections() {
    // Two servers behind a round-robin proxy: each handshake reaches one,
    // the next request the other, which answers "Session ID unknown".
    let c = trace("ending-no-sticky-sessions.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 3);
    for (i, sess) in s.iter().enumerate() {
        assert_eq!(
            verdict(sess),
            (Some("not-tried"), "server", "session-unknown")
        );
        assert_eq!(uint(sess, "engineio.session.end.http_status"), Some(400));
        assert_eq!(rules(sess), ["engineio.session-unknown"]);
        let end = end_step(&c, sess);
        assert_eq!(end.kind, "http.response");
        if i > 0 {
            assert_eq!(
                text(sess, "engineio.session.follows"),
                text(s[i - 1], "engineio.session.sid")
            );
        }
    }
    assert_eq!(text(s[0], "engineio.session.follows"), None);
    says(s[0], "load balancer without sticky sessions");
}

#[test]
fn an_upgrade_refused_by_a_proxy_stays_on_polling() {
    let c = trace("ending-upgrade-refused.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 1);
    assert_eq!(verdict(s[0]), (Some("refused"), "client", "disconnect"));
    assert_eq!(text(s[0], "engineio.session.transports"), Some("polling"));
    says(s[0], "the server answered 400, not 101");
}

#[test]
fn python_socketio_ends_the_same_ways() {
    // Flask-SocketIO (python-engineio) under the same Node client.
    let c = trace("ending-py-client-silent.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 1);
    assert_eq!(verdict(s[0]), (Some("upgraded"), "server", "ping-timeout"));
    assert_eq!(rules(s[0]), ["engineio.ping-timeout"]);
    says(s[0], "pingTimeout is 1000 ms");
    let c = trace("ending-py-server-disconnect.pcap");
    let s = summaries(&c);
    assert_eq!(verdict(s[0]), (Some("upgraded"), "server", "disconnect"));
    assert!(rules(s[0]).is_empty());
}

#[test]
fn a_failed_probe_stays_on_polling() {
    // A proxy closed the WebSocket right after its 101: `2probe` went out,
    // no `3probe` came back.
    let c = trace("ending-probe-failed.pcap");
    let s = summaries(&c);
    assert_eq!(s.len(), 1);
    assert_eq!(
        verdict(s[0]),
        (Some("probe-failed"), "client", "disconnect")
    );
    assert_eq!(text(s[0], "engineio.session.transports"), Some("polling"));
    says(s[0], "`2probe` got no `3probe`");
}

// SYNTHETIC conversations (tests/support), for what the recordings do not
// reach.

/// A polling handshake answered with an open packet for `sid`.
fn handshake(sid: &str) -> support::Exchange {
    vec![
        (true, support::eio_get(4, None)),
        (
            false,
            support::eio_ok(support::eio_open(4, sid, 25_000, 20_000).as_bytes()),
        ),
    ]
}

#[test]
fn synthetic_a_reconnection_follows_an_abnormal_end() {
    // conn 0 opens abc; conn 1 polls abc and gets "Session ID unknown";
    // conn 2 opens def from the same client address: def follows abc.
    let unknown = vec![
        (true, support::eio_get(4, Some("abc"))),
        (
            false,
            support::http_response(
                400,
                "application/json",
                br#"{"code":1,"message":"Session ID unknown"}"#,
            ),
        ),
    ];
    let c = support::analyse(support::conns_pcap(&[
        handshake("abc"),
        unknown,
        handshake("def"),
    ]));
    let s = summaries(&c);
    assert_eq!(s.len(), 2);
    assert_eq!(verdict(s[0]).2, "session-unknown");
    assert_eq!(text(s[1], "engineio.session.follows"), Some("abc"));
    assert_eq!(uint(s[1], "engineio.session.attempt"), Some(1));
    // Control: after a clean end (a close packet), no link.
    let close = vec![(true, support::eio_post(4, "abc", b"1"))];
    let c = support::analyse(support::conns_pcap(&[
        handshake("abc"),
        close,
        handshake("def"),
    ]));
    let s = summaries(&c);
    assert_eq!(verdict(s[0]).1, "client");
    assert_eq!(verdict(s[0]).2, "close-packet");
    assert_eq!(text(s[1], "engineio.session.follows"), None);
}

#[test]
fn synthetic_a_websocket_request_with_no_answer() {
    // The client asks for the WebSocket; the capture holds no answer.
    let ws = vec![(true, support::eio_ws_request(4, Some("abc")))];
    let c = support::analyse(support::conns_pcap(&[handshake("abc"), ws]));
    let s = summaries(&c);
    assert_eq!(verdict(s[0]).0, Some("no-answer"));
    says(s[0], "no answer came");
}

#[test]
fn synthetic_hostile_heartbeat_numbers_do_not_overflow() {
    // An open packet announcing the largest pingInterval and pingTimeout,
    // a ping, a Close: the arithmetic saturates instead of overflowing.
    let conv = vec![
        (true, support::eio_ws_request(4, None)),
        (false, support::upgrade_response(support::WS_KEY, &[])),
        (
            false,
            support::stext(&support::eio_open(4, "abc", u64::MAX, u64::MAX)),
        ),
        (false, support::stext("2")),
        (true, support::ctext("3")),
        (false, support::sframe(8, &support::close_body(1000, b""))),
    ];
    let c = support::run_conv(&conv);
    let s = summaries(&c);
    assert_eq!(
        verdict(s[0]),
        (Some("websocket-only"), "server", "websocket-close")
    );
}
