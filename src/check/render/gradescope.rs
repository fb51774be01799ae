//! `dispel check --format gradescope`: Gradescope's autograder
//! `results.json` (the "Autograder Specifications" output format: a
//! top-level `score`, `output`, and `tests`, each with `name`, `score`,
//! `max_score`, `status` `passed` | `failed` and `output`).
//!
//! Scores come from the expectations file: each expectation is a test worth
//! its `weight` (1 unless written), all of it when it passes, nothing when
//! it fails. Without an expectations file each capture is one test worth 1
//! point: passed when `dispel check` passes it. Every rule that did not get
//! OK is a test worth 0 points, so the student sees its evidence beside the
//! score without it changing the score (grade protocol rules with a
//! weighted `no_findings` expectation).
//!
//! A capture read only in part is said to be partial in every test's
//! output; a pass that more packets could have undone (`no_findings`,
//! `at_most`, `exactly`) is not proven on it, and scores nothing. A capture
//! that could not be read at all fails every expectation.
//!
//! Several captures (a submission of several files) each get their tests,
//! named after the file; the score is the sum.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::{Map, Value as J, json};

use crate::check::expect::ExpectFile;
use crate::check::report::evidence_line;
use crate::check::{CaptureCheck, Status, Verdict};

/// Evidence lines in one test's output (the JSON format lists them all).
const SHOWN_EVIDENCE: usize = 10;

/// One Gradescope test.
struct Test {
    name: String,
    score: f64,
    max_score: f64,
    passed: bool,
    output: String,
}

impl Test {
    /// The test as Gradescope reads it. Text from a capture or a file name
    /// is escaped (no raw control or BiDi character), line breaks kept.
    fn json(&self) -> J {
        use crate::sanitize::{escape, escape_with};
        json!({
            "name": escape(&self.name),
            "score": self.score,
            "max_score": self.max_score,
            "status": if self.passed { "passed" } else { "failed" },
            "output": escape_with(&self.output, true),
        })
    }
}

/// What a capture read only in part covers, for every test's output.
pub fn partial_note(c: &CaptureCheck) -> Option<String> {
    match &c.error {
        Some(e) if c.packets > 0 => Some(format!(
            "partial: the capture could be read only up to packet {} ({e}); these verdicts cover the packets before the damage",
            c.packets
        )),
        _ => None,
    }
}

fn tests_of(
    c: &CaptureCheck,
    expect: Option<&ExpectFile>,
    strict: bool,
    prefix: &str,
) -> Vec<Test> {
    let mut v = Vec::new();
    let partial = partial_note(c);
    let unreadable = c.error.is_some() && c.packets == 0;
    let with_note = |mut out: String| {
        if let Some(n) = &partial {
            out.insert_str(0, &format!("{n}.\n"));
        }
        out
    };
    match expect {
        None => {
            let status = c.status(strict);
            let passed = status == Status::Passed;
            let mut out = match (&c.error, status) {
                (Some(e), _) if unreadable => format!("the capture could not be read: {e}"),
                _ => {
                    let n = c.counts();
                    format!(
                        "{} rules: {} OK, {} NON-STRICT, {} FAILED, {} INFORMATIONAL",
                        c.rules.len(),
                        n[0],
                        n[1],
                        n[2],
                        n[3]
                    )
                }
            };
            if partial.is_some() {
                out.push_str("\nnot counted as a pass: the capture was read only in part");
            }
            v.push(Test {
                name: format!("{prefix}dispel check"),
                score: if passed { 1.0 } else { 0.0 },
                max_score: 1.0,
                passed,
                output: with_note(out),
            });
        }
        Some(file) if unreadable => {
            for e in &file.expect {
                v.push(Test {
                    name: format!("{prefix}{}", e.name),
                    score: 0.0,
                    max_score: e.weight,
                    passed: false,
                    output: format!(
                        "the capture could not be read: {}",
                        c.error.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        Some(_) => {
            for o in &c.expectations {
                let proven = o.passed && !(partial.is_some() && o.needs_whole_capture);
                let mut out = format!("{}\n{}", o.requirement, o.detail);
                if o.passed && !proven {
                    out.push_str(
                        "\nnot proven: the packets after the damage could break this requirement",
                    );
                }
                for e in o
                    .evidence
                    .iter()
                    .filter(|e| !o.passed || !e.message.is_empty())
                    .take(SHOWN_EVIDENCE)
                {
                    let _ = write!(out, "\n{}", evidence_line(e));
                }
                v.push(Test {
                    name: format!("{prefix}{}", o.name),
                    score: if proven { o.weight } else { 0.0 },
                    max_score: o.weight,
                    passed: proven,
                    output: with_note(out),
                });
            }
        }
    }
    for r in c.rules.iter().filter(|r| r.verdict != Verdict::Ok) {
        let mut out = format!(
            "{} {} ({}, {}): {}\n{} finding(s)",
            r.verdict.as_str(),
            r.rule.id,
            r.rule.severity.as_str(),
            r.rule.section,
            r.rule.title,
            r.count
        );
        for e in r.evidence.iter().take(SHOWN_EVIDENCE) {
            let _ = write!(out, "\n{}", evidence_line(e));
        }
        if r.count > SHOWN_EVIDENCE as u64 {
            let _ = write!(out, "\n… {} more", r.count - SHOWN_EVIDENCE as u64);
        }
        v.push(Test {
            name: format!("{prefix}rule {} ({})", r.rule.id, r.verdict.as_str()),
            score: 0.0,
            max_score: 0.0,
            passed: !r.verdict.fails(strict),
            output: with_note(out),
        });
    }
    v
}

/// The `results.json` document.
pub fn document(checks: &[CaptureCheck], expect: Option<&ExpectFile>, strict: bool) -> J {
    let several = checks.len() > 1;
    let mut tests = Vec::new();
    let mut score = 0.0;
    let mut max = 0.0;
    let mut partial = 0;
    for c in checks {
        let prefix = if several {
            format!("{}: ", crate::sanitize::escape(&c.file))
        } else {
            String::new()
        };
        if partial_note(c).is_some() {
            partial += 1;
        }
        for t in tests_of(c, expect, strict, &prefix) {
            score += t.score;
            max += t.max_score;
            tests.push(t.json());
        }
    }
    let mut output = format!(
        "dispel check: {score} of {max} points over {} capture(s)",
        checks.len()
    );
    if partial > 0 {
        let _ = write!(
            output,
            "; {partial} read only in part (their passes that more packets could undo score nothing)"
        );
    }
    let mut doc = Map::new();
    doc.insert("score".into(), json!(score));
    doc.insert("output".into(), J::from(output));
    doc.insert("tests".into(), J::Array(tests));
    J::Object(doc)
}

/// Writes `results.json` to `out`, then a line break.
pub fn write(
    out: &mut dyn Write,
    checks: &[CaptureCheck],
    expect: Option<&ExpectFile>,
    strict: bool,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(checks, expect, strict))?;
    out.write_all(b"\n")?;
    out.flush()
}
