//! Capture ingestion: containers, byte orders, timestamp resolutions, link
//! types, multi-section pcapng, and what is skipped or reported.
//!
//! Everything in this file except the `real_*` tests is SYNTHETIC: one small
//! TCP conversation built with etherparse (through `support`), framed by hand
//! with each link-layer header and written by hand into each container. Its
//! payloads are deliberately not HTTP (`\x00\x01hello-binary` …), so every
//! byte stays raw TCP data (`tcp.data` steps) whatever layers sit above TCP.
//!
//! The `real_*` tests read `captures/flask-socketio-ipv6.pcapng` and
//! `captures/flask-socketio-any.pcap` (real recordings, see
//! `captures/README.md`) and count their records with a small walker written
//! here, independent of the reader under test (and with tshark when present).

mod support;
mod tools;

use std::path::Path;

use dispel::analyze::{self, Collect, Options};
use dispel::capture::Format;
use dispel::step::{Timestamp, Value};
use etherparse::PacketBuilder;
use support::*;

// ---------------------------------------------------------------------------
// The synthetic conversation
// ---------------------------------------------------------------------------

const C2S_1: &[u8] = b"\x00\x01hello-binary";
const S2C_1: &[u8] = b"\x00\x02binary-reply\xff\xfe";
const C2S_2: &[u8] = b"\x00\x03bye\x00";

const CLIENT6: &str = "[fd00::1]:40000";
const SERVER6: &str = "[fd00::2]:8080";

const BASE_SECS: i64 = 1_700_000_000;

/// Handshake, three data segments, FIN both ways: nine records.
fn segs() -> Vec<Seg> {
    conversation(
        0x1000_0000,
        0xffff_fff0,
        &[(true, C2S_1), (false, S2C_1), (true, C2S_2)],
    )
}

fn expected_streams() -> [Vec<u8>; 2] {
    [[C2S_1, C2S_2].concat(), S2C_1.to_vec()]
}

/// `(kind, dir, frames)` of every step the conversation must produce: the
/// frames are the 1-based record numbers of `segs()` in capture order.
fn expected_shape() -> Vec<(&'static str, &'static str, Vec<u64>)> {
    vec![
        ("tcp.syn", "c2s", vec![1]),
        ("tcp.syn-ack", "s2c", vec![2]),
        ("tcp.data", "c2s", vec![4]),
        ("tcp.data", "s2c", vec![5]),
        ("tcp.data", "c2s", vec![6]),
        ("tcp.fin", "c2s", vec![7]),
        ("tcp.fin", "s2c", vec![8]),
    ]
}

fn shape(c: &Collect) -> Vec<(&'static str, &'static str, Vec<u64>)> {
    c.steps
        .iter()
        .map(|s| (s.kind, s.dir.as_str(), s.frames.to_vec()))
        .collect()
}

/// The timestamp of record `i` (0-based). Nanosecond files get sub-µs
/// digits, so a nanosecond file read as microseconds (or the reverse) cannot
/// come out right.
fn stamp(i: usize, nanos: bool) -> Timestamp {
    Timestamp {
        secs: BASE_SECS + i as i64,
        nanos: 123_456_000 + i as u32 * 1_000 + if nanos { 789 } else { 0 },
    }
}

/// One pcap record to write: captured bytes, wire length, time.
struct Rec {
    data: Vec<u8>,
    orig_len: u32,
    time: Timestamp,
}

/// SYNTHETIC: a pcap file with explicit per-record times, byte order and
/// timestamp resolution.
fn pcap_file(linktype: u32, recs: &[Rec], nanos: bool, big_endian: bool) -> Vec<u8> {
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
    let mut f = Vec::new();
    f.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&u16b(2));
    f.extend_from_slice(&u16b(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&u32b(262_144));
    f.extend_from_slice(&u32b(linktype));
    for r in recs {
        let frac = if nanos {
            r.time.nanos
        } else {
            assert_eq!(r.time.nanos % 1000, 0, "µs file needs µs times");
            r.time.nanos / 1000
        };
        f.extend_from_slice(&u32b(r.time.secs as u32));
        f.extend_from_slice(&u32b(frac));
        f.extend_from_slice(&u32b(r.data.len() as u32));
        f.extend_from_slice(&u32b(r.orig_len));
        f.extend_from_slice(&r.data);
    }
    f
}

