//! Rendering a bound lesson for one step: interpolations filled from the
//! step, the trace chosen for a stack. Pure: it returns text, prints nothing.
//!
//! Everything rendered is terminal-safe: lesson text keeps newlines and tabs
//! but has every other control character escaped (see `crate::sanitize`),
//! and interpolated values are escaped to one line.

use serde::Serialize;

use crate::sanitize::{escape, escape_with};
use crate::step::{Field, Finding, Step, Value};

use super::model::{Lesson, TraceEntry};
use super::template::{self, Piece};

/// Most bytes of a bytes field shown by an interpolation (as hex): enough
/// for a SHA-1 or a key; a longer value is elided, and the bytes pane is
/// where it is read in full.
pub const MAX_INTERPOLATED_BYTES: usize = 32;

/// Most characters of any other interpolated value in prose; a longer one
/// is cut to this with `… (N bytes)`.
pub const MAX_INTERPOLATED_CHARS: usize = 100;

/// A lesson rendered for one step and stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub id: String,
    pub title: String,
    pub body: String,
    pub refs: Vec<String>,
    pub hints: Vec<String>,
    pub questions: Vec<Qa>,
    /// The call chain for the chosen stack (empty when no stack is chosen or
    /// the lesson has none for it).
    pub trace: Vec<TraceEntry>,
    /// The lesson's note for the chosen stack (`notes`), interpolated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Rendered {
    /// The body followed by the stack's note, as a pane or page shows it.
    pub fn body_with_note(&self) -> String {
        match &self.note {
            Some(n) => format!("{}\n\n{n}", self.body),
            None => self.body.clone(),
        }
    }
}

/// A rendered prediction question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qa {
    pub ask: String,
    pub answer: String,
}

/// Renders `lesson` for `step`. `finding` is the finding a finding lesson is
/// bound to (for `{finding.*}`); `stack` picks the trace.
pub fn render(
    lesson: &Lesson,
    step: &Step,
    finding: Option<&Finding>,
    stack: Option<&str>,
) -> Rendered {
    let fill = |t: &str| interpolate(t, step, finding);
    Rendered {
        id: lesson.id.clone(),
        title: escape(&lesson.title).into_owned(),
        body: fill(&lesson.body),
        refs: lesson.refs.iter().map(|r| escape(r).into_owned()).collect(),
        hints: lesson.hints.iter().map(|h| fill(h)).collect(),
        questions: lesson
            .questions
            .iter()
            .map(|q| Qa {
                ask: fill(&q.ask),
                answer: fill(&q.answer),
            })
            .collect(),
        trace: stack
            .map(|s| {
                lesson
                    .trace_for(s)
                    .iter()
                    .map(|e| TraceEntry {
                        file: escape(&e.file).into_owned(),
                        function: escape(&e.function).into_owned(),
                        does: escape(&e.does).into_owned(),
                        ..e.clone()
                    })
                    .collect()
            })
            .unwrap_or_default(),
        note: stack.and_then(|s| lesson.note_for(s)).map(fill),
    }
}

/// Fills a template's names from a step; unknown or missing names give `?`.
pub fn interpolate(text: &str, step: &Step, finding: Option<&Finding>) -> String {
    let (pieces, _) = template::parse(text);
    let mut out = String::with_capacity(text.len());
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(&escape_with(t, true)),
            Piece::Name { name, raw, .. } => match lookup(name, raw, step, finding) {
                Some(v) => out.push_str(&escape(&v)),
                None => out.push('?'),
            },
        }
    }
    out
}

/// Cuts a long interpolated field value (a JSON payload, a long string) to
/// [`MAX_INTERPOLATED_CHARS`] characters and says how long it was.
fn elide(v: String) -> String {
    match v.char_indices().nth(MAX_INTERPOLATED_CHARS) {
        Some((cut, _)) => {
            format!("{}… ({} bytes)", &v[..cut], v.len())
        }
        _ => v,
    }
}

fn lookup(name: &str, raw: bool, step: &Step, finding: Option<&Finding>) -> Option<String> {
    Some(match name {
        "step.summary" => step.summary.clone(),
        "step.dir" => step.dir.as_str().to_string(),
        "step.conn" => step.conn.to_string(),
        "step.kind" => step.kind.to_string(),
        "finding.rule" => finding?.rule.id.to_string(),
        "finding.message" => finding?.message.clone(),
        "finding.section" => finding?.rule.section.to_string(),
        "finding.severity" => finding?.rule.severity.as_str().to_string(),
        _ if raw => elide(field_value(step, step.field(name)?)),
        _ => elide(field_text(step, step.field(name)?)),
    })
}

/// A field's value as the text trace renders it, ignoring its `show`:
/// strings without quotes, bytes as hex (capped), numbers and booleans as
/// written, JSON compact.
pub fn field_value(step: &Step, f: &Field) -> String {
    let bytes = match &f.value {
        Value::Bytes(b) => Some(b.as_slice()),
        Value::SpanBytes => f.span.and_then(|s| step.span_bytes(&s)),
        Value::Str(s) => return s.clone(),
        _ => None,
    };
    match bytes {
        Some([]) => "(empty)".to_string(),
        Some(b) if b.len() > MAX_INTERPOLATED_BYTES => format!(
            "{}… ({} bytes)",
            hex::encode(&b[..MAX_INTERPOLATED_BYTES]),
            b.len()
        ),
        Some(b) => hex::encode(b),
        None if matches!(f.value, Value::SpanBytes) => "?".to_string(),
        None => f.value.to_string(),
    }
}

/// A field's display text: its `show` if set, otherwise its value as the
/// text trace renders it (strings without quotes, bytes as hex, capped).
pub fn field_text(step: &Step, f: &Field) -> String {
    match &f.show {
        Some(s) => s.to_string(),
        None => field_value(step, f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Dir, Timestamp};

    fn step() -> Step {
        let mut s = Step::new(0, Dir::C2s, "socketio.packet", Timestamp::default());
        s.fields
            .push(Field::new("socketio.namespace", "/").show("the default namespace"));
        s.fields
            .push(Field::new("socketio.data", Value::Bytes(vec![0xab; 300])));
        s.fields.push(Field::new("socketio.event", "x".repeat(250)));
        s
    }

    #[test]
    fn raw_values_skip_the_display_text() {
        let s = step();
        assert_eq!(interpolate("in {socketio.namespace:raw}", &s, None), "in /");
        assert_eq!(
            interpolate("in {socketio.namespace}", &s, None),
            "in the default namespace"
        );
        assert_eq!(interpolate("{nope:raw}", &s, None), "?");
    }

    #[test]
    fn long_values_are_elided_in_prose() {
        let s = step();
        let bytes = interpolate("{socketio.data}", &s, None);
        assert_eq!(bytes, format!("{}… (300 bytes)", "ab".repeat(32)));
        let text = interpolate("{socketio.event:raw}", &s, None);
        assert_eq!(text, format!("{}… (250 bytes)", "x".repeat(100)));
    }
}
