//! Properties of the whole pipeline, on SYNTHETIC captures (built by
//! `tests/support`) and on mutations of one real recording:
//!
//! (a) how a WebSocket conversation is cut into TCP segments does not change
//!     its steps;
//! (b) arbitrary bytes on an upgraded connection never panic, and every
//!     field's span points inside its step's buffers;
//! (c) arbitrary capture files, and single-byte mutations of a real capture,
//!     never panic, with every span valid.

mod support;

use dispel::analyze::Collect;
use dispel::step::{Step, Value};
use proptest::prelude::*;
use support::*;

// ---------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------

/// Every span of every field of every step resolves to bytes.
fn spans_valid(t: &Collect) -> Result<(), String> {
    for (i, s) in t.steps.iter().enumerate() {
        for f in &s.fields {
            if let Some(span) = &f.span
                && s.span_bytes(span).is_none()
            {
                return Err(format!(
                    "step {} ({}): field {} has span {:?} outside its buffers ({} buffers)",
                    i + 1,
                    s.kind,
                    f.name,
                    span,
                    s.buffers.len()
                ));
            }
        }
    }
    Ok(())
}

/// A step as the property compares it: kind, direction, every field's
/// name, value and the bytes under its span, and the finding rules. Packet
/// numbers and times are left out: they depend on the segmentation.
type Shape = (
    &'static str,
    &'static str,
    Vec<(String, Value, Option<Vec<u8>>)>,
    Vec<&'static str>,
);

fn shape(s: &Step) -> Shape {
    (
        s.kind,
        s.dir.as_str(),
        s.fields
            .iter()
            .map(|f| {
                (
                    f.name.to_string(),
                    f.value.clone(),
                    f.span
                        .as_ref()
                        .and_then(|sp| s.span_bytes(sp))
                        .map(<[u8]>::to_vec),
                )
            })
            .collect(),
        s.findings.iter().map(|f| f.rule.id).collect(),
    )
}

/// A small deterministic generator (xorshift) from a proptest seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// (a) Segmentation does not change the steps
// ---------------------------------------------------------------------------

/// One thing that happens on the WebSocket.
#[derive(Debug, Clone)]
enum Ev {
    /// A whole message in one frame.
    Message { c2s: bool, text: bool, len: usize },
    /// A message in several frames, with a ping between the first two.
    Fragmented {
        c2s: bool,
        text: bool,
        parts: Vec<usize>,
        ping_between: bool,
    },
    /// A ping and the pong that answers it.
    PingPong { c2s_pings: bool, len: usize },
}

/// Payload sizes: the 7-bit form, the 16-bit form, and around the 16/64-bit
/// boundary (65535 is the largest 16-bit length).
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        5 => 0usize..=125,
        4 => 126usize..=3000,
        1 => 65_000usize..=67_000,
    ]
}

fn event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), size())
            .prop_map(|(c2s, text, len)| Ev::Message { c2s, text, len }),
        2 => (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(0usize..400, 2..5),
            any::<bool>()
        )
            .prop_map(|(c2s, text, parts, ping_between)| Ev::Fragmented {
                c2s,
                text,
                parts,
                ping_between
            }),
        1 => (any::<bool>(), 0usize..=125)
            .prop_map(|(c2s_pings, len)| Ev::PingPong { c2s_pings, len }),
    ]
}

/// Payload bytes: ASCII, so text messages are UTF-8 whatever the cuts.
fn payload(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((i + salt) % 26) as u8).collect()
}

fn frame(c2s: bool, fin: bool, opcode: u8, data: &[u8], salt: usize) -> Vec<u8> {
    let key = [salt as u8, 0x5a, (salt >> 8) as u8, 0xa5];
    ws_frame(fin, 0, opcode, c2s.then_some(key), data)
}

