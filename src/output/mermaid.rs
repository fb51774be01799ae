//! The conversation as a sequence (ladder) diagram: client and server as two
//! lifelines, one arrow per message in time order, as textbooks draw a
//! protocol — in Mermaid's `sequenceDiagram` syntax, one diagram per TCP
//! connection (TCP control, HTTP, the 101, WebSocket messages and control
//! frames) and one per Engine.IO session (its Engine.IO and Socket.IO
//! packets, acks drawn back to their events).
//!
//! Everything from the capture is escaped: control and bidirectional
//! characters as text (`\x1b`), then every character outside a small safe
//! set as a Mermaid entity code (`#59;`), so no capture can end a line,
//! start a comment or change the diagram. The emitted subset is documented
//! in `docs/output-formats.md` and checked line by line by the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::analyze::{CaptureInfo, Rendered, Report, Sink};
use crate::error::CaptureError;
use crate::sanitize::escape;
use crate::step::{Dir, Step, Timestamp, Value};
use crate::tcp::ConnMeta;

use super::Filter;

/// Characters of a summary shown in an arrow's label.
const LABEL: usize = 72;

/// Whether a step is drawn as an arrow: a message between the two sides
/// (not a computed step, a frame of a message, or a summary).
pub fn is_arrow(step: &Step) -> bool {
    match step.kind {
        "tcp.syn" | "tcp.syn-ack" | "tcp.fin" | "tcp.rst" => true,
        "http.request" | "http.response" => true,
        "websocket.message" => true,
        // Control frames (close, ping, pong) are not part of a message.
        "websocket.frame" => matches!(
            step.field("websocket.opcode").map(|f| &f.value),
            Some(Value::UInt(8..=10))
        ),
        "engineio.packet" | "socketio.packet" => true,
        _ => false,
    }
}

/// Which diagram a step's arrow belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// A TCP connection: what travelled on it below Engine.IO.
    Conn(u32),
    /// An Engine.IO session, over however many connections it used.
    Session(u32),
}

pub fn lane(step: &Step) -> Lane {
    match (step.layer(), step.session) {
        ("engineio" | "socketio", Some(s)) => Lane::Session(s),
        _ => Lane::Conn(step.conn),
    }
}

/// One arrow.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The step's number (1-based, as every output numbers steps).
    pub number: u64,
    pub dir: Dir,
    /// Seconds since the capture's first packet.
    pub time: f64,
    /// The step's summary, unescaped.
    pub summary: String,
}

/// The characters a label keeps as they are. Mermaid's message text ends at
/// `#`, `;` or a line end; `%%` starts a comment, `<` HTML: those and
/// everything else outside this set (non-ASCII too) become entity codes.
pub const SAFE: &str = " .,_/()=+'!?@:-\"[]{}";

