//! `dispel explain --format markdown`: an annotated walk-through of a
//! capture, one section per step with its bytes (a hex dump of each of the
//! step's buffers), its fields, its findings and — through a
//! [`LessonHook`] — its lesson and the library call chain that produced it.
//!
//! It is written to be published as a course page: every line is bounded
//! (long values are elided with their length and SHA-1; prose wraps at
//! [`MAX_LINE`]), TCP header dumps appear only where they teach (the SYN and
//! steps with a finding), the capture's time is an ISO 8601 date, and each
//! lesson's questions come with their answers folded in a `<details>`. The
//! quiz variant ([`MarkdownSink::quiz`]) prints blanks instead and an answer
//! key at the end, for a worksheet.
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
    pub hints: Vec<String>,
    /// Prediction questions: (question, answer).
    pub questions: Vec<(String, String)>,
    pub trace: Vec<TraceEntry>,
}

/// What the lessons engine gives for a step: its lessons, and, for a
/// worksheet, the step as it should be shown — with the values its open
/// questions ask for hidden, and the byte spans to hide in its dumps.
#[derive(Debug, Clone, Default)]
pub struct StepLessons {
    pub blocks: Vec<LessonBlock>,
    pub shown: Option<(Step, Vec<Span>)>,
}

impl From<Vec<LessonBlock>> for StepLessons {
    fn from(blocks: Vec<LessonBlock>) -> StepLessons {
        StepLessons {
            blocks,
            shown: None,
        }
    }
}

/// Supplies the lessons of a step. The lessons engine plugs in here; without
/// one the walk-through has no lesson sections.
pub type LessonHook<'a> = Box<dyn FnMut(&Step) -> StepLessons + 'a>;

/// Bytes of each buffer shown in a step's hex dump.
const MAX_DUMP: usize = 512;
/// Prose is wrapped at this many characters; code blocks are cut at it.
pub const MAX_LINE: usize = 100;
/// Characters of a long value shown in its code block before the rest is
/// elided (with its length and SHA-1).
const MAX_BLOCK: usize = 1024;
/// What a quiz leaves for the answer.
pub const BLANK: &str = "______";
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
    /// A worksheet: questions with blanks, answers in a key at the end.
    quiz: bool,
    /// Questions numbered so far, and the answer key: (step, answer).
    questions: u64,
    key: Vec<(u64, u64, String)>,
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
            quiz: false,
            questions: 0,
            key: Vec::new(),
        }
    }

    /// A worksheet: each question with a blank to fill in, and the answers
    /// in a key at the end.
    pub fn quiz(mut self) -> MarkdownSink<'a, W> {
        self.quiz = true;
        self
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
    hex_dump_hiding(data, base, &[])
}

