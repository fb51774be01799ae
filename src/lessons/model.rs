//! The lesson model: what a loaded lesson file holds (the format is
//! `lessons/README.md`). Every item keeps where it was written, so
//! diagnostics and `verify-refs` can point at it.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

pub use crate::query::{Cond, KindPattern, Lit, Op, SelDir};

/// Where something was written: a lesson file and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

impl Serialize for Loc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A loaded course: the stacks and every lesson, in load order (file name,
/// then document order).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Course {
    pub stacks: Vec<Stack>,
    pub lessons: Vec<Lesson>,
}

impl Course {
    /// The lesson of that id.
    pub fn lesson(&self, id: &str) -> Option<&Lesson> {
        self.lessons.iter().find(|l| l.id == id)
    }

    /// The index of the lesson of that id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.lessons.iter().position(|l| l.id == id)
    }

    /// The stack of that id.
    pub fn stack(&self, id: &str) -> Option<&Stack> {
        self.stacks.iter().find(|s| s.id == id)
    }

    /// Every stack id, in stacks.yaml order.
    pub fn stack_ids(&self) -> Vec<&str> {
        self.stacks.iter().map(|s| s.id.as_str()).collect()
    }
}

/// A server stack of `stacks.yaml`: the libraries whose code a lesson's
/// `trace` cites, pinned to the versions the captures were recorded with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stack {
    /// Stable id used by `--stack` and as a key of lesson traces.
    pub id: String,
    pub title: String,
    pub packages: Vec<Package>,
    pub at: Loc,
}

impl Stack {
    /// The pinned package of that name.
    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }
}

/// A package registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Pypi,
    Npm,
}

impl Registry {
    pub fn as_str(self) -> &'static str {
        match self {
            Registry::Pypi => "pypi",
            Registry::Npm => "npm",
        }
    }
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub registry: Registry,
    pub name: String,
    pub version: String,
}

/// One lesson.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lesson {
    /// Unique across the course; `[a-z0-9-]+`.
    pub id: String,
    pub title: String,
    pub select: Select,
    /// Text with `{field.name}` interpolations; `{{` and `}}` are braces.
    pub body: String,
    /// Spec references, e.g. `RFC 6455 §5.3`.
    pub refs: Vec<String>,
    pub hints: Vec<String>,
    pub questions: Vec<Question>,
    /// Per stack id (in file order), the ordered call chain handling the step.
    pub trace: Vec<(String, Vec<TraceEntry>)>,
    /// Per stack id, a note true of that stack only (interpolated like the
    /// body), shown where that stack's trace is shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<(String, String)>,
    /// Trace entries written with `observed: false`: where each is written
    /// and its `reason` (what `dispel lessons trace` cannot see run for the
    /// step: work done earlier, in another process, or in compiled code).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unobserved: Vec<(Loc, String)>,
    /// Where the lesson's `id` is written.
    pub at: Loc,
}

impl Lesson {
    /// The trace for a stack (empty if the lesson has none for it).
    pub fn trace_for(&self, stack: &str) -> &[TraceEntry] {
        self.trace
            .iter()
            .find(|(s, _)| s == stack)
            .map_or(&[], |(_, t)| t.as_slice())
    }

    /// The note for a stack, if the lesson has one.
    pub fn note_for(&self, stack: &str) -> Option<&str> {
        self.notes
            .iter()
            .find(|(s, _)| s == stack)
            .map(|(_, n)| n.as_str())
    }

    /// The `reason` of an entry written with `observed: false`.
    pub fn unobserved(&self, e: &TraceEntry) -> Option<&str> {
        self.unobserved
            .iter()
            .find(|(at, _)| *at == e.at)
            .map(|(_, r)| r.as_str())
    }
}

/// A prediction question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub ask: String,
    /// Shown when the student asks for the answer (after the hints).
    pub answer: String,
    /// The field whose value answers the question: hidden while the question
    /// is open, and what a typed answer is checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where `field` is read: the first later step of this kind that carries
    /// the field, in the same conversation ([`super::predict::related`]):
    /// the same connection, or the same Engine.IO session for HTTP,
    /// Engine.IO and Socket.IO kinds. `None`: this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<KindPattern>,
    /// With `on`: which side sends that later step, relative to the asking
    /// step (the peer's answer, or this side's next). `None`: either.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Side>,
}

/// A side relative to the step a question is asked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The other side: an answer.
    Peer,
    /// The same side: what it sends next.
    Same,
}

impl Side {
    /// Whether a step sent in direction `later` is on this side of one sent
    /// in direction `asked`.
    pub fn admits(self, asked: crate::step::Dir, later: crate::step::Dir) -> bool {
        (asked == later) == (self == Side::Same)
    }
}

/// One step of a library call chain: the function handling a step, where it
/// is defined, and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceEntry {
    pub package: String,
    pub version: String,
    /// Path inside the package (wheel root for PyPI, `package/` for npm).
    pub file: String,
    /// Line where `function` is defined.
    pub line: u32,
    /// `Class.method` or `function`.
    pub function: String,
    pub does: String,
    /// Where the entry is written in its lesson file.
    pub at: Loc,
}

/// Which steps a lesson explains.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Select {
    pub kind: Option<KindPattern>,
    pub dir: Option<SelDir>,
    #[serde(rename = "where")]
    pub conds: Vec<Cond>,
    /// A finding rule id: the lesson explains findings of that rule.
    pub finding: Option<String>,
    /// Only the n-th matching step (1-based).
    pub nth: Option<u32>,
    /// Only steps after the first step bound to this lesson id.
    pub after: Option<String>,
}

impl Select {
    /// The specificity used to pick among matching lessons: an exact kind
    /// first, then the count of `dir`, `where` conditions, `nth` and `after`.
    pub fn specificity(&self) -> (bool, usize) {
        let exact = matches!(self.kind, Some(KindPattern::Exact(_)));
        let n = usize::from(self.dir.is_some())
            + self.conds.len()
            + usize::from(self.nth.is_some())
            + usize::from(self.after.is_some());
        (exact, n)
    }
}