/// The conversation's records, framed by `frame`, stamped by `stamp`.
fn records(v6: bool, nanos: bool, frame: &dyn Fn(&[u8]) -> Vec<u8>) -> Vec<Rec> {
    let (c, s) = if v6 {
        (CLIENT6, SERVER6)
    } else {
        (CLIENT, SERVER)
    };
    segs()
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            let data = frame(&ip_packet(seg, c, s));
            Rec {
                orig_len: data.len() as u32,
                data,
                time: stamp(i, nanos),
            }
        })
        .collect()
}

/// Asserts the trace is the conversation, exactly: no error or notice, one
/// connection with the right endpoints, the streams, the step shape, and
/// every step at its record's time (`nanos`: the records' resolution).
fn assert_conversation(name: &str, t: &Collect, v6: bool, nanos: bool) {
    assert_eq!(t.error, None, "{name}: input error");
    let report = t.report.as_ref().expect("a report");
    assert!(report.notices.is_empty(), "{name}: {:?}", report.notices);
    assert_eq!(report.packets, 9, "{name}: packets");
    assert_eq!(report.tcp_packets, 9, "{name}: TCP packets");
    assert_eq!(report.non_tcp_packets, 0, "{name}: non-TCP packets");
    assert_eq!(t.connections.len(), 1, "{name}: connections");
    let (c, s) = if v6 {
        (CLIENT6, SERVER6)
    } else {
        (CLIENT, SERVER)
    };
    assert_eq!(t.connections[0].client.to_string(), c, "{name}: client");
    assert_eq!(t.connections[0].server.to_string(), s, "{name}: server");
    assert_eq!(streams(t, 0), expected_streams(), "{name}: streams");
    assert_eq!(shape(t), expected_shape(), "{name}: steps");
    let info = t.info.as_ref().expect("capture info");
    assert_eq!(info.origin, stamp(0, nanos), "{name}: origin");
    for s in &t.steps {
        let frame = s.frames[0] as usize;
        assert_eq!(
            s.time,
            stamp(frame - 1, nanos),
            "{name}: time of {} at frame {frame}",
            s.kind
        );
    }
}

// ---------------------------------------------------------------------------
// pcap: byte orders and resolutions
// ---------------------------------------------------------------------------

#[test]
fn pcap_both_byte_orders_and_resolutions() {
    for (nanos, big_endian) in [(false, false), (false, true), (true, false), (true, true)] {
        let name = format!("pcap nanos={nanos} big_endian={big_endian}");
        let file = pcap_file(1, &records(false, nanos, &ethernet), nanos, big_endian);
        let t = analyse(file);
        assert_conversation(&name, &t, false, nanos);
        assert_eq!(
            t.info.as_ref().unwrap().format,
            Format::Pcap {
                nanosecond: nanos,
                big_endian
            },
            "{name}"
        );
    }
}

#[test]
fn pcap_step_times_relative_to_the_first_packet_keep_every_digit() {
    // In the ns file, the 4th record (the first data step) is 3 s + 3 µs
    // after the first; sub-µs digits are equal in both, so they cancel.
    let ns = analyse(pcap_file(1, &records(false, true, &ethernet), true, false));
    let us = analyse(pcap_file(
        1,
        &records(false, false, &ethernet),
        false,
        false,
    ));
    for t in [&ns, &us] {
        let origin = t.info.as_ref().unwrap().origin;
        let data = t.steps.iter().find(|s| s.kind == "tcp.data").unwrap();
        assert_eq!(
            data.time.as_nanos() - origin.as_nanos(),
            3_000_003_000,
            "relative time of the first data step"
        );
    }
    assert_eq!(
        ns.info.as_ref().unwrap().origin,
        Timestamp {
            secs: BASE_SECS,
            nanos: 123_456_789
        }
    );
    assert_eq!(
        us.info.as_ref().unwrap().origin,
        Timestamp {
            secs: BASE_SECS,
            nanos: 123_456_000
        }
    );
}

// ---------------------------------------------------------------------------
// Link types
// ---------------------------------------------------------------------------

fn ethertype_of(ip: &[u8]) -> u16 {
    if ip[0] >> 4 == 6 { 0x86dd } else { 0x0800 }
}

/// Ethernet with one 802.1Q tag (VLAN 42) before the real ethertype.
fn ethernet_vlan(ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    v.extend_from_slice(&0x8100u16.to_be_bytes());
    v.extend_from_slice(&42u16.to_be_bytes());
    v.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    v.extend_from_slice(ip);
    v
}

