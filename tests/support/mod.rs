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
#[derive(Default)]
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
        let mut b = Vec::new();
        b.extend_from_slice(&iface.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        self.block(6, &b);
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
