//! `--format text`: a readable, aligned block per step.
//!
//! Everything that came from the capture is escaped for the terminal (see
//! `crate::sanitize`), whether or not stdout is a terminal: a text trace
//! saved to a file is read with `cat` and `less` too.

use std::io::{self, Write};

use super::Filter;
use crate::analyze::{CaptureInfo, Rendered, Report, Sink};
use crate::error::CaptureError;
use crate::sanitize::escape;
use crate::step::{Field, Step, Timestamp, Value};
use crate::tcp::ConnMeta;

/// Bytes shown of a byte field before eliding.
const MAX_BYTES_SHOWN: usize = 64;

pub struct TextSink<W: Write> {
    out: W,
    filter: Filter,
    origin: Timestamp,
    number: u64,
}

impl<W: Write> TextSink<W> {
    pub fn new(out: W, filter: Filter) -> TextSink<W> {
        TextSink {
            out,
            filter,
            origin: Timestamp::default(),
            number: 0,
        }
    }
}

/// A field's value for a human: its `show` text, or the value; long byte
/// strings elided with their length.
pub fn render_value(step: &Step, f: &Field) -> String {
    let bytes = match &f.value {
        Value::Bytes(b) => Some(b.as_slice()),
        Value::SpanBytes => f.span.and_then(|s| step.span_bytes(&s)),
        Value::Str(s) => {
            let shown = format!("\"{}\"", escape(s));
            return match &f.show {
                Some(show) => format!("{shown}  ({})", escape(show)),
                None => shown,
            };
        }
        _ => None,
    };
    let raw = match bytes {
        Some([]) => "(empty)".to_string(),
        Some(b) if b.len() > MAX_BYTES_SHOWN => format!(
            "{}… ({} bytes)",
            hex::encode(&b[..MAX_BYTES_SHOWN]),
            b.len()
        ),
        Some(b) => hex::encode(b),
        None => f.value.to_string(),
    };
    match &f.show {
        Some(show) => format!("{}  ({})", escape(&raw), escape(show)),
        None => escape(&raw).into_owned(),
    }
}

/// Text values longer than this are escaped and written a piece at a time
/// ([`write_value`]), not copied whole first.
const PIECE: usize = 64 * 1024;

/// [`render_value`], written to `out`: a 16 MiB text value is escaped and
/// written in pieces of [`PIECE`] bytes rather than built as one string.
pub fn write_value(out: &mut dyn Write, step: &Step, f: &Field) -> io::Result<()> {
    let Value::Str(s) = &f.value else {
        return out.write_all(render_value(step, f).as_bytes());
    };
    if s.len() <= PIECE {
        return out.write_all(render_value(step, f).as_bytes());
    }
    out.write_all(b"\"")?;
    let mut rest = s.as_str();
    while !rest.is_empty() {
        let mut cut = rest.len().min(PIECE);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        out.write_all(escape(piece).as_bytes())?;
        rest = tail;
    }
    out.write_all(b"\"")?;
    if let Some(show) = &f.show {
        write!(out, "  ({})", escape(show))?;
    }
    Ok(())
}

/// Frame numbers compactly: `4`, `4,6`, `4–9` for a run.
pub fn frames_label(frames: &[u64]) -> String {
    match frames {
        [] => "-".into(),
        [one] => one.to_string(),
        [first, .., last] if (last - first) as usize + 1 == frames.len() => {
            format!("{first}–{last}")
        }
        _ if frames.len() <= 4 => frames
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        [first, .., last] => format!("{first}…{last} ({} packets)", frames.len()),
    }
}