/// BSD loopback (NULL): address family in the capturing host's byte order.
fn null_le(ip: &[u8]) -> Vec<u8> {
    let family: u32 = if ip[0] >> 4 == 6 { 30 } else { 2 };
    let mut v = family.to_le_bytes().to_vec();
    v.extend_from_slice(ip);
    v
}

fn null_be(ip: &[u8]) -> Vec<u8> {
    let family: u32 = if ip[0] >> 4 == 6 { 30 } else { 2 };
    let mut v = family.to_be_bytes().to_vec();
    v.extend_from_slice(ip);
    v
}

/// OpenBSD loopback (LOOP): address family in network byte order.
fn loop_hdr(ip: &[u8]) -> Vec<u8> {
    null_be(ip)
}

fn raw(ip: &[u8]) -> Vec<u8> {
    ip.to_vec()
}

/// LINUX_SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
fn sll(ip: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0u16.to_be_bytes()); // to us
    v.extend_from_slice(&772u16.to_be_bytes()); // ARPHRD_LOOPBACK
    v.extend_from_slice(&6u16.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    assert_eq!(v.len(), 16);
    v.extend_from_slice(ip);
    v
}

/// LINUX_SLL2: protocol, reserved, interface index, ARPHRD, packet type,
/// address length, 8 address bytes.
fn sll2(ip: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    v.extend_from_slice(&0u16.to_be_bytes());
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&772u16.to_be_bytes());
    v.push(0);
    v.push(6);
    v.extend_from_slice(&[0; 8]);
    assert_eq!(v.len(), 20);
    v.extend_from_slice(ip);
    v
}

/// Ethernet with two tags: 802.1ad (S-tag, VLAN 7) then 802.1Q (VLAN 42).
fn ethernet_qinq(ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    v.extend_from_slice(&0x88a8u16.to_be_bytes());
    v.extend_from_slice(&7u16.to_be_bytes());
    v.extend_from_slice(&0x8100u16.to_be_bytes());
    v.extend_from_slice(&42u16.to_be_bytes());
    v.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    v.extend_from_slice(ip);
    v
}

type Framer = fn(&[u8]) -> Vec<u8>;

#[test]
fn every_supported_link_type_gives_the_same_trace() {
    let variants: [(&str, u32, Framer, bool); 17] = [
        ("Ethernet", 1, ethernet, false),
        ("Ethernet IPv6", 1, ethernet, true),
        ("Ethernet 802.1Q", 1, ethernet_vlan, false),
        ("Ethernet 802.1Q IPv6", 1, ethernet_vlan, true),
        ("Ethernet 802.1ad + 802.1Q", 1, ethernet_qinq, false),
        ("NULL little-endian", 0, null_le, false),
        ("NULL big-endian", 0, null_be, false),
        ("NULL IPv6", 0, null_le, true),
        ("LOOP", 108, loop_hdr, false),
        ("RAW", 101, raw, false),
        ("RAW IPv6", 101, raw, true),
        ("IPV4", 228, raw, false),
        ("IPV6", 229, raw, true),
        ("LINUX_SLL", 113, sll, false),
        ("LINUX_SLL IPv6", 113, sll, true),
        ("LINUX_SLL2", 276, sll2, false),
        ("LINUX_SLL2 IPv6", 276, sll2, true),
    ];
    for (name, linktype, framer, v6) in variants {
        let file = pcap_file(linktype, &records(v6, false, &framer), false, false);
        let t = analyse(file);
        assert_conversation(name, &t, v6, false);
    }
}

// ---------------------------------------------------------------------------
// pcapng: sections, interfaces, resolutions
// ---------------------------------------------------------------------------

/// Appends a block of a type dispel has no use for (a custom block), which
/// must not count as a packet.
fn other_block(ng: &mut PcapNg) {
    let body = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4];
    let len = 12 + body.len() as u32;
    ng.bytes.extend_from_slice(&0x0000_0bad_u32.to_le_bytes());
    ng.bytes.extend_from_slice(&len.to_le_bytes());
    ng.bytes.extend_from_slice(&body);
    ng.bytes.extend_from_slice(&len.to_le_bytes());
}

