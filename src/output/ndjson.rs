//! `--format ndjson`: one JSON object per line, streamed as steps complete.
//!
//! Lines, in order: one `capture` line; for each connection a `connection`
//! line before its first step; one `step` line per step in capture order; a
//! final `summary` line. Documented in `docs/output-formats.md`.

use std::io::{self, Write};
use std::sync::Arc;

use serde_json::Value as J;

use super::{Filter, json, jsonw};
use crate::analyze::{CaptureInfo, Interest, Rendered, Renderer, Report, Sink};
use crate::error::CaptureError;
use crate::step::{Step, Timestamp};
use crate::tcp::ConnMeta;

/// A step line but its number, written on the thread that built the step.
struct Tail(Filter);

impl Renderer for Tail {
    fn render(&self, step: &Step, origin: Timestamp, out: &mut Vec<u8>) -> bool {
        if !self.0.step_shown(step) {
            return false;
        }
        jsonw::step_tail(out, step, origin);
        true
    }
}

/// How much of the trace to gather before writing it out.
const FLUSH_AT: usize = 64 * 1024;

pub struct NdjsonSink<W: Write> {
    out: W,
    /// Lines are built here and handed to `out` in large writes.
    buf: Vec<u8>,
    filter: Filter,
    origin: Timestamp,
    /// Lines gathered before writing (0: each line as it is built).
    flush_at: usize,
}

impl<W: Write> NdjsonSink<W> {
    pub fn new(out: W, filter: Filter) -> NdjsonSink<W> {
        NdjsonSink {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            filter,
            origin: Timestamp::default(),
            flush_at: FLUSH_AT,
        }
    }

    /// Hands each line to `out` as it is built: for a stream read live,
    /// whose output is flushed whenever the input waits.
    pub fn streaming(mut self) -> NdjsonSink<W> {
        self.flush_at = 0;
        self
    }

    fn line(&mut self, v: &J) -> io::Result<()> {
        jsonw::to_writer(&mut self.buf, v)?;
        self.end_line()
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        if self.buf.len() >= self.flush_at {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
            // A long line (a 16 MiB message's) does not keep its room for
            // the rest of the run.
            if self.buf.capacity() > 4 * FLUSH_AT {
                self.buf = Vec::with_capacity(FLUSH_AT + 4096);
            }
        }
        Ok(())
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

    fn step(&mut self, n: u64, step: &Step, rendered: Rendered<'_>) -> io::Result<()> {
        // Step numbers count every step, shown or not, so they match the
        // TUI's and `text`'s numbering whatever the filter.
        match rendered {
            Rendered::No => {
                if !self.filter.step_shown(step) {
                    return Ok(());
                }
                jsonw::step(&mut self.buf, step, n, self.origin);
            }
            Rendered::Yes(tail) => {
                jsonw::step_head(&mut self.buf, n);
                if tail.len() >= FLUSH_AT {
                    // A long line (a 16 MiB message is 32 MiB of hex) goes
                    // out where it lies rather than through the buffer,
                    // which would keep its size for the rest of the run.
                    self.out.write_all(&self.buf)?;
                    self.buf.clear();
                    self.out.write_all(tail)?;
                } else {
                    self.buf.extend_from_slice(tail);
                }
            }
            Rendered::Hidden => return Ok(()),
        }
        self.end_line()
    }

    fn interest(&self) -> Interest {
        Interest {
            renderer: Some(Arc::new(Tail(self.filter.clone()))),
            ..Interest::default()
        }
    }

    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        let v = json::summary(report, error);
        self.line(&v)?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}
