//! `dispel check --format text`: per capture, the non-OK verdicts with their
//! evidence and every expectation, then a summary table. Verdict words may
//! be coloured (see [`Paint`]); everything from a capture is escaped.

use std::io::{self, Write};

use super::{CaptureCheck, Evidence, Status, Verdict};
use crate::output::text::frames_label;
use crate::sanitize::escape;

/// Evidence lines shown per rule in text (the JSON formats list them all).
const SHOWN_EVIDENCE: usize = 3;

/// ANSI colour for verdict words, or none. Decided once by the CLI from
/// `--color` and `NO_COLOR`; kept tiny on purpose (four SGR codes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    pub enabled: bool,
}

impl Paint {
    /// `--color auto|always|never`: `always` and `never` win; `auto` colours
    /// only a terminal, and only when `NO_COLOR` is unset or empty
    /// (<https://no-color.org>).
    pub fn decide(choice: &str, is_terminal: bool, no_color: Option<&str>) -> Paint {
        let enabled = match choice {
            "always" => true,
            "never" => false,
            _ => is_terminal && no_color.is_none_or(str::is_empty),
        };
        Paint { enabled }
    }

    fn paint(&self, code: &str, word: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{word}\x1b[0m")
        } else {
            word.to_string()
        }
    }

    pub fn verdict(&self, v: Verdict) -> String {
        let code = match v {
            Verdict::Ok => "32",
            Verdict::NonStrict => "33",
            Verdict::Failed => "1;31",
            Verdict::Informational => "36",
        };
        self.paint(code, v.as_str())
    }

    pub fn pass(&self, passed: bool) -> String {
        if passed {
            self.paint("32", "PASS")
        } else {
            self.paint("1;31", "FAIL")
        }
    }

    pub fn status(&self, s: Status) -> String {
        match s {
            Status::Passed => self.paint("32", "passed"),
            Status::Failed => self.paint("1;31", "failed"),
            Status::Error => self.paint("1;35", "error"),
        }
    }
}

/// Evidence as one line: `step 40, conn 0 s2c, packets 31: message`.
pub fn evidence_line(e: &Evidence) -> String {
    let mut s = format!(
        "step {}, conn {} {}, {} {}",
        e.step,
        e.conn,
        e.dir.as_str(),
        if e.frames.len() == 1 {
            "packet"
        } else {
            "packets"
        },
        frames_label(&e.frames)
    );
    if e.frames_omitted > 0 {
        s.push_str(&format!(" and {} more", e.frames_omitted));
    }
    if !e.message.is_empty() {
        s.push_str(": ");
        s.push_str(&escape(&e.message));
    }
    s
}

/// Writes the text report of every capture and the summary table.
pub fn text(
    out: &mut dyn Write,
    checks: &[CaptureCheck],
    expect_title: Option<&str>,
    strict: bool,
    paint: Paint,
) -> io::Result<()> {
    for c in checks {
        capture(out, c, expect_title, strict, paint)?;
    }
    if checks.len() > 1 {
        table(out, checks, strict, paint)?;
    }
    Ok(())
}

fn capture(
    out: &mut dyn Write,
    c: &CaptureCheck,
    expect_title: Option<&str>,
    strict: bool,
    paint: Paint,
) -> io::Result<()> {
    let status = c.status(strict);
    write!(out, "{}  {}", escape(&c.file), paint.status(status))?;
    if let Some(f) = c.format {
        write!(
            out,
            "  ({f}, {} packets, {} {}, {} steps)",
            c.packets,
            c.connections,
            if c.connections == 1 {
                "connection"
            } else {
                "connections"
            },
            c.steps
        )?;
    }
    writeln!(out)?;
    if let Some(e) = &c.error {
        match c.partial() {
            Some(n) => writeln!(
                out,
                "  read in part: {}; the verdicts below cover packets 1–{n}, before the damage",
                escape(e)
            )?,
            None => writeln!(out, "  could not be read: {}", escape(e))?,
        }
    }
    for r in c.rules.iter().filter(|r| r.verdict != Verdict::Ok) {
        writeln!(
            out,
            "  {:<w$}  {}  ({}, {}): {}",
            paint.verdict(r.verdict),
            r.rule.id,
            r.rule.severity.as_str(),
            r.rule.section,
            r.rule.title,
            w = if paint.enabled { 13 + 9 } else { 13 },
        )?;
        for e in r.evidence.iter().take(SHOWN_EVIDENCE) {
            writeln!(out, "      {}", evidence_line(e))?;
        }
        if r.count > SHOWN_EVIDENCE as u64 {
            writeln!(
                out,
                "      … {} more (the first {} in --format json)",
                r.count - SHOWN_EVIDENCE as u64,
                crate::check::MAX_EVIDENCE
            )?;
        }
    }
    if !c.rules.is_empty() {
        let n = c.counts();
        writeln!(
            out,
            "  {} rules{}: {} {}, {} {}, {} {}, {} {}",
            c.rules.len(),
            match c.partial() {
                Some(n) => format!(" (over packets 1–{n} only)"),
                None => String::new(),
            },
            n[0],
            paint.verdict(Verdict::Ok),
            n[1],
            paint.verdict(Verdict::NonStrict),
            n[2],
            paint.verdict(Verdict::Failed),
            n[3],
            paint.verdict(Verdict::Informational),
        )?;
    }
    if !c.expectations.is_empty() {
        match expect_title {
            Some(t) => writeln!(out, "  expectations: {}", escape(t))?,
            None => writeln!(out, "  expectations:")?,
        }
        for e in &c.expectations {
            writeln!(
                out,
                "  {}  {}: {}",
                paint.pass(e.passed),
                escape(&e.name),
                escape(&e.requirement)
            )?;
            writeln!(out, "        {}", escape(&e.detail))?;
            if !e.passed {
                for ev in e
                    .evidence
                    .iter()
                    .filter(|ev| !ev.message.is_empty())
                    .take(SHOWN_EVIDENCE)
                {
                    writeln!(out, "        {}", evidence_line(ev))?;
                }
            }
        }
    }
    writeln!(out)
}