#[test]
fn pcapng_sections_and_interfaces_with_their_own_link_types_and_resolutions() {
    // Section 1: one Ethernet interface, µs. Records 1–3.
    // Section 2: Ethernet µs (local 0) and RAW ns (local 1); records 4–9
    // alternate between them.
    let segs = segs();
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    let mut record_times = Vec::new();
    let mut number = 0u64;
    for (i, seg) in segs.iter().enumerate().take(3) {
        let t = stamp(i, false);
        ng.packet(
            0,
            t.secs as u64,
            u64::from(t.nanos),
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
        number += 1;
        record_times.push((number, t));
    }
    other_block(&mut ng);
    ng.section();
    ng.interface(1, 6);
    ng.interface(101, 9);
    other_block(&mut ng);
    for (i, seg) in segs.iter().enumerate().skip(3) {
        let ip = ip_packet(seg, CLIENT, SERVER);
        let on_raw = i % 2 == 0;
        let t = stamp(i, on_raw);
        if on_raw {
            ng.packet(1, t.secs as u64, u64::from(t.nanos), &ip);
        } else {
            ng.packet(0, t.secs as u64, u64::from(t.nanos), &ethernet(&ip));
        }
        number += 1;
        record_times.push((number, t));
    }
    let t = analyse(ng.bytes);
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    assert_eq!(report.packets, number);
    assert_eq!(t.info.as_ref().unwrap().format, Format::PcapNg);
    assert_eq!(streams(&t, 0), expected_streams());
    // Frame numbers run across sections, counting only packet blocks.
    assert_eq!(shape(&t), expected_shape());
    assert_eq!(t.info.as_ref().unwrap().origin, record_times[0].1);
    for s in &t.steps {
        let (_, time) = record_times[s.frames[0] as usize - 1];
        assert_eq!(s.time, time, "{} at frame {}", s.kind, s.frames[0]);
    }
    // The ns interface kept its sub-µs digits: record 5 (index 4) is on it.
    let s2c_data = t
        .steps
        .iter()
        .find(|s| s.kind == "tcp.data" && s.dir.as_str() == "s2c")
        .unwrap();
    assert_eq!(s2c_data.frames.as_slice(), [5]);
    assert_eq!(s2c_data.time.nanos % 1000, 789);
}

/// SYNTHETIC: a pcapng section written in big-endian byte order (the
/// `support::PcapNg` writer only writes little-endian ones).
struct BigEndianSection {
    bytes: Vec<u8>,
}

impl BigEndianSection {
    fn block(&mut self, kind: u32, mut body: Vec<u8>) {
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        self.bytes.extend_from_slice(&kind.to_be_bytes());
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(&body);
        self.bytes.extend_from_slice(&len.to_be_bytes());
    }

    fn new() -> BigEndianSection {
        let mut s = BigEndianSection { bytes: Vec::new() };
        let mut b = Vec::new();
        b.extend_from_slice(&0x1a2b_3c4du32.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        s.block(0x0a0d_0d0a, b);
        s
    }

    /// An interface with a raw `if_tsresol` byte.
    fn interface(&mut self, linktype: u16, tsresol: u8) {
        let mut b = Vec::new();
        b.extend_from_slice(&linktype.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&9u16.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&[tsresol, 0, 0, 0]);
        b.extend_from_slice(&[0; 4]);
        self.block(1, b);
    }

    fn packet(&mut self, iface: u32, ticks: u64, data: &[u8]) {
        let mut b = Vec::new();
        b.extend_from_slice(&iface.to_be_bytes());
        b.extend_from_slice(&((ticks >> 32) as u32).to_be_bytes());
        b.extend_from_slice(&(ticks as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        self.block(6, b);
    }
}

/// Section 1 (little-endian, µs): records 1–4 on Ethernet. Section 2
/// (big-endian, the given raw `if_tsresol` byte of `units` per second):
/// records 5–9 on RAW, each at `BASE_SECS + i` s and `frac(i)` units.
/// Returns the trace and the expected time of each record of section 2.
fn little_then_big_endian(
    tsresol: u8,
    units: u64,
    frac: impl Fn(u64) -> u64,
) -> (Collect, Vec<Timestamp>) {
    let segs = segs();
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    for (i, seg) in segs.iter().enumerate().take(4) {
        let t = stamp(i, false);
        ng.packet(
            0,
            t.secs as u64,
            u64::from(t.nanos),
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
    }
    let mut be = BigEndianSection::new();
    be.interface(101, tsresol);
    let mut times = Vec::new();
    for (i, seg) in segs.iter().enumerate().skip(4) {
        let secs = BASE_SECS as u64 + i as u64;
        let f = frac(i as u64);
        be.packet(0, secs * units + f, &ip_packet(seg, CLIENT, SERVER));
        times.push(Timestamp {
            secs: secs as i64,
            nanos: (u128::from(f) * 1_000_000_000 / u128::from(units)) as u32,
        });
    }
    ng.bytes.extend_from_slice(&be.bytes);
    (analyse(ng.bytes), times)
}

fn assert_mixed_sections(t: &Collect, times: &[Timestamp]) {
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    assert_eq!(report.packets, 9);
    assert_eq!(streams(t, 0), expected_streams());
    assert_eq!(shape(t), expected_shape());
    for s in t.steps.iter().filter(|s| s.frames[0] >= 5) {
        assert_eq!(s.time, times[s.frames[0] as usize - 5], "{}", s.kind);
    }
}

#[test]
fn pcapng_big_endian_section_after_a_little_endian_one() {
    let (t, times) = little_then_big_endian(9, 1_000_000_000, |i| 987_654_321 - i);
    assert_mixed_sections(&t, &times);
    let fin = t.steps.iter().find(|s| s.kind == "tcp.fin").unwrap();
    assert_eq!(fin.frames.as_slice(), [7]);
    assert_eq!(fin.time.nanos, 987_654_315);
}

#[test]
fn pcapng_power_of_two_timestamp_resolution() {
    // if_tsresol 0x80 | 20: 2^20 units per second; a quarter second + i.
    let (t, times) = little_then_big_endian(0x80 | 20, 1 << 20, |i| 0x4_0000 + i);
    assert_mixed_sections(&t, &times);
    let fin = t.steps.iter().find(|s| s.kind == "tcp.fin").unwrap();
    assert_eq!(fin.time.nanos, 250_005_722);
}

#[test]
fn pcapng_unsupported_link_type_is_one_notice_per_interface() {
    // One section: Ethernet (interface 0) carries the conversation; link
    // type 147 (interface 1) carries three packets in between.
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    ng.interface(147, 6);
    let mut frames_of_segs = Vec::new();
    let mut number = 0u64;
    for (i, seg) in segs().iter().enumerate() {
        if i == 1 || i == 4 || i == 5 {
            ng.packet(1, BASE_SECS as u64, 0, b"\x01\x02user-dlt-bytes");
            number += 1;
        }
        ng.packet(
            0,
            BASE_SECS as u64 + i as u64,
            0,
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
        number += 1;
        frames_of_segs.push(number);
    }
    let t = analyse(ng.bytes);
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    assert_eq!(
        report
            .notices
            .iter()
            .map(|n| n.message.as_str())
            .collect::<Vec<_>>(),
        ["interface 1: link type 147 is not supported; 3 packets skipped"]
    );
    assert_eq!(report.packets, 12);
    assert_eq!(report.tcp_packets, 9);
    assert_eq!(streams(&t, 0), expected_streams());
    // Skipped packets still take their numbers.
    let expected: Vec<_> = expected_shape()
        .into_iter()
        .map(|(k, d, f)| (k, d, vec![frames_of_segs[f[0] as usize - 1]]))
        .collect();
    assert_eq!(shape(&t), expected);
}

#[test]
fn pcapng_interface_numbers_run_across_sections() {
    // Section 1 has interface 0; in section 2, local interface 1 (link type
    // 147) is the file's interface 2, as Wireshark numbers it.
    let segs = segs();
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    for (i, seg) in segs.iter().enumerate().take(4) {
        ng.packet(
            0,
            BASE_SECS as u64 + i as u64,
            0,
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
    }
    ng.section();
    ng.interface(1, 9);
    ng.interface(147, 9);
    for (i, seg) in segs.iter().enumerate().skip(4) {
        ng.packet(1, BASE_SECS as u64, 0, b"opaque");
        ng.packet(
            0,
            BASE_SECS as u64 + i as u64,
            0,
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
    }
    let t = analyse(ng.bytes);
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    let notices: Vec<&str> = report.notices.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        notices,
        ["interface 2: link type 147 is not supported; 5 packets skipped"]
    );
    assert_eq!(streams(&t, 0), expected_streams());
}

/// A packet block naming an interface no IDB of its section describes
/// (SYNTHETIC: section 2 has one interface, a packet names interface 7, as
/// in the file Wireshark refuses with "interface index 7 is not less than
/// section interface count 1"): the file is malformed at that block's
/// offset; every packet before it is still decoded, nothing after.
#[test]
fn pcapng_packet_on_an_undescribed_interface_is_an_error_at_its_offset() {
    let segs = segs();
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    ng.interface(1, 6);
    ng.section();
    ng.interface(1, 6);
    for (i, seg) in segs.iter().enumerate().take(4) {
        ng.packet(
            0,
            BASE_SECS as u64 + i as u64,
            0,
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
    }
    let offset = ng.bytes.len();
    // Interface 1 existed in the first section, not in this one.
    for bad in [7, 1] {
        let mut ng = ng.clone();
        ng.packet_ticks(bad, 0, &ethernet(&ip_packet(&segs[4], CLIENT, SERVER)));
        ng.section();
        ng.interface(1, 6);
        ng.packet(
            0,
            BASE_SECS as u64,
            0,
            &ethernet(&ip_packet(&segs[5], CLIENT, SERVER)),
        );
        let t = analyse(ng.bytes);
        let error = t.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&format!("at byte {offset}"))
                && error.contains(&format!("interface {bad} is not described")),
            "{error:?}"
        );
        let report = t.report.as_ref().unwrap();
        assert_eq!(report.packets, 4, "the packets before it, and no more");
        assert!(
            report
                .notices
                .iter()
                .all(|n| !n.message.contains("link type"))
        );
        assert_eq!(shape(&t), expected_shape()[..3].to_vec());
    }

    // A simple packet block belongs to interface 0: without an IDB it is
    // malformed too.
    let mut ng = PcapNg::default();
    ng.section();
    let offset = ng.bytes.len();
    ng.simple_packet(&ethernet(&ip_packet(&segs[0], CLIENT, SERVER)));
    let t = analyse(ng.bytes);
    let error = t.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(&format!("at byte {offset}")) && error.contains("interface 0"),
        "{error:?}"
    );
}

/// The same file through the binary: exit 2, one `dispel: FILE: …` line
/// naming the offset on stderr, the steps before it on stdout.
#[test]
fn pcapng_undescribed_interface_exits_2_after_printing_what_came_before() {
    let segs = segs();
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    for (i, seg) in segs.iter().enumerate().take(2) {
        ng.packet(
            0,
            BASE_SECS as u64 + i as u64,
            0,
            &ethernet(&ip_packet(seg, CLIENT, SERVER)),
        );
    }
    let offset = ng.bytes.len();
    ng.packet_ticks(3, 0, &ethernet(&ip_packet(&segs[2], CLIENT, SERVER)));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad-interface.pcapng");
    std::fs::write(&file, &ng.bytes).unwrap();
    for format in ["text", "ndjson"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dispel"))
            .args(["explain", "--format", format])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("dispel: ")
                && stderr.contains("bad-interface.pcapng")
                && stderr.contains(&format!("at byte {offset}")),
            "{stderr}"
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("tcp.syn-ack"), "{format}: {stdout}");
    }
}

// ---------------------------------------------------------------------------
// Non-TCP, fragments, snap length
// ---------------------------------------------------------------------------

fn udp_v4() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 1, 2, 3], [10, 9, 8, 7], 64)
        .udp(5353, 5353)
        .write(&mut out, b"not tcp")
        .unwrap();
    out
}

fn udp_v6() -> Vec<u8> {
    let mut out = Vec::new();
    let a = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let b = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(a, b, 64)
        .udp(546, 547)
        .write(&mut out, b"also not tcp")
        .unwrap();
    out
}

#[test]
fn non_tcp_packets_are_counted_and_skipped() {
    // UDP over IPv4 as record 3, UDP over IPv6 as record 6.
    let mut recs: Vec<Vec<u8>> = segs()
        .iter()
        .map(|s| ethernet(&ip_packet(s, CLIENT, SERVER)))
        .collect();
    recs.insert(2, udp_v4());
    recs.insert(5, udp_v6());
    let t = analyse(pcap(1, &recs));
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    assert_eq!(report.packets, 11);
    assert_eq!(report.tcp_packets, 9);
    assert_eq!(report.non_tcp_packets, 2);
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    assert_eq!(streams(&t, 0), expected_streams());
    // Record numbers of the TCP segments after the insertions.
    let renumber = |f: u64| match f {
        1 | 2 => f,
        3 | 4 => f + 1,
        _ => f + 2,
    };
    let expected: Vec<_> = expected_shape()
        .into_iter()
        .map(|(k, d, f)| (k, d, vec![renumber(f[0])]))
        .collect();
    assert_eq!(shape(&t), expected);
}

#[test]
fn a_record_larger_than_the_read_buffer_is_read_whole() {
    // Record 1: a 300 000-byte Ethernet frame of a local experimental
    // ethertype (not IP), larger than the reader's 256 KiB buffer; then the
    // conversation, records 2–10.
    let mut big = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5];
    big.resize(300_000, 0xa5);
    let mut recs = vec![big];
    recs.extend(
        segs()
            .iter()
            .map(|s| ethernet(&ip_packet(s, CLIENT, SERVER))),
    );
    let t = analyse(pcap(1, &recs));
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    assert_eq!(report.packets, 10);
    assert_eq!(report.non_tcp_packets, 1);
    assert_eq!(streams(&t, 0), expected_streams());
    let expected: Vec<_> = expected_shape()
        .into_iter()
        .map(|(k, d, f)| (k, d, vec![f[0] + 1]))
        .collect();
    assert_eq!(shape(&t), expected);
}

