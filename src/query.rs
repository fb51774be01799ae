//! The one step query language, shared by every caller that picks steps:
//! the output filter (`--kind`, `--conn`), the lessons' `select`, the
//! expectations of `check --expect` and the interactive view's filter.
//! Its user documentation is `docs/query.md`.
//!
//! A query is made of
//! - **kind patterns** ([`KindPattern`], [`kind_matches`]): an exact kind
//!   (`websocket.frame`), a layer (`websocket`), or a prefix (`websocket.*`,
//!   `web*`);
//! - a **direction** ([`SelDir`]) and a **connection** (`tcp.stream`);
//! - **field conditions** ([`Cond`]): a field name and one operator of one
//!   vocabulary ([`OPERATORS`]) — `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in`,
//!   `present`, `contains` — over a literal ([`Lit`]).
//!
//! A condition is evaluated over the values a step has under that name
//! ([`Val`]), whether read off a [`Step`] ([`Cond::holds_on_step`]) or off
//! its ndjson encoding ([`Cond::holds_on_json`]): both give the same answer
//! (but for `contains` on binary data of a text-or-bytes field, whose ndjson
//! form is only its hex), which is what lets lessons (bound to live steps)
//! and expectations (run over kept ndjson fields) share the language. The located YAML form of
//! conditions is read by [`parse_ops`], so lessons and expectations accept
//! (and refuse) exactly the same conditions.
//!
//! This module sits below `analyze`, `output`, `check`, `lessons` and `tui`:
//! it reads only [`crate::step`], [`crate::kinds`] and [`crate::yaml`].

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value as J;

use crate::kinds::{self, KindSpec, ValueType};
use crate::step::{Dir, Field, Step, Value};
use crate::yaml::{Mark, Node, NodeKind, Scalar};

// ---------------------------------------------------------------- kinds

/// Whether a kind pattern matches a step kind: a pattern ending in `*` is a
/// prefix of the kind (`websocket.*`, `web*`); any other pattern matches the
/// kind itself and every kind below it in the dotted hierarchy (`websocket`
/// matches `websocket.frame`, never `websocketx.frame`).
pub fn kind_matches(pattern: &str, kind: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        kind.starts_with(prefix)
    } else {
        kind == pattern
            || (kind.len() > pattern.len()
                && kind.starts_with(pattern)
                && kind.as_bytes()[pattern.len()] == b'.')
    }
}

/// A kind pattern as written, classified for specificity and messages:
/// `websocket.frame` (exact), a layer `websocket`, or a prefix
/// `websocket.*`. Every form matches as [`kind_matches`] says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KindPattern {
    Exact(String),
    Layer(String),
    Prefix(String),
}

impl KindPattern {
    /// Reads a pattern as written.
    pub fn parse(s: &str) -> KindPattern {
        if let Some(p) = s.strip_suffix(".*") {
            KindPattern::Prefix(p.to_string())
        } else if s.contains('.') {
            KindPattern::Exact(s.to_string())
        } else {
            KindPattern::Layer(s.to_string())
        }
    }

    pub fn matches(&self, kind: &str) -> bool {
        match self {
            KindPattern::Exact(k) | KindPattern::Layer(k) => kind_matches(k, kind),
            KindPattern::Prefix(p) => kind
                .strip_prefix(p.as_str())
                .is_some_and(|r| r.starts_with('.')),
        }
    }
}

impl fmt::Display for KindPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KindPattern::Exact(k) | KindPattern::Layer(k) => f.write_str(k),
            KindPattern::Prefix(p) => write!(f, "{p}.*"),
        }
    }
}

/// A direction selector: `c2s` or `s2c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SelDir {
    C2s,
    S2c,
}

impl SelDir {
    pub fn dir(self) -> Dir {
        match self {
            SelDir::C2s => Dir::C2s,
            SelDir::S2c => Dir::S2c,
        }
    }

    /// Reads `c2s` / `s2c`.
    pub fn parse(s: &str) -> Option<SelDir> {
        match s {
            "c2s" => Some(SelDir::C2s),
            "s2c" => Some(SelDir::S2c),
            _ => None,
        }
    }
}

// ----------------------------------------------------------- conditions

/// The operators, in the order a condition's operators are read.
pub const OPERATORS: &[&str] = &[
    "eq", "ne", "lt", "le", "gt", "ge", "in", "present", "contains",
];

