//! `dispel lessons trace`: prove a course's call chains by running the real
//! server. The stack's reference app (the one that recorded the capture,
//! `captures/record/py/`) runs on loopback under `lessons/trace/tracer.py`,
//! a profiler restricted to the stack's packages; the capture's client side
//! is replayed to it connection by connection, paced by the server; the
//! functions that ran are attributed to dispel's steps and compared with
//! each lesson's `trace`.
//!
//! The pure parts — the capture's client plan ([`read_wire`], [`pace`]),
//! the substitutions ([`Subst`]), the trace log ([`parse_log`]) and the
//! attribution ([`attribute`]) — are separate from running processes
//! ([`run`]) so they can be tested on synthetic input.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::analyze::{self, Collect, Options};
use crate::capture::CaptureReader;
use crate::link::{self, Decoded};
use crate::sanitize::escape;
use crate::step::{ConnId, Dir, Origin, Step};
use crate::tcp::{Control, Event, Provenance, Reassembler};

use super::{Binder, Course, Stack, TraceEntry};

mod attribute;
pub use attribute::{Attribution, attribute};

/// The tracer, embedded so `dispel` works outside the source tree.
const TRACER_PY: &str = include_str!("../../lessons/trace/tracer.py");
/// The reference apps and their pins (`captures/record/`).
const SIO_SERVER_PY: &str = include_str!("../../captures/record/py/sio_server.py");
const SOCK_SERVER_PY: &str = include_str!("../../captures/record/py/sock_server.py");
const REQUIREMENTS: &str = include_str!("../../captures/record/requirements.txt");
const PACKAGE_LOCK: &str = include_str!("../../captures/record/package-lock.json");

/// The socket.io client the browser capture's page loads, as recorded
/// (`npm pack socket.io-client@<locked version>`, cached): `sio_server.py`
/// serves it from `$SIO_CLIENT_JS`.
fn client_js(err: &mut dyn Write) -> Result<PathBuf, TraceError> {
    let lock: Value =
        serde_json::from_str(PACKAGE_LOCK).map_err(|e| TraceError::Env(e.to_string()))?;
    let version = lock["packages"]["node_modules/socket.io-client"]["version"]
        .as_str()
        .ok_or_else(|| TraceError::Env("package-lock.json pins no socket.io-client".into()))?;
    let dir = cache_dir().join(format!("npm-socket.io-client-{version}"));
    let js = dir.join("package").join("dist").join("socket.io.min.js");
    if js.is_file() {
        return Ok(js);
    }
    let _ = writeln!(
        err,
        "dispel: fetching socket.io-client {version} (once, npm pack) for the page's script"
    );
    std::fs::create_dir_all(&dir)?;
    let out = Command::new("npm")
        .args(["pack", "--silent", &format!("socket.io-client@{version}")])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TraceError::Env(format!("npm: {e}")))?;
    let tgz = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || tgz.is_empty() {
        return Err(TraceError::Env(format!(
            "npm pack socket.io-client@{version} failed"
        )));
    }
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .current_dir(&dir)
        .status()
        .map_err(|e| TraceError::Env(format!("tar: {e}")))?;
    if !st.success() || !js.is_file() {
        return Err(TraceError::Env(format!(
            "no dist/socket.io.min.js in {tgz}"
        )));
    }
    Ok(js)
}

/// What can stop a trace run.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0}: {1}")]
    Capture(String, String),
    #[error(
        "stack `{0}` runs on Node: a faithful Node tracer (inspector or async hooks) is not \
         implemented yet; `dispel lessons trace` traces the four Python stacks \
         (flask-socketio-gevent, flask-socketio-eventlet, flask-socketio-threading, flask-sock)"
    )]
    Node(String),
    #[error("stack `{0}` has no reference app to trace")]
    NoApp(String),
    #[error("cannot prepare the Python environment: {0}")]
    Env(String),
    #[error("the server did not start: {0}")]
    Server(String),
    #[error("the trace log is unreadable: {0}")]
    Log(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

// ------------------------------------------------------------------ wire --

/// One connection of the capture: its reassembled streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireConn {
    /// `[c2s, s2c]` stream bytes (gaps are filled with nothing: a capture
    /// with gaps cannot be replayed faithfully and says so).
    pub streams: [Vec<u8>; 2],
    pub gaps: u64,
}

/// A capture event relevant to the replay, in capture order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireEv {
    /// Stream bytes `[start, end)` of one direction.
    Data {
        conn: ConnId,
        dir: Dir,
        start: u64,
        end: u64,
    },
    Fin {
        conn: ConnId,
        dir: Dir,
    },
    Rst {
        conn: ConnId,
        dir: Dir,
    },
}

/// The capture's connections and their events, in capture order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wire {
    pub conns: BTreeMap<ConnId, WireConn>,
    pub events: Vec<WireEv>,
}

/// Reassembles a capture with dispel's own TCP reassembly.
pub fn read_wire(path: &Path) -> Result<Wire, TraceError> {
    let name = path.display().to_string();
    let mut reader = CaptureReader::open(path, Options::default().max_record())
        .map_err(|e| TraceError::Capture(name.clone(), e.to_string()))?;
    let mut reasm = Reassembler::new(Default::default());
    let mut wire = Wire::default();
    let on = |id: ConnId, ev: Event<'_>, wire: &mut Wire| match ev {
        Event::Open(_) => {
            wire.conns.entry(id).or_default();
        }
        Event::Data {
            dir, offset, data, ..
        } => {
            let c = wire.conns.entry(id).or_default();
            let s = &mut c.streams[dir.index()];
            if (s.len() as u64) == offset {
                s.extend_from_slice(data);
                wire.events.push(WireEv::Data {
                    conn: id,
                    dir,
                    start: offset,
                    end: offset + data.len() as u64,
                });
            }
        }
        Event::Gap { .. } => wire.conns.entry(id).or_default().gaps += 1,
        Event::Control { dir, control, .. } => match control {
            Control::Fin => wire.events.push(WireEv::Fin { conn: id, dir }),
            Control::Rst => wire.events.push(WireEv::Rst { conn: id, dir }),
            Control::Syn | Control::SynAck => {}
        },
        Event::Anomaly { .. } => {}
    };
    loop {
        let pkt = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(TraceError::Capture(name, e.to_string())),
        };
        if let Decoded::Tcp(seg) = link::decode(pkt.linktype, pkt.data) {
            let at = Provenance {
                frame: pkt.number,
                time: pkt.time,
            };
            reasm.push(&seg, at, &mut |id, ev| on(id, ev, &mut wire));
        }
    }
    reasm.finish(&mut |id, ev| on(id, ev, &mut wire));
    Ok(wire)
}