/// Sets an IPv4 header's flags / fragment offset field and fixes the
/// header checksum.
fn set_fragment_field(ip: &mut [u8], more_fragments: bool, offset_units: u16) {
    let v = (u16::from(more_fragments) << 13) | (offset_units & 0x1fff);
    ip[6..8].copy_from_slice(&v.to_be_bytes());
    ip[10..12].copy_from_slice(&[0, 0]);
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let mut sum: u32 = ip[..ihl]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[test]
fn ipv4_fragments_are_reported_with_the_packet_number() {
    // Record 4 (the first c2s data segment) goes out as a first fragment
    // (more-fragments set); record 10 is a trailing fragment (offset 185 ×
    // 8 bytes) of the same protocol.
    let segs = segs();
    let mut recs: Vec<Vec<u8>> = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let mut ip = ip_packet(seg, CLIENT, SERVER);
        if i == 3 {
            set_fragment_field(&mut ip, true, 0);
            assert!(etherparse::Ipv4HeaderSlice::from_slice(&ip).is_ok());
        }
        recs.push(ethernet(&ip));
    }
    let mut tail = ip_packet(&segs[4], CLIENT, SERVER);
    set_fragment_field(&mut tail, false, 185);
    recs.push(ethernet(&tail));
    let t = analyse(pcap(1, &recs));
    assert_eq!(t.error, None);
    let report = t.report.as_ref().unwrap();
    let frag: Vec<&str> = report
        .notices
        .iter()
        .map(|n| n.message.as_str())
        .filter(|m| m.contains("fragment"))
        .collect();
    assert_eq!(frag.len(), 1, "{:?}", report.notices);
    assert!(frag[0].contains("packet 4"), "{}", frag[0]);
    assert!(frag[0].starts_with("2 IP fragments"), "{}", frag[0]);
    assert_eq!(report.tcp_packets, 8);
    // The fragment's bytes are not silently lost: the hole is a gap.
    let [c2s, s2c] = streams(&t, 0);
    let mut expected = vec![b'?'; C2S_1.len()];
    expected.extend_from_slice(C2S_2);
    assert_eq!(c2s, expected);
    assert_eq!(s2c, S2C_1);
}

