//! `dispel check`: a grader's verdicts over captures.
//!
//! Each capture gets one verdict per finding rule ([`crate::rules::ALL`]) in
//! the vocabulary of the Autobahn test suite, which students and graders of
//! WebSocket servers already know:
//!
//! | verdict | when |
//! |---|---|
//! | `OK` | the rule never fired |
//! | `NON-STRICT` | a SHOULD of the spec was violated |
//! | `FAILED` | a MUST of the spec was violated |
//! | `INFORMATIONAL` | the rule is an anomaly, not a violation (a retransmission, a gap) |
//!
//! Every non-OK verdict carries its evidence: the steps that earned the
//! findings, their connection and capture packets, and each finding's
//! sentence. An assignment's own requirements come from an expectations
//! file ([`expect`]), checked over the same steps. [`batch`] runs many
//! captures in parallel and returns them in a deterministic order.

pub mod batch;
pub mod expect;
pub mod render;
pub mod report;

use std::io;
use std::path::Path;

use serde_json::{Map, Value as J};

use crate::analyze::{CaptureInfo, Interest, Options, Rendered, Report, RunError, Sink};
use crate::error::CaptureError;
use crate::query::kind_matches;
use crate::rules::{self, Rule};
use crate::step::{ConnId, Dir, Frames, Severity, Step};
use crate::tcp::ConnMeta;

/// One rule's verdict on one capture, in Autobahn's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Ok,
    NonStrict,
    Failed,
    Informational,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 4] = [
        Verdict::Ok,
        Verdict::NonStrict,
        Verdict::Failed,
        Verdict::Informational,
    ];

    /// The word used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Failed => "FAILED",
            Verdict::Informational => "INFORMATIONAL",
        }
    }

    /// The verdict a rule earns when it fired at least once.
    pub fn of_severity(s: Severity) -> Verdict {
        match s {
            Severity::Must => Verdict::Failed,
            Severity::Should => Verdict::NonStrict,
            Severity::Info => Verdict::Informational,
        }
    }

    /// Whether this verdict fails the capture. NON-STRICT passes with a
    /// warning, as in Autobahn, unless `strict`.
    pub fn fails(self, strict: bool) -> bool {
        match self {
            Verdict::Failed => true,
            Verdict::NonStrict => strict,
            Verdict::Ok | Verdict::Informational => false,
        }
    }
}

/// Where a finding (or a matched expectation) is in the capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Step number, as every output format numbers steps.
    pub step: u64,
    pub conn: ConnId,
    pub dir: Dir,
    /// Capture packet numbers (Wireshark's `frame.number`): the first
    /// [`MAX_EVIDENCE_FRAMES`] of the step's.
    pub frames: Frames,
    /// How many more packets the step has beyond `frames`.
    pub frames_omitted: u64,
    pub kind: &'static str,
    /// The finding's sentence (empty for a matched expectation step).
    pub message: String,
}

/// Packets listed per piece of evidence. A step may list thousands (a body
/// sent one byte per segment), and a thousand pieces of evidence each
/// listing them made `check --format json` grow with findings × packets.
pub const MAX_EVIDENCE_FRAMES: usize = 100;

/// A step's packets as evidence lists them: the first
/// [`MAX_EVIDENCE_FRAMES`], and how many more there are.
fn evidence_frames(all: &[u64]) -> (Frames, u64) {
    let kept = all.len().min(MAX_EVIDENCE_FRAMES);
    (Frames::from_slice(&all[..kept]), (all.len() - kept) as u64)
}

/// One rule's verdict with the findings that earned it.
#[derive(Debug, Clone)]
pub struct RuleVerdict {
    pub rule: &'static Rule,
    pub verdict: Verdict,
    /// How many findings of this rule the capture has.
    pub count: u64,
    /// The first [`MAX_EVIDENCE`] of them.
    pub evidence: Vec<Evidence>,
}

