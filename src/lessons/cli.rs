//! The `dispel lessons …` instructor tools and the `--lessons` / `--stack`
//! options. Each command writes to the writers it is given and returns its
//! exit code: 0 clean, 1 problems or failures, 2 an input could not be read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::analyze::{self, Collect, Options, RunError};
use crate::sanitize::escape;

use super::{Binder, Course, Problem, Stack, load_dir, load_paths, schema, verify};

#[derive(Debug, Subcommand)]
pub enum LessonsCommand {
    /// Check lesson files: YAML, keys, kinds, fields, rules, stacks, versions,
    /// conditions, ids and interpolations. Every problem is reported.
    #[command(
        after_help = "Examples:\n  dispel lessons lint\n  dispel lessons lint lessons/websocket.yaml"
    )]
    Lint {
        /// Lesson files or directories (default: ./lessons if present, else
        /// the bundled course).
        paths: Vec<PathBuf>,
    },
    /// Print the JSON Schema of lesson files (for yaml-language-server).
    #[command(after_help = "Example:\n  dispel lessons schema > lesson.schema.json")]
    Schema,
    /// List the step kinds and finding rules of a capture that no lesson explains.
    #[command(after_help = "Example:\n  dispel lessons coverage captures/flask-sock-echo.pcap")]
    Coverage {
        /// The capture file.
        capture: PathBuf,
        /// The course directory (default: the bundled course).
        #[arg(long, value_name = "DIR")]
        lessons: Option<PathBuf>,
        /// A TLS key log to decrypt the capture with (repeatable), so the
        /// steps above TLS are covered too.
        #[arg(long, value_name = "FILE")]
        keylog: Vec<PathBuf>,
    },
    /// Check every trace entry against unpacked package sources.
    #[command(
        name = "verify-refs",
        after_help = "Example:\n  lessons/fetch-sources.sh   # downloads and runs this"
    )]
    VerifyRefs {
        /// Directory holding NAME-VERSION/ source trees.
        #[arg(long, value_name = "DIR")]
        sources: PathBuf,
        /// The course directory (default: the bundled course).
        #[arg(long, value_name = "DIR")]
        lessons: Option<PathBuf>,
    },
    /// Run a stack's reference server under a call tracer, replay the
    /// capture's client side to it, and check each step's trace entries:
    /// confirmed, not run, or ran elsewhere.
    #[command(after_help = "Examples:\n  \
        dispel lessons trace flask-socketio-gevent captures/flask-socketio-gevent.pcap\n  \
        dispel lessons trace flask-sock captures/flask-sock-echo.pcap --draft 4\n\n\
        Exit status: 0 every entry confirmed or marked `observed: false`, 1 an entry \
        refuted, 2 an error. The Python environment is cached under ~/.cache/dispel \
        ($DISPEL_CACHE); $DISPEL_PYTHON picks the interpreter.")]
    Trace {
        /// The stack id (stacks.yaml).
        stack: String,
        /// The capture recorded from that stack.
        capture: PathBuf,
        /// The course directory (default: the bundled course).
        #[arg(long, value_name = "DIR")]
        lessons: Option<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
        format: TraceFormat,
        /// Print what ran for step N as a lesson trace (YAML) instead of the report.
        #[arg(long, value_name = "STEP", num_args = 1..)]
        draft: Vec<u64>,
    },
    /// Print the packages pinned by stacks.yaml: `pypi NAME VERSION` / `npm NAME VERSION`.
    Packages {
        /// The course directory (default: the bundled course).
        #[arg(long, value_name = "DIR")]
        lessons: Option<PathBuf>,
    },
}

/// `dispel lessons trace --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
}

/// Runs a `lessons` command.
pub fn run(cmd: LessonsCommand, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    match cmd {
        LessonsCommand::Lint { paths } => lint(&paths, out, err),
        LessonsCommand::Schema => {
            writeln!(out, "{:#}", schema::schema())?;
            Ok(0)
        }
        LessonsCommand::Coverage {
            capture,
            lessons,
            keylog,
        } => {
            let Some(course) = course(lessons.as_deref(), err)? else {
                return Ok(2);
            };
            let opts = crate::limits::LimitArgs {
                keylogs: keylog,
                ..Default::default()
            }
            .options();
            let opts = match opts {
                Ok(o) => o,
                Err(e) => {
                    writeln!(err, "dispel: {}", escape(&e.to_string()))?;
                    return Ok(2);
                }
            };
            coverage(&course, &capture, &opts, out, err)
        }
        LessonsCommand::VerifyRefs { sources, lessons } => {
            let Some(course) = course(lessons.as_deref(), err)? else {
                return Ok(2);
            };
            verify_refs(&course, &sources, out, err)
        }
        LessonsCommand::Trace {
            stack,
            capture,
            lessons,
            format,
            draft,
        } => {
            let Some(course) = course(lessons.as_deref(), err)? else {
                return Ok(2);
            };
            super::trace::command(
                &course,
                &stack,
                &capture,
                format == TraceFormat::Json,
                &draft,
                out,
                err,
            )
        }
        LessonsCommand::Packages { lessons } => {
            let Some(course) = course(lessons.as_deref(), err)? else {
                return Ok(2);
            };
            packages(&course, out)?;
            Ok(0)
        }
    }
}

