//! The bytes behind the selected field: a hex + ASCII dump of the buffer the
//! field points into, with the field's bytes highlighted; the first two bytes
//! of a WebSocket frame bit by bit; the unmasking of a masked frame byte by
//! byte; the Sec-WebSocket-Accept derivation stage by stage.
//!
//! Lines are produced by index, so a multi-megabyte message costs only the
//! rows on screen.

use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{pane_block, render_lines, scroll_marks};
use crate::sanitize::escape;
use crate::step::{Origin, Step, Value};
use crate::tui::app::{App, Pane};

const HL: Style = Style::new().fg(Color::Black).bg(Color::Yellow);

/// What the hex dump shows: which buffer, and which of its bytes are the
/// selected field's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexModel<'a> {
    pub buf: usize,
    pub data: &'a [u8],
    /// The selected field's bytes within `data` (empty when it has none).
    pub highlight: Range<usize>,
    pub per_line: usize,
    /// Bytes an open question hides (drawn `··`).
    pub hidden: Vec<Range<usize>>,
}

impl<'a> HexModel<'a> {
    /// The dump for field `field` of `step`: the buffer its span points into
    /// (the step's first buffer when the field has no span).
    pub fn new(step: &'a Step, field: usize, per_line: usize) -> Option<HexModel<'a>> {
        let span = step.fields.get(field).and_then(|f| f.span);
        let buf = span.map_or(0, |s| usize::from(s.buf));
        let data: &[u8] = &step.buffers.get(buf)?.data;
        let highlight = match span {
            Some(s) => {
                let r = s.range();
                r.start.min(data.len())..r.end.min(data.len())
            }
            None => 0..0,
        };
        Some(HexModel {
            buf,
            data,
            highlight,
            per_line: per_line.max(1),
            hidden: Vec::new(),
        })
    }

    /// The same dump with the bytes of `spans` in its buffer hidden.
    pub fn hiding(mut self, spans: &[crate::step::Span]) -> HexModel<'a> {
        self.hidden = spans
            .iter()
            .filter(|s| usize::from(s.buf) == self.buf)
            .map(|s| s.range())
            .collect();
        self
    }

    pub fn is_hidden(&self, offset: usize) -> bool {
        self.hidden.iter().any(|r| r.contains(&offset))
    }

    pub fn is_highlighted(&self, offset: usize) -> bool {
        self.highlight.contains(&offset)
    }

    pub fn rows(&self) -> usize {
        self.data.len().div_ceil(self.per_line).max(1)
    }

    /// Hex row `r`: offset, bytes, ASCII.
    pub fn row(&self, r: usize) -> Line<'static> {
        let start = r * self.per_line;
        let end = (start + self.per_line).min(self.data.len());
        let digits = format!("{:x}", self.data.len()).len().max(4);
        let mut spans = vec![Span::styled(
            format!("{start:0digits$x}  "),
            Style::new().fg(Color::DarkGray),
        )];
        for off in start..start + self.per_line {
            if off > start && (off - start).is_multiple_of(8) {
                spans.push(Span::raw(" "));
            }
            match self.data.get(off).filter(|_| off < end) {
                Some(b) => {
                    let style = if self.is_highlighted(off) {
                        HL
                    } else {
                        Style::new()
                    };
                    if self.is_hidden(off) {
                        spans.push(Span::styled("··", style));
                    } else {
                        spans.push(Span::styled(format!("{b:02x}"), style));
                    }
                    spans.push(Span::raw(" "));
                }
                None => spans.push(Span::raw("   ")),
            }
        }
        spans.push(Span::raw(" "));
        for off in start..end {
            let b = self.data[off];
            // Only printable ASCII reaches the terminal as itself.
            let c = if self.is_hidden(off) {
                '·'
            } else if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            };
            let style = if self.is_highlighted(off) {
                HL
            } else {
                Style::new().fg(Color::Gray)
            };
            spans.push(Span::styled(c.to_string(), style));
        }
        Line::from(spans)
    }
}

/// Bytes a field of the step holds: its value or its span's bytes.
fn field_bytes<'s>(s: &'s Step, name: &str) -> Option<&'s [u8]> {
    s.field(name).and_then(|f| match &f.value {
        Value::Bytes(b) => Some(b.as_slice()),
        Value::SpanBytes => f.span.and_then(|sp| s.span_bytes(&sp)),
        _ => None,
    })
}