/// Every character outside letters, digits and [`SAFE`] as a Mermaid entity
/// code (`#59;`), after control characters became text.
pub fn mermaid_text(s: &str) -> String {
    let safe = escape(s);
    let mut out = String::with_capacity(safe.len());
    for c in safe.chars() {
        if c.is_ascii_alphanumeric() || SAFE.contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
    out
}

/// An arrow's label: step number, time, summary (cut to [`LABEL`] characters).
pub fn label(a: &Arrow) -> String {
    let mut summary: String = a.summary.chars().take(LABEL).collect();
    if a.summary.chars().count() > LABEL {
        summary.push('…');
    }
    mermaid_text(&format!("#{} {:.3}s {summary}", a.number, a.time))
}

/// The diagrams of a run, filled step by step.
#[derive(Debug, Default)]
pub struct Diagrams {
    conns: BTreeMap<u32, (String, String)>,
    lanes: BTreeMap<Lane, Vec<Arrow>>,
    sids: BTreeMap<u32, String>,
}

impl Diagrams {
    pub fn connection(&mut self, m: &ConnMeta) {
        self.conns
            .insert(m.id, (m.client.to_string(), m.server.to_string()));
    }

    /// Takes step `number` if it is drawn.
    pub fn step(&mut self, number: u64, s: &Step, origin: Timestamp) {
        if let Some(sess) = s.session
            && let Some(Value::Str(sid)) = s.field("engineio.open.sid").map(|f| &f.value)
        {
            self.sids.entry(sess).or_insert_with(|| sid.clone());
        }
        if !is_arrow(s) {
            return;
        }
        self.lanes.entry(lane(s)).or_default().push(Arrow {
            number,
            dir: s.dir,
            time: s.time.since(origin),
            summary: s.summary.clone(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// The arrows of each diagram, in order.
    pub fn lanes(&self) -> impl Iterator<Item = (&Lane, &Vec<Arrow>)> {
        self.lanes.iter()
    }

    /// A diagram's title, unescaped.
    pub fn title(&self, lane: Lane) -> String {
        match lane {
            Lane::Conn(c) => match self.conns.get(&c) {
                Some((client, server)) => {
                    format!("connection {c}: client {client}, server {server}")
                }
                None => format!("connection {c}"),
            },
            Lane::Session(s) => match self.sids.get(&s) {
                Some(sid) => format!("Engine.IO session {s} (sid {sid})"),
                None => format!("Engine.IO session {s}"),
            },
        }
    }

    /// Each diagram's Mermaid text, with its title.
    pub fn render(&self) -> Vec<(String, String)> {
        self.lanes
            .iter()
            .map(|(lane, arrows)| {
                let title = self.title(*lane);
                let mut d = String::from("sequenceDiagram\n");
                d.push_str("    participant C as client\n");
                d.push_str("    participant S as server\n");
                let _ = writeln!(d, "    Note over C,S: {}", mermaid_text(&title));
                for a in arrows {
                    let arrow = match a.dir {
                        Dir::C2s => "C->>S",
                        Dir::S2c => "S-->>C",
                    };
                    let _ = writeln!(d, "    {arrow}: {}", label(a));
                }
                (title, d)
            })
            .collect()
    }
}

/// `dispel explain --format mermaid`: the diagrams, each after a `%%`
/// comment naming it, separated by a blank line.
pub struct MermaidSink<W: Write> {
    out: W,
    filter: Filter,
    origin: Timestamp,
    diagrams: Diagrams,
}

impl<W: Write> MermaidSink<W> {
    pub fn new(out: W, filter: Filter) -> MermaidSink<W> {
        MermaidSink {
            out,
            filter,
            origin: Timestamp::default(),
            diagrams: Diagrams::default(),
        }
    }
}

impl<W: Write> Sink for MermaidSink<W> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.origin = info.origin;
        Ok(())
    }

    fn connection(&mut self, m: &ConnMeta) -> io::Result<()> {
        self.diagrams.connection(m);
        Ok(())
    }

    fn step(&mut self, n: u64, s: &Step, _: Rendered<'_>) -> io::Result<()> {
        if self.filter.step_shown(s) {
            self.diagrams.step(n, s, self.origin);
        } else if s.field("engineio.open.sid").is_some() {
            // The session's name, even when its open packet is not drawn.
            let mut d = Diagrams::default();
            d.step(n, s, self.origin);
            self.diagrams.sids.extend(d.sids);
        }
        Ok(())
    }

    fn finish(&mut self, _r: &Report, _error: Option<&CaptureError>) -> io::Result<()> {
        for (i, (title, d)) in self.diagrams.render().into_iter().enumerate() {
            if i > 0 {
                writeln!(self.out)?;
            }
            writeln!(self.out, "%% {}", mermaid_text(&title))?;
            self.out.write_all(d.as_bytes())?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_text_cannot_change_the_diagram() {
        assert_eq!(mermaid_text("WS text"), "WS text");
        assert_eq!(mermaid_text("a;b"), "a#59;b");
        assert_eq!(mermaid_text("%%x"), "#37;#37;x");
        assert_eq!(mermaid_text("a\nb"), "a#92;x0ab");
        assert_eq!(mermaid_text("→"), "#8594;");
        assert_eq!(mermaid_text("x\u{202e}"), "x#92;u{202e}");
        assert_eq!(mermaid_text("<br>&"), "#60;br#62;#38;");
    }
}