fn lint(paths: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let (course, problems, what) = if paths.is_empty() {
        if Path::new("lessons").is_dir() {
            match load_dir(Path::new("lessons")) {
                Ok((c, p)) => (c, p, "lessons/".to_string()),
                Err(e) => {
                    writeln!(err, "dispel: lessons: {e}")?;
                    return Ok(2);
                }
            }
        } else {
            let (c, p) = super::bundled();
            (c, p, "the bundled course".to_string())
        }
    } else {
        for p in paths {
            if !p.exists() {
                writeln!(
                    err,
                    "dispel: {}: no such file or directory",
                    escape(&p.display().to_string())
                )?;
                return Ok(2);
            }
        }
        match load_paths(paths) {
            Ok((c, p)) => (c, p, "the given files".to_string()),
            Err(e) => {
                writeln!(err, "dispel: {e}")?;
                return Ok(2);
            }
        }
    };
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    let warnings = problems.iter().filter(|p| p.warning).count();
    let n = problems.len() - warnings;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let warned = if warnings == 0 {
        String::new()
    } else {
        format!(", {warnings} warning{}", plural(warnings))
    };
    if n == 0 {
        writeln!(
            out,
            "{what}: {} lesson{}, {} stack{}, no problems{warned}",
            course.lessons.len(),
            plural(course.lessons.len()),
            course.stacks.len(),
            plural(course.stacks.len())
        )?;
        Ok(0)
    } else {
        writeln!(out, "{what}: {n} problem{}{warned}", plural(n))?;
        Ok(1)
    }
}

/// Loads the course of `--lessons DIR` (or the bundled one). `None` (exit
/// 2, after a one-line error naming the first problem) if the directory is
/// unreadable or the course has problems: a broken course is not taught
/// from. Warnings (teaching mistakes) are counted on stderr and the course
/// loads.
pub fn course(dir: Option<&Path>, err: &mut dyn Write) -> std::io::Result<Option<Course>> {
    let (course, problems): (Course, Vec<Problem>) = match dir {
        Some(d) => match load_dir(d) {
            Ok(x) => x,
            Err(e) => {
                writeln!(err, "dispel: {}: {e}", escape(&d.display().to_string()))?;
                return Ok(None);
            }
        },
        None => super::bundled(),
    };
    let shown = dir.map_or_else(
        || "the bundled course".to_string(),
        |d| d.display().to_string(),
    );
    let lint = dir.map_or(String::new(), |d| {
        format!(" {}", escape(&d.display().to_string()))
    });
    let warnings = problems.iter().filter(|p| p.warning).count();
    if let Some(first) = problems.iter().find(|p| !p.warning) {
        let more = problems.len() - warnings - 1;
        writeln!(
            err,
            "dispel: {}{}; run `dispel lessons lint{lint}`",
            escape(&first.headline()),
            if more == 0 {
                String::new()
            } else {
                format!(
                    " (and {more} more problem{})",
                    if more == 1 { "" } else { "s" }
                )
            },
        )?;
        return Ok(None);
    }
    if warnings > 0 {
        writeln!(
            err,
            "dispel: warning: {warnings} teaching warning{} in {}; run `dispel lessons lint{lint}`",
            if warnings == 1 { "" } else { "s" },
            escape(&shown),
        )?;
    }
    Ok(Some(course))
}

/// What `--lessons` and `--stack` selected for `replay` and `explain`.
#[derive(Debug, Clone)]
pub struct Selection {
    pub course: Course,
    pub stack: Option<Stack>,
}

