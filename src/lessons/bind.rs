//! Binding lessons to steps, in capture order.
//!
//! For each step: the *step lesson* is, among matching lessons without a
//! `finding`, the most specific — an exact `kind` beats a layer or prefix,
//! then the larger count of `dir`, `where` conditions, `nth` and `after`;
//! ties go to the lesson loaded first. For each finding on the step, the
//! *finding lesson* is chosen the same way among lessons whose
//! `select.finding` is the finding's rule id.
//!
//! `nth: N` counts the steps the rest of the selector matches (whether or
//! not the lesson was chosen for them); `after: X` holds for steps strictly
//! after the first step of the same connection that lesson X was bound to
//! (as step or finding lesson): "after the client's Close" is about that
//! connection's Close, not another's.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::step::{Finding, Step};

use super::model::{Cond, Course, Lesson};

/// The lessons bound to one step: indices into [`Course::lessons`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binding {
    /// The step lesson.
    pub step: Option<usize>,
    /// One entry per finding of the step, in the step's order.
    pub findings: Vec<Option<usize>>,
}

/// Feeds steps in capture order; keeps the `nth` counts and `after` state.
/// `C` is `&Course`, or an owner such as `Arc<Course>` for a binder that
/// lives beside its course (the TUI binds as steps load).
#[derive(Debug, Clone)]
pub struct Binder<C> {
    course: C,
    /// Steps each lesson's selector (all but `nth`) matched so far.
    matched: Vec<u32>,
    /// The connections on which each lesson has been bound to an earlier
    /// step (`after` asks about the step's own connection).
    bound: Vec<HashSet<crate::step::ConnId>>,
    /// Each lesson's `after`, resolved to an index (`Some(None)`: unknown).
    after: Vec<Option<Option<usize>>>,
    /// For each step kind seen, the lessons whose `kind` admits it, in
    /// course order: a step is tried against those only (trying every
    /// lesson on every step made binding millions of steps take minutes).
    by_kind: HashMap<&'static str, Arc<[usize]>>,
}

impl<C: std::ops::Deref<Target = Course>> Binder<C> {
    pub fn new(course: C) -> Binder<C> {
        let n = course.lessons.len();
        let after = course
            .lessons
            .iter()
            .map(|l| l.select.after.as_ref().map(|a| course.index_of(a)))
            .collect();
        Binder {
            course,
            matched: vec![0; n],
            bound: vec![HashSet::new(); n],
            after,
            by_kind: HashMap::new(),
        }
    }

    /// The lessons whose `kind` admits `kind` (all, for a lesson without
    /// one), ascending.
    fn candidates(&mut self, kind: &'static str) -> Arc<[usize]> {
        if let Some(c) = self.by_kind.get(kind) {
            return c.clone();
        }
        let c: Arc<[usize]> = self
            .course
            .lessons
            .iter()
            .enumerate()
            .filter(|(_, l)| l.select.kind.as_ref().is_none_or(|k| k.matches(kind)))
            .map(|(i, _)| i)
            .collect();
        self.by_kind.insert(kind, c.clone());
        c
    }

    /// The course the binder binds from.
    pub fn course(&self) -> &Course {
        &self.course
    }

    /// The lessons bound to the next step.
    pub fn bind(&mut self, step: &Step) -> Binding {
        let mut hits: Vec<usize> = Vec::new();
        let mut step_best: Option<usize> = None;
        let mut finding_best: Vec<Option<usize>> = vec![None; step.findings.len()];
        let candidates = self.candidates(step.kind);
        for &i in candidates.iter() {
            let les = &self.course.lessons[i];
            let sel = &les.select;
            if !self.base_matches(i, les, step) {
                continue;
            }
            // A finding lesson matches the step if the step carries its rule.
            let rule_hits: Vec<usize> = match &sel.finding {
                Some(rule) => step
                    .findings
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.rule.id == rule)
                    .map(|(j, _)| j)
                    .collect(),
                None => Vec::new(),
            };
            if sel.finding.is_some() && rule_hits.is_empty() {
                continue;
            }
            hits.push(i);
            if sel.nth.is_some_and(|n| self.matched[i] + 1 != n) {
                continue;
            }
            if sel.finding.is_none() {
                step_best = Some(self.better(step_best, i));
            } else {
                for j in rule_hits {
                    finding_best[j] = Some(self.better(finding_best[j], i));
                }
            }
        }
        for i in hits {
            self.matched[i] = self.matched[i].saturating_add(1);
        }
        for i in step_best.iter().chain(finding_best.iter().flatten()) {
            self.bound[*i].insert(step.conn);
        }
        Binding {
            step: step_best,
            findings: finding_best,
        }
    }

    fn better(&self, current: Option<usize>, candidate: usize) -> usize {
        match current {
            None => candidate,
            Some(c) => {
                let a = self.course.lessons[c].select.specificity();
                let b = self.course.lessons[candidate].select.specificity();
                // Strictly more specific wins; ties keep the earlier lesson.
                if b.cmp(&a) == Ordering::Greater {
                    candidate
                } else {
                    c
                }
            }
        }
    }

    /// Whether the selector, all but `kind` (the caller tries only the
    /// lessons [`candidates`](Self::candidates) gives), `finding` and
    /// `nth`, holds on the step.
    fn base_matches(&self, i: usize, les: &Lesson, step: &Step) -> bool {
        let sel = &les.select;
        if let Some(d) = sel.dir
            && d.dir() != step.dir
        {
            return false;
        }
        if let Some(after) = &self.after[i] {
            match after {
                Some(a) if self.bound[*a].contains(&step.conn) => {}
                _ => return false,
            }
        }
        sel.conds.iter().all(|c| cond_holds(c, step))
    }
}

/// Binds every step of a trace.
pub fn bind_all<'s>(course: &Course, steps: impl IntoIterator<Item = &'s Step>) -> Vec<Binding> {
    let mut b = Binder::new(course);
    steps.into_iter().map(|s| b.bind(s)).collect()
}

/// Whether a `where` condition holds on a step (the shared query's
/// [`Cond::holds_on_step`]).
pub fn cond_holds(c: &Cond, step: &Step) -> bool {
    c.holds_on_step(step)
}

/// The findings of a step paired with their bound lessons.
pub fn finding_lessons<'a>(
    course: &'a Course,
    step: &'a Step,
    b: &Binding,
) -> impl Iterator<Item = (&'a Finding, &'a Lesson)> + 'a {
    let bound: Vec<Option<usize>> = b.findings.clone();
    step.findings
        .iter()
        .zip(bound)
        .filter_map(move |(f, l)| l.map(|l| (f, &course.lessons[l])))
}
