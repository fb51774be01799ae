//! `dispel explain --format markdown`: an annotated walk-through of a
//! capture, one section per step with its bytes (a hex dump of each of the
//! step's buffers), its fields, its findings and — through a
//! [`LessonHook`] — its lesson and the library call chain that produced it.
//!
//! Everything from the capture is untrusted: inline text is escaped for
//! Markdown (ASCII punctuation that could start markup is backslash-escaped)
//! and for the terminal (`crate::sanitize`), and payloads go in fenced code
//! blocks whose fence is longer than any backtick run inside them, so no
//! payload can close its block and inject markup.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Filter;
use super::mermaid::Diagrams;
use super::text::{frames_label, render_value};
use crate::analyze::{CaptureInfo, Rendered, Report, Sink};
use crate::error::CaptureError;
use crate::sanitize::{escape, escape_with};
use crate::step::{Field, Origin, Span, Step, Timestamp, Value};
use crate::tcp::ConnMeta;

/// One frame of a library's call chain, as the lessons engine gives it.
pub use crate::lessons::TraceEntry;

/// A lesson shown under a step: its title, its body (Markdown written by
/// the lesson's author), references (RFC sections, spec links) and the call
/// chain of the selected stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LessonBlock {
    pub title: String,
    pub body: String,
    pub refs: Vec<String>,
    pub trace: Vec<TraceEntry>,
}

/// Supplies the lessons of a step. The lessons engine plugs in here; without
/// one the walk-through has no lesson sections.
pub type LessonHook<'a> = Box<dyn FnMut(&Step) -> Vec<LessonBlock> + 'a>;

/// Bytes of each buffer shown in a step's hex dump.
const MAX_DUMP: usize = 512;
/// String values longer than this (or spanning lines) go below the field
/// table in a code block rather than in a cell.
const MAX_CELL: usize = 80;

pub struct MarkdownSink<'a, W: Write> {
    out: W,
    filter: Filter,
    origin: Timestamp,
    number: u64,
    lessons: Option<LessonHook<'a>>,
    /// The conversation as sequence diagrams, drawn at the end.
    diagrams: Diagrams,
    /// Connections that carry TLS: their HTTP and WebSocket buffers are
    /// offsets into the decrypted stream, not TCP sequence numbers.
    tls_conns: std::collections::BTreeSet<u32>,
}

impl<'a, W: Write> MarkdownSink<'a, W> {
    pub fn new(out: W, filter: Filter) -> MarkdownSink<'a, W> {
        MarkdownSink {
            out,
            filter,
            origin: Timestamp::default(),
            number: 0,
            lessons: None,
            diagrams: Diagrams::default(),
            tls_conns: Default::default(),
        }
    }

    /// Adds lessons to every step.
    pub fn with_lessons(mut self, hook: LessonHook<'a>) -> MarkdownSink<'a, W> {
        self.lessons = Some(hook);
        self
    }
}

/// Escapes one line of untrusted text for inline Markdown: control and
/// bidirectional characters as `\x1b` / `\u{202e}` (then that backslash
/// escaped, so it shows), Markdown punctuation backslash-escaped, and what
/// could start a block (a list, a heading, a setext underline) neutralised.
pub fn md_inline(s: &str) -> String {
    let s = escape(s);
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.chars().enumerate() {
        let at_start = i == 0;
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '{'
                | '}'
                | '['
                | ']'
                | '<'
                | '>'
                | '#'
                | '!'
                | '|'
                | '~'
                | '&'
        ) || (at_start && matches!(c, '-' | '+' | '=' | '.' | ')'))
        {
            out.push('\\');
        }
        out.push(c);
    }
    // "1. x" and "1) x" start ordered lists.
    if let Some(pos) = out.find(|c: char| !c.is_ascii_digit())
        && pos > 0
        && out[pos..].starts_with(['.', ')'])
        && out[pos + 1..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t')
    {
        out.insert(pos, '\\');
    }
    out
}

/// A fenced code block that nothing inside can close: its fence is one
/// backtick longer than the longest backtick run of the content (and at
/// least three). Control characters are escaped; line breaks and tabs kept.
pub fn fenced(info: &str, content: &str) -> String {
    let mut s = Vec::new();
    // Writing to a Vec cannot fail; the parts are UTF-8.
    let _ = write_fenced(&mut s, info, content);
    String::from_utf8(s).unwrap_or_default()
}