/// The summary table: captures × verdict counts.
fn table(
    out: &mut dyn Write,
    checks: &[CaptureCheck],
    strict: bool,
    paint: Paint,
) -> io::Result<()> {
    let names: Vec<String> = checks
        .iter()
        .map(|c| escape(&c.file).into_owned())
        .collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    writeln!(
        out,
        "{:<w$}  {:>4}  {:>10}  {:>6}  {:>13}  {:>8}  status",
        "capture", "OK", "NON-STRICT", "FAILED", "INFORMATIONAL", "expected"
    )?;
    let mut totals = [0u64; 4];
    let mut by_status = [0usize; 3];
    let mut partial = 0;
    for (c, name) in checks.iter().zip(&names) {
        let n = c.counts();
        // A capture read in part has OKs only for what was read: they are
        // not added to the totals as a whole capture's (marked `*`).
        let in_part = c.partial().is_some();
        partial += usize::from(in_part);
        for (i, (t, v)) in totals.iter_mut().zip(n).enumerate() {
            if !(in_part && i == Verdict::Ok as usize) {
                *t += v;
            }
        }
        let ok = if in_part {
            format!("{}*", n[0])
        } else {
            n[0].to_string()
        };
        let status = c.status(strict);
        by_status[status as usize] += 1;
        let expected = if c.expectations.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{}/{}",
                c.expectations.len() - c.expectations_failed(),
                c.expectations.len()
            )
        };
        writeln!(
            out,
            "{name:<w$}  {ok:>4}  {:>10}  {:>6}  {:>13}  {expected:>8}  {}",
            n[1],
            n[2],
            n[3],
            paint.status(status)
        )?;
    }
    writeln!(
        out,
        "{:<w$}  {:>4}  {:>10}  {:>6}  {:>13}",
        "total", totals[0], totals[1], totals[2], totals[3]
    )?;
    if partial > 0 {
        writeln!(
            out,
            "* read in part: OKs over the packets before the damage, not in the total"
        )?;
    }
    writeln!(
        out,
        "{} captures: {} passed, {} failed, {} could not be read{}",
        checks.len(),
        by_status[Status::Passed as usize],
        by_status[Status::Failed as usize],
        by_status[Status::Error as usize],
        if partial > 0 {
            format!(" ({partial} of them read in part)")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_flag_then_no_color_then_the_terminal() {
        assert!(Paint::decide("always", false, Some("1")).enabled);
        assert!(!Paint::decide("never", true, None).enabled);
        assert!(Paint::decide("auto", true, None).enabled);
        assert!(Paint::decide("auto", true, Some("")).enabled);
        assert!(!Paint::decide("auto", true, Some("1")).enabled);
        assert!(!Paint::decide("auto", false, None).enabled);
        let p = Paint { enabled: true };
        assert_eq!(p.verdict(Verdict::Failed), "\x1b[1;31mFAILED\x1b[0m");
        assert_eq!(Paint::default().verdict(Verdict::NonStrict), "NON-STRICT");
    }

    /// Synthetic evidence: a capped packet list says how many were left
    /// out; the message is escaped.
    #[test]
    fn evidence_lines_say_what_the_packet_list_left_out() {
        let mut e = Evidence {
            step: 7,
            conn: 2,
            dir: crate::step::Dir::C2s,
            frames: (10..110).collect(),
            frames_omitted: 0,
            kind: "engineio.packet",
            message: "bad\u{202e}".into(),
        };
        assert_eq!(
            evidence_line(&e),
            "step 7, conn 2 c2s, packets 10–109: bad\\u{202e}"
        );
        e.frames_omitted = 1900;
        assert_eq!(
            evidence_line(&e),
            "step 7, conn 2 c2s, packets 10–109 and 1900 more: bad\\u{202e}"
        );
    }
}