// ---------------------------------------------------------------- pacing --

/// What the live server must have done before a replay action: per
/// connection, the server bytes sent so far in the capture and whether it
/// had closed (FIN) by then.
pub type Expect = BTreeMap<ConnId, (u64, bool)>;

/// One replay action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send client bytes `[start, end)` of a connection (connecting first if
    /// it is the connection's first action), once `after` holds.
    Send {
        conn: ConnId,
        start: u64,
        end: u64,
        after: Expect,
    },
    /// The client closed its side (FIN or RST).
    Close { conn: ConnId, after: Expect },
    /// The end: wait for the server to have sent what it sent in the capture.
    End { after: Expect },
}

/// Turns the capture's events into replay actions. Client data is cut at
/// `cuts` (the start offsets of client steps, per connection) so that each
/// step reaches the server on its own; before each action the live server
/// must have sent as many bytes (and FINs) as the captured server had by
/// then.
pub fn pace(wire: &Wire, cuts: &BTreeMap<ConnId, Vec<u64>>) -> Vec<Action> {
    let mut exp: Expect = BTreeMap::new();
    let mut out = Vec::new();
    let mut closed = BTreeSet::new();
    for ev in &wire.events {
        match *ev {
            WireEv::Data {
                conn,
                dir: Dir::S2c,
                end,
                ..
            } => {
                exp.entry(conn).or_default().0 = end;
            }
            WireEv::Fin {
                conn,
                dir: Dir::S2c,
            }
            | WireEv::Rst {
                conn,
                dir: Dir::S2c,
            } => {
                if matches!(ev, WireEv::Fin { .. }) {
                    exp.entry(conn).or_default().1 = true;
                }
            }
            WireEv::Data {
                conn,
                dir: Dir::C2s,
                start,
                end,
            } => {
                let mut at = start;
                let inner = cuts
                    .get(&conn)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&c| c > start && c < end);
                for cut in inner.chain(std::iter::once(end)) {
                    out.push(Action::Send {
                        conn,
                        start: at,
                        end: cut,
                        after: exp.clone(),
                    });
                    at = cut;
                }
            }
            WireEv::Fin {
                conn,
                dir: Dir::C2s,
            }
            | WireEv::Rst {
                conn,
                dir: Dir::C2s,
            } => {
                if closed.insert(conn) {
                    out.push(Action::Close {
                        conn,
                        after: exp.clone(),
                    });
                }
            }
        }
    }
    out.push(Action::End { after: exp });
    out
}

// --------------------------------------------------------- substitutions --

/// Values the live server picks differently from the captured one (the
/// Engine.IO and Socket.IO sids): pairs of equal length, `(captured, live)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subst {
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Subst {
    /// Learns the sids: the k-th `"sid":"…"` of the captured server stream
    /// and the k-th of the live one (in order, so a response that differs
    /// in length before it does not matter), when both values have the same
    /// length.
    pub fn learn(&mut self, captured: &[u8], live: &[u8]) {
        const KEY: &[u8] = b"\"sid\":\"";
        fn values(s: &[u8]) -> Vec<&[u8]> {
            let mut out = Vec::new();
            let mut i = 0;
            while let Some(p) = find(&s[i..], KEY) {
                let v = i + p + KEY.len();
                let Some(len) = s[v..].iter().position(|&b| b == b'"') else {
                    break;
                };
                out.push(&s[v..v + len]);
                i = v + len;
            }
            out
        }
        for (cap, l) in values(captured).into_iter().zip(values(live)) {
            if cap.len() != l.len() || cap == l {
                continue;
            }
            let pair = (cap.to_vec(), l.to_vec());
            if !self.pairs.contains(&pair) {
                self.pairs.push(pair);
            }
        }
    }

    fn replace(&self, data: &mut [u8], to_live: bool) -> bool {
        let mut changed = false;
        for (cap, live) in &self.pairs {
            let (from, to) = if to_live { (cap, live) } else { (live, cap) };
            let mut i = 0;
            while let Some(p) = find(&data[i..], from) {
                data[i + p..i + p + from.len()].copy_from_slice(to);
                i += p + from.len();
                changed = true;
            }
        }
        changed
    }

    /// The client stream as the live server must see it: sids replaced in
    /// the HTTP part (`[0, ws_start)`) and inside each WebSocket frame's
    /// payload from `ws_start` on, re-masked with the frame's own key.
    pub fn client_stream(&self, stream: &[u8], ws_start: Option<usize>) -> Vec<u8> {
        let mut out = stream.to_vec();
        if self.pairs.is_empty() {
            return out;
        }
        let http_end = ws_start.unwrap_or(out.len()).min(out.len());
        self.replace(&mut out[..http_end], true);
        let Some(mut at) = ws_start else {
            return out;
        };
        while let Some((hlen, plen, key)) = frame_header(&out[at..]) {
            let Some(end) = at.checked_add(hlen).and_then(|h| h.checked_add(plen)) else {
                break;
            };
            if end > out.len() {
                break;
            }
            let payload = &mut out[at + hlen..end];
            mask(payload, key);
            self.replace(payload, true);
            mask(payload, key);
            at = end;
        }
        out
    }

    /// The live server stream as the captured one would read: live sids
    /// replaced by the captured ones.
    pub fn server_stream(&self, live: &[u8]) -> Vec<u8> {
        let mut out = live.to_vec();
        self.replace(&mut out, false);
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A WebSocket frame header: (header length, payload length, masking key).
fn frame_header(b: &[u8]) -> Option<(usize, usize, Option<[u8; 4]>)> {
    let b1 = *b.get(1)?;
    let masked = b1 & 0x80 != 0;
    let (mut h, len) = match b1 & 0x7f {
        126 => (4, u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]))),
        127 => {
            let x: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (10, u64::from_be_bytes(x))
        }
        n => (2, u64::from(n)),
    };
    let key = if masked {
        let k: [u8; 4] = b.get(h..h + 4)?.try_into().ok()?;
        h += 4;
        Some(k)
    } else {
        None
    };
    Some((h, usize::try_from(len).ok()?, key))
}

