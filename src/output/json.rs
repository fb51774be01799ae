//! The JSON shapes of steps, connections and findings, shared by the ndjson
//! and JSON documents.

use serde_json::{Map, Value as J, json};

use super::pretty::Pretty;
use crate::analyze::{CaptureInfo, Rendered, Report};
use crate::error::CaptureError;
use crate::step::{Field, Finding, Step, Timestamp, Value};
use crate::tcp::{ConnMeta, ConnStats};

/// A field's value as Wireshark types it: booleans, integers, lowercase hex
/// for bytes, strings, embedded JSON for Engine.IO / Socket.IO data.
pub fn field_value(step: &Step, f: &Field) -> J {
    match &f.value {
        Value::Bool(b) => J::Bool(*b),
        Value::UInt(v) => json!(v),
        Value::Int(v) => json!(v),
        Value::Float(v) => json!(v),
        Value::Str(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(lower_hex(b)),
        Value::SpanBytes => J::String(
            f.span
                .and_then(|s| step.span_bytes(&s))
                .map(lower_hex)
                .unwrap_or_default(),
        ),
        Value::Json(v) => v.clone(),
    }
}

/// Lowercase hex, as `hex::encode` gives, into a buffer sized once:
/// payloads are most of what `--format ndjson` writes, and the crate's
/// char-at-a-time iterator was half of its profile on bulk traffic.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(bytes, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// `{name: value}`, names in first-appearance order; a name that repeats
/// (HTTP headers, Socket.IO attachments) becomes the array of its values in
/// order. Linear: a hostile request has ten thousand headers.
pub fn fields(step: &Step) -> Map<String, J> {
    let mut map = Map::new();
    // Names already turned into arrays by repetition (an array-valued
    // field is not one).
    let mut repeated: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for f in &step.fields {
        let v = field_value(step, f);
        let name = f.name.as_ref();
        match map.get_mut(name) {
            None => {
                map.insert(name.to_owned(), v);
            }
            Some(J::Array(a)) if repeated.contains(name) => a.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = J::Array(vec![first, v]);
                repeated.insert(name);
            }
        }
    }
    map
}

pub fn finding(f: &Finding) -> J {
    json!({
        "rule": f.rule.id,
        "severity": f.rule.severity.as_str(),
        "section": f.rule.section,
        "message": f.message,
    })
}

/// Seconds since the first packet, rounded to the nanosecond.
pub fn rel_time(t: Timestamp, origin: Timestamp) -> J {
    let ns = t.as_nanos() - origin.as_nanos();
    // Keep the decimal exact: nanoseconds as an f64 of seconds prints with
    // float noise; go through a decimal string. Rust's parse rounds
    // correctly, as serde_json's `float_roundtrip` does.
    let s = format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    );
    s.parse::<f64>().map(J::from).unwrap_or(J::Null)
}

/// Absolute capture time as seconds since the epoch (a decimal string keeps
/// every nanosecond).
pub fn abs_time(t: Timestamp) -> String {
    format!("{}.{:09}", t.secs, t.nanos)
}

/// A step as its JSON object: the `json` document's steps, and the
/// reference [`super::jsonw::step`] (ndjson's writer) is tested against.
pub fn step(s: &Step, number: u64, origin: Timestamp) -> J {
    let mut m = Map::new();
    m.insert("type".into(), "step".into());
    m.insert("step".into(), number.into());
    m.insert("conn".into(), s.conn.into());
    m.insert("dir".into(), s.dir.as_str().into());
    m.insert("frames".into(), s.frames.as_slice().into());
    m.insert("time".into(), rel_time(s.time, origin));
    m.insert("kind".into(), s.kind.into());
    if let Some(sess) = s.session {
        m.insert("session".into(), sess.into());
    }
    m.insert("summary".into(), s.summary.as_str().into());
    m.insert("fields".into(), J::Object(fields(s)));
    m.insert(
        "findings".into(),
        J::Array(s.findings.iter().map(finding).collect()),
    );
    J::Object(m)
}

pub fn connection(m: &ConnMeta, origin: Timestamp) -> J {
    json!({
        "type": "connection",
        "conn": m.id,
        "client": m.client.to_string(),
        "server": m.server.to_string(),
        "role_guessed": m.role_guessed,
        "first_frame": m.first.frame,
        "time": rel_time(m.first.time, origin),
    })
}

pub fn capture(info: &CaptureInfo) -> J {
    json!({
        "type": "capture",
        "schema": super::SCHEMA_VERSION,
        "file": info.name,
        "format": info.format.describe(),
        "start": abs_time(info.origin),
    })
}

