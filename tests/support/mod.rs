//! SYNTHETIC capture builders for tests.
//!
//! Everything here fabricates bytes: packets built with etherparse's
//! `PacketBuilder`, written into pcap / pcapng containers by hand. Tests that
//! use these say so; the real recordings live in `captures/`.

#![allow(dead_code)]

use std::net::SocketAddr;

use dispel::analyze::{self, Collect, Options};
use etherparse::PacketBuilder;

pub const CLIENT: &str = "10.1.2.3:40000";
pub const SERVER: &str = "10.9.8.7:8080";

/// One synthetic TCP segment.
#[derive(Debug, Clone)]
pub struct Seg {
    pub c2s: bool,
    pub seq: u32,
    pub ack: u32,
    pub flags: &'static str,
    pub payload: Vec<u8>,
}

impl Seg {
    pub fn new(c2s: bool, seq: u32, ack: u32, flags: &'static str, payload: &[u8]) -> Seg {
        Seg {
            c2s,
            seq,
            ack,
            flags,
            payload: payload.to_vec(),
        }
    }
}

/// Builds the IPv4/TCP packet (no link header) for a segment.
pub fn ip_packet(seg: &Seg, client: &str, server: &str) -> Vec<u8> {
    let c: SocketAddr = client.parse().unwrap();
    let s: SocketAddr = server.parse().unwrap();
    let (src, dst) = if seg.c2s { (c, s) } else { (s, c) };
    let mut out = Vec::new();
    match (src, dst) {
        (SocketAddr::V4(a), SocketAddr::V4(b)) => {
            let mut b = PacketBuilder::ipv4(a.ip().octets(), b.ip().octets(), 64).tcp(
                a.port(),
                b.port(),
                seg.seq,
                65535,
            );
            b = flags(b, seg);
            b.write(&mut out, &seg.payload).unwrap();
        }
        (SocketAddr::V6(a), SocketAddr::V6(b)) => {
            let mut b = PacketBuilder::ipv6(a.ip().octets(), b.ip().octets(), 64).tcp(
                a.port(),
                b.port(),
                seg.seq,
                65535,
            );
            b = flags(b, seg);
            b.write(&mut out, &seg.payload).unwrap();
        }
        _ => panic!("mixed address families"),
    }
    out
}

fn flags(
    mut b: etherparse::PacketBuilderStep<etherparse::TcpHeader>,
    seg: &Seg,
) -> etherparse::PacketBuilderStep<etherparse::TcpHeader> {
    if seg.flags.contains('S') {
        b = b.syn();
    }
    if seg.flags.contains('A') {
        b = b.ack(seg.ack);
    }
    if seg.flags.contains('F') {
        b = b.fin();
    }
    if seg.flags.contains('R') {
        b = b.rst();
    }
    if seg.flags.contains('P') {
        b = b.psh();
    }
    b
}

/// Prefixes an Ethernet II header.
pub fn ethernet(ip: &[u8]) -> Vec<u8> {
    let ethertype: u16 = if ip.first().is_some_and(|b| b >> 4 == 6) {
        0x86dd
    } else {
        0x0800
    };
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(ip);
    v
}

/// A complete conversation: handshake, the given data exchange (each entry
/// one segment), FIN both ways. Sequence numbers start at the given ISNs.
pub fn conversation(isn_c: u32, isn_s: u32, exchange: &[(bool, &[u8])]) -> Vec<Seg> {
    let mut c = isn_c.wrapping_add(1);
    let mut s = isn_s.wrapping_add(1);
    let mut v = vec![
        Seg::new(true, isn_c, 0, "S", b""),
        Seg::new(false, isn_s, c, "SA", b""),
        Seg::new(true, c, s, "A", b""),
    ];
    for (c2s, data) in exchange {
        if *c2s {
            v.push(Seg::new(true, c, s, "AP", data));
            c = c.wrapping_add(data.len() as u32);
        } else {
            v.push(Seg::new(false, s, c, "AP", data));
            s = s.wrapping_add(data.len() as u32);
        }
    }
    v.push(Seg::new(true, c, s, "AF", b""));
    v.push(Seg::new(false, s, c.wrapping_add(1), "AF", b""));
    v.push(Seg::new(
        true,
        c.wrapping_add(1),
        s.wrapping_add(1),
        "A",
        b"",
    ));
    v
}

