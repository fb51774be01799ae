//! Criterion micro-benchmarks for dispel's hot paths: the WebSocket frame
//! header parse, unmasking, TCP segment delivery, and Engine.IO / Socket.IO
//! decoding. The inputs are synthetic (built here), sized like the traffic
//! of `bench/run.sh`'s real captures. Whole-capture numbers against tshark
//! come from `bench/run.sh`, not from here.
//!
//! Run: `cargo bench --bench hot` (add `-- unmask` to run one group).

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dispel::link::{Flags, Segment};
use dispel::proto::engineio::{self, Version};
use dispel::proto::socketio::{self, Protocol};
use dispel::proto::ws::frame::FrameHeader;
use dispel::proto::ws::mask::apply_mask;
use dispel::step::Timestamp;
use dispel::tcp::{Limits, Provenance, Reassembler};

fn frame_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_header_parse");
    // 7-bit unmasked server frame, 16-bit masked client frame, 64-bit form.
    let cases: [(&str, &[u8]); 3] = [
        ("7bit", &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']),
        ("16bit_masked", &[0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4]),
        ("64bit", &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0x11, 0x70]),
    ];
    for (name, bytes) in cases {
        g.bench_function(name, |b| b.iter(|| FrameHeader::parse(black_box(bytes))));
    }
    g.finish();
}

fn unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    for len in [125usize, 4096, 70_000] {
        let mut buf = vec![0x5au8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), [0x37, 0xfa, 0x21, 0x3d], 1))
        });
    }
    g.finish();
}

fn tcp_delivery(c: &mut Criterion) {
    // One connection: a handshake, then 1,000 in-order 1,448-byte segments
    // each way (Ethernet-sized, as at MTU 1500).
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let server: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let payload = vec![0x42u8; 1448];
    let seg = |src, dst, seq: u32, ack: u32, flags: Flags, payload: &'static [u8]| Segment {
        src,
        dst,
        seq,
        ack,
        flags,
        window: 65535,
        header: &[],
        payload,
        missing: 0,
    };
    let payload: &'static [u8] = Box::leak(payload.into_boxed_slice());
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    let synack = Flags {
        syn: true,
        ack: true,
        ..Flags::default()
    };
    let ack = Flags {
        ack: true,
        ..Flags::default()
    };
    let mut segments = vec![
        seg(client, server, 1000, 0, syn, &[]),
        seg(server, client, 5000, 1001, synack, &[]),
    ];
    for i in 0..1000u32 {
        segments.push(seg(client, server, 1001 + i * 1448, 5001, ack, payload));
        segments.push(seg(
            server,
            client,
            5001 + i * 1448,
            1001 + (i + 1) * 1448,
            ack,
            payload,
        ));
    }
    let bytes = 2 * 1000 * 1448;
    let mut g = c.benchmark_group("tcp_delivery");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("in_order_2000_segments", |b| {
        b.iter(|| {
            let mut r = Reassembler::new(Limits::default());
            let mut delivered = 0usize;
            for (i, s) in segments.iter().enumerate() {
                let at = Provenance {
                    frame: i as u64 + 1,
                    time: Timestamp { secs: 0, nanos: 0 },
                };
                r.push(s, at, &mut |_, e| {
                    if let dispel::tcp::Event::Data { data, .. } = e {
                        delivered += data.len();
                    }
                });
            }
            black_box(delivered)
        })
    });
    g.finish();
}

fn engineio_socketio(c: &mut Criterion) {
    let mut g = c.benchmark_group("engineio_socketio_decode");
    let text = r#"42["chat",{"n":1234,"from":2,"text":"hello 1234"}]"#;
    g.bench_function("engineio_ws_text", |b| {
        b.iter(|| engineio::decode_ws_text(Version::V4, black_box(text)))
    });
    let limits = socketio::Limits::default();
    let sio = &text[1..];
    g.bench_function("socketio_event", |b| {
        b.iter(|| socketio::decode(black_box(sio), Protocol::V5, &limits))
    });
    // What `check` decodes: the same payload, validated, kept as a sketch.
    g.bench_function("socketio_event_sketch", |b| {
        b.iter(|| {
            socketio::decode_with(
                black_box(sio),
                Protocol::V5,
                &limits,
                socketio::Payload::Sketch,
            )
        })
    });
    let ack = r#"431[{"ok":true,"n":1234}]"#;
    g.bench_function("socketio_ack", |b| {
        b.iter(|| socketio::decode(black_box(&ack[1..]), Protocol::V5, &limits))
    });
    g.finish();
}

criterion_group!(
    benches,
    frame_header,
    unmask,
    tcp_delivery,
    engineio_socketio
);
criterion_main!(benches);