/// [`fenced`], written straight to `out`: a 16 MiB value is escaped once
/// and not copied again.
pub fn write_fenced(out: &mut dyn io::Write, info: &str, content: &str) -> io::Result<()> {
    let content = escape_with(content, true);
    let mut longest = 0;
    let mut run = 0;
    for c in content.bytes() {
        if c == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat((longest + 1).max(3));
    writeln!(out, "{fence}{info}")?;
    out.write_all(content.as_bytes())?;
    if !content.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    writeln!(out, "{fence}")
}

/// A classic hex dump: offset, 16 bytes in two groups of 8, ASCII.
pub fn hex_dump(data: &[u8], base: u64) -> String {
    let mut s = String::new();
    for (row, chunk) in data.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", base + (row * 16) as u64);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(s, "{b:02x} ");
                }
                None => s.push_str("   "),
            }
            if i == 7 {
                s.push(' ');
            }
        }
        s.push_str(" |");
        for b in chunk {
            s.push(if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            });
        }
        s.push_str("|\n");
    }
    s
}

fn span_label(step: &Step, sp: &Span) -> String {
    let name = step
        .buffers
        .get(usize::from(sp.buf))
        .map_or("?", |b| b.name);
    let r = sp.range();
    let mut s = if r.len() == 1 {
        format!("{name}[{}]", r.start)
    } else {
        format!("{name}[{}..{}]", r.start, r.end)
    };
    if let Some(m) = sp.mask {
        let _ = write!(s, " bits {m:#x}");
    }
    s
}

/// Whether a field's value is long or multi-line text (shown in a block):
/// borrowed, not copied (it may be a 16 MiB message).
fn block_value(f: &Field) -> Option<std::borrow::Cow<'_, str>> {
    let text: std::borrow::Cow<'_, str> = match &f.value {
        Value::Str(s) => s.as_str().into(),
        Value::Json(v) => v.to_string().into(),
        _ => return None,
    };
    (text.chars().count() > MAX_CELL || text.contains(['\n', '\r', '`'])).then_some(text)
}

impl<W: Write> MarkdownSink<'_, W> {
    fn write_step(&mut self, s: &Step, lessons: &[LessonBlock]) -> io::Result<()> {
        let mut md = String::new();
        let t = s.time.since(self.origin);
        let _ = writeln!(
            md,
            "### Step {} · `{}` · conn {} {} {} · packets {}\n",
            self.number,
            s.kind,
            s.conn,
            s.dir.as_str(),
            s.dir.arrow(),
            frames_label(&s.frames)
        );
        if !s.summary.is_empty() {
            let _ = writeln!(md, "{}\n", md_inline(&s.summary));
        }
        let _ = write!(md, "*{t:.6} s after the first packet");
        if let Some(sess) = s.session {
            let _ = write!(md, ", Engine.IO session {sess}");
        }
        md.push_str("*\n\n");

        for b in &s.buffers {
            if b.data.is_empty() {
                continue;
            }
            // Dump offsets are the buffer's own, as the field spans are.
            let decrypted = self.tls_conns.contains(&s.conn) && s.layer() != "tls";
            let label = match b.origin {
                Origin::Stream { offset } if decrypted => format!(
                    "{} bytes of the decrypted {} stream from offset {offset}",
                    b.data.len(),
                    s.dir.as_str(),
                ),
                Origin::Stream { offset } => format!(
                    "{} bytes of the {} stream from offset {offset}, relative sequence number {}",
                    b.data.len(),
                    s.dir.as_str(),
                    offset + 1
                ),
                Origin::Derived => format!("{} bytes, derived", b.data.len()),
            };
            let _ = writeln!(md, "**Bytes: {}** ({label})\n", b.name);
            let shown = &b.data[..b.data.len().min(MAX_DUMP)];
            let mut dump = hex_dump(shown, 0);
            if b.data.len() > MAX_DUMP {
                let _ = writeln!(dump, "… {} more bytes", b.data.len() - MAX_DUMP);
            }
            md.push_str(&fenced("text", &dump));
            md.push('\n');
        }

        let mut blocks = Vec::new();
        if !s.fields.is_empty() {
            md.push_str("| field | value | bytes |\n|---|---|---|\n");
            for f in &s.fields {
                let indent = "· ".repeat(usize::from(f.depth));
                let value = match block_value(f) {
                    Some(text) => {
                        blocks.push((f.name.to_string(), text));
                        "(shown below)".to_string()
                    }
                    None => md_inline(&render_value(s, f)),
                };
                let bytes = f.span.map(|sp| span_label(s, &sp)).unwrap_or_default();
                let _ = writeln!(
                    md,
                    "| {indent}`{}` | {value} | {} |",
                    md_code_safe(&f.name),
                    md_inline(&bytes)
                );
            }
            md.push('\n');
        }
        for (name, text) in blocks {
            let _ = writeln!(md, "`{}`:\n", md_code_safe(&name));
            // Long values go out as they are escaped, not through `md`.
            self.out.write_all(md.as_bytes())?;
            md.clear();
            write_fenced(&mut self.out, "", &text)?;
            md.push('\n');
        }

        if !s.findings.is_empty() {
            md.push_str("**Findings**\n\n");
            for f in &s.findings {
                let _ = writeln!(
                    md,
                    "- **{}** `{}` ({}): {}",
                    f.rule.severity.as_str(),
                    f.rule.id,
                    md_inline(f.rule.section),
                    md_inline(&f.message)
                );
            }
            md.push('\n');
        }

        for l in lessons {
            lesson(&mut md, l);
        }
        self.out.write_all(md.as_bytes())
    }
}

