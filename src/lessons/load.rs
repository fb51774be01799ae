//! Loading lesson files into a [`Course`], checking everything the format
//! promises and reporting every problem with its location.
//!
//! Files are untrusted: each is size-capped and parsed into a located tree
//! under the limits of [`crate::yaml`]. A file that cannot be parsed, or a
//! lesson that cannot be read (a missing or mistyped key), is skipped with a
//! problem; everything else still loads. Problems that do not stop a lesson
//! from working (an unknown field in a `where`, a broken interpolation, a
//! trace citing a wrong version) are reported and the lesson is kept: it
//! simply never matches, or renders `?`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::kinds::{self, KindSpec};
use crate::query;
use crate::rules;
use crate::sanitize::escape;

use super::model::*;
use super::template;
use crate::yaml::{self, Limits, Mark, Node, NodeKind, Scalar};

/// One problem in a lesson file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: Arc<str>,
    /// 1-based line and column (0 when the problem is about the whole file
    /// and has no position, e.g. it cannot be read).
    pub line: u32,
    pub col: u32,
    pub message: String,
    /// The offending source line (for the excerpt), and the width of the
    /// offending token in characters.
    pub source_line: Option<String>,
    pub width: u32,
    /// A teaching mistake that does not break the course (a lesson naming
    /// one recording): reported, but `lint` still exits 0 and `replay`
    /// loads the course.
    pub warning: bool,
}

impl Problem {
    /// `file:line:col: [warning: ]message`, without the excerpt.
    pub fn headline(&self) -> String {
        let w = if self.warning { "warning: " } else { "" };
        if self.line == 0 {
            format!("{}: {w}{}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {w}{}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// The headline, then the offending line with a caret under the token, as
/// rustc shows it. Terminal-safe: source text is escaped.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", escape(&self.headline()))?;
        if let Some(src) = &self.source_line {
            let n = self.line.to_string();
            let pad = " ".repeat(n.len());
            let src = escape(src);
            let col = self.col.saturating_sub(1) as usize;
            // Escaping before the column widens the line: align on the escaped prefix.
            let prefix: String = src.chars().take(col).collect();
            writeln!(f, "{n} | {src}")?;
            writeln!(
                f,
                "{pad} | {}{}",
                " ".repeat(prefix.chars().count()),
                "^".repeat(self.width.max(1) as usize)
            )?;
        }
        Ok(())
    }
}

/// A lesson file's text (or why it could not be read) and the name to show.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub text: Result<String, String>,
}

/// Whether an input is the stacks file.
pub fn is_stacks_file(name: &str) -> bool {
    name.rsplit(['/', '\\']).next() == Some("stacks.yaml")
}

/// Loads a course from its inputs: stacks files first (or `fallback_stacks`
/// when there is none), then lesson files in the order given.
pub fn load_inputs(inputs: &[Input], fallback_stacks: Option<&[Stack]>) -> (Course, Vec<Problem>) {
    let limits = Limits::default();
    let mut l = Loader::default();
    let (stack_files, lesson_files): (Vec<&Input>, Vec<&Input>) =
        inputs.iter().partition(|i| is_stacks_file(&i.name));
    for input in &stack_files {
        l.file(input, &limits, true);
    }
    if stack_files.is_empty()
        && let Some(s) = fallback_stacks
    {
        l.course.stacks = s.to_vec();
    }
    for input in &lesson_files {
        l.file(input, &limits, false);
    }
    l.cross_checks();
    attach_excerpts(&mut l.problems, inputs);
    l.problems
        .sort_by(|a, b| (a.file.as_ref(), a.line, a.col).cmp(&(b.file.as_ref(), b.line, b.col)));
    (l.course, l.problems)
}

#[derive(Default)]
struct Loader {
    course: Course,
    problems: Vec<Problem>,
    /// Lessons' `after` values with their location, checked once all loaded.
    afters: Vec<(usize, Loc)>,
    ids: HashMap<String, Loc>,
}

const LESSON_KEYS: &[&str] = &[
    "id",
    "title",
    "select",
    "body",
    "refs",
    "hints",
    "questions",
    "trace",
    "notes",
];
const SELECT_KEYS: &[&str] = &["kind", "dir", "where", "finding", "nth", "after"];
const QUESTION_KEYS: &[&str] = &["ask", "answer", "field", "on", "from"];
const QUESTION_REQUIRED: &[&str] = &["ask", "answer"];
const TRACE_KEYS: &[&str] = &[
    "package", "version", "file", "line", "function", "does", "observed", "reason",
];
const TRACE_REQUIRED: &[&str] = &["package", "version", "file", "line", "function", "does"];
const STACK_KEYS: &[&str] = &["id", "title", "packages"];
const PACKAGE_KEYS: &[&str] = &["registry", "name", "version"];

/// Names available to interpolation besides the step's fields.
pub const STEP_NAMES: &[&str] = &["step.summary", "step.dir", "step.conn", "step.kind"];
/// Names available to interpolation in finding lessons.
pub const FINDING_NAMES: &[&str] = &[
    "finding.rule",
    "finding.message",
    "finding.section",
    "finding.severity",
];

use crate::query::did_you_mean;
pub use crate::query::{lit_fits, suggest};

/// Per-file conversion state.
struct Cx<'a> {
    file: Arc<str>,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
    /// Set by a problem that makes the current lesson unusable.
    fatal: bool,
}