impl<W: Write> Sink for TextSink<W> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.origin = info.origin;
        writeln!(
            self.out,
            "capture {} ({})\n",
            escape(&info.name),
            info.format.describe()
        )
    }

    fn connection(&mut self, m: &ConnMeta) -> io::Result<()> {
        if !self.filter.conn_shown(m.id) {
            return Ok(());
        }
        let guessed = if m.role_guessed {
            "  (roles guessed from ports)"
        } else {
            ""
        };
        writeln!(
            self.out,
            "== conn {}: client {} ⇄ server {}{guessed}\n",
            m.id, m.client, m.server
        )
    }

    fn step(&mut self, n: u64, s: &Step, _: Rendered<'_>) -> io::Result<()> {
        self.number = n;
        if !self.filter.step_shown(s) {
            return Ok(());
        }
        let t = s.time.since(self.origin);
        writeln!(
            self.out,
            "#{:<5} {:>10.6}s  conn {} {} {}  {}  [packets {}]",
            self.number,
            t,
            s.conn,
            s.dir.as_str(),
            s.dir.arrow(),
            s.kind,
            frames_label(&s.frames)
        )?;
        writeln!(self.out, "       {}", escape(&s.summary))?;
        let width = s
            .fields
            .iter()
            .map(|f| f.name.len() + 2 * usize::from(f.depth))
            .max()
            .unwrap_or(0);
        for f in &s.fields {
            let indent = "  ".repeat(usize::from(f.depth));
            let name = format!("{indent}{}", f.name);
            write!(self.out, "         {name:<width$}  ")?;
            write_value(&mut self.out, s, f)?;
            writeln!(self.out)?;
        }
        unmasking(&mut self.out, s)?;
        for f in &s.findings {
            writeln!(
                self.out,
                "       ! {} {} ({}): {}",
                f.rule.severity.as_str(),
                f.rule.id,
                f.rule.section,
                escape(&f.message)
            )?;
        }
        writeln!(self.out)
    }

    fn finish(&mut self, r: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        let total: u64 = r.findings.values().sum();
        writeln!(
            self.out,
            "{} packets ({} TCP, {} other), {} connections, {} steps, {} findings",
            r.packets,
            r.tcp_packets,
            r.non_tcp_packets,
            r.connections.len(),
            r.steps,
            total
        )?;
        for (id, n) in &r.findings {
            writeln!(self.out, "  {n:>5}  {id}")?;
        }
        for n in &r.notices {
            writeln!(self.out, "note: {}", escape(&n.message))?;
        }
        if let Some(e) = error {
            writeln!(self.out, "stopped early: {}", escape(&e.to_string()))?;
        }
        self.out.flush()
    }
}

/// Bytes of the unmasking table shown per masked frame.
const UNMASK_ROWS: usize = 8;

/// For a masked frame, how the payload was unmasked (RFC 6455 §5.3):
/// byte i of the payload is the masked byte XOR key byte i mod 4.
fn unmasking(out: &mut dyn Write, s: &Step) -> io::Result<()> {
    let bytes_of = |name: &str| {
        s.field(name).and_then(|f| match &f.value {
            Value::Bytes(b) => Some(b.as_slice()),
            Value::SpanBytes => f.span.and_then(|sp| s.span_bytes(&sp)),
            _ => None,
        })
    };
    let (Some(key), Some(masked), Some(plain)) = (
        bytes_of("websocket.masking_key"),
        bytes_of("websocket.masked_payload"),
        bytes_of("websocket.payload"),
    ) else {
        return Ok(());
    };
    if key.len() != 4 || masked.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "         unmasking: payload[i] = masked[i] XOR key[i mod 4]"
    )?;
    for (i, (m, p)) in masked.iter().zip(plain).take(UNMASK_ROWS).enumerate() {
        let shown = if p.is_ascii_graphic() || *p == b' ' {
            format!("'{}'", *p as char)
        } else {
            String::new()
        };
        writeln!(
            out,
            "           [{i:>2}] {m:02x} XOR key[{}]={:02x} = {p:02x} {shown}",
            i % 4,
            key[i % 4]
        )?;
    }
    if masked.len() > UNMASK_ROWS {
        writeln!(
            out,
            "           … {} more bytes",
            masked.len() - UNMASK_ROWS
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::Dir;

    #[test]
    fn long_text_is_written_in_pieces_as_it_would_be_whole() {
        // Unsafe and multi-byte characters across every piece boundary.
        let text: String = (0..3 * PIECE / 4)
            .map(|i| ['a', '\u{1b}', 'é', '\u{202e}'][i % 4])
            .collect();
        let mut s = Step::new(0, Dir::C2s, "websocket.message", Timestamp::default());
        s.fields
            .push(Field::new("websocket.message.text", text).show("shown"));
        let f = &s.fields[0];
        let mut out = Vec::new();
        write_value(&mut out, &s, f).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), render_value(&s, f));
    }
}