#[test]
fn a_packet_cut_by_the_snap_length_becomes_a_gap_of_the_missing_bytes() {
    let payload: Vec<u8> = (0..100u8).map(|b| b ^ 0x80).collect();
    let segs = conversation(500, 9000, &[(true, &payload), (false, S2C_1)]);
    let mut recs = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let data = ethernet(&ip_packet(seg, CLIENT, SERVER));
        let orig_len = data.len() as u32;
        // Record 4 carries the 100 payload bytes; keep all but the last 40.
        let data = if i == 3 {
            data[..data.len() - 40].to_vec()
        } else {
            data
        };
        recs.push(Rec {
            data,
            orig_len,
            time: stamp(i, false),
        });
    }
    let t = analyse(pcap_file(1, &recs, false, false));
    assert_eq!(t.error, None);
    let gaps: Vec<_> = t.steps.iter().filter(|s| s.kind == "tcp.gap").collect();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].frames.as_slice(), [4]);
    assert_eq!(gaps[0].dir.as_str(), "c2s");
    assert_eq!(
        gaps[0].field("dispel.gap.len").map(|f| &f.value),
        Some(&Value::UInt(40))
    );
    assert_eq!(
        gaps[0].field("tcp.seq").map(|f| &f.value),
        Some(&Value::UInt(61))
    );
    let [c2s, s2c] = streams(&t, 0);
    let mut expected = payload[..60].to_vec();
    expected.extend_from_slice(&[b'?'; 40]);
    assert_eq!(c2s, expected);
    assert_eq!(s2c, S2C_1);
}