fn field_str(s: &Step, name: &str) -> Option<String> {
    s.field(name).map(|f| match &f.value {
        Value::Str(v) => escape(v).into_owned(),
        v => escape(&v.to_string()).into_owned(),
    })
}

/// The first two bytes of a WebSocket frame, bit by bit (RFC 6455 §5.2).
fn frame_bits(step: &Step, selected: usize, width: u16) -> Vec<Line<'static>> {
    let Some(fin) = step.field("websocket.fin").and_then(|f| f.span) else {
        return Vec::new();
    };
    let Some(data) = step.buffers.get(usize::from(fin.buf)).map(|b| &b.data) else {
        return Vec::new();
    };
    let at = fin.start as usize;
    let (Some(&b0), Some(&b1)) = (data.get(at), data.get(at + 1)) else {
        return Vec::new();
    };
    // Which bits of which frame byte the selected field covers.
    let sel = step.fields.get(selected).and_then(|f| f.span);
    let lit = |byte: usize, bit: u32| -> bool {
        let Some(s) = sel else { return false };
        if s.buf != fin.buf || !s.range().contains(&byte) {
            return false;
        }
        let j = byte - s.start as usize; // byte within the span
        let shift = (s.len as usize - 1 - j) * 8 + bit as usize;
        match s.mask {
            Some(m) => shift < 64 && (m >> shift) & 1 == 1,
            None => true,
        }
    };
    let mut out = vec![Line::styled(
        "frame header bits (RFC 6455 §5.2)",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (k, (b, names, legend)) in [
        (b0, "F 1 2 3 o o o o", "F FIN · 1-3 RSV1-3 · o opcode"),
        (b1, "M l l l l l l l", "M MASK · l payload length"),
    ]
    .into_iter()
    .enumerate()
    {
        let head = Line::from(vec![
            Span::raw(format!("  byte {k} = 0x{b:02x}   ")),
            Span::styled(names, Style::new().fg(Color::DarkGray)),
        ]);
        let legend = format!("   {legend}");
        if head.width() + legend.chars().count() < usize::from(width) {
            let mut head = head;
            head.spans
                .push(Span::styled(legend, Style::new().fg(Color::DarkGray)));
            out.push(head);
        } else {
            // Too narrow for the legend beside the bits: it goes above them.
            out.push(Line::styled(
                format!("  {}", legend.trim_start()),
                Style::new().fg(Color::DarkGray),
            ));
            out.push(head);
        }
        let mut spans = vec![Span::raw("                  ")];
        for bit in (0..8).rev() {
            let v = (b >> bit) & 1;
            let style = if lit(at + k, bit) { HL } else { Style::new() };
            spans.push(Span::styled(v.to_string(), style));
            spans.push(Span::raw(" "));
        }
        out.push(Line::from(spans));
    }
    out
}

/// The Sec-WebSocket-Accept derivation (RFC 6455 §4.2.2), one stage a line.
fn accept_derivation(step: &Step, selected: usize, width: u16) -> Vec<Line<'static>> {
    if step.kind != "websocket.accept" {
        return Vec::new();
    }
    let sel_name = step.fields.get(selected).map(|f| f.name.as_ref());
    // A value too long for the line goes below its label, cut into pieces that fit.
    let stage = |n: &str, label: &str, name: &str, value: Option<String>, extra: usize| {
        let style = if sel_name == Some(name) {
            HL
        } else {
            Style::new()
        };
        let value = value.unwrap_or_else(|| "?".into());
        let label = Span::styled(format!("  {n} {label:<15}"), Style::new().fg(Color::Cyan));
        let width = usize::from(width);
        if 20 + value.chars().count() + extra < width {
            return vec![Line::from(vec![label, Span::styled(value, style)])];
        }
        let piece = width.saturating_sub(5).max(8);
        let chars: Vec<char> = value.chars().collect();
        let mut out = vec![Line::from(label)];
        for c in chars.chunks(piece) {
            out.push(Line::from(vec![
                Span::raw("    "),
                Span::styled(c.iter().collect::<String>(), style),
            ]));
        }
        out
    };
    let sha = field_bytes(step, "websocket.accept.sha1")
        .map(hex::encode)
        .or_else(|| field_str(step, "websocket.accept.sha1"));
    let expected = field_str(step, "websocket.accept.expected");
    let sent = field_str(step, "websocket.accept.sent");
    let verdict = match (&expected, &sent) {
        (Some(e), Some(s)) if e == s => Span::styled(" ✓ matches", Style::new().fg(Color::Green)),
        (_, None) => Span::styled(" (none sent)", Style::new().fg(Color::Red)),
        _ => Span::styled(" ✗ differs", Style::new().fg(Color::Red)),
    };
    let mut last = stage(
        "6",
        "server sent",
        "websocket.accept.sent",
        sent.clone(),
        12,
    );
    if let Some(l) = last.last_mut() {
        if l.width() + verdict.width() < usize::from(width) {
            l.spans.push(verdict);
        } else {
            last.push(Line::from(vec![Span::raw("   "), verdict]));
        }
    }
    let title = "Sec-WebSocket-Accept, derived (RFC 6455 §4.2.2)";
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut out = if title.chars().count() < usize::from(width) {
        vec![Line::styled(title, bold)]
    } else {
        vec![
            Line::styled("Sec-WebSocket-Accept, derived", bold),
            Line::styled("(RFC 6455 §4.2.2)", bold),
        ]
    };
    for lines in [
        stage(
            "1",
            "client key",
            "websocket.accept.key",
            field_str(step, "websocket.accept.key"),
            0,
        ),
        stage(
            "2",
            "+ GUID",
            "websocket.accept.guid",
            field_str(step, "websocket.accept.guid"),
            0,
        ),
        stage(
            "3",
            "= concatenated",
            "websocket.accept.concatenated",
            field_str(step, "websocket.accept.concatenated"),
            0,
        ),
        stage("4", "SHA-1 (hex)", "websocket.accept.sha1", sha, 0),
        stage("5", "base64", "websocket.accept.expected", expected, 0),
        last,
    ] {
        out.extend(lines);
    }
    out.push(Line::raw(""));
    out
}

