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

/// Most bytes of a bytes field shown by an interpolation (as hex).
pub const MAX_INTERPOLATED_BYTES: usize = 64;

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
    }
}

/// Fills a template's names from a step; unknown or missing names give `?`.
pub fn interpolate(text: &str, step: &Step, finding: Option<&Finding>) -> String {
    let (pieces, _) = template::parse(text);
    let mut out = String::with_capacity(text.len());
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(&escape_with(t, true)),
            Piece::Name { name, .. } => match lookup(name, step, finding) {
                Some(v) => out.push_str(&escape(&v)),
                None => out.push('?'),
            },
        }
    }
    out
}

fn lookup(name: &str, step: &Step, finding: Option<&Finding>) -> Option<String> {
    Some(match name {
        "step.summary" => step.summary.clone(),
        "step.dir" => step.dir.as_str().to_string(),
        "step.conn" => step.conn.to_string(),
        "step.kind" => step.kind.to_string(),
        "finding.rule" => finding?.rule.id.to_string(),
        "finding.message" => finding?.message.clone(),
        "finding.section" => finding?.rule.section.to_string(),
        "finding.severity" => finding?.rule.severity.as_str().to_string(),
        _ => field_text(step, step.field(name)?),
    })
}

/// A field's display text: its `show` if set, otherwise its value as the
/// text trace renders it (strings without quotes, bytes as hex, capped).
pub fn field_text(step: &Step, f: &Field) -> String {
    if let Some(s) = &f.show {
        return s.to_string();
    }
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
