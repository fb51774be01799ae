//! Predict, then reveal: where a question's answer is in the capture, and
//! whether a typed answer is right.
//!
//! A question names the field that answers it (`field`) and, with `on`, the
//! kind of the later step it is read on: the first later step of that kind
//! in the same connection (or, for `engineio.*` / `socketio.*` kinds, the
//! same Engine.IO session). [`resolve`] finds that step and the field's
//! value through a [`StepLookup`], which may not have every step at hand (the
//! TUI's indexed timeline reads steps back on demand): then it says so and
//! the caller asks again later. [`check`] compares a typed answer with the
//! value, forgiving how it was written (hex case and separators, whitespace,
//! base64 padding, decimal or `0x` numbers). [`Hidden`] masks a step's
//! copy while a question is open (the TUI, and the markdown worksheet).
//!
//! Pure: no terminal, no printing.

use std::sync::Arc;

use crate::step::{ConnId, Dir, Field, Span, Step, Value};

use super::model::{KindPattern, Question, Side};

/// How far past the asking step the `on` step is looked for, in steps: an
/// answer is a nearby reply (a Pong, a 101, the attachments that follow).
pub const LOOK_AHEAD: usize = 20_000;

/// What [`resolve`] needs of the steps: their heads without reading them
/// back, and full steps when at hand.
pub trait StepLookup {
    /// Steps known so far.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Step `i`'s kind, connection and Engine.IO session, without reading
    /// the step itself.
    fn head(&self, i: usize) -> Option<(&'static str, ConnId, Option<u32>)>;
    /// Step `i` if it can be had now; a store that reads steps back on
    /// demand asks for it and answers `None` until it is read.
    fn step(&self, i: usize) -> Option<Arc<Step>>;
    /// Whether more steps may still arrive (the capture is loading).
    fn loading(&self) -> bool {
        false
    }
}

/// Steps in a vector: everything at hand.
impl StepLookup for Vec<Arc<Step>> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn head(&self, i: usize) -> Option<(&'static str, ConnId, Option<u32>)> {
        self.get(i).map(|s| (s.kind, s.conn, s.session))
    }
    fn step(&self, i: usize) -> Option<Arc<Step>> {
        self.get(i).cloned()
    }
}

/// The value that answers a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The step it is read on (an index into the lookup).
    pub step: usize,
    /// The field's name.
    pub field: String,
    /// The field's value (`SpanBytes` already read into `Bytes`).
    pub value: Value,
}

impl Answer {
    /// The value as a student would write it: text as is, bytes as
    /// lowercase hex, numbers in decimal, JSON compact.
    pub fn text(&self) -> String {
        self.value.to_string()
    }

    /// The texts a view should hide while the question is open: the value
    /// as written, and the bytes as text when they are UTF-8.
    pub fn texts(&self) -> Vec<String> {
        let mut v = vec![self.text()];
        if let Value::Bytes(b) = &self.value
            && let Ok(s) = std::str::from_utf8(b)
            && !s.is_empty()
        {
            v.push(s.to_string());
        }
        v.retain(|s| !s.is_empty());
        v
    }
}

/// Where a question's answer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The question names no field: nothing to hide or check.
    NoField,
    /// Found.
    Found(Answer),
    /// The capture has no such step or field (after the asking step, within
    /// [`LOOK_AHEAD`] steps).
    NotInCapture,
    /// The step is known but not read back yet (`Some`), or the capture is
    /// still loading and may bring it (`None`): ask again later.
    NotReadYet(Option<usize>),
}

/// Whether step `j` (kind, conn, session) is in the same conversation as
/// the asking step for a pattern. TCP, TLS and WebSocket steps belong to
/// their connection. HTTP, Engine.IO and Socket.IO steps belong to their
/// Engine.IO session when both steps have one (a session spans
/// connections: its polling requests and its WebSocket), else to their
/// connection.
pub fn related(on: &KindPattern, at: (ConnId, Option<u32>), j: (ConnId, Option<u32>)) -> bool {
    let k = match on {
        KindPattern::Exact(k) | KindPattern::Layer(k) | KindPattern::Prefix(k) => k,
    };
    let by_session = ["http", "engineio", "socketio"]
        .iter()
        .any(|l| k.starts_with(l));
    match (by_session, at.1, j.1) {
        (true, Some(a), Some(b)) => a == b,
        _ => at.0 == j.0,
    }
}