fn mask(data: &mut [u8], key: Option<[u8; 4]>) {
    if let Some(k) = key {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
}

/// Where the live server's bytes differ from the captured ones (after the
/// substitutions), as `(offset, captured, live)` runs; a difference inside a
/// `Date:` header line is not one (the live server tells its own time).
pub fn differences(captured: &[u8], live: &[u8]) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let n = captured.len().min(live.len());
    let mut i = 0;
    while i < n {
        if captured[i] == live[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && captured[i] != live[i] {
            i += 1;
        }
        if in_date_header(captured, start) && in_date_header(live, start) {
            continue;
        }
        out.push((start, captured[start..i].to_vec(), live[start..i].to_vec()));
    }
    if captured.len() != live.len() {
        out.push((n, captured[n..].to_vec(), live[n..].to_vec()));
    }
    out
}

fn in_date_header(s: &[u8], at: usize) -> bool {
    let line_start = s[..at]
        .windows(2)
        .rposition(|w| w == b"\r\n")
        .map_or(0, |p| p + 2);
    s[line_start..].len() >= 5 && s[line_start..line_start + 5].eq_ignore_ascii_case(b"date:")
}

// ------------------------------------------------------------ trace log --

/// A function as the tracer reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Func {
    pub package: String,
    pub file: String,
    pub line: u32,
    pub function: String,
}

/// One event of the tracer's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEv {
    Pkg {
        name: String,
        version: String,
    },
    Call {
        g: u64,
        func: usize,
    },
    Ret {
        g: u64,
    },
    Io {
        g: u64,
        port: u16,
        dir: Dir,
        off: u64,
        n: u64,
    },
    Accept {
        g: u64,
        port: u16,
    },
    Eof {
        g: u64,
        port: u16,
    },
    Close {
        g: u64,
        port: u16,
    },
    Put {
        g: u64,
        obj: u64,
    },
    Get {
        g: u64,
        obj: u64,
    },
    Set {
        g: u64,
        obj: u64,
    },
    Wake {
        g: u64,
        obj: u64,
    },
    Spawn {
        g: u64,
        key: u64,
    },
    Start {
        g: u64,
        key: u64,
    },
}

/// A parsed trace log: its events and the functions they name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    pub events: Vec<LogEv>,
    pub funcs: Vec<Func>,
}

/// Parses the tracer's JSON lines (see `lessons/trace/tracer.py`). Unknown
/// events are skipped; a line that is not JSON ends the log (a killed
/// server may leave half a line).
pub fn parse_log(text: &str) -> Log {
    let mut log = Log::default();
    let mut ids: HashMap<Func, usize> = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            break;
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let g = u("g");
        let port = u16::try_from(u("conn")).unwrap_or(0);
        let ev = match v.get("ev").and_then(Value::as_str) {
            Some("pkg") => LogEv::Pkg {
                name: s("pkg"),
                version: s("version"),
            },
            Some("call") => {
                let f = Func {
                    package: s("pkg"),
                    file: s("file"),
                    line: u32::try_from(u("line")).unwrap_or(0),
                    function: s("fn"),
                };
                let n = ids.len();
                let func = *ids.entry(f.clone()).or_insert_with(|| {
                    log.funcs.push(f);
                    n
                });
                LogEv::Call { g, func }
            }
            Some("ret") => LogEv::Ret { g },
            Some("io") => LogEv::Io {
                g,
                port,
                dir: if s("dir") == "s2c" {
                    Dir::S2c
                } else {
                    Dir::C2s
                },
                off: u("off"),
                n: u("n"),
            },
            Some("accept") => LogEv::Accept { g, port },
            Some("eof") => LogEv::Eof { g, port },
            Some("close") => LogEv::Close { g, port },
            Some("put") => LogEv::Put { g, obj: u("obj") },
            Some("get") => LogEv::Get { g, obj: u("obj") },
            Some("set") => LogEv::Set { g, obj: u("obj") },
            Some("wake") => LogEv::Wake { g, obj: u("obj") },
            Some("spawn") => LogEv::Spawn { g, key: u("key") },
            Some("start") => LogEv::Start { g, key: u("key") },
            _ => continue,
        };
        log.events.push(ev);
    }
    log
}

// ----------------------------------------------------------- attribution --

/// Where a step's bytes are: connection, direction and stream range, or
/// for TCP control steps the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAt {
    Bytes {
        conn: ConnId,
        dir: Dir,
        start: u64,
        end: u64,
    },
    /// The connection's SYN: the server's accept.
    Open { conn: ConnId },
    /// A FIN in this direction: c2s is the server reading end-of-stream,
    /// s2c the server closing.
    Fin { conn: ConnId, dir: Dir },
    /// Nothing the server does can be pinned to this step.
    Unknown,
}

/// Where each step is. A step whose fields come only from derived bytes
/// (an Engine.IO packet inside an HTTP body) shares the range of the step
/// before it on the same connection and direction.
pub fn step_places(steps: &[Step]) -> Vec<StepAt> {
    let mut last: HashMap<(ConnId, usize), StepAt> = HashMap::new();
    // Per (conn, dir, packet): the stream range of the steps read from it.
    let mut by_frame: HashMap<(ConnId, usize, u64), (u64, u64)> = HashMap::new();
    // Per (conn, dir): the distinct stream ranges of steps so far.
    let mut ranges: HashMap<(ConnId, usize), Vec<(u64, u64)>> = HashMap::new();
    steps
        .iter()
        .map(|s| {
            let mut range: Option<(u64, u64)> = None;
            for b in &s.buffers {
                if let Origin::Stream { offset } = b.origin {
                    let end = offset + b.data.len() as u64;
                    range = Some(match range {
                        Some((a, z)) => (a.min(offset), z.max(end)),
                        None => (offset, end),
                    });
                }
            }
            let key = (s.conn, s.dir.index());
            match (s.kind, range) {
                ("tcp.syn", _) => StepAt::Open { conn: s.conn },
                ("tcp.fin", _) => StepAt::Fin {
                    conn: s.conn,
                    dir: s.dir,
                },
                (k, _) if k.starts_with("tcp.") && range.is_none() => StepAt::Unknown,
                (_, Some((start, end))) if end > start => {
                    let v = ranges.entry(key).or_default();
                    if v.last() != Some(&(start, end)) {
                        v.push((start, end));
                    }
                    for &f in &s.frames {
                        let e = by_frame
                            .entry((s.conn, s.dir.index(), f))
                            .or_insert((start, end));
                        *e = (e.0.min(start), e.1.max(end));
                    }
                    let at = StepAt::Bytes {
                        conn: s.conn,
                        dir: s.dir,
                        start,
                        end,
                    };
                    last.insert(key, at);
                    at
                }
                _ => {
                    // Derived bytes (a message, a packet): the range of the
                    // stream steps read from the same packets.
                    let mut r: Option<(u64, u64)> = None;
                    for &f in &s.frames {
                        if let Some(&(a, z)) = by_frame.get(&(s.conn, s.dir.index(), f)) {
                            r = Some(r.map_or((a, z), |(x, y)| (x.min(a), y.max(z))));
                        }
                    }
                    // A Socket.IO packet with N binary attachments is
                    // complete at its last one, but began with the header:
                    // N + 1 messages.
                    let attachments = s
                        .field("socketio.attachments")
                        .and_then(|f| match f.value {
                            crate::step::Value::Int(n) => usize::try_from(n).ok(),
                            crate::step::Value::UInt(n) => usize::try_from(n).ok(),
                            _ => None,
                        })
                        .unwrap_or(0);
                    if let (Some((_, z)), true) = (r, attachments > 0)
                        && let Some(v) = ranges.get(&key)
                    {
                        let from = v.len().saturating_sub(attachments + 1);
                        if let Some(&(a, _)) = v.get(from) {
                            r = Some((a, z));
                        }
                    }
                    match r {
                        Some((start, end)) => StepAt::Bytes {
                            conn: s.conn,
                            dir: s.dir,
                            start,
                            end,
                        },
                        None => last.get(&key).copied().unwrap_or(StepAt::Unknown),
                    }
                }
            }
        })
        .collect()
}