/// [`hex_dump`] with the bytes at the offsets of `hidden` drawn `··`.
pub fn hex_dump_hiding(data: &[u8], base: u64, hidden: &[std::ops::Range<usize>]) -> String {
    let hide = |i: usize| hidden.iter().any(|r| r.contains(&i));
    let mut s = String::new();
    for (row, chunk) in data.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", base + (row * 16) as u64);
        for i in 0..16 {
            match chunk.get(i) {
                Some(_) if hide(row * 16 + i) => s.push_str("·· "),
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
        for (i, b) in chunk.iter().enumerate() {
            s.push(if hide(row * 16 + i) {
                '·'
            } else if b.is_ascii_graphic() || *b == b' ' {
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
    fn write_step(&mut self, s: &Step, lessons: &[LessonBlock], hidden: &[Span]) -> io::Result<()> {
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
            let _ = writeln!(
                md,
                "{}\n",
                wrap_markdown(&md_inline(&elide_words(&s.summary)), MAX_LINE)
            );
        }
        let _ = write!(md, "*{t:.6} s after the first packet");
        if let Some(sess) = s.session {
            let _ = write!(md, ", Engine.IO session {sess}");
        }
        md.push_str("*\n\n");

        // A TCP header is worth reading byte by byte at the SYN and where
        // something is wrong; elsewhere its fields say it all.
        let dump_tcp = s.kind == "tcp.syn" || !s.findings.is_empty();
        for (bi, b) in s.buffers.iter().enumerate() {
            if b.data.is_empty() {
                continue;
            }
            if s.layer() == "tcp" && !dump_tcp {
                let _ = writeln!(
                    md,
                    "*{}: {} bytes (dumped at the SYN and at steps with a finding)*\n",
                    b.name,
                    b.data.len()
                );
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
            let hide: Vec<std::ops::Range<usize>> = hidden
                .iter()
                .filter(|h| usize::from(h.buf) == bi)
                .map(Span::range)
                .collect();
            let mut dump = hex_dump_hiding(shown, 0, &hide);
            if b.data.len() > MAX_DUMP {
                // (No digest when some bytes are hidden: it would confirm a guess.)
                let digest = if hide.is_empty() {
                    format!(", SHA-1 {}", sha1_hex(&b.data))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    dump,
                    "… {} more bytes ({} in all{digest})",
                    b.data.len() - MAX_DUMP,
                    b.data.len(),
                );
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
                    None => md_inline(&cell(&render_value(s, f))),
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
            write_long(&mut self.out, &text)?;
            md.push('\n');
        }

        if !s.findings.is_empty() {
            md.push_str("**Findings**\n\n");
            for f in &s.findings {
                let item = format!(
                    "- **{}** `{}` ({}): {}",
                    f.rule.severity.as_str(),
                    f.rule.id,
                    md_inline(f.rule.section),
                    md_inline(&elide_words(&f.message))
                );
                let _ = writeln!(md, "{}", wrap_markdown(&item, MAX_LINE));
            }
            md.push('\n');
        }

        for l in lessons {
            self.lesson(&mut md, l);
        }
        self.out.write_all(md.as_bytes())
    }

    fn lesson(&mut self, md: &mut String, l: &LessonBlock) {
        let _ = writeln!(md, "#### Lesson: {}\n", md_inline(&l.title));
        // The body is the lesson author's Markdown: kept as Markdown, but
        // never with raw control characters, and wrapped.
        let body = elide_words(&escape_with(l.body.trim_end(), true));
        if !body.is_empty() {
            let _ = writeln!(md, "{}\n", wrap_markdown(&body, MAX_LINE));
        }
        if !l.refs.is_empty() {
            md.push_str("References:\n\n");
            for r in &l.refs {
                let _ = writeln!(
                    md,
                    "{}",
                    wrap_markdown(&format!("- {}", md_inline(r)), MAX_LINE)
                );
            }
            md.push('\n');
        }
        for (i, h) in l.hints.iter().enumerate() {
            let _ = writeln!(
                md,
                "<details><summary>Hint {}</summary>\n\n{}\n\n</details>\n",
                i + 1,
                wrap_markdown(&md_inline(&elide_words(h)), MAX_LINE)
            );
        }
        for (ask, answer) in &l.questions {
            self.questions += 1;
            let n = self.questions;
            let _ = writeln!(
                md,
                "{}\n",
                wrap_markdown(
                    &format!("**Q{n}.** {}", md_inline(&elide_words(ask))),
                    MAX_LINE
                )
            );
            if self.quiz {
                let _ = writeln!(md, "Your answer: {BLANK}\n");
                self.key.push((n, self.number, elide_words(answer)));
            } else {
                let _ = writeln!(
                    md,
                    "<details><summary>Answer</summary>\n\n{}\n\n</details>\n",
                    wrap_markdown(&md_inline(&elide_words(answer)), MAX_LINE)
                );
            }
        }
        if !l.trace.is_empty() {
            // A list, not a table: its sentences wrap.
            md.push_str("Call chain:\n\n");
            for (i, t) in l.trace.iter().enumerate() {
                let item = format!(
                    "{}. {} {}, {}:{}, `{}`: {}",
                    i + 1,
                    md_inline(&t.package),
                    md_inline(&t.version),
                    md_inline(&t.file),
                    t.line,
                    md_code_safe(&t.function),
                    md_inline(&t.does)
                );
                let _ = writeln!(md, "{}", wrap_markdown(&item, MAX_LINE));
            }
            md.push('\n');
        }
    }
}

/// The SHA-1 of some bytes, in hex: names an elided value.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(data))
}

/// A long value in a code block: at most [`MAX_BLOCK`] characters of it,
/// each line cut at [`MAX_LINE`] characters (continued on the next), and
/// what was elided said after the block with its length and SHA-1.
pub fn write_long(out: &mut dyn io::Write, text: &str) -> io::Result<()> {
    let total = text.chars().count();
    let shown: String = text.chars().take(MAX_BLOCK).collect();
    let mut cut = String::with_capacity(shown.len() + shown.len() / MAX_LINE + 1);
    for line in shown.split('\n') {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            cut.push('\n');
        }
        for piece in chars.chunks(MAX_LINE) {
            cut.extend(piece);
            cut.push('\n');
        }
    }
    write_fenced(out, "", &cut)?;
    if total > MAX_BLOCK {
        let note = format!(
            "*The first {MAX_BLOCK} of {total} characters ({} bytes, SHA-1 {}); the rest is elided.*",
            text.len(),
            sha1_hex(text.as_bytes())
        );
        writeln!(out, "\n{}", wrap_markdown(&note, MAX_LINE))?;
    }
    Ok(())
}

/// Whether a line may start with this word without becoming markup (a
/// list item, a heading, a quote, a table row, a fence, a setext line).
fn safe_start(word: &str) -> bool {
    let starts_markup = matches!(word, "-" | "+" | "*" | ">" | "=" | "|")
        || word.starts_with(['#', '>', '|', '`', '~', '<'])
        || word.chars().all(|c| c == '-' || c == '=')
        || word
            .find(|c: char| !c.is_ascii_digit())
            .is_some_and(|p| p > 0 && word[p..].starts_with(['.', ')']));
    !starts_markup
}

/// Markdown wrapped at `width` characters, without changing what it
/// means: paragraph and list lines are broken between words (never before
/// a word that would start markup; a list item's continuation is indented
/// under its text), code blocks and tables are left as they are.
pub fn wrap_markdown(md: &str, width: usize) -> String {
    let mut out = String::with_capacity(md.len() + md.len() / width);
    let mut in_code = false;
    for (n, line) in md.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_code = !in_code;
        }
        if in_code || trimmed.starts_with('|') || line.chars().count() <= width {
            out.push_str(line);
            continue;
        }
        // The continuation indent: under a list item's text.
        let lead = line.len() - trimmed.len();
        let marker = trimmed
            .split_once(' ')
            .map(|(m, _)| m)
            .filter(|m| matches!(*m, "-" | "*" | "+") || !safe_start(m))
            .map_or(0, |m| m.len() + 1);
        let indent = " ".repeat(lead + marker);
        let mut col = 0;
        let mut first = true;
        for word in line.split(' ') {
            let w = word.chars().count();
            if first {
                out.push_str(word);
                col = w;
                first = false;
            } else if col + 1 + w > width
                && col > indent.len()
                && safe_start(word)
                && !word.is_empty()
            {
                out.push('\n');
                out.push_str(&indent);
                out.push_str(word);
                col = indent.len() + w;
            } else {
                out.push(' ');
                out.push_str(word);
                col += 1 + w;
            }
        }
    }
    out
}

/// A capture time as an ISO 8601 date and time, UTC, to the microsecond.
pub fn iso_time(t: Timestamp) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t.secs) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            t.nanos / 1000
        ),
        Err(_) => format!("{} seconds since the Unix epoch", super::json::abs_time(t)),
    }
}

