//! Predict, then reveal, in the interface: which questions are open, which
//! values they hide, and the one-line answer prompt.
//!
//! A step's questions are *asked* when the student first selects the step
//! with its lesson bound; each stays *open* until answered right (typed,
//! `a`) or revealed (`h`). While a question that names a field is open,
//! that field's value is hidden on the step it is read on — this step, or
//! the later step its `on` names — everywhere the interface would show it:
//! the fields pane, the bytes pane (its bytes drawn `··`), the lesson text
//! filled from the step, and the timeline summary.

use std::collections::HashMap;
use std::sync::Arc;

use crate::lessons::predict::{self, Answer, Resolution, StepLookup};
use crate::query::KindPattern;
use crate::step::{ConnId, Field, Span, Step, Value};

use super::timeline::Timeline;

/// What a hidden value is drawn as.
pub const HIDDEN: &str = "··";

/// Where a question's answer is read: the field and, with `on`, the kind of
/// the later step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerField {
    pub field: String,
    pub on: Option<KindPattern>,
}

/// An open question that names a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    /// The step it was asked at, and its index in that step's lesson.
    pub at: usize,
    pub q: usize,
    pub field: String,
    pub on: Option<KindPattern>,
    pub resolution: Resolution,
}

impl Open {
    /// The step whose field is hidden, when known.
    pub fn target(&self) -> Option<usize> {
        match &self.resolution {
            Resolution::Found(a) => Some(a.step),
            Resolution::NotReadYet(t) => *t,
            Resolution::NotInCapture | Resolution::NoField => None,
        }
    }

    pub fn answer(&self) -> Option<&Answer> {
        match &self.resolution {
            Resolution::Found(a) => Some(a),
            _ => None,
        }
    }
}

/// The answer prompt in the lesson pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The question answered (its index in the step's lesson).
    pub q: usize,
    pub text: String,
    /// Whether keys go to it (Tab leaves it open but unfocused).
    pub focused: bool,
}

/// The last answer's verdict, shown under its question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub step: usize,
    pub q: usize,
    pub right: bool,
    pub text: String,
}

/// Every question asked so far and where each stands.
#[derive(Debug, Clone, Default)]
pub struct Quiz {
    /// Per step asked, per question of its lesson: closed (answered right
    /// or revealed).
    pub closed: HashMap<usize, Vec<bool>>,
    /// The open questions that name a field.
    pub open: Vec<Open>,
    /// The prompt, for the selected step.
    pub input: Option<Input>,
    pub verdict: Option<Verdict>,
}

/// The timeline as a [`StepLookup`].
pub struct TimelineSteps<'a>(pub &'a dyn Timeline);

impl StepLookup for TimelineSteps<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn head(&self, i: usize) -> Option<(&'static str, ConnId, Option<u32>)> {
        self.0
            .row_for_filter(i)
            .map(|r| (r.kind, r.conn, r.session))
    }
    fn step(&self, i: usize) -> Option<Arc<Step>> {
        self.0.step(i)
    }
    fn loading(&self) -> bool {
        self.0.state().loading
    }
}

impl Quiz {
    /// Whether step `i`'s questions have been asked.
    pub fn asked(&self, i: usize) -> bool {
        self.closed.contains_key(&i)
    }

    /// Whether question `q` of step `i` is closed.
    pub fn is_closed(&self, i: usize, q: usize) -> bool {
        self.closed
            .get(&i)
            .and_then(|c| c.get(q))
            .copied()
            .unwrap_or(false)
    }

    /// Asks step `at`'s questions (once): those that name a field open and
    /// are resolved against the steps.
    pub fn ask(
        &mut self,
        steps: &dyn StepLookup,
        at: usize,
        step: &Step,
        fields: &[Option<AnswerField>],
    ) {
        if self.asked(at) {
            return;
        }
        self.closed.insert(at, vec![false; fields.len()]);
        for (q, f) in fields.iter().enumerate() {
            let Some(f) = f else { continue };
            let question = crate::lessons::Question {
                ask: String::new(),
                answer: String::new(),
                field: Some(f.field.clone()),
                on: f.on.clone(),
            };
            self.open.push(Open {
                at,
                q,
                field: f.field.clone(),
                on: f.on.clone(),
                resolution: predict::resolve(steps, at, step, &question),
            });
        }
    }