impl Cx<'_> {
    fn loc(&self, m: Mark) -> Loc {
        Loc {
            file: self.file.clone(),
            line: m.line,
            col: m.col,
        }
    }

    /// A problem that does not stop the lesson from loading.
    fn note(&mut self, m: Mark, message: impl Into<String>) {
        let (source_line, width) = excerpt(self.text, m);
        self.problems.push(Problem {
            file: self.file.clone(),
            line: m.line,
            col: m.col,
            message: message.into(),
            source_line,
            width,
            warning: false,
        });
    }

    /// A teaching mistake that does not break the course.
    fn warn(&mut self, m: Mark, message: impl Into<String>) {
        self.note(m, message);
        if let Some(p) = self.problems.last_mut() {
            p.warning = true;
        }
    }

    /// A problem that makes the lesson (or stack) unusable.
    fn bad(&mut self, m: Mark, message: impl Into<String>) {
        self.fatal = true;
        self.note(m, message);
    }

    fn map<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &n.kind {
            NodeKind::Map(e) => Some(e),
            _ => {
                self.bad(
                    n.mark,
                    format!("{what} must be a mapping, found {}", n.describe()),
                );
                None
            }
        }
    }

    fn seq<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &n.kind {
            NodeKind::Seq(e) => Some(e),
            _ => {
                self.bad(
                    n.mark,
                    format!("{what} must be a list, found {}", n.describe()),
                );
                None
            }
        }
    }

    /// Checks the keys of a mapping (unknown, duplicate, missing) and returns
    /// a lookup of the known ones.
    fn keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        what: &str,
        allowed: &[&'static str],
        required: &[&str],
        at: Mark,
    ) -> HashMap<&'static str, &'n Node> {
        let mut found: HashMap<&'static str, &'n Node> = HashMap::new();
        for (k, v) in entries {
            let Some(name) = k.text() else {
                self.bad(k.mark, format!("keys of {what} must be plain names"));
                continue;
            };
            match allowed.iter().find(|a| **a == name) {
                Some(a) => {
                    if found.insert(a, v).is_some() {
                        self.bad(k.mark, format!("duplicate key `{name}` in {what}"));
                    }
                }
                None => {
                    let hint = match suggest(name, allowed.iter().copied()) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None => format!("; expected one of: {}", allowed.join(", ")),
                    };
                    self.bad(k.mark, format!("unknown key `{name}` in {what}{hint}"));
                }
            }
        }
        for r in required {
            if !found.contains_key(r) {
                self.bad(at, format!("{what} is missing `{r}`"));
            }
        }
        found
    }

    /// Any non-null scalar, as written (so `version: 3.10` stays `3.10`).
    fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match (n.scalar(), n.text()) {
            (Some(Scalar::Null), _) | (None, _) => {
                self.bad(
                    n.mark,
                    format!("`{what}` must be text, found {}", n.describe()),
                );
                None
            }
            (_, Some(t)) => Some(t.to_string()),
            _ => None,
        }
    }

    fn strings(&mut self, n: &Node, what: &str) -> Vec<String> {
        let Some(items) = self.seq(n, &format!("`{what}`")) else {
            return Vec::new();
        };
        items.iter().filter_map(|i| self.string(i, what)).collect()
    }

    fn uint(&mut self, n: &Node, what: &str, min: u32) -> Option<u32> {
        match n.scalar() {
            Some(Scalar::Int(i)) if i >= i128::from(min) && i <= i128::from(u32::MAX) => {
                Some(i as u32)
            }
            _ => {
                self.bad(
                    n.mark,
                    format!(
                        "`{what}` must be a whole number ≥ {min}, found {}",
                        n.text()
                            .map_or_else(|| n.describe().to_string(), |t| format!("`{t}`"))
                    ),
                );
                None
            }
        }
    }

    /// Checks the interpolations of a text value against the names the
    /// selected kinds can supply.
    fn template(&mut self, n: &Node, text: &str, names: &Names<'_>, what: &str) {
        let (pieces, errors) = template::parse(text);
        for e in errors {
            let m = self.locate(n, text, e.at);
            self.note(m, format!("{what}: {}", e.message));
        }
        for p in pieces {
            if let template::Piece::Name { name, at, .. } = p
                && !names.has(name)
            {
                let m = self.locate(n, text, at);
                let hint = did_you_mean(name, names.all());
                self.note(
                    m,
                    format!(
                        "{what}: `{{{name}}}` is not a field of {}{hint}",
                        names.what
                    ),
                );
            }
        }
    }

    /// A question's `field` must be carried by the steps it is read on (the
    /// selected kinds, or the `on` kind).
    fn question_field(
        &mut self,
        at: Mark,
        field: &str,
        on: Option<&KindPattern>,
        names: &Names<'_>,
    ) {
        let (kinds, what): (Vec<&KindSpec>, String) = match on {
            Some(p) => (
                kinds::KINDS.iter().filter(|k| p.matches(k.id)).collect(),
                format!("`{}` steps (`on`)", p),
            ),
            None => (names.kinds.clone(), names.what.clone()),
        };
        if kinds.is_empty() || kinds.iter().any(|k| k.field(field).is_some()) {
            return;
        }
        let hint = did_you_mean(field, kinds.iter().flat_map(|k| k.fields().map(|f| f.name)));
        self.note(
            at,
            format!("question: `{field}` is not a field of {what}, so nothing can answer it{hint}"),
        );
    }

    /// A text interpolating a field a question of the lesson predicts shows
    /// the answer before it is asked.
    fn answers_shown(&mut self, n: &Node, text: &str, predicted: &[(String, Mark)], what: &str) {
        let (pieces, _) = template::parse(text);
        for p in pieces {
            if let template::Piece::Name { name, at, .. } = p
                && let Some((_, q)) = predicted.iter().find(|(f, _)| f == name)
            {
                let m = self.locate(n, text, at);
                self.note(
                    m,
                    format!(
                        "{what}: `{{{name}}}` shows the answer of the question at line {} before it is asked",
                        q.line
                    ),
                );
            }
        }
    }

    /// Warns about a sentence true of one recording only: a capture file
    /// named, the recorder, "in the threading capture", "here, by …".
    fn one_recording(&mut self, n: &Node, text: &str, what: &str) {
        static PATTERNS: std::sync::LazyLock<Vec<(regex::Regex, &'static str)>> =
            std::sync::LazyLock::new(|| {
                [
                    (r"(?i)\b[\w-]+\.pcap(?:ng)?\b", "names a capture file"),
                    (r"(?i)\brecorder\b|\bNFQUEUE\b", "speaks of the recorder"),
                    (
                        r"(?i)\b(?:the|this|our) (?:bundled |reference )?[\w-]+ (?:captures?|recordings?)\b|\b(?:bundled|reference) (?:captures?|recordings?)\b|\bhere, (?:by|in|on|from)\b",
                        "speaks of one recording",
                    ),
                ]
                .into_iter()
                .filter_map(|(p, why)| regex::Regex::new(p).ok().map(|r| (r, why)))
                .collect()
            });
        for (re, why) in PATTERNS.iter() {
            for m in re.find_iter(text) {
                let at = self.locate(n, text, m.start());
                self.warn(
                    at,
                    format!(
                        "{what} {why} (`{}`): a lesson is read beside any capture; say it in a per-stack note or not at all",
                        m.as_str()
                    ),
                );
            }
        }
    }

    /// Warns about a line break inside a sentence: a body's line breaks are
    /// kept on screen, so a text wrapped by hand breaks mid-line in a wide
    /// pane. A line ends at a sentence's end (`.`, `:`, `?`, `!`, perhaps
    /// before a closing quote or bracket), before a blank line, or in a
    /// numbered or bulleted list.
    fn wrapped_by_hand(&mut self, n: &Node, text: &str, what: &str) {
        static END: std::sync::LazyLock<Option<regex::Regex>> =
            std::sync::LazyLock::new(|| regex::Regex::new(r#"[.:?!]["')`*]?$"#).ok());
        static LIST: std::sync::LazyLock<Option<regex::Regex>> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"^\s*(?:[-*]|\d+\.)\s").ok());
        let (Some(end), Some(list)) = (END.as_ref(), LIST.as_ref()) else {
            return;
        };
        let lines: Vec<(usize, &str)> = text
            .split('\n')
            .scan(0, |at, l| {
                let start = *at;
                *at += l.len() + 1;
                Some((start, l))
            })
            .collect();
        for pair in lines.windows(2) {
            let ((start, line), (_, next)) = (pair[0], pair[1]);
            let line = line.trim_end();
            if line.trim().is_empty()
                || next.trim().is_empty()
                || end.is_match(line)
                || list.is_match(line)
                || list.is_match(next)
            {
                continue;
            }
            let at = self.locate(n, text, start);
            self.warn(
                at,
                format!(
                    "{what} breaks a line inside a sentence: a lesson's line breaks are kept on screen, so end each line at a sentence's end"
                ),
            );
            // One warning per text is enough to find it.
            return;
        }
    }

    /// The source position of byte `at` of a scalar's value: found by
    /// searching the source from the scalar's start for the text from `at` to
    /// the end of that value line (exact for plain and block scalars, and for
    /// quoted ones without escapes before it; else the scalar's start).
    fn locate(&self, n: &Node, value: &str, at: usize) -> Mark {
        let Some(rest) = value.get(at..) else {
            return n.mark;
        };
        // At most 40 bytes of the line, cut at a character boundary.
        let mut end = rest.find('\n').unwrap_or(rest.len()).min(40);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let needle = &rest[..end];
        let start = byte_index(self.text, n.mark);
        match self.text.get(start..).and_then(|t| t.find(needle)) {
            Some(off) => mark_at(self.text, start + off),
            None => n.mark,
        }
    }
}

