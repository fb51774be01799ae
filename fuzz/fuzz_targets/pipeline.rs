//! The whole pipeline, as `dispel explain` runs it: arbitrary bytes as a
//! capture through analyze::run_reader into the ndjson and text sinks
//! (writing to io::sink()), plus a checking sink.
//!
//! Invariants: no panic; every field span of every step lies within its
//! step's buffers; the text output has no raw ESC (or other unsafe control)
//! byte; the report counts as many steps as the sink saw.
#![no_main]

use std::io;

use dispel::analyze::{self, CaptureInfo, Options, Rendered, Report, Sink};
use dispel::error::CaptureError;
use dispel::output::{Filter, ndjson::NdjsonSink, text::TextSink};
use dispel::step::Step;
use dispel::tcp::ConnMeta;
use libfuzzer_sys::fuzz_target;

/// Checks every step and forwards it to the real sinks.
struct Check<W: io::Write> {
    text: TextSink<W>,
    ndjson: NdjsonSink<io::Sink>,
    steps: u64,
}

impl<W: io::Write> Sink for Check<W> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.text.capture(info)?;
        self.ndjson.capture(info)
    }
    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()> {
        self.text.connection(meta)?;
        self.ndjson.connection(meta)
    }
    fn step(&mut self, n: u64, step: &Step, rendered: Rendered<'_>) -> io::Result<()> {
        self.steps += 1;
        assert_eq!(n, self.steps, "every step is handed over, numbered in order");
        for f in &step.fields {
            if let Some(span) = &f.span {
                assert!(
                    step.span_bytes(span).is_some(),
                    "{}: field {} span {span:?} outside its buffers",
                    step.kind,
                    f.name
                );
            }
        }
        self.text.step(n, step, rendered)?;
        self.ndjson.step(n, step, rendered)
    }
    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        self.text.finish(report, error)?;
        self.ndjson.finish(report, error)
    }
}

/// A writer that fails the run if a raw unsafe control byte is printed
/// (newline and tab are the text format's own layout).
struct NoControls;

impl io::Write for NoControls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for chunk in buf.utf8_chunks() {
            for c in chunk.valid().chars() {
                assert!(
                    c == '\n' || c == '\t' || !dispel::sanitize::is_unsafe(c),
                    "raw {c:?} in text output"
                );
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sink = Check {
        text: TextSink::new(NoControls, Filter::default()),
        ndjson: NdjsonSink::new(io::sink(), Filter::default()),
        steps: 0,
    };
    let result = analyze::run_reader(
        io::Cursor::new(data.to_vec()),
        Some(data.len() as u64),
        "fuzz.pcap",
        &Options::default(),
        &mut sink,
    );
    if let Ok(report) = result {
        assert_eq!(report.steps, sink.steps);
    }
});
