//! Agreement with Wireshark on WebSocket frames: for every frame in every
//! real capture, dispel's `fin`, `rsv`, `opcode`, `mask`, `masking_key`,
//! `payload_length` (with its 16- and 64-bit extensions) and unmasked
//! payload equal tshark's dissection of the same capture (`tshark -2`-style
//! out-of-order reassembly on, `-d tcp.port==PORT,http`, unmasked payload
//! from `websocket.payload_raw` with `-T json -x`).
//!
//! The one exception, stated rather than loosened: tshark keeps parsing
//! frames after bytes that are not frames (an HTTP response a server wrote
//! onto the WebSocket, bytes after a Close that do not parse as a frame).
//! dispel reports those bytes once (`websocket.desync` /
//! `websocket.after-close`) and stops; tshark's "frames" in that direction
//! after that point are not compared, and the test counts them.
//!
//! TLS captures are compared decrypted: dispel and tshark both read the
//! key log beside the capture (`NAME.keys`, `-o tls.keylog_file:`), or the
//! one a pcapng carries as a Decryption Secrets Block.
//!
//! Needs tshark: skipped when missing, except under `CI=true`.

mod support;
mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use dispel::step::{Dir, Step, Value};
use serde_json::Value as J;

/// The compared facts of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    fin: bool,
    rsv: u64,
    opcode: u64,
    mask: bool,
    masking_key: Option<String>,
    payload_length: u64,
    ext16: Option<u64>,
    ext64: Option<u64>,
    payload: String,
}

fn uint(step: &Step, name: &str) -> Option<u64> {
    match step.field(name).map(|f| &f.value) {
        Some(Value::UInt(v)) => Some(*v),
        _ => None,
    }
}

fn boolean(step: &Step, name: &str) -> bool {
    matches!(step.field(name).map(|f| &f.value), Some(Value::Bool(true)))
}

fn bytes(step: &Step, name: &str) -> Option<String> {
    let f = step.field(name)?;
    match &f.value {
        Value::Bytes(b) => Some(hex::encode(b)),
        Value::SpanBytes => f.span.and_then(|s| step.span_bytes(&s)).map(hex::encode),
        _ => None,
    }
}

fn ours(step: &Step) -> Frame {
    Frame {
        fin: boolean(step, "websocket.fin"),
        rsv: uint(step, "websocket.rsv").unwrap(),
        opcode: uint(step, "websocket.opcode").unwrap(),
        mask: boolean(step, "websocket.mask"),
        masking_key: bytes(step, "websocket.masking_key"),
        payload_length: uint(step, "websocket.payload_length").unwrap(),
        ext16: uint(step, "websocket.payload_length_ext_16"),
        ext64: uint(step, "websocket.payload_length_ext_64"),
        payload: bytes(step, "websocket.payload").unwrap_or_default(),
    }
}

