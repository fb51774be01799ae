//! What the lesson pane needs from the lessons engine, as a trait.
//!
//! The engine (lesson files, binding to steps in capture order, stacks) lives
//! elsewhere; an adapter implements [`LessonSource`] by precomputing the
//! binding per step, and the interface only asks by step index. Everything in
//! a [`LessonView`] came from a lesson file or a capture: the pane escapes it
//! for the terminal.

use std::path::PathBuf;

use crate::step::Step;

/// A server stack the call chains can be shown for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackChoice {
    /// The name `--stack` takes.
    pub id: String,
    pub title: String,
}

/// One line of a call chain: where in the chosen stack this step is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub package: String,
    pub version: String,
    pub file: String,
    pub line: u32,
    pub function: String,
    /// What the function does with this step, in a sentence.
    pub does: String,
}

/// A lesson bound to a step, its values already filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LessonView {
    pub title: String,
    pub body: String,
    /// Specification references, e.g. `RFC 6455 §5.2`.
    pub refs: Vec<String>,
    pub hints: Vec<String>,
    /// Prediction questions: (question, answer). Answers stay hidden until asked.
    pub questions: Vec<(String, String)>,
    /// Per question, the field whose value answers it (and the later step
    /// kind it is read on), if it names one: hidden while the question is
    /// open, and what a typed answer is checked against.
    pub answer_fields: Vec<Option<super::quiz::AnswerField>>,
    /// The call chain for the chosen stack.
    pub trace: Vec<TraceLine>,
    /// Lessons for the step's findings.
    pub findings: Vec<LessonView>,
    /// A lint error: the lesson could not be used as written.
    pub error: Option<String>,
}

impl LessonView {
    /// How many things `h` can reveal: each hint, then each answer.
    pub fn revealable(&self) -> usize {
        self.hints.len() + self.questions.len()
    }
}

/// The lessons engine as the interface sees it.
pub trait LessonSource {
    /// The stacks call chains exist for.
    fn stacks(&self) -> Vec<StackChoice>;
    /// The lesson bound to the step at `step_index` (capture order).
    fn lesson(&self, step_index: usize, step: &Step, stack: Option<&str>) -> Option<LessonView>;
    /// Re-reads the lessons from disk.
    fn reload(&mut self) -> Result<(), String>;
    /// The next step in capture order (binding needs the order: `nth`,
    /// `after`). Called with `index == observed()`; after a reload the
    /// source forgets and the app feeds it again from 0.
    fn observe(&mut self, _index: usize, _step: &Step) {}
    /// How many steps [`observe`](Self::observe) has seen.
    fn observed(&self) -> usize {
        usize::MAX
    }
    /// The stack the observed steps suggest, when no `--stack` was given.
    fn guess_stack(&self) -> Option<String> {
        None
    }
    /// A line for the lesson pane when no lesson is bound (where lessons come from).
    fn describe(&self) -> String {
        String::new()
    }
}

/// No lessons loaded: the pane says so and still shows the step's findings.
#[derive(Debug, Clone, Default)]
pub struct NoLessons {
    /// The `--lessons` directory given, if any (not read until the engine is wired).
    pub dir: Option<PathBuf>,
}

impl LessonSource for NoLessons {
    fn stacks(&self) -> Vec<StackChoice> {
        Vec::new()
    }
    fn lesson(&self, _: usize, _: &Step, _: Option<&str>) -> Option<LessonView> {
        None
    }
    fn reload(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn describe(&self) -> String {
        match &self.dir {
            Some(d) => format!("lessons from {} are not loaded yet", d.display()),
            None => "no lessons loaded (dispel replay CAPTURE --lessons DIR)".into(),
        }
    }
}
