//! The command line: clap definitions and the mapping of results to exit
//! codes (0 ok, 1 findings or failed checks, 2 an input could not be read).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analyze::{self, Options, Report, RunError, Sink};
use crate::error::CaptureError;
use crate::limits::LimitArgs;
use crate::output::{Filter, ndjson::NdjsonSink, streams, text::TextSink};
use crate::sanitize::escape;
use crate::step::Timestamp;
use crate::tcp::ConnMeta;

/// The capture `dispel` opens when given none: Flask-SocketIO on gevent with
/// gevent-websocket, recorded by `captures/record/record.sh`. It is built
/// into the binary so `dispel` works from any directory.
pub const DEFAULT_CAPTURE_NAME: &str = "captures/flask-socketio-gevent.pcap";
static DEFAULT_CAPTURE: &[u8] = include_bytes!("../captures/flask-socketio-gevent.pcap");

#[derive(Debug, Parser)]
#[command(
    name = "dispel",
    version,
    about = "See how WebSockets and Socket.IO really work on the wire.",
    long_about = "dispel replays a packet capture (pcap or pcapng) step by step through an \
                  instrumented parser stack: TCP reassembly, the HTTP/1.1 upgrade, RFC 6455 \
                  frames, Engine.IO and Socket.IO.\n\nWith no command, it opens the bundled \
                  default capture.",
    after_help = "Examples:\n  dispel                          the bundled capture\n  \
                  dispel explain app.pcap         the step trace as text\n  \
                  dispel streams app.pcapng       the TCP connections"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Step through a capture (prints the text trace when stdout is not a terminal).
    #[command(after_help = "Example:\n  dispel replay captures/flask-sock-echo.pcap")]
    Replay {
        /// The capture file (default: the bundled capture).
        capture: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print the step trace of a capture.
    #[command(after_help = "Examples:\n  dispel explain app.pcap\n  \
                            dispel explain app.pcap --format ndjson --kind websocket\n  \
                            dispel explain app.pcap --conn 3 --kind 'tcp.*'")]
    Explain {
        /// The capture file.
        capture: PathBuf,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
        /// Only this connection (its `tcp.stream` number).
        #[arg(long)]
        conn: Option<u32>,
        /// Only steps of these kinds: `websocket.frame`, a layer (`websocket`),
        /// or a prefix (`websocket.*`). Repeat or separate with commas.
        #[arg(long, value_delimiter = ',')]
        kind: Vec<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Derive Sec-WebSocket-Accept from a Sec-WebSocket-Key, stage by stage.
    #[command(
        after_help = "Example (the RFC 6455 §1.3 key):\n  dispel accept dGhlIHNhbXBsZSBub25jZQ=="
    )]
    Accept {
        /// The client's Sec-WebSocket-Key header value.
        key: String,
    },
    /// List the TCP connections of a capture.
    #[command(after_help = "Example:\n  dispel streams app.pcap --format json")]
    Streams {
        /// The capture file.
        capture: PathBuf,
        #[arg(long, value_enum, default_value_t = StreamsFormat::Text)]
        format: StreamsFormat,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// Readable, aligned, one block per step.
    Text,
    /// One JSON object per line (see docs/output-formats.md).
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamsFormat {
    Text,
    Json,
}

/// Runs the command line; the binary's `main` only calls this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            // Errors can echo a file name or capture bytes: escaped.
            let _ = writeln!(io::stderr(), "dispel: {}", escape(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<RunError>().is_some_and(
                |e| matches!(e, RunError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe),
            )
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let limits = match &cli.command {
        Some(
            Command::Replay { limits, .. }
            | Command::Explain { limits, .. }
            | Command::Streams { limits, .. },
        ) => limits.clone(),
        _ => LimitArgs::default(),
    };
    if limits.wants_help() {
        io::stdout()
            .lock()
            .write_all(crate::limits::listing().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let opts = limits.options()?;
    match cli.command {
        None => replay(None, &opts),
        Some(Command::Replay { capture, .. }) => replay(capture.as_deref(), &opts),
        Some(Command::Explain {
            capture,
            format,
            conn,
            kind,
            ..
        }) => {
            let filter = Filter { conn, kinds: kind };
            let out = io::BufWriter::new(io::stdout().lock());
            match format {
                ExplainFormat::Text => analyse(&capture, &opts, &mut TextSink::new(out, filter)),
                ExplainFormat::Ndjson => {
                    analyse(&capture, &opts, &mut NdjsonSink::new(out, filter))
                }
            }
        }
        Some(Command::Accept { key }) => {
            let mut out = io::stdout().lock();
            accept(&mut out, &key)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Streams {
            capture, format, ..
        }) => {
            let mut sink = ReportSink::default();
            let result = analyze::run_file(&capture, &opts, &mut sink);
            let (report, error) = split(result, &capture)?;
            let report = report.or(sink.report).unwrap_or_default();
            let mut out = io::BufWriter::new(io::stdout().lock());
            match format {
                StreamsFormat::Text => streams::table(&mut out, &report, sink.origin)?,
                StreamsFormat::Json => streams::json(
                    &mut out,
                    &report,
                    sink.origin,
                    &capture.display().to_string(),
                )?,
            }
            out.flush()?;
            finish(error, &capture)
        }
    }
}

/// Until the interactive view exists, `replay` prints the text trace.
fn replay(capture: Option<&Path>, opts: &Options) -> anyhow::Result<ExitCode> {
    let out = io::BufWriter::new(io::stdout().lock());
    let mut sink = TextSink::new(out, Filter::default());
    match capture {
        Some(path) => analyse(path, opts, &mut sink),
        None => {
            let result = analyze::run_reader(
                DEFAULT_CAPTURE,
                Some(DEFAULT_CAPTURE.len() as u64),
                DEFAULT_CAPTURE_NAME,
                opts,
                &mut sink,
            );
            let (_, error) = split(result, Path::new(DEFAULT_CAPTURE_NAME))?;
            finish(error, Path::new(DEFAULT_CAPTURE_NAME))
        }
    }
}

/// Prints the Accept derivation of RFC 6455 §4.2.2 for a key.
fn accept(out: &mut dyn Write, key: &str) -> anyhow::Result<()> {
    use crate::proto::ws::{GUID, derive_accept};
    use base64::Engine as _;
    let d = derive_accept(key);
    writeln!(out, "key (trimmed)      {}", escape(&d.key_trimmed))?;
    writeln!(out, "+ GUID             {GUID}")?;
    writeln!(out, "= concatenated     {}", escape(&d.concatenated))?;
    writeln!(out, "SHA-1 (hex)        {}", d.sha1_hex())?;
    writeln!(out, "base64 → Accept    {}", d.expected)?;
    match base64::engine::general_purpose::STANDARD.decode(d.key_trimmed.as_bytes()) {
        Ok(b) if b.len() == 16 => {}
        Ok(b) => writeln!(
            out,
            "note: a valid key is base64 of 16 bytes; this one decodes to {} bytes",
            b.len()
        )?,
        Err(_) => writeln!(
            out,
            "note: a valid key is base64 of 16 bytes; this one is not base64"
        )?,
    }
    Ok(())
}

/// Runs a capture into a sink and maps the outcome to an exit code.
fn analyse(path: &Path, opts: &Options, sink: &mut dyn Sink) -> anyhow::Result<ExitCode> {
    let result = analyze::run_file(path, opts, sink);
    let (_, error) = split(result, path)?;
    finish(error, path)
}

/// Separates an input error (reported, exit 2, output kept) from an output
/// error (propagated).
fn split(
    result: Result<Report, RunError>,
    _path: &Path,
) -> anyhow::Result<(Option<Report>, Option<CaptureError>)> {
    match result {
        Ok(r) => Ok((Some(r), None)),
        Err(RunError::Capture(e)) => Ok((None, Some(e))),
        Err(e @ RunError::Output(_)) => Err(e.into()),
    }
}

fn finish(error: Option<CaptureError>, path: &Path) -> anyhow::Result<ExitCode> {
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            let line = format!("{}: {e}", path.display());
            let _ = writeln!(io::stderr(), "dispel: {}", escape(&line));
            Ok(ExitCode::from(2))
        }
    }
}

/// Collects only the report (for `streams`).
#[derive(Default)]
struct ReportSink {
    report: Option<Report>,
    origin: Timestamp,
}

impl Sink for ReportSink {
    fn capture(&mut self, info: &analyze::CaptureInfo) -> io::Result<()> {
        self.origin = info.origin;
        Ok(())
    }
    fn connection(&mut self, _meta: &ConnMeta) -> io::Result<()> {
        Ok(())
    }
    fn step(&mut self, _step: &crate::step::Step) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, report: &Report, _error: Option<&CaptureError>) -> io::Result<()> {
        self.report = Some(report.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn accept_prints_the_rfc_vector_stage_by_stage() {
        let mut out = Vec::new();
        accept(&mut out, " dGhlIHNhbXBsZSBub25jZQ== ").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
        assert!(text.contains("b37a4f2cc0624f1690f64606cf385945b2bec4ea"));
        assert!(text.contains("base64 → Accept    s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert!(!text.contains("note:"));
    }
}
