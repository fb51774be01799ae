//! Every finding rule fires through the whole pipeline, on SYNTHETIC
//! captures: for each rule id in `dispel::rules::ALL`, the smallest capture
//! that breaks the rule must produce the finding (on the step kind it
//! belongs to), and a corrected variant of the same capture must not.
//! `every_rule_has_a_test` keeps this file complete.
//!
//! Every capture here is fabricated by `tests/support` (etherparse packets in
//! a hand-written pcap); none is a recording.

mod support;

use std::time::Instant;

use dispel::analyze::{Collect, LayerLimits, Options, WsLimits};
use dispel::proto::ws::LengthForm;
use support::*;

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// Every (step kind, rule id) of the trace, for failure messages.
fn findings(t: &Collect) -> Vec<(&'static str, &'static str)> {
    t.steps
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| (s.kind, f.rule.id)))
        .collect()
}

/// The rule fired at least once, and on a step of `kind`.
fn fires(t: &Collect, rule: &str, kind: &str) {
    // Every synthetic trace here also proves the kind registry complete.
    assert_registered(t);
    assert!(
        count(t, rule) >= 1,
        "{rule} did not fire; findings: {:?}",
        findings(t)
    );
    let kinds = kinds_with(t, rule);
    assert!(
        kinds.contains(&kind),
        "{rule} fired on {kinds:?}, expected on {kind}"
    );
}

/// The rule did not fire (the control).
fn quiet(t: &Collect, rule: &str) {
    assert_registered(t);
    assert_eq!(
        count(t, rule),
        0,
        "{rule} fired on the correct variant: {}",
        messages(t, rule)
    );
}

/// The rule's messages mention `what`.
fn mentions(t: &Collect, rule: &str, what: &str) {
    let m = messages(t, rule);
    assert!(
        m.contains(what),
        "{rule}'s message does not mention {what:?}: {m}"
    );
}

fn opts_ws(ws: WsLimits) -> Options {
    Options {
        layers: LayerLimits {
            ws,
            ..LayerLimits::default()
        },
        ..Options::default()
    }
}

// ---------------------------------------------------------------------------
// Capture container and TCP
// ---------------------------------------------------------------------------

const C0: u32 = 1_001;
const S0: u32 = 500_001;

/// A connection whose client sends `pieces` (stream offset, bytes) in the
/// order given, then FIN at offset `fin_at`; the server sends nothing.
fn client_pieces(pieces: &[(u32, &[u8])], fin_at: u32) -> Vec<Seg> {
    let mut v = vec![
        Seg::new(true, C0 - 1, 0, "S", b""),
        Seg::new(false, S0 - 1, C0, "SA", b""),
        Seg::new(true, C0, S0, "A", b""),
    ];
    for (off, data) in pieces {
        v.push(Seg::new(true, C0 + off, S0, "AP", data));
    }
    v.push(Seg::new(true, C0 + fin_at, S0, "AF", b""));
    v.push(Seg::new(false, S0, C0 + fin_at + 1, "AF", b""));
    v.push(Seg::new(true, C0 + fin_at + 1, S0 + 1, "A", b""));
    v
}

fn run_segs(segs: &[Seg]) -> Collect {
    analyse(pcap(1, &records_of(segs)))
}

fn run_segs_with(segs: &[Seg], opts: &Options) -> Collect {
    analyse_with(pcap(1, &records_of(segs)), opts)
}

/// Marks an Ethernet + IPv4 record as a first fragment (MF set) and fixes
/// the header checksum.
fn make_fragment(record: &mut [u8]) {
    let ip = &mut record[14..];
    ip[6] |= 0x20;
    ip[10] = 0;
    ip[11] = 0;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let mut sum: u32 = 0;
    for w in ip[..ihl].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn ip_fragment() {
    // "ip.fragment" is a capture-level notice, not a step finding: dispel
    // does not reassemble IP fragments, says so once, and the fragment's TCP
    // bytes become a gap.
    let segs = client_pieces(&[(0, b"\x00abc"), (4, b"defg"), (8, b"hijk")], 12);
    let mut records = records_of(&segs);
    make_fragment(&mut records[4]);
    let t = analyse(pcap(1, &records));
    assert_eq!(count(&t, "ip.fragment"), 0, "a notice, never a finding");
    let notices = &t.report.as_ref().unwrap().notices;
    assert!(
        notices
            .iter()
            .any(|n| n.message.contains("1 IP fragments") && n.message.contains("packet 5")),
        "{notices:?}"
    );
    let gaps = steps_of(&t, "tcp.gap");
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        gaps[0].field("dispel.gap.len").unwrap().value,
        dispel::step::Value::UInt(4)
    );
    // Control: the same packet unfragmented.
    let t = run_segs(&segs);
    assert!(t.report.as_ref().unwrap().notices.is_empty());
    quiet(&t, "tcp.gap");
}

#[test]
fn tcp_role_guessed() {
    let segs = client_pieces(&[(0, b"\x00abc")], 4);
    let t = run_segs(&segs[3..]);
    fires(&t, "tcp.role-guessed", "tcp.segment");
    assert!(t.connections[0].role_guessed);
    mentions(&t, "tcp.role-guessed", "10.9.8.7:8080");
    quiet(&run_segs(&segs), "tcp.role-guessed");
}

#[test]
fn tcp_retransmission() {
    let t = run_segs(&client_pieces(&[(0, b"\x00abc"), (0, b"\x00abc")], 4));
    fires(&t, "tcp.retransmission", "tcp.segment");
    let seg = steps_of(&t, "tcp.segment")[0];
    assert_eq!(
        seg.field("tcp.analysis.retransmission").unwrap().value,
        dispel::step::Value::Bool(true)
    );
    quiet(
        &run_segs(&client_pieces(&[(0, b"\x00abc")], 4)),
        "tcp.retransmission",
    );
}

#[test]
fn tcp_out_of_order() {
    let t = run_segs(&client_pieces(&[(4, b"defg"), (0, b"\x00abc")], 8));
    fires(&t, "tcp.out-of-order", "tcp.segment");
    let [c2s, _] = streams(&t, 0);
    assert_eq!(c2s, b"\x00abcdefg");
    quiet(
        &run_segs(&client_pieces(&[(0, b"\x00abc"), (4, b"defg")], 8)),
        "tcp.out-of-order",
    );
}

#[test]
fn tcp_overlap_conflict() {
    // Bytes 4..8 arrive first as "defg", then a segment covering 0..8 says
    // "DEFG" for them.
    let t = run_segs(&client_pieces(&[(4, b"defg"), (0, b"\x00abcDEFG")], 8));
    fires(&t, "tcp.overlap-conflict", "tcp.segment");
    mentions(&t, "tcp.overlap-conflict", "relative sequence 5–8");
    // Control: the covering segment repeats the same bytes.
    quiet(
        &run_segs(&client_pieces(&[(4, b"defg"), (0, b"\x00abcdefg")], 8)),
        "tcp.overlap-conflict",
    );
}

#[test]
fn tcp_gap() {
    let t = run_segs(&client_pieces(&[(0, b"\x00abc"), (8, b"ijkl")], 12));
    fires(&t, "tcp.gap", "tcp.gap");
    let [c2s, _] = streams(&t, 0);
    assert_eq!(c2s, b"\x00abc????ijkl");
    quiet(
        &run_segs(&client_pieces(
            &[(0, b"\x00abc"), (4, b"efgh"), (8, b"ijkl")],
            12,
        )),
        "tcp.gap",
    );
}

#[test]
fn tcp_pending_cap() {
    // The default cap (4 MiB, 4096 segments) is a dispel limit; a tiny
    // configured one shows the rule.
    let segs = client_pieces(&[(0, b"\x00a"), (4, b"x"), (6, b"y"), (8, b"z")], 9);
    let opts = Options {
        tcp: dispel::tcp::Limits {
            max_pending_bytes: 1 << 20,
            max_pending_segments: 2,
            ..dispel::tcp::Limits::default()
        },
        ..Options::default()
    };
    let t = run_segs_with(&segs, &opts);
    fires(&t, "tcp.pending-cap", "tcp.segment");
    mentions(&t, "tcp.pending-cap", "3 segments");
    assert!(count(&t, "tcp.gap") >= 1, "the given-up hole is a gap");
    // Control: the default limits hold three segments easily.
    quiet(&run_segs(&segs), "tcp.pending-cap");
}

#[test]
fn tcp_data_after_fin() {
    // FIN at offset 4, then four more bytes at offset 4.
    let mut segs = client_pieces(&[(0, b"\x00abc")], 4);
    let late = Seg::new(true, C0 + 4, S0, "AP", b"late");
    segs.insert(5, late);
    let t = run_segs(&segs);
    fires(&t, "tcp.data-after-fin", "tcp.segment");
    mentions(&t, "tcp.data-after-fin", "4 bytes");
    quiet(
        &run_segs(&client_pieces(&[(0, b"\x00abc"), (4, b"late")], 8)),
        "tcp.data-after-fin",
    );
}