fn num(v: &J) -> u64 {
    let s = v.as_str().unwrap();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

fn theirs(ws: &J) -> Frame {
    let get = |k: &str| ws.get(k);
    Frame {
        fin: get("websocket.fin").map(num) == Some(1),
        rsv: get("websocket.rsv").map(num).unwrap(),
        opcode: get("websocket.opcode").map(num).unwrap(),
        mask: get("websocket.mask").map(num) == Some(1),
        masking_key: get("websocket.masking_key").map(|v| v.as_str().unwrap().replace(':', "")),
        payload_length: get("websocket.payload_length").map(num).unwrap(),
        ext16: get("websocket.payload_length_ext_16").map(num),
        ext64: get("websocket.payload_length_ext_64").map(num),
        payload: get("websocket.payload_raw")
            .map(|v| v[0].as_str().unwrap().to_string())
            .unwrap_or_default(),
    }
}

/// (packet number, conn, dir) → frames, for one side of the comparison.
type Frames = BTreeMap<(u64, u32, Dir), Vec<Frame>>;

#[test]
#[cfg_attr(
    dispel_missing_tshark,
    ignore = "tshark is not installed: frames are not compared with Wireshark"
)]
fn websocket_frames_agree_with_tshark() {
    if !tools::have("tshark") {
        return;
    }
    let mut compared = 0;
    let mut excepted = 0;
    let mut tls_compared = 0;
    for path in tools::captures() {
        // A TLS capture's key log beside it (`NAME.keys`) decrypts it for
        // both: the frames compared are the decrypted ones.
        let keys = path.with_extension("keys");
        let keys = keys.exists().then_some(keys);
        let mut opts = dispel::analyze::Options::default();
        if let Some(k) = &keys {
            let mut log = dispel::proto::tls::keylog::KeyLog::default();
            log.add_text(&std::fs::read(k).unwrap());
            opts.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
        }
        let trace = support::analyse_with(std::fs::read(&path).unwrap(), &opts);
        let tls_conns: BTreeSet<u32> = trace
            .steps
            .iter()
            .filter(|s| s.kind == "tls.client-hello")
            .map(|s| s.conn)
            .collect();
        let mut mine: Frames = BTreeMap::new();
        // Where dispel stopped reading frames, per (conn, dir): the packet
        // of its desync / after-close step.
        let mut stopped: BTreeMap<(u32, Dir), u64> = BTreeMap::new();
        for s in &trace.steps {
            match s.kind {
                "websocket.frame" => mine
                    .entry((*s.frames.last().unwrap(), s.conn, s.dir))
                    .or_default()
                    .push(ours(s)),
                "websocket.desync" | "websocket.after-close" => {
                    stopped.entry((s.conn, s.dir)).or_insert(s.frames[0]);
                }
                _ => {}
            }
        }
        let servers: BTreeSet<u16> = trace.connections.iter().map(|c| c.server.port()).collect();
        let mut cmd = Command::new("tshark");
        cmd.arg("-r")
            .arg(&path)
            .args(["-o", "tcp.reassemble_out_of_order:TRUE"]);
        for p in &servers {
            cmd.args(["-d", &format!("tcp.port=={p},http")]);
        }
        // TLS (or a pcapng's Decryption Secrets Block): records first,
        // then HTTP inside them.
        for c in trace
            .connections
            .iter()
            .filter(|c| tls_conns.contains(&c.id))
        {
            let p = c.server.port();
            cmd.args(["-d", &format!("tcp.port=={p},tls")]);
            cmd.args(["-d", &format!("tls.port=={p},http")]);
        }
        if let Some(k) = &keys {
            cmd.args(["-o", &format!("tls.keylog_file:{}", k.display())]);
        }
        let out = cmd
            // Several frames in one packet are several `websocket` layers: without
            // --no-duplicate-keys tshark writes them as duplicate JSON keys, and
            // a JSON parser keeps only the last.
            .args(["-Y", "websocket", "-T", "json", "--no-duplicate-keys", "-x"])
            .output()
            .unwrap();
        assert!(out.status.success(), "tshark failed on {}", path.display());
        let packets: Vec<J> = serde_json::from_slice(&out.stdout).unwrap();
        let mut theirs_map: Frames = BTreeMap::new();
        for p in &packets {
            let layers = &p["_source"]["layers"];
            let number = num(&layers["frame"]["frame.number"]);
            let stream = num(&layers["tcp"]["tcp.stream"]) as u32;
            let src = num(&layers["tcp"]["tcp.srcport"]) as u16;
            let conn = trace.connections.iter().find(|c| c.id == stream).unwrap();
            let dir = if src == conn.client.port() {
                Dir::C2s
            } else {
                Dir::S2c
            };
            if let Some(&from) = stopped.get(&(stream, dir))
                && number >= from
            {
                excepted += 1;
                continue;
            }
            let wss: Vec<&J> = match &layers["websocket"] {
                J::Array(a) => a.iter().collect(),
                o => vec![o],
            };
            for ws in wss {
                theirs_map
                    .entry((number, stream, dir))
                    .or_default()
                    .push(theirs(ws));
            }
        }
        for (key, frames) in &theirs_map {
            let got = mine.get(key);
            assert_eq!(
                got,
                Some(frames),
                "{}: packet {} conn {} {}",
                path.display(),
                key.0,
                key.1,
                key.2.as_str()
            );
            compared += frames.len();
            if tls_conns.contains(&key.1) {
                tls_compared += frames.len();
            }
        }
        // And dispel shows no frame tshark does not.
        for key in mine.keys() {
            assert!(
                theirs_map.contains_key(key),
                "{}: dispel has a frame in packet {} that tshark does not",
                path.display(),
                key.0
            );
        }
    }
    eprintln!(
        "{compared} frames compared, {excepted} tshark frames after non-frame bytes excepted"
    );
    assert!(compared > 200, "only {compared} frames compared");
    // The TLS captures' frames were compared decrypted, not skipped.
    eprintln!("{tls_compared} of them decrypted from TLS");
    assert!(
        tls_compared >= 60,
        "only {tls_compared} TLS frames compared"
    );
}