/// Field names are dispel's own dotted names, but be safe anyway: no
/// backtick can end the code span.
fn md_code_safe(s: &str) -> String {
    escape(s).replace('`', "'")
}

fn lesson(md: &mut String, l: &LessonBlock) {
    let _ = writeln!(md, "#### Lesson: {}\n", md_inline(&l.title));
    // The body is the lesson author's Markdown: kept as Markdown, but never
    // with raw control characters.
    let body = escape_with(l.body.trim_end(), true);
    if !body.is_empty() {
        let _ = writeln!(md, "{body}\n");
    }
    if !l.refs.is_empty() {
        md.push_str("References:\n\n");
        for r in &l.refs {
            let _ = writeln!(md, "- {}", md_inline(r));
        }
        md.push('\n');
    }
    if !l.trace.is_empty() {
        md.push_str(
            "Call chain:\n\n| # | package | where | function | does |\n|---|---|---|---|---|\n",
        );
        for (i, t) in l.trace.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} {} | {}:{} | `{}` | {} |",
                i + 1,
                md_inline(&t.package),
                md_inline(&t.version),
                md_inline(&t.file),
                t.line,
                md_code_safe(&t.function),
                md_inline(&t.does)
            );
        }
        md.push('\n');
    }
}

impl<W: Write> Sink for MarkdownSink<'_, W> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.origin = info.origin;
        writeln!(
            self.out,
            "# Walk-through of {}\n\n| | |\n|---|---|\n| file | {} |\n| format | {} |\n| first packet | {} (seconds since the Unix epoch) |\n",
            md_inline(&info.name),
            md_inline(&info.name),
            info.format.describe(),
            super::json::abs_time(info.origin)
        )
    }

    fn connection(&mut self, m: &ConnMeta) -> io::Result<()> {
        if !self.filter.conn_shown(m.id) {
            return Ok(());
        }
        self.diagrams.connection(m);
        let guessed = if m.role_guessed {
            " (roles guessed from the ports)"
        } else {
            ""
        };
        writeln!(
            self.out,
            "## Connection {}: client {} ⇄ server {}{guessed}\n\nIn Wireshark: `tcp.stream == {}`.\n",
            m.id,
            md_inline(&m.client.to_string()),
            md_inline(&m.server.to_string()),
            m.id
        )
    }

    fn step(&mut self, n: u64, s: &Step, _: Rendered<'_>) -> io::Result<()> {
        self.number = n;
        if s.layer() == "tls" {
            self.tls_conns.insert(s.conn);
        }
        // The hook sees every step, shown or not: lessons bind in capture
        // order (`nth`, `after`), whatever the filter.
        let lessons = match self.lessons.as_mut() {
            Some(hook) => hook(s),
            None => Vec::new(),
        };
        if !self.filter.step_shown(s) {
            return Ok(());
        }
        self.diagrams.step(self.number, s, self.origin);
        self.write_step(s, &lessons)
    }

    fn finish(&mut self, r: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        let total: u64 = r.findings.values().sum();
        let mut md = String::new();
        if !self.diagrams.is_empty() {
            // The picture for a course page: Mermaid text, escaped entity
            // by entity (see `output::mermaid`), so no fence can close early.
            md.push_str("## The conversation as diagrams\n\n");
            for (title, d) in self.diagrams.render() {
                let _ = write!(md, "### {}\n\n```mermaid\n{d}```\n\n", md_inline(&title));
            }
        }
        let _ = write!(
            md,
            "## Summary\n\n{} packets ({} TCP, {} other), {} connections, {} steps, {} findings.\n\n",
            r.packets,
            r.tcp_packets,
            r.non_tcp_packets,
            r.connections.len(),
            r.steps,
            total
        );
        if !r.findings.is_empty() {
            md.push_str("| rule | findings |\n|---|---|\n");
            for (id, n) in &r.findings {
                let _ = writeln!(md, "| `{id}` | {n} |");
            }
            md.push('\n');
        }
        for n in &r.notices {
            let _ = writeln!(md, "- note: {}", md_inline(&n.message));
        }
        if let Some(e) = error {
            let _ = writeln!(md, "\n**Stopped early:** {}", md_inline(&e.to_string()));
        }
        self.out.write_all(md.as_bytes())?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backtick_runs() {
        assert_eq!(fenced("", "plain"), "```\nplain\n```\n");
        assert_eq!(fenced("", "a ``` b"), "````\na ``` b\n````\n");
        assert_eq!(fenced("", "`````"), "``````\n`````\n``````\n");
        assert_eq!(fenced("text", "x\x1b[2J\n"), "```text\nx\\x1b[2J\n```\n");
    }

    #[test]
    fn inline_text_cannot_become_markup() {
        assert_eq!(
            md_inline("*bold* [x](y) <b>"),
            "\\*bold\\* \\[x\\](y) \\<b\\>"
        );
        assert_eq!(md_inline("# h"), "\\# h");
        assert_eq!(md_inline("- item"), "\\- item");
        assert_eq!(md_inline("12. item"), "12\\. item");
        assert_eq!(md_inline("a|b"), "a\\|b");
        assert_eq!(md_inline("\x1b[31m"), "\\\\x1b\\[31m");
        assert_eq!(md_inline("127.0.0.1:80"), "127.0.0.1:80");
        assert_eq!(md_inline("12…"), "12…");
    }

    #[test]
    fn lessons_come_through_the_hook_escaped() {
        use crate::analyze::Sink;
        use crate::step::{Dir, Step};
        let mut out = Vec::new();
        let mut seen = Vec::new();
        {
            let hook: LessonHook = Box::new(|s: &Step| {
                seen.push(s.kind);
                vec![LessonBlock {
                    title: "Masking *matters*".into(),
                    body: "Clients **mask**.\x1b[31m".into(),
                    refs: vec!["RFC 6455 §5.3".into()],
                    trace: vec![TraceEntry {
                        package: "websocket-client".into(),
                        version: "1.9.2".into(),
                        file: "websocket/_abnf.py".into(),
                        line: 201,
                        function: "ABNF.format".into(),
                        does: "masks | the payload".into(),
                        at: Default::default(),
                    }],
                }]
            });
            let mut sink = MarkdownSink::new(&mut out, Filter::default()).with_lessons(hook);
            let step = Step::new(0, Dir::C2s, "websocket.frame", Timestamp::default());
            sink.step(1, &step, Rendered::No).unwrap();
        }
        assert_eq!(seen, ["websocket.frame"]);
        let md = String::from_utf8(out).unwrap();
        assert!(md.contains("#### Lesson: Masking \\*matters\\*\n"), "{md}");
        assert!(
            md.contains("Clients **mask**.\\x1b[31m"),
            "lesson Markdown kept, controls escaped: {md}"
        );
        assert!(md.contains("- RFC 6455 §5.3"));
        assert!(md.contains("| 1 | websocket-client 1.9.2 | websocket/\\_abnf.py:201 | `ABNF.format` | masks \\| the payload |"), "{md}");
        // Without a hook, no lesson sections.
        let mut out = Vec::new();
        let mut sink = MarkdownSink::new(&mut out, Filter::default());
        sink.step(
            1,
            &Step::new(0, Dir::C2s, "websocket.frame", Timestamp::default()),
            Rendered::No,
        )
        .unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("Lesson"));
    }

    #[test]
    fn hex_dump_rows() {
        let d = hex_dump(b"Hello, world!\x00\x01\x02`x", 16);
        assert_eq!(
            d,
            "00000010  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 00 01 02  |Hello, world!...|\n00000020  60 78                                             |`x|\n"
        );
    }
}
