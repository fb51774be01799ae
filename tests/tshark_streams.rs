//! Agreement with Wireshark on TCP reassembly: for every real capture in
//! `captures/` and every connection, the bytes dispel's reassembler delivers
//! in each direction equal tshark's `follow,tcp,raw` output.
//!
//! Needs tshark: skipped when it is missing, except under `CI=true`, where a
//! missing tshark fails the test.

mod tools;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dispel::capture::CaptureReader;
use dispel::link::{self, Decoded};
use dispel::step::Dir;
use dispel::tcp::{Event, Limits, Provenance, Reassembler};

/// dispel's reassembled streams: conn → [client bytes, server bytes, client
/// endpoint], gaps filled with nothing (they must not occur here).
fn dispel_streams(path: &Path) -> BTreeMap<u32, ([Vec<u8>; 2], String, u64)> {
    let mut reader = CaptureReader::open(path, 1 << 24).unwrap();
    let mut r = Reassembler::new(Limits::default());
    let mut out: BTreeMap<u32, ([Vec<u8>; 2], String, u64)> = BTreeMap::new();
    let mut on_event = |id: u32, e: Event| match e {
        Event::Open(m) => {
            out.insert(id, ([vec![], vec![]], m.client.to_string(), 0));
        }
        Event::Data { dir, data, .. } => {
            out.get_mut(&id).unwrap().0[dir.index()].extend_from_slice(data)
        }
        Event::Gap { len, .. } => out.get_mut(&id).unwrap().2 += len,
        _ => {}
    };
    while let Some(p) = reader.next_packet().unwrap() {
        if let Decoded::Tcp(seg) = link::decode(p.linktype, p.data) {
            let at = Provenance {
                frame: p.number,
                time: p.time,
            };
            r.push(&seg, at, &mut on_event);
        }
    }
    r.finish(&mut on_event);
    out
}

/// tshark's view of one connection: node 0's bytes, node 1's bytes, node 0.
fn tshark_follow(path: &Path, stream: u32) -> ([Vec<u8>; 2], String) {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args([
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-q",
            "-z",
            &format!("follow,tcp,raw,{stream}"),
        ])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark failed: {:?}", out);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut node0 = String::new();
    let mut data = [Vec::new(), Vec::new()];
    let mut body = false;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Node 0: ") {
            node0 = n.trim().to_string();
            continue;
        }
        if line.starts_with("Node 1: ") {
            body = true;
            continue;
        }
        if !body || line.starts_with("====") || line.is_empty() {
            continue;
        }
        let (who, hex) = match line.strip_prefix('\t') {
            Some(h) => (1, h),
            None => (0, line),
        };
        data[who].extend(hex::decode(hex.trim()).expect("hex from tshark"));
    }
    (data, node0)
}

#[test]
#[cfg_attr(
    dispel_missing_tshark,
    ignore = "tshark is not installed: streams are not compared with Wireshark's Follow Stream"
)]
fn reassembled_streams_equal_tsharks_follow_stream() {
    if !tools::have("tshark") {
        return;
    }
    let mut checked = 0;
    for path in tools::captures() {
        let ours = dispel_streams(&path);
        assert!(!ours.is_empty(), "{}: no connections", path.display());
        for (id, (streams, client, gap_bytes)) in &ours {
            assert_eq!(
                *gap_bytes,
                0,
                "{} conn {id}: unexpected gap",
                path.display()
            );
            let (theirs, node0) = tshark_follow(&path, *id);
            // tshark's node 0 is whoever sent the stream's first packet; in
            // these captures that is the client (every one starts with a SYN).
            assert_eq!(&node0, client, "{} conn {id}: endpoints", path.display());
            for d in [Dir::C2s, Dir::S2c] {
                assert!(
                    streams[d.index()] == theirs[d.index()],
                    "{} conn {id} {}: dispel has {} bytes, tshark {}",
                    path.display(),
                    d.as_str(),
                    streams[d.index()].len(),
                    theirs[d.index()].len()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 11, "only {checked} connections compared");
}