/// One condition on a field of the step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cond {
    pub field: String,
    pub op: Op,
}

/// A comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq(Lit),
    Ne(Lit),
    Lt(Lit),
    Le(Lit),
    Gt(Lit),
    Ge(Lit),
    In(Vec<Lit>),
    /// `present: true` — the step carries the field; `false` — it does not.
    Present(bool),
    /// The field's text contains this string.
    Contains(String),
}

impl Op {
    /// The operator's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Ne(_) => "ne",
            Op::Lt(_) => "lt",
            Op::Le(_) => "le",
            Op::Gt(_) => "gt",
            Op::Ge(_) => "ge",
            Op::In(_) => "in",
            Op::Present(_) => "present",
            Op::Contains(_) => "contains",
        }
    }
}

/// A literal written in a condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Lit {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

impl Lit {
    /// The literal as JSON (an integer beyond 64 bits as a float).
    pub fn to_json(&self) -> J {
        match self {
            Lit::Bool(b) => J::Bool(*b),
            Lit::Int(i) => i64::try_from(*i)
                .map(J::from)
                .or_else(|_| u64::try_from(*i).map(J::from))
                .unwrap_or_else(|_| num_json(*i as f64)),
            Lit::Float(x) => num_json(*x),
            Lit::Str(s) => J::String(s.clone()),
        }
    }

    fn num(&self) -> Option<Num> {
        match self {
            Lit::Int(i) => Some(Num::I(*i)),
            Lit::Float(x) => Some(Num::F(*x)),
            _ => None,
        }
    }
}

fn num_json(x: f64) -> J {
    serde_json::Number::from_f64(x).map_or(J::Null, J::Number)
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Bool(b) => write!(f, "{b}"),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{x}"),
            Lit::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// One value a step has under a field name, as conditions see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bytes(Cow<'a, [u8]>),
    Json(&'a J),
    /// A field whose bytes are not at hand: present, equal to nothing.
    Unknown,
}

#[derive(Clone, Copy)]
enum Num {
    I(i128),
    F(f64),
}

/// Numbers by value: integers exactly, otherwise as floats (`1` = `1.0`).
fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
        (Num::I(a), Num::F(b)) => (a as f64).partial_cmp(&b),
        (Num::F(a), Num::I(b)) => a.partial_cmp(&(b as f64)),
        (Num::F(a), Num::F(b)) => a.partial_cmp(&b),
    }
}

/// Whether `h` is the lowercase hex of `b` (without encoding `b`).
fn lower_hex_eq(b: &[u8], h: &str) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    h.len() == b.len() * 2
        && b.iter().zip(h.as_bytes().chunks_exact(2)).all(|(x, p)| {
            p[0] == DIGITS[usize::from(x >> 4)] && p[1] == DIGITS[usize::from(x & 15)]
        })
}

fn json_num(n: &serde_json::Number) -> Option<Num> {
    if let Some(i) = n.as_i64() {
        Some(Num::I(i128::from(i)))
    } else if let Some(u) = n.as_u64() {
        Some(Num::I(i128::from(u)))
    } else {
        n.as_f64().map(Num::F)
    }
}

