//! The command line: clap definitions and the mapping of results to exit
//! codes (0 ok, 1 findings or failed checks, 2 an input could not be read).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analyze::{self, Options, Rendered, Report, RunError, Sink};
use crate::check;

mod check_cmd;
use crate::error::CaptureError;
use crate::lessons::cli::{self as lessons_cli, LessonsCommand};
use crate::limits::LimitArgs;
use crate::live::capture::LiveOpts;
use crate::output::{
    Filter, json::JsonSink, markdown::MarkdownSink, mermaid::MermaidSink, ndjson::NdjsonSink,
    streams, text::TextSink,
};
use crate::sanitize::escape;
use crate::step::Timestamp;
use crate::tcp::ConnMeta;

/// The capture `dispel` opens when given none: Flask-SocketIO on gevent with
/// gevent-websocket, recorded by `captures/record/record.sh`. It is built
/// into the binary so `dispel` works from any directory.
pub const DEFAULT_CAPTURE_NAME: &str = "captures/flask-socketio-gevent.pcap";
pub static DEFAULT_CAPTURE: &[u8] = include_bytes!("../captures/flask-socketio-gevent.pcap");

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
                  dispel streams app.pcapng       the TCP connections\n  \
                  dispel check submissions/       grade a folder of captures"
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
        /// The capture file, `-` for standard input (default: the bundled capture).
        capture: Option<PathBuf>,
        #[command(flatten)]
        live: LiveOpts,
        #[command(flatten)]
        lessons: LessonOpts,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print the step trace of a capture.
    #[command(after_help = "Examples:\n  dispel explain app.pcap\n  \
                            dispel explain app.pcap --format ndjson --kind websocket\n  \
                            dispel explain app.pcap --format markdown > walkthrough.md\n  \
                            dispel explain app.pcap --format markdown --quiz > worksheet.md\n  \
                            dispel explain app.pcap --conn 3 --kind 'tcp.*'")]
    Explain {
        /// The capture file, `-` for standard input (`tcpdump -U -w - | dispel explain -`).
        #[arg(required_unless_present = "live")]
        capture: Option<PathBuf>,
        #[command(flatten)]
        live: LiveOpts,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
        /// Only this connection (its `tcp.stream` number).
        #[arg(long)]
        conn: Option<u32>,
        /// Only steps of these kinds: `websocket.frame`, a layer (`websocket`),
        /// or a prefix (`websocket.*`). Repeat or separate with commas.
        #[arg(long, value_delimiter = ',')]
        kind: Vec<String>,
        /// A worksheet (with --format markdown): each lesson question with a
        /// blank to fill in, and the answers in a key at the end.
        #[arg(long)]
        quiz: bool,
        #[command(flatten)]
        lessons: LessonOpts,
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
    /// Grade captures: a verdict per finding rule, and an assignment's expectations.
    #[command(
        long_about = "Grade captures: one verdict per finding rule, in the Autobahn test suite's \
                      words — OK (the rule never fired), NON-STRICT (a SHOULD was violated), \
                      FAILED (a MUST was violated), INFORMATIONAL (an anomaly, not a \
                      violation) — each with its evidence (step, connection, packets), and \
                      the expectations of an --expect file (docs/expectations.md).\n\n\
                      Exit status: 0 every capture passed; 1 a FAILED verdict (or NON-STRICT \
                      with --strict) or a failed expectation; 2 an input could not be read \
                      (the others are still checked and reported).",
        after_help = check::RULES_HELP.as_str()
    )]
    Check(check_cmd::CheckArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  dispel completions bash > ~/.local/share/bash-completion/completions/dispel"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff), generated from these same definitions.
    #[command(
        hide = true,
        after_help = "Examples:\n  dispel man | man -l -\n  dispel man check > dispel-check.1"
    )]
    Man {
        /// A subcommand's page (`dispel-check(1)`) instead of `dispel(1)`.
        command: Option<String>,
    },
    /// List the TCP connections of a capture.
    #[command(after_help = "Example:\n  dispel streams app.pcap --format json")]
    Streams {
        /// The capture file, `-` for standard input.
        capture: PathBuf,
        #[arg(long, value_enum, default_value_t = StreamsFormat::Text)]
        format: StreamsFormat,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Instructor tools: check, cover and verify lesson files.
    #[command(
        subcommand,
        after_help = "Examples:\n  dispel lessons lint my-course/\n  \
                      dispel lessons coverage captures/flask-sock-echo.pcap --lessons my-course/"
    )]
    Lessons(LessonsCommand),
}

