//! `dispel check`: arguments and the binary-side glue (terminal detection,
//! progress, colour, stderr messages). The verdict logic is `crate::check`.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::check::batch::{self, Input};
use crate::check::expect::ExpectFile;
use crate::check::report::{self, Paint};
use crate::check::{self, CheckOptions};
use crate::sanitize::escape;

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Capture files, or directories searched recursively for *.pcap and *.pcapng.
    #[arg(required = true, value_name = "CAPTURE|DIR")]
    pub inputs: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// An assignment's expectations (YAML, see docs/expectations.md), checked per capture.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Only these rules: ids, layers (`frame`) or prefixes (`frame.*`);
    /// repeat or separate with commas.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub rules: Vec<String>,
    /// NON-STRICT verdicts (SHOULD violated) fail too; by default they pass
    /// with a warning, as in Autobahn.
    #[arg(long)]
    pub strict: bool,
    /// Colour verdict words: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
    /// Threads (default: the machine's parallelism). Several captures are
    /// checked one per thread; a lone capture is read on a second thread
    /// while the first decodes Engine.IO. `-j1` keeps everything on one.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Non-OK verdicts with evidence, expectations, a summary table.
    Text,
    /// One document with every verdict and its evidence (docs/output-formats.md).
    Json,
    /// JUnit XML: a testsuite per capture, a testcase per rule and expectation.
    Junit,
    /// One row per capture.
    Csv,
    /// Gradescope's autograder results.json: a test per expectation, worth
    /// its `weight` (docs/expectations.md), and per non-OK rule (0 points).
    Gradescope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let rules = match check::select_rules(&args.rules) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(io::stderr(), "dispel: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let expect = match &args.expect {
        None => None,
        Some(p) => match ExpectFile::load(p) {
            Ok(e) => {
                for w in &e.warnings {
                    let _ = writeln!(io::stderr(), "dispel: warning: {}", escape(w));
                }
                Some(e)
            }
            Err(e) => {
                // Every error, one a line.
                for line in e.to_string().lines() {
                    let _ = writeln!(io::stderr(), "dispel: {}", escape(line));
                }
                return Ok(ExitCode::from(2));
            }
        },
    };
    let expect_title = expect.as_ref().and_then(|e| e.title.clone());
    let mut analysis = args.limits.options()?;
    analysis.single_thread = args.jobs == Some(1);
    let opts = CheckOptions {
        analysis,
        rules,
        expect,
        strict: args.strict,
    };
    let stdin = Path::new(crate::live::STDIN_NAME);
    if args.inputs.iter().filter(|p| p.as_path() == stdin).count() > 1 {
        let _ = writeln!(
            io::stderr(),
            "dispel: standard input (-) can be read once: name it once among the captures"
        );
        return Ok(ExitCode::from(2));
    }
    let inputs = batch::expand(&args.inputs);
    if inputs.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "dispel: no *.pcap or *.pcapng file under {}",
            args.inputs
                .iter()
                .map(|p| escape(&p.display().to_string()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let stderr_tty = io::stderr().is_terminal();
    let progress = |done: usize, total: usize, name: &str| {
        if stderr_tty && total > 1 {
            let mut e = io::stderr().lock();
            let _ = write!(e, "\r\x1b[2Kchecked {done}/{total}: {}", escape(name));
            if done == total {
                let _ = write!(e, "\r\x1b[2K");
            }
            let _ = e.flush();
        }
    };
    let workers = args.jobs.unwrap_or_else(batch::default_workers);
    let checks = batch::run(&inputs, &opts, workers, &progress);

    // Inputs that could not be read: one line each on stderr, as every
    // dispel command reports them, besides their place in the report.
    for (c, input) in checks.iter().zip(&inputs) {
        if let Some(e) = &c.error {
            let name = match input {
                Input::File(p) | Input::Unreadable(p, _) => p.display().to_string(),
            };
            let _ = writeln!(io::stderr(), "dispel: {}: {}", escape(&name), escape(e));
        }
    }

    let mut out = io::BufWriter::new(io::stdout().lock());
    let expect_file = args.expect.as_ref().map(|p| p.display().to_string());
    match args.format {
        CheckFormat::Text => {
            let paint = Paint::decide(
                match args.color {
                    ColorWhen::Auto => "auto",
                    ColorWhen::Always => "always",
                    ColorWhen::Never => "never",
                },
                io::stdout().is_terminal(),
                std::env::var("NO_COLOR").ok().as_deref(),
            );
            report::text(
                &mut out,
                &checks,
                expect_title.as_deref(),
                args.strict,
                paint,
            )?;
        }
        CheckFormat::Json => check::render::json::write(
            &mut out,
            &checks,
            args.strict,
            expect_file.as_deref().map(|f| (f, expect_title.as_deref())),
        )?,
        CheckFormat::Junit => check::render::junit::write(&mut out, &checks, args.strict)?,
        CheckFormat::Csv => check::render::csv::write(&mut out, &checks, args.strict)?,
        CheckFormat::Gradescope => {
            check::render::gradescope::write(&mut out, &checks, opts.expect.as_ref(), args.strict)?
        }
    }
    out.flush()?;
    Ok(ExitCode::from(check::exit_code(&checks, args.strict)))
}