// ------------------------------------------------------------------ report --

/// A trace entry's verdict for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// It ran for this step.
    Confirmed,
    /// It ran, but not for this step.
    RanElsewhere,
    /// It never ran.
    NotRun,
    /// The lesson marks it `observed: false`.
    Unobserved,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::RanElsewhere => "ran elsewhere",
            Verdict::NotRun => "not run",
            Verdict::Unobserved => "not observable",
        }
    }
}

/// Whether a traced function is the one a trace entry cites.
pub fn matches(e: &TraceEntry, f: &Func) -> bool {
    let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
    e.package == f.package
        && e.file == f.file
        && last(&e.function) == last(&f.function)
        && e.line.abs_diff(f.line) <= 3
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryReport {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub at: String,
    pub verdict: Verdict,
    /// For `ran elsewhere`: the steps (numbers) it ran for instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elsewhere: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: u64,
    pub conn: ConnId,
    pub dir: &'static str,
    pub kind: &'static str,
    pub summary: String,
    /// Whether the live server read (c2s) / wrote (s2c) the step's bytes.
    pub observed: bool,
    pub lesson: String,
    pub entries: Vec<EntryReport>,
    /// Functions that ran for the step and no entry mentions.
    pub unmentioned: Vec<Func>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub stack: String,
    pub capture: String,
    /// Where the live exchange differs from the captured one.
    pub differences: Vec<String>,
    pub steps: Vec<StepReport>,
    /// Steps (numbers) with stream bytes the live server never read
    /// (c2s) or wrote (s2c).
    pub unseen: Vec<u64>,
    pub confirmed: usize,
    pub refuted: usize,
    pub unobserved: usize,
}

/// The per-step report: each bound lesson's trace entries for `stack`
/// against the attribution.
pub fn report(
    course: &Course,
    stack: &str,
    steps: &[Step],
    places: &[StepAt],
    log: &Log,
    att: &Attribution,
) -> Report {
    let mut rep = Report {
        stack: stack.to_string(),
        ..Report::default()
    };
    rep.unseen = places
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            matches!(p, StepAt::Bytes { .. }) && !att.seen.get(*i).copied().unwrap_or(false)
        })
        .map(|(i, _)| i as u64 + 1)
        .collect();
    let mut binder = Binder::new(course);
    for (i, step) in steps.iter().enumerate() {
        let b = binder.bind(step);
        let lessons = b
            .step
            .into_iter()
            .chain(b.findings.iter().flatten().copied());
        for li in lessons {
            let lesson = &course.lessons[li];
            let entries = lesson.trace_for(stack);
            if entries.is_empty() {
                continue;
            }
            let mine: BTreeSet<usize> = att.per_step[i].iter().copied().collect();
            let mut er = Vec::new();
            for e in entries {
                let ids: Vec<usize> = (0..log.funcs.len())
                    .filter(|&f| matches(e, &log.funcs[f]))
                    .collect();
                // A marked entry is still checked: confirmed when it is
                // seen after all (on another kind of connection, say).
                let (verdict, elsewhere, note) = if ids.iter().any(|f| mine.contains(f)) {
                    (Verdict::Confirmed, Vec::new(), None)
                } else if let Some(reason) = lesson.unobserved(e) {
                    (Verdict::Unobserved, Vec::new(), Some(reason.to_string()))
                } else if ids.iter().any(|f| att.ran.contains(f)) {
                    // The steps it ran for, nearest to this one first.
                    let mut other: Vec<u64> = att
                        .per_step
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.iter().any(|f| ids.contains(f)))
                        .map(|(j, _)| j as u64 + 1)
                        .collect();
                    other.sort_by_key(|&j| j.abs_diff(i as u64 + 1));
                    other.truncate(6);
                    other.sort_unstable();
                    (Verdict::RanElsewhere, other, None)
                } else {
                    let note = if !att.files.contains(&(e.package.clone(), e.file.clone())) {
                        Some(format!(
                            "no Python function of {} ran (compiled in the wheel, or unused)",
                            e.file
                        ))
                    } else {
                        None
                    };
                    (Verdict::NotRun, Vec::new(), note)
                };
                match verdict {
                    Verdict::Confirmed => rep.confirmed += 1,
                    Verdict::Unobserved => rep.unobserved += 1,
                    _ => rep.refuted += 1,
                }
                er.push(EntryReport {
                    function: e.function.clone(),
                    file: e.file.clone(),
                    line: e.line,
                    at: e.at.to_string(),
                    verdict,
                    elsewhere,
                    note,
                });
            }
            let unmentioned = att.per_step[i]
                .iter()
                .filter(|&&f| !entries.iter().any(|e| matches(e, &log.funcs[f])))
                .map(|&f| log.funcs[f].clone())
                .collect();
            rep.steps.push(StepReport {
                step: i as u64 + 1,
                conn: step.conn,
                dir: step.dir.as_str(),
                kind: step.kind,
                summary: step.summary.clone(),
                observed: att.seen.get(i).copied().unwrap_or(false),
                lesson: lesson.id.clone(),
                entries: er,
                unmentioned,
            });
        }
    }
    rep
}