/// The lesson options of `replay` and `explain`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LessonOpts {
    /// A course directory to use instead of the bundled lessons.
    #[arg(long, value_name = "DIR")]
    pub lessons: Option<PathBuf>,
    /// The server stack whose code the lessons trace (see `dispel lessons packages`).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// Readable, aligned, one block per step.
    Text,
    /// One JSON object per line (see docs/output-formats.md).
    Ndjson,
    /// One JSON document: capture, connections, sessions, steps, summary.
    Json,
    /// An annotated walk-through: bytes, fields, findings per step.
    Markdown,
    /// Mermaid sequence diagrams: one per connection and per Engine.IO session.
    Mermaid,
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
        Some(Command::Check(args)) => args.limits.clone(),
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
        None => replay(None, &opts, &LessonOpts::default()),
        Some(Command::Replay {
            capture,
            live,
            lessons,
            ..
        }) => {
            let (capture, _session) = crate::live::resolve(capture, &live)?;
            replay(capture.as_deref(), &opts, &lessons)
        }
        Some(Command::Lessons(cmd)) => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            let code = lessons_cli::run(cmd, &mut out, &mut io::stderr())?;
            out.flush()?;
            Ok(ExitCode::from(code))
        }
        Some(Command::Explain {
            capture,
            live,
            format,
            conn,
            kind,
            quiz,
            lessons,
            ..
        }) => {
            if quiz && format != ExplainFormat::Markdown {
                anyhow::bail!(
                    "--quiz makes a worksheet of the markdown walk-through: use it with --format markdown"
                );
            }
            let (capture, _session) = crate::live::resolve(capture, &live)?;
            // clap requires a capture unless --live gave one.
            let capture = capture.unwrap_or_else(|| PathBuf::from(crate::live::STDIN_NAME));
            // Only markdown shows lessons; the other formats load the
            // course only to check `--lessons` / `--stack` when given.
            let wanted = format == ExplainFormat::Markdown
                || lessons.lessons.is_some()
                || lessons.stack.is_some();
            let mut selection = None;
            if wanted {
                match select_lessons(&lessons)? {
                    Ok(s) => selection = Some(s),
                    Err(code) => return Ok(code),
                }
            }
            let filter = Filter { conn, kinds: kind };
            let out = crate::live::stdout_for(&capture);
            match format {
                ExplainFormat::Text => analyse(&capture, &opts, &mut TextSink::new(out, filter)),
                ExplainFormat::Ndjson if crate::live::is_stream(&capture) => analyse(
                    &capture,
                    &opts,
                    &mut NdjsonSink::new(out, filter).streaming(),
                ),
                ExplainFormat::Ndjson => {
                    analyse(&capture, &opts, &mut NdjsonSink::new(out, filter))
                }
                ExplainFormat::Json => analyse(&capture, &opts, &mut JsonSink::new(out, filter)),
                ExplainFormat::Markdown => markdown(&capture, &opts, out, filter, selection, quiz),
                ExplainFormat::Mermaid => {
                    analyse(&capture, &opts, &mut MermaidSink::new(out, filter))
                }
            }
        }
        Some(Command::Check(args)) => check_cmd::run(args),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = io::stdout().lock();
            clap_complete::generate(shell, &mut cmd, "dispel", &mut out);
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man { command }) => {
            let mut out = io::stdout().lock();
            man(&mut out, command.as_deref())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
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
            let result = crate::live::run_path(&capture, &opts, &mut sink);
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

/// Loads the course and checks `--stack` (unknown → exit 2 with the list).
fn select_lessons(o: &LessonOpts) -> anyhow::Result<Result<lessons_cli::Selection, ExitCode>> {
    Ok(
        lessons_cli::select(o.lessons.as_deref(), o.stack.as_deref(), &mut io::stderr())?
            .map_err(ExitCode::from),
    )
}

/// The interactive view when stdout is a terminal; the text trace otherwise.
fn replay(capture: Option<&Path>, opts: &Options, lopts: &LessonOpts) -> anyhow::Result<ExitCode> {
    let selection = match select_lessons(lopts)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if io::stdout().is_terminal() {
        let source = match capture {
            // Steps appear as the stream arrives; it is spooled for `w`.
            Some(p) if crate::live::is_stream(p) => {
                crate::tui::Source::Live(crate::tui::live::LiveFeed::new(
                    p.display().to_string(),
                    crate::live::take_input(p)?,
                )?)
            }
            Some(p) => crate::tui::Source::File(p.to_path_buf()),
            None => crate::tui::Source::Static {
                name: DEFAULT_CAPTURE_NAME.into(),
                data: DEFAULT_CAPTURE,
            },
        };
        let stack = selection.stack.as_ref().map(|s| s.id.clone());
        let lessons = Box::new(crate::tui::CourseLessons::new(
            selection,
            lopts.lessons.clone(),
        ));
        let name = capture.unwrap_or(Path::new(DEFAULT_CAPTURE_NAME));
        return Ok(match crate::tui::run(source, opts, lessons, stack)? {
            None => ExitCode::SUCCESS,
            Some(e) => {
                let _ = writeln!(io::stderr(), "dispel: {}: {}", name.display(), escape(&e));
                ExitCode::from(2)
            }
        });
    }
    let out = crate::live::stdout_for(capture.unwrap_or(Path::new(DEFAULT_CAPTURE_NAME)));
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

/// Writes a manual page: `dispel(1)`, or `dispel-SUB(1)` for a subcommand.
pub fn man(out: &mut dyn Write, sub: Option<&str>) -> anyhow::Result<()> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let page = match sub {
        None => cmd,
        Some(name) => {
            let Some(s) = cmd.find_subcommand(name).filter(|s| !s.is_hide_set()) else {
                anyhow::bail!(
                    "no subcommand `{}` (see dispel --help)",
                    crate::sanitize::escape(name)
                );
            };
            let full = format!("dispel-{name}");
            s.clone().name(full.clone()).bin_name(full)
        }
    };
    clap_mangen::Man::new(page).render(out)?;
    Ok(())
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
/// The Markdown walk-through with each step's lessons. Without `--stack`,
/// a first pass guesses the stack from the capture (the report is a
/// document, not a stream, so reading twice is fine).
fn markdown(
    capture: &Path,
    opts: &Options,
    out: impl Write,
    filter: Filter,
    selection: Option<lessons_cli::Selection>,
    quiz: bool,
) -> anyhow::Result<ExitCode> {
    use crate::output::markdown::LessonBlock;
    let sink = |out, filter| {
        let s = MarkdownSink::new(out, filter);
        if quiz { s.quiz() } else { s }
    };
    let Some(selection) = selection else {
        return analyse(capture, opts, &mut sink(out, filter));
    };
    let course = selection.course;
    let stack = match selection.stack {
        Some(s) => Some(s.id),
        // Standard input can be read only once: no guess.
        None if crate::live::is_stream(capture) => None,
        None => {
            let mut sample = GuessSample::default();
            let _ = analyze::run_file(capture, opts, &mut sample);
            crate::lessons::guess_stack(sample.steps.iter())
                .and_then(|id| course.stack(id))
                .map(|s| s.id.clone())
        }
    };
    let mut binder = course.binder();
    let mut sheet = crate::lessons::predict::Worksheet::default();
    let hook = Box::new(move |step: &crate::step::Step| {
        let b = binder.bind(step);
        let course = binder.course();
        // A worksheet hides what its questions ask for, as the TUI does
        // while a question is open.
        let shown = if quiz {
            let questions = b.step.map_or(&[][..], |i| &course.lessons[i].questions[..]);
            let hidden = sheet.hide(step, questions);
            (!hidden.is_empty()).then(|| hidden.mask(step))
        } else {
            None
        };
        let view = shown.as_ref().map_or(step, |(m, _)| m);
        let finding_lessons = view
            .findings
            .iter()
            .zip(&b.findings)
            .filter_map(|(f, l)| l.map(|i| (i, Some(f))));
        let blocks = b
            .step
            .map(|i| (i, None))
            .into_iter()
            .chain(finding_lessons)
            .map(|(i, f)| {
                let lesson = &course.lessons[i];
                let r = crate::lessons::render(lesson, view, f, stack.as_deref());
                // Answers are for the key: filled from the step as it is.
                let answers = if shown.is_some() {
                    crate::lessons::render(lesson, step, f, stack.as_deref()).questions
                } else {
                    r.questions.clone()
                };
                LessonBlock {
                    body: r.body_with_note(),
                    title: r.title,
                    refs: r.refs,
                    hints: r.hints,
                    questions: r
                        .questions
                        .into_iter()
                        .zip(answers)
                        .map(|(q, a)| (q.ask, a.answer))
                        .collect(),
                    trace: r.trace,
                }
            })
            .collect();
        crate::output::markdown::StepLessons { blocks, shown }
    });
    let mut sink = sink(out, filter).with_lessons(hook);
    analyse(capture, opts, &mut sink)
}

/// The few steps the stack guess reads (see `lessons::guess_stack`).
#[derive(Default)]
struct GuessSample {
    steps: Vec<crate::step::Step>,
}

impl Sink for GuessSample {
    fn connection(&mut self, _: &ConnMeta) -> io::Result<()> {
        Ok(())
    }
    fn step(&mut self, _n: u64, s: &crate::step::Step, _: Rendered<'_>) -> io::Result<()> {
        let wanted = matches!(
            s.kind,
            "http.response" | "websocket.desync" | "websocket.after-close"
        ) || (s.kind == "engineio.packet"
            && !self.steps.iter().any(|t| t.kind == s.kind));
        if wanted && self.steps.len() < 64 {
            // Only what the guess reads: a response's header lines, an
            // Engine.IO packet's kind; never a 16 MiB body or message,
            // which 64 kept responses multiplied.
            let mut kept = crate::step::Step::new(s.conn, s.dir, s.kind, s.time);
            match s.kind {
                "http.response" => kept.fields = s.fields.clone(),
                "engineio.packet" => {}
                _ => kept = s.clone(),
            }
            self.steps.push(kept);
        }
        Ok(())
    }
    fn finish(&mut self, _: &Report, _: Option<&CaptureError>) -> io::Result<()> {
        Ok(())
    }
}

fn analyse(path: &Path, opts: &Options, sink: &mut dyn Sink) -> anyhow::Result<ExitCode> {
    let result = crate::live::run_path(path, opts, sink);
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
    fn step(&mut self, _n: u64, _step: &crate::step::Step, _: Rendered<'_>) -> io::Result<()> {
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
