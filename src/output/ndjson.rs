//! `--format ndjson`: one JSON object per line, streamed as steps complete.
//!
//! Lines, in order: one `capture` line; for each connection a `connection`
//! line before its first step; one `step` line per step in capture order; a
//! final `summary` line. Documented in `docs/output-formats.md`.

use std::io::{self, Write};

use serde_json::Value as J;

use super::{Filter, json};
use crate::analyze::{CaptureInfo, Report, Sink};
use crate::error::CaptureError;
use crate::step::{Step, Timestamp};
use crate::tcp::ConnMeta;

pub struct NdjsonSink<W: Write> {
    out: W,
    filter: Filter,
    origin: Timestamp,
    number: u64,
}

impl<W: Write> NdjsonSink<W> {
    pub fn new(out: W, filter: Filter) -> NdjsonSink<W> {
        NdjsonSink {
            out,
            filter,
            origin: Timestamp::default(),
            number: 0,
        }
    }

    fn line(&mut self, v: &J) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")
    }
}

impl<W: Write> Sink for NdjsonSink<W> {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.origin = info.origin;
        self.line(&json::capture(info))
    }

    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()> {
        if !self.filter.conn_shown(meta.id) {
            return Ok(());
        }
        let v = json::connection(meta, self.origin);
        self.line(&v)
    }

    fn step(&mut self, step: &Step) -> io::Result<()> {
        // Step numbers count every step, shown or not, so they match the
        // TUI's and `text`'s numbering whatever the filter.
        self.number += 1;
        if !self.filter.step_shown(step) {
            return Ok(());
        }
        let v = json::StepOut {
            step,
            number: self.number,
            origin: self.origin,
        };
        serde_json::to_writer(&mut self.out, &v)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        let v = json::summary(report, error);
        self.line(&v)?;
        self.out.flush()
    }
}