/// Writes the report as text.
pub fn write_text(rep: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "trace of stack {} on {}",
        escape(&rep.stack),
        escape(&rep.capture)
    )?;
    if rep.differences.is_empty() {
        writeln!(
            out,
            "replay: the live exchange matched the capture byte for byte (up to the sids and Date)"
        )?;
    } else {
        writeln!(out, "replay: the live exchange differs from the capture:")?;
        for d in &rep.differences {
            writeln!(out, "  {}", escape(d))?;
        }
    }
    if !rep.unseen.is_empty() {
        let v: Vec<String> = rep.unseen.iter().map(|n| format!("#{n}")).collect();
        writeln!(
            out,
            "steps whose bytes the live server never read or wrote: {}",
            v.join(", ")
        )?;
    }
    for s in &rep.steps {
        writeln!(
            out,
            "\n#{} conn {} {} {}  {}  [lesson {}]{}",
            s.step,
            s.conn,
            s.dir,
            s.kind,
            escape(&s.summary),
            escape(&s.lesson),
            if s.observed {
                ""
            } else {
                "  (the live server never read or wrote these bytes)"
            }
        )?;
        for e in &s.entries {
            write!(
                out,
                "  {:<14} {} ({}:{})",
                e.verdict.as_str(),
                escape(&e.function),
                escape(&e.file),
                e.line
            )?;
            if !e.elsewhere.is_empty() {
                let v: Vec<String> = e.elsewhere.iter().map(|n| format!("#{n}")).collect();
                write!(out, " — ran for {}", v.join(", "))?;
            }
            if let Some(n) = &e.note {
                write!(out, " — {}", escape(n))?;
            }
            writeln!(out)?;
        }
        if !s.unmentioned.is_empty() {
            let shown: Vec<String> = s
                .unmentioned
                .iter()
                .filter(|f| !f.function.contains('<'))
                .take(12)
                .map(|f| escape(&f.function).into_owned())
                .collect();
            let more = s.unmentioned.len().saturating_sub(shown.len());
            writeln!(
                out,
                "  also ran, in no entry: {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" … and {more} more (--format json lists them)")
                } else {
                    String::new()
                }
            )?;
        }
    }
    writeln!(
        out,
        "\n{} entr{} confirmed, {} refuted (not run or ran elsewhere), {} marked not observable",
        rep.confirmed,
        if rep.confirmed == 1 { "y" } else { "ies" },
        rep.refuted,
        rep.unobserved
    )
}

/// A lesson skeleton whose trace is what ran for `step` (1-based), in
/// order of first call, for an instructor to trim and annotate.
pub fn draft(
    stack: &Stack,
    steps: &[Step],
    att: &Attribution,
    log: &Log,
    step: u64,
) -> Option<String> {
    let i = usize::try_from(step.checked_sub(1)?).ok()?;
    let s = steps.get(i)?;
    let mut y = String::new();
    y.push_str(&format!(
        "# Drafted by `dispel lessons trace` from step #{step} ({} {}): what ran for it, in call order.\n\
         # Trim it to the chain worth teaching and write each `does` from the code.\n",
        s.kind,
        s.dir.as_str()
    ));
    y.push_str("lessons:\n");
    y.push_str(&format!("- id: draft-step-{step}\n"));
    y.push_str(&format!(
        "  title: {}\n",
        yaml_str(&format!("TODO: {}", s.kind))
    ));
    y.push_str(&format!(
        "  select: {{kind: {}, dir: {}}}\n",
        s.kind,
        s.dir.as_str()
    ));
    y.push_str("  body: TODO\n  refs: []\n  trace:\n");
    y.push_str(&format!("    {}:\n", stack.id));
    let mut any = false;
    for &f in &att.per_step[i] {
        let f = &log.funcs[f];
        if f.function.contains('<') {
            continue;
        }
        let Some(p) = stack.package(&f.package) else {
            continue;
        };
        any = true;
        y.push_str(&format!(
            "    - {{package: {}, version: {}, file: {}, line: {}, function: {}, does: TODO}}\n",
            yaml_str(&p.name),
            yaml_str(&p.version),
            yaml_str(&f.file),
            f.line,
            yaml_str(&f.function)
        ));
    }
    if !any {
        y.push_str("    []\n");
    }
    Some(y)
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

// ------------------------------------------------------------------ running --

/// How a stack's reference server is started.
struct App {
    mode: &'static str,
    script: &'static str,
    source: &'static str,
    args: &'static [&'static str],
}

fn app_of(stack: &Stack) -> Result<App, TraceError> {
    if stack
        .packages
        .iter()
        .any(|p| p.registry == super::Registry::Npm)
    {
        return Err(TraceError::Node(stack.id.clone()));
    }
    let sio = |mode| App {
        mode,
        script: "sio_server.py",
        source: SIO_SERVER_PY,
        args: &[],
    };
    Ok(match stack.id.as_str() {
        "flask-socketio-gevent" => sio("gevent"),
        "flask-socketio-eventlet" => sio("eventlet"),
        "flask-socketio-threading" => sio("threading"),
        "flask-sock" => App {
            mode: "threading",
            script: "sock_server.py",
            source: SOCK_SERVER_PY,
            args: &[],
        },
        _ => return Err(TraceError::NoApp(stack.id.clone())),
    })
}

/// `~/.cache/dispel` (or `$DISPEL_CACHE`).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DISPEL_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("dispel")
}

fn short_hash(s: &str) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(&Sha1::digest(s.as_bytes())[..8])
}

/// The cached virtualenv of the pinned requirements, made once: one for
/// every Python stack (the app picks its async mode, as when recording).
fn python_env(err: &mut dyn Write) -> Result<PathBuf, TraceError> {
    let dir = cache_dir().join(format!("venv-python-{}", short_hash(REQUIREMENTS)));
    let py = dir.join("bin").join("python");
    if dir.join(".complete").is_file() && py.is_file() {
        return Ok(py);
    }
    let python = std::env::var("DISPEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let _ = writeln!(
        err,
        "dispel: preparing {} (once): {python} -m venv + pip install -r requirements.txt",
        dir.display()
    );
    // Built aside and renamed into place, so that two runs at once (tests)
    // never use a half-made environment.
    let final_dir = dir;
    let dir = final_dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let run = |cmd: &mut Command| -> Result<(), TraceError> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| TraceError::Env(format!("{cmd:?}: {e}")))?;
        if !out.status.success() {
            let tail = String::from_utf8_lossy(&out.stderr);
            let tail: String = tail
                .chars()
                .rev()
                .take(600)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(TraceError::Env(format!("{cmd:?} failed: {tail}")));
        }
        Ok(())
    };
    run(Command::new(&python).arg("-m").arg("venv").arg(&dir))?;
    let req = dir.join("requirements.txt");
    std::fs::write(&req, REQUIREMENTS)?;
    let py = dir.join("bin").join("python");
    run(Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&req))?;
    std::fs::write(dir.join(".complete"), b"")?;
    let _ = std::fs::remove_dir_all(&final_dir);
    if std::fs::rename(&dir, &final_dir).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
        if !final_dir.join(".complete").is_file() {
            return Err(TraceError::Env(format!(
                "cannot move the environment to {}",
                final_dir.display()
            )));
        }
    }
    Ok(final_dir.join("bin").join("python"))
}