/// The unmasking table's title, on one line or two.
const TITLE: (&str, &str) = (
    "unmasking (RFC 6455 §5.3):",
    "payload[i] = masked[i] XOR key[i mod 4]",
);

/// Which column of the unmasking table the selected field is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UnmaskCol {
    None,
    Masked,
    Key,
    Plain,
}

struct Unmask<'a> {
    key: &'a [u8],
    masked: &'a [u8],
    plain: &'a [u8],
    col: UnmaskCol,
    /// The title on two lines (a narrow pane).
    narrow: bool,
}

impl<'a> Unmask<'a> {
    fn of(step: &'a Step, selected: usize, width: u16) -> Option<Unmask<'a>> {
        let key = field_bytes(step, "websocket.masking_key")?;
        let masked = field_bytes(step, "websocket.masked_payload")?;
        let plain = field_bytes(step, "websocket.payload")?;
        if key.len() != 4 {
            return None;
        }
        let col = match step.fields.get(selected).map(|f| f.name.as_ref()) {
            Some("websocket.masked_payload") => UnmaskCol::Masked,
            Some("websocket.masking_key") => UnmaskCol::Key,
            Some("websocket.payload") => UnmaskCol::Plain,
            _ => UnmaskCol::None,
        };
        Some(Unmask {
            key,
            masked,
            plain,
            col,
            narrow: usize::from(width) <= TITLE.0.chars().count() + TITLE.1.chars().count() + 1,
        })
    }

    /// Lines before the table's rows.
    fn head(&self) -> usize {
        if self.narrow { 3 } else { 2 }
    }

    fn lines(&self) -> usize {
        self.head() + self.masked.len().min(self.plain.len())
    }

    fn line(&self, i: usize) -> Line<'static> {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let i = if !self.narrow && i > 0 { i + 1 } else { i };
        match i {
            0 if self.narrow => Line::styled(TITLE.0, bold),
            1 if self.narrow => Line::styled(TITLE.1, bold),
            0 => Line::styled(format!("{} {}", TITLE.0, TITLE.1), bold),
            2 => Line::styled(
                "       i  masked   key          payload",
                Style::new().fg(Color::DarkGray),
            ),
            _ => {
                let i = i - 3;
                let (m, p) = (self.masked[i], self.plain[i]);
                let k = self.key[i % 4];
                let st = |c: UnmaskCol| if self.col == c { HL } else { Style::new() };
                let ch = if (0x20..0x7f).contains(&p) {
                    format!("'{}'", p as char)
                } else {
                    String::new()
                };
                Line::from(vec![
                    Span::raw(format!("  {i:>6}  ")),
                    Span::styled(format!("{m:02x}"), st(UnmaskCol::Masked)),
                    Span::raw("  XOR "),
                    Span::styled(format!("{k:02x}"), st(UnmaskCol::Key)),
                    Span::styled(format!(" key[{}]", i % 4), Style::new().fg(Color::DarkGray)),
                    Span::raw(" = "),
                    Span::styled(format!("{p:02x}"), st(UnmaskCol::Plain)),
                    Span::raw(format!(" {ch}")),
                ])
            }
        }
    }
}