/// Most characters of a value in a field table's cell (a table row is
/// one line): a longer one is cut (its bytes are in the dump above).
const MAX_CELL_SHOWN: usize = 100;

fn cell(v: &str) -> String {
    if v.chars().count() <= MAX_CELL_SHOWN {
        return v.to_string();
    }
    let mut c: String = v.chars().take(MAX_CELL_SHOWN).collect();
    c.push('…');
    c
}

/// Longest word kept whole in prose; a longer one (a payload interpolated
/// into a lesson) is elided to its start, its length and its SHA-1.
const MAX_WORD: usize = 64;

/// Prose with every word longer than [`MAX_WORD`] elided.
pub fn elide_words(text: &str) -> String {
    if !text
        .split_whitespace()
        .any(|w| w.chars().count() > MAX_WORD)
    {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len().min(4096));
    let mut word = String::new();
    let flush = |out: &mut String, word: &mut String| {
        let n = word.chars().count();
        if n > MAX_WORD && word.ends_with('…') {
            // Already elided by the lesson renderer, whose "(N bytes)"
            // follows: only shortened, not described twice.
            let head: String = word.chars().take(32).collect();
            let _ = write!(out, "{head}…");
        } else if n > MAX_WORD {
            let head: String = word.chars().take(32).collect();
            let _ = write!(
                out,
                "{head}… ({n} characters, SHA-1 {})",
                &sha1_hex(word.as_bytes())[..12]
            );
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut out, &mut word);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut out, &mut word);
    out
}

/// Field names are dispel's own dotted names, but be safe anyway: no
/// backtick can end the code span.
fn md_code_safe(s: &str) -> String {
    escape(s).replace('`', "'")
}