/// Writes `text` to `path` unless it already holds it, through a rename so
/// that a concurrent reader never sees half a file.
fn write_once(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Shared state of the live connections: what each server sent.
#[derive(Default)]
struct Live {
    bufs: HashMap<ConnId, (Vec<u8>, bool)>,
}

type Shared = Arc<(Mutex<Live>, Condvar)>;

/// The captured byte count `n` of a connection, corrected by what the live
/// server was found to send more (or less) earlier.
fn target(n: u64, adjust: &HashMap<ConnId, i64>, c: ConnId) -> u64 {
    let d = adjust.get(&c).copied().unwrap_or(0);
    u64::try_from(i64::try_from(n).unwrap_or(i64::MAX).saturating_add(d)).unwrap_or(0)
}

fn holds(live: &Live, after: &Expect, adjust: &HashMap<ConnId, i64>) -> bool {
    after.iter().all(|(c, (n, fin))| {
        let n = target(*n, adjust, *c);
        live.bufs
            .get(c)
            .is_some_and(|(b, eof)| b.len() as u64 >= n && (!fin || *eof))
            || (n == 0 && !fin)
    })
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Longest wait for the live server to catch up with the capture.
    pub timeout: Duration,
    /// Pause after each client chunk has been caught up with, so that each
    /// step is read on its own.
    pub settle: Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            timeout: Duration::from_secs(5),
            settle: Duration::from_millis(40),
        }
    }
}

/// Everything a run produced.
pub struct Run {
    pub steps: Vec<Step>,
    pub places: Vec<StepAt>,
    pub log: Log,
    pub att: Attribution,
    pub differences: Vec<String>,
}

/// Runs the stack's reference server under the tracer, replays the
/// capture's client side to it and attributes what ran.
pub fn run(
    stack: &Stack,
    capture: &Path,
    opts: &RunOptions,
    err: &mut dyn Write,
) -> Result<Run, TraceError> {
    let app = app_of(stack)?;
    let plan = Plan::of(capture, err)?;
    let mut differences = plan.gaps();
    let (server, addr, log_path) = start_server(stack, &app, &plan.wire, err, &mut differences)?;
    let mut replay = Replay::new(addr, &plan, &log_path);
    for action in &plan.actions {
        replay.act(action, opts, &mut differences)?;
    }
    std::thread::sleep(Duration::from_millis(300));
    for s in replay.socks.values() {
        let _ = s.shutdown(Shutdown::Both);
    }
    std::thread::sleep(Duration::from_millis(200));
    replay.compare(err, &mut differences);
    drop(server);
    let text = std::fs::read_to_string(&log_path)
        .map_err(|e| TraceError::Log(format!("{}: {e}", log_path.display())))?;
    let mut log = parse_log(&text);
    realign(&mut log, &replay.ports, &replay.shifts);
    let att = attribute(&log, &plan.places, &replay.ports);
    let Plan { steps, places, .. } = plan;
    Ok(Run {
        steps,
        places,
        log,
        att,
        differences,
    })
}

/// What a run replays: the capture's steps and where their bytes are, its
/// client side, and the paced actions.
struct Plan {
    steps: Vec<Step>,
    places: Vec<StepAt>,
    wire: Wire,
    /// Per connection, the offset of its first WebSocket frame, where
    /// re-masking starts.
    ws_start: HashMap<ConnId, usize>,
    actions: Vec<Action>,
}

impl Plan {
    fn of(capture: &Path, err: &mut dyn Write) -> Result<Plan, TraceError> {
        let name = capture.display().to_string();
        let mut c = Collect::default();
        analyze::run_file(capture, &Options::default(), &mut c)
            .map_err(|e| TraceError::Capture(name.clone(), e.to_string()))?;
        let steps = c.steps;
        let places = step_places(&steps);
        let wire = read_wire(capture)?;
        // Client step starts: where the client chunks are cut; the first
        // WebSocket frame of each connection: where re-masking starts.
        let mut cuts: BTreeMap<ConnId, Vec<u64>> = BTreeMap::new();
        let mut ws_start: HashMap<ConnId, usize> = HashMap::new();
        for (s, p) in steps.iter().zip(&places) {
            if let StepAt::Bytes {
                conn,
                dir: Dir::C2s,
                start,
                ..
            } = *p
            {
                cuts.entry(conn).or_default().push(start);
                if s.kind.starts_with("websocket.") {
                    ws_start.entry(conn).or_insert(start as usize);
                }
            }
        }
        for v in cuts.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        let actions = pace(&wire, &cuts);
        if std::env::var_os("DISPEL_TRACE_DEBUG").is_some() {
            for (i, p) in places.iter().enumerate() {
                let _ = writeln!(err, "step #{} {} {:?}", i + 1, steps[i].kind, p);
            }
            for a in &actions {
                let _ = writeln!(err, "{a:?}");
            }
        }
        Ok(Plan {
            steps,
            places,
            wire,
            ws_start,
            actions,
        })
    }

    /// The connections whose capture misses bytes: the replay stops at the
    /// first gap.
    fn gaps(&self) -> Vec<String> {
        self.wire
            .conns
            .iter()
            .filter(|(_, w)| w.gaps > 0)
            .map(|(id, w)| {
                format!(
                    "conn {id}: the capture misses bytes ({} gap(s)); the replay stops at the first",
                    w.gaps
                )
            })
            .collect()
    }
}