/// The pane's content as numbered lines.
pub struct BytesContent<'a> {
    pre: Vec<Line<'static>>,
    hex: Option<HexModel<'a>>,
    /// What the buffer is: one line, or two in a narrow pane.
    header: Vec<Line<'static>>,
    bits: Vec<Line<'static>>,
    unmask: Option<Unmask<'a>>,
}

impl<'a> BytesContent<'a> {
    pub fn new(step: &'a Step, field: usize, width: u16) -> BytesContent<'a> {
        BytesContent::hiding(step, field, width, &[])
    }

    /// [`BytesContent::new`] with the bytes of `hidden` drawn `··`, and the
    /// header bits left out when they would show hidden bits.
    pub fn hiding(
        step: &'a Step,
        field: usize,
        width: u16,
        hidden: &[crate::step::Span],
    ) -> BytesContent<'a> {
        // offset (4-8) + 2, 3 per byte, a gap per 8, 1 + 1 per byte of ASCII.
        let per_line = if width >= 76 {
            16
        } else if width >= 40 {
            8
        } else {
            4
        };
        let hex = HexModel::new(step, field, per_line).map(|h| h.hiding(hidden));
        let header = match &hex {
            Some(h) => {
                let b = &step.buffers[h.buf];
                let origin = match b.origin {
                    Origin::Stream { offset } => format!(
                        "conn {} {} stream bytes {}–{}",
                        step.conn,
                        step.dir.as_str(),
                        offset,
                        offset + b.data.len() as u64
                    ),
                    Origin::Derived => "derived".into(),
                };
                let mut parts = vec![format!("{} bytes", b.data.len()), origin];
                if !h.highlight.is_empty() {
                    parts.push(format!(
                        "field at {}..{} ({} byte{})",
                        h.highlight.start,
                        h.highlight.end,
                        h.highlight.len(),
                        if h.highlight.len() == 1 { "" } else { "s" }
                    ));
                }
                let name = Span::styled(
                    format!("buffer {}/{} \"{}\"", h.buf + 1, step.buffers.len(), b.name),
                    Style::new().add_modifier(Modifier::BOLD),
                );
                // The parts joined by ` · `, a new line where one would not fit.
                let mut lines = vec![Line::from(name)];
                for p in parts {
                    let last = lines.last_mut().expect("one line at least");
                    if last.width() + 3 + p.chars().count() < usize::from(width) {
                        last.spans.push(Span::raw(format!(" · {p}")));
                    } else {
                        lines.push(Line::raw(p));
                    }
                }
                lines
            }
            None => vec![
                Line::styled(
                    "this step has no bytes of its own",
                    Style::new().fg(Color::DarkGray),
                ),
                Line::styled(
                    "(it is computed from other steps)",
                    Style::new().fg(Color::DarkGray),
                ),
            ],
        };
        let unmask = Unmask::of(step, field, width);
        // With a masked payload, its key or its plain bytes selected, the
        // dump and the unmasking table show together: the header bits,
        // which the other fields light, give way.
        let header_hidden = step
            .field("websocket.fin")
            .and_then(|f| f.span)
            .is_some_and(|fin| {
                hidden.iter().any(|h| {
                    h.buf == fin.buf && h.start <= fin.start + 1 && fin.start < h.range().end as u32
                })
            });
        let bits = if header_hidden || unmask.as_ref().is_some_and(|u| u.col != UnmaskCol::None) {
            Vec::new()
        } else {
            frame_bits(step, field, width)
        };
        BytesContent {
            pre: accept_derivation(step, field, width),
            hex,
            header,
            bits,
            unmask,
        }
    }