/// The conversation as messages in order: (client to server?, bytes), one
/// entry per HTTP message or WebSocket frame.
fn messages_of(events: &[Ev]) -> Vec<(bool, Vec<u8>)> {
    let mut v = ws_handshake(&[], &[]);
    for (i, e) in events.iter().enumerate() {
        match e {
            Ev::Message { c2s, text, len } => {
                let op = if *text { 1 } else { 2 };
                v.push((*c2s, frame(*c2s, true, op, &payload(*len, i), i)));
            }
            Ev::Fragmented {
                c2s,
                text,
                parts,
                ping_between,
            } => {
                for (j, n) in parts.iter().enumerate() {
                    let op = match (j, text) {
                        (0, true) => 1,
                        (0, false) => 2,
                        _ => 0,
                    };
                    let last = j + 1 == parts.len();
                    v.push((*c2s, frame(*c2s, last, op, &payload(*n, i + j), i + j)));
                    if j == 0 && *ping_between {
                        v.push((*c2s, frame(*c2s, true, 9, b"mid", i)));
                    }
                }
            }
            Ev::PingPong { c2s_pings, len } => {
                let p = payload(*len, i);
                v.push((*c2s_pings, frame(*c2s_pings, true, 9, &p, i)));
                v.push((!*c2s_pings, frame(!*c2s_pings, true, 10, &p, i + 1)));
            }
        }
    }
    v.push((true, frame(true, true, 8, &close_body(1000, b"bye"), 7)));
    v.push((false, frame(false, true, 8, &close_body(1000, b""), 8)));
    v
}

/// Largest TCP payload used (an IPv4 packet holds at most 65535 bytes).
const MAX_SEG: usize = 60_000;

/// One message per segment (split only when a message exceeds a packet).
fn one_per_segment(msgs: &[(bool, Vec<u8>)]) -> Exchange {
    msgs.iter()
        .flat_map(|(d, b)| b.chunks(MAX_SEG).map(move |c| (*d, c.to_vec())))
        .collect()
}