/// Starts the stack's reference app under the tracer on a free loopback
/// port and waits until it listens: the server, its address and where its
/// trace log is written.
fn start_server(
    stack: &Stack,
    app: &App,
    wire: &Wire,
    err: &mut dyn Write,
    differences: &mut Vec<String>,
) -> Result<(Server, SocketAddr, PathBuf), TraceError> {
    let py = python_env(err)?;
    let work = cache_dir().join("trace").join(short_hash(&format!(
        "{TRACER_PY}{SIO_SERVER_PY}{SOCK_SERVER_PY}"
    )));
    std::fs::create_dir_all(&work)?;
    write_once(&work.join("tracer.py"), TRACER_PY)?;
    write_once(&work.join(app.script), app.source)?;
    let runs = cache_dir().join("trace").join("runs");
    std::fs::create_dir_all(&runs)?;
    let stamp = stack.id.clone();
    let log_path = runs.join(format!("{stamp}.jsonl"));
    let out_path = runs.join(format!("{stamp}.out"));
    let err_path = runs.join(format!("{stamp}.err"));
    let port = free_port()?;
    let mut cmd = Command::new(&py);
    cmd.arg(work.join("tracer.py"))
        .arg("--log")
        .arg(&log_path)
        .arg("--mode")
        .arg(app.mode);
    for p in &stack.packages {
        cmd.arg("--package").arg(&p.name);
    }
    cmd.arg("--").arg(work.join(app.script));
    if app.script == "sio_server.py" {
        cmd.arg(app.mode);
    }
    // The browser capture's page loads the socket.io client from the app.
    if app.script == "sio_server.py"
        && wire
            .conns
            .values()
            .any(|c| find(&c.streams[0], b"GET /socket.io.min.js").is_some())
    {
        match client_js(err) {
            Ok(js) => {
                cmd.env("SIO_CLIENT_JS", js);
            }
            Err(e) => {
                differences.push(format!("the page's script cannot be served: {e}"));
            }
        }
    }
    cmd.args(app.args)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?);
    let child = cmd
        .spawn()
        .map_err(|e| TraceError::Server(format!("{}: {e}", py.display())))?;
    let mut server = Server { child };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(st)) = server.child.try_wait() {
            let e = std::fs::read_to_string(&err_path).unwrap_or_default();
            let tail: String = e.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            return Err(TraceError::Server(format!("exited ({st}): {tail}")));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err(TraceError::Server(format!(
                "nothing listens on {addr} after 30 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    Ok((server, addr, log_path))
}

/// The client side of a run: the capture's client bytes sent to the live
/// server, paced by what the server has sent back.
struct Replay<'p> {
    plan: &'p Plan,
    addr: SocketAddr,
    /// The server's trace log, written a line per event as it runs.
    log: &'p Path,
    /// What the live server sent, per connection, filled by one reader
    /// thread per connection.
    shared: Shared,
    socks: HashMap<ConnId, TcpStream>,
    /// Live client port → capture connection.
    ports: HashMap<u16, ConnId>,
    /// The sids and keys the live server chose instead of the captured ones.
    subst: Subst,
    /// Connections the live server stopped taking bytes on.
    dead: BTreeSet<ConnId>,
    /// Per connection, how many bytes the live server sent more (or less)
    /// than the captured one so far.
    adjust: HashMap<ConnId, i64>,
    /// Per connection, from which live offset on the live stream is how much
    /// shorter (for [`realign`]).
    shifts: HashMap<ConnId, Vec<(u64, i64)>>,
    last_conn: Option<ConnId>,
}

impl<'p> Replay<'p> {
    fn new(addr: SocketAddr, plan: &'p Plan, log: &'p Path) -> Replay<'p> {
        Replay {
            plan,
            addr,
            log,
            shared: Arc::new((Mutex::new(Live::default()), Condvar::new())),
            socks: HashMap::new(),
            ports: HashMap::new(),
            subst: Subst::default(),
            dead: BTreeSet::new(),
            adjust: HashMap::new(),
            shifts: HashMap::new(),
            last_conn: None,
        }
    }

    /// One action, once the server has caught up with it.
    fn act(
        &mut self,
        action: &Action,
        opts: &RunOptions,
        differences: &mut Vec<String>,
    ) -> Result<(), TraceError> {
        let (Action::Send { after, .. } | Action::Close { after, .. } | Action::End { after }) =
            action;
        self.wait(after, opts, differences);
        // The pause keeps a connection's steps apart for attribution; a
        // switch to another connection goes at once, so that races between
        // connections (a long-poll GET against the WebSocket probe) play
        // out as they did in the capture.
        let conn_of_action = match action {
            Action::Send { conn, .. } | Action::Close { conn, .. } => Some(*conn),
            Action::End { .. } => None,
        };
        if conn_of_action.is_none() || conn_of_action == self.last_conn {
            std::thread::sleep(opts.settle);
            self.quiet();
        }
        self.last_conn = conn_of_action;
        match action {
            Action::Send {
                conn, start, end, ..
            } => self.send(*conn, *start, *end, differences)?,
            Action::Close { conn, .. } => {
                if let Some(s) = self.socks.get(conn) {
                    let _ = s.shutdown(Shutdown::Write);
                }
            }
            Action::End { .. } => {}
        }
        Ok(())
    }

    /// Waits until the server's trace log has stopped growing for a moment
    /// (at most a second): on a loaded machine the server may still be
    /// handling the last bytes when the settle time is over, and its calls
    /// would then be attributed to the next step.
    fn quiet(&self) {
        let size = || std::fs::metadata(self.log).map_or(0, |m| m.len());
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut last = size();
        loop {
            std::thread::sleep(Duration::from_millis(15));
            let now = size();
            if now == last || Instant::now() >= deadline {
                return;
            }
            last = now;
        }
    }

    /// Waits until the live server has sent what `after` expects, at most
    /// `opts.timeout`; when it sent less, expects that much less from then
    /// on and says so. Then learns the sids the live server chose.
    fn wait(&mut self, after: &Expect, opts: &RunOptions, differences: &mut Vec<String>) {
        let empty = WireConn::default();
        let (lock, cv) = &*self.shared;
        let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + opts.timeout;
        while !holds(&g, after, &self.adjust) {
            let now = Instant::now();
            if now >= until {
                for (c, (n, fin)) in after {
                    let (have, eof) = g
                        .bufs
                        .get(c)
                        .map_or((0, false), |(b, e)| (b.len() as u64, *e));
                    let n = &target(*n, &self.adjust, *c);
                    if have < *n || (*fin && !eof) {
                        // Wait for this much less from now on: the live
                        // server sent fewer bytes than the captured one.
                        if have < *n {
                            let d = i64::try_from(*n - have).unwrap_or(0);
                            *self.adjust.entry(*c).or_default() -= d;
                            // Live bytes from `have` on stand for
                            // captured ones `d` further on.
                            let total = -self.adjust[c];
                            self.shifts.entry(*c).or_default().push((have, total));
                        }
                        differences.push(format!(
                            "conn {c}: waited {:.1} s for the server's byte {n}{} and it has sent {have}{}",
                            opts.timeout.as_secs_f64(),
                            if *fin { " and FIN" } else { "" },
                            if eof { " and closed" } else { "" }
                        ));
                    }
                }
                break;
            }
            g = cv
                .wait_timeout(g, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        for (c, (buf, _)) in &g.bufs {
            let w = self.plan.wire.conns.get(c).unwrap_or(&empty);
            self.subst.learn(&w.streams[1], buf);
        }
    }

    /// Sends client bytes `[start, end)` of a connection, connecting first.
    fn send(
        &mut self,
        conn: ConnId,
        start: u64,
        end: u64,
        differences: &mut Vec<String>,
    ) -> Result<(), TraceError> {
        if self.dead.contains(&conn) {
            return Ok(());
        }
        if !self.socks.contains_key(&conn) {
            self.connect(conn)?;
        }
        let empty = WireConn::default();
        let w = self.plan.wire.conns.get(&conn).unwrap_or(&empty);
        let stream = self
            .subst
            .client_stream(&w.streams[0], self.plan.ws_start.get(&conn).copied());
        let (a, z) = (start as usize, (end as usize).min(stream.len()));
        if let Some(s) = self.socks.get_mut(&conn)
            && a < z
            && let Err(e) = s.write_all(&stream[a..z])
        {
            differences.push(format!(
                "conn {conn}: the live server no longer takes client bytes at offset {a} ({e})"
            ));
            self.dead.insert(conn);
        }
        Ok(())
    }

    /// Opens the connection standing for `conn`, with a thread collecting
    /// what the server sends on it.
    fn connect(&mut self, conn: ConnId) -> Result<(), TraceError> {
        let s = TcpStream::connect(self.addr)?;
        let _ = s.set_nodelay(true);
        self.ports.insert(s.local_addr()?.port(), conn);
        let mut r = s.try_clone()?;
        let sh = self.shared.clone();
        sh.0.lock()
            .unwrap_or_else(|e| e.into_inner())
            .bufs
            .insert(conn, (Vec::new(), false));
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = r.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*sh;
                let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                let e = g.bufs.entry(conn).or_default();
                if n == 0 {
                    e.1 = true;
                } else {
                    e.0.extend_from_slice(&buf[..n]);
                }
                cv.notify_all();
                if n == 0 {
                    break;
                }
            }
        });
        self.socks.insert(conn, s);
        Ok(())
    }

    /// Compares what the live server sent with the capture.
    fn compare(&self, err: &mut dyn Write, differences: &mut Vec<String>) {
        let g = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        for (c, w) in &self.plan.wire.conns {
            let live = g.bufs.get(c).map(|b| b.0.as_slice()).unwrap_or_default();
            let live = self.subst.server_stream(live);
            if std::env::var_os("DISPEL_TRACE_DEBUG").is_some() {
                let _ = writeln!(
                    err,
                    "conn {c} live s2c ({} bytes): {:?}",
                    live.len(),
                    String::from_utf8_lossy(&live[..live.len().min(400)])
                );
            }
            for (off, cap, got) in differences_of(&w.streams[1], &live) {
                differences.push(format!(
                    "conn {c} s2c offset {off}: captured {cap} live {got}"
                ));
            }
        }
    }
}

