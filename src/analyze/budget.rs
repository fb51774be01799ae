//! The run-wide budget for decoded content (`--limit decoded-total`).
//!
//! Every cap of the layers bounds one item (a 16 MiB body, a 16 MiB
//! inflated message); this bounds what a run *keeps* of them together. The
//! content counted is a step's derived bytes: its buffers that are not a
//! slice of the capture's stream (inflated messages, decoded bodies,
//! assembled messages, unmasked payloads, Engine.IO and Socket.IO packets)
//! and the text values read from them.
//!
//! What counts is what is held at once, accounted exactly and the same way
//! in a sequential and a pipelined run, at the one place every step passes
//! in trace order (its emission to the sink):
//!
//! - a sink that keeps the steps it is handed ([`super::Detail::kept`]:
//!   the interactive timeline, [`super::Collect`], `check --expect`) holds
//!   every step's content until the end, so it all adds up;
//! - a streaming sink (every headless format) has written and dropped a
//!   step before the next arrives, so only the step at hand is held.
//!
//! Protocol decoding never depends on the budget: Engine.IO still reads an
//! inflated message whole. A step whose content does not fit is handed to
//! the sink with that content replaced by its length and SHA-256; the first
//! such step of the run carries the finding `limit.decoded-total`.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::rules;
use crate::step::{Buffer, Field, Finding, Origin, Step, Value};

/// The default budget: 64 MiB, four times the largest single item, so a
/// streaming run never reaches it and a kept trace stays well inside the
/// 200 MB promise.
pub const DEFAULT: u64 = 64 << 20;

/// The run's budget and what it holds.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: u64,
    /// Bytes held by the steps the sink keeps.
    held: u64,
    /// The sink keeps the steps it is handed.
    kept: bool,
    /// The budget has refused a step: later ones carry no finding.
    reached: bool,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(DEFAULT, false)
    }
}

impl Budget {
    pub fn new(limit: u64, kept: bool) -> Budget {
        Budget {
            limit,
            held: 0,
            kept,
            reached: false,
        }
    }

    /// Whether the sink keeps its steps (a resumed run may hand them to
    /// another sink).
    pub fn set_kept(&mut self, kept: bool) {
        self.kept = kept;
    }