/// The same bytes cut at random points: consecutive messages of one
/// direction are joined into a run and the run is cut anywhere (inside
/// headers, across frame boundaries, right after the 101 response), so
/// only the order between directions is kept.
fn cut_randomly(msgs: &[(bool, Vec<u8>)], seed: u64) -> Exchange {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::new();
    let mut i = 0;
    while i < msgs.len() {
        let dir = msgs[i].0;
        let mut run = Vec::new();
        let mut bounds = Vec::new();
        while i < msgs.len() && msgs[i].0 == dir {
            run.extend_from_slice(&msgs[i].1);
            bounds.push(run.len());
            i += 1;
        }
        let mut cuts: Vec<usize> = Vec::new();
        for _ in 0..rng.below(12) {
            let at = if rng.below(2) == 0 {
                rng.below(run.len())
            } else {
                // Near a frame boundary: inside the next header or the
                // previous payload's tail.
                let b = bounds[rng.below(bounds.len())];
                (b + rng.below(16)).saturating_sub(8).min(run.len())
            };
            cuts.push(at);
        }
        cuts.push(run.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut start = 0;
        for c in cuts {
            while c > start {
                let end = c.min(start + MAX_SEG);
                out.push((dir, run[start..end].to_vec()));
                start = end;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn segmentation_does_not_change_the_steps(
        events in proptest::collection::vec(event(), 1..8),
        seed in any::<u64>(),
    ) {
        let msgs = messages_of(&events);
        let reference = run_conv(&one_per_segment(&msgs));
        let cut = run_conv(&cut_randomly(&msgs, seed));
        // The reference is a correct conversation: nothing to report, and
        // every data message is shown.
        let found: Vec<&str> = reference
            .steps
            .iter()
            .flat_map(|s| s.findings.iter().map(|f| f.rule.id))
            .collect();
        prop_assert!(found.is_empty(), "{:?}", found);
        let data_messages = events
            .iter()
            .filter(|e| !matches!(e, Ev::PingPong { .. }))
            .count();
        prop_assert_eq!(steps_of(&reference, "websocket.message").len(), data_messages);
        let a: Vec<Shape> = reference.steps.iter().map(shape).collect();
        let b: Vec<Shape> = cut.steps.iter().map(shape).collect();
        prop_assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            prop_assert_eq!(x, y);
        }
    }
}

// ---------------------------------------------------------------------------
// (b) Arbitrary bytes on an upgraded connection
// ---------------------------------------------------------------------------

/// Something to put on the WebSocket: raw bytes, or a frame (mostly
/// plausible header bits, sometimes arbitrary ones) around a payload that
/// Engine.IO / Socket.IO may read.
#[derive(Debug, Clone)]
enum Chunk {
    Raw(Vec<u8>),
    Frame {
        b0: u8,
        /// Mask as the sender's role requires, or the wrong way round.
        wrong_mask: bool,
        payload: Vec<u8>,
    },
}

fn eio_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-6b][0-9]{0,2}-?(/[a-z]{0,3},)?[0-9]{0,3}[\\[\\]{}\":,a-z0-9_]{0,30}"
            .prop_map(String::into_bytes),
        Just(b"0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}".to_vec()),
        Just(b"40".to_vec()),
        Just(b"451-[\"u\",{\"_placeholder\":true,\"num\":0}]".to_vec()),
        Just(b"421[\"q\"]".to_vec()),
        Just(b"431[\"a\"]".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

/// A first header byte: FIN, RSV and opcode.
fn first_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => prop::sample::select(vec![0x81u8, 0x82, 0x88, 0x89, 0x8a, 0xc1, 0xc2]),
        2 => prop::sample::select(vec![0x01u8, 0x02, 0x00, 0x80, 0x41]),
        1 => any::<u8>(),
    ]
}

fn chunk() -> impl Strategy<Value = Chunk> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Chunk::Raw),
        10 => (first_byte(), prop::bool::weighted(0.1), eio_text())
            .prop_map(|(b0, wrong_mask, payload)| Chunk::Frame { b0, wrong_mask, payload }),
    ]
}

