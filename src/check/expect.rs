//! Expectations: what an assignment requires of a capture, declared in YAML
//! and checked over its steps. The language is documented, with examples, in
//! `docs/expectations.md`; this is its parser and evaluator.
//!
//! An expectation either looks for steps — by `kind`, `dir`, `conn` and
//! `where` conditions on their fields, counted with `at_least` / `at_most` /
//! `exactly`, optionally each `answered_by` a later step that points back at
//! it — or forbids findings (`no_findings`). Fields are compared in their
//! ndjson encoding, so what a grader sees in `dispel explain --format
//! ndjson` is exactly what an expectation tests.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as J;

use super::{Evidence, StepView};
use crate::kinds::{self, KindSpec};
use crate::query::{self, Cond, KindPattern, Op, Query, Subject, kind_matches};
use crate::rules;
use crate::step::{Dir, Severity};
use crate::yaml::{self, Limits, Mark, Node, NodeKind, Scalar};

/// `dir:` client to server or back (the shared query's direction).
pub use crate::query::SelDir as DirSpec;

/// How much of a step the expectations need (see [`ExpectFile::wants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    Nothing,
    /// Its findings (a `no_findings` expectation), not its fields.
    Findings,
    Everything,
}

/// An expectations file.
#[derive(Debug, Clone)]
pub struct ExpectFile {
    /// What the file grades, for reports.
    pub title: Option<String>,
    pub expect: Vec<Expectation>,
    /// `FILE:LINE:COLUMN: message` of what loads but deserves a look (a
    /// condition that can never hold).
    pub warnings: Vec<String>,
}

/// One requirement.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Shown in every report; unique within the file.
    pub name: String,
    /// The steps looked for: `kind` (one pattern, as `--kind`), `dir`,
    /// `conn` and the `where` conditions, all of which must hold.
    pub query: Query,
    pub at_least: Option<u64>,
    pub at_most: Option<u64>,
    pub exactly: Option<u64>,
    /// Each matching step counts only if a later step answers it.
    pub answered_by: Option<Answer>,
    /// Instead of looking for steps: no finding of this severity (or worse)
    /// and/or of these rules.
    pub no_findings: Option<NoFindings>,
    /// Points the expectation is worth in a score (`--format gradescope`);
    /// 1 unless the file says `weight:`.
    pub weight: f64,
    /// Where the expectation is written.
    pub at: Mark,
}

/// `answered_by:` a later step whose `via` field holds the step number of
/// the step it answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `kind`, `dir` and `where` of the answering step.
    pub query: Query,
    /// The answering step's field that names the answered step; inferred
    /// from `kind` for the correlations dispel emits.
    pub via: Option<String>,
}

/// `no_findings:`.
#[derive(Debug, Clone, Default)]
pub struct NoFindings {
    pub severity: Option<SeverityName>,
    /// Rule ids, layers or `prefix.*` patterns.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeverityName {
    Must,
    Should,
    Info,
}

impl SeverityName {
    /// Whether a finding of severity `s` is this severity or worse.
    fn covers(self, s: Severity) -> bool {
        let rank = |s: Severity| match s {
            Severity::Must => 0,
            Severity::Should => 1,
            Severity::Info => 2,
        };
        let me = match self {
            SeverityName::Must => Severity::Must,
            SeverityName::Should => Severity::Should,
            SeverityName::Info => Severity::Info,
        };
        rank(s) <= rank(me)
    }
}

/// The kept view of a step answers queries on its ndjson fields.
impl Subject for StepView {
    fn kind(&self) -> &str {
        self.kind
    }
    fn dir(&self) -> Dir {
        self.dir
    }
    fn conn(&self) -> u32 {
        self.conn
    }
    fn holds(&self, c: &Cond) -> bool {
        c.holds_on_json(self.kind, self.fields.get(&c.field))
    }
}

/// The conditions of a query grouped by field, in the file's order (the
/// shared parser gives a field's operators one after another).
fn by_field(conds: &[Cond]) -> Vec<(&str, &[Cond])> {
    let mut out: Vec<(&str, &[Cond])> = Vec::new();
    let mut start = 0;
    for i in 1..=conds.len() {
        if i == conds.len() || conds[i].field != conds[start].field {
            out.push((conds[start].field.as_str(), &conds[start..i]));
            start = i;
        }
    }
    out
}