/// A field's value with span bytes read out.
fn value_of(step: &Step, f: &Field) -> Option<Value> {
    match &f.value {
        Value::SpanBytes => f
            .span
            .and_then(|s| step.span_bytes(&s))
            .map(|b| Value::Bytes(b.to_vec())),
        v => Some(v.clone()),
    }
}

/// The value of `field` on step `i` (`step`), if it has that field.
pub fn answer_on(step: &Step, i: usize, field: &str) -> Option<Answer> {
    let f = step.field(field)?;
    Some(Answer {
        step: i,
        field: field.to_string(),
        value: value_of(step, f)?,
    })
}

/// Finds the value answering `q`, asked at step `at` (`step` is that step).
pub fn resolve(steps: &dyn StepLookup, at: usize, step: &Step, q: &Question) -> Resolution {
    let Some(field) = q.field.as_deref() else {
        return Resolution::NoField;
    };
    let found = |i: usize, s: &Step| match s.field(field).and_then(|f| value_of(s, f)) {
        Some(value) => Resolution::Found(Answer {
            step: i,
            field: field.to_string(),
            value,
        }),
        None => Resolution::NotInCapture,
    };
    let Some(on) = &q.on else {
        return found(at, step);
    };
    let me = (step.conn, step.session);
    let end = steps.len().min(at.saturating_add(LOOK_AHEAD));
    for j in at + 1..end {
        let Some((kind, conn, session)) = steps.head(j) else {
            continue;
        };
        if !on.matches(kind) || !related(on, me, (conn, session)) {
            continue;
        }
        // The first such step that carries the field: a Pong is the next
        // frame with a Pong payload, not the next frame.
        match steps.step(j) {
            Some(s)
                if s.field(field).is_some()
                    && q.from.is_none_or(|side| side.admits(step.dir, s.dir)) =>
            {
                return found(j, &s);
            }
            Some(_) => continue,
            None => return Resolution::NotReadYet(Some(j)),
        }
    }
    if steps.loading() && end == steps.len() {
        Resolution::NotReadYet(None)
    } else {
        Resolution::NotInCapture
    }
}

/// Whether `typed` answers `value`. Forgiven: surrounding and repeated
/// whitespace; for bytes, hex in any case with or without `0x`, spaces,
/// colons or dashes (or the bytes' own text); for numbers, decimal or `0x`
/// hex; base64 padding; `true`/`false` as `yes`/`no`/`1`/`0`; JSON spacing.
pub fn check(value: &Value, typed: &str) -> bool {
    let typed = squash(typed);
    if typed.is_empty() {
        return false;
    }
    match value {
        Value::Bool(b) => parse_bool(&typed) == Some(*b),
        Value::UInt(n) => parse_number(&typed) == Some(i128::from(*n)),
        Value::Int(n) => parse_number(&typed) == Some(i128::from(*n)),
        Value::Float(f) => typed.parse::<f64>().is_ok_and(|t| t == *f),
        Value::Bytes(b) => {
            hex_of(&typed).is_some_and(|h| h == *b)
                || std::str::from_utf8(b).is_ok_and(|s| squash(s) == typed)
        }
        Value::SpanBytes => false,
        Value::Json(v) => {
            serde_json::from_str::<serde_json::Value>(&typed).is_ok_and(|t| t == *v)
                || matches!(v, serde_json::Value::String(s) if squash(s) == typed)
        }
        Value::Str(s) => text_matches(&squash(s), &typed),
    }
}

/// Two texts equal as an answer: exactly (whitespace squashed), as numbers,
/// as hex (any case, separators), or as base64 without its padding.
fn text_matches(want: &str, typed: &str) -> bool {
    if want == typed {
        return true;
    }
    if let (Some(a), Some(b)) = (parse_number(want), parse_number(typed)) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (hex_of(want), hex_of(typed))
        && !a.is_empty()
    {
        return a == b;
    }
    let unpad = |s: &str| s.replace(' ', "").trim_end_matches('=').to_string();
    looks_base64(want) && unpad(want) == unpad(typed)
}

fn looks_base64(s: &str) -> bool {
    s.len() >= 4
        && s.trim_end_matches('=')
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// Trimmed, every whitespace run one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "set" => Some(true),
        "false" | "no" | "n" | "0" | "unset" | "clear" => Some(false),
        _ => None,
    }
}

