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

use crate::lessons::Side;
use crate::lessons::predict::{self, Answer, Resolution, StepLookup, global_texts};
pub use crate::lessons::predict::{HIDDEN, Hidden};
use crate::query::KindPattern;
use crate::step::{ConnId, Step};

use super::timeline::Timeline;

/// Where a question's answer is read: the field and, with `on`, the kind of
/// the later step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerField {
    pub field: String,
    pub on: Option<KindPattern>,
    pub from: Option<Side>,
}

/// An open question that names a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    /// The step it was asked at, and its index in that step's lesson.
    pub at: usize,
    pub q: usize,
    pub field: String,
    pub on: Option<KindPattern>,
    pub from: Option<Side>,
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
                from: f.from,
            };
            self.open.push(Open {
                at,
                q,
                field: f.field.clone(),
                on: f.on.clone(),
                from: f.from,
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
                from: o.from,
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