    /// Resolves again the open questions whose step was not read yet;
    /// whether any changed.
    pub fn refresh(&mut self, steps: &dyn StepLookup) -> bool {
        let mut changed = false;
        for o in &mut self.open {
            if !matches!(o.resolution, Resolution::NotReadYet(_)) {
                continue;
            }
            let Some(asker) = steps.step(o.at) else {
                continue;
            };
            let question = crate::lessons::Question {
                ask: String::new(),
                answer: String::new(),
                field: Some(o.field.clone()),
                on: o.on.clone(),
            };
            let r = predict::resolve(steps, o.at, &asker, &question);
            if r != o.resolution {
                o.resolution = r;
                changed = true;
            }
        }
        changed
    }

    /// Closes question `q` of step `at` (answered right or revealed).
    pub fn close(&mut self, at: usize, q: usize) {
        if let Some(c) = self.closed.get_mut(&at).and_then(|c| c.get_mut(q)) {
            *c = true;
        }
        self.open.retain(|o| !(o.at == at && o.q == q));
        if self.input.as_ref().is_some_and(|i| i.q == q) {
            self.input = None;
        }
    }

    /// The open question `q` of step `at`, if it names a field.
    pub fn open_question(&self, at: usize, q: usize) -> Option<&Open> {
        self.open.iter().find(|o| o.at == at && o.q == q)
    }

    /// What is hidden on step `i`: the fields an open question reads there,
    /// and the texts of answers — those read on `i`, and every open
    /// answer's long text wherever else it shows (a Sec-WebSocket-Accept
    /// also shows in the derivation step and the response's header line),
    /// except on the step that asks about a later one (a Ping's own payload
    /// is what the student predicts its Pong from).
    pub fn hidden(&self, i: usize) -> Hidden {
        let mut h = Hidden::default();
        let add = |h: &mut Hidden, t: String| {
            if !h.texts.contains(&t) {
                h.texts.push(t);
            }
        };
        for o in &self.open {
            if o.target() == Some(i) {
                if !h.fields.contains(&o.field) {
                    h.fields.push(o.field.clone());
                }
                for t in o.answer().map(Answer::texts).unwrap_or_default() {
                    add(&mut h, t);
                }
            } else if let Some(a) = o.answer().filter(|_| !(o.on.is_some() && o.at == i)) {
                for t in global_texts(a) {
                    add(&mut h, t);
                }
            }
        }
        h
    }

    /// Whether anything may be hidden on step `i`.
    pub fn hides(&self, i: usize) -> bool {
        self.open.iter().any(|o| {
            o.target() == Some(i)
                || (!(o.on.is_some() && o.at == i)
                    && o.answer().is_some_and(|a| !global_texts(a).is_empty()))
        })
    }
}

/// Shortest answer text hidden on steps other than the one it is read on:
/// shorter ones (`true`, `101`) are everywhere for other reasons.
const MIN_GLOBAL: usize = 6;

/// An answer's texts hidden on every step: text, bytes and JSON values
/// long enough to be this answer rather than a coincidence.
fn global_texts(a: &Answer) -> Vec<String> {
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
            let same = !long_texts.is_empty() && {
                let t = field_plain(step, f);
                long_texts.iter().any(|x| t.contains(x.as_str()))
            };
            if named || inside || same {
                f.value = Value::Str(HIDDEN.to_string());
                f.show = None;
            }
        }
        s.summary = self.mask_text(&step.summary);
        (s, spans)
    }
}

/// A field's value as plain text (bytes as hex and, when UTF-8, as text).
fn field_plain(step: &Step, f: &Field) -> String {
    let mut t = match &f.value {
        Value::SpanBytes => f
            .span
            .and_then(|sp| step.span_bytes(&sp))
            .map(|b| {
                let mut t = hex::encode(b);
                if let Ok(u) = std::str::from_utf8(b) {
                    t.push('\n');
                    t.push_str(u);
                }
                t
            })
            .unwrap_or_default(),
        Value::Bytes(b) => {
            let mut t = hex::encode(b);
            if let Ok(u) = std::str::from_utf8(b) {
                t.push('\n');
                t.push_str(u);
            }
            t
        }
        v => v.to_string(),
    };
    if let Some(show) = &f.show {
        t.push('\n');
        t.push_str(show);
    }
    t
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Dir, Origin, Timestamp};

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