/// A little-endian microsecond pcap of the given link type and records.
pub fn pcap(linktype: u32, records: &[Vec<u8>]) -> Vec<u8> {
    pcap_with(linktype, records, false, false)
}

/// A pcap with a choice of timestamp precision and byte order. Record `i`
/// is stamped at 1_700_000_000 s + `i` ms.
pub fn pcap_with(linktype: u32, records: &[Vec<u8>], nanos: bool, big_endian: bool) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut f = Vec::new();
    f.extend_from_slice(&u32b(magic));
    f.extend_from_slice(&u16b(2));
    f.extend_from_slice(&u16b(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&u32b(262_144));
    f.extend_from_slice(&u32b(linktype));
    for (i, r) in records.iter().enumerate() {
        let frac = if nanos {
            i as u32 * 1_000_000
        } else {
            i as u32 * 1_000
        };
        f.extend_from_slice(&u32b(1_700_000_000));
        f.extend_from_slice(&u32b(frac));
        f.extend_from_slice(&u32b(r.len() as u32));
        f.extend_from_slice(&u32b(r.len() as u32));
        f.extend_from_slice(r);
    }
    f
}

/// A pcapng writer: sections, interfaces with link type and timestamp
/// resolution (`if_tsresol`), enhanced packet blocks.
#[derive(Default, Clone)]
pub struct PcapNg {
    pub bytes: Vec<u8>,
    resolutions: Vec<u8>,
}

impl PcapNg {
    fn block(&mut self, kind: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        self.bytes.extend_from_slice(&kind.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&body);
        self.bytes.extend_from_slice(&len.to_le_bytes());
    }

    pub fn section(&mut self) {
        let mut b = Vec::new();
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        self.block(0x0a0d_0d0a, &b);
        self.resolutions.clear();
    }

    /// Adds an interface; `tsresol` is a power of ten (6 = µs, 9 = ns).
    pub fn interface(&mut self, linktype: u16, tsresol: u8) {
        let mut b = Vec::new();
        b.extend_from_slice(&linktype.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        // if_tsresol option (code 9, length 1), then opt_endofopt.
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[tsresol, 0, 0, 0]);
        b.extend_from_slice(&[0, 0, 0, 0]);
        self.block(1, &b);
        self.resolutions.push(tsresol);
    }

    /// Adds a packet on interface `iface` at `secs` seconds + `nanos`.
    pub fn packet(&mut self, iface: u32, secs: u64, nanos: u64, data: &[u8]) {
        let res = 10u64.pow(u32::from(self.resolutions[iface as usize]));
        let ts = secs * res + nanos * res / 1_000_000_000;
        self.packet_ticks(iface, ts, data);
    }

