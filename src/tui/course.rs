//! The lessons engine behind the TUI's [`LessonSource`]: binds lessons to
//! steps as they load (binding needs capture order: `nth` and `after`), and
//! renders the bound lessons for the chosen stack on demand.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::lessons::{self, Binder, Binding, Course, Problem, Rendered, TraceEntry};
use crate::sanitize::escape;
use crate::step::Step;

use super::column::Column;
use super::lessons::{LessonSource, LessonView, StackChoice, TraceLine};
use super::quiz::AnswerField;

/// How many steps of each kind the stack guess keeps (it only needs HTTP
/// responses and a few WebSocket steps; a cap keeps memory flat).
const GUESS_SAMPLE: usize = 64;

/// The lessons bound to each step, a byte a step: a capture of millions of
/// steps held one [`Binding`] (40 bytes) each, more than the capture's own
/// size, and the vector's doublings stalled the interface.
#[derive(Default)]
struct Bindings {
    /// Each step's lesson: 0 for none, else the lesson's index + 1; `WIDE`
    /// for an index that does not fit, kept in `wide`.
    step: Column<u8>,
    wide: HashMap<usize, usize>,
    /// The finding lessons of the steps with any bound.
    findings: HashMap<usize, Box<[Option<usize>]>>,
}

const WIDE: u8 = u8::MAX;

impl Bindings {
    fn len(&self) -> usize {
        self.step.len()
    }

    fn push(&mut self, b: Binding) {
        let i = self.step.len();
        let code = match b.step {
            None => 0,
            Some(l) => match u8::try_from(l + 1) {
                Ok(c) if c != WIDE => c,
                _ => {
                    self.wide.insert(i, l);
                    WIDE
                }
            },
        };
        self.step.push(code);
        if b.findings.iter().any(Option::is_some) {
            self.findings.insert(i, b.findings.into_boxed_slice());
        }
    }

    fn get(&self, i: usize) -> Option<Binding> {
        let step = match self.step.get(i)? {
            0 => None,
            WIDE => self.wide.get(&i).copied(),
            c => Some(usize::from(c) - 1),
        };
        let findings = self.findings.get(&i).map_or_else(Vec::new, |f| f.to_vec());
        Some(Binding { step, findings })
    }
}

/// Lessons from a course (the bundled one or `--lessons DIR`).
pub struct CourseLessons {
    binder: Binder<Arc<Course>>,
    /// What each step observed so far is bound to, in capture order.
    bindings: Bindings,
    /// Where `r` reloads from: `--lessons DIR`, else `lessons/` when the
    /// working directory has one, else nothing (the bundled course).
    dir: Option<PathBuf>,
    /// A few steps for guessing the stack.
    sample: Vec<Step>,
    problems: Vec<Problem>,
}

impl CourseLessons {
    pub fn new(selection: lessons::cli::Selection, dir: Option<PathBuf>) -> CourseLessons {
        let dir = dir.or_else(|| {
            let d = PathBuf::from("lessons");
            d.join("stacks.yaml").is_file().then_some(d)
        });
        CourseLessons::from_course(selection.course, dir, Vec::new())
    }

    /// A source over `course`; `problems` are shown in the lesson pane.
    pub fn from_course(
        course: Course,
        dir: Option<PathBuf>,
        problems: Vec<Problem>,
    ) -> CourseLessons {
        CourseLessons {
            binder: Binder::new(Arc::new(course)),
            bindings: Bindings::default(),
            dir,
            sample: Vec::new(),
            problems,
        }
    }

    fn course(&self) -> &Course {
        self.binder.course()
    }

    fn view(&self, r: Rendered) -> LessonView {
        let body = r.body_with_note();
        LessonView {
            title: r.title,
            body,
            refs: r.refs,
            hints: r.hints,
            questions: r.questions.into_iter().map(|q| (q.ask, q.answer)).collect(),
            answer_fields: Vec::new(),
            trace: r.trace.iter().map(trace_line).collect(),
            findings: Vec::new(),
            error: None,
        }
    }

    fn problems_text(&self) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        let mut s = String::new();
        for p in self.problems.iter().take(5) {
            s.push_str(&escape(&p.headline()));
            s.push('\n');
        }
        if self.problems.len() > 5 {
            s.push_str(&format!(
                "… and {} more (dispel lessons lint)\n",
                self.problems.len() - 5
            ));
        }
        Some(s)
    }
}

