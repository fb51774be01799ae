//! The JSON shapes of steps, connections and findings, shared by the ndjson
//! and JSON documents.

use serde_json::{Map, Value as J, json};

use crate::analyze::{CaptureInfo, Report};
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
        Value::Bytes(b) => J::String(hex::encode(b)),
        Value::SpanBytes => J::String(
            f.span
                .and_then(|s| step.span_bytes(&s))
                .map(hex::encode)
                .unwrap_or_default(),
        ),
        Value::Json(v) => v.clone(),
    }
}

/// `{name: value}`; a name that repeats (HTTP headers, Socket.IO arguments)
/// becomes an array of its values in order.
pub fn fields(step: &Step) -> Map<String, J> {
    let mut map = Map::new();
    for f in &step.fields {
        let v = field_value(step, f);
        match map.get_mut(f.name.as_ref()) {
            None => {
                map.insert(f.name.to_string(), v);
            }
            Some(J::Array(a)) if is_repeated(step, f) => a.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = J::Array(vec![first, v]);
            }
        }
    }
    map
}

/// Whether the earlier value under this name is already an array built by
/// repetition (rather than an array-valued field).
fn is_repeated(step: &Step, f: &Field) -> bool {
    step.fields.iter().filter(|g| g.name == f.name).count() > 2
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
    // float noise; go through a decimal string.
    let s = format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    );
    serde_json::from_str::<serde_json::Number>(&s)
        .map(J::Number)
        .unwrap_or(J::Null)
}

/// Absolute capture time as seconds since the epoch (a decimal string keeps
/// every nanosecond).
pub fn abs_time(t: Timestamp) -> String {
    format!("{}.{:09}", t.secs, t.nanos)
}

pub fn step(s: &Step, number: u64, origin: Timestamp) -> J {
    let mut o = Map::new();
    o.insert("type".into(), "step".into());
    o.insert("step".into(), json!(number));
    o.insert("conn".into(), json!(s.conn));
    o.insert("dir".into(), s.dir.as_str().into());
    o.insert("frames".into(), json!(s.frames));
    o.insert("time".into(), rel_time(s.time, origin));
    o.insert("kind".into(), s.kind.into());
    if let Some(sess) = s.session {
        o.insert("session".into(), json!(sess));
    }
    o.insert("summary".into(), s.summary.clone().into());
    o.insert("fields".into(), J::Object(fields(s)));
    o.insert(
        "findings".into(),
        J::Array(s.findings.iter().map(finding).collect()),
    );
    J::Object(o)
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