/// Conditions are read by the shared query parser, reporting here.
impl query::Report for Cx<'_> {
    fn bad(&mut self, at: Mark, message: String) {
        Cx::bad(self, at, message);
    }

    fn note(&mut self, at: Mark, message: String) {
        Cx::note(self, at, message);
    }

    fn keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        what: &str,
        allowed: &[&'static str],
        at: Mark,
    ) -> HashMap<&'static str, &'n Node> {
        Cx::keys(self, entries, what, allowed, &[], at)
    }
}

/// The interpolation names a lesson's text may use.
struct Names<'k> {
    kinds: Vec<&'k KindSpec>,
    finding: bool,
    what: String,
}

impl Names<'_> {
    fn has(&self, name: &str) -> bool {
        STEP_NAMES.contains(&name)
            || (self.finding && FINDING_NAMES.contains(&name))
            || self.kinds.iter().any(|k| k.field(name).is_some())
    }

    fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        STEP_NAMES
            .iter()
            .copied()
            .chain(FINDING_NAMES.iter().copied().filter(|_| self.finding))
            .chain(self.kinds.iter().flat_map(|k| k.fields().map(|f| f.name)))
    }
}

/// Byte index of a mark in `text`.
fn byte_index(text: &str, m: Mark) -> usize {
    let mut idx = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == m.line as usize {
            let col = m.col.saturating_sub(1) as usize;
            return idx + line.char_indices().nth(col).map_or(line.len(), |(b, _)| b);
        }
        idx += line.len();
    }
    text.len()
}

