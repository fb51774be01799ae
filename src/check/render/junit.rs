//! `dispel check --format junit`: JUnit XML for CI dashboards.
//!
//! One `<testsuite>` per capture, one `<testcase>` per rule and per
//! expectation. FAILED verdicts and failed expectations are `<failure>`s
//! (NON-STRICT too under `--strict`); NON-STRICT and INFORMATIONAL evidence
//! otherwise goes to the test case's `<system-out>`; a capture that could not
//! be read has an `<error>`. Text from captures is escaped, and characters
//! XML 1.0 forbids (most C0 controls, lone surrogates cannot occur in Rust
//! strings, U+FFFE/U+FFFF) are dropped, so the document always parses;
//! DEL, C1 and bidirectional controls are written as character references
//! (`&#x202e;`), so none reaches a terminal raw.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::check::report::evidence_line;
use crate::check::{CaptureCheck, Verdict};

/// Whether XML 1.0 allows the character at all (§2.2 `Char`).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Escapes text for an attribute value or element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|&c| xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // DEL, C1 and the bidirectional controls are legal XML, but
            // never raw on stdout: a character reference keeps their value.
            c if crate::sanitize::is_unsafe(c) => {
                let _ = write!(out, "&#x{:x};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes element content, keeping line breaks readable.
fn escape_text(s: &str) -> String {
    escape(s).replace("&#10;", "\n")
}

struct Case {
    name: String,
    failure: Option<(String, String, String)>,
    error: Option<String>,
    out: Option<String>,
}

pub fn write(out: &mut dyn Write, checks: &[CaptureCheck], strict: bool) -> io::Result<()> {
    let mut doc = String::new();
    doc.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total_tests: usize = checks.iter().map(|c| cases(c, strict).len()).sum();
    let total_fail: usize = checks
        .iter()
        .map(|c| {
            cases(c, strict)
                .iter()
                .filter(|k| k.failure.is_some())
                .count()
        })
        .sum();
    let total_err: usize = checks
        .iter()
        .map(|c| {
            cases(c, strict)
                .iter()
                .filter(|k| k.error.is_some())
                .count()
        })
        .sum();
    let _ = writeln!(
        doc,
        "<testsuites name=\"dispel check\" tests=\"{total_tests}\" failures=\"{total_fail}\" errors=\"{total_err}\">"
    );
    for c in checks {
        let cs = cases(c, strict);
        let _ = writeln!(
            doc,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
            escape(&c.file),
            cs.len(),
            cs.iter().filter(|k| k.failure.is_some()).count(),
            cs.iter().filter(|k| k.error.is_some()).count(),
        );
        for k in &cs {
            let _ = write!(
                doc,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&c.file),
                escape(&k.name)
            );
            if k.failure.is_none() && k.error.is_none() && k.out.is_none() {
                doc.push_str("/>\n");
                continue;
            }
            doc.push_str(">\n");
            if let Some((kind, message, body)) = &k.failure {
                let _ = writeln!(
                    doc,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    escape(kind),
                    escape(message),
                    escape_text(body)
                );
            }
            if let Some(e) = &k.error {
                let _ = writeln!(
                    doc,
                    "      <error type=\"unreadable\" message=\"{}\"/>",
                    escape(e)
                );
            }
            if let Some(o) = &k.out {
                let _ = writeln!(doc, "      <system-out>{}</system-out>", escape_text(o));
            }
            doc.push_str("    </testcase>\n");
        }
        doc.push_str("  </testsuite>\n");
    }
    doc.push_str("</testsuites>\n");
    out.write_all(doc.as_bytes())?;
    out.flush()
}

fn cases(c: &CaptureCheck, strict: bool) -> Vec<Case> {
    let mut v = Vec::new();
    if let Some(e) = c.error_text() {
        v.push(Case {
            name: "read capture".into(),
            failure: None,
            error: Some(e),
            out: None,
        });
    }
    for r in &c.rules {
        let body: String = r.evidence.iter().map(|e| evidence_line(e) + "\n").collect();
        let message = match r.evidence.first() {
            Some(e) => format!(
                "{} {} ({}): {} finding(s); first: {}",
                r.verdict.as_str(),
                r.rule.id,
                r.rule.section,
                r.count,
                e.message
            ),
            None => String::new(),
        };
        let (failure, out) = match r.verdict {
            Verdict::Ok => (None, None),
            v if v.fails(strict) => (Some((v.as_str().to_string(), message, body)), None),
            v => (None, Some(format!("{}: {message}\n{body}", v.as_str()))),
        };
        v.push(Case {
            name: r.rule.id.to_string(),
            failure,
            error: None,
            out,
        });
    }
    for e in &c.expectations {
        let body: String = e.evidence.iter().map(|e| evidence_line(e) + "\n").collect();
        v.push(Case {
            name: format!("expect: {}", e.name),
            failure: (!e.passed).then(|| {
                (
                    "expectation".to_string(),
                    format!("{}: {}", e.requirement, e.detail),
                    body,
                )
            }),
            error: None,
            out: e.passed.then(|| e.detail.clone()),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_forbids() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c\u{fffe}d"), "abcd");
        assert_eq!(escape("tab\there"), "tab&#9;here");
        assert_eq!(escape("\u{1f600}"), "\u{1f600}");
        assert_eq!(escape("a\u{9b}b\u{202e}c\u{7f}"), "a&#x9b;b&#x202e;c&#x7f;");
    }
}