/// One field's conditions in words, for reports: `eq 1000`, `gt 125 and
/// le 65535`, `present`.
fn describe(conds: &[Cond]) -> String {
    // Numbers as bounds print as they always have (as floats: `125`, `1.5`).
    let bound = |l: &query::Lit| match l {
        query::Lit::Int(i) => (*i as f64).to_string(),
        query::Lit::Float(x) => x.to_string(),
        other => other.to_json().to_string(),
    };
    let rank = |op: &Op| match op {
        Op::Eq(_) => 0,
        Op::Ne(_) => 1,
        Op::Lt(_) => 2,
        Op::Le(_) => 3,
        Op::Gt(_) => 4,
        Op::Ge(_) => 5,
        Op::In(_) => 6,
        Op::Contains(_) => 7,
        Op::Present(_) => 8,
    };
    let mut ops: Vec<&Op> = conds.iter().map(|c| &c.op).collect();
    ops.sort_by_key(|o| rank(o));
    let parts: Vec<String> = ops
        .iter()
        .map(|op| match op {
            Op::Eq(l) | Op::Ne(l) => format!("{} {}", op.name(), l.to_json()),
            Op::Lt(l) | Op::Le(l) | Op::Gt(l) | Op::Ge(l) => {
                format!("{} {}", op.name(), bound(l))
            }
            Op::In(ls) => format!(
                "in {}",
                J::Array(ls.iter().map(query::Lit::to_json).collect())
            ),
            Op::Contains(s) => format!("contains {}", J::String(s.clone())),
            Op::Present(true) => "present".into(),
            Op::Present(false) => "absent".into(),
        })
        .collect();
    if parts.is_empty() {
        "present".into()
    } else {
        parts.join(" and ")
    }
}

/// Why an expectations file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// YAML syntax, an unknown key, a wrong type: with line and column.
    #[error("{at}: {message}")]
    Syntax {
        /// `FILE:LINE:COLUMN` (or `FILE` for the file as a whole).
        at: String,
        message: String,
    },
    /// Well-formed, but not meaningful.
    #[error("{at}: expectation {index} ({name}): {message}")]
    Invalid {
        /// `FILE:LINE:COLUMN` of the expectation.
        at: String,
        index: usize,
        name: String,
        message: String,
    },
    /// Several of the above, in file order: one a line.
    #[error("{}", lines(.0))]
    Several(Vec<ExpectError>),
}

fn lines(errors: &[ExpectError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ExpectError {
    /// One error as itself, several as [`ExpectError::Several`].
    fn of(mut errors: Vec<ExpectError>) -> Option<ExpectError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ExpectError::Several(errors)),
        }
    }
}

/// Largest `weight:` accepted: scores stay exact in a double.
pub const MAX_WEIGHT: f64 = 1_000_000.0;

/// Largest expectations file read, in bytes (as for lesson files).
pub const MAX_FILE_BYTES: usize = 256 * 1024;

const FILE_KEYS: &[&str] = &["title", "expect"];
const EXPECT_KEYS: &[&str] = &[
    "name",
    "kind",
    "dir",
    "conn",
    "where",
    "at_least",
    "at_most",
    "exactly",
    "answered_by",
    "no_findings",
    "weight",
];
const ANSWER_KEYS: &[&str] = &["kind", "dir", "where", "via"];
const NO_FINDINGS_KEYS: &[&str] = &["severity", "rules"];

/// `expected one of `a`, `b`` as serde words it.
fn one_of(allowed: &[&str]) -> String {
    let q: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
    match q.as_slice() {
        [] => "there are no fields".into(),
        [a] => format!("expected {a}"),
        [a, b] => format!("expected {a} or {b}"),
        _ => format!("expected one of {}", q.join(", ")),
    }
}

/// Reads an expectations file's located tree, collecting every error (the
/// first, in file order, is reported) and warning.
struct Reader<'a> {
    file: &'a str,
    /// Where in the document the value being read sits
    /// (`expect[1].where.websocket.opcode`), prefixed to messages.
    path: String,
    errors: Vec<(Mark, String)>,
    warnings: Vec<(Mark, String)>,
}