/// Moves the live server's write offsets to the captured stream's where a
/// live response proved shorter (`shifts`: per connection, from a live
/// offset on, how many bytes the capture has more), so writes after it
/// still land on their steps.
pub fn realign(
    log: &mut Log,
    ports: &HashMap<u16, ConnId>,
    shifts: &HashMap<ConnId, Vec<(u64, i64)>>,
) {
    for ev in &mut log.events {
        if let LogEv::Io {
            port,
            dir: Dir::S2c,
            off,
            ..
        } = ev
            && let Some(c) = ports.get(port)
            && let Some(v) = shifts.get(c)
            && let Some(&(_, d)) = v.iter().rev().find(|(at, _)| *at <= *off)
        {
            *off = u64::try_from(i64::try_from(*off).unwrap_or(i64::MAX).saturating_add(d))
                .unwrap_or(0);
        }
    }
}

fn differences_of(captured: &[u8], live: &[u8]) -> Vec<(usize, String, String)> {
    let show = |b: &[u8]| {
        let s = String::from_utf8_lossy(&b[..b.len().min(48)]).into_owned();
        let more = if b.len() > 48 { "…" } else { "" };
        format!("{:?}{more} ({} bytes)", s, b.len())
    };
    differences(captured, live)
        .into_iter()
        .take(10)
        .map(|(o, c, l)| (o, show(&c), show(&l)))
        .collect()
}

/// `dispel lessons trace`.
pub fn command(
    course: &Course,
    stack_id: &str,
    capture: &Path,
    json_out: bool,
    drafts: &[u64],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let Some(stack) = course.stack(stack_id) else {
        writeln!(
            err,
            "dispel: unknown stack `{}`; the stacks are: {}",
            escape(stack_id),
            course.stack_ids().join(", ")
        )?;
        return Ok(2);
    };
    let r = match run(stack, capture, &RunOptions::default(), err) {
        Ok(r) => r,
        Err(e) => {
            writeln!(err, "dispel: {}", escape(&e.to_string()))?;
            return Ok(2);
        }
    };
    if !drafts.is_empty() {
        for (i, &n) in drafts.iter().enumerate() {
            match draft(stack, &r.steps, &r.att, &r.log, n) {
                Some(y) => {
                    // One YAML document per step.
                    if i > 0 {
                        writeln!(out, "---")?;
                    }
                    write!(out, "{y}")?;
                }
                None => {
                    writeln!(err, "dispel: the capture has no step #{n}")?;
                    return Ok(2);
                }
            }
        }
        return Ok(0);
    }
    let mut rep = report(course, stack_id, &r.steps, &r.places, &r.log, &r.att);
    rep.capture = capture.display().to_string();
    rep.differences = r.differences;
    if json_out {
        writeln!(out, "{}", json!(rep))?;
    } else {
        write_text(&rep, out)?;
    }
    Ok(u8::from(rep.refuted > 0))
}
