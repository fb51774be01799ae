//! `dispel check --format json`: one document over every capture, built
//! from the verdicts (documented in `docs/output-formats.md`).

use serde_json::{Map, Value as J, json};

use crate::check::{CaptureCheck, Evidence, Status, Verdict};

/// `dispel check --format json`: one document over every capture.
pub fn check_report(
    checks: &[CaptureCheck],
    strict: bool,
    expect: Option<(&str, Option<&str>)>,
) -> J {
    let ev = |e: &Evidence| {
        json!({
            "step": e.step,
            "conn": e.conn,
            "dir": e.dir.as_str(),
            "frames": e.frames,
            "kind": e.kind,
            "message": e.message,
        })
    };
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
            "exit_code": crate::check::exit_code(checks, strict),
        },
    })
}