/// A decimal or `0x` hex integer.
fn parse_number(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.len() <= 16 => i128::from_str_radix(h, 16).ok()?,
        Some(_) => return None,
        None if !s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit()) => {
            s.parse().ok()?
        }
        None => return None,
    };
    Some(if neg { -v } else { v })
}

/// Bytes written as hex: any case, an optional `0x` (or `\x`) before each
/// byte or the whole, bytes apart or together, separated by spaces, colons
/// or dashes. `None` if it is not hex.
fn hex_of(s: &str) -> Option<Vec<u8>> {
    let mut digits = String::with_capacity(s.len());
    for part in s.split([' ', ':', '-', ',']) {
        let p = part
            .strip_prefix("0x")
            .or_else(|| part.strip_prefix("0X"))
            .or_else(|| part.strip_prefix("\\x"))
            .unwrap_or(part);
        digits.push_str(p);
    }
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    hex::decode(digits).ok()
}

/// What a hidden value is drawn as.
pub const HIDDEN: &str = "··";

/// Shortest answer text hidden on steps other than the one it is read on:
/// shorter ones (`true`, `101`) are everywhere for other reasons.
const MIN_GLOBAL: usize = 6;

/// An answer's texts hidden on every step: text, bytes and JSON values
/// long enough to be this answer rather than a coincidence.
pub fn global_texts(a: &Answer) -> Vec<String> {
    match a.value {
        Value::Str(_) | Value::Bytes(_) | Value::Json(_) => a
            .texts()
            .into_iter()
            .filter(|t| t.chars().count() >= MIN_GLOBAL)
            .collect(),
        _ => Vec::new(),
    }
}

/// The fields hidden on one step, and their values' texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hidden {
    pub fields: Vec<String>,
    pub texts: Vec<String>,
}

/// Shortest value text hidden wherever it occurs in a summary or another
/// field; a shorter one (`1`, `ok`) only as a whole word.
const MIN_TEXT: usize = 4;

impl Hidden {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.texts.is_empty()
    }

    /// `s` with every hidden value's text drawn as [`HIDDEN`].
    pub fn mask_text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for t in &self.texts {
            out = if t.chars().count() >= MIN_TEXT {
                out.replace(t.as_str(), HIDDEN)
            } else {
                replace_word(&out, t)
            };
        }
        out
    }

    /// A copy of `step` with the hidden fields' values (and every field
    /// within their bytes or showing the same value) replaced by
    /// [`HIDDEN`], its summary masked; and the byte spans hidden.
    pub fn mask(&self, step: &Step) -> (Step, Vec<Span>) {
        let mut s = step.clone();
        let spans: Vec<Span> = step
            .fields
            .iter()
            .filter(|f| self.fields.iter().any(|n| *n == f.name))
            .filter_map(|f| f.span)
            .collect();
        let within = |sp: &Span| {
            spans
                .iter()
                .any(|h| h.buf == sp.buf && h.start <= sp.start && sp.range().end <= h.range().end)
        };
        let long_texts: Vec<&String> = self
            .texts
            .iter()
            .filter(|t| t.chars().count() >= MIN_TEXT)
            .collect();
        for f in &mut s.fields {
            let named = self.fields.iter().any(|n| *n == f.name);
            let inside = f.span.is_some_and(|sp| within(&sp));
            let same = !long_texts.is_empty() && shows_any(step, f, &long_texts);
            if named || inside || same {
                f.value = Value::Str(HIDDEN.to_string());
                f.show = None;
            }
        }
        s.summary = self.mask_text(&step.summary);
        (s, spans)
    }
}

/// Bytes of a field searched for a hidden text (the views show 64 at most).
const MAX_SEARCHED: usize = 4096;

/// Whether a field's value (bytes as hex and as text; its display text)
/// contains one of `texts`.
fn shows_any(step: &Step, f: &Field, texts: &[&String]) -> bool {
    let has = |t: &str| texts.iter().any(|x| t.contains(x.as_str()));
    let bytes = match &f.value {
        Value::SpanBytes => f.span.and_then(|sp| step.span_bytes(&sp)),
        Value::Bytes(b) => Some(b.as_slice()),
        _ => None,
    };
    let value = match (bytes, &f.value) {
        (Some(b), _) => {
            let b = &b[..b.len().min(MAX_SEARCHED)];
            has(&hex::encode(b)) || has(&String::from_utf8_lossy(b))
        }
        (None, Value::Str(v)) => has(v),
        (None, v) => has(&v.to_string()),
    };
    value || f.show.as_deref().is_some_and(has)
}

