//! Lean steps (what `check` asks for) must tell the same story as full ones:
//! the same steps, in the same order, with the same numbers, packets, times,
//! sessions and findings — only fields, buffers and summaries are left out.
//! Run over every real capture and every hostile one, so a finding computed
//! only on the full path (or a step emitted only there) cannot slip in.

mod support;
mod tools;

use std::io;

use dispel::analyze::{self, Collect, Interest, Options, Rendered, Report, Sink};
use dispel::error::CaptureError;
use dispel::step::Step;
use dispel::tcp::ConnMeta;

/// Keeps steps and asks for none of the per-message details.
#[derive(Default)]
struct Lean(Collect);

impl Sink for Lean {
    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()> {
        self.0.connection(meta)
    }
    fn step(&mut self, n: u64, step: &Step, rendered: Rendered<'_>) -> io::Result<()> {
        self.0.step(n, step, rendered)
    }
    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        self.0.finish(report, error)
    }
    fn interest(&self) -> Interest {
        Interest::reading(|_| false, |_| true)
    }
}

/// What a lean step keeps.
fn skeleton(s: &Step) -> String {
    let findings: Vec<String> = s
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.rule.id, f.message))
        .collect();
    format!(
        "{} {} {} {:?} {:?} {:?} {:?}",
        s.kind,
        s.conn,
        s.dir.as_str(),
        s.frames,
        s.time,
        s.session,
        findings
    )
}

#[test]
fn lean_steps_match_full_steps_on_every_capture() {
    let mut lean_seen = 0;
    for path in tools::captures_and_hostile() {
        let opts = Options::default();
        let mut full = Collect::default();
        let _ = analyze::run_file(&path, &opts, &mut full);
        let mut lean = Lean::default();
        let _ = analyze::run_file(&path, &opts, &mut lean);
        let name = path.display();
        assert_eq!(
            full.steps.len(),
            lean.0.steps.len(),
            "{name}: step counts differ"
        );
        for (i, (f, l)) in full.steps.iter().zip(&lean.0.steps).enumerate() {
            assert_eq!(skeleton(f), skeleton(l), "{name}: step {} differs", i + 1);
            if l.fields.is_empty() && !f.fields.is_empty() {
                lean_seen += 1;
            }
        }
        assert_eq!(
            full.report.as_ref().map(|r| &r.findings),
            lean.0.report.as_ref().map(|r| &r.findings),
            "{name}: finding totals differ"
        );
        assert_eq!(full.error, lean.0.error, "{name}: errors differ");
    }
    // The lean path was taken (a test of nothing would pass too).
    assert!(lean_seen > 500, "only {lean_seen} lean steps");
}
