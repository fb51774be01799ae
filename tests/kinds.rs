//! The kind/field registry (`src/kinds.rs`) cannot rot: every (kind, field,
//! value type) emitted on every real capture, and on SYNTHETIC conversations
//! reaching the kinds the captures lack, must be registered. (Every synthetic
//! trace of `tests/findings.rs`, one per finding rule, is checked the same
//! way by its `fires` / `quiet` helpers.)

mod support;
mod tools;

use std::collections::BTreeSet;

use dispel::analyze::{Collect, Options, run_file};
use dispel::kinds;
use support::*;

fn kinds_of(c: &Collect) -> BTreeSet<&'static str> {
    c.steps.iter().map(|s| s.kind).collect()
}

#[test]
fn every_real_capture_is_registered() {
    let mut seen = BTreeSet::new();
    for cap in tools::captures() {
        let mut c = Collect::default();
        run_file(&cap, &Options::default(), &mut c).unwrap();
        let missing = unregistered(&c);
        assert!(missing.is_empty(), "{}: {missing:#?}", cap.display());
        seen.extend(kinds_of(&c));
    }
    // The captures reach the common kinds (a sanity check on the walk).
    for k in [
        "tcp.syn",
        "http.request",
        "websocket.frame",
        "engineio.packet",
        "socketio.packet",
    ] {
        assert!(seen.contains(k), "no capture has {k}");
    }
}

#[test]
fn synthetic_conversations_are_registered() {
    // SYNTHETIC: built by tests/support, not recorded.
    let traces = vec![
        // Ping/pong, close with a reason, 16- and 64-bit lengths, bytes after Close.
        run_conv(&ws_conv(&[
            (true, cframe(0x9, b"hi")),
            (false, sframe(0xA, b"hi")),
            (true, cframe(0x2, &[7u8; 300])),
            (
                false,
                ws_frame_form(true, 0x1, None, b"long form", dispel::proto::ws::LengthForm::SixtyFour),
            ),
            (true, cframe(0x8, &close_body(1000, b"bye"))),
            (false, sframe(0x8, &close_body(1000, b"bye"))),
            (true, b"plain text after Close".to_vec()),
        ])),
        // An unfinished frame at the end of the capture.
        run_conv(&ws_conv(&[(true, cframe(0x1, b"hello")[..4].to_vec())])),
        // Bytes that are not a frame.
        run_conv(&ws_conv(&[(false, b"HTTP/1.1 200 OK\r\n\r\n".to_vec())])),
        // permessage-deflate with window bits and a subprotocol.
        run_conv(&ws_deflate_conv(&[(true, ws_frame(true, 4, 1, Some(WS_MASK), &deflate_message(b"hello")))])),
        run_conv(&{
            let mut v = ws_handshake(
                &[
                    "Sec-WebSocket-Protocol: chat",
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
                ],
                &[
                    "Sec-WebSocket-Protocol: chat",
                    "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
                ],
            );
            v.push((true, cframe(1, b"x")));
            v
        }),
        // Not HTTP at all.
        run_conv(&[(true, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_vec())]),
        // Engine.IO over polling, Socket.IO with a binary attachment and an ack.
        run_conv(&sio_ws(&[
            (true, ctext("451-[\"up\",{\"_placeholder\":true,\"num\":0}]")),
            (true, cframe(2, b"\x01\x02")),
            (true, ctext("421[\"ask\"]")),
            (false, stext("431[\"ok\"]")),
            (false, stext("2")),
            (true, ctext("3")),
            (true, ctext("4zzz")),
            // An attachment nothing announced.
            (true, cframe(2, b"\x03")),
        ])),
        run_conv(&[
            (true, eio_get(4, None)),
            (false, eio_ok(eio_open(4, "abc", 25000, 20000).as_bytes())),
            (true, eio_post(4, "abc", b"40\x1e9")),
            (false, eio_ok(b"ok")),
            (true, eio_get(3, Some("abc"))),
            (false, eio_ok(b"5:40xx")),
        ]),
        run_conv(&[
            (true, b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nReferer: y\r\n\r\n".to_vec()),
            (false, b"HTTP/1.1 302 Found\r\nLocation: /z\r\nSet-Cookie: a=2\r\nContent-Length: x\r\nContent-Encoding: gzip\r\n\r\n".to_vec()),
        ]),
    ];
    let mut seen = BTreeSet::new();
    for t in &traces {
        assert_registered(t);
        seen.extend(kinds_of(t));
    }
    for k in [
        "websocket.after-close",
        "websocket.incomplete",
        "websocket.desync",
        "websocket.inflate",
        "http.error",
        "socketio.attachment",
    ] {
        assert!(
            seen.contains(k),
            "the synthetic set no longer reaches {k}: {seen:?}"
        );
    }
}

#[test]
fn a_field_missing_from_the_registry_is_caught() {
    // The check itself must be able to fail: a step with an unregistered
    // field and a mistyped one.
    let mut c = run_conv(&ws_conv(&[(true, cframe(1, b"x"))]));
    let s = c
        .steps
        .iter_mut()
        .find(|s| s.kind == "websocket.frame")
        .unwrap();
    s.fields
        .push(dispel::step::Field::new("websocket.bogus", true));
    s.fields
        .push(dispel::step::Field::new("websocket.mask", "yes"));
    let missing = unregistered(&c);
    assert_eq!(
        missing,
        vec![
            "websocket.frame: field websocket.bogus is not registered".to_string(),
            "websocket.frame: field websocket.mask is registered as [Bool], emitted as str"
                .to_string(),
        ]
    );
    assert!(kinds::kind("websocket.frame").is_some());
}