    /// Adds a packet whose timestamp is `ts` ticks of its interface's
    /// clock, on any interface number, described or not (a malformed file).
    pub fn packet_ticks(&mut self, iface: u32, ts: u64, data: &[u8]) {
        let mut b = Vec::new();
        b.extend_from_slice(&iface.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        self.block(6, &b);
    }

    /// Adds a simple packet block (it belongs to interface 0).
    pub fn simple_packet(&mut self, data: &[u8]) {
        let mut b = Vec::new();
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        self.block(3, &b);
    }
}

/// Runs a capture held in memory through the whole pipeline.
pub fn analyse(bytes: Vec<u8>) -> Collect {
    analyse_with(bytes, &Options::default())
}

pub fn analyse_with(bytes: Vec<u8>, opts: &Options) -> Collect {
    let mut sink = Collect::default();
    let len = bytes.len() as u64;
    let _ = analyze::run_reader(
        std::io::Cursor::new(bytes),
        Some(len),
        "synthetic",
        opts,
        &mut sink,
    );
    sink
}

/// The bytes each direction of connection `conn` carried, rebuilt from the
/// trace's raw data steps, with `?` for every byte of a gap.
pub fn streams(c: &Collect, conn: u32) -> [Vec<u8>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for s in c.steps.iter().filter(|s| s.conn == conn) {
        let d = s.dir.index();
        match s.kind {
            "tcp.data" => {
                let seq = match s.field("tcp.seq").map(|f| &f.value) {
                    Some(dispel::step::Value::UInt(v)) => *v,
                    _ => panic!("tcp.data without tcp.seq"),
                };
                assert_eq!(seq - 1, out[d].len() as u64, "data steps out of order");
                out[d].extend_from_slice(&s.buffers[0].data);
            }
            "tcp.gap" => {
                let len = match s.field("dispel.gap.len").map(|f| &f.value) {
                    Some(dispel::step::Value::UInt(v)) => *v,
                    _ => panic!("gap without length"),
                };
                out[d].extend(std::iter::repeat_n(b'?', len as usize));
            }
            _ => {}
        }
    }
    out
}

/// How many findings of a rule the trace holds.
pub fn count(c: &Collect, rule: &str) -> usize {
    c.steps
        .iter()
        .flat_map(|s| s.findings.iter())
        .filter(|f| f.rule.id == rule)
        .count()
}

/// What an independent walk of a capture file finds.
#[derive(Debug)]
pub struct Walk {
    pub records: u64,
    pub first: dispel::step::Timestamp,
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let a: [u8; 2] = b[at..at + 2].try_into().unwrap();
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Counts packet records and reads the first one's time, for pcap and
/// pcapng, without dispel's reader.
pub fn walk(b: &[u8]) -> Walk {
    let mut records = 0u64;
    let mut first = None;
    if b[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut off = 0;
        let mut be = false;
        let mut resolutions: Vec<u64> = Vec::new();
        while off < b.len() {
            if b[off..off + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                be = b[off + 8..off + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
                resolutions.clear();
            }
            let kind = u32_at(b, off, be);
            let len = u32_at(b, off + 4, be) as usize;
            assert!(
                len >= 12 && len.is_multiple_of(4),
                "block length {len} at {off}"
            );
            assert_eq!(u32_at(b, off + len - 4, be) as usize, len);
            match kind {
                1 => {
                    let mut res = 1_000_000;
                    let mut o = off + 16;
                    while o + 4 <= off + len - 4 {
                        let code = u16_at(b, o, be);
                        let olen = usize::from(u16_at(b, o + 2, be));
                        if code == 0 {
                            break;
                        }
                        if code == 9 {
                            let v = b[o + 4];
                            res = if v & 0x80 != 0 {
                                1u64 << (v & 0x7f)
                            } else {
                                10u64.pow(u32::from(v))
                            };
                        }
                        o += 4 + olen.div_ceil(4) * 4;
                    }
                    resolutions.push(res);
                }
                2 | 3 | 6 => {
                    records += 1;
                    if kind == 6 && first.is_none() {
                        let iface = u32_at(b, off + 8, be) as usize;
                        let ticks = (u64::from(u32_at(b, off + 12, be)) << 32)
                            | u64::from(u32_at(b, off + 16, be));
                        let res = resolutions[iface];
                        first = Some(dispel::step::Timestamp {
                            secs: (ticks / res) as i64,
                            nanos: ((ticks % res) * 1_000_000_000 / res) as u32,
                        });
                    }
                }
                _ => {}
            }
            off += len;
        }
        assert_eq!(off, b.len(), "pcapng ends on a block boundary");
    } else {
        let (be, nanos) = match b[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => panic!("not a capture"),
        };
        let mut off = 24;
        while off + 16 <= b.len() {
            let caplen = u32_at(b, off + 8, be) as usize;
            if first.is_none() {
                let frac = u32_at(b, off + 4, be);
                first = Some(dispel::step::Timestamp {
                    secs: i64::from(u32_at(b, off, be)),
                    nanos: if nanos { frac } else { frac * 1000 },
                });
            }
            records += 1;
            off += 16 + caplen;
        }
        assert_eq!(off, b.len(), "pcap ends on a record boundary");
    }
    Walk {
        records,
        first: first.expect("at least one packet"),
    }
}

// ---------------------------------------------------------------------------
// SYNTHETIC WebSocket, HTTP and Engine.IO builders (appended for
// tests/findings.rs and tests/pipeline_props.rs). Everything below fabricates
// bytes; nothing here was recorded.
// ---------------------------------------------------------------------------

/// The RFC 6455 §1.3 sample key (16 bytes, base64).
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The RFC 6455 §5.7 sample masking key.
pub const WS_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A WebSocket frame built with dispel's own header encoder (minimal length
/// form), its payload masked when a key is given. SYNTHETIC.
pub fn ws_frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    use dispel::proto::ws::{FrameHeader, OpCode};
    let h = FrameHeader::new(
        fin,
        rsv,
        OpCode::from_u8(opcode),
        mask,
        payload.len() as u64,
    );
    frame_with_header(&h, payload)
}

/// A frame whose length is written in a chosen form (7-, 16- or 64-bit),
/// minimal or not. SYNTHETIC.
pub fn ws_frame_form(
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    form: dispel::proto::ws::LengthForm,
) -> Vec<u8> {
    use dispel::proto::ws::{FrameHeader, OpCode};
    let h = FrameHeader::new(fin, 0, OpCode::from_u8(opcode), mask, payload.len() as u64)
        .with_length_form(form)
        .expect("length fits the form");
    frame_with_header(&h, payload)
}

fn frame_with_header(h: &dispel::proto::ws::FrameHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    h.encode(&mut out);
    let mut p = payload.to_vec();
    if let Some(key) = h.mask {
        dispel::proto::ws::apply_mask(&mut p, key, 0);
    }
    out.extend_from_slice(&p);
    out
}

/// A client frame, masked as RFC 6455 §5.1 requires. SYNTHETIC.
pub fn cframe(opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws_frame(true, 0, opcode, Some(WS_MASK), payload)
}

/// A server frame, unmasked. SYNTHETIC.
pub fn sframe(opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws_frame(true, 0, opcode, None, payload)
}

/// A masked client text frame. SYNTHETIC.
pub fn ctext(text: &str) -> Vec<u8> {
    cframe(1, text.as_bytes())
}

/// An unmasked server text frame. SYNTHETIC.
pub fn stext(text: &str) -> Vec<u8> {
    sframe(1, text.as_bytes())
}

/// A Close body: the code, then the reason bytes.
pub fn close_body(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason);
    v
}

/// A client upgrade request for `target`, with the given key and extra
/// header lines (`"Name: value"`). SYNTHETIC.
pub fn upgrade_request(target: &str, key: &str, extra: &[&str]) -> Vec<u8> {
    let mut s = format!(
        "GET {target} HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// The server's 101 answer with the Accept value the key calls for
/// (`dispel::proto::ws::derive_accept`), plus extra header lines.
/// SYNTHETIC.
pub fn upgrade_response(key: &str, extra: &[&str]) -> Vec<u8> {
    let accept = dispel::proto::ws::derive_accept(key).expected;
    upgrade_response_accept(Some(&accept), extra)
}

/// A 101 answer with a chosen Accept value (or none). SYNTHETIC.
pub fn upgrade_response_accept(accept: Option<&str>, extra: &[&str]) -> Vec<u8> {
    let mut s = String::from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    if let Some(a) = accept {
        s.push_str(&format!("Sec-WebSocket-Accept: {a}\r\n"));
    }
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// One direction's bytes in a conversation: `(client to server?, bytes)`,
/// each entry one TCP segment.
pub type Exchange = Vec<(bool, Vec<u8>)>;

/// A valid handshake on `/chat`, with extra request / response header lines.
/// SYNTHETIC.
pub fn ws_handshake(req_extra: &[&str], resp_extra: &[&str]) -> Exchange {
    vec![
        (true, upgrade_request("/chat", WS_KEY, req_extra)),
        (false, upgrade_response(WS_KEY, resp_extra)),
    ]
}

/// A valid handshake followed by the given segments.
pub fn ws_conv(after: &[(bool, Vec<u8>)]) -> Exchange {
    let mut v = ws_handshake(&[], &[]);
    v.extend(after.iter().cloned());
    v
}

/// A handshake that negotiates permessage-deflate (context takeover both
/// ways), followed by the given segments.
pub fn ws_deflate_conv(after: &[(bool, Vec<u8>)]) -> Exchange {
    let mut v = ws_handshake(
        &["Sec-WebSocket-Extensions: permessage-deflate"],
        &["Sec-WebSocket-Extensions: permessage-deflate"],
    );
    v.extend(after.iter().cloned());
    v
}

/// Raw DEFLATE with a sync flush and its `00 00 ff ff` stripped, as a
/// permessage-deflate sender writes a message (RFC 7692 §7.2.1).
pub fn deflate_message(data: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(64 * 1024);
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("deflate");
        let used = (c.total_in() - before) as usize;
        input = &input[used..];
        if input.is_empty() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            break;
        }
    }
    out.truncate(out.len() - 4);
    out
}

/// The TCP segments of a conversation, numbered from SYN to the last ACK.
pub fn conv_segs(exchange: &[(bool, Vec<u8>)]) -> Vec<Seg> {
    let borrowed: Vec<(bool, &[u8])> = exchange.iter().map(|(d, b)| (*d, b.as_slice())).collect();
    conversation(1_000, 500_000, &borrowed)
}

/// The Ethernet records of segments between the usual client and server.
pub fn records_of(segs: &[Seg]) -> Vec<Vec<u8>> {
    segs.iter()
        .map(|s| ethernet(&ip_packet(s, CLIENT, SERVER)))
        .collect()
}

/// A whole conversation (handshake, segments, FIN both ways) as a pcap.
/// SYNTHETIC.
pub fn conv_pcap(exchange: &[(bool, Vec<u8>)]) -> Vec<u8> {
    pcap(1, &records_of(&conv_segs(exchange)))
}

/// Runs a conversation through the pipeline.
pub fn run_conv(exchange: &[(bool, Vec<u8>)]) -> Collect {
    analyse(conv_pcap(exchange))
}

/// Runs a conversation through the pipeline with options.
pub fn run_conv_with(exchange: &[(bool, Vec<u8>)], opts: &Options) -> Collect {
    analyse_with(conv_pcap(exchange), opts)
}

/// Several conversations, one after the other, each from its own client
/// port (40000, 40001, …) to the usual server. SYNTHETIC.
pub fn conns_pcap(conns: &[Exchange]) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, ex) in conns.iter().enumerate() {
        let client = format!("10.1.2.3:{}", 40_000 + i);
        for s in conv_segs(ex) {
            records.push(ethernet(&ip_packet(&s, &client, SERVER)));
        }
    }
    pcap(1, &records)
}