pub fn conn_stats(c: &ConnStats, origin: Timestamp) -> J {
    let dir = |d: &crate::tcp::HalfStats| {
        json!({
            "packets": d.packets,
            "bytes": d.bytes,
            "retransmissions": d.retransmissions,
            "out_of_order": d.out_of_order,
            "gaps": d.gaps,
            "gap_bytes": d.gap_bytes,
        })
    };
    json!({
        "conn": c.meta.id,
        "client": c.meta.client.to_string(),
        "server": c.meta.server.to_string(),
        "role_guessed": c.meta.role_guessed,
        "first_frame": c.meta.first.frame,
        "last_frame": c.last.frame,
        "start": rel_time(c.meta.first.time, origin),
        "end": rel_time(c.last.time, origin),
        "ending": c.ending.as_str(),
        "overlap_conflicts": c.overlap_conflicts,
        "c2s": dir(&c.dirs[0]),
        "s2c": dir(&c.dirs[1]),
    })
}

pub fn summary(r: &Report, error: Option<&CaptureError>) -> J {
    let mut by_severity = Map::new();
    for sev in ["MUST", "SHOULD", "INFO"] {
        by_severity.insert(sev.into(), json!(0));
    }
    for (id, n) in &r.findings {
        if let Some(rule) = crate::rules::by_id(id)
            && let Some(J::Number(c)) = by_severity.get(rule.severity.as_str())
        {
            let c = c.as_u64().unwrap_or(0) + n;
            by_severity.insert(rule.severity.as_str().into(), json!(c));
        }
    }
    json!({
        "type": "summary",
        "packets": r.packets,
        "tcp_packets": r.tcp_packets,
        "non_tcp_packets": r.non_tcp_packets,
        "connections": r.connections.len(),
        "steps": r.steps,
        "findings": by_severity,
        "rules": r.findings,
        "notices": r.notices.iter().map(|n| n.message.clone()).collect::<Vec<_>>(),
        "error": error.map(|e| e.to_string()),
    })
}

/// `dispel explain --format json`: the whole trace as one document, built
/// from the same objects as the ndjson lines (documented in
/// `docs/output-formats.md`). The document lists connections and sessions
/// before steps, and both are known only at the end, so each step is
/// rendered as it comes (pretty, at its final indentation) into a [`Spill`],
/// which is copied out at the end: memory holds one step at a time, never
/// the document.
pub struct JsonSink<W: std::io::Write> {
    out: W,
    filter: super::Filter,
    origin: Timestamp,
    capture: Option<J>,
    /// The rendered members of `connections`, `sessions` and `steps`.
    connections: Pretty<Vec<u8>>,
    sessions: Pretty<Vec<u8>>,
    steps: Pretty<Spill>,
    /// The step being written, compact.
    line: Vec<u8>,
}

impl<W: std::io::Write> JsonSink<W> {
    pub fn new(out: W, filter: super::Filter) -> JsonSink<W> {
        JsonSink {
            out,
            filter,
            origin: Timestamp::default(),
            capture: None,
            connections: Pretty::nested(Vec::new(), 2, false),
            sessions: Pretty::nested(Vec::new(), 2, false),
            steps: Pretty::nested(Spill::default(), 2, false),
            line: Vec::new(),
        }
    }
}

/// Rendered steps: in memory up to [`Spill::AT`] bytes, then in an unnamed
/// temporary file (removed when dropped), so a long trace costs disk, not
/// memory. If no temporary file can be made, everything stays in memory.
#[derive(Default)]
pub struct Spill {
    mem: Vec<u8>,
    file: Option<std::fs::File>,
    /// A temporary file could not be made: stop trying.
    no_file: bool,
}

impl Spill {
    const AT: usize = 1 << 20;

    /// Writes everything spilled, in order, to `out`.
    fn copy_to(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom, Write as _};
        if let Some(f) = &mut self.file {
            f.flush()?;
            f.seek(SeekFrom::Start(0))?;
            std::io::copy(f, out)?;
        }
        out.write_all(&self.mem)
    }
}