impl<'a> Val<'a> {
    /// A field of a step.
    pub fn of_field(step: &'a Step, f: &'a Field) -> Val<'a> {
        match &f.value {
            Value::Bool(b) => Val::Bool(*b),
            Value::UInt(v) => Val::UInt(*v),
            Value::Int(v) => Val::Int(*v),
            Value::Float(v) => Val::Float(*v),
            Value::Str(s) => Val::Str(s),
            Value::Bytes(b) => Val::Bytes(Cow::Borrowed(b)),
            Value::SpanBytes => match f.span.and_then(|s| step.span_bytes(&s)) {
                Some(b) => Val::Bytes(Cow::Borrowed(b)),
                None => Val::Unknown,
            },
            Value::Json(j) => Val::Json(j),
        }
    }

    /// One ndjson value of a field registered with these types (`None`:
    /// not registered): bytes come back from their hex, JSON fields stay
    /// JSON.
    fn of_json(types: Option<&[ValueType]>, v: &'a J) -> Val<'a> {
        let is = |t: ValueType| types.is_some_and(|ts| ts.contains(&t));
        match v {
            J::Bool(b) => Val::Bool(*b),
            J::Number(n) if !is(ValueType::Json) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Val::UInt(u),
                (_, Some(i), _) => Val::Int(i),
                (_, _, Some(x)) => Val::Float(x),
                _ => Val::Json(v),
            },
            J::String(s) if is(ValueType::Str) || !is(ValueType::Json) => {
                if types == Some(&[ValueType::Bytes][..])
                    && let Ok(b) = hex::decode(s)
                {
                    return Val::Bytes(Cow::Owned(b));
                }
                Val::Str(s)
            }
            _ => Val::Json(v),
        }
    }

    fn num(&self) -> Option<Num> {
        match self {
            Val::UInt(v) => Some(Num::I(i128::from(*v))),
            Val::Int(v) => Some(Num::I(i128::from(*v))),
            Val::Float(v) => Some(Num::F(*v)),
            Val::Json(J::Number(n)) => json_num(n),
            _ => None,
        }
    }

    /// `eq`: booleans with booleans, numbers by value, strings with strings,
    /// bytes with their lowercase hex, JSON with a scalar of the same value
    /// or a string of its compact text.
    pub fn equals(&self, l: &Lit) -> bool {
        match (self, l) {
            (Val::Bool(a), Lit::Bool(b)) => a == b,
            (Val::Str(a), Lit::Str(b)) => a == b,
            (Val::Bytes(b), Lit::Str(h)) => lower_hex_eq(b, h),
            (Val::Json(j), Lit::Str(b)) => match j {
                J::String(s) => s == b || j.to_string() == *b,
                _ => j.to_string() == *b,
            },
            (Val::Json(J::Bool(a)), Lit::Bool(b)) => a == b,
            _ => self.order(l) == Some(Ordering::Equal),
        }
    }

    /// `lt` … `ge`: numbers (of any field type, JSON included) only.
    pub fn order(&self, l: &Lit) -> Option<Ordering> {
        num_cmp(self.num()?, l.num()?)
    }

    /// `contains`: strings contain the text; JSON as compact text (or, for
    /// an array, an element that is a string containing it); bytes as
    /// lowercase hex and, when UTF-8, as text; numbers and booleans never.
    pub fn contains(&self, s: &str) -> bool {
        match self {
            Val::Str(t) => t.contains(s),
            Val::Json(j) => {
                j.to_string().contains(s)
                    || matches!(j, J::Array(a) if a.iter().any(|e| e.as_str().is_some_and(|t| t.contains(s))))
            }
            Val::Bytes(b) => {
                hex::encode(b).contains(s) || std::str::from_utf8(b).is_ok_and(|t| t.contains(s))
            }
            _ => false,
        }
    }

    fn satisfies(&self, op: &Op) -> bool {
        match op {
            Op::Eq(l) => self.equals(l),
            Op::Ne(l) => !self.equals(l),
            Op::In(ls) => ls.iter().any(|l| self.equals(l)),
            Op::Lt(l) => self.order(l) == Some(Ordering::Less),
            Op::Le(l) => self.order(l).is_some_and(|o| o != Ordering::Greater),
            Op::Gt(l) => self.order(l) == Some(Ordering::Greater),
            Op::Ge(l) => self.order(l).is_some_and(|o| o != Ordering::Less),
            Op::Contains(s) => self.contains(s),
            Op::Present(want) => *want,
        }
    }
}

impl Cond {
    /// Whether the condition holds over every value the step has under the
    /// field's name (none: the field is absent; several: a name repeated in
    /// one step, as HTTP header lines are). An absent field satisfies only
    /// `present: false`; `ne` holds when the field is present and no value
    /// equals; every other operator holds when some value satisfies it.
    pub fn holds<'a>(&self, mut vals: impl Iterator<Item = Val<'a>>) -> bool {
        match &self.op {
            Op::Present(want) => vals.next().is_some() == *want,
            Op::Ne(l) => {
                let mut present = false;
                for v in vals {
                    if v.equals(l) {
                        return false;
                    }
                    present = true;
                }
                present
            }
            op => vals.any(|v| v.satisfies(op)),
        }
    }

    /// On a step's fields.
    pub fn holds_on_step(&self, step: &Step) -> bool {
        self.holds(
            step.fields
                .iter()
                .filter(|f| f.name == self.field.as_str())
                .map(|f| Val::of_field(step, f)),
        )
    }

    /// On a step of `kind`'s ndjson value for the field (`None`: absent).
    /// A name repeated in one step is the array of its values.
    pub fn holds_on_json(&self, kind: &str, value: Option<&J>) -> bool {
        let types = kinds::kind(kind)
            .and_then(|k| k.field(&self.field))
            .map(|f| f.types);
        let is_json = types.is_some_and(|t| t.contains(&ValueType::Json));
        match value {
            None => self.holds(std::iter::empty()),
            Some(J::Array(items)) if !is_json => {
                self.holds(items.iter().map(|v| Val::of_json(types, v)))
            }
            Some(v) => self.holds(std::iter::once(Val::of_json(types, v))),
        }
    }
}