// ---------------------------------------------------------------------------
// Real captures
// ---------------------------------------------------------------------------

fn tshark_count(path: &Path) -> Option<u64> {
    if !tools::have("tshark") {
        return None;
    }
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("run tshark");
    assert!(out.status.success());
    Some(String::from_utf8_lossy(&out.stdout).lines().count() as u64)
}

/// The independent walker agrees with Wireshark on every real capture's
/// record count (the `real_*` tests then hold dispel to the walker).
#[test]
#[cfg_attr(
    dispel_missing_tshark,
    ignore = "tshark is not installed: record counts are not compared with Wireshark"
)]
fn real_capture_record_counts_match_tshark() {
    for path in tools::captures() {
        let walked = walk(&std::fs::read(&path).unwrap());
        let n = tshark_count(&path).expect("tshark");
        assert_eq!(walked.records, n, "{}: walker vs tshark", path.display());
    }
}

fn run_real(name: &str) -> (Collect, Walk) {
    let path = tools::root().join("captures").join(name);
    let walked = walk(&std::fs::read(&path).unwrap());
    let mut sink = Collect::default();
    let result = analyze::run_file(&path, &Options::default(), &mut sink);
    assert!(result.is_ok(), "{name}: {:?}", result.err());
    (sink, walked)
}

