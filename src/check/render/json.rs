//! `dispel check --format json`: one document over every capture
//! (documented in `docs/output-formats.md`), written as it goes: each piece
//! of evidence is rendered alone, so memory holds one of them at a time,
//! never the document (a thousand findings each listing a thousand packets
//! made the whole document, built first, gigabytes).

use std::io::{self, Write};

use serde_json::{Map, Value as J, json};

use crate::check::{CaptureCheck, Evidence, Status, Verdict};
use crate::output::pretty::Pretty;

/// One piece of evidence; `frames_omitted` only when the list was capped.
fn evidence(e: &Evidence) -> J {
    let mut m = Map::new();
    m.insert("step".into(), e.step.into());
    m.insert("conn".into(), e.conn.into());
    m.insert("dir".into(), e.dir.as_str().into());
    m.insert("frames".into(), e.frames.as_slice().into());
    if e.frames_omitted > 0 {
        m.insert("frames_omitted".into(), e.frames_omitted.into());
    }
    m.insert("kind".into(), e.kind.into());
    m.insert("message".into(), e.message.as_str().into());
    J::Object(m)
}

/// Streams `"evidence": [...]`.
fn evidence_list<W: Write>(doc: &mut Pretty<W>, list: &[Evidence]) -> io::Result<()> {
    doc.key("evidence")?;
    doc.open(b'[')?;
    for e in list {
        doc.element()?;
        doc.value(&evidence(e))?;
    }
    doc.close(b']')
}

/// Writes the document, then a line break: the bytes
/// `to_writer_pretty(check_report(…))` gives, one piece of evidence at a
/// time.
pub fn write(
    out: &mut dyn Write,
    checks: &[CaptureCheck],
    strict: bool,
    expect: Option<(&str, Option<&str>)>,
) -> io::Result<()> {
    let mut doc = Pretty::new(&mut *out);
    doc.open(b'{')?;
    doc.entry("schema", &J::from(crate::output::SCHEMA_VERSION))?;
    doc.entry("strict", &J::from(strict))?;
    doc.entry(
        "expectations",
        &expect.map_or(
            J::Null,
            |(file, title)| json!({"file": file, "title": title}),
        ),
    )?;
    doc.key("captures")?;
    doc.open(b'[')?;
    for c in checks {
        doc.element()?;
        doc.open(b'{')?;
        doc.entry("file", &J::from(c.file.as_str()))?;
        doc.entry("status", &J::from(c.status(strict).as_str()))?;
        doc.entry("error", &json!(c.error))?;
        // Read in part: the verdicts cover the packets before the damage.
        doc.entry("partial", &J::from(c.partial().is_some()))?;
        doc.entry("format", &json!(c.format))?;
        doc.entry("packets", &json!(c.packets))?;
        doc.entry("connections", &json!(c.connections))?;
        doc.entry("steps", &json!(c.steps))?;
        let counts = c.counts();
        let mut verdicts = Map::new();
        for v in Verdict::ALL {
            verdicts.insert(v.as_str().into(), json!(counts[v as usize]));
        }
        doc.entry("verdicts", &J::Object(verdicts))?;
        doc.key("rules")?;
        doc.open(b'[')?;
        for r in &c.rules {
            doc.element()?;
            doc.open(b'{')?;
            doc.entry("rule", &J::from(r.rule.id))?;
            doc.entry("severity", &J::from(r.rule.severity.as_str()))?;
            doc.entry("section", &J::from(r.rule.section))?;
            doc.entry("title", &J::from(r.rule.title))?;
            doc.entry("verdict", &J::from(r.verdict.as_str()))?;
            doc.entry("findings", &J::from(r.count))?;
            evidence_list(&mut doc, &r.evidence)?;
            doc.close(b'}')?;
        }
        doc.close(b']')?;
        doc.key("expectations")?;
        doc.open(b'[')?;
        for e in &c.expectations {
            doc.element()?;
            doc.open(b'{')?;
            doc.entry("name", &J::from(e.name.as_str()))?;
            doc.entry("passed", &J::from(e.passed))?;
            doc.entry("requirement", &J::from(e.requirement.as_str()))?;
            doc.entry("detail", &J::from(e.detail.as_str()))?;
            evidence_list(&mut doc, &e.evidence)?;
            doc.close(b'}')?;
        }
        doc.close(b']')?;
        doc.close(b'}')?;
    }
    doc.close(b']')?;
    let count = |s: Status| checks.iter().filter(|c| c.status(strict) == s).count();
    doc.entry(
        "summary",
        &json!({
            "captures": checks.len(),
            "passed": count(Status::Passed),
            "failed": count(Status::Failed),
            "errors": count(Status::Error),
            "partial": checks.iter().filter(|c| c.partial().is_some()).count(),
            "exit_code": crate::check::exit_code(checks, strict),
        }),
    )?;
    doc.close(b'}')?;
    out.write_all(b"\n")
}