// ---------------------------------------------------------------- query

/// What a query can ask of a step, whatever holds it: a [`Step`], the
/// grader's kept view of one, or a row of the interactive timeline.
pub trait Subject {
    fn kind(&self) -> &str;
    fn dir(&self) -> Dir;
    fn conn(&self) -> u32;
    /// Whether a field condition holds.
    fn holds(&self, c: &Cond) -> bool;
}

impl Subject for Step {
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
        c.holds_on_step(self)
    }
}

/// A step query: every part given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Query {
    /// Kind patterns, any of which admits the step (none: every kind).
    pub kinds: Vec<KindPattern>,
    pub dir: Option<SelDir>,
    pub conn: Option<u32>,
    pub conds: Vec<Cond>,
}

impl Query {
    /// Whether the kind patterns admit a kind.
    pub fn admits_kind(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.matches(kind))
    }

    /// Whether a step passes the kind, direction and connection parts.
    pub fn selects<S: Subject + ?Sized>(&self, s: &S) -> bool {
        self.admits_kind(s.kind())
            && self.dir.is_none_or(|d| d.dir() == s.dir())
            && self.conn.is_none_or(|c| c == s.conn())
    }

    /// Whether a step passes the whole query.
    pub fn matches<S: Subject + ?Sized>(&self, s: &S) -> bool {
        self.selects(s) && self.conds.iter().all(|c| s.holds(c))
    }
}

// -------------------------------------------------------- located YAML

/// Where the located readers of conditions report (a lesson file's
/// problems, an expectation file's errors).
pub trait Report {
    /// A problem that makes the condition unusable.
    fn bad(&mut self, at: Mark, message: String);
    /// A problem that leaves it usable (it simply never holds).
    fn note(&mut self, at: Mark, message: String);
    /// Checks a mapping's keys against `allowed` (unknown and duplicate
    /// keys are problems) and returns the known ones.
    fn keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        what: &str,
        allowed: &[&'static str],
        at: Mark,
    ) -> HashMap<&'static str, &'n Node>;
}

/// A literal: any non-null scalar.
pub fn parse_lit<R: Report + ?Sized>(r: &mut R, n: &Node) -> Option<Lit> {
    match n.scalar() {
        Some(Scalar::Bool(b)) => Some(Lit::Bool(b)),
        Some(Scalar::Int(i)) => Some(Lit::Int(i)),
        Some(Scalar::Float(f)) => Some(Lit::Float(f)),
        Some(Scalar::Str(s)) => Some(Lit::Str(s.to_string())),
        Some(Scalar::Null) => {
            r.bad(
                n.mark,
                "a condition needs a value (to test presence, write `{present: true}`)".into(),
            );
            None
        }
        None => {
            let hint = match n.kind {
                NodeKind::Seq(_) => "; for one of several values write `{in: [...]}`",
                _ => "",
            };
            r.bad(
                n.mark,
                format!(
                    "a condition value must be a scalar, found {}{hint}",
                    n.describe()
                ),
            );
            None
        }
    }
}

