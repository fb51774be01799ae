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

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value as J;

use super::{Evidence, StepView};
use crate::output::kind_matches;
use crate::rules;
use crate::step::{Dir, Severity};

/// How much of a step the expectations need (see [`ExpectFile::wants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    Nothing,
    /// Its findings (a `no_findings` expectation), not its fields.
    Findings,
    Everything,
}

/// An expectations file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// What the file grades, for reports.
    #[serde(default)]
    pub title: Option<String>,
    pub expect: Vec<Expectation>,
}

/// One requirement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Shown in every report; unique within the file.
    pub name: String,
    /// Step kind pattern, as `--kind`: `websocket.frame`, `websocket`, `http.*`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub dir: Option<DirSpec>,
    #[serde(default)]
    pub conn: Option<u32>,
    /// Conditions on fields, all of which must hold.
    #[serde(default, rename = "where")]
    pub conditions: Conditions,
    #[serde(default)]
    pub at_least: Option<u64>,
    #[serde(default)]
    pub at_most: Option<u64>,
    #[serde(default)]
    pub exactly: Option<u64>,
    /// Each matching step counts only if a later step answers it.
    #[serde(default)]
    pub answered_by: Option<Answer>,
    /// Instead of looking for steps: no finding of this severity (or worse)
    /// and/or of these rules.
    #[serde(default)]
    pub no_findings: Option<NoFindings>,
}

/// `dir:` client to server or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirSpec {
    C2s,
    S2c,
}

impl DirSpec {
    fn dir(self) -> Dir {
        match self {
            DirSpec::C2s => Dir::C2s,
            DirSpec::S2c => Dir::S2c,
        }
    }
}

/// `answered_by:` a later step whose `via` field holds the step number of
/// the step it answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub dir: Option<DirSpec>,
    #[serde(default, rename = "where")]
    pub conditions: Conditions,
    /// The answering step's field that names the answered step; inferred
    /// from `kind` for the correlations dispel emits.
    #[serde(default)]
    pub via: Option<String>,
}