    /// Bytes held by kept steps so far.
    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Admits `step` for the sink: `None` when its content fits (and, for a
    /// sink that keeps steps, is now held), else the step to hand over
    /// instead, with its content as length and digest.
    pub fn admit(&mut self, step: &Step) -> Option<Step> {
        let n = decoded_bytes(step);
        if n == 0 {
            return None;
        }
        let held = if self.kept { self.held + n } else { n };
        if held <= self.limit {
            if self.kept {
                self.held = held;
            }
            return None;
        }
        let first = !self.reached;
        self.reached = true;
        Some(digested(step, self.limit, first))
    }
}

/// Whether a step holds derived content: a buffer computed from the
/// stream's bytes rather than a slice of it.
fn derived(b: &Buffer) -> bool {
    matches!(b.origin, Origin::Derived)
}

/// The index of the derived buffer a field's span points into.
fn derived_span(step: &Step, f: &Field) -> Option<usize> {
    let buf = usize::from(f.span?.buf);
    step.buffers.get(buf).filter(|b| derived(b)).map(|_| buf)
}

/// The decoded content a step holds: its derived buffers, and the text
/// values copied out of them.
pub fn decoded_bytes(step: &Step) -> u64 {
    let buffers: usize = step
        .buffers
        .iter()
        .filter(|b| derived(b))
        .map(|b| b.data.len())
        .sum();
    let texts: usize = step
        .fields
        .iter()
        .filter(|f| derived_span(step, f).is_some())
        .map(|f| match &f.value {
            Value::Str(s) => s.len(),
            _ => 0,
        })
        .sum();
    (buffers + texts) as u64
}

/// `step` with its derived buffers emptied and every field read from them
/// given as the length and SHA-256 of its bytes.
fn digested(step: &Step, limit: u64, first: bool) -> Step {
    let mut s = Step::new(step.conn, step.dir, step.kind, step.time);
    s.frames = step.frames.clone();
    s.session = step.session;
    s.summary = step.summary.clone();
    s.findings = step.findings.clone();
    s.buffers = step
        .buffers
        .iter()
        .map(|b| Buffer {
            name: b.name,
            origin: b.origin,
            data: if derived(b) {
                Arc::from(&[][..])
            } else {
                b.data.clone()
            },
        })
        .collect();
    s.fields = step
        .fields
        .iter()
        .map(|f| match derived_span(step, f) {
            None => f.clone(),
            Some(_) => digested_field(step, f),
        })
        .collect();
    if first {
        s.findings.push(Finding::new(
            &rules::LIMIT_DECODED_TOTAL,
            format!(
                "this step's decoded content would take what the run holds past its {limit}-byte budget (--limit decoded-total): from here on, content that does not fit is shown as its length and SHA-256, and decoding goes on"
            ),
        ));
    }
    s
}

/// Values of at most this many bytes stay as they are (a packet type, an
/// event name): only content is given as a digest.
const KEEP_SMALL: usize = 64;

/// A field read from a derived buffer that is no longer kept: a short
/// value stays, content becomes its SHA-256 (as the same value type), and
/// the span goes (its buffer is empty).
fn digested_field(step: &Step, f: &Field) -> Field {
    let bytes = f.span.and_then(|sp| step.span_bytes(&sp)).unwrap_or(&[]);
    let small = bytes.len() <= KEEP_SMALL;
    let digest = || format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let value = match &f.value {
        Value::SpanBytes if small => Value::Bytes(bytes.to_vec()),
        Value::SpanBytes | Value::Bytes(_) if !small => {
            Value::Bytes(Sha256::digest(bytes).to_vec())
        }
        Value::Str(v) if v.len() > KEEP_SMALL || !small => Value::Str(digest()),
        Value::Json(_) if !small => Value::Json(serde_json::Value::String(digest())),
        v => v.clone(),
    };
    let replaced = !small || matches!(&f.value, Value::Str(v) if v.len() > KEEP_SMALL);
    Field {
        name: f.name.clone(),
        value,
        show: if replaced {
            Some(
                format!(
                    "{} bytes not kept (over the decoded-content budget, --limit decoded-total): their SHA-256",
                    bytes.len()
                )
                .into(),
            )
        } else {
            f.show.clone()
        },
        span: None,
        depth: f.depth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Dir, Span, Timestamp};

    fn step_with(len: usize) -> Step {
        let mut s = Step::new(0, Dir::C2s, "websocket.inflate", Timestamp::default());
        let stream = s.add_buffer(
            "stream",
            Origin::Stream { offset: 0 },
            Arc::from(&b"abc"[..]),
        );
        let b = s.add_buffer("inflated", Origin::Derived, Arc::from(vec![b'x'; len]));
        s.fields.push(
            Field::new("websocket.inflate.text", "x".repeat(len)).span(Span::bytes(b, 0, len)),
        );
        s.fields.push(
            Field::new("websocket.payload", Value::SpanBytes).span(Span::bytes(stream, 0, 3)),
        );
        s
    }

    #[test]
    fn derived_buffers_and_their_texts_count_stream_slices_do_not() {
        assert_eq!(decoded_bytes(&step_with(100)), 200);
    }

    #[test]
    fn a_streaming_sink_is_held_to_one_step_at_a_time() {
        let mut b = Budget::new(250, false);
        for _ in 0..10 {
            assert!(b.admit(&step_with(100)).is_none());
        }
        assert_eq!(b.held(), 0);
        let over = b.admit(&step_with(200)).expect("one step over the budget");
        assert_eq!(over.findings.len(), 1);
    }

    #[test]
    fn a_keeping_sink_adds_up_and_gets_digests_past_the_budget() {
        let mut b = Budget::new(500, true);
        assert!(b.admit(&step_with(100)).is_none());
        assert!(b.admit(&step_with(100)).is_none());
        assert_eq!(b.held(), 400);
        let s = b.admit(&step_with(100)).expect("past the budget");
        assert_eq!(b.held(), 400, "a digested step holds nothing");
        assert_eq!(s.findings[0].rule.id, "limit.decoded-total");
        assert_eq!(decoded_bytes(&s), 0);
        let text = s.field("websocket.inflate.text").unwrap();
        let digest = hex::encode(Sha256::digest(vec![b'x'; 100]));
        assert_eq!(text.value, Value::Str(format!("sha256:{digest}")));
        assert!(
            text.show
                .as_deref()
                .unwrap()
                .starts_with("100 bytes not kept")
        );
        // The stream's bytes stay.
        assert_eq!(
            s.span_bytes(&s.field("websocket.payload").unwrap().span.unwrap()),
            Some(&b"abc"[..])
        );
        // The finding is said once per run.
        let again = b.admit(&step_with(100)).unwrap();
        assert!(again.findings.is_empty());
        // Small steps that still fit are kept in full.
        assert!(b.admit(&step_with(40)).is_none());
        assert_eq!(b.held(), 480);
    }
}