impl<W: Write> Sink for MarkdownSink<'_, W> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.origin = info.origin;
        writeln!(
            self.out,
            "# {} of {}\n\n| | |\n|---|---|\n| file | {} |\n| format | {} |\n| captured | {} |\n",
            if self.quiz {
                "Worksheet"
            } else {
                "Walk-through"
            },
            md_inline(&info.name),
            md_inline(&info.name),
            info.format.describe(),
            iso_time(info.origin)
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
            None => StepLessons::default(),
        };
        if !self.filter.step_shown(s) {
            return Ok(());
        }
        let (shown, hidden) = match &lessons.shown {
            Some((m, spans)) => (m, spans.as_slice()),
            None => (s, &[][..]),
        };
        self.diagrams.step(self.number, shown, self.origin);
        self.write_step(shown, &lessons.blocks, hidden)
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
            let item = format!("- note: {}", md_inline(&elide_words(&n.message)));
            let _ = writeln!(md, "{}", wrap_markdown(&item, MAX_LINE));
        }
        if let Some(e) = error {
            let _ = writeln!(md, "\n**Stopped early:** {}", md_inline(&e.to_string()));
        }
        if self.quiz {
            md.push_str("\n## Answer key\n\n");
            if self.key.is_empty() {
                md.push_str("No lesson on these steps asks a question.\n");
            }
            for (n, step, answer) in &self.key {
                let item = format!("- **Q{n}** (step {step}): {}", md_inline(answer));
                let _ = writeln!(md, "{}", wrap_markdown(&item, MAX_LINE));
            }
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
                    hints: vec!["Look after the <length>.".into()],
                    questions: vec![("Which key?".into(), "04f4904f".into())],
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
                .into()
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
        assert!(
            md.contains(
                "1. websocket-client 1.9.2, websocket/\\_abnf.py:201, `ABNF.format`: masks \\| the payload\n"
            ),
            "{md}"
        );
        assert!(md.contains(
            "<details><summary>Hint 1</summary>\n\nLook after the \\<length\\>.\n\n</details>"
        ));
        assert!(
            md.contains(
                "**Q1.** Which key?\n\n<details><summary>Answer</summary>\n\n04f4904f\n\n</details>"
            ),
            "{md}"
        );
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
    fn prose_wraps_between_words_and_never_into_markup() {
        let line = "word ".repeat(30);
        for l in wrap_markdown(line.trim_end(), 40).lines() {
            assert!(l.chars().count() <= 40, "{l:?}");
        }
        // A break before `-`, `#`, `1.` or `|` would start a list, a
        // heading, an ordered list or a table: the break goes elsewhere.
        let risky = "aaaa bbbb cccc - dddd # eeee 12. ffff | gggg";
        for l in wrap_markdown(risky, 15).lines() {
            let first = l.trim_start().split(' ').next().unwrap();
            assert!(safe_start(first), "{l:?}");
        }
        // A list item continues under its text; code and tables stay.
        assert_eq!(
            wrap_markdown("- one two three four", 10),
            "- one two\n  three\n  four"
        );
        let code = format!("```\n{}\n```", "x ".repeat(80));
        assert_eq!(wrap_markdown(&code, 20), code);
        let table = format!("| {} |", "y ".repeat(80));
        assert_eq!(wrap_markdown(&table, 20), table);
        // Words are never cut.
        assert_eq!(wrap_markdown(&"z".repeat(50), 10), "z".repeat(50));
    }

    #[test]
    fn long_words_and_values_are_elided_with_length_and_digest() {
        let long = "ab".repeat(100);
        let e = elide_words(&format!("payload {long} ends"));
        assert_eq!(
            e,
            format!(
                "payload {}… (200 characters, SHA-1 {}) ends",
                &long[..32],
                &sha1_hex(long.as_bytes())[..12]
            )
        );
        assert_eq!(elide_words("short words\nstay"), "short words\nstay");
        // A value the lesson renderer already cut keeps its one "(N bytes)".
        let cut = format!("here {}… (3011 bytes).", "x".repeat(100));
        assert_eq!(
            elide_words(&cut),
            format!("here {}… (3011 bytes).", "x".repeat(32))
        );
        let mut out = Vec::new();
        write_long(&mut out, &"q".repeat(5000)).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.lines().all(|l| l.chars().count() <= MAX_LINE), "{out}");
        assert_eq!(out.matches('q').count(), MAX_BLOCK);
        assert!(out.replace('\n', " ").contains(&format!(
            "The first {MAX_BLOCK} of 5000 characters (5000 bytes, SHA-1 {}); the rest is elided.",
            sha1_hex("q".repeat(5000).as_bytes())
        )));
    }

    #[test]
    fn capture_time_is_an_iso_date() {
        let t = Timestamp {
            secs: 1_795_291_971,
            nanos: 263_364_000,
        };
        assert_eq!(iso_time(t), "2026-11-21T20:12:51.263364Z");
        assert_eq!(
            iso_time(Timestamp::default()),
            "1970-01-01T00:00:00.000000Z"
        );
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
