//! Lessons: the annotated explanations shown next to each step.
//!
//! A course is a directory of YAML files (the format is `lessons/README.md`):
//! `stacks.yaml` declares the server stacks and their pinned packages, every
//! other `*.yaml` file holds lessons. The bundled course (`lessons/*.yaml`
//! of the source tree) is compiled into the binary.
//!
//! - [`load_dir`], [`load_paths`], [`bundled`] read a course and return it with
//!   every [`Problem`] found; a broken file or lesson never stops the rest.
//! - [`Binder`] binds lessons to steps in capture order ([`bind`]).
//! - [`render`](render::render) fills a lesson's text from its step
//!   ([`Rendered`]).
//! - [`guess_stack`] names the stack a capture was recorded from.
//!
//! Everything here is pure: no terminal, no printing (the `lessons`
//! subcommands live in [`cli`]).

pub mod bind;
pub mod cli;
mod guess;
pub mod load;
pub mod model;
pub mod predict;
pub mod render;
pub mod schema;
pub mod template;
pub mod trace;
pub mod verify;
/// The located YAML tree lessons are read through (now shared with
/// expectations: [`crate::yaml`]).
pub use crate::yaml;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use bind::{Binder, Binding, bind_all};
pub use guess::guess_stack;
pub use load::{Input, Problem};
pub use model::{
    Cond, Course, KindPattern, Lesson, Lit, Loc, Op, Package, Question, Registry, SelDir, Select,
    Side, Stack, TraceEntry,
};
pub use render::{Qa, Rendered, render};

/// The bundled course: `(name, text)` of every `lessons/*.yaml` at build time,
/// sorted by name.
pub static BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled_lessons.rs"));

/// Largest lesson file read, in bytes (256 KiB; the bundled course's files
/// are a few kilobytes each).
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The bundled course.
pub fn bundled() -> (Course, Vec<Problem>) {
    let inputs: Vec<Input> = BUNDLED
        .iter()
        .map(|(name, text)| Input {
            name: (*name).to_string(),
            text: Ok((*text).to_string()),
        })
        .collect();
    load::load_inputs(&inputs, None)
}

/// A course from a directory: its `stacks.yaml` (or, without one, the
/// bundled stacks) and its `*.yaml` files in name order.
pub fn load_dir(dir: &Path) -> std::io::Result<(Course, Vec<Problem>)> {
    let files = yaml_files(dir)?;
    Ok(load_files(&files))
}

/// A course from files and directories (as `dispel lessons lint` takes
/// them). Directories contribute their `*.yaml` files in name order.
pub fn load_paths(paths: &[PathBuf]) -> std::io::Result<(Course, Vec<Problem>)> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(yaml_files(p)?);
        } else {
            files.push(p.clone());
        }
    }
    // A stacks.yaml next to a lesson file given alone applies to it.
    for p in paths.iter().filter(|p| !p.is_dir()) {
        if let Some(dir) = p.parent() {
            let s = dir.join("stacks.yaml");
            if s.is_file() && !files.contains(&s) {
                files.push(s);
            }
        }
    }
    Ok(load_files(&files))
}

fn load_files(files: &[PathBuf]) -> (Course, Vec<Problem>) {
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| Input {
            name: f.display().to_string(),
            text: read_capped(f, MAX_FILE_BYTES),
        })
        .collect();
    let fallback = if inputs.iter().any(|i| load::is_stacks_file(&i.name)) {
        None
    } else {
        Some(bundled().0.stacks)
    };
    load::load_inputs(&inputs, fallback.as_deref())
}

fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    v.sort();
    Ok(v)
}

/// Reads a file of at most `max` bytes as UTF-8, never reading more than
/// `max + 1` bytes of it.
pub fn read_capped(path: &Path, max: usize) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut buf = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if buf.len() > max {
        let len = std::fs::metadata(path).map_or(buf.len() as u64, |m| m.len());
        return Err(format!(
            "the file is {len} bytes; lesson files are limited to {max} bytes"
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        format!(
            "the file is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

impl Course {
    /// [`guess_stack`], if the course declares the guessed stack.
    pub fn guess_stack<'s>(
        &self,
        steps: impl IntoIterator<Item = &'s crate::step::Step>,
    ) -> Option<&Stack> {
        guess_stack(steps).and_then(|id| self.stack(id))
    }

    /// A [`Binder`] over this course.
    pub fn binder(&self) -> Binder<&Course> {
        Binder::new(self)
    }
}