fn chunk_bytes(c2s: bool, c: &Chunk) -> Vec<u8> {
    match c {
        Chunk::Raw(b) => b.clone(),
        Chunk::Frame {
            b0,
            wrong_mask,
            payload,
        } => {
            let rsv = (b0 >> 4) & 7;
            let mask = (c2s != *wrong_mask).then_some(WS_MASK);
            ws_frame(b0 & 0x80 != 0, rsv, b0 & 0x0f, mask, payload)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_after_an_upgrade_keep_spans_valid(
        c2s in proptest::collection::vec(chunk(), 0..8),
        s2c in proptest::collection::vec(chunk(), 0..8),
        order in proptest::collection::vec(any::<bool>(), 0..16),
        deflate in any::<bool>(),
        engineio in prop_oneof![Just(None), Just(Some(3u8)), Just(Some(4u8))],
        open_first in any::<bool>(),
    ) {
        let target = match engineio {
            Some(v) => format!("/socket.io/?EIO={v}&transport=websocket"),
            None => "/chat".to_string(),
        };
        let ext: &[&str] = if deflate {
            &["Sec-WebSocket-Extensions: permessage-deflate"]
        } else {
            &[]
        };
        let mut ex: Exchange = vec![
            (true, upgrade_request(&target, WS_KEY, ext)),
            (false, upgrade_response(WS_KEY, ext)),
        ];
        if let (Some(v), true) = (engineio, open_first) {
            // A session, so Socket.IO decoding is reached.
            ex.push((false, stext(&eio_open(v, "abc", 25_000, 20_000))));
            ex.push((true, ctext("40")));
        }
        // Interleave the two directions' chunks in a random order.
        let (mut a, mut b) = (c2s.iter(), s2c.iter());
        for pick in order.iter().chain(std::iter::repeat_n(&true, 16)) {
            let next = if *pick { a.next().map(|c| (true, c)) } else { b.next().map(|c| (false, c)) };
            let next = next.or_else(|| a.next().map(|c| (true, c))).or_else(|| b.next().map(|c| (false, c)));
            match next {
                Some((d, c)) => ex.push((d, chunk_bytes(d, c))),
                None => break,
            }
        }
        ex.retain(|(_, b)| !b.is_empty());
        let t = run_conv(&ex);
        prop_assert!(t.error.is_none(), "{:?}", t.error);
        prop_assert!(!steps_of(&t, "websocket.handshake").is_empty());
        if let Err(e) = spans_valid(&t) {
            prop_assert!(false, "{}", e);
        }
    }
}

// ---------------------------------------------------------------------------
// (c) Arbitrary capture files and mutated real captures
// ---------------------------------------------------------------------------

const REAL: &[u8] = include_bytes!("../captures/flask-socketio-gevent.pcap");

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_as_a_capture_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let t = analyse(bytes);
        if let Err(e) = spans_valid(&t) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn arbitrary_records_after_a_pcap_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        linktype in prop_oneof![Just(1u32), Just(101u32), Just(113u32), any::<u32>()],
    ) {
        let mut f = pcap(linktype, &[]);
        f.extend_from_slice(&body);
        let t = analyse(f);
        if let Err(e) = spans_valid(&t) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn single_byte_mutations_of_a_real_capture_keep_spans_valid(
        at in 0usize..REAL.len(),
        value in any::<u8>(),
    ) {
        let mut bytes = REAL.to_vec();
        bytes[at] = value;
        let t = analyse(bytes);
        if let Err(e) = spans_valid(&t) {
            prop_assert!(false, "byte {} set to {:#04x}: {}", at, value, e);
        }
    }
}

#[test]
fn the_real_capture_decodes_and_its_spans_are_valid() {
    // The mutation property is only worth something if the unmutated
    // capture goes deep: WebSocket frames and Socket.IO packets.
    let t = analyse(REAL.to_vec());
    assert!(t.error.is_none(), "{:?}", t.error);
    assert!(!steps_of(&t, "websocket.frame").is_empty());
    assert!(!steps_of(&t, "socketio.packet").is_empty());
    spans_valid(&t).unwrap();
}

#[test]
fn spans_valid_catches_a_bad_span() {
    // The checker itself can fail.
    let mut t = analyse(REAL.to_vec());
    let s = t
        .steps
        .iter_mut()
        .find(|s| s.fields.iter().any(|f| f.span.is_some()))
        .unwrap();
    let f = s.fields.iter_mut().find(|f| f.span.is_some()).unwrap();
    f.span = Some(dispel::step::Span::bytes(0, usize::MAX / 4, 10));
    assert!(spans_valid(&t).is_err());
}

#[test]
fn a_syn_with_a_new_isn_mid_stream_does_not_panic() {
    // SYNTHETIC: the server's half of an HTTP head, then a SYN-ACK with
    // another ISN carrying data.
    let (c, s) = (1_001u32, 500_001u32);
    let segs = [
        Seg::new(true, c - 1, 0, "S", b""),
        Seg::new(false, s - 1, c, "SA", b""),
        Seg::new(true, c, s, "A", b""),
        Seg::new(false, s, c, "AP", b"HTTP/1.1 200 OK\r\n"),
        Seg::new(false, 9_000_000, c, "SAP", b"more"),
    ];
    let t = analyse(pcap(1, &records_of(&segs)));
    spans_valid(&t).unwrap();
}

#[test]
fn mutation_1035_of_the_real_capture_does_not_panic() {
    // Packet 8 of the real capture with its TCP flags byte set to 0xff
    // (SYN, ACK, FIN, RST, … on a data segment).
    let mut bytes = REAL.to_vec();
    bytes[1035] = 0xff;
    let t = analyse(bytes);
    spans_valid(&t).unwrap();
}