impl Reader<'_> {
    fn at(&self, m: Mark) -> String {
        format!("{}:{}:{}", self.file, m.line, m.col)
    }

    fn message(&self, message: String) -> String {
        if self.path.is_empty() {
            message
        } else {
            format!("{}: {message}", self.path)
        }
    }

    fn err(&mut self, m: Mark, message: impl Into<String>) {
        let message = self.message(message.into());
        self.errors.push((m, message));
    }

    fn map<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &n.kind {
            NodeKind::Map(e) => Some(e),
            _ => {
                self.err(
                    n.mark,
                    format!("{what} must be a mapping, found {}", n.describe()),
                );
                None
            }
        }
    }

    /// Any non-null scalar, as written.
    fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match (n.scalar(), n.text()) {
            (Some(Scalar::Null) | None, _) | (_, None) => {
                self.err(
                    n.mark,
                    format!("`{what}` must be text, found {}", n.describe()),
                );
                None
            }
            (_, Some(t)) => Some(t.to_string()),
        }
    }

    fn count(&mut self, n: &Node, what: &str, max: u64) -> Option<u64> {
        match n.scalar() {
            Some(Scalar::Int(i)) if i >= 0 && i <= i128::from(max) => Some(i as u64),
            _ => {
                self.err(
                    n.mark,
                    format!(
                        "`{what}` must be a whole number from 0 to {max}, found {}",
                        n.text()
                            .map_or_else(|| n.describe().to_string(), |t| format!("`{t}`"))
                    ),
                );
                None
            }
        }
    }

    /// `weight:` a number of points from 0 to [`MAX_WEIGHT`].
    fn weight(&mut self, n: &Node) -> Option<f64> {
        let w = match n.scalar() {
            Some(Scalar::Int(i)) => Some(i as f64),
            Some(Scalar::Float(f)) => Some(f),
            _ => None,
        };
        match w {
            Some(w) if w.is_finite() && (0.0..=MAX_WEIGHT).contains(&w) => Some(w),
            _ => {
                self.err(
                    n.mark,
                    format!(
                        "`weight` must be a number of points from 0 to {MAX_WEIGHT}, found {}",
                        n.text()
                            .map_or_else(|| n.describe().to_string(), |t| format!("`{t}`"))
                    ),
                );
                None
            }
        }
    }

    fn dir(&mut self, n: &Node) -> Option<DirSpec> {
        let d = n.text().and_then(DirSpec::parse);
        if d.is_none() {
            self.err(
                n.mark,
                format!(
                    "`dir` must be `c2s` or `s2c`, not {}",
                    n.text()
                        .map_or_else(|| n.describe().to_string(), |t| format!("`{t}`"))
                ),
            );
        }
        d
    }

    /// `kind`, `dir` and `where` of an expectation or of its `answered_by`.
    fn query(&mut self, k: &HashMap<&'static str, &Node>) -> Query {
        let mut q = Query::default();
        // The registered kinds the query admits (every kind without one),
        // for the same checks `lessons lint` makes: what can never match
        // is a warning.
        let mut pool: Vec<&'static KindSpec> = kinds::KINDS.iter().collect();
        if let Some(n) = k.get("kind")
            && let Some(t) = self.string(n, "kind")
        {
            let pat = KindPattern::parse(&t);
            pool = query::lint_kind(self, &pat, n.mark);
            q.kinds.push(pat);
        }
        if let Some(n) = k.get("dir") {
            q.dir = self.dir(n);
            if let (Some(d), Some(p)) = (q.dir, q.kinds.first()) {
                query::lint_dir(self, p, &pool, d, n.mark);
            }
        }
        let what = match q.kinds.first() {
            Some(p) => format!("`{p}` steps"),
            None => "steps of any kind".to_string(),
        };
        if let Some(w) = k.get("where")
            && let Some(entries) = self.map(w, "`where`")
        {
            let base = std::mem::take(&mut self.path);
            let mut seen: Vec<&str> = Vec::new();
            for (fk, fv) in entries {
                let Some(field) = fk.text() else {
                    self.path.clone_from(&base);
                    self.err(fk.mark, "`where` keys must be field names");
                    continue;
                };
                self.path = format!("{base}.where.{field}");
                if seen.contains(&field) {
                    self.err(fk.mark, format!("duplicate field `{field}`"));
                }
                seen.push(field);
                let types = query::lint_field(self, &pool, field, &what, fk.mark);
                for (op, at) in query::parse_ops(self, fv) {
                    query::lint_op(self, field, &types, &op, at);
                    q.conds.push(Cond {
                        field: field.to_string(),
                        op,
                    });
                }
            }
            self.path = base;
        }
        q
    }
}

impl query::Report for Reader<'_> {
    fn bad(&mut self, at: Mark, message: String) {
        self.err(at, message);
    }

    fn note(&mut self, at: Mark, message: String) {
        let message = self.message(message);
        self.warnings.push((at, message));
    }

    /// Unknown and duplicate keys, worded as they always were for
    /// expectation files (`unknown field `kinds`, expected one of …`).
    fn keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        _what: &str,
        allowed: &[&'static str],
        _at: Mark,
    ) -> HashMap<&'static str, &'n Node> {
        let mut found: HashMap<&'static str, &'n Node> = HashMap::new();
        for (k, v) in entries {
            let Some(name) = k.text() else {
                self.err(k.mark, "keys must be plain names");
                continue;
            };
            match allowed.iter().find(|a| **a == name) {
                Some(a) => {
                    if found.insert(a, v).is_some() {
                        self.err(k.mark, format!("duplicate field `{name}`"));
                    }
                }
                None => {
                    let hint = one_of(allowed);
                    self.err(k.mark, format!("unknown field `{name}`, {hint}"));
                }
            }
        }
        found
    }
}