/// The mark of a byte index.
fn mark_at(text: &str, idx: usize) -> Mark {
    let before = &text[..idx];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..idx].chars().count() + 1;
    Mark {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

/// The source line of a mark and the width of the token starting there.
fn excerpt(text: &str, m: Mark) -> (Option<String>, u32) {
    let Some(line) = text.lines().nth(m.line.saturating_sub(1) as usize) else {
        return (None, 1);
    };
    let rest: String = line
        .chars()
        .skip(m.col.saturating_sub(1) as usize)
        .collect();
    let width = token_width(&rest);
    (Some(line.to_string()), width)
}

fn token_width(rest: &str) -> u32 {
    let mut chars = rest.char_indices();
    let n = match chars.next() {
        Some((_, q @ ('"' | '\''))) => rest[1..].find(q).map_or(rest.len(), |e| e + 2),
        Some((_, '{')) => rest
            .find('}')
            .map_or(1, |e| e + 1 + usize::from(rest[e + 1..].starts_with('}'))),
        Some((_, '|' | '>' | '[')) => 1,
        Some(_) => {
            let mut end = rest.len();
            for pat in [": ", ", ", " #", "]", "}"] {
                if let Some(e) = rest.find(pat) {
                    end = end.min(e);
                }
            }
            if rest.trim_end().ends_with(':') {
                end = end.min(rest.trim_end().len() - 1);
            }
            rest[..end].trim_end().len()
        }
        None => 1,
    };
    u32::try_from(rest[..n.min(rest.len())].chars().count().max(1)).unwrap_or(1)
}

impl Loader {
    fn file(&mut self, input: &Input, limits: &Limits, stacks: bool) {
        let file: Arc<str> = Arc::from(input.name.as_str());
        let text = match &input.text {
            Ok(t) => t,
            Err(e) => {
                self.problems.push(Problem {
                    file,
                    line: 0,
                    col: 0,
                    message: e.clone(),
                    source_line: None,
                    width: 1,
                    warning: false,
                });
                return;
            }
        };
        if text.len() > limits.max_bytes {
            self.problems.push(Problem {
                file,
                line: 0,
                col: 0,
                message: format!(
                    "the file is {} bytes; lesson files are limited to {} bytes",
                    text.len(),
                    limits.max_bytes
                ),
                source_line: None,
                width: 1,
                warning: false,
            });
            return;
        }
        let mut cx = Cx {
            file: file.clone(),
            text,
            problems: &mut self.problems,
            fatal: false,
        };
        let docs = match yaml::parse(text, limits) {
            Ok(d) => d,
            Err(e) => {
                cx.note(e.mark, format!("not valid YAML: {}", e.message));
                return;
            }
        };
        let top = if stacks { "stacks" } else { "lessons" };
        if docs.is_empty() {
            cx.note(
                Mark { line: 1, col: 1 },
                format!("the file is empty: expected a mapping with a `{top}` list"),
            );
        }
        for doc in &docs {
            let Some(entries) = cx.map(doc, "the file") else {
                continue;
            };
            // Top-level `x-…` keys are free, for anchors shared by lessons.
            let entries: Vec<(Node, Node)> = entries
                .iter()
                .filter(|(k, _)| !k.text().is_some_and(|t| t.starts_with("x-")))
                .cloned()
                .collect();
            let found = cx.keys(
                &entries,
                "the file",
                if stacks { &["stacks"] } else { &["lessons"] },
                &[top],
                doc.mark,
            );
            let Some(list) = found.get(top) else { continue };
            let Some(items) = cx.seq(list, &format!("`{top}`")) else {
                continue;
            };
            for item in items {
                cx.fatal = false;
                if stacks {
                    if let Some(s) = stack(&mut cx, item)
                        && !cx.fatal
                    {
                        if let Some(prev) = self.course.stacks.iter().find(|p| p.id == s.id) {
                            let at = prev.at.to_string();
                            cx.note(
                                Mark {
                                    line: s.at.line,
                                    col: s.at.col,
                                },
                                format!("duplicate stack id `{}` (first defined at {at})", s.id),
                            );
                        } else {
                            self.course.stacks.push(s);
                        }
                    }
                } else if let Some((les, after_at)) = lesson(&mut cx, item, &self.course.stacks)
                    && !cx.fatal
                {
                    if let Some(first) = self.ids.get(&les.id) {
                        let first = first.to_string();
                        cx.note(
                            Mark { line: les.at.line, col: les.at.col },
                            format!("duplicate lesson id `{}` (first defined at {first}); this one is ignored", les.id),
                        );
                        continue;
                    }
                    self.ids.insert(les.id.clone(), les.at.clone());
                    if let Some(at) = after_at {
                        self.afters.push((self.course.lessons.len(), at));
                    }
                    self.course.lessons.push(les);
                }
            }
        }
    }

    fn cross_checks(&mut self) {
        for (i, at) in std::mem::take(&mut self.afters) {
            let les = &self.course.lessons[i];
            let Some(after) = &les.select.after else {
                continue;
            };
            let message = if *after == les.id {
                format!("`after: {after}` names this lesson itself; it can never match")
            } else if self.ids.contains_key(after) {
                continue;
            } else {
                let hint = did_you_mean(after, self.ids.keys().map(String::as_str));
                format!("`after` names an unknown lesson `{after}`{hint}")
            };
            let (source_line, width) = (None, 1);
            self.problems.push(Problem {
                file: at.file.clone(),
                line: at.line,
                col: at.col,
                message,
                source_line,
                width,
                warning: false,
            });
        }
    }
}

/// Fills excerpts of problems raised outside a file's conversion.
pub fn attach_excerpts(problems: &mut [Problem], inputs: &[Input]) {
    for p in problems
        .iter_mut()
        .filter(|p| p.source_line.is_none() && p.line > 0)
    {
        if let Some(Ok(text)) = inputs.iter().find(|i| *i.name == *p.file).map(|i| &i.text) {
            let (s, w) = excerpt(
                text,
                Mark {
                    line: p.line,
                    col: p.col,
                },
            );
            p.source_line = s;
            p.width = w;
        }
    }
}

fn stack(cx: &mut Cx<'_>, n: &Node) -> Option<Stack> {
    let entries = cx.map(n, "a stack")?;
    let k = cx.keys(entries, "a stack", STACK_KEYS, STACK_KEYS, n.mark);
    let id_node = k.get("id")?;
    let id = cx.string(id_node, "id")?;
    let title = k.get("title").and_then(|t| cx.string(t, "title"));
    let mut packages = Vec::new();
    if let Some(p) = k.get("packages")
        && let Some(items) = cx.seq(p, "`packages`")
    {
        for item in items {
            let Some(e) = cx.map(item, "a package") else {
                continue;
            };
            let pk = cx.keys(e, "a package", PACKAGE_KEYS, PACKAGE_KEYS, item.mark);
            let registry = pk.get("registry").and_then(|r| match r.text() {
                Some("pypi") => Some(Registry::Pypi),
                Some("npm") => Some(Registry::Npm),
                _ => {
                    cx.bad(r.mark, "`registry` must be `pypi` or `npm`");
                    None
                }
            });
            let name = pk.get("name").and_then(|v| cx.string(v, "name"));
            let version = pk.get("version").and_then(|v| cx.string(v, "version"));
            if let (Some(registry), Some(name), Some(version)) = (registry, name, version) {
                if packages.iter().any(|p: &Package| p.name == name) {
                    cx.bad(pk["name"].mark, format!("package `{name}` is listed twice"));
                }
                packages.push(Package {
                    registry,
                    name,
                    version,
                });
            }
        }
    }
    Some(Stack {
        id,
        title: title?,
        packages,
        at: cx.loc(id_node.mark),
    })
}

fn lesson(cx: &mut Cx<'_>, n: &Node, stacks: &[Stack]) -> Option<(Lesson, Option<Loc>)> {
    let entries = cx.map(n, "a lesson")?;
    let k = cx.keys(
        entries,
        "a lesson",
        LESSON_KEYS,
        &["id", "title", "select", "body", "refs"],
        n.mark,
    );
    let id_node = k.get("id").copied();
    let id = id_node.and_then(|i| cx.string(i, "id"));
    if let (Some(id), Some(node)) = (&id, id_node)
        && (id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        cx.bad(
            node.mark,
            format!("lesson id `{id}` must be lowercase letters, digits and `-`"),
        );
    }
    let title = k.get("title").and_then(|t| cx.string(t, "title"));
    let (select, names, after_at) = match k.get("select") {
        Some(s) => select(cx, s).map_or((None, None, None), |(a, b, c)| (Some(a), Some(b), c)),
        None => (None, None, None),
    };
    let names = names.unwrap_or(Names {
        kinds: Vec::new(),
        finding: false,
        what: "the selected steps".into(),
    });
    let body = k.get("body").and_then(|b| {
        let t = cx.string(b, "body")?;
        cx.template(b, &t, &names, "body");
        Some(t)
    });
    let refs = k
        .get("refs")
        .map(|r| cx.strings(r, "refs"))
        .unwrap_or_default();
    let hints = match k.get("hints") {
        Some(h) => {
            let items = cx.seq(h, "`hints`").unwrap_or(&[]);
            items
                .iter()
                .filter_map(|i| {
                    let t = cx.string(i, "hints")?;
                    cx.template(i, &t, &names, "hint");
                    Some(t)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let mut questions = Vec::new();
    let mut predicted: Vec<(String, Mark)> = Vec::new();
    if let Some(q) = k.get("questions") {
        for item in cx.seq(q, "`questions`").unwrap_or(&[]) {
            let Some(e) = cx.map(item, "a question") else {
                continue;
            };
            let qk = cx.keys(e, "a question", QUESTION_KEYS, QUESTION_REQUIRED, item.mark);
            let field = qk.get("field").and_then(|n| cx.string(n, "field"));
            let on = qk.get("on").and_then(|n| {
                let text = cx.string(n, "on")?;
                let pat = KindPattern::parse(&text);
                query::lint_kind(cx, &pat, n.mark);
                Some(pat)
            });
            let from = qk.get("from").and_then(|n| match n.text() {
                Some("peer") => Some(Side::Peer),
                Some("same") => Some(Side::Same),
                _ => {
                    cx.bad(n.mark, "`from` must be `peer` or `same`");
                    None
                }
            });
            if from.is_some()
                && on.is_none()
                && let Some(n) = qk.get("from")
            {
                cx.bad(
                    n.mark,
                    "`from` needs `on`: it says which side sends that later step",
                );
            }
            if let (Some(f), Some(node)) = (&field, qk.get("field")) {
                cx.question_field(node.mark, f, on.as_ref(), &names);
                predicted.push((f.clone(), node.mark));
            }
            let mut get = |key: &str, what: &str| {
                let node = qk.get(key)?;
                let t = cx.string(node, key)?;
                cx.template(node, &t, &names, what);
                Some(t)
            };
            if let (Some(ask), Some(answer)) = (get("ask", "question"), get("answer", "answer")) {
                questions.push(Question {
                    ask,
                    answer,
                    field,
                    on,
                    from,
                });
            }
        }
    }
    let mut notes = Vec::new();
    if let Some(ns) = k.get("notes")
        && let Some(e) = cx.map(ns, "`notes`")
    {
        for (sk, sv) in e {
            let Some(stack_id) = cx.string(sk, "notes stack") else {
                continue;
            };
            if !stacks.iter().any(|s| s.id == stack_id) {
                cx.note(sk.mark, unknown_stack(&stack_id, stacks));
            }
            if notes.iter().any(|(s, _): &(String, _)| *s == stack_id) {
                cx.bad(sk.mark, format!("duplicate key `{stack_id}` in `notes`"));
            }
            if let Some(t) = cx.string(sv, "a note") {
                cx.template(sv, &t, &names, "note");
                notes.push((stack_id, t));
            }
        }
    }
    // Teaching checks: no answer shown before its question is asked, no
    // sentence about one recording.
    if let (Some(b), Some(text)) = (k.get("body"), &body) {
        cx.answers_shown(b, text, &predicted, "body");
        cx.wrapped_by_hand(b, text, "body");
    }
    let mut texts: Vec<(&Node, &str)> = Vec::new();
    if let Some(t) = k.get("title") {
        texts.push((t, "title"));
    }
    if let Some(b) = k.get("body") {
        texts.push((b, "body"));
    }
    if let Some(items) = k.get("hints").and_then(|h| seq_of(h)) {
        texts.extend(items.iter().map(|i| (i, "hint")));
    }
    if let Some(items) = k.get("questions").and_then(|q| seq_of(q)) {
        for item in items {
            for (key, v) in map_of(item).unwrap_or(&[]) {
                if matches!(key.text(), Some("ask" | "answer")) {
                    texts.push((v, "question"));
                }
            }
        }
    }
    if let Some(ns) = k.get("notes").and_then(|n| map_of(n)) {
        for (_, v) in ns {
            cx.answers_shown(v, v.text().unwrap_or(""), &predicted, "note");
            texts.push((v, "note"));
        }
    }
    for (node, what) in texts {
        if let Some(t) = node.text() {
            cx.one_recording(node, t, what);
        }
    }
    let mut trace = Vec::new();
    let mut unobserved = Vec::new();
    if let Some(t) = k.get("trace")
        && let Some(e) = cx.map(t, "`trace`")
    {
        for (sk, sv) in e {
            let Some(stack_id) = cx.string(sk, "trace stack") else {
                continue;
            };
            let st = stacks.iter().find(|s| s.id == stack_id);
            if st.is_none() {
                cx.note(sk.mark, unknown_stack(&stack_id, stacks));
            }
            if trace.iter().any(|(s, _): &(String, _)| *s == stack_id) {
                cx.bad(sk.mark, format!("duplicate key `{stack_id}` in `trace`"));
            }
            let mut entries = Vec::new();
            for item in cx
                .seq(sv, &format!("the trace of `{stack_id}`"))
                .unwrap_or(&[])
            {
                if let Some((te, why)) = trace_entry(cx, item, st) {
                    if let Some(r) = why {
                        unobserved.push((te.at.clone(), r));
                    }
                    entries.push(te);
                }
            }
            trace.push((stack_id, entries));
        }
    }
    let lesson = Lesson {
        id: id?,
        title: title?,
        select: select?,
        body: body?,
        refs,
        hints,
        questions,
        trace,
        notes,
        unobserved,
        at: cx.loc(id_node?.mark),
    };
    Some((lesson, after_at))
}

fn seq_of(n: &Node) -> Option<&[Node]> {
    match &n.kind {
        NodeKind::Seq(v) => Some(v),
        _ => None,
    }
}

fn map_of(n: &Node) -> Option<&[(Node, Node)]> {
    match &n.kind {
        NodeKind::Map(v) => Some(v),
        _ => None,
    }
}

/// "unknown stack `x`", with a suggestion or the list of stacks.
fn unknown_stack(id: &str, stacks: &[Stack]) -> String {
    let hint = match suggest(id, stacks.iter().map(|s| s.id.as_str())) {
        Some(s) => format!("; did you mean `{s}`?"),
        None if stacks.is_empty() => "; the course declares no stacks (no stacks.yaml)".to_string(),
        None => format!(
            "; the stacks are: {}",
            stacks
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("unknown stack `{id}`{hint}")
}

/// A trace entry, and the `reason` if it is written with `observed: false`.
fn trace_entry(
    cx: &mut Cx<'_>,
    n: &Node,
    stack: Option<&Stack>,
) -> Option<(TraceEntry, Option<String>)> {
    let e = cx.map(n, "a trace entry")?;
    let k = cx.keys(e, "a trace entry", TRACE_KEYS, TRACE_REQUIRED, n.mark);
    let package = k.get("package").and_then(|v| cx.string(v, "package"));
    let version = k.get("version").and_then(|v| cx.string(v, "version"));
    let file = k.get("file").and_then(|v| cx.string(v, "file"));
    let line = k.get("line").and_then(|v| cx.uint(v, "line", 1));
    let function = k.get("function").and_then(|v| cx.string(v, "function"));
    let does = k.get("does").and_then(|v| cx.string(v, "does"));
    // `observed: false` + `reason`: the entry is true but `dispel lessons
    // trace` cannot see it run for the step (see lessons/README.md).
    let observed = match k.get("observed").map(|v| (v, v.scalar())) {
        None => true,
        Some((_, Some(Scalar::Bool(b)))) => b,
        Some((v, _)) => {
            cx.bad(
                v.mark,
                format!("`observed` must be true or false, found {}", v.describe()),
            );
            true
        }
    };
    let reason = k.get("reason").and_then(|v| cx.string(v, "reason"));
    let unobserved = match (observed, reason) {
        (true, None) => None,
        (false, Some(r)) if !r.trim().is_empty() => Some(r),
        (false, _) => {
            cx.bad(
                n.mark,
                "a trace entry with `observed: false` needs a `reason`: why running the server cannot show it".to_string(),
            );
            None
        }
        (true, Some(_)) => {
            cx.bad(
                k["reason"].mark,
                "`reason` goes with `observed: false`".to_string(),
            );
            None
        }
    };
    if let (Some(st), Some(p)) = (stack, &package) {
        match st.package(p) {
            None => {
                let names: Vec<&str> = st.packages.iter().map(|p| p.name.as_str()).collect();
                let hint = match suggest(p, names.iter().copied()) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; its packages are: {}", names.join(", ")),
                };
                cx.note(
                    k["package"].mark,
                    format!("package `{p}` is not pinned by stack `{}`{hint}", st.id),
                );
            }
            Some(pinned) => {
                if let Some(v) = &version
                    && *v != pinned.version
                {
                    cx.note(
                        k["version"].mark,
                        format!(
                            "version {v} of `{p}` does not match stacks.yaml, which pins {} for stack `{}`",
                            pinned.version, st.id
                        ),
                    );
                }
            }
        }
    }
    if let Some(f) = &file
        && (f.starts_with('/') || f.split(['/', '\\']).any(|c| c == ".."))
    {
        cx.bad(
            k["file"].mark,
            format!("`file` must be a relative path inside the package, not `{f}`"),
        );
    }
    let entry = TraceEntry {
        package: package?,
        version: version?,
        file: file?,
        line: line?,
        function: function?,
        does: does?,
        at: cx.loc(n.mark),
    };
    Some((entry, unobserved))
}

fn select<'k>(cx: &mut Cx<'_>, n: &Node) -> Option<(Select, Names<'k>, Option<Loc>)> {
    let entries = cx.map(n, "`select`")?;
    let k = cx.keys(entries, "`select`", SELECT_KEYS, &[], n.mark);
    let mut sel = Select::default();
    let mut kinds: Vec<&'static KindSpec> = Vec::new();
    match k.get("kind") {
        Some(kn) => {
            if let Some(text) = cx.string(kn, "kind") {
                let pat = KindPattern::parse(&text);
                kinds = query::lint_kind(cx, &pat, kn.mark);
                sel.kind = Some(pat);
            }
        }
        None => {
            if !k.contains_key("finding") {
                cx.bad(n.mark, "`select` needs a `kind` (or a `finding`)");
            }
        }
    }
    if let Some(d) = k.get("dir") {
        match d.text() {
            Some("c2s") => sel.dir = Some(SelDir::C2s),
            Some("s2c") => sel.dir = Some(SelDir::S2c),
            _ => cx.bad(
                d.mark,
                format!(
                    "`dir` must be `c2s` or `s2c`, not {}",
                    d.text()
                        .map_or_else(|| d.describe().to_string(), |t| format!("`{t}`"))
                ),
            ),
        }
        if let (Some(sd), Some(p)) = (sel.dir, &sel.kind) {
            query::lint_dir(cx, p, &kinds, sd, d.mark);
        }
    }
    if let Some(f) = k.get("finding")
        && let Some(rule) = cx.string(f, "finding")
    {
        if rules::by_id(&rule).is_none() {
            let hint = did_you_mean(&rule, rules::ALL.iter().map(|r| r.id));
            cx.note(f.mark, format!("unknown finding rule `{rule}`{hint}"));
        }
        sel.finding = Some(rule);
    }
    if let Some(nn) = k.get("nth") {
        sel.nth = cx.uint(nn, "nth", 1);
    }
    let mut after_at = None;
    if let Some(a) = k.get("after")
        && let Some(id) = cx.string(a, "after")
    {
        sel.after = Some(id);
        after_at = Some(cx.loc(a.mark));
    }
    let what = match &sel.kind {
        Some(p) => format!("`{p}` steps"),
        None => "the steps carrying this finding".to_string(),
    };
    if let Some(w) = k.get("where")
        && let Some(e) = cx.map(w, "`where`")
    {
        for (fk, fv) in e {
            let Some(field) = fk.text() else {
                cx.bad(fk.mark, "`where` keys must be field names");
                continue;
            };
            let pool: Vec<&'static KindSpec> = if kinds.is_empty() && sel.kind.is_none() {
                kinds::KINDS.iter().collect()
            } else {
                kinds.clone()
            };
            let types = query::lint_field(cx, &pool, field, &what, fk.mark);
            if sel.conds.iter().any(|c| c.field == field) {
                cx.bad(fk.mark, format!("duplicate key `{field}` in `where`"));
            }
            for op in query::parse_ops(cx, fv) {
                query::lint_op(cx, field, &types, &op.0, op.1);
                sel.conds.push(Cond {
                    field: field.to_string(),
                    op: op.0,
                });
            }
        }
    }
    let names = Names {
        kinds: if kinds.is_empty() && sel.kind.is_none() {
            kinds::KINDS.iter().collect()
        } else {
            kinds
        },
        finding: sel.finding.is_some(),
        what,
    };
    Some((sel, names, after_at))
}