/// The document as one value: the reference [`write`] is tested against.
#[cfg(test)]
fn check_report(checks: &[CaptureCheck], strict: bool, expect: Option<(&str, Option<&str>)>) -> J {
    let ev = evidence;
    let captures: Vec<J> = checks
        .iter()
        .map(|c| {
            let counts = c.counts();
            let mut verdicts = Map::new();
            for v in Verdict::ALL {
                verdicts.insert(v.as_str().into(), json!(counts[v as usize]));
            }
            json!({
                "file": c.file,
                "status": c.status(strict).as_str(),
                "error": c.error,
                "partial": c.partial().is_some(),
                "format": c.format,
                "packets": c.packets,
                "connections": c.connections,
                "steps": c.steps,
                "verdicts": verdicts,
                "rules": c.rules.iter().map(|r| json!({
                    "rule": r.rule.id,
                    "severity": r.rule.severity.as_str(),
                    "section": r.rule.section,
                    "title": r.rule.title,
                    "verdict": r.verdict.as_str(),
                    "findings": r.count,
                    "evidence": r.evidence.iter().map(ev).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "expectations": c.expectations.iter().map(|e| json!({
                    "name": e.name,
                    "passed": e.passed,
                    "requirement": e.requirement,
                    "detail": e.detail,
                    "evidence": e.evidence.iter().map(ev).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let count = |s: Status| checks.iter().filter(|c| c.status(strict) == s).count();
    json!({
        "schema": crate::output::SCHEMA_VERSION,
        "strict": strict,
        "expectations": expect.map(|(file, title)| json!({"file": file, "title": title})),
        "captures": captures,
        "summary": {
            "captures": checks.len(),
            "passed": count(Status::Passed),
            "failed": count(Status::Failed),
            "errors": count(Status::Error),
            "partial": checks.iter().filter(|c| c.partial().is_some()).count(),
            "exit_code": crate::check::exit_code(checks, strict),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, check_file};

    /// Every real and hostile capture, and a synthetic piece of evidence
    /// with a capped packet list: the streamed document is byte for byte
    /// the whole-document rendering.
    #[test]
    fn streamed_document_is_the_whole_document() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checks: Vec<CaptureCheck> = ["captures", "tests/hostile"]
            .iter()
            .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .map(|p| check_file(&p, &CheckOptions::default()))
            .collect();
        checks.sort_by(|a, b| a.file.cmp(&b.file));
        assert!(checks.len() > 20);
        let capped = checks
            .iter_mut()
            .flat_map(|c| c.rules.iter_mut())
            .find_map(|r| r.evidence.first_mut())
            .unwrap();
        capped.frames_omitted = 12_345;
        for strict in [false, true] {
            for expect in [None, Some(("x.yaml", Some("t"))), Some(("y.yaml", None))] {
                let mut want = Vec::new();
                crate::output::jsonw::to_writer_pretty(
                    &mut want,
                    &check_report(&checks, strict, expect),
                )
                .unwrap();
                want.push(b'\n');
                let mut got = Vec::new();
                write(&mut got, &checks, strict, expect).unwrap();
                assert!(got == want, "strict {strict}, expect {expect:?}");
                let text = String::from_utf8(got).unwrap();
                assert!(text.contains("\"frames_omitted\": 12345"));
            }
        }
    }
}