/// The operators of one field's condition, each with the mark of its
/// value: a scalar means `eq`; a mapping lists operators, all of which
/// must hold.
pub fn parse_ops<R: Report + ?Sized>(r: &mut R, n: &Node) -> Vec<(Op, Mark)> {
    let NodeKind::Map(entries) = &n.kind else {
        return parse_lit(r, n)
            .map(|l| vec![(Op::Eq(l), n.mark)])
            .unwrap_or_default();
    };
    let k = r.keys(entries, "a condition", OPERATORS, n.mark);
    if entries.is_empty() {
        r.bad(
            n.mark,
            "an empty condition; write an operator such as `{eq: 1}` (`{present: true}` tests presence)".into(),
        );
    }
    let mut out = Vec::new();
    for key in OPERATORS {
        let Some(v) = k.get(key) else { continue };
        let op = match *key {
            "in" => {
                let NodeKind::Seq(items) = &v.kind else {
                    r.bad(
                        v.mark,
                        format!("`in` must be a list, found {}", v.describe()),
                    );
                    continue;
                };
                if items.is_empty() {
                    r.note(v.mark, "`in: []` cannot match anything".into());
                }
                Op::In(items.iter().filter_map(|i| parse_lit(r, i)).collect())
            }
            "present" => match v.scalar() {
                Some(Scalar::Bool(b)) => Op::Present(b),
                _ => {
                    r.bad(v.mark, "`present` takes `true` or `false`".into());
                    continue;
                }
            },
            "contains" => match v.text() {
                Some(t) if v.scalar() != Some(Scalar::Null) => Op::Contains(t.to_string()),
                _ => {
                    r.bad(v.mark, "`contains` takes a string".into());
                    continue;
                }
            },
            _ => {
                let Some(l) = parse_lit(r, v) else { continue };
                match *key {
                    "eq" => Op::Eq(l),
                    "ne" => Op::Ne(l),
                    "lt" => Op::Lt(l),
                    "le" => Op::Le(l),
                    "gt" => Op::Gt(l),
                    _ => Op::Ge(l),
                }
            }
        };
        out.push((op, v.mark));
    }
    out
}

// -------------------------------------------- checks against the registry

/// The closest candidate, if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(s, _)| *s >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` when a candidate is close, else nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(word, candidates).map_or(String::new(), |s| format!("; did you mean `{s}`?"))
}

/// The registered kinds a pattern admits; a pattern admitting none is
/// noted (`unknown step kind …; did you mean …?`).
pub fn lint_kind<R: Report + ?Sized>(
    r: &mut R,
    pat: &KindPattern,
    at: Mark,
) -> Vec<&'static KindSpec> {
    let kinds: Vec<&'static KindSpec> = kinds::KINDS.iter().filter(|k| pat.matches(k.id)).collect();
    if kinds.is_empty() {
        let text = pat.to_string();
        let cands = kinds::KINDS.iter().map(|k| k.id).chain(kinds::layers());
        let what = match pat {
            KindPattern::Exact(_) => "step kind",
            KindPattern::Layer(_) => "layer",
            KindPattern::Prefix(_) => "kind prefix",
        };
        let hint = did_you_mean(&text, cands);
        r.note(at, format!("unknown {what} `{text}`{hint}"));
    }
    kinds
}