/// `no_findings:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFindings {
    #[serde(default)]
    pub severity: Option<SeverityName>,
    /// Rule ids, layers or `prefix.*` patterns.
    #[serde(default)]
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// `where:` field name → condition, in the file's order.
#[derive(Debug, Clone, Default)]
pub struct Conditions(pub Vec<(String, Condition)>);

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Conditions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of field names to conditions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Conditions, A::Error> {
                let mut v = Vec::new();
                while let Some((k, c)) = m.next_entry::<String, Condition>()? {
                    v.push((k, c));
                }
                Ok(Conditions(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// A condition on one field: a bare value means `eq`; a map may combine
/// several operators, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Condition {
    pub eq: Option<J>,
    pub ne: Option<J>,
    pub lt: Option<f64>,
    pub le: Option<f64>,
    pub gt: Option<f64>,
    pub ge: Option<f64>,
    pub one_of: Option<Vec<J>>,
    pub present: Option<bool>,
    pub contains: Option<J>,
}

/// The operator map of a condition (unknown operators are refused).
#[derive(Deserialize)]
#[serde(remote = "Condition", deny_unknown_fields)]
struct Ops {
    #[serde(default)]
    eq: Option<J>,
    #[serde(default)]
    ne: Option<J>,
    #[serde(default)]
    lt: Option<f64>,
    #[serde(default)]
    le: Option<f64>,
    #[serde(default)]
    gt: Option<f64>,
    #[serde(default)]
    ge: Option<f64>,
    #[serde(default, rename = "in")]
    one_of: Option<Vec<J>>,
    #[serde(default)]
    present: Option<bool>,
    #[serde(default)]
    contains: Option<J>,
}

/// A scalar is shorthand for `eq`; a map lists operators.
impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Condition, D::Error> {
        condition_shorthand(d)
    }
}

/// Accepts a scalar (shorthand for `eq`) or an operator map.
fn condition_shorthand<'de, D: Deserializer<'de>>(d: D) -> Result<Condition, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Condition;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a value (meaning eq) or a map of operators (eq, ne, lt, le, gt, ge, in, present, contains)")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Condition, E> {
            Ok(Condition::eq(J::Bool(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Condition, E> {
            Ok(Condition::eq(v.into()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Condition, E> {
            Ok(Condition::eq(v.into()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Condition, E> {
            Ok(Condition::eq(
                serde_json::Number::from_f64(v).map_or(J::Null, J::Number),
            ))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Condition, E> {
            Ok(Condition::eq(J::String(v.to_owned())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Condition, E> {
            Ok(Condition::eq(J::Null))
        }
        fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Condition, A::Error> {
            Ops::deserialize(de::value::MapAccessDeserializer::new(m))
        }
    }
    d.deserialize_any(V)
}

impl Condition {
    fn eq(v: J) -> Condition {
        Condition {
            eq: Some(v),
            ..Condition::default()
        }
    }

    /// Whether `value` (the field's ndjson value, `None` if the step lacks
    /// the field) satisfies every operator. An absent field satisfies only
    /// `present: false`.
    pub fn holds(&self, value: Option<&J>) -> bool {
        let Some(v) = value else {
            return self.present == Some(false);
        };
        let num = v.as_f64();
        let cmp = |bound: Option<f64>, ok: fn(f64, f64) -> bool| {
            bound.is_none_or(|b| num.is_some_and(|n| ok(n, b)))
        };
        self.present != Some(false)
            && self.eq.as_ref().is_none_or(|e| same(v, e))
            && self.ne.as_ref().is_none_or(|e| !same(v, e))
            && cmp(self.lt, |n, b| n < b)
            && cmp(self.le, |n, b| n <= b)
            && cmp(self.gt, |n, b| n > b)
            && cmp(self.ge, |n, b| n >= b)
            && self
                .one_of
                .as_ref()
                .is_none_or(|l| l.iter().any(|e| same(v, e)))
            && self.contains.as_ref().is_none_or(|c| contains(v, c))
    }

    /// The condition in words, for reports: `eq 1000`, `present`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |op: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{op} {v}"));
            }
        };
        push("eq", self.eq.as_ref().map(J::to_string));
        push("ne", self.ne.as_ref().map(J::to_string));
        push("lt", self.lt.map(|v| v.to_string()));
        push("le", self.le.map(|v| v.to_string()));
        push("gt", self.gt.map(|v| v.to_string()));
        push("ge", self.ge.map(|v| v.to_string()));
        push(
            "in",
            self.one_of
                .as_ref()
                .map(|l| J::Array(l.clone()).to_string()),
        );
        push("contains", self.contains.as_ref().map(J::to_string));
        match self.present {
            Some(true) => parts.push("present".into()),
            Some(false) => parts.push("absent".into()),
            None => {}
        }
        if parts.is_empty() {
            "present".into()
        } else {
            parts.join(" and ")
        }
    }
}

/// Equality of JSON values, numbers compared by value (1 == 1.0).
fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `contains`: a substring of a string; for an array (a repeated field such
/// as HTTP header lines), an element equal to it or, for strings, containing it.
fn contains(v: &J, c: &J) -> bool {
    match (v, c) {
        (J::String(s), J::String(n)) => s.contains(n.as_str()),
        (J::Array(a), _) => a.iter().any(|e| same(e, c) || contains_str(e, c)),
        _ => false,
    }
}

fn contains_str(e: &J, c: &J) -> bool {
    matches!((e, c), (J::String(s), J::String(n)) if s.contains(n.as_str()))
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
        /// `FILE:LINE:COLUMN` (or `FILE` when the parser gave no location).
        at: String,
        message: String,
    },
    /// Well-formed, but not meaningful.
    #[error("{path}: expectation {index} ({name}): {message}")]
    Invalid {
        path: String,
        index: usize,
        name: String,
        message: String,
    },
}

impl ExpectFile {
    /// Reads and validates an expectations file.
    pub fn load(path: &Path) -> Result<ExpectFile, ExpectError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExpectError::Read {
            path: path.display().to_string(),
            source,
        })?;
        ExpectFile::parse(&text, &path.display().to_string())
    }

    /// Parses and validates expectations from YAML text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<ExpectFile, ExpectError> {
        let file: ExpectFile = serde_yaml::from_str(text).map_err(|e| syntax(&e, path))?;
        file.validate(path)?;
        Ok(file)
    }

    fn validate(&self, path: &str) -> Result<(), ExpectError> {
        let mut names = std::collections::HashSet::new();
        for (i, e) in self.expect.iter().enumerate() {
            let bad = |message: String| ExpectError::Invalid {
                path: path.to_string(),
                index: i + 1,
                name: e.name.clone(),
                message,
            };
            if !names.insert(e.name.as_str()) {
                return Err(bad("another expectation has the same name".into()));
            }
            let looks = e.kind.is_some()
                || e.dir.is_some()
                || e.conn.is_some()
                || !e.conditions.0.is_empty()
                || e.answered_by.is_some()
                || e.at_least.is_some()
                || e.at_most.is_some()
                || e.exactly.is_some();
            match (&e.no_findings, looks) {
                (Some(_), true) => {
                    return Err(bad(
                        "`no_findings` stands alone: put step conditions in a separate expectation"
                            .into(),
                    ));
                }
                (None, false) => {
                    return Err(bad(
                        "say what to look for (`kind`, `where`) or use `no_findings`".into(),
                    ));
                }
                _ => {}
            }
            if let Some(nf) = &e.no_findings {
                for r in &nf.rules {
                    if !rules::ALL.iter().any(|rule| kind_matches(r, rule.id)) {
                        return Err(bad(format!("no_findings: `{r}` names no rule")));
                    }
                }
            }
            if e.exactly.is_some() && (e.at_least.is_some() || e.at_most.is_some()) {
                return Err(bad(
                    "`exactly` cannot be combined with `at_least` / `at_most`".into(),
                ));
            }
            if let (Some(lo), Some(hi)) = (e.at_least, e.at_most)
                && lo > hi
            {
                return Err(bad(format!("at_least {lo} is more than at_most {hi}")));
            }
            if let Some(a) = &e.answered_by
                && a.via().is_none()
            {
                return Err(bad(
                    "answered_by: say `via` (the answering step's field holding the answered step number)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// What evaluating needs of a step, decided as the step goes by, so
    /// `check` keeps only those steps (a capture of a million events whose
    /// expectations ask about the handshake keeps a handful).
    /// Whether any expectation could read the fields of a step of `kind`
    /// (steps of other kinds can arrive lean: see
    /// [`crate::analyze::Sink::wants_detail`]).
    pub fn reads_fields_of(&self, kind: &str) -> bool {
        self.expect.iter().any(|e| {
            e.no_findings.is_none()
                && (e.kind.as_deref().is_none_or(|k| kind_matches(k, kind))
                    || e.answered_by
                        .as_ref()
                        .is_some_and(|a| a.kind.as_deref().is_none_or(|k| kind_matches(k, kind))))
        })
    }

    pub fn wants(&self, step: &crate::step::Step) -> Want {
        let mut want = Want::Nothing;
        for e in &self.expect {
            if e.no_findings.is_some() {
                if !step.findings.is_empty() {
                    want = want.max(Want::Findings);
                }
                continue;
            }
            let matches = |kind: &Option<String>, dir: Option<DirSpec>| {
                kind.as_deref().is_none_or(|k| kind_matches(k, step.kind))
                    && dir.is_none_or(|d| d.dir() == step.dir)
            };
            if (matches(&e.kind, e.dir) && e.conn.is_none_or(|c| c == step.conn))
                || e.answered_by
                    .as_ref()
                    .is_some_and(|a| matches(&a.kind, a.dir))
            {
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

/// yaml_serde puts the location at the end of its message
/// (`… at line 3 column 5`); say it first, as compilers do.
fn syntax(e: &serde_yaml::Error, path: &str) -> ExpectError {
    let msg = e.to_string();
    match e.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            ExpectError::Syntax {
                at: format!("{path}:{}:{}", l.line(), l.column()),
                message: msg.strip_suffix(&suffix).unwrap_or(&msg).to_string(),
            }
        }
        None => ExpectError::Syntax {
            at: path.to_string(),
            message: msg,
        },
    }
}

impl Answer {
    /// The `via` field: given, or the one dispel emits for that kind.
    pub fn via(&self) -> Option<&str> {
        if let Some(v) = &self.via {
            return Some(v);
        }
        match self.kind.as_deref() {
            Some("socketio.packet" | "socketio") => Some("socketio.ack.answers"),
            Some("websocket.frame") => Some("websocket.pong.answers"),
            Some("engineio.packet" | "engineio") => Some("engineio.heartbeat.answers"),
            _ => None,
        }
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
}

/// Evidence lists in reports stop here; the count is always given.
const MAX_EVIDENCE: usize = 20;

fn matches_basic(s: &StepView, kind: Option<&str>, dir: Option<DirSpec>) -> bool {
    kind.is_none_or(|k| kind_matches(k, s.kind)) && dir.is_none_or(|d| s.dir == d.dir())
}

fn matches_where(s: &StepView, c: &Conditions) -> bool {
    c.0.iter()
        .all(|(name, cond)| cond.holds(s.fields.get(name)))
}

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
        let mut s = format!("{count} {} step(s)", self.kind.as_deref().unwrap_or("any"));
        if let Some(d) = self.dir {
            s.push_str(&format!(" {}", d.dir().as_str()));
        }
        if let Some(c) = self.conn {
            s.push_str(&format!(" on conn {c}"));
        }
        let conds: Vec<String> = self
            .conditions
            .0
            .iter()
            .map(|(n, c)| format!("{n} {}", c.describe()))
            .collect();
        if !conds.is_empty() {
            s.push_str(&format!(" where {}", conds.join(", ")));
        }
        if let Some(a) = &self.answered_by {
            s.push_str(&format!(
                ", each answered by a later {} step",
                a.kind.as_deref().unwrap_or("any")
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
        if let Some(k) = &self.kind {
            narrow(&mut cur, format!("is of kind {k}"), &no_explain, &|s| {
                kind_matches(k, s.kind)
            });
        }
        if let Some(d) = self.dir {
            narrow(
                &mut cur,
                format!("goes {}", d.dir().as_str()),
                &no_explain,
                &|s| s.dir == d.dir(),
            );
        }
        if let Some(c) = self.conn {
            narrow(&mut cur, format!("is on conn {c}"), &no_explain, &|s| {
                s.conn == c
            });
        }
        for (name, cond) in &self.conditions.0 {
            narrow(
                &mut cur,
                format!("has {name} {}", cond.describe()),
                &|before| Some(seen_values(before, name)),
                &|s| cond.holds(s.fields.get(name)),
            );
        }
        if let Some(a) = &self.answered_by {
            let via = a.via().unwrap_or_default();
            let answered = |q: &StepView| {
                steps.iter().any(|s| {
                    s.number > q.number
                        && matches_basic(s, a.kind.as_deref(), a.dir)
                        && matches_where(s, &a.conditions)
                        && s.fields.get(via).and_then(J::as_u64) == Some(q.number)
                })
            };
            narrow(
                &mut cur,
                format!(
                    "is answered by a later {} step whose {via} points back at it",
                    a.kind.as_deref().unwrap_or("")
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
        let c = &f.expect[0].conditions.0;
        assert_eq!(c[0].0, "websocket.opcode");
        assert_eq!(c[0].1.eq, Some(json!(1)));
        assert_eq!(c[1].1.ge, Some(126.0));
        assert_eq!(c[1].1.lt, Some(65536.0));
        assert_eq!(c[2].1.present, Some(true));
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
        let c = |y: &str| -> Condition { serde_yaml::from_str(y).unwrap() };
        assert!(c("1000").holds(Some(&json!(1000))));
        assert!(c("1000").holds(Some(&json!(1000.0))));
        assert!(!c("1000").holds(Some(&json!("1000"))));
        assert!(!c("1000").holds(None));
        assert!(c("{present: false}").holds(None));
        assert!(!c("{present: false}").holds(Some(&json!(1))));
        assert!(c("{ne: 1}").holds(Some(&json!(2))));
        assert!(c("{gt: 125, le: 65535}").holds(Some(&json!(200))));
        assert!(!c("{gt: 125}").holds(Some(&json!("200"))));
        assert!(c("{in: [1, 2]}").holds(Some(&json!(2))));
        assert!(c("{contains: chat}").holds(Some(&json!("[\"chat\",1]"))));
        assert!(
            c("{contains: 'Upgrade: websocket'}")
                .holds(Some(&json!(["Host: x", "Upgrade: websocket"])))
        );
        assert!(!c("{contains: z}").holds(Some(&json!(3))));
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