/// What `check` keeps of a step: enough to give evidence and to evaluate
/// expectations, with the fields in their JSON encoding (the one the ndjson
/// format documents), so expectations compare with what graders see there.
#[derive(Debug, Clone)]
pub struct StepView {
    pub number: u64,
    pub conn: ConnId,
    pub dir: Dir,
    pub kind: &'static str,
    pub frames: Frames,
    pub session: Option<u32>,
    pub fields: Map<String, J>,
    pub findings: Vec<(&'static Rule, String)>,
}

impl StepView {
    pub fn of(step: &Step, number: u64) -> StepView {
        StepView {
            fields: crate::output::json::fields(step),
            ..StepView::of_parts(step, number)
        }
    }

    /// A step kept only for its findings (a `no_findings` expectation).
    pub fn without_fields(step: &Step, number: u64) -> StepView {
        StepView::of_parts(step, number)
    }

    fn of_parts(step: &Step, number: u64) -> StepView {
        StepView {
            number,
            conn: step.conn,
            dir: step.dir,
            kind: step.kind,
            frames: Frames::from_slice(&step.frames),
            session: step.session,
            fields: Map::new(),
            findings: step
                .findings
                .iter()
                .map(|f| (f.rule, f.message.clone()))
                .collect(),
        }
    }

    pub fn evidence(&self, message: String) -> Evidence {
        let (frames, frames_omitted) = evidence_frames(&self.frames);
        Evidence {
            step: self.number,
            conn: self.conn,
            dir: self.dir,
            frames,
            frames_omitted,
            kind: self.kind,
            message,
        }
    }
}

/// `dispel check --help`'s list of rules and example, built from
/// [`rules::ALL`] so it never goes stale.
pub static RULES_HELP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut s = String::from(
        "Examples:\n  dispel check captures/\n  \
         dispel check submission.pcap --expect examples/assignment.yaml\n  \
         dispel check submissions/ --format junit --rules 'frame.*,handshake.*' > report.xml\n  \
         dispel check submission/ --expect assignment.yaml --format gradescope > results.json\n\n\
         Rules (id, severity, section):\n",
    );
    let w = rules::ALL.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in rules::ALL {
        s.push_str(&format!(
            "  {:<w$}  {:<6}  {}\n",
            r.id,
            r.severity.as_str(),
            r.section
        ));
    }
    s
});

/// A rule list given as `--rules`: ids, layers (`frame`) or prefixes
/// (`frame.*`), the same patterns `--kind` takes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("--rules: `{0}` names no rule (see `dispel check --help` for the list)")]
pub struct UnknownRule(pub String);

/// The rules matching a list of patterns, in [`rules::ALL`] order; an empty
/// list selects every rule.
pub fn select_rules(patterns: &[String]) -> Result<Vec<&'static Rule>, UnknownRule> {
    if patterns.is_empty() {
        return Ok(rules::ALL.to_vec());
    }
    for p in patterns {
        if !rules::ALL.iter().any(|r| kind_matches(p, r.id)) {
            return Err(UnknownRule(p.clone()));
        }
    }
    Ok(rules::ALL
        .iter()
        .copied()
        .filter(|r| patterns.iter().any(|p| kind_matches(p, r.id)))
        .collect())
}

/// How one `check` run is configured.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub analysis: Options,
    /// The rules to give verdicts on.
    pub rules: Vec<&'static Rule>,
    pub expect: Option<expect::ExpectFile>,
    /// NON-STRICT verdicts fail the capture.
    pub strict: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            analysis: Options::default(),
            rules: rules::ALL.to_vec(),
            expect: None,
            strict: false,
        }
    }
}

/// Everything `check` found out about one capture.
#[derive(Debug, Clone)]
pub struct CaptureCheck {
    /// The path as found (given or under a given directory).
    pub file: String,
    /// Container format, once the capture could be opened.
    pub format: Option<&'static str>,
    pub packets: u64,
    pub connections: u64,
    pub steps: u64,
    /// One per selected rule, in [`rules::ALL`] order.
    pub rules: Vec<RuleVerdict>,
    /// One per expectation of the expectations file, in its order.
    pub expectations: Vec<expect::Outcome>,
    /// Why the capture could not be read (whole or in part). Verdicts then
    /// cover what was read before the problem.
    pub error: Option<String>,
}

