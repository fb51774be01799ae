//! The step trace: what a student steps through and what every output renders.
//!
//! A [`Step`] is one thing that happened on the wire at one layer — a TCP
//! event, an HTTP message, a handshake stage, a WebSocket frame, an assembled
//! message, an Engine.IO packet, a Socket.IO packet. Parsers never build steps;
//! the instrumentation layer (`crate::analyze`) turns their results into steps,
//! and the TUI and every headless format render the same values.
//!
//! Everything points at bytes: every [`Field`] may carry a [`Span`] into one of
//! the step's [`Buffer`]s, and a buffer is either a slice of a TCP stream (with
//! its stream offset, so it maps back to capture packets) or a buffer derived
//! from one (an unmasked payload, an inflated message, a decoded HTTP body).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::rules::Rule;
pub use crate::rules::Severity;

/// Index of a TCP connection, in order of first appearance, as Wireshark's
/// `tcp.stream` (0-based) so students can type `tcp.stream == N` there.
pub type ConnId = u32;

/// What one layer stack reads: a connection's own bytes (stream 0), or a
/// stream multiplexed within it (an HTTP/2 stream carrying a WebSocket,
/// RFC 8441, would be one). Connections are numbered as Wireshark's
/// `tcp.stream`; outputs name the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel {
    pub conn: ConnId,
    /// 0: the connection itself.
    pub stream: u32,
}

impl Channel {
    /// A connection's own bytes.
    pub const fn of(conn: ConnId) -> Channel {
        Channel { conn, stream: 0 }
    }
}

/// Capture packet number, 1-based in capture order, as Wireshark's `frame.number`.
pub type FrameNo = u64;

/// The capture packets behind a step, ascending. Almost every step comes
/// from one or two packets, kept inline: a step's frame list was its
/// most frequent allocation.
pub type Frames = smallvec::SmallVec<[FrameNo; 2]>;

/// Which way bytes travelled on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Client to server (the side that sent the SYN).
    C2s,
    /// Server to client.
    S2c,
}

impl Dir {
    /// The wire name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::C2s => "c2s",
            Dir::S2c => "s2c",
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::C2s => Dir::S2c,
            Dir::S2c => Dir::C2s,
        }
    }

    /// An arrow for one-line summaries: `→` client to server, `←` back.
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::C2s => "→",
            Dir::S2c => "←",
        }
    }

    /// 0 for c2s, 1 for s2c: for per-direction arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A capture timestamp: seconds and nanoseconds since the Unix epoch, as
/// recorded in the file (never the wall clock of the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    /// Seconds elapsed since `origin`, as a float (negative if earlier).
    pub fn since(self, origin: Timestamp) -> f64 {
        let ns = self.as_nanos() - origin.as_nanos();
        ns as f64 / 1e9
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }
}

/// A protocol violation or anomaly attached to a step. The rule carries the
/// stable id, severity and spec section; the message is one sentence that
/// teaches what is wrong in this instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static Rule,
    pub message: String,
}

impl Finding {
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            message: message.into(),
        }
    }
}

/// Where a buffer's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A slice of the step's TCP stream (its connection and direction),
    /// starting at this stream offset (relative sequence number − 1).
    Stream { offset: u64 },
    /// Computed from other bytes: an unmasked payload, an inflated message, a
    /// de-chunked body, a base64-decoded attachment.
    Derived,
}

/// A named run of bytes a step's fields point into.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// Short name shown above the hex view: `stream`, `unmasked`, `inflated`, `body`.
    pub name: &'static str,
    pub origin: Origin,
    pub data: Arc<[u8]>,
}

/// The bytes a field came from: a byte range of one of the step's buffers,
/// and for bit fields the mask of the bits within those bytes (big-endian, as
/// the bytes read left to right; `0x80` of a one-byte span is its top bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub buf: u16,
    pub start: u32,
    pub len: u32,
    pub mask: Option<u64>,
}

impl Span {
    /// A byte range of buffer `buf`.
    pub fn bytes(buf: u16, start: usize, len: usize) -> Span {
        Span {
            buf,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(len).unwrap_or(u32::MAX),
            mask: None,
        }
    }