fn trace_line(t: &TraceEntry) -> TraceLine {
    TraceLine {
        package: escape(&t.package).into_owned(),
        version: escape(&t.version).into_owned(),
        file: escape(&t.file).into_owned(),
        line: t.line,
        function: escape(&t.function).into_owned(),
        does: escape(&t.does).into_owned(),
    }
}

impl LessonSource for CourseLessons {
    fn stacks(&self) -> Vec<StackChoice> {
        self.course()
            .stacks
            .iter()
            .map(|s| StackChoice {
                id: escape(&s.id).into_owned(),
                title: escape(&s.title).into_owned(),
            })
            .collect()
    }

    fn observe(&mut self, index: usize, step: &Step) {
        if index != self.bindings.len() {
            return; // out of order: the app re-feeds from 0 after a reload
        }
        self.bindings.push(self.binder.bind(step));
        let keep = matches!(
            step.kind,
            "http.response" | "websocket.desync" | "websocket.after-close"
        ) || (step.kind == "engineio.packet"
            && !self.sample.iter().any(|s| s.kind == "engineio.packet"));
        if keep && self.sample.len() < GUESS_SAMPLE {
            self.sample.push(step.clone());
        }
    }

    fn observed(&self) -> usize {
        self.bindings.len()
    }

    fn guess_stack(&self) -> Option<String> {
        let id = lessons::guess_stack(self.sample.iter())?;
        self.course().stack(id).map(|s| s.id.clone())
    }

    fn lesson(&self, step_index: usize, step: &Step, stack: Option<&str>) -> Option<LessonView> {
        let b = self.bindings.get(step_index)?;
        let course = self.course();
        let mut view = match b.step {
            Some(i) => {
                let mut v = self.view(lessons::render(&course.lessons[i], step, None, stack));
                v.answer_fields = course.lessons[i]
                    .questions
                    .iter()
                    .map(|q| {
                        q.field.as_ref().map(|f| AnswerField {
                            field: f.clone(),
                            on: q.on.clone(),
                            from: q.from,
                        })
                    })
                    .collect();
                v
            }
            None => LessonView {
                title: format!("No lesson for {} steps", step.kind),
                ..LessonView::default()
            },
        };
        for (f, l) in step.findings.iter().zip(&b.findings) {
            if let Some(i) = l {
                view.findings.push(self.view(lessons::render(
                    &course.lessons[*i],
                    step,
                    Some(f),
                    stack,
                )));
            }
        }
        view.error = self.problems_text();
        (b.step.is_some() || !view.findings.is_empty() || view.error.is_some()).then_some(view)
    }

    fn reload(&mut self) -> Result<(), String> {
        let Some(dir) = self.dir.clone() else {
            return Err("the bundled lessons are built in; nothing to reload \
                        (start with --lessons DIR to edit a course)"
                .into());
        };
        let (course, problems) = lessons::load_dir(&dir)
            .map_err(|e| format!("{}: {}", escape(&dir.display().to_string()), e))?;
        *self = CourseLessons::from_course(course, Some(dir), problems);
        match self.problems_text() {
            None => Ok(()),
            Some(p) => Err(p),
        }
    }

    fn describe(&self) -> String {
        match &self.dir {
            Some(d) => format!("lessons from {}", escape(&d.display().to_string())),
            None => "the bundled lessons".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_read_back_as_bound() {
        // Synthetic bindings: none, small and wide lesson indexes, and
        // finding lessons on some steps only.
        let bound = [
            Binding::default(),
            Binding {
                step: Some(0),
                findings: vec![None, Some(3)],
            },
            Binding {
                step: Some(253),
                findings: vec![None],
            },
            Binding {
                step: Some(254),
                findings: Vec::new(),
            },
            Binding {
                step: Some(70_000),
                findings: vec![Some(1)],
            },
        ];
        let mut b = Bindings::default();
        for x in &bound {
            b.push(x.clone());
        }
        assert_eq!(b.len(), bound.len());
        for (i, x) in bound.iter().enumerate() {
            let got = b.get(i).unwrap();
            assert_eq!(got.step, x.step, "step {i}");
            // Findings with nothing bound read back empty: the pane zips
            // them with the step's findings, so both show nothing.
            if x.findings.iter().any(Option::is_some) {
                assert_eq!(got.findings, x.findings, "step {i}");
            } else {
                assert!(got.findings.is_empty(), "step {i}");
            }
        }
        assert!(b.get(bound.len()).is_none());
        // Only the unusual cases take room beyond a byte a step.
        assert_eq!((b.wide.len(), b.findings.len()), (2, 2));
    }
}