fn check_real(name: &str, format: Format, v6: bool, server_port: u16) {
    let (t, walked) = run_real(name);
    assert_eq!(t.error, None, "{name}");
    let report = t.report.as_ref().unwrap();
    assert!(report.notices.is_empty(), "{name}: {:?}", report.notices);
    assert_eq!(report.packets, walked.records, "{name}: packets");
    assert_eq!(report.tcp_packets, walked.records, "{name}: all TCP");
    let info = t.info.as_ref().unwrap();
    assert_eq!(info.format, format, "{name}");
    assert_eq!(info.origin, walked.first, "{name}: origin");
    assert!(t.connections.len() >= 2, "{name}: connections");
    for c in &t.connections {
        assert_eq!(c.client.is_ipv6(), v6, "{name}: {}", c.client);
        assert_eq!(c.server.is_ipv6(), v6, "{name}: {}", c.server);
        assert_eq!(c.server.port(), server_port, "{name}");
    }
    assert_eq!(t.steps[0].kind, "tcp.syn");
    assert_eq!(t.steps[0].frames.as_slice(), [1]);
    for s in &t.steps {
        assert!(s.time >= info.origin, "{name}: step before origin");
        assert!(
            s.frames.iter().all(|&f| f >= 1 && f <= walked.records),
            "{name}: frames {:?}",
            s.frames
        );
    }
}

#[test]
fn real_pcapng_ipv6_nanosecond_capture() {
    check_real("flask-socketio-ipv6.pcapng", Format::PcapNg, true, 5009);
}

#[test]
fn real_nanosecond_pcap_linux_sll2_capture() {
    check_real(
        "flask-socketio-any.pcap",
        Format::Pcap {
            nanosecond: true,
            big_endian: false,
        },
        false,
        5010,
    );
}

/// The ndjson step writer (`output::jsonw`) writes, byte for byte, what
/// serde_json writes for `json::step`'s value: on every step of every
/// real capture and every hostile one.
#[test]
fn ndjson_step_writer_matches_serde_on_every_capture() {
    let mut files = tools::captures();
    for e in std::fs::read_dir(tools::root().join("tests/hostile")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            files.push(p);
        }
    }
    let mut steps = 0;
    for path in &files {
        let mut sink = Collect::default();
        let _ = analyze::run_file(path, &Options::default(), &mut sink);
        let origin = sink.info.as_ref().map(|i| i.origin).unwrap_or_default();
        let real = path.parent().is_some_and(|d| d.ends_with("captures"));
        assert!(
            !real || !sink.steps.is_empty(),
            "{}: no steps",
            path.display()
        );
        for (i, s) in sink.steps.iter().enumerate() {
            let number = i as u64 + 1;
            // serde_json with dispel's escaping rule (C1, DEL, BiDi too).
            let mut want = Vec::new();
            dispel::output::jsonw::to_writer(
                &mut want,
                &dispel::output::json::step(s, number, origin),
            )
            .unwrap();
            let mut got = Vec::new();
            dispel::output::jsonw::step(&mut got, s, number, origin);
            assert!(
                got == want,
                "{}: step {number}\n got: {}\nwant: {}",
                path.display(),
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
            steps += 1;
        }
    }
    assert!(steps > 2_000, "only {steps} steps compared");
}