/// Notes a direction no step of these kinds travels.
pub fn lint_dir<R: Report + ?Sized>(
    r: &mut R,
    pat: &KindPattern,
    kinds: &[&'static KindSpec],
    d: SelDir,
    at: Mark,
) {
    if !kinds.is_empty() && !kinds.iter().any(|k| k.dirs.allows(d.dir())) {
        let other = d.dir().reverse().as_str();
        r.note(
            at,
            format!("this selector cannot match anything: `{pat}` steps always travel {other}"),
        );
    }
}

/// The types a field has among `pool` (the kinds the query admits), noting
/// a field none of them carries; `what` names the steps (`` `x.y` steps ``).
pub fn lint_field<R: Report + ?Sized>(
    r: &mut R,
    pool: &[&'static KindSpec],
    field: &str,
    what: &str,
    at: Mark,
) -> Vec<ValueType> {
    let mut types: Vec<ValueType> = pool
        .iter()
        .filter_map(|k| k.field(field))
        .flat_map(|f| f.types.iter().copied())
        .collect();
    types.sort();
    types.dedup();
    if types.is_empty() && !pool.is_empty() {
        let hint = did_you_mean(field, pool.iter().flat_map(|k| k.fields().map(|f| f.name)));
        r.note(
            at,
            format!(
                "unknown field `{field}` for {what}; this selector cannot match anything{hint}"
            ),
        );
    }
    types
}

fn types_text(types: &[ValueType]) -> String {
    types
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn lit_text(l: &Lit) -> (String, &'static str) {
    match l {
        Lit::Bool(b) => (b.to_string(), "a boolean"),
        Lit::Int(i) => (i.to_string(), "an integer"),
        Lit::Float(f) => (f.to_string(), "a number"),
        Lit::Str(s) => (format!("{s:?}"), "a string"),
    }
}

/// Whether a literal can ever equal a value of one of these types.
pub fn lit_fits(l: &Lit, types: &[ValueType]) -> bool {
    types.iter().any(|t| match (l, t) {
        (Lit::Bool(_), ValueType::Bool) => true,
        (Lit::Int(i), ValueType::UInt) => *i >= 0,
        (Lit::Int(_), ValueType::Int | ValueType::Float) => true,
        (Lit::Float(_), t) => t.is_number() || *t == ValueType::Json,
        (Lit::Str(_), ValueType::Str | ValueType::Json) => true,
        (Lit::Str(s), ValueType::Bytes) => {
            s.len() % 2 == 0
                && s.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        }
        (Lit::Int(_) | Lit::Bool(_), ValueType::Json) => true,
        _ => false,
    })
}

/// Notes an operator that can never hold on a field of these types (none
/// known: nothing to say).
pub fn lint_op<R: Report + ?Sized>(r: &mut R, field: &str, types: &[ValueType], op: &Op, at: Mark) {
    if types.is_empty() {
        return;
    }
    let mismatch = |r: &mut R, l: &Lit| {
        if !lit_fits(l, types) {
            let (shown, what) = lit_text(l);
            let extra = if types.contains(&ValueType::Bytes) && matches!(l, Lit::Str(_)) {
                " (bytes are compared as lowercase hex, e.g. \"37fa213d\")"
            } else {
                ""
            };
            r.note(
                at,
                format!(
                    "`{field}` holds {} but {shown} is {what}; this condition can never hold{extra}",
                    types_text(types)
                ),
            );
        }
    };
    match op {
        Op::Eq(l) | Op::Ne(l) => mismatch(r, l),
        Op::Lt(l) | Op::Le(l) | Op::Gt(l) | Op::Ge(l) => {
            // JSON fields order when they hold a number.
            if !types.iter().any(|t| t.is_number() || *t == ValueType::Json) {
                r.note(
                    at,
                    format!(
                        "`{field}` holds {}; only numbers can be ordered",
                        types_text(types)
                    ),
                );
            } else if !matches!(l, Lit::Int(_) | Lit::Float(_)) {
                let (shown, what) = lit_text(l);
                r.note(at, format!("{shown} is {what}; ordering compares numbers"));
            }
        }
        Op::In(items) => {
            for l in items {
                mismatch(r, l);
            }
        }
        Op::Contains(_) => {
            if !types
                .iter()
                .any(|t| matches!(t, ValueType::Str | ValueType::Json | ValueType::Bytes))
            {
                r.note(
                    at,
                    format!(
                        "`{field}` holds {}; `contains` applies to text",
                        types_text(types)
                    ),
                );
            }
        }
        Op::Present(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kind_patterns() {
        assert!(kind_matches("websocket.frame", "websocket.frame"));
        assert!(kind_matches("websocket", "websocket.frame"));
        assert!(kind_matches("websocket.*", "websocket.message"));
        assert!(kind_matches("web*", "websocket.message"));
        assert!(!kind_matches("websocket", "websocketx.frame"));
        assert!(!kind_matches("tcp.syn", "tcp.syn-ack"));
        for (p, kind, want) in [
            ("websocket.frame", "websocket.frame", true),
            ("websocket", "websocket.frame", true),
            ("websocket.*", "websocket.frame", true),
            ("websocket.*", "websocketx.frame", false),
            ("web*", "websocket.frame", true),
            ("tcp.syn", "tcp.syn-ack", false),
        ] {
            let k = KindPattern::parse(p);
            assert_eq!(k.matches(kind), want, "{p} {kind}");
            assert_eq!(k.matches(kind), kind_matches(p, kind), "{p} {kind}");
            assert_eq!(k.to_string(), p);
        }
    }

    fn cond(field: &str, op: Op) -> Cond {
        Cond {
            field: field.into(),
            op,
        }
    }

    #[test]
    fn values_compare_by_type() {
        let s = |t: &'static str| Lit::Str(t.into());
        assert!(Val::UInt(1).equals(&Lit::Float(1.0)));
        assert!(!Val::UInt(1).equals(&s("1")));
        assert!(Val::Bytes(Cow::Borrowed(&[0xab, 0x01])).equals(&s("ab01")));
        assert!(!Val::Bytes(Cow::Borrowed(&[0xab, 0x01])).equals(&s("AB01")));
        assert!(Val::Bytes(Cow::Borrowed(b"hi")).contains("hi"));
        assert!(Val::Bytes(Cow::Borrowed(b"hi")).contains("6869"));
        let j = json!(["chat", {"n": 1}]);
        assert!(Val::Json(&j).equals(&s(r#"["chat",{"n":1}]"#)));
        assert!(Val::Json(&j).contains("chat"));
        assert!(Val::Json(&json!(7)).equals(&Lit::Int(7)));
        assert_eq!(
            Val::Json(&json!(7)).order(&Lit::Int(8)),
            Some(Ordering::Less)
        );
        assert_eq!(Val::Str("7").order(&Lit::Int(8)), None);
        assert!(!Val::Unknown.equals(&s("")));
    }

    #[test]
    fn absent_repeated_and_ne() {
        let vals = || [Val::Str("a"), Val::Str("b")].into_iter();
        assert!(cond("f", Op::Eq(Lit::Str("b".into()))).holds(vals()));
        assert!(!cond("f", Op::Ne(Lit::Str("b".into()))).holds(vals()));
        assert!(cond("f", Op::Ne(Lit::Str("c".into()))).holds(vals()));
        assert!(!cond("f", Op::Ne(Lit::Str("c".into()))).holds(std::iter::empty()));
        assert!(cond("f", Op::Present(false)).holds(std::iter::empty()));
        assert!(!cond("f", Op::Present(false)).holds(vals()));
        // The ndjson form of a repeated name is its array.
        let c = cond("http.request.line", Op::Contains("b".into()));
        assert!(c.holds_on_json("http.request", Some(&json!(["a", "b"]))));
        // A JSON field's array is one value.
        let c = cond("socketio.data", Op::Eq(Lit::Str(r#"["a"]"#.into())));
        assert!(c.holds_on_json("socketio.packet", Some(&json!(["a"]))));
    }

    /// Collects what the parser reports.
    #[derive(Default)]
    struct Got(Vec<String>);

    impl Report for Got {
        fn bad(&mut self, at: Mark, message: String) {
            self.0.push(format!("{}:{} bad {message}", at.line, at.col));
        }
        fn note(&mut self, at: Mark, message: String) {
            self.0
                .push(format!("{}:{} note {message}", at.line, at.col));
        }
        fn keys<'n>(
            &mut self,
            entries: &'n [(Node, Node)],
            _what: &str,
            allowed: &[&'static str],
            at: Mark,
        ) -> HashMap<&'static str, &'n Node> {
            let mut m = HashMap::new();
            for (k, v) in entries {
                match allowed.iter().find(|a| Some(**a) == k.text()) {
                    Some(a) => {
                        m.insert(*a, v);
                    }
                    None => self.bad(at, format!("key {:?}", k.text())),
                }
            }
            m
        }
    }

    fn ops(y: &str) -> (Vec<Op>, Vec<String>) {
        let doc = crate::yaml::parse(y, &crate::yaml::Limits::default()).unwrap();
        let mut got = Got::default();
        let ops = parse_ops(&mut got, &doc[0]);
        (ops.into_iter().map(|(o, _)| o).collect(), got.0)
    }

    #[test]
    fn one_parser_for_every_condition() {
        assert_eq!(ops("1"), (vec![Op::Eq(Lit::Int(1))], vec![]));
        assert_eq!(
            ops("{le: 2.5, ge: 1}"),
            (vec![Op::Le(Lit::Float(2.5)), Op::Ge(Lit::Int(1))], vec![])
        );
        assert_eq!(
            ops("{in: [a, true]}").0,
            vec![Op::In(vec![Lit::Str("a".into()), Lit::Bool(true)])]
        );
        assert_eq!(ops("{contains: 12}").0, vec![Op::Contains("12".into())]);
        assert_eq!(
            ops("{in: []}"),
            (
                vec![Op::In(vec![])],
                vec!["1:6 note `in: []` cannot match anything".into()]
            )
        );
        assert_eq!(
            ops("{present: 1}").1,
            ["1:11 bad `present` takes `true` or `false`"]
        );
        assert_eq!(ops("{equals: 1}").1, ["1:1 bad key Some(\"equals\")"]);
        assert_eq!(
            ops("[1]").1,
            [
                "1:1 bad a condition value must be a scalar, found a list; for one of several values write `{in: [...]}`"
            ]
        );
        assert_eq!(
            ops("{}").1,
            [
                "1:1 bad an empty condition; write an operator such as `{eq: 1}` (`{present: true}` tests presence)"
            ]
        );
    }
}