impl ExpectFile {
    /// Reads and validates an expectations file.
    pub fn load(path: &Path) -> Result<ExpectFile, ExpectError> {
        let shown = path.display().to_string();
        let read = |source| ExpectError::Read {
            path: shown.clone(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_FILE_BYTES as u64 {
            return Err(ExpectError::Syntax {
                at: shown,
                message: format!(
                    "the file is {len} bytes; expectation files are limited to {MAX_FILE_BYTES} bytes"
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        ExpectFile::parse(&text, &shown)
    }

    /// Parses and validates expectations from YAML text; `path` names it in
    /// errors, which are located (`FILE:LINE:COLUMN: message`). Every error
    /// is reported (several as [`ExpectError::Several`]); the meaning of the
    /// expectations is checked once their form is right.
    pub fn parse(text: &str, path: &str) -> Result<ExpectFile, ExpectError> {
        let mut r = Reader {
            file: path,
            path: String::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let docs = yaml::parse(text, &Limits::default()).map_err(|e| ExpectError::Syntax {
            at: r.at(e.mark),
            message: format!("not valid YAML: {}", e.message),
        })?;
        let file = match docs.as_slice() {
            [doc] => read_file(&mut r, doc),
            [] => {
                r.err(
                    Mark { line: 1, col: 1 },
                    "the file is empty; it needs `expect:`",
                );
                None
            }
            [_, second, ..] => {
                r.err(second.mark, "one YAML document expected, found several");
                None
            }
        };
        r.errors.sort_by_key(|(m, _)| (m.line, m.col));
        let errors = r
            .errors
            .iter()
            .map(|(m, message)| ExpectError::Syntax {
                at: r.at(*m),
                message: message.clone(),
            })
            .collect();
        if let Some(e) = ExpectError::of(errors) {
            return Err(e);
        }
        let Some(mut file) = file else {
            // Every `None` above comes with an error.
            return Err(ExpectError::Syntax {
                at: path.to_string(),
                message: "unreadable".into(),
            });
        };
        if let Some(e) = ExpectError::of(file.validate(path)) {
            return Err(e);
        }
        r.warnings.sort_by_key(|(m, _)| (m.line, m.col));
        file.warnings = r
            .warnings
            .iter()
            .map(|(m, w)| format!("{}: {w}", r.at(*m)))
            .collect();
        Ok(file)
    }

    /// Every expectation that is well-formed but not meaningful.
    fn validate(&self, path: &str) -> Vec<ExpectError> {
        let mut errors = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, e) in self.expect.iter().enumerate() {
            let bad = |message: String| ExpectError::Invalid {
                at: format!("{path}:{}:{}", e.at.line, e.at.col),
                index: i + 1,
                name: e.name.clone(),
                message,
            };
            if !names.insert(e.name.as_str()) {
                errors.push(bad("another expectation has the same name".into()));
            }
            let q = &e.query;
            let looks = !q.kinds.is_empty()
                || q.dir.is_some()
                || q.conn.is_some()
                || !q.conds.is_empty()
                || e.answered_by.is_some()
                || e.at_least.is_some()
                || e.at_most.is_some()
                || e.exactly.is_some();
            match (&e.no_findings, looks) {
                (Some(_), true) => {
                    errors.push(bad(
                        "`no_findings` stands alone: put step conditions in a separate expectation"
                            .into(),
                    ));
                }
                (None, false) => {
                    errors.push(bad(
                        "say what to look for (`kind`, `where`) or use `no_findings`".into(),
                    ));
                }
                _ => {}
            }
            if let Some(nf) = &e.no_findings {
                for r in &nf.rules {
                    if !rules::ALL.iter().any(|rule| kind_matches(r, rule.id)) {
                        errors.push(bad(format!("no_findings: `{r}` names no rule")));
                    }
                }
            }
            if e.exactly.is_some() && (e.at_least.is_some() || e.at_most.is_some()) {
                errors.push(bad(
                    "`exactly` cannot be combined with `at_least` / `at_most`".into(),
                ));
            }
            if let (Some(lo), Some(hi)) = (e.at_least, e.at_most)
                && lo > hi
            {
                errors.push(bad(format!("at_least {lo} is more than at_most {hi}")));
            }
            if let Some(a) = &e.answered_by
                && a.via().is_none()
            {
                errors.push(bad(
                    "answered_by: say `via` (the answering step's field holding the answered step number)"
                        .into(),
                ));
            }
        }
        errors
    }

    /// Whether any expectation could read the fields of a step of `kind`
    /// (steps of other kinds can arrive lean: see
    /// [`crate::analyze::Sink::wants_detail`]).
    pub fn reads_fields_of(&self, kind: &str) -> bool {
        self.expect.iter().any(|e| {
            e.no_findings.is_none()
                && (e.query.admits_kind(kind)
                    || e.answered_by
                        .as_ref()
                        .is_some_and(|a| a.query.admits_kind(kind)))
        })
    }

    /// What evaluating needs of a step, decided as the step goes by, so
    /// `check` keeps only those steps (a capture of a million events whose
    /// expectations ask about the handshake keeps a handful).
    pub fn wants(&self, step: &crate::step::Step) -> Want {
        let mut want = Want::Nothing;
        for e in &self.expect {
            if e.no_findings.is_some() {
                if !step.findings.is_empty() {
                    want = want.max(Want::Findings);
                }
                continue;
            }
            let answer = e.answered_by.as_ref().is_some_and(|a| {
                a.query.admits_kind(step.kind) && a.query.dir.is_none_or(|d| d.dir() == step.dir)
            });
            if e.query.selects(step) || answer {
                return Want::Everything;
            }
        }
        want
    }

    /// Checks every expectation over a capture's steps.
    pub fn evaluate(&self, steps: &[StepView]) -> Vec<Outcome> {
        self.expect.iter().map(|e| e.evaluate(steps)).collect()
    }
}

fn read_file(r: &mut Reader<'_>, doc: &Node) -> Option<ExpectFile> {
    let entries = r.map(doc, "an expectations file")?;
    let k = query::Report::keys(r, entries, "the file", FILE_KEYS, doc.mark);
    let title = k.get("title").and_then(|t| r.string(t, "title"));
    let Some(list) = k.get("expect") else {
        r.err(doc.mark, "missing field `expect`");
        return None;
    };
    let NodeKind::Seq(items) = &list.kind else {
        r.err(
            list.mark,
            format!("`expect` must be a list, found {}", list.describe()),
        );
        return None;
    };
    let mut expect = Vec::new();
    for (i, item) in items.iter().enumerate() {
        r.path = format!("expect[{i}]");
        if let Some(e) = read_expectation(r, item) {
            expect.push(e);
        }
    }
    r.path.clear();
    Some(ExpectFile {
        title,
        expect,
        warnings: Vec::new(),
    })
}

fn read_expectation(r: &mut Reader<'_>, n: &Node) -> Option<Expectation> {
    let entries = r.map(n, "an expectation")?;
    let k = query::Report::keys(r, entries, "an expectation", EXPECT_KEYS, n.mark);
    let name = match k.get("name") {
        Some(v) => r.string(v, "name"),
        None => {
            r.err(n.mark, "missing field `name`");
            None
        }
    };
    let mut query = r.query(&k);
    if let Some(c) = k.get("conn") {
        query.conn = r.count(c, "conn", u64::from(u32::MAX)).map(|c| c as u32);
    }
    let at_least = k
        .get("at_least")
        .and_then(|v| r.count(v, "at_least", u64::MAX));
    let at_most = k
        .get("at_most")
        .and_then(|v| r.count(v, "at_most", u64::MAX));
    let exactly = k
        .get("exactly")
        .and_then(|v| r.count(v, "exactly", u64::MAX));
    let answered_by = k.get("answered_by").and_then(|a| {
        let base = r.path.clone();
        r.path = format!("{base}.answered_by");
        let entries = r.map(a, "`answered_by`");
        let answer = entries.map(|entries| {
            let k = query::Report::keys(r, entries, "`answered_by`", ANSWER_KEYS, a.mark);
            let query = r.query(&k);
            let via = k.get("via").and_then(|v| r.string(v, "via"));
            Answer { query, via }
        });
        r.path = base;
        answer
    });
    let no_findings = k.get("no_findings").and_then(|nf| {
        let base = r.path.clone();
        r.path = format!("{base}.no_findings");
        let out = r.map(nf, "`no_findings`").map(|entries| {
            let k = query::Report::keys(r, entries, "`no_findings`", NO_FINDINGS_KEYS, nf.mark);
            let severity = k.get("severity").and_then(|s| match s.text() {
                Some("must") => Some(SeverityName::Must),
                Some("should") => Some(SeverityName::Should),
                Some("info") => Some(SeverityName::Info),
                _ => {
                    r.err(
                        s.mark,
                        format!(
                            "`severity` must be `must`, `should` or `info`, not {}",
                            s.text()
                                .map_or_else(|| s.describe().to_string(), |t| format!("`{t}`"))
                        ),
                    );
                    None
                }
            });
            let rules = match k.get("rules").map(|l| (l, &l.kind)) {
                None => Vec::new(),
                Some((_, NodeKind::Seq(items))) => {
                    items.iter().filter_map(|i| r.string(i, "rules")).collect()
                }
                Some((l, _)) => {
                    r.err(
                        l.mark,
                        format!("`rules` must be a list, found {}", l.describe()),
                    );
                    Vec::new()
                }
            };
            NoFindings { severity, rules }
        });
        r.path = base;
        out
    });
    let weight = match k.get("weight") {
        None => Some(1.0),
        Some(w) => r.weight(w),
    };
    Some(Expectation {
        name: name?,
        query,
        at_least,
        at_most,
        exactly,
        answered_by,
        no_findings,
        weight: weight?,
        at: n.mark,
    })
}

impl Answer {
    /// The `via` field: given, or the one dispel emits for that kind.
    pub fn via(&self) -> Option<&str> {
        if let Some(v) = &self.via {
            return Some(v);
        }
        let kind = self.query.kinds.first().map(KindPattern::to_string);
        match kind.as_deref() {
            Some("socketio.packet" | "socketio") => Some("socketio.ack.answers"),
            Some("websocket.frame") => Some("websocket.pong.answers"),
            Some("engineio.packet" | "engineio") => Some("engineio.heartbeat.answers"),
            _ => None,
        }
    }

    /// The answering step's kind as written (`any` without one).
    fn kind_text(&self) -> Option<String> {
        self.query.kinds.first().map(KindPattern::to_string)
    }
}

/// An expectation's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    /// What was required, in words.
    pub requirement: String,
    /// Why it passed or failed, in words.
    pub detail: String,
    /// The steps that matched (or, for `no_findings`, the offending ones).
    pub evidence: Vec<Evidence>,
    /// The expectation's `weight`: the points it is worth.
    pub weight: f64,
    /// Whether more packets could have changed a pass into a failure (a
    /// `no_findings`, `at_most` or `exactly`): such a pass on a capture read
    /// only in part is not proven.
    pub needs_whole_capture: bool,
}

/// Evidence lists in reports stop here; the count is always given.
const MAX_EVIDENCE: usize = 20;

impl Expectation {
    fn requirement(&self) -> String {
        if let Some(nf) = &self.no_findings {
            let sev = nf.severity.map(|s| match s {
                SeverityName::Must => "MUST",
                SeverityName::Should => "MUST or SHOULD",
                SeverityName::Info => "any",
            });
            return match (sev, nf.rules.is_empty()) {
                (Some(s), true) => format!("no {s} findings"),
                (Some(s), false) => format!("no {s} findings of {}", nf.rules.join(", ")),
                (None, false) => format!("no findings of {}", nf.rules.join(", ")),
                (None, true) => "no findings".into(),
            };
        }
        let count = match (self.exactly, self.at_least, self.at_most) {
            (Some(n), _, _) => format!("exactly {n}"),
            (None, Some(lo), Some(hi)) => format!("{lo} to {hi}"),
            (None, None, Some(hi)) => format!("at most {hi}"),
            (None, lo, None) => format!("at least {}", lo.unwrap_or(1)),
        };
        let q = &self.query;
        let kind = q.kinds.first().map(KindPattern::to_string);
        let mut s = format!("{count} {} step(s)", kind.as_deref().unwrap_or("any"));
        if let Some(d) = q.dir {
            s.push_str(&format!(" {}", d.dir().as_str()));
        }
        if let Some(c) = q.conn {
            s.push_str(&format!(" on conn {c}"));
        }
        let conds: Vec<String> = by_field(&q.conds)
            .iter()
            .map(|(n, c)| format!("{n} {}", describe(c)))
            .collect();
        if !conds.is_empty() {
            s.push_str(&format!(" where {}", conds.join(", ")));
        }
        if let Some(a) = &self.answered_by {
            s.push_str(&format!(
                ", each answered by a later {} step",
                a.kind_text().as_deref().unwrap_or("any")
            ));
        }
        s
    }

    pub fn evaluate(&self, steps: &[StepView]) -> Outcome {
        let requirement = self.requirement();
        if let Some(nf) = &self.no_findings {
            return self.evaluate_no_findings(nf, steps, requirement);
        }
        // Narrow down stage by stage, so a failure can say which stage
        // left nothing, and why.
        let mut emptied: Option<(usize, String)> = None;
        let mut cur: Vec<&StepView> = steps.iter().collect();
        let mut narrow = |cur: &mut Vec<&StepView>,
                          label: String,
                          explain: &dyn Fn(&[&StepView]) -> Option<String>,
                          keep: &dyn Fn(&StepView) -> bool| {
            let before = std::mem::take(cur);
            cur.extend(before.iter().copied().filter(|s| keep(s)));
            if cur.is_empty() && !before.is_empty() && emptied.is_none() {
                let why = match explain(&before) {
                    Some(w) => format!("{label} ({w})"),
                    None => label,
                };
                emptied = Some((before.len(), why));
            }
        };
        let no_explain = |_: &[&StepView]| None;
        let q = &self.query;
        if let Some(k) = q.kinds.first() {
            narrow(&mut cur, format!("is of kind {k}"), &no_explain, &|s| {
                k.matches(s.kind)
            });
        }
        if let Some(d) = q.dir {
            narrow(
                &mut cur,
                format!("goes {}", d.dir().as_str()),
                &no_explain,
                &|s| s.dir == d.dir(),
            );
        }
        if let Some(c) = q.conn {
            narrow(&mut cur, format!("is on conn {c}"), &no_explain, &|s| {
                s.conn == c
            });
        }
        for (name, conds) in by_field(&q.conds) {
            narrow(
                &mut cur,
                format!("has {name} {}", describe(conds)),
                &|before| Some(seen_values(before, name)),
                &|s| conds.iter().all(|c| s.holds(c)),
            );
        }
        if let Some(a) = &self.answered_by {
            let via = a.via().unwrap_or_default();
            let answered = |q: &StepView| {
                steps.iter().any(|s| {
                    s.number > q.number
                        && a.query.matches(s)
                        && s.fields.get(via).and_then(J::as_u64) == Some(q.number)
                })
            };
            narrow(
                &mut cur,
                format!(
                    "is answered by a later {} step whose {via} points back at it",
                    a.kind_text().as_deref().unwrap_or("")
                ),
                &no_explain,
                &answered,
            );
        }
        let n = cur.len() as u64;
        let (lo, hi) = match self.exactly {
            Some(e) => (e, Some(e)),
            None => (
                self.at_least
                    .unwrap_or(if self.at_most.is_some() { 0 } else { 1 }),
                self.at_most,
            ),
        };
        let passed = n >= lo && hi.is_none_or(|h| n <= h);
        let listed = step_list(&cur);
        let detail = if passed {
            if n == 0 {
                "no step matched, as required".into()
            } else {
                format!("{n} step(s) matched: {listed}")
            }
        } else if n < lo {
            let mut d = format!("{n} step(s) matched, {lo} required");
            if n > 0 {
                d.push_str(&format!(": {listed}"));
            }
            // The first stage that emptied the candidates explains the miss.
            match &emptied {
                Some((total, why)) => {
                    d.push_str(&format!("; of {total} candidate step(s), none {why}"))
                }
                None if steps.is_empty() => d.push_str("; the capture has no steps"),
                None => {}
            }
            d
        } else {
            format!(
                "{n} step(s) matched, at most {} allowed: {listed}",
                hi.unwrap_or(0)
            )
        };
        Outcome {
            name: self.name.clone(),
            passed,
            requirement,
            detail,
            weight: self.weight,
            needs_whole_capture: self.at_most.is_some() || self.exactly.is_some(),
            evidence: cur
                .iter()
                .take(MAX_EVIDENCE)
                .map(|s| s.evidence(String::new()))
                .collect(),
        }
    }

    fn evaluate_no_findings(
        &self,
        nf: &NoFindings,
        steps: &[StepView],
        requirement: String,
    ) -> Outcome {
        let mut evidence = Vec::new();
        let mut count = 0usize;
        for s in steps {
            for (rule, msg) in &s.findings {
                let sev_ok = nf.severity.is_none_or(|sv| sv.covers(rule.severity));
                let rule_ok =
                    nf.rules.is_empty() || nf.rules.iter().any(|p| kind_matches(p, rule.id));
                if sev_ok && rule_ok {
                    count += 1;
                    if evidence.len() < MAX_EVIDENCE {
                        evidence.push(s.evidence(format!(
                            "{} {}: {msg}",
                            rule.severity.as_str(),
                            rule.id
                        )));
                    }
                }
            }
        }
        let passed = count == 0;
        let detail = if passed {
            "none found".into()
        } else {
            let mut by_rule: Vec<&str> = Vec::new();
            for s in steps {
                for (r, _) in &s.findings {
                    if nf.severity.is_none_or(|sv| sv.covers(r.severity))
                        && (nf.rules.is_empty() || nf.rules.iter().any(|p| kind_matches(p, r.id)))
                        && !by_rule.contains(&r.id)
                    {
                        by_rule.push(r.id);
                    }
                }
            }
            format!("{count} finding(s): {}", by_rule.join(", "))
        };
        Outcome {
            name: self.name.clone(),
            passed,
            requirement,
            detail,
            evidence,
            weight: self.weight,
            needs_whole_capture: true,
        }
    }
}

/// `steps 4, 9, 12 (and 3 more)`.
fn step_list(steps: &[&StepView]) -> String {
    const SHOWN: usize = 8;
    let mut s = steps
        .iter()
        .take(SHOWN)
        .map(|s| s.number.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    s.insert_str(0, "steps ");
    if steps.len() > SHOWN {
        s.push_str(&format!(" (and {} more)", steps.len() - SHOWN));
    }
    s
}

/// What values the candidates had for the field that excluded them all.
fn seen_values(cands: &[&StepView], name: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut absent = 0;
    for s in cands {
        match s.fields.get(name) {
            None => absent += 1,
            Some(v) => {
                let mut t = v.to_string();
                if t.chars().count() > 40 {
                    t = t.chars().take(40).collect::<String>() + "…";
                }
                if !seen.contains(&t) && seen.len() < 5 {
                    seen.push(t);
                }
            }
        }
    }
    let mut parts = Vec::new();
    if !seen.is_empty() {
        parts.push(format!("{name} seen: {}", seen.join(", ")));
    }
    if absent > 0 {
        parts.push(format!("{absent} without {name}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(n: u64, kind: &'static str, dir: Dir, fields: J) -> StepView {
        StepView {
            number: n,
            conn: 0,
            dir,
            kind,
            frames: smallvec::smallvec![n],
            session: None,
            fields: fields.as_object().cloned().unwrap(),
            findings: Vec::new(),
        }
    }

    #[test]
    fn shorthand_and_operator_maps_parse() {
        let f = ExpectFile::parse(
            "expect:\n  - name: a\n    kind: websocket.frame\n    where:\n      websocket.opcode: 1\n      websocket.payload_length: {ge: 126, lt: 65536}\n      websocket.masking_key: {present: true}\n",
            "t.yaml",
        )
        .unwrap();
        let c = &f.expect[0].query.conds;
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "websocket.opcode",
                "websocket.payload_length",
                "websocket.payload_length",
                "websocket.masking_key"
            ]
        );
        assert_eq!(c[0].op, Op::Eq(query::Lit::Int(1)));
        assert_eq!(c[1].op, Op::Lt(query::Lit::Int(65536)));
        assert_eq!(c[2].op, Op::Ge(query::Lit::Int(126)));
        assert_eq!(c[3].op, Op::Present(true));
        assert_eq!(describe(&c[1..3]), "lt 65536 and ge 126");
    }

    #[test]
    fn unknown_keys_are_reported_with_line_and_column() {
        let e = ExpectFile::parse("expect:\n  - name: a\n    kinda: x\n", "t.yaml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("t.yaml:3:5: "), "{msg}");
        assert!(msg.contains("unknown field `kinda`"), "{msg}");
        let e = ExpectFile::parse(
            "expect:\n  - name: a\n    kind: x\n    where:\n      f: {equals: 1}\n",
            "t.yaml",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("t.yaml:5:"), "{msg}");
        assert!(msg.contains("unknown field `equals`"), "{msg}");
    }

    #[test]
    fn operators() {
        let c = |y: &str| -> Vec<Cond> {
            let text = format!("expect:\n  - name: a\n    kind: x\n    where:\n      f: {y}\n");
            ExpectFile::parse(&text, "t")
                .unwrap()
                .expect
                .remove(0)
                .query
                .conds
        };
        let holds = |y: &str, v: Option<&J>| c(y).iter().all(|c| c.holds_on_json("x", v));
        assert!(holds("1000", Some(&json!(1000))));
        assert!(holds("1000", Some(&json!(1000.0))));
        assert!(!holds("1000", Some(&json!("1000"))));
        assert!(!holds("1000", None));
        assert!(holds("{present: false}", None));
        assert!(!holds("{present: false}", Some(&json!(1))));
        assert!(holds("{ne: 1}", Some(&json!(2))));
        assert!(holds("{gt: 125, le: 65535}", Some(&json!(200))));
        assert!(!holds("{gt: 125}", Some(&json!("200"))));
        assert!(holds("{in: [1, 2]}", Some(&json!(2))));
        assert!(holds("{contains: chat}", Some(&json!("[\"chat\",1]"))));
        assert!(holds(
            "{contains: 'Upgrade: websocket'}",
            Some(&json!(["Host: x", "Upgrade: websocket"]))
        ));
        assert!(!holds("{contains: z}", Some(&json!(3))));
    }

    #[test]
    fn counts_and_answers() {
        let steps = vec![
            step(
                1,
                "socketio.packet",
                Dir::C2s,
                json!({"socketio.type": "EVENT", "socketio.event": "chat", "socketio.ack_id": 0}),
            ),
            step(
                2,
                "socketio.packet",
                Dir::S2c,
                json!({"socketio.type": "ACK", "socketio.ack.answers": 1}),
            ),
            step(
                3,
                "socketio.packet",
                Dir::C2s,
                json!({"socketio.type": "EVENT", "socketio.event": "chat"}),
            ),
        ];
        let f = ExpectFile::parse(
            "expect:\n  - name: answered\n    kind: socketio.packet\n    where: {socketio.event: chat}\n    answered_by: {kind: socketio.packet, where: {socketio.type: ACK}}\n  - name: two chats\n    kind: socketio\n    where: {socketio.event: chat}\n    exactly: 2\n  - name: none\n    kind: socketio.packet\n    where: {socketio.event: nope}\n",
            "t",
        )
        .unwrap();
        let o = f.evaluate(&steps);
        assert!(o[0].passed, "{o:?}");
        assert_eq!(
            o[0].evidence.iter().map(|e| e.step).collect::<Vec<_>>(),
            [1]
        );
        assert!(o[1].passed);
        assert!(!o[2].passed);
        assert!(
            o[2].detail.contains("socketio.event seen: \"chat\""),
            "{}",
            o[2].detail
        );
    }

    #[test]
    fn invalid_combinations_are_refused() {
        for (y, why) in [
            ("expect:\n  - name: a\n", "say what to look for"),
            (
                "expect:\n  - name: a\n    kind: x\n    no_findings: {severity: must}\n",
                "stands alone",
            ),
            (
                "expect:\n  - name: a\n    kind: x\n    exactly: 1\n    at_least: 1\n",
                "exactly",
            ),
            (
                "expect:\n  - name: a\n    no_findings: {rules: [nope.*]}\n",
                "names no rule",
            ),
            (
                "expect:\n  - name: a\n    kind: x\n  - name: a\n    kind: y\n",
                "same name",
            ),
            (
                "expect:\n  - name: a\n    kind: tcp.data\n    answered_by: {kind: tcp.data}\n",
                "via",
            ),
        ] {
            let e = ExpectFile::parse(y, "t").unwrap_err().to_string();
            assert!(e.contains(why), "{y}: {e}");
        }
    }
}