/// Loads the course and checks the stack name. `Err(2)` after an error
/// message (an unreadable directory, an unknown stack with the list).
pub fn select(
    lessons: Option<&Path>,
    stack: Option<&str>,
    err: &mut dyn Write,
) -> std::io::Result<Result<Selection, u8>> {
    let Some(course) = course(lessons, err)? else {
        return Ok(Err(2));
    };
    let stack = match stack {
        None => None,
        Some(id) => match course.stack(id) {
            Some(s) => Some(s.clone()),
            None => {
                let ids = course.stack_ids();
                let list = if ids.is_empty() {
                    "the course declares no stacks".to_string()
                } else {
                    format!("the stacks are: {}", ids.join(", "))
                };
                writeln!(err, "dispel: unknown stack `{}`; {list}", escape(id))?;
                return Ok(Err(2));
            }
        },
    };
    Ok(Ok(Selection { course, stack }))
}

fn coverage(
    course: &Course,
    capture: &Path,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let mut c = Collect::default();
    match analyze::run_file(capture, opts, &mut c) {
        Ok(_) => {}
        Err(RunError::Capture(e)) => {
            writeln!(
                err,
                "dispel: {}: {e}",
                escape(&capture.display().to_string())
            )?;
            return Ok(2);
        }
        Err(RunError::Output(e)) => return Err(e),
    }
    // kind or rule → (total, unbound, first unbound step number)
    let mut kinds: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let mut rules: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let mut binder = Binder::new(course);
    for (i, step) in c.steps.iter().enumerate() {
        let b = binder.bind(step);
        let n = i as u64 + 1;
        let e = kinds.entry(step.kind).or_default();
        e.0 += 1;
        if b.step.is_none() {
            e.1 += 1;
            if e.2 == 0 {
                e.2 = n;
            }
        }
        for (f, l) in step.findings.iter().zip(&b.findings) {
            let e = rules.entry(f.rule.id).or_default();
            e.0 += 1;
            if l.is_none() {
                e.1 += 1;
                if e.2 == 0 {
                    e.2 = n;
                }
            }
        }
    }
    let missing_kinds: Vec<_> = kinds.iter().filter(|(_, v)| v.1 > 0).collect();
    let missing_rules: Vec<_> = rules.iter().filter(|(_, v)| v.1 > 0).collect();
    let name = escape(&capture.display().to_string()).into_owned();
    if missing_kinds.is_empty() && missing_rules.is_empty() {
        writeln!(
            out,
            "{name}: every step ({}) and finding has a lesson",
            c.steps.len()
        )?;
        return Ok(0);
    }
    if !missing_kinds.is_empty() {
        writeln!(out, "step kinds without a lesson:")?;
        for (k, (total, un, first)) in &missing_kinds {
            writeln!(
                out,
                "  {k:<24} {un} of {total} steps (first: step #{first})"
            )?;
        }
    }
    if !missing_rules.is_empty() {
        writeln!(out, "finding rules without a lesson:")?;
        for (r, (total, un, first)) in &missing_rules {
            writeln!(
                out,
                "  {r:<36} {un} of {total} findings (first: step #{first})"
            )?;
        }
    }
    writeln!(
        out,
        "{name}: {} step kind{} and {} finding rule{} without a lesson",
        missing_kinds.len(),
        if missing_kinds.len() == 1 { "" } else { "s" },
        missing_rules.len(),
        if missing_rules.len() == 1 { "" } else { "s" }
    )?;
    Ok(1)
}

fn verify_refs(
    course: &Course,
    sources: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    if !sources.is_dir() {
        writeln!(
            err,
            "dispel: {}: not a directory (fetch the sources with lessons/fetch-sources.sh)",
            escape(&sources.display().to_string())
        )?;
        return Ok(2);
    }
    let (checked, failures) = verify::verify(course, sources);
    for f in &failures {
        writeln!(out, "{}: {}", escape(&f.at.to_string()), escape(&f.message))?;
    }
    writeln!(
        out,
        "checked {checked} trace entr{}: {} failure{}",
        if checked == 1 { "y" } else { "ies" },
        failures.len(),
        if failures.len() == 1 { "" } else { "s" }
    )?;
    Ok(u8::from(!failures.is_empty()))
}

fn packages(course: &Course, out: &mut dyn Write) -> std::io::Result<()> {
    let mut seen = Vec::new();
    for s in &course.stacks {
        for p in &s.packages {
            let key = (p.registry, p.name.as_str(), p.version.as_str());
            if !seen.contains(&key) {
                seen.push(key);
                writeln!(
                    out,
                    "{} {} {}",
                    p.registry.as_str(),
                    escape(&p.name),
                    escape(&p.version)
                )?;
            }
        }
    }
    Ok(())
}