/// A pcap whose record `i` is stamped at 1_700_000_000 s + `micros[i]` µs.
pub fn pcap_at(records: &[Vec<u8>], micros: &[u64]) -> Vec<u8> {
    assert_eq!(records.len(), micros.len());
    let mut f = pcap(1, &[]);
    for (r, &us) in records.iter().zip(micros) {
        let secs = 1_700_000_000 + (us / 1_000_000) as u32;
        f.extend_from_slice(&secs.to_le_bytes());
        f.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.extend_from_slice(r);
    }
    f
}

/// The steps of a kind.
pub fn steps_of<'a>(c: &'a Collect, kind: &str) -> Vec<&'a dispel::step::Step> {
    c.steps.iter().filter(|s| s.kind == kind).collect()
}

/// The kinds of the steps that carry a finding of `rule`.
pub fn kinds_with(c: &Collect, rule: &str) -> Vec<&'static str> {
    c.steps
        .iter()
        .filter(|s| s.findings.iter().any(|f| f.rule.id == rule))
        .map(|s| s.kind)
        .collect()
}

/// The messages of every finding of `rule`, joined.
pub fn messages(c: &Collect, rule: &str) -> String {
    c.steps
        .iter()
        .flat_map(|s| s.findings.iter())
        .filter(|f| f.rule.id == rule)
        .map(|f| f.message.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

// Engine.IO (SYNTHETIC).

/// A polling GET: `/socket.io/?EIO=<v>&transport=polling&t=x[&sid=…]`.
pub fn eio_get(version: u8, sid: Option<&str>) -> Vec<u8> {
    let sid = sid.map(|s| format!("&sid={s}")).unwrap_or_default();
    format!("GET /socket.io/?EIO={version}&transport=polling&t=x{sid} HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .into_bytes()
}

/// A polling POST carrying `body`.
pub fn eio_post(version: u8, sid: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST /socket.io/?EIO={version}&transport=polling&t=x&sid={sid} HTTP/1.1\r\nHost: example.test\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// An HTTP response with a status, a content type and a body.
pub fn http_response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        _ => "Status",
    };
    let mut v = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// A 200 polling answer carrying an Engine.IO payload.
pub fn eio_ok(body: &[u8]) -> Vec<u8> {
    http_response(200, "text/plain; charset=UTF-8", body)
}

/// The open packet's text, `0{"sid":…}` (v4 carries maxPayload).
pub fn eio_open(version: u8, sid: &str, ping_interval: u64, ping_timeout: u64) -> String {
    let max = if version >= 4 {
        ",\"maxPayload\":1000000"
    } else {
        ""
    };
    format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":{ping_interval},\"pingTimeout\":{ping_timeout}{max}}}"
    )
}

/// The WebSocket upgrade of an Engine.IO client, with or without a sid.
pub fn eio_ws_request(version: u8, sid: Option<&str>) -> Vec<u8> {
    let sid = sid.map(|s| format!("&sid={s}")).unwrap_or_default();
    upgrade_request(
        &format!("/socket.io/?EIO={version}&transport=websocket{sid}"),
        WS_KEY,
        &[],
    )
}

/// An Engine.IO WebSocket connection opened without polling: handshake,
/// the open packet as the server's first text frame (sid `abc`), then the
/// given segments. SYNTHETIC.
pub fn eio_ws(version: u8, after: &[(bool, Vec<u8>)]) -> Exchange {
    let mut v = vec![
        (true, eio_ws_request(version, None)),
        (false, upgrade_response(WS_KEY, &[])),
        (false, stext(&eio_open(version, "abc", 25_000, 20_000))),
    ];
    v.extend(after.iter().cloned());
    v
}

/// A Socket.IO session over an Engine.IO 4 WebSocket where the client has
/// connected to `/` (`40` both ways), then the given segments. SYNTHETIC.
pub fn sio_ws(after: &[(bool, Vec<u8>)]) -> Exchange {
    let mut v = vec![(true, ctext("40")), (false, stext("40{\"sid\":\"s1\"}"))];
    v.extend(after.iter().cloned());
    eio_ws(4, &v)
}

/// Every (kind, field, type) of a trace that `dispel::kinds` does not
/// register (an unknown kind, a field the kind does not list, or a value of
/// a type the field does not list). Empty when the registry is complete.
pub fn unregistered(c: &Collect) -> Vec<String> {
    use dispel::kinds::{self, ValueType};
    let mut out = Vec::new();
    for s in &c.steps {
        let Some(k) = kinds::kind(s.kind) else {
            out.push(format!("kind {} is not registered", s.kind));
            continue;
        };
        for f in &s.fields {
            let t = ValueType::of(&f.value);
            match k.field(&f.name) {
                None => out.push(format!("{}: field {} is not registered", s.kind, f.name)),
                Some(spec) if !spec.types.contains(&t) => out.push(format!(
                    "{}: field {} is registered as {:?}, emitted as {}",
                    s.kind,
                    f.name,
                    spec.types,
                    t.name()
                )),
                Some(_) => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Fails when a trace has a kind or field `dispel::kinds` does not register.
pub fn assert_registered(c: &Collect) {
    let missing = unregistered(c);
    assert!(
        missing.is_empty(),
        "src/kinds.rs is missing:\n  {}",
        missing.join("\n  ")
    );
}
