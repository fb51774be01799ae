//! `dispel check --format csv`: one row per capture, for spreadsheets.
//!
//! Columns: `file,status,format,packets,connections,steps,ok,non_strict,
//! failed,informational,expectations_passed,expectations_failed,
//! failed_rules,failed_expectations,error`. The two list columns are
//! `;`-separated. Quoting follows RFC 4180: a value containing a comma, a
//! quote, CR or LF is quoted and its quotes doubled. Values that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`) are
//! prefixed with `'`, since file names and messages come from users.
//! Control and bidirectional characters are escaped as in text output.

use std::io::{self, Write};

use crate::check::CaptureCheck;

pub const HEADER: &[&str] = &[
    "file",
    "status",
    "format",
    "packets",
    "connections",
    "steps",
    "ok",
    "non_strict",
    "failed",
    "informational",
    "expectations_passed",
    "expectations_failed",
    "failed_rules",
    "failed_expectations",
    "error",
];

/// One CSV field. Control and bidirectional characters other than line
/// breaks and tabs are shown escaped (`\x1b`, `\u{202e}`), as in text.
pub fn field(s: &str) -> String {
    let s = crate::sanitize::escape_with(s, true);
    let s: String = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.into_owned()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn write(out: &mut dyn Write, checks: &[CaptureCheck], strict: bool) -> io::Result<()> {
    writeln!(out, "{}", HEADER.join(","))?;
    for c in checks {
        let n = c.counts();
        let failed_rules: Vec<&str> = c
            .rules
            .iter()
            .filter(|r| r.verdict.fails(strict))
            .map(|r| r.rule.id)
            .collect();
        let failed_exp: Vec<&str> = c
            .expectations
            .iter()
            .filter(|e| !e.passed)
            .map(|e| e.name.as_str())
            .collect();
        let row = [
            c.file.clone(),
            c.status(strict).as_str().to_string(),
            c.format.unwrap_or_default().to_string(),
            c.packets.to_string(),
            c.connections.to_string(),
            c.steps.to_string(),
            n[0].to_string(),
            n[1].to_string(),
            n[2].to_string(),
            n[3].to_string(),
            (c.expectations.len() - c.expectations_failed()).to_string(),
            c.expectations_failed().to_string(),
            failed_rules.join(";"),
            failed_exp.join(";"),
            c.error_text().unwrap_or_default(),
        ];
        let row: Vec<String> = row.iter().map(|f| field(f)).collect();
        writeln!(out, "{}", row.join(","))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn quoting() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=cmd()"), "'=cmd()");
        assert_eq!(field("a\u{9b}b\u{202e}"), "a\\u{9b}b\\u{202e}");
    }
}