/// The overall result of one capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every verdict passes and every expectation is met.
    Passed,
    /// A FAILED verdict (or NON-STRICT under `--strict`) or a failed expectation.
    Failed,
    /// The capture could not be read.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

impl CaptureCheck {
    /// How many rules got each verdict, in [`Verdict::ALL`] order.
    pub fn counts(&self) -> [u64; 4] {
        let mut c = [0; 4];
        for r in &self.rules {
            c[r.verdict as usize] += 1;
        }
        c
    }

    /// For a capture read only in part (an error after some packets were
    /// read), how many packets were read: its verdicts cover those alone.
    pub fn partial(&self) -> Option<u64> {
        (self.error.is_some() && self.packets > 0 && !self.rules.is_empty()).then_some(self.packets)
    }

    /// The capture's error as every format words it: a capture read in
    /// part says how far its verdicts go.
    pub fn error_text(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        Some(match self.partial() {
            Some(n) => format!(
                "read in part: {e}; the verdicts cover packets 1–{n}, before the damage, and its OKs are not counted as a whole capture's"
            ),
            None => e.clone(),
        })
    }

    pub fn expectations_failed(&self) -> usize {
        self.expectations.iter().filter(|e| !e.passed).count()
    }

    pub fn status(&self, strict: bool) -> Status {
        if self.error.is_some() {
            Status::Error
        } else if self.rules.iter().any(|r| r.verdict.fails(strict))
            || self.expectations_failed() > 0
        {
            Status::Failed
        } else {
            Status::Passed
        }
    }
}

/// Evidence kept per rule: enough to act on; the count is always exact.
pub const MAX_EVIDENCE: usize = 1000;

/// Checks one capture file. Never fails: an unreadable file is a
/// [`CaptureCheck`] with its `error` set. Memory stays flat whatever the
/// capture's size: findings are counted as they go by (evidence capped at
/// [`MAX_EVIDENCE`] per rule), and only the steps an expectation could
/// match are kept.
pub fn check_file(path: &Path, opts: &CheckOptions) -> CaptureCheck {
    let mut sink = CheckSink {
        expect: opts.expect.as_ref(),
        ..CheckSink::default()
    };
    let result = crate::live::run_path(path, &opts.analysis, &mut sink);
    let error = match result {
        Ok(_) => None,
        Err(RunError::Capture(e)) => Some(e.to_string()),
        // The sink writes nothing, so this cannot happen; report it anyway.
        Err(RunError::Output(e)) => Some(e.to_string()),
    };
    let report = sink.report.unwrap_or_default();
    let mut c = verdicts(
        path.display().to_string(),
        &sink.info,
        &report,
        &sink.found,
        &sink.steps,
        error,
        opts,
    );
    if c.error.is_some() && report.packets == 0 {
        // Nothing was read: verdicts over no packets would claim OK.
        c.rules.clear();
        c.expectations.clear();
    }
    c
}

/// The findings of one rule in a capture: how many, and the first ones.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub count: u64,
    pub evidence: Vec<Evidence>,
}

/// Builds the verdicts and expectation outcomes of an analysed capture.
pub fn verdicts(
    file: String,
    info: &Option<CaptureInfo>,
    report: &Report,
    found: &std::collections::HashMap<&'static str, Found>,
    steps: &[StepView],
    error: Option<String>,
    opts: &CheckOptions,
) -> CaptureCheck {
    let rules = opts
        .rules
        .iter()
        .map(|&rule| {
            let f = found.get(rule.id).cloned().unwrap_or_default();
            let verdict = if f.count == 0 {
                Verdict::Ok
            } else {
                Verdict::of_severity(rule.severity)
            };
            RuleVerdict {
                rule,
                verdict,
                count: f.count,
                evidence: f.evidence,
            }
        })
        .collect();
    let expectations = match &opts.expect {
        Some(e) => e.evaluate(steps),
        None => Vec::new(),
    };
    CaptureCheck {
        file,
        format: info.as_ref().map(|i| i.format.describe()),
        packets: report.packets,
        connections: report.connections.len() as u64,
        steps: report.steps,
        rules,
        expectations,
        error,
    }
}