/// `s` with `word` replaced where it stands alone (not inside a longer run
/// of letters and digits).
fn replace_word(s: &str, word: &str) -> String {
    if word.is_empty() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    while let Some(p) = rest.find(word) {
        let before = if p > 0 {
            rest[..p].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[p + word.len()..].chars().next();
        out.push_str(&rest[..p]);
        if alnum(before) || alnum(after) {
            out.push_str(word);
        } else {
            out.push_str(HIDDEN);
        }
        rest = &rest[p + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Hiding for a document read top to bottom (the markdown worksheet):
/// steps come in capture order, each with the questions of the lesson bound
/// to it. A question about this step hides its field here; one about a later
/// step (`on`) waits for the first related step of that kind and hides the
/// field there; once an answer is known, its long text stays hidden on every
/// later step (the Accept also shows in the derivation step).
#[derive(Debug, Clone, Default)]
pub struct Worksheet {
    /// Questions waiting for their step: the field, the kind, and the
    /// asking step's connection and session.
    pending: Vec<Pending>,
    /// Answer texts hidden from here on.
    texts: Vec<String>,
    /// Steps seen.
    seen: usize,
}

/// A question waiting for its later step: the field, the kind, the
/// asking step's connection and session, and which side must send it.
#[derive(Debug, Clone)]
struct Pending {
    field: String,
    on: KindPattern,
    at: (ConnId, Option<u32>),
    side: Option<(Side, Dir)>,
}

/// Most questions a worksheet waits on at once (a lesson bound to every
/// frame asks as many times as there are frames; the oldest give way).
const MAX_PENDING: usize = 1024;

impl Worksheet {
    /// What to hide on `step`, the next step in capture order, whose bound
    /// lesson asks `questions`.
    pub fn hide(&mut self, step: &Step, questions: &[Question]) -> Hidden {
        let i = self.seen;
        self.seen += 1;
        let mut h = Hidden::default();
        let found = |h: &mut Hidden, texts: &mut Vec<String>, field: &str| {
            if !h.fields.iter().any(|f| f == field) {
                h.fields.push(field.to_string());
            }
            if let Some(a) = answer_on(step, i, field) {
                for t in a.texts() {
                    if !h.texts.contains(&t) {
                        h.texts.push(t);
                    }
                }
                for t in global_texts(&a) {
                    if !texts.contains(&t) {
                        texts.push(t);
                    }
                }
            }
        };
        let here = (step.conn, step.session);
        let mut k = 0;
        while k < self.pending.len() {
            let p = &self.pending[k];
            if p.on.matches(step.kind)
                && related(&p.on, p.at, here)
                && step.field(&p.field).is_some()
                && p.side
                    .is_none_or(|(side, asked)| side.admits(asked, step.dir))
            {
                let field = p.field.clone();
                self.pending.remove(k);
                found(&mut h, &mut self.texts, &field);
            } else {
                k += 1;
            }
        }
        for t in &self.texts {
            if !h.texts.contains(t) {
                h.texts.push(t.clone());
            }
        }
        for q in questions {
            match (&q.field, &q.on) {
                (Some(f), None) => found(&mut h, &mut self.texts, f),
                (Some(f), Some(on)) => {
                    if self.pending.len() >= MAX_PENDING {
                        self.pending.remove(0);
                    }
                    self.pending.push(Pending {
                        field: f.clone(),
                        on: on.clone(),
                        at: here,
                        side: q.from.map(|side| (side, step.dir)),
                    });
                }
                _ => {}
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Dir, Field, Origin, Span, Timestamp};

    /// Synthetic steps: a Ping and its Pong on connection 0, a frame on
    /// connection 1 between them, and an Engine.IO packet per session.
    fn steps() -> Vec<Arc<Step>> {
        let frame = |conn, dir, opcode: u8, payload: &[u8]| {
            let mut s = Step::new(conn, dir, "websocket.frame", Timestamp::default());
            let b = s.add_buffer("stream", Origin::Stream { offset: 0 }, Arc::from(payload));
            s.fields.push(Field::new("websocket.opcode", opcode));
            s.fields.push(
                Field::new("websocket.payload", Value::SpanBytes).span(Span::bytes(
                    b,
                    0,
                    payload.len(),
                )),
            );
            Arc::new(s)
        };
        let eio = |conn, session, t: &str| {
            let mut s = Step::new(conn, Dir::S2c, "engineio.packet", Timestamp::default());
            s.session = Some(session);
            s.fields.push(Field::new("engineio.type", t));
            Arc::new(s)
        };
        vec![
            frame(0, Dir::C2s, 9, b"hi"),
            frame(1, Dir::S2c, 10, b"other"),
            frame(0, Dir::S2c, 10, b"hi"),
            eio(0, 7, "open"),
            eio(2, 3, "message"),
            eio(3, 7, "ping"),
        ]
    }

    fn q(field: Option<&str>, on: Option<&str>) -> Question {
        Question {
            ask: "?".into(),
            answer: "!".into(),
            field: field.map(str::to_string),
            on: on.map(KindPattern::parse),
            from: None,
        }
    }

    /// A later step from the peer or from the same side: the Ping (c2s) is
    /// answered by the server's Pong, and the client's own next frame is
    /// none (synthetic steps).
    #[test]
    fn from_picks_the_side_that_sends_the_later_step() {
        let s = steps();
        let mut peer = q(Some("websocket.opcode"), Some("websocket.frame"));
        peer.from = Some(Side::Peer);
        match resolve(&s, 0, &s[0], &peer) {
            Resolution::Found(a) => assert_eq!(a.step, 2),
            r => panic!("{r:?}"),
        }
        let mut same = peer.clone();
        same.from = Some(Side::Same);
        assert_eq!(resolve(&s, 0, &s[0], &same), Resolution::NotInCapture);
        assert!(Side::Peer.admits(Dir::C2s, Dir::S2c) && !Side::Peer.admits(Dir::S2c, Dir::S2c));
        assert!(Side::Same.admits(Dir::S2c, Dir::S2c) && !Side::Same.admits(Dir::C2s, Dir::S2c));
    }

    #[test]
    fn resolves_on_this_step_or_the_first_later_related_one() {
        let s = steps();
        let at = |i: usize, q: &Question| resolve(&s, i, &s[i], q);
        let found = |r: Resolution| match r {
            Resolution::Found(a) => (a.step, a.value),
            r => panic!("not found: {r:?}"),
        };
        assert_eq!(at(0, &q(None, None)), Resolution::NoField);
        // On this step; span bytes come out as bytes.
        assert_eq!(
            found(at(0, &q(Some("websocket.payload"), None))),
            (0, Value::Bytes(b"hi".to_vec()))
        );
        // A later frame of the same connection (step 1 is another one).
        assert_eq!(
            found(at(0, &q(Some("websocket.opcode"), Some("websocket.frame")))),
            (2, Value::UInt(10))
        );
        // Engine.IO kinds follow the session across connections.
        assert_eq!(
            found(at(3, &q(Some("engineio.type"), Some("engineio.packet")))),
            (5, Value::Str("ping".into()))
        );
        assert_eq!(
            at(0, &q(Some("websocket.nope"), None)),
            Resolution::NotInCapture
        );
        assert_eq!(
            at(2, &q(Some("websocket.opcode"), Some("websocket.frame"))),
            Resolution::NotInCapture
        );
    }

    /// A lookup whose steps are known by head but not read back, and which
    /// may still be loading.
    struct Partial {
        steps: Vec<Arc<Step>>,
        at_hand: usize,
        loading: bool,
    }

    impl StepLookup for Partial {
        fn len(&self) -> usize {
            self.steps.len()
        }
        fn head(&self, i: usize) -> Option<(&'static str, ConnId, Option<u32>)> {
            self.steps.head(i)
        }
        fn step(&self, i: usize) -> Option<Arc<Step>> {
            (i < self.at_hand).then(|| self.steps[i].clone())
        }
        fn loading(&self) -> bool {
            self.loading
        }
    }

    #[test]
    fn a_step_not_read_back_or_not_loaded_yet_is_asked_again() {
        let mut p = Partial {
            steps: steps(),
            at_hand: 1,
            loading: false,
        };
        let pong = q(Some("websocket.payload"), Some("websocket.frame"));
        let first = p.steps[0].clone();
        assert_eq!(
            resolve(&p, 0, &first, &pong),
            Resolution::NotReadYet(Some(2))
        );
        p.at_hand = 6;
        assert!(matches!(
            resolve(&p, 0, &first, &pong),
            Resolution::Found(Answer { step: 2, .. })
        ));
        // Nothing later yet, but more may come.
        p.steps.truncate(2);
        p.loading = true;
        assert_eq!(resolve(&p, 0, &first, &pong), Resolution::NotReadYet(None));
        p.loading = false;
        assert_eq!(resolve(&p, 0, &first, &pong), Resolution::NotInCapture);
    }

    #[test]
    fn typed_answers_are_forgiven_how_they_are_written() {
        let key = Value::Bytes(vec![0x04, 0xf4, 0x90, 0x4f]);
        for t in [
            "04f4904f",
            "04 F4 90 4F",
            "0x04f4904f",
            "04:f4:90:4f",
            " 0x04 0xF4 0x90 0x4f ",
        ] {
            assert!(check(&key, t), "{t}");
        }
        for t in ["04f4904", "04f4904f00", "", "hello"] {
            assert!(!check(&key, t), "{t}");
        }
        assert!(check(&Value::Bytes(b"hi there".to_vec()), "hi   there"));
        assert!(check(&Value::UInt(125), "125"));
        assert!(check(&Value::UInt(125), "0x7d"));
        assert!(check(&Value::UInt(125), "0X7D"));
        assert!(!check(&Value::UInt(125), "126"));
        assert!(!check(&Value::UInt(125), "7d"));
        assert!(check(&Value::Bool(true), "yes"));
        assert!(!check(&Value::Bool(true), "0"));
        let accept = Value::Str("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into());
        assert!(check(&accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo"));
        assert!(check(&accept, "  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  "));
        assert!(!check(&accept, "S3PPLMBITXAQ9KYGZZHZRBK+XOO="));
        assert!(check(&Value::Str("1000".into()), "0x3e8"));
        assert!(check(
            &Value::Str("Normal  Closure".into()),
            "Normal Closure"
        ));
        assert!(check(
            &Value::Json(serde_json::json!(["chat", {"a": 1}])),
            "[\"chat\", {\"a\": 1}]"
        ));
    }

    #[test]
    fn short_values_are_hidden_as_whole_words_only() {
        assert_eq!(replace_word("1 of 12 (1)", "1"), "·· of 12 (··)");
        assert_eq!(replace_word("x1 1x", "1"), "x1 1x");
    }

    #[test]
    fn masking_hides_the_field_its_bytes_and_its_value_elsewhere() {
        // Synthetic: a Pong whose payload shows in a child field, a summary
        // and the stream bytes.
        let mut s = Step::new(0, Dir::S2c, "websocket.frame", Timestamp::default());
        s.summary = "WS pong \"hello\"".into();
        let b = s.add_buffer(
            "stream",
            Origin::Stream { offset: 0 },
            Arc::from(&b"\x8a\x05hello"[..]),
        );
        s.fields.push(
            Field::new("websocket.opcode", 10u8)
                .span(Span::bytes(b, 0, 1))
                .show("Pong (10)"),
        );
        s.fields
            .push(Field::new("websocket.payload", Value::SpanBytes).span(Span::bytes(b, 2, 5)));
        s.fields
            .push(Field::new("websocket.payload.text", "hello").span(Span::bytes(b, 2, 5)));
        s.fields.push(Field::new("websocket.echo", "hello again"));
        let h = Hidden {
            fields: vec!["websocket.payload".into()],
            texts: vec!["68656c6c6f".into(), "hello".into()],
        };
        let (m, spans) = h.mask(&s);
        assert_eq!(spans, vec![Span::bytes(b, 2, 5)]);
        assert_eq!(m.summary, "WS pong \"··\"");
        let shown: Vec<String> = m.fields.iter().map(|f| f.value.to_string()).collect();
        assert_eq!(shown, ["10", HIDDEN, HIDDEN, HIDDEN]);
        assert_eq!(m.fields[0].show.as_deref(), Some("Pong (10)"));
    }
}
