//! Extracts the seed corpora of the fuzz targets from the real captures in
//! ../captures (run from fuzz/: `cargo run --example seeds`). Every seed is
//! a slice of a recorded conversation, framed the way its target reads its
//! input (see each target's doc comment): whole small captures for
//! `capture` / `pipeline`, segments for `tcp`, stream heads for `http`,
//! frame streams for `ws_frame`, compressed messages for `ws_deflate`,
//! WebSocket messages and polling bodies for `engineio`, and packet texts
//! for `socketio`. Deterministic: the same captures give the same files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use dispel::capture::CaptureReader;
use dispel::link::{self, Decoded};
use dispel::proto::http::{self, Parse};
use dispel::proto::ws::{FrameHeader, OpCode, mask::apply_mask};
use dispel::step::{Dir, Timestamp};
use dispel::tcp::{Event, Limits, Provenance, Reassembler};

const MAX_SEED: usize = 16 * 1024;

struct Seeds {
    out: BTreeMap<&'static str, Vec<Vec<u8>>>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, bytes: Vec<u8>) {
        let v = self.out.entry(target).or_default();
        if bytes.len() <= MAX_SEED && !v.contains(&bytes) && v.len() < 40 {
            v.push(bytes);
        }
    }
}

fn main() {
    let captures = Path::new("../captures");
    let mut files: Vec<_> = fs::read_dir(captures)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    let mut seeds = Seeds { out: BTreeMap::new() };
    for path in &files {
        let bytes = fs::read(path).unwrap();
        if bytes.len() <= 64 * 1024 {
            seeds.add("capture", bytes.clone());
        }
        extract(&bytes, &mut seeds);
    }
    for (target, list) in &seeds.out {
        let dir = Path::new("seeds").join(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, s) in list.iter().enumerate() {
            fs::write(dir.join(format!("capture-{i:03}")), s).unwrap();
        }
        println!("{target}: {} seeds", list.len());
    }
}

fn extract(bytes: &[u8], seeds: &mut Seeds) {
    let mut r = CaptureReader::new(std::io::Cursor::new(bytes.to_vec()), None, 1 << 24).unwrap();
    let mut reasm = Reassembler::new(Limits::default());
    let mut streams: BTreeMap<(u32, Dir), Vec<u8>> = BTreeMap::new();
    let mut tcp_seed: Vec<u8> = Vec::new();
    let mut flows: Vec<(std::net::SocketAddr, std::net::SocketAddr)> = Vec::new();
    while let Ok(Some(p)) = r.next_packet() {
        let Decoded::Tcp(seg) = link::decode(p.linktype, p.data) else {
            continue;
        };
        // The tcp target's framing: flow, flags, seq, len, payload.
        let key = if seg.src < seg.dst { (seg.src, seg.dst) } else { (seg.dst, seg.src) };
        let pair = flows.iter().position(|f| *f == key).unwrap_or_else(|| {
            flows.push(key);
            flows.len() - 1
        });
        if pair < 4 && tcp_seed.len() < 8 * 1024 {
            let reverse = seg.src != key.0;
            let f = seg.flags;
            let flags = u8::from(f.syn) | u8::from(f.ack) << 1 | u8::from(f.fin) << 2
                | u8::from(f.rst) << 3 | u8::from(f.psh) << 4;
            let mut seq = seg.seq;
            let mut chunks: Vec<&[u8]> = seg.payload.chunks(255).collect();
            if chunks.is_empty() {
                chunks.push(&[]);
            }
            for c in chunks {
                tcp_seed.push(pair as u8 | if reverse { 4 } else { 0 });
                tcp_seed.push(flags);
                tcp_seed.extend_from_slice(&seq.to_be_bytes());
                tcp_seed.push(c.len() as u8);
                tcp_seed.extend_from_slice(c);
                seq = seq.wrapping_add(c.len() as u32);
            }
        }
        let at = Provenance { frame: p.number, time: Timestamp::default() };
        reasm.push(&seg, at, &mut |id, ev| {
            if let Event::Data { dir, data, .. } = ev {
                streams.entry((id, dir)).or_default().extend_from_slice(data);
            }
        });
    }
    reasm.finish(&mut |id, ev| {
        if let Event::Data { dir, data, .. } = ev {
            streams.entry((id, dir)).or_default().extend_from_slice(data);
        }
    });
    seeds.add("tcp", tcp_seed);

    for ((_, dir), stream) in &streams {
        // HTTP: the start of every stream (control byte 0: default limits).
        let mut h = vec![0u8];
        h.extend_from_slice(&stream[..stream.len().min(4096)]);
        seeds.add("http", h);
        // Polling bodies and WebSocket frames after a head.
        let head = match dir {
            Dir::C2s => http::parse_request_head(stream, &Default::default()),
            Dir::S2c => http::parse_response_head(stream, &Default::default()),
        };
        let Parse::Complete(head) = head else { continue };
        let rest = &stream[head.len..];
        let upgraded = head.status() == Some(101)
            || head.has_token("upgrade", "websocket");
        if !upgraded {
            if let Some(cl) = head.header("content-length").and_then(|h| h.value.parse::<usize>().ok()) {
                let body = &rest[..cl.min(rest.len())];
                let ct = head.header("content-type").map(|h| h.value.clone()).unwrap_or_default();
                let mut e = vec![0u8];
                e.extend_from_slice(body);
                if !ct.contains("octet") && !body.is_empty() {
                    seeds.add("engineio", e);
                }
            }
            continue;
        }
        let mut frames = vec![0u8];
        frames.extend_from_slice(&rest[..rest.len().min(4096)]);
        seeds.add("ws_frame", frames.clone());
        frames[0] = 1; // with permessage-deflate
        seeds.add("ws_frame", frames);
        // Walk the frames for messages.
        let mut at = rest;
        let mut deflate_seed = vec![0u8];
        let mut sio_seed = Vec::new();
        while let Some(fh) = FrameHeader::parse(at) {
            let end = fh.header_len as u64 + fh.payload_len;
            if end > at.len() as u64 {
                break;
            }
            let mut payload = at[fh.header_len..end as usize].to_vec();
            if let Some(k) = fh.mask {
                apply_mask(&mut payload, k, 0);
            }
            at = &at[end as usize..];
            if fh.rsv1() && payload.len() < 65536 {
                deflate_seed.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                deflate_seed.extend_from_slice(&payload);
            }
            if fh.opcode == OpCode::Text || fh.opcode == OpCode::Binary {
                let mut e = vec![0u8];
                e.extend_from_slice(&payload);
                seeds.add("engineio", e);
                let text = fh.opcode == OpCode::Text;
                if text && payload.first() == Some(&b'4') && payload.len() < 257 {
                    sio_seed.push(0); // text, protocol v5
                    sio_seed.push((payload.len() - 1) as u8);
                    sio_seed.extend_from_slice(&payload[1..]);
                } else if !text && payload.len() < 256 {
                    sio_seed.push(1);
                    sio_seed.push(payload.len() as u8);
                    sio_seed.extend_from_slice(&payload);
                }
            }
        }
        if deflate_seed.len() > 1 {
            seeds.add("ws_deflate", deflate_seed.clone());
            deflate_seed[0] = 1; // no context takeover
            seeds.add("ws_deflate", deflate_seed);
        }
        if !sio_seed.is_empty() {
            seeds.add("socketio", sio_seed);
        }
    }
}