    fn hex_rows(&self) -> usize {
        self.hex.as_ref().map_or(0, |h| h.rows())
    }

    /// Index of the first hex row in the content.
    fn hex_start(&self) -> usize {
        self.pre.len() + self.header.len()
    }

    pub fn len(&self) -> usize {
        let bits = if self.bits.is_empty() {
            0
        } else {
            self.bits.len() + 1
        };
        let unmask = self.unmask.as_ref().map_or(0, |u| u.lines() + 1);
        self.hex_start() + self.hex_rows() + bits + unmask
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first line of the bits section, then of the unmasking table.
    fn bits_start(&self) -> usize {
        self.hex_start() + self.hex_rows() + 1
    }

    fn unmask_start(&self) -> usize {
        let bits = if self.bits.is_empty() {
            0
        } else {
            self.bits.len() + 1
        };
        self.hex_start() + self.hex_rows() + bits + 1
    }

    /// The first line to show in `height` lines before the reader scrolls:
    /// the bits of a selected header bit field, the unmasking table of a
    /// selected key or payload, else the highlighted bytes.
    pub fn auto_top(&self, height: usize, field_has_bits: bool) -> usize {
        let fit = |r: std::ops::Range<usize>| {
            if r.end > height {
                r.start.min(r.end - height)
            } else {
                0
            }
        };
        if !self.pre.is_empty() {
            // The derivation above the dump lights the selected stage.
            return 0;
        }
        if let Some(u) = self.unmask.as_ref().filter(|u| u.col != UnmaskCol::None) {
            let start = self.unmask_start();
            // From the buffer's header (the highlighted hex below it) when
            // the table's first rows still fit under it, so the bytes on the
            // wire and their unmasking show together.
            let from = match self.highlight_line() {
                // Near the dump's top: from the buffer's header.
                Some(l) if l < start && l < self.hex_start() + 4 => self.pre.len(),
                Some(l) if l < start => l - 1,
                _ => start,
            };
            if start + u.head() + 2 <= from + height {
                return from;
            }
            return fit(start..start + u.lines().min(height));
        }
        if field_has_bits && !self.bits.is_empty() {
            let start = self.bits_start();
            return fit(start..start + self.bits.len());
        }
        match self.highlight_line() {
            Some(l) if l >= height => l.saturating_sub(height / 3),
            _ => 0,
        }
    }

    /// The line where the highlight starts, if any.
    pub fn highlight_line(&self) -> Option<usize> {
        let h = self.hex.as_ref()?;
        if h.highlight.is_empty() {
            return None;
        }
        Some(self.hex_start() + h.highlight.start / h.per_line)
    }

    pub fn line(&self, mut i: usize) -> Line<'static> {
        if i < self.pre.len() {
            return self.pre[i].clone();
        }
        i -= self.pre.len();
        if i < self.header.len() {
            return self.header[i].clone();
        }
        i -= self.header.len();
        if let Some(h) = &self.hex {
            if i < h.rows() {
                return h.row(i);
            }
            i -= h.rows();
        }
        if !self.bits.is_empty() {
            if i == 0 {
                return Line::raw("");
            }
            i -= 1;
            if i < self.bits.len() {
                return self.bits[i].clone();
            }
            i -= self.bits.len();
        }
        if let Some(u) = &self.unmask {
            if i == 0 {
                return Line::raw("");
            }
            i -= 1;
            if i < u.lines() {
                return u.line(i);
            }
        }
        Line::raw("")
    }
}

pub struct BytesPane<'a>(pub &'a App);

impl Widget for &BytesPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let focused = app.focus == Pane::Bytes;
        let block = pane_block(Line::raw(" Bytes "), focused);
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(step) = app.current() else {
            return;
        };
        let content = BytesContent::hiding(step, app.field, inner.width, &app.hidden_spans);
        let h = usize::from(inner.height);
        // Bring the highlight into view, then apply the reader's own scrolling.
        let bits = step
            .fields
            .get(app.field)
            .and_then(|f| f.span)
            .is_some_and(|s| s.mask.is_some());
        let auto = content.auto_top(h, bits);
        let top = (auto + usize::from(app.bytes_scroll)).min(content.len().saturating_sub(1));
        render_lines(
            (top..content.len().min(top + h)).map(|i| content.line(i)),
            inner,
            buf,
        );
        scroll_marks(area, buf, top > 0, top + h < content.len());
    }
}
