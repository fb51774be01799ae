//! TCP reassembly (src/tcp.rs): the input is read as a sequence of segments
//! on a handful of flows, so the fuzzer explores retransmissions, overlaps
//! with conflicting bytes, holes, out-of-order floods, FIN/RST in odd places.
//!
//! Each segment: 1 byte flow (low 2 bits: which of 4 address pairs; bit 2:
//! direction), 1 byte flags, 4 bytes sequence number (big-endian; bit 7 of
//! the flow byte makes it relative to the flow's last one, so in-window
//! offsets are likely), 1 byte payload length (0..=255), the payload.
//!
//! Invariants: every Data event of a direction starts exactly where the
//! previous Data or Gap of that direction ended (a gap-free, overlap-free
//! stream); Open comes before any other event of a connection; the bytes
//! held out of order never exceed the per-direction limit.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use dispel::link::{Flags, Segment};
use dispel::step::{Dir, Timestamp};
use dispel::tcp::{Event, Limits, Provenance, Reassembler};
use libfuzzer_sys::fuzz_target;

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), port)
}

fuzz_target!(|data: &[u8]| {
    // Small limits so the fuzzer reaches them.
    let limits = Limits {
        max_pending_bytes: 2048,
        max_pending_segments: 16,
        ..Limits::default()
    };
    let mut r = Reassembler::new(limits);
    let mut next: HashMap<(u32, Dir), u64> = HashMap::new();
    let mut opened: Vec<u32> = Vec::new();
    let mut check = |id: u32, ev: Event| match ev {
        Event::Open(meta) => {
            assert_eq!(meta.id, id);
            assert!(!opened.contains(&id), "connection opened twice");
            opened.push(id);
        }
        Event::Data { dir, offset, data, .. } => {
            assert!(opened.contains(&id));
            assert!(!data.is_empty(), "empty data event");
            let at = next.entry((id, dir)).or_insert(offset);
            assert_eq!(*at, offset, "data does not continue the stream");
            *at = offset + data.len() as u64;
        }
        Event::Gap { dir, offset, len, .. } => {
            assert!(opened.contains(&id));
            let at = next.entry((id, dir)).or_insert(offset);
            assert_eq!(*at, offset, "gap does not continue the stream");
            *at = offset + len;
        }
        Event::Control { .. } | Event::Anomaly { .. } => assert!(opened.contains(&id)),
    };
    let mut last_seq = [0u32; 8];
    let mut i = 0;
    let mut frame = 0;
    while i + 7 <= data.len() {
        let flow = data[i];
        let f = data[i + 1];
        let raw_seq = u32::from_be_bytes([data[i + 2], data[i + 3], data[i + 4], data[i + 5]]);
        let len = usize::from(data[i + 6]);
        i += 7;
        let payload = &data[i..(i + len).min(data.len())];
        i += payload.len();
        let pair = usize::from(flow & 3);
        let reverse = flow & 4 != 0;
        let slot = pair * 2 + usize::from(reverse);
        let seq = if flow & 0x80 != 0 {
            // Relative: a small signed step from the last sequence number.
            last_seq[slot].wrapping_add((raw_seq as i16) as i32 as u32)
        } else {
            raw_seq
        };
        last_seq[slot] = seq.wrapping_add(payload.len() as u32);
        let (client, server) = (addr(1, 40000 + pair as u16), addr(2, 80));
        let (src, dst) = if reverse { (server, client) } else { (client, server) };
        let flags = Flags {
            syn: f & 1 != 0,
            ack: f & 2 != 0,
            fin: f & 4 != 0,
            rst: f & 8 != 0,
            psh: f & 16 != 0,
        };
        let seg = Segment {
            src,
            dst,
            seq,
            ack: raw_seq.rotate_left(7),
            flags,
            window: 512,
            header: &[],
            payload,
            missing: if f & 0x20 != 0 { u32::from(f >> 6) * 100 } else { 0 },
        };
        frame += 1;
        let at = Provenance {
            frame,
            time: Timestamp { secs: frame as i64, nanos: 0 },
        };
        r.push(&seg, at, &mut check);
        let conns = r.stats().count().max(1);
        assert!(
            r.pending_bytes() <= 2 * conns * (limits.max_pending_bytes + 256),
            "held {} bytes out of order over {conns} connections",
            r.pending_bytes()
        );
    }
    r.finish(&mut check);
});