impl std::io::Write for Spill {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.mem.len() + buf.len() >= Spill::AT && !self.no_file {
            if self.file.is_none() {
                match tempfile::tempfile() {
                    Ok(f) => self.file = Some(f),
                    Err(_) => self.no_file = true,
                }
            }
            if let Some(f) = &mut self.file {
                // A long run (a 16 MiB payload's hex) goes straight on.
                f.write_all(&self.mem)?;
                self.mem.clear();
                f.write_all(buf)?;
                return Ok(buf.len());
            }
        }
        self.mem.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An Engine.IO session, from its `engineio.session` step.
fn session(s: &Step, number: u64) -> J {
    let f = fields(s);
    let get = |k: &str| f.get(k).cloned().unwrap_or(J::Null);
    let conns: Vec<u64> = f
        .get("engineio.session.connections")
        .and_then(J::as_str)
        .unwrap_or_default()
        .split(", ")
        .filter_map(|c| c.parse().ok())
        .collect();
    json!({
        "session": s.session,
        "sid": get("engineio.sid"),
        "version": get("engineio.version"),
        "connections": conns,
        "transports": get("engineio.session.transports"),
        "packets": get("engineio.session.packets"),
        "upgraded": get("engineio.session.upgraded"),
        "duration_ms": get("engineio.session.duration_ms"),
        "upgrade": get("engineio.session.upgrade"),
        "end_by": get("engineio.session.end.by"),
        "end_cause": get("engineio.session.end.cause"),
        "follows": get("engineio.session.follows"),
        "step": number,
    })
}

impl<W: std::io::Write> crate::analyze::Sink for JsonSink<W> {
    fn capture(&mut self, info: &CaptureInfo) -> std::io::Result<()> {
        self.origin = info.origin;
        self.capture = Some(capture(info));
        Ok(())
    }

    fn connection(&mut self, meta: &ConnMeta) -> std::io::Result<()> {
        if self.filter.conn_shown(meta.id) {
            self.connections.element()?;
            self.connections.value(&connection(meta, self.origin))?;
        }
        Ok(())
    }

    fn step(&mut self, n: u64, s: &Step, _: Rendered<'_>) -> std::io::Result<()> {
        // (A refused handshake's summary opened no session: only a step.)
        if s.kind == "engineio.session" && s.session.is_some() {
            self.sessions.element()?;
            self.sessions.value(&session(s, n))?;
        }
        if self.filter.step_shown(s) {
            // The ndjson writer's bytes (serde_json's for `step`), re-laid
            // pretty: no value tree of a 16 MiB payload is built.
            self.line.clear();
            super::jsonw::step(&mut self.line, s, n, self.origin);
            self.steps.element()?;
            self.steps.compact(&self.line)?;
            // A 16 MiB payload's line does not keep its room for the run.
            if self.line.capacity() > Spill::AT {
                self.line = Vec::new();
            }
        }
        Ok(())
    }

    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> std::io::Result<()> {
        let mut doc = Pretty::new(&mut self.out);
        doc.open(b'{')?;
        doc.entry("schema", &J::from(super::SCHEMA_VERSION))?;
        doc.entry("capture", &self.capture.take().unwrap_or(J::Null))?;
        for (key, part) in [
            ("connections", &mut self.connections),
            ("sessions", &mut self.sessions),
        ] {
            doc.key(key)?;
            doc.open(b'[')?;
            doc.raw().write_all(part.raw())?;
            doc.set_nonempty(part.nonempty());
            doc.close(b']')?;
            *part = Pretty::nested(Vec::new(), 2, false);
        }
        doc.key("steps")?;
        doc.open(b'[')?;
        self.steps.raw().copy_to(doc.raw())?;
        doc.set_nonempty(self.steps.nonempty());
        doc.close(b']')?;
        self.steps = Pretty::nested(Spill::default(), 2, false);
        doc.entry("summary", &summary(report, error))?;
        doc.close(b'}')?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::Spill;
    use std::io::Write;

    /// What goes into a spill comes out in order, across the move from
    /// memory to the temporary file and after it.
    #[test]
    fn spill_keeps_every_byte_in_order() {
        let mut spill = Spill::default();
        let mut want = Vec::new();
        for i in 0..40_000u32 {
            let chunk = format!("{i:08} {}\n", "x".repeat((i % 97) as usize));
            spill.write_all(chunk.as_bytes()).unwrap();
            want.extend_from_slice(chunk.as_bytes());
        }
        assert!(want.len() > 2 * Spill::AT);
        assert!(spill.file.is_some() && spill.mem.len() < Spill::AT);
        let long = vec![b'h'; 3 * Spill::AT];
        spill.write_all(&long).unwrap();
        want.extend_from_slice(&long);
        assert!(
            spill.mem.capacity() < 2 * Spill::AT,
            "a long write stays out of memory"
        );
        spill.write_all(b"tail").unwrap();
        want.extend_from_slice(b"tail");
        let mut got = Vec::new();
        spill.copy_to(&mut got).unwrap();
        assert!(got == want);
    }
}