    /// A bit field within a byte range of buffer `buf`.
    pub fn bits(buf: u16, start: usize, len: usize, mask: u64) -> Span {
        Span {
            mask: Some(mask),
            ..Span::bytes(buf, start, len)
        }
    }

    /// The range as `usize`s.
    pub fn range(&self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start.saturating_add(self.len as usize)
    }
}

/// A field's value, typed as Wireshark shows it so outputs can be compared
/// with tshark's directly: booleans for flags, integers for numbers, bytes as
/// lowercase hex in JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// The bytes under the field's own span (saves copying large payloads).
    SpanBytes,
    /// A JSON value (Engine.IO / Socket.IO data), rendered as compact JSON.
    Json(serde_json::Value),
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::UInt(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::UInt(u64::from(v))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::UInt(u64::from(v))
    }
}
impl From<u8> for Value {
    fn from(v: u8) -> Value {
        Value::UInt(u64::from(v))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::UInt(v as u64)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}

/// One named value of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Wireshark display-filter name where one exists (`websocket.opcode`),
    /// the same dotted style for dispel's own layers (`engineio.type`).
    pub name: Cow<'static, str>,
    pub value: Value,
    /// A human rendering where the raw value is not self-explanatory, e.g.
    /// `Text (1)` for an opcode, `Normal Closure` for close code 1000.
    /// Most are fixed text (no allocation); some are built per field.
    pub show: Option<Cow<'static, str>>,
    pub span: Option<Span>,
    /// Nesting level in the field tree (0 = top).
    pub depth: u8,
}

impl Field {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            show: None,
            span: None,
            depth: 0,
        }
    }

    pub fn span(mut self, span: Span) -> Field {
        self.span = Some(span);
        self
    }

    pub fn show(mut self, show: impl Into<Cow<'static, str>>) -> Field {
        self.show = Some(show.into());
        self
    }

    pub fn depth(mut self, depth: u8) -> Field {
        self.depth = depth;
        self
    }
}

/// One thing a student steps through.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub conn: ConnId,
    pub dir: Dir,
    /// The capture packets that carried this step's bytes, ascending.
    pub frames: Frames,
    /// Timestamp of the packet that completed the step.
    pub time: Timestamp,
    /// Dotted kind, e.g. `tcp.syn`, `http.request`, `websocket.frame`.
    pub kind: &'static str,
    /// A one-line summary for timelines: `WS text "42[\"chat\",\"hi\"]"`.
    pub summary: String,
    pub fields: Vec<Field>,
    pub findings: Vec<Finding>,
    pub buffers: Vec<Buffer>,
    /// The Engine.IO session this step belongs to, if any (index into the
    /// run's session list).
    pub session: Option<u32>,
}

impl Step {
    pub fn new(conn: ConnId, dir: Dir, kind: &'static str, time: Timestamp) -> Step {
        Step {
            conn,
            dir,
            frames: Frames::new(),
            time,
            kind,
            summary: String::new(),
            fields: Vec::new(),
            findings: Vec::new(),
            buffers: Vec::new(),
            session: None,
        }
    }

    /// The first field of that name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Adds a buffer and returns its index for spans.
    pub fn add_buffer(&mut self, name: &'static str, origin: Origin, data: Arc<[u8]>) -> u16 {
        self.buffers.push(Buffer { name, origin, data });
        u16::try_from(self.buffers.len() - 1).unwrap_or(u16::MAX)
    }

    /// The bytes a span points at, if the span is valid for this step.
    pub fn span_bytes(&self, span: &Span) -> Option<&[u8]> {
        self.buffers
            .get(usize::from(span.buf))
            .and_then(|b| b.data.get(span.range()))
    }

    /// The layer of the step: the part of the kind before the first dot.
    pub fn layer(&self) -> &'static str {
        self.kind.split('.').next().unwrap_or(self.kind)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s}"),
            Value::Bytes(b) => f.write_str(&hex::encode(b)),
            Value::SpanBytes => f.write_str("(bytes)"),
            Value::Json(v) => write!(f, "{v}"),
        }
    }
}