/// Keeps what `check` needs of a run.
#[derive(Default)]
struct CheckSink<'e> {
    expect: Option<&'e expect::ExpectFile>,
    info: Option<CaptureInfo>,
    found: std::collections::HashMap<&'static str, Found>,
    steps: Vec<StepView>,
    report: Option<Report>,
}

impl Sink for CheckSink<'_> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.info = Some(info.clone());
        Ok(())
    }
    fn connection(&mut self, _meta: &ConnMeta) -> io::Result<()> {
        Ok(())
    }
    fn step(&mut self, n: u64, step: &Step, _rendered: Rendered<'_>) -> io::Result<()> {
        for f in &step.findings {
            let acc = self.found.entry(f.rule.id).or_default();
            acc.count += 1;
            if acc.evidence.len() < MAX_EVIDENCE {
                let (frames, frames_omitted) = evidence_frames(&step.frames);
                acc.evidence.push(Evidence {
                    step: n,
                    conn: step.conn,
                    dir: step.dir,
                    frames,
                    frames_omitted,
                    kind: step.kind,
                    message: f.message.clone(),
                });
            }
        }
        match self.expect.map(|e| e.wants(step)) {
            Some(expect::Want::Everything) => self.steps.push(StepView::of(step, n)),
            Some(expect::Want::Findings) => self.steps.push(StepView::without_fields(step, n)),
            _ => {}
        }
        Ok(())
    }
    fn finish(&mut self, report: &Report, _error: Option<&CaptureError>) -> io::Result<()> {
        self.report = Some(report.clone());
        Ok(())
    }
    /// Findings, and the fields of the kinds an expectation reads; steps
    /// without findings matter only to an expectation that reads their
    /// kind, and those are built in full.
    fn interest(&self) -> Interest {
        let reads = |kind: &str| self.expect.is_some_and(|e| e.reads_fields_of(kind));
        let mut interest = Interest::reading(reads, reads);
        // An expectation keeps the fields of the steps it reads.
        interest.detail.kept = self.expect.is_some();
        interest
    }
}

/// The exit code of a whole run: 2 if an input could not be read, else 1
/// if a capture failed, else 0.
pub fn exit_code(checks: &[CaptureCheck], strict: bool) -> u8 {
    let statuses: Vec<Status> = checks.iter().map(|c| c.status(strict)).collect();
    if statuses.contains(&Status::Error) {
        2
    } else if statuses.contains(&Status::Failed) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_patterns_select_ids_layers_and_prefixes() {
        let ids = |p: &[&str]| {
            select_rules(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|v| v.iter().map(|r| r.id).collect::<Vec<_>>())
        };
        assert_eq!(
            ids(&["frame.client-unmasked"]).unwrap(),
            ["frame.client-unmasked"]
        );
        let frame = ids(&["frame.*"]).unwrap();
        assert!(frame.len() > 5 && frame.iter().all(|id| id.starts_with("frame.")));
        assert_eq!(ids(&["frame"]).unwrap(), frame);
        assert_eq!(ids(&[]).unwrap().len(), rules::ALL.len());
        assert!(ids(&["frame.nope"]).is_err());
        assert!(ids(&["fram"]).is_err());
    }

    #[test]
    fn non_strict_fails_only_when_strict() {
        assert!(!Verdict::NonStrict.fails(false));
        assert!(Verdict::NonStrict.fails(true));
        assert!(Verdict::Failed.fails(false));
        assert!(!Verdict::Informational.fails(true));
        assert_eq!(Verdict::of_severity(Severity::Should), Verdict::NonStrict);
    }
}