#[test]
fn tcp_unexpected_syn() {
    // After the client's first bytes, a SYN+ACK from the client with another
    // ISN (a mangled flags byte does this): it must not restart the stream.
    let mut segs = client_pieces(&[(0, b"\x00abc"), (4, b"defg")], 8);
    segs.insert(4, Seg::new(true, 999_999, S0, "SA", b"zz"));
    let t = run_segs(&segs);
    fires(&t, "tcp.unexpected-syn", "tcp.segment");
    mentions(&t, "tcp.unexpected-syn", "999999");
    assert_eq!(streams(&t, 0)[0], b"\x00abcdefg");
    quiet(
        &run_segs(&client_pieces(&[(0, b"\x00abc"), (4, b"defg")], 8)),
        "tcp.unexpected-syn",
    );
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn http(req: &[u8], resp: &[u8]) -> Collect {
    run_conv(&[(true, req.to_vec()), (false, resp.to_vec())])
}

#[test]
fn http_malformed() {
    let t = http(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"");
    fires(&t, "http.malformed", "http.error");
    let t = http(b"GET / HTTP/1.1\r\nGood: header\r\n\r\n", b"");
    quiet(&t, "http.malformed");
    assert_eq!(steps_of(&t, "http.request").len(), 1);

    // A chunked body with a bad chunk size: the message is kept, flagged.
    let t = http(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    fires(&t, "http.malformed", "http.response");
    quiet(
        &http(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        "http.malformed",
    );
}

#[test]
fn http_head_too_large() {
    // A 10 MB header line that never ends, at the default 64 KiB cap: it is
    // reported as soon as the cap is reached (from the first packets), not
    // after the whole 10 MB has been buffered.
    const SEG: usize = 60_000;
    let mut bytes = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    bytes.resize(10 * 1024 * 1024, b'a');
    let exchange: Exchange = bytes.chunks(SEG).map(|c| (true, c.to_vec())).collect();
    let packets = exchange.len() as u64;
    let t = run_conv(&exchange);
    assert_eq!(count(&t, "http.head-too-large"), 1);
    fires(&t, "http.head-too-large", "http.error");
    let err = steps_of(&t, "http.error")[0];
    // SYN, SYN-ACK, ACK are packets 1–3; 64 KiB is reached in the second
    // data packet (5). Reporting later would mean buffering more.
    let last = *err.frames.iter().max().unwrap();
    assert!(last <= 5, "reported at packet {last} of {}", packets + 3);
    assert!(err.buffers[0].data.len() <= 256, "only a sample is kept");
    mentions(&t, "http.head-too-large", "65536");
    // Control: a normal head on the same connection shape.
    quiet(
        &run_conv(&[(true, b"GET / HTTP/1.1\r\nX-Big: aaaa\r\n\r\n".to_vec())]),
        "http.head-too-large",
    );
}

/// A request head of exactly `len` bytes.
fn head_of_len(len: usize) -> Vec<u8> {
    let start = b"GET / HTTP/1.1\r\nX-Pad: ";
    let end = b"\r\n\r\n";
    let mut v = start.to_vec();
    v.resize(len - end.len(), b'p');
    v.extend_from_slice(end);
    assert_eq!(v.len(), len);
    v
}

#[test]
fn http_head_too_large_just_over_a_configured_limit() {
    let mut opts = Options::default();
    opts.layers.http.max_head_bytes = 1024;
    let t = run_conv_with(&[(true, head_of_len(1025))], &opts);
    fires(&t, "http.head-too-large", "http.error");
    mentions(&t, "http.head-too-large", "1024");
    // Control: a head of exactly the limit is accepted.
    let t = run_conv_with(&[(true, head_of_len(1024))], &opts);
    quiet(&t, "http.head-too-large");
    assert_eq!(steps_of(&t, "http.request").len(), 1);
}

#[test]
fn http_body_too_large() {
    use std::io::Write;
    let mut opts = Options::default();
    opts.layers.http.max_decoded_body = 1000;
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    // A body longer than the cap.
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1500\r\n\r\n".to_vec();
    resp.extend(std::iter::repeat_n(b'x', 1500));
    let t = run_conv_with(&[(true, req.clone()), (false, resp)], &opts);
    fires(&t, "http.body-too-large", "http.response");
    quiet(&t, "http.head-too-large");
    // A small gzip body that inflates past the cap.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&[b'z'; 5000]).unwrap();
    let gz = e.finish().unwrap();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    resp.extend_from_slice(&gz);
    let t = run_conv_with(&[(true, req.clone()), (false, resp)], &opts);
    fires(&t, "http.body-too-large", "http.response");
    mentions(&t, "http.body-too-large", "inflates");
    // Control: within the cap.
    let t = run_conv_with(
        &[
            (true, req),
            (
                false,
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            ),
        ],
        &opts,
    );
    quiet(&t, "http.body-too-large");
}

#[test]
fn http_length_and_chunked() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let t = http(
        req,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    fires(&t, "http.length-and-chunked", "http.response");
    let t = http(
        req,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    quiet(&t, "http.length-and-chunked");
}

#[test]
fn http_body_decode() {
    use std::io::Write;
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let gz = |body: &[u8]| {
        let mut v = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        v.extend_from_slice(body);
        v
    };
    let t = http(req, &gz(b"this is not gzip"));
    fires(&t, "http.body-decode", "http.response");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"hello, gzip").unwrap();
    let t = http(req, &gz(&e.finish().unwrap()));
    quiet(&t, "http.body-decode");
    let resp = steps_of(&t, "http.response")[0];
    let body = resp.field("http.file_data").unwrap();
    assert_eq!(
        resp.span_bytes(body.span.as_ref().unwrap()).unwrap(),
        b"hello, gzip"
    );
}

// ---------------------------------------------------------------------------
// The opening handshake
// ---------------------------------------------------------------------------

fn lines_to_head(lines: &[String]) -> Vec<u8> {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n\r\n");
    s.into_bytes()
}

fn good_request() -> Vec<String> {
    [
        "GET /chat HTTP/1.1",
        "Host: example.test",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    .map(String::from)
    .to_vec()
}

fn good_response() -> Vec<String> {
    [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    ]
    .map(String::from)
    .to_vec()
}

/// A handshake with the request's and response's lines edited.
fn handshake(edit_req: impl Fn(&mut Vec<String>), edit_resp: impl Fn(&mut Vec<String>)) -> Collect {
    let mut req = good_request();
    edit_req(&mut req);
    let mut resp = good_response();
    edit_resp(&mut resp);
    run_conv(&[
        (true, lines_to_head(&req)),
        (false, lines_to_head(&resp)),
        (false, stext("hi")),
    ])
}

/// Request-side rule: fires on the request when `edit` is applied, and the
/// untouched handshake is clean.
fn request_rule(rule: &str, edit: impl Fn(&mut Vec<String>)) -> Collect {
    let t = handshake(edit, |_| {});
    fires(&t, rule, "http.request");
    quiet(&handshake(|_| {}, |_| {}), rule);
    t
}

fn response_rule(rule: &str, edit: impl Fn(&mut Vec<String>)) -> Collect {
    let t = handshake(|_| {}, edit);
    fires(&t, rule, "http.response");
    quiet(&handshake(|_| {}, |_| {}), rule);
    t
}

#[test]
fn the_reference_handshake_is_clean() {
    let t = handshake(|_| {}, |_| {});
    assert_eq!(findings(&t), Vec::<(&str, &str)>::new());
    let hs = steps_of(&t, "websocket.handshake")[0];
    assert_eq!(
        hs.field("websocket.handshake.result").unwrap().value,
        dispel::step::Value::Str("upgraded".into())
    );
    assert_eq!(steps_of(&t, "websocket.frame").len(), 1);
}

#[test]
fn handshake_method() {
    let t = request_rule("handshake.method", |r| r[0] = "POST /chat HTTP/1.1".into());
    mentions(&t, "handshake.method", "POST");
}

#[test]
fn handshake_http_version() {
    let t = request_rule("handshake.http-version", |r| {
        r[0] = "GET /chat HTTP/1.0".into()
    });
    mentions(&t, "handshake.http-version", "HTTP/1.0");
}

#[test]
fn handshake_host_missing() {
    request_rule("handshake.host-missing", |r| {
        r.remove(1);
    });
}

#[test]
fn handshake_upgrade_header() {
    let t = request_rule("handshake.upgrade-header", |r| r[2] = "Upgrade: h2c".into());
    mentions(&t, "handshake.upgrade-header", "h2c");
}

#[test]
fn handshake_connection_header() {
    let t = request_rule("handshake.connection-header", |r| {
        r[3] = "Connection: keep-alive".into()
    });
    mentions(&t, "handshake.connection-header", "keep-alive");
    // A list that includes the token is fine.
    quiet(
        &handshake(|r| r[3] = "Connection: keep-alive, Upgrade".into(), |_| {}),
        "handshake.connection-header",
    );
}

#[test]
fn handshake_key_invalid() {
    let t = request_rule("handshake.key-invalid", |r| {
        r[4] = "Sec-WebSocket-Key: c2hvcnQ=".into()
    });
    mentions(&t, "handshake.key-invalid", "c2hvcnQ=");
    mentions(&t, "handshake.key-invalid", "5 bytes");
}

#[test]
fn handshake_version() {
    let t = request_rule("handshake.version", |r| {
        r[5] = "Sec-WebSocket-Version: 8".into()
    });
    mentions(&t, "handshake.version", "\"8\"");
}

#[test]
fn handshake_status() {
    // The server accepts (it sends Sec-WebSocket-Accept) but with 200, not
    // 101: a student's server getting the status line wrong.
    let t = response_rule("handshake.status", |r| r[0] = "HTTP/1.1 200 OK".into());
    mentions(&t, "handshake.status", "200");
}

#[test]
fn handshake_response_upgrade() {
    let t = response_rule("handshake.response-upgrade", |r| {
        r.remove(1);
    });
    mentions(&t, "handshake.response-upgrade", "missing");
}

#[test]
fn handshake_response_connection() {
    let t = response_rule("handshake.response-connection", |r| {
        r[2] = "Connection: close".into()
    });
    mentions(&t, "handshake.response-connection", "close");
}

#[test]
fn handshake_accept_missing() {
    let t = response_rule("handshake.accept-missing", |r| {
        r.remove(3);
    });
    let accept = steps_of(&t, "websocket.accept")[0];
    assert_eq!(
        accept.field("websocket.accept.valid").unwrap().value,
        dispel::step::Value::Bool(false)
    );
}

#[test]
fn handshake_accept_mismatch() {
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let t = response_rule("handshake.accept-mismatch", |r| {
        r[3] = format!("Sec-WebSocket-Accept: {wrong}")
    });
    mentions(&t, "handshake.accept-mismatch", wrong);
    mentions(
        &t,
        "handshake.accept-mismatch",
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    );
}

#[test]
fn handshake_extension_not_offered() {
    let t = response_rule("handshake.extension-not-offered", |r| {
        r.push("Sec-WebSocket-Extensions: permessage-deflate".into())
    });
    mentions(&t, "handshake.extension-not-offered", "permessage-deflate");
    // Control: the client offered it.
    quiet(
        &handshake(
            |r| r.push("Sec-WebSocket-Extensions: permessage-deflate".into()),
            |r| r.push("Sec-WebSocket-Extensions: permessage-deflate".into()),
        ),
        "handshake.extension-not-offered",
    );
}

#[test]
fn handshake_extension_invalid() {
    // The server answers with a window size outside 8..=15.
    let t = handshake(
        |r| r.push("Sec-WebSocket-Extensions: permessage-deflate".into()),
        |r| {
            r.push("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=20".into())
        },
    );
    fires(&t, "handshake.extension-invalid", "http.response");
    quiet(&t, "handshake.extension-not-offered");
    // The client's offer is malformed.
    let t = request_rule("handshake.extension-invalid", |r| {
        r.push("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=3".into())
    });
    quiet(&t, "handshake.extension-not-offered");
}

#[test]
fn handshake_subprotocol_not_offered() {
    let t = response_rule("handshake.subprotocol-not-offered", |r| {
        r.push("Sec-WebSocket-Protocol: chat".into())
    });
    mentions(&t, "handshake.subprotocol-not-offered", "chat");
    quiet(
        &handshake(
            |r| r.push("Sec-WebSocket-Protocol: superchat, chat".into()),
            |r| r.push("Sec-WebSocket-Protocol: chat".into()),
        ),
        "handshake.subprotocol-not-offered",
    );
}

#[test]
fn handshake_failed() {
    let t = handshake(
        |_| {},
        |r| *r = vec!["HTTP/1.1 403 Forbidden".into(), "Content-Length: 0".into()],
    );
    fires(&t, "handshake.failed", "websocket.handshake");
    mentions(&t, "handshake.failed", "403");
    // A refusal is allowed (RFC 6455 §4.2.2): no MUST rule fires.
    quiet(&t, "handshake.status");
    // Refused: the connection stays HTTP, so no frames are decoded.
    assert!(steps_of(&t, "websocket.frame").is_empty());
    quiet(&handshake(|_| {}, |_| {}), "handshake.failed");
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

/// A frame rule: `bad` segments after a clean handshake fire it on
/// `kind`; `good` segments do not.
fn frame_rule(
    rule: &str,
    kind: &str,
    bad: &[(bool, Vec<u8>)],
    good: &[(bool, Vec<u8>)],
) -> Collect {
    let t = run_conv(&ws_conv(bad));
    fires(&t, rule, kind);
    let g = run_conv(&ws_conv(good));
    quiet(&g, rule);
    assert!(
        !steps_of(&g, "websocket.frame").is_empty(),
        "the control decodes frames"
    );
    t
}

#[test]
fn frame_client_unmasked() {
    let t = frame_rule(
        "frame.client-unmasked",
        "websocket.frame",
        &[(true, ws_frame(true, 0, 1, None, b"hi"))],
        &[(true, ctext("hi"))],
    );
    quiet(&t, "frame.desync");
}

#[test]
fn frame_server_masked() {
    let t = frame_rule(
        "frame.server-masked",
        "websocket.frame",
        &[(false, ws_frame(true, 0, 1, Some(WS_MASK), b"hi"))],
        &[(false, stext("hi"))],
    );
    // The masked payload is still unmasked for the reader.
    let m = steps_of(&t, "websocket.message")[0];
    assert_eq!(
        m.field("websocket.message.text").unwrap().value,
        dispel::step::Value::Str("hi".into())
    );
}

#[test]
fn frame_rsv_without_extension() {
    let t = frame_rule(
        "frame.rsv-without-extension",
        "websocket.frame",
        &[(false, ws_frame(true, 0b010, 1, None, b"hi"))],
        &[(false, stext("hi"))],
    );
    mentions(&t, "frame.rsv-without-extension", "RSV2");
    // One violation is a bug, not a desynchronised stream.
    quiet(&t, "frame.desync");
    // RSV1 without permessage-deflate, too.
    let t = run_conv(&ws_conv(&[(false, ws_frame(true, 0b100, 1, None, b"hi"))]));
    fires(&t, "frame.rsv-without-extension", "websocket.frame");
    // With permessage-deflate, RSV1 on a control frame is still wrong.
    let t = run_conv(&ws_deflate_conv(&[(
        false,
        ws_frame(true, 0b100, 9, None, b"p"),
    )]));
    fires(&t, "frame.rsv-without-extension", "websocket.frame");
}

#[test]
fn frame_reserved_opcode() {
    let t = frame_rule(
        "frame.reserved-opcode",
        "websocket.frame",
        &[(false, sframe(0x3, b"hi"))],
        &[(false, sframe(0x2, b"hi"))],
    );
    mentions(&t, "frame.reserved-opcode", "0x3");
    let t = run_conv(&ws_conv(&[(false, sframe(0xB, b""))]));
    fires(&t, "frame.reserved-opcode", "websocket.frame");
    mentions(&t, "frame.reserved-opcode", "0xB");
}

#[test]
fn frame_control_too_long() {
    let t = frame_rule(
        "frame.control-too-long",
        "websocket.frame",
        &[(false, sframe(0x9, &[b'p'; 126]))],
        &[(false, sframe(0x9, &[b'p'; 125]))],
    );
    mentions(&t, "frame.control-too-long", "126");
}

#[test]
fn frame_control_fragmented() {
    frame_rule(
        "frame.control-fragmented",
        "websocket.frame",
        &[(false, ws_frame(false, 0, 0x9, None, b"p"))],
        &[(false, ws_frame(true, 0, 0x9, None, b"p"))],
    );
}

#[test]
fn frame_continuation_without_start() {
    frame_rule(
        "frame.continuation-without-start",
        "websocket.frame",
        &[(false, sframe(0x0, b"tail"))],
        &[
            (false, ws_frame(false, 0, 0x1, None, b"head ")),
            (false, sframe(0x0, b"tail")),
        ],
    );
}

#[test]
fn frame_data_during_fragmented_message() {
    let t = frame_rule(
        "frame.data-during-fragmented-message",
        "websocket.frame",
        &[
            (false, ws_frame(false, 0, 0x1, None, b"head ")),
            (false, stext("another")),
        ],
        &[
            (false, ws_frame(false, 0, 0x1, None, b"head ")),
            // A control frame may come between fragments (§5.4).
            (false, sframe(0x9, b"")),
            (false, sframe(0x0, b"tail")),
        ],
    );
    // The abandoned message is still shown.
    assert!(
        steps_of(&t, "websocket.message")
            .iter()
            .any(|s| s.summary.contains("abandoned"))
    );
}

#[test]
fn frame_length_not_minimal() {
    let t = frame_rule(
        "frame.length-not-minimal",
        "websocket.frame",
        &[(
            false,
            ws_frame_form(true, 1, None, b"hi", LengthForm::Sixteen),
        )],
        &[(
            false,
            ws_frame_form(true, 1, None, b"hi", LengthForm::Seven),
        )],
    );
    mentions(&t, "frame.length-not-minimal", "16-bit");
    let t = run_conv(&ws_conv(&[(
        false,
        ws_frame_form(true, 2, None, &[7u8; 200], LengthForm::SixtyFour),
    )]));
    fires(&t, "frame.length-not-minimal", "websocket.frame");
}

#[test]
fn frame_length_msb_set() {
    // A 64-bit length with its top bit set: 0x8000_0000_0000_0002.
    let mut bad = vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 2];
    bad.extend_from_slice(b"hi");
    let t = run_conv(&ws_conv(&[(false, bad)]));
    assert!(
        count(&t, "frame.length-msb-set") >= 1,
        "findings: {:?}",
        findings(&t)
    );
    // Control: the same frame with the top bit clear (only non-minimal).
    let mut good = vec![0x82, 127, 0, 0, 0, 0, 0, 0, 0, 2];
    good.extend_from_slice(b"hi");
    quiet(
        &run_conv(&ws_conv(&[(false, good)])),
        "frame.length-msb-set",
    );
}

#[test]
fn frame_text_invalid_utf8() {
    let e = "é".as_bytes();
    frame_rule(
        "frame.text-invalid-utf8",
        "websocket.frame",
        &[(false, sframe(0x1, &[b'h', 0xff, 0xfe]))],
        // A character split across fragments is valid once reassembled.
        &[
            (false, ws_frame(false, 0, 0x1, None, &e[..1])),
            (false, sframe(0x0, &e[1..])),
        ],
    );
}

#[test]
fn frame_close_payload_length() {
    frame_rule(
        "frame.close-payload-length",
        "websocket.frame",
        &[(false, sframe(0x8, &[0x03]))],
        &[(false, sframe(0x8, &close_body(1000, b"")))],
    );
    quiet(
        &run_conv(&ws_conv(&[(false, sframe(0x8, b""))])),
        "frame.close-payload-length",
    );
}

#[test]
fn frame_close_code_invalid() {
    let t = frame_rule(
        "frame.close-code-invalid",
        "websocket.frame",
        &[(false, sframe(0x8, &close_body(1005, b"")))],
        &[(false, sframe(0x8, &close_body(1000, b"")))],
    );
    mentions(&t, "frame.close-code-invalid", "1005");
    let t = run_conv(&ws_conv(&[(true, cframe(0x8, &close_body(999, b"")))]));
    fires(&t, "frame.close-code-invalid", "websocket.frame");
    mentions(&t, "frame.close-code-invalid", "999");
    quiet(
        &run_conv(&ws_conv(&[(true, cframe(0x8, &close_body(4000, b"")))])),
        "frame.close-code-invalid",
    );
}

/// SYNTHETIC: codes 4000–4999 are private use and 3000–3999 registered
/// (RFC 6455 §7.4.2), never "unassigned", in the frame's summary and field.
#[test]
fn close_codes_3000_to_4999_are_named_for_their_range() {
    for (code, name) in [
        (4000u16, "private use (4000–4999)"),
        (4999, "private use (4000–4999)"),
        (3001, "registered with IANA (3000–3999)"),
        (3000, "Unauthorized"),
    ] {
        let t = run_conv(&ws_conv(&[(true, cframe(0x8, &close_body(code, b"")))]));
        let close = steps_of(&t, "websocket.frame")
            .into_iter()
            .find(|s| s.field("websocket.payload.close.status_code").is_some())
            .unwrap();
        assert!(
            close.summary.contains(&format!("{code} {name}")),
            "{}",
            close.summary
        );
        assert!(!close.summary.contains("unassigned"));
        let f = close.field("websocket.payload.close.status_code").unwrap();
        assert_eq!(f.show.as_deref(), Some(name));
    }
}

#[test]
fn frame_close_reason_invalid_utf8() {
    frame_rule(
        "frame.close-reason-invalid-utf8",
        "websocket.frame",
        &[(false, sframe(0x8, &close_body(1000, &[b'b', 0xff])))],
        &[(false, sframe(0x8, &close_body(1000, "bye é".as_bytes())))],
    );
}

#[test]
fn frame_after_close() {
    let close = sframe(0x8, &close_body(1000, b""));
    // A real frame after Close.
    let t = frame_rule(
        "frame.after-close",
        "websocket.frame",
        &[(false, close.clone()), (false, stext("late"))],
        &[(false, stext("early")), (false, close.clone())],
    );
    mentions(&t, "frame.after-close", "Text");
    // Raw text after Close: not frames at all.
    let t = run_conv(&ws_conv(&[
        (false, close.clone()),
        (false, b"hello there, plain text".to_vec()),
    ]));
    fires(&t, "frame.after-close", "websocket.after-close");
    mentions(&t, "frame.after-close", "23 bytes");
    quiet(&t, "frame.desync");
}

#[test]
fn frame_desync() {
    // The server's header says 2 bytes but it writes 5: the next "header"
    // starts at "llo", which breaks several rules at once.
    let mut wrong = vec![0x81, 0x02];
    wrong.extend_from_slice(b"hello");
    let t = frame_rule(
        "frame.desync",
        "websocket.desync",
        &[(false, wrong), (false, stext("next"))],
        &[(false, stext("hello")), (false, stext("next"))],
    );
    assert_eq!(count(&t, "frame.desync"), 1, "said once");
    mentions(&t, "frame.desync", "reserved opcode 0xC");
    mentions(&t, "frame.desync", "RSV bits");
    // Decoding of the direction stops: "next" is not shown as a frame.
    assert_eq!(steps_of(&t, "websocket.frame").len(), 1);
    // 5 is not 2 plus a multiple of 128: no length arithmetic is claimed.
    assert!(!messages(&t, "frame.desync").contains(" mod "));
}

/// SYNTHETIC: a server that writes a 200-byte payload with its length in
/// the 7-bit field (200 & 0x7f = 72). The desync names the frame and the
/// arithmetic, which holds: 200 mod 128 = 72.
#[test]
fn frame_desync_names_a_length_written_in_7_bits() {
    for together in [false, true] {
        let mut wrong = vec![0x81, (200 & 0x7f) as u8];
        wrong.extend_from_slice(&[b'a'; 200]);
        let segs = if together {
            // The next frame in the same segment: found after 128 bytes.
            let mut w = wrong.clone();
            w.extend_from_slice(&stext("next"));
            vec![(false, w)]
        } else {
            vec![(false, wrong.clone()), (false, stext("next"))]
        };
        let t = run_conv(&ws_conv(&segs));
        fires(&t, "frame.desync", "websocket.desync");
        mentions(
            &t,
            "frame.desync",
            "declared 72 bytes; 200 followed — 200 mod 128 = 72: the length was written in 7 bits",
        );
        // Named by the packet that carried its header.
        mentions(&t, "frame.desync", "(its header in packet ");
    }
    // Not a multiple of 128 away from a good header: no claim.
    let mut wrong = vec![0x81, 72];
    wrong.extend_from_slice(&[b'a'; 150]);
    wrong.extend_from_slice(&stext("next"));
    let t = run_conv(&ws_conv(&[(false, wrong)]));
    fires(&t, "frame.desync", "websocket.desync");
    assert!(!messages(&t, "frame.desync").contains(" mod "));
}

#[test]
fn frame_desync_http_response_on_the_websocket() {
    let t = frame_rule(
        "frame.desync",
        "websocket.desync",
        &[
            (false, stext("hi")),
            (
                false,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ),
        ],
        &[(false, stext("hi"))],
    );
    mentions(&t, "frame.desync", "HTTP response");
    mentions(&t, "frame.desync", "HTTP/1.1 400 Bad Request");
}

#[test]
fn frame_too_large() {
    // The default caps are 16 MiB; small configured ones show the rule.
    let opts = opts_ws(WsLimits {
        max_frame: 64,
        ..WsLimits::default()
    });
    let t = run_conv_with(&ws_conv(&[(false, sframe(0x2, &[1u8; 100]))]), &opts);
    fires(&t, "frame.too-large", "websocket.frame");
    mentions(&t, "frame.too-large", "100");
    // Control: a frame within the cap.
    quiet(
        &run_conv_with(&ws_conv(&[(false, sframe(0x2, &[1u8; 64]))]), &opts),
        "frame.too-large",
    );
    // A message assembled past the message cap.
    let opts = opts_ws(WsLimits {
        max_message: 64,
        ..WsLimits::default()
    });
    let frags = [
        (false, ws_frame(false, 0, 0x2, None, &[1u8; 40])),
        (false, sframe(0x0, &[2u8; 40])),
    ];
    let t = run_conv_with(&ws_conv(&frags), &opts);
    fires(&t, "frame.too-large", "websocket.message");
    quiet(&run_conv(&ws_conv(&frags)), "frame.too-large");
}

// ---------------------------------------------------------------------------
// permessage-deflate
// ---------------------------------------------------------------------------

#[test]
fn deflate_rsv1_on_continuation() {
    let z = deflate_message(b"hello, compressed world");
    let (a, b) = z.split_at(z.len() / 2);
    let bad = [
        (false, ws_frame(false, 0b100, 0x1, None, a)),
        (false, ws_frame(true, 0b100, 0x0, None, b)),
    ];
    let t = run_conv(&ws_deflate_conv(&bad));
    fires(&t, "deflate.rsv1-on-continuation", "websocket.frame");
    let good = [
        (false, ws_frame(false, 0b100, 0x1, None, a)),
        (false, ws_frame(true, 0, 0x0, None, b)),
    ];
    let t = run_conv(&ws_deflate_conv(&good));
    quiet(&t, "deflate.rsv1-on-continuation");
    let inf = steps_of(&t, "websocket.inflate")[0];
    assert_eq!(
        inf.field("websocket.inflate.text").unwrap().value,
        dispel::step::Value::Str("hello, compressed world".into())
    );
}

#[test]
fn deflate_inflate_failed() {
    // 0xff: BFINAL = 1 with the reserved block type 11.
    let t = run_conv(&ws_deflate_conv(&[(
        false,
        ws_frame(true, 0b100, 0x1, None, &[0xff, 0xff, 0xff, 0xff]),
    )]));
    fires(&t, "deflate.inflate-failed", "websocket.inflate");
    let t = run_conv(&ws_deflate_conv(&[(
        true,
        ws_frame(true, 0b100, 0x1, Some(WS_MASK), &deflate_message(b"Hello")),
    )]));
    quiet(&t, "deflate.inflate-failed");
    assert_eq!(steps_of(&t, "websocket.inflate").len(), 1);
}

#[test]
fn deflate_too_large() {
    // A bomb: 10 MB of zeros compress to a few KiB. The default cap is 16
    // MiB; with a 64 KiB cap dispel stops inflating there.
    const CAP: usize = 64 * 1024;
    let bomb = deflate_message(&vec![0u8; 10 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let ex = ws_deflate_conv(&[(false, ws_frame(true, 0b100, 0x2, None, &bomb))]);
    let opts = opts_ws(WsLimits {
        max_inflate: CAP,
        ..WsLimits::default()
    });
    let started = Instant::now();
    let t = run_conv_with(&ex, &opts);
    let took = started.elapsed();
    fires(&t, "deflate.too-large", "websocket.inflate");
    mentions(&t, "deflate.too-large", "65536");
    let inf = steps_of(&t, "websocket.inflate")[0];
    assert_eq!(
        inf.field("websocket.inflate.length").unwrap().value,
        dispel::step::Value::UInt(CAP as u64)
    );
    assert!(took.as_secs() < 10, "took {took:?}");
    // Control: a cap above the message's size inflates it whole.
    let t = run_conv_with(
        &ex,
        &opts_ws(WsLimits {
            max_inflate: 11 * 1024 * 1024,
            ..WsLimits::default()
        }),
    );
    quiet(&t, "deflate.too-large");
    let inf = steps_of(&t, "websocket.inflate")[0];
    assert_eq!(
        inf.field("websocket.inflate.length").unwrap().value,
        dispel::step::Value::UInt(10 * 1024 * 1024)
    );
}

// ---------------------------------------------------------------------------
// Engine.IO
// ---------------------------------------------------------------------------

#[test]
fn the_reference_engineio_websocket_is_clean() {
    let t = run_conv(&sio_ws(&[
        (false, stext("2")),
        (true, ctext("3")),
        (true, ctext("421[\"q\"]")),
        (false, stext("431[\"a\"]")),
    ]));
    assert_eq!(findings(&t), Vec::<(&str, &str)>::new());
    assert_eq!(steps_of(&t, "engineio.packet").len(), 7);
    assert_eq!(steps_of(&t, "socketio.packet").len(), 4);
}

#[test]
fn engineio_unknown_type() {
    let t = run_conv(&eio_ws(4, &[(true, ctext("9x"))]));
    fires(&t, "engineio.unknown-type", "engineio.packet");
    quiet(
        &run_conv(&eio_ws(4, &[(true, ctext("6"))])),
        "engineio.unknown-type",
    );
    // In a polling payload, too.
    let t = run_conv(&[(true, eio_get(4, None)), (false, eio_ok(b"6\x1e7x"))]);
    fires(&t, "engineio.unknown-type", "engineio.packet");
}

#[test]
fn engineio_bad_open() {
    let conv = |open: &str| {
        vec![
            (true, eio_ws_request(4, None)),
            (false, upgrade_response(WS_KEY, &[])),
            (false, stext(open)),
        ]
    };
    let t = run_conv(&conv("0{\"upgrades\":[],\"pingInterval\":25000}"));
    fires(&t, "engineio.bad-open", "engineio.packet");
    mentions(&t, "engineio.bad-open", "sid");
    let t = run_conv(&conv("0not json"));
    fires(&t, "engineio.bad-open", "engineio.packet");
    let t = run_conv(&conv(&eio_open(4, "abc", 25_000, 20_000)));
    quiet(&t, "engineio.bad-open");
    assert_eq!(steps_of(&t, "engineio.packet")[0].session, Some(0));
}

#[test]
fn engineio_version_mismatch() {
    let refusal = http_response(
        400,
        "application/json",
        b"\"The client is using an unsupported version of the Socket.IO or Engine.IO protocols\"",
    );
    let t = run_conv(&[(true, eio_get(3, None)), (false, refusal.clone())]);
    fires(&t, "engineio.version-mismatch", "http.response");
    mentions(&t, "engineio.version-mismatch", "unsupported version");
    // Controls: a v4 client refused for another reason, and a v3 client
    // accepted.
    quiet(
        &run_conv(&[(true, eio_get(4, None)), (false, refusal)]),
        "engineio.version-mismatch",
    );
    let open = format!(
        "{}:{}",
        eio_open(3, "abc", 25_000, 5_000).len(),
        eio_open(3, "abc", 25_000, 5_000)
    );
    quiet(
        &run_conv(&[(true, eio_get(3, None)), (false, eio_ok(open.as_bytes()))]),
        "engineio.version-mismatch",
    );
}

#[test]
fn engineio_ping_direction() {
    // v4: the server pings; a client ping is wrong.
    let t = run_conv(&eio_ws(4, &[(true, ctext("2"))]));
    fires(&t, "engineio.ping-direction", "engineio.packet");
    mentions(&t, "engineio.ping-direction", "from the client");
    quiet(
        &run_conv(&eio_ws(4, &[(false, stext("2")), (true, ctext("3"))])),
        "engineio.ping-direction",
    );
    // v3: the client pings; a server ping is wrong.
    let t = run_conv(&eio_ws(3, &[(false, stext("2"))]));
    fires(&t, "engineio.ping-direction", "engineio.packet");
    quiet(
        &run_conv(&eio_ws(3, &[(true, ctext("2")), (false, stext("3"))])),
        "engineio.ping-direction",
    );
    // Probes are not heartbeats.
    quiet(
        &run_conv(&eio_ws(
            4,
            &[(true, ctext("2probe")), (false, stext("3probe"))],
        )),
        "engineio.ping-direction",
    );
}

/// An Engine.IO WebSocket (pingInterval 25 s, pingTimeout 20 s) whose
/// packets from index `late_from` on are stamped `delay_s` seconds later.
fn eio_timed(after: &[(bool, Vec<u8>)], late_from: usize, delay_s: u64) -> Collect {
    let records = records_of(&conv_segs(&eio_ws(4, after)));
    let times: Vec<u64> = (0..records.len())
        .map(|i| {
            let base = i as u64 * 1_000;
            if i >= late_from {
                base + delay_s * 1_000_000
            } else {
                base
            }
        })
        .collect();
    analyse(pcap_at(&records, &times))
}

#[test]
fn engineio_heartbeat_late() {
    // Packets: 0 SYN, 1 SYN-ACK, 2 ACK, 3 upgrade, 4 101, 5 open, 6 ping,
    // 7 pong. A ping 50 s after the open (> 25 s + 20 s) is late.
    let conv = [(false, stext("2")), (true, ctext("3"))];
    let t = eio_timed(&conv, 6, 50);
    fires(&t, "engineio.heartbeat-late", "engineio.packet");
    mentions(&t, "engineio.heartbeat-late", "pingInterval is 25000 ms");
    // A pong 30 s after its ping (> 20 s) is late.
    let t = eio_timed(&conv, 7, 30);
    fires(&t, "engineio.heartbeat-late", "engineio.packet");
    mentions(&t, "engineio.heartbeat-late", "pingTimeout (20000 ms)");
    // Control: a ping 20 s after the open, answered at once.
    quiet(&eio_timed(&conv, 6, 20), "engineio.heartbeat-late");
}

/// The summary step's value of a session field (the first session).
fn session_field(t: &Collect, name: &str) -> Option<String> {
    steps_of(t, "engineio.session")
        .first()
        .and_then(|s| s.field(name))
        .map(|f| match &f.value {
            dispel::step::Value::Str(v) => v.clone(),
            v => format!("{v:?}"),
        })
}

#[test]
fn engineio_ping_timeout() {
    // Packets: 0 SYN, 1 SYN-ACK, 2 ACK, 3 upgrade, 4 101, 5 open
    // (pingInterval 25 s, pingTimeout 20 s), 6 the server's ping, 7 the
    // server's Close. No pong: a Close 21 s after the ping is the server
    // giving up after pingTimeout.
    let conv = [
        (false, stext("2")),
        (false, sframe(8, &close_body(1000, b""))),
    ];
    let t = eio_timed(&conv, 7, 21);
    fires(&t, "engineio.ping-timeout", "engineio.session");
    mentions(
        &t,
        "engineio.ping-timeout",
        "the client stopped answering pings",
    );
    assert_eq!(
        session_field(&t, "engineio.session.end.cause").as_deref(),
        Some("ping-timeout")
    );
    assert_eq!(
        session_field(&t, "engineio.session.end.by").as_deref(),
        Some("server")
    );
    assert!(
        session_field(&t, "engineio.session.end.detail")
            .unwrap()
            .contains("pingTimeout is 20000 ms"),
    );
    // Control: the same Close 5 s after the ping is the server's own choice.
    let t = eio_timed(&conv, 7, 5);
    quiet(&t, "engineio.ping-timeout");
    assert_eq!(
        session_field(&t, "engineio.session.end.cause").as_deref(),
        Some("websocket-close")
    );
    // The other deadline: no ping for 46 s (> 25 s + 20 s), then the
    // client closes: the client gave up waiting for a ping.
    let conv = [(true, cframe(8, &close_body(1000, b"")))];
    let t = eio_timed(&conv, 6, 46);
    fires(&t, "engineio.ping-timeout", "engineio.session");
    mentions(&t, "engineio.ping-timeout", "the server sent no ping");
    assert_eq!(
        session_field(&t, "engineio.session.end.by").as_deref(),
        Some("client")
    );
    // Control: a client Close 10 s after the open is not a timeout.
    quiet(&eio_timed(&conv, 6, 10), "engineio.ping-timeout");
}

/// A polling session `abc` opened on one connection, then `then`.
fn polling_session(then: &[(bool, Vec<u8>)]) -> Collect {
    let mut conv = vec![
        (true, eio_get(4, None)),
        (false, eio_ok(eio_open(4, "abc", 25_000, 20_000).as_bytes())),
    ];
    conv.extend(then.iter().cloned());
    run_conv(&conv)
}

#[test]
fn engineio_session_unknown() {
    let t = polling_session(&[
        (true, eio_get(4, Some("abc"))),
        (
            false,
            http_response(
                400,
                "application/json",
                br#"{"code":1,"message":"Session ID unknown"}"#,
            ),
        ),
    ]);
    fires(&t, "engineio.session-unknown", "engineio.session");
    mentions(
        &t,
        "engineio.session-unknown",
        "no longer knows session abc",
    );
    assert_eq!(
        session_field(&t, "engineio.session.end.cause").as_deref(),
        Some("session-unknown")
    );
    // Control: the poll answered.
    let t = polling_session(&[(true, eio_get(4, Some("abc"))), (false, eio_ok(b"2"))]);
    quiet(&t, "engineio.session-unknown");
    assert_eq!(
        session_field(&t, "engineio.session.upgrade").as_deref(),
        Some("not-offered")
    );
}

#[test]
fn engineio_payload_too_large() {
    let t = run_conv(&eio_ws(4, &[(false, sframe(8, &close_body(1009, b"")))]));
    fires(&t, "engineio.payload-too-large", "engineio.session");
    assert_eq!(
        session_field(&t, "engineio.session.end.close_code").as_deref(),
        Some("UInt(1009)")
    );
    let t = run_conv(&eio_ws(4, &[(false, sframe(8, &close_body(1000, b"")))]));
    quiet(&t, "engineio.payload-too-large");
    assert_eq!(
        session_field(&t, "engineio.session.end.cause").as_deref(),
        Some("websocket-close")
    );
}

#[test]
fn engineio_origin_refused() {
    let t = run_conv(&[
        (true, eio_get(4, None)),
        (
            false,
            http_response(
                403,
                "application/json",
                br#"{"code":4,"message":"Forbidden"}"#,
            ),
        ),
    ]);
    fires(&t, "engineio.origin-refused", "engineio.session");
    // The summary of a handshake that opened no session: no sid.
    assert_eq!(session_field(&t, "engineio.session.sid"), None);
    assert_eq!(
        session_field(&t, "engineio.session.end.cause").as_deref(),
        Some("origin-refused")
    );
    // Control: another error is an HTTP error, not a refused origin.
    let t = run_conv(&[
        (true, eio_get(4, None)),
        (false, http_response(500, "text/plain", b"oops")),
    ]);
    quiet(&t, "engineio.origin-refused");
    assert_eq!(
        session_field(&t, "engineio.session.end.cause").as_deref(),
        Some("http-error")
    );
}

fn noops(n: usize) -> Vec<u8> {
    vec!["6"; n].join("\x1e").into_bytes()
}

#[test]
fn engineio_too_many_packets() {
    // python-engineio refuses more than 16 packets in a payload.
    let t = run_conv(&[(true, eio_get(4, None)), (false, eio_ok(&noops(17)))]);
    fires(&t, "engineio.too-many-packets", "engineio.packet");
    mentions(&t, "engineio.too-many-packets", "17 packets");
    quiet(
        &run_conv(&[(true, eio_get(4, None)), (false, eio_ok(&noops(16)))]),
        "engineio.too-many-packets",
    );
    // dispel's own cap (default 1000 packets), configured small.
    let mut opts = Options::default();
    opts.layers.engineio.max_packets = 4;
    let t = run_conv_with(
        &[(true, eio_get(4, None)), (false, eio_ok(&noops(5)))],
        &opts,
    );
    fires(&t, "engineio.too-many-packets", "engineio.error");
    assert_eq!(steps_of(&t, "engineio.packet").len(), 4);
    quiet(
        &run_conv_with(
            &[(true, eio_get(4, None)), (false, eio_ok(&noops(4)))],
            &opts,
        ),
        "engineio.too-many-packets",
    );
}

#[test]
fn engineio_v3_length_mismatch() {
    let t = run_conv(&[(true, eio_get(3, None)), (false, eio_ok(b"5:4hi"))]);
    fires(&t, "engineio.v3-length-mismatch", "engineio.error");
    let t = run_conv(&[(true, eio_get(3, None)), (false, eio_ok(b"3:4hi"))]);
    quiet(&t, "engineio.v3-length-mismatch");
    assert_eq!(steps_of(&t, "engineio.packet").len(), 1);
    // JavaScript counts UTF-16 units: "2:4€" is right.
    quiet(
        &run_conv(&[(true, eio_get(3, None)), (false, eio_ok("2:4€".as_bytes()))]),
        "engineio.v3-length-mismatch",
    );
}

/// A session opened by polling (connection 0), upgraded on a WebSocket
/// (connection 1, ending with the client's `5` when `upgrade`), then a
/// polling GET with the sid (connection 2).
fn upgrade_then_poll(upgrade: bool) -> Collect {
    let open = eio_open(4, "abc", 25_000, 20_000);
    let poll_open: Exchange = vec![(true, eio_get(4, None)), (false, eio_ok(open.as_bytes()))];
    let mut ws: Exchange = vec![
        (true, eio_ws_request(4, Some("abc"))),
        (false, upgrade_response(WS_KEY, &[])),
        (true, ctext("2probe")),
        (false, stext("3probe")),
    ];
    if upgrade {
        ws.push((true, ctext("5")));
    }
    let poll_again: Exchange = vec![(true, eio_get(4, Some("abc"))), (false, eio_ok(b"6"))];
    analyse(conns_pcap(&[poll_open, ws, poll_again]))
}

#[test]
fn engineio_after_upgrade() {
    let t = upgrade_then_poll(true);
    fires(&t, "engineio.after-upgrade", "http.request");
    mentions(&t, "engineio.after-upgrade", "abc");
    let req = kinds_with(&t, "engineio.after-upgrade");
    assert_eq!(req.len(), 1);
    // Control: the probe without the final `5`: still polling is fine.
    let t = upgrade_then_poll(false);
    quiet(&t, "engineio.after-upgrade");
    // The three connections are one session.
    assert!(
        t.steps
            .iter()
            .filter(|s| s.kind == "engineio.packet")
            .all(|s| s.session == Some(0))
    );
}

#[test]
fn engineio_bad_payload() {
    let t = run_conv(&[(true, eio_get(4, None)), (false, eio_ok(b"4a\x1e\x1e4b"))]);
    fires(&t, "engineio.bad-payload", "engineio.error");
    // Base64 a strict decoder refuses.
    let t = run_conv(&[(true, eio_get(4, None)), (false, eio_ok(b"b!!!!"))]);
    fires(&t, "engineio.bad-payload", "engineio.packet");
    let t = run_conv(&[
        (true, eio_get(4, None)),
        (false, eio_ok(b"4a\x1e4b\x1ebAQID")),
    ]);
    quiet(&t, "engineio.bad-payload");
    assert_eq!(steps_of(&t, "engineio.packet").len(), 3);
    // A client's POST body is read the same way.
    let post = |body: &[u8]| {
        run_conv(&[
            (true, eio_post(4, "abc", body)),
            (false, http_response(200, "text/html", b"ok")),
        ])
    };
    let t = post(b"4a\x1e\x1e4b");
    fires(&t, "engineio.bad-payload", "engineio.error");
    assert!(
        steps_of(&t, "engineio.error")
            .iter()
            .all(|s| s.dir == dispel::step::Dir::C2s)
    );
    let t = post(b"4a\x1e4b");
    quiet(&t, "engineio.bad-payload");
    assert_eq!(steps_of(&t, "engineio.packet").len(), 2);
}

// ---------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------

/// A Socket.IO rule: `bad` segments after `40` fire it on `kind`; `good`
/// ones do not.
fn sio_rule(rule: &str, kind: &str, bad: &[(bool, Vec<u8>)], good: &[(bool, Vec<u8>)]) -> Collect {
    let t = run_conv(&sio_ws(bad));
    fires(&t, rule, kind);
    let g = run_conv(&sio_ws(good));
    quiet(&g, rule);
    assert!(steps_of(&g, "socketio.packet").len() >= 2);
    t
}

const UPLOAD_0: &str = "451-[\"upload\",{\"_placeholder\":true,\"num\":0}]";

#[test]
fn socketio_unknown_type() {
    sio_rule(
        "socketio.unknown-type",
        "socketio.packet",
        &[(true, ctext("49[\"x\"]"))],
        &[(true, ctext("42[\"x\"]"))],
    );
}

#[test]
fn socketio_bad_payload() {
    let t = sio_rule(
        "socketio.bad-payload",
        "socketio.packet",
        &[(true, ctext("42{\"not\":\"an array\"}"))],
        &[(true, ctext("42[\"chat\",{\"an\":\"object\"}]"))],
    );
    mentions(&t, "socketio.bad-payload", "an object");
    // JSON that does not parse.
    let t = run_conv(&sio_ws(&[(true, ctext("42[\"chat\""))]));
    fires(&t, "socketio.bad-payload", "socketio.packet");
}

#[test]
fn socketio_reserved_event() {
    let t = sio_rule(
        "socketio.reserved-event",
        "socketio.packet",
        &[(true, ctext("42[\"disconnect\"]"))],
        &[(true, ctext("42[\"disconnected\"]"))],
    );
    mentions(&t, "socketio.reserved-event", "disconnect");
}

#[test]
fn socketio_missing_attachments() {
    let t = sio_rule(
        "socketio.missing-attachments",
        "socketio.packet",
        &[(true, ctext(UPLOAD_0)), (true, ctext("42[\"next\"]"))],
        &[
            (true, ctext(UPLOAD_0)),
            (true, cframe(0x2, &[1, 2, 3])),
            (true, ctext("42[\"next\"]")),
        ],
    );
    // The packet is still shown, and the one after it too.
    assert!(steps_of(&t, "socketio.packet").len() >= 3);
}

#[test]
fn socketio_missing_attachments_reported_once() {
    let t = run_conv(&sio_ws(&[
        (true, ctext(UPLOAD_0)),
        (true, ctext("42[\"next\"]")),
    ]));
    assert_eq!(
        count(&t, "socketio.missing-attachments"),
        1,
        "{}",
        messages(&t, "socketio.missing-attachments")
    );
    // The announcing packet is named by its step: the Engine.IO message
    // that carried the `451-` header.
    let m = messages(&t, "socketio.missing-attachments");
    let n: usize = m
        .split("The binary packet of step ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step named: {m}"));
    let header = &t.steps[n - 1];
    assert_eq!(header.kind, "engineio.packet", "{m}");
    assert!(header.summary.contains("upload"), "{}", header.summary);
    mentions(
        &t,
        "socketio.missing-attachments",
        "announced 1 attachment,",
    );
}

#[test]
fn socketio_missing_attachments_at_end_of_capture() {
    let t = run_conv(&sio_ws(&[(true, ctext(UPLOAD_0))]));
    fires(&t, "socketio.missing-attachments", "socketio.packet");
    quiet(
        &run_conv(&sio_ws(&[
            (true, ctext(UPLOAD_0)),
            (true, cframe(0x2, &[1])),
        ])),
        "socketio.missing-attachments",
    );
}

#[test]
fn socketio_orphan_attachment() {
    let t = sio_rule(
        "socketio.orphan-attachment",
        "socketio.attachment",
        &[(true, cframe(0x2, &[1, 2, 3]))],
        &[(true, ctext(UPLOAD_0)), (true, cframe(0x2, &[1, 2, 3]))],
    );
    // Plain words: the message names the step of the Engine.IO message
    // that carried the orphan (the last engineio.packet), not an index.
    let eio = t
        .steps
        .iter()
        .rposition(|s| s.kind == "engineio.packet")
        .unwrap()
        + 1;
    mentions(
        &t,
        "socketio.orphan-attachment",
        &format!("The binary message of step {eio} is not awaited"),
    );
    assert!(!messages(&t, "socketio.orphan-attachment").contains("input"));
}

/// A session whose first Socket.IO payload is a binary message that is no
/// socket.io-msgpack-parser map: a custom parser, said once (INFO); a
/// msgpack CONNECT first makes a msgpack session instead, which is quiet.
#[test]
fn socketio_unknown_encoding() {
    let t = run_conv(&eio_ws(
        4,
        &[
            (true, cframe(0x2, &[1, 2, 3])),
            (true, cframe(0x2, &[4, 5])),
        ],
    ));
    fires(&t, "socketio.unknown-encoding", "socketio.packet");
    assert_eq!(count(&t, "socketio.unknown-encoding"), 1);
    // {"type": 0, "nsp": "/"}
    let connect = [
        0x82, 0xa4, b't', b'y', b'p', b'e', 0x00, 0xa3, b'n', b's', b'p', 0xa1, b'/',
    ];
    let g = run_conv(&eio_ws(4, &[(true, cframe(0x2, &connect))]));
    quiet(&g, "socketio.unknown-encoding");
    assert_eq!(steps_of(&g, "socketio.packet").len(), 1);
}

const UPLOAD_1: &str = "451-[\"upload\",{\"_placeholder\":true,\"num\":1}]";

#[test]
fn socketio_placeholder_out_of_range() {
    let t = run_conv(&sio_ws(&[
        (true, ctext(UPLOAD_1)),
        (true, cframe(0x2, &[1, 2, 3])),
    ]));
    assert_eq!(count(&t, "socketio.placeholder-out-of-range"), 1);
    mentions(&t, "socketio.placeholder-out-of-range", "num");
    let g = run_conv(&sio_ws(&[
        (true, ctext(UPLOAD_0)),
        (true, cframe(0x2, &[1, 2, 3])),
    ]));
    quiet(&g, "socketio.placeholder-out-of-range");
    // The control joins the attachment to its packet.
    assert!(
        steps_of(&g, "socketio.packet")
            .iter()
            .any(|s| s.field("socketio.attachment").is_some())
    );
}

#[test]
fn socketio_placeholder_out_of_range_is_on_its_packet() {
    sio_rule(
        "socketio.placeholder-out-of-range",
        "socketio.packet",
        &[(true, ctext(UPLOAD_1)), (true, cframe(0x2, &[1, 2, 3]))],
        &[(true, ctext(UPLOAD_0)), (true, cframe(0x2, &[1, 2, 3]))],
    );
    let t = run_conv(&sio_ws(&[
        (true, ctext(UPLOAD_1)),
        (true, cframe(0x2, &[1, 2, 3])),
    ]));
    assert!(steps_of(&t, "socketio.attachment").is_empty());
}

#[test]
fn socketio_too_many_attachments() {
    let t = sio_rule(
        "socketio.too-many-attachments",
        "socketio.packet",
        &[(true, ctext("4511-[\"upload\"]"))],
        &[(true, ctext(UPLOAD_0)), (true, cframe(0x2, &[1]))],
    );
    mentions(&t, "socketio.too-many-attachments", "11");
}

#[test]
fn socketio_too_many_attachments_is_not_also_missing_attachments() {
    let t = run_conv(&sio_ws(&[(true, ctext("4511-[\"upload\"]"))]));
    assert_eq!(count(&t, "socketio.too-many-attachments"), 1);
    quiet(&t, "socketio.missing-attachments");
}

#[test]
fn socketio_ack_unmatched() {
    // An ack that answers nothing.
    let t = sio_rule(
        "socketio.ack-unmatched",
        "socketio.packet",
        &[(false, stext("431[\"ok\"]"))],
        &[(true, ctext("421[\"q\"]")), (false, stext("431[\"ok\"]"))],
    );
    mentions(&t, "socketio.ack-unmatched", "id 1");
    // An event whose ack never came: reported with the session at the end.
    let t = run_conv(&sio_ws(&[(true, ctext("427[\"q\"]"))]));
    fires(&t, "socketio.ack-unmatched", "engineio.session");
    mentions(&t, "socketio.ack-unmatched", "ack id 7");
    // Acks are per direction: a client ack does not answer a client event.
    let t = run_conv(&sio_ws(&[
        (true, ctext("421[\"q\"]")),
        (true, ctext("431[]")),
    ]));
    assert_eq!(count(&t, "socketio.ack-unmatched"), 2);
}

#[test]
fn socketio_connect_missing() {
    // Engine.IO 4 carries Socket.IO protocol 5: the client must CONNECT.
    let t = run_conv(&eio_ws(4, &[(true, ctext("42[\"chat\"]"))]));
    fires(&t, "socketio.connect-missing", "socketio.packet");
    mentions(&t, "socketio.connect-missing", "/");
    quiet(
        &run_conv(&sio_ws(&[(true, ctext("42[\"chat\"]"))])),
        "socketio.connect-missing",
    );
    // Per namespace.
    let t = run_conv(&sio_ws(&[(true, ctext("42/admin,[\"chat\"]"))]));
    fires(&t, "socketio.connect-missing", "socketio.packet");
    mentions(&t, "socketio.connect-missing", "/admin");
    // Protocol 4 (Engine.IO 3): the server connects `/` by itself.
    quiet(
        &run_conv(&eio_ws(3, &[(true, ctext("42[\"chat\"]"))])),
        "socketio.connect-missing",
    );
}

/// The run-wide budget for decoded content (`--limit decoded-total`): a
/// sink that keeps its steps (Collect, as the interactive timeline) holds
/// the inflated content of every message; past the budget a message's
/// content is its length and SHA-256, the first such step says why, and
/// decoding goes on (Engine.IO still reads each message). SYNTHETIC.
#[test]
fn limit_decoded_total() {
    let msg = |i: usize| {
        let mut text = format!("42[\"chat\",\"{i}\"]").into_bytes();
        text.resize(100_000, b' ');
        (
            true,
            ws_frame(true, 0b100, 0x1, Some(WS_MASK), &deflate_message(&text)),
        )
    };
    let deflate = ["Sec-WebSocket-Extensions: permessage-deflate"];
    let mut ex = vec![
        (
            true,
            upgrade_request("/socket.io/?EIO=4&transport=websocket", WS_KEY, &deflate),
        ),
        (false, upgrade_response(WS_KEY, &deflate)),
        (false, stext(&eio_open(4, "abc", 25_000, 20_000))),
    ];
    ex.extend((0..6).map(msg));
    let opts = Options {
        decoded_total: Some(1_000_000),
        ..Options::default()
    };
    let t = run_conv_with(&ex, &opts);
    // Each message is kept four times over (inflated, Engine.IO, Socket.IO
    // buffers and their texts): a Socket.IO packet crosses the budget first.
    fires(&t, "limit.decoded-total", "socketio.packet");
    mentions(&t, "limit.decoded-total", "1000000-byte budget");
    assert_eq!(count(&t, "limit.decoded-total"), 1, "said once per run");
    let inflated = steps_of(&t, "websocket.inflate");
    assert_eq!(inflated.len(), 6);
    let kept = |s: &dispel::step::Step| {
        s.buffers
            .iter()
            .any(|b| b.name == "inflated" && !b.data.is_empty())
    };
    assert!(kept(inflated[0]), "the first message fits");
    assert!(!kept(inflated[5]), "the last does not");
    let text = inflated[5].field("websocket.inflate.text").unwrap();
    assert!(
        matches!(&text.value, dispel::step::Value::Str(v) if v.starts_with("sha256:") && v.len() == 7 + 64),
        "{:?}",
        text.value
    );
    // What the steps hold stays within the budget.
    let held: usize = t
        .steps
        .iter()
        .flat_map(|s| &s.buffers)
        .filter(|b| b.origin == dispel::step::Origin::Derived)
        .map(|b| b.data.len())
        .sum();
    assert!(held <= 1_000_000, "{held} bytes held");
    // Decoding went on: every message reached Engine.IO and Socket.IO.
    let c2s = |kind: &str| {
        steps_of(&t, kind)
            .iter()
            .filter(|s| s.dir == dispel::step::Dir::C2s)
            .count()
    };
    assert_eq!(c2s("engineio.packet"), 6);
    assert_eq!(c2s("socketio.packet"), 6);
    // Accounted in trace order: the same trace on one thread.
    let one = run_conv_with(
        &ex,
        &Options {
            single_thread: true,
            ..opts.clone()
        },
    );
    assert!(one.steps == t.steps, "a run on one thread differs");
    // Control: the default budget keeps everything.
    let t = run_conv_with(&ex, &Options::default());
    quiet(&t, "limit.decoded-total");
    assert!(steps_of(&t, "websocket.inflate").iter().all(|s| kept(s)));
}

// ---------------------------------------------------------------------------
// Completeness
// ---------------------------------------------------------------------------

#[test]
fn every_rule_has_a_test() {
    let source = include_str!("findings.rs");
    let missing: Vec<&str> = dispel::rules::ALL
        .iter()
        .map(|r| r.id)
        .filter(|id| !source.contains(&format!("\"{id}\"")))
        .collect();
    assert!(missing.is_empty(), "rules with no test here: {missing:?}");
}

// ---------------------------------------------------------------------------
// TLS (SYNTHETIC records; the real TLS captures are tests/tls.rs)
// ---------------------------------------------------------------------------

fn tls_record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn tls_handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut m = vec![ty, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    tls_record(22, &m)
}

const TLS_CLIENT_RANDOM: [u8; 32] = [0x11; 32];

fn client_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&TLS_CLIENT_RANDOM);
    b.extend_from_slice(&[0, 0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0, 0, 0]);
    tls_handshake(1, &b)
}

fn server_hello(suite: u16, tls13: bool, alpn: Option<&str>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x22; 32]);
    b.push(0);
    b.extend_from_slice(&suite.to_be_bytes());
    b.push(0);
    let mut ext = Vec::new();
    if tls13 {
        ext.extend_from_slice(&[0, 0x2b, 0, 2, 3, 4]);
    }
    if let Some(p) = alpn {
        let n = p.len() as u16;
        ext.extend_from_slice(&[0, 0x10]);
        ext.extend_from_slice(&(n + 3).to_be_bytes());
        ext.extend_from_slice(&(n + 1).to_be_bytes());
        ext.push(n as u8);
        ext.extend_from_slice(p.as_bytes());
    }
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    tls_handshake(2, &b)
}

fn with_keylog(text: &str) -> Options {
    let mut log = dispel::proto::tls::keylog::KeyLog::default();
    log.add_text(text.as_bytes());
    let mut o = Options::default();
    o.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
    o
}

/// A TLS 1.3 handshake, then one encrypted record from the server.
fn tls13_encrypted() -> Vec<(bool, Vec<u8>)> {
    vec![
        (true, client_hello()),
        (false, server_hello(0x1301, true, None)),
        (false, tls_record(23, &[0x5a; 40])),
    ]
}

#[test]
fn tls_no_keys() {
    let t = run_conv(&tls13_encrypted());
    fires(&t, "tls.no-keys", "tls.record");
    assert_eq!(count(&t, "tls.no-keys"), 1);
    mentions(&t, "tls.no-keys", "1111111111111111");
    // No encrypted record yet: nothing to report.
    quiet(&run_conv(&tls13_encrypted()[..2]), "tls.no-keys");
}

#[test]
fn tls_bad_tag() {
    let log = format!(
        "SERVER_HANDSHAKE_TRAFFIC_SECRET {} {}\n",
        hex::encode(TLS_CLIENT_RANDOM),
        "42".repeat(32)
    );
    let t = run_conv_with(&tls13_encrypted(), &with_keylog(&log));
    fires(&t, "tls.bad-tag", "tls.record");
    quiet(&t, "tls.no-keys");
    quiet(&run_conv(&tls13_encrypted()), "tls.bad-tag");
}

#[test]
fn tls_unsupported() {
    let conv = |suite| {
        vec![
            (true, client_hello()),
            (false, server_hello(suite, false, None)),
        ]
    };
    let t = run_conv(&conv(0xc013));
    fires(&t, "tls.unsupported", "tls.server-hello");
    mentions(&t, "tls.unsupported", "CBC");
    quiet(&run_conv(&conv(0xc02f)), "tls.unsupported");
}

#[test]
fn tls_h2() {
    let conv = |alpn| {
        vec![
            (true, client_hello()),
            (false, server_hello(0xc02f, false, Some(alpn))),
        ]
    };
    fires(&run_conv(&conv("h2")), "tls.h2", "tls.server-hello");
    quiet(&run_conv(&conv("http/1.1")), "tls.h2");
}

#[test]
fn tls_malformed() {
    let mut bad = client_hello();
    bad.extend_from_slice(&[0x63, 3, 3, 0, 1, 0]);
    fires(&run_conv(&[(true, bad)]), "tls.malformed", "tls.record");
    quiet(&run_conv(&[(true, client_hello())]), "tls.malformed");
}

// ---------------------------------------------------------------------------
// The closing handshake and the deflate window, as the lessons state them
// ---------------------------------------------------------------------------

/// `websocket.close.role` of each Close frame, in order, as "dir role".
fn close_roles(t: &Collect) -> Vec<String> {
    steps_of(t, "websocket.frame")
        .into_iter()
        .filter_map(
            |s| match s.field("websocket.close.role").map(|f| &f.value) {
                Some(dispel::step::Value::Str(r)) => Some(format!("{} {r}", s.dir.as_str())),
                _ => None,
            },
        )
        .collect()
}

#[test]
fn close_roles_start_answer_and_repeat() {
    // SYNTHETIC: the client closes first and the server answers.
    let c = cframe(0x8, &close_body(1000, b""));
    let s = sframe(0x8, &close_body(1000, b""));
    let t = run_conv(&ws_conv(&[(true, c.clone()), (false, s.clone())]));
    assert_eq!(close_roles(&t), ["c2s starts", "s2c answers"]);
    quiet(&t, "frame.close-repeated");
    // SYNTHETIC: the server closes first; the client's Close is the answer,
    // not a start.
    let t = run_conv(&ws_conv(&[(false, s.clone()), (true, c.clone())]));
    assert_eq!(close_roles(&t), ["s2c starts", "c2s answers"]);
    quiet(&t, "frame.close-repeated");
    // SYNTHETIC: a second Close from the client repeats its first.
    let t = run_conv(&ws_conv(&[
        (true, c.clone()),
        (false, s.clone()),
        (true, c.clone()),
    ]));
    assert_eq!(
        close_roles(&t),
        ["c2s starts", "s2c answers", "c2s repeats"]
    );
    fires(&t, "frame.close-repeated", "websocket.frame");
    assert_eq!(count(&t, "frame.close-repeated"), 1);
    mentions(&t, "frame.close-repeated", "client already sent a Close");
}

/// (first, used_window) of each inflation of a direction, in order.
fn window_use(t: &Collect, dir: &str) -> Vec<(bool, Option<bool>)> {
    let flag = |s: &dispel::step::Step, name: &str| match s.field(name).map(|f| &f.value) {
        Some(dispel::step::Value::Bool(b)) => Some(*b),
        _ => None,
    };
    steps_of(t, "websocket.inflate")
        .into_iter()
        .filter(|s| s.dir.as_str() == dir)
        .map(|s| {
            (
                flag(s, "websocket.inflate.first").unwrap(),
                flag(s, "websocket.inflate.used_window"),
            )
        })
        .collect()
}

#[test]
fn inflate_used_window_on_synthetic_messages() {
    // SYNTHETIC, RFC 7692 §7.2.3.2: "Hello", then "Hello" again as a
    // back-reference into the first message's window.
    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let msg = |z: &[u8]| (false, ws_frame(true, 0b100, 0x1, None, z));
    let t = run_conv(&ws_deflate_conv(&[
        msg(&HELLO),
        msg(&HELLO_AGAIN),
        msg(&deflate_message(b"a message compressed on its own")),
    ]));
    assert_eq!(
        window_use(&t, "s2c"),
        [
            (true, Some(false)),
            (false, Some(true)),
            (false, Some(false))
        ]
    );
    // SYNTHETIC: without context takeover nothing is kept, so nothing is
    // used.
    let mut v = ws_handshake(
        &["Sec-WebSocket-Extensions: permessage-deflate"],
        &["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"],
    );
    v.extend([msg(&HELLO), msg(&HELLO)]);
    let t = run_conv(&v);
    assert_eq!(
        window_use(&t, "s2c"),
        [(true, Some(false)), (false, Some(false))]
    );
    assert_registered(&t);
}
