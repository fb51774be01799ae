//! The interface's state and how actions change it. No I/O, no terminal:
//! [`App::handle`] is a pure state transition, and the views draw from the
//! state alone, so scripted key sequences can be tested on a `TestBackend`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Position, Rect};

use super::diagram;
use super::keys::{self, Action, Ctx};
use super::lessons::{LessonSource, LessonView, StackChoice};
use super::links::{self, Link};
use super::quiz::{Input, Quiz, TimelineSteps, Verdict};
use super::timeline::{Row, Timeline};
use super::view::layout::{Areas, areas};
use super::view::lesson::{self as lesson_view, StackInfo};
use super::visible::Visible;
use crate::output::mermaid::Lane;
use crate::output::text::render_value;
use crate::query::kind_matches;
use crate::step::{Dir, Span, Step};

/// Rows scanned per call when (re)building the filtered list or searching,
/// so no keypress waits for work proportional to the capture's size.
const SCAN_CHUNK: usize = 20_000;

/// Steps bound to lessons each pump however little of its budget is left,
/// so binding goes on however busy the pumps are.
const BIND_AT_LEAST: usize = 256;
/// Replay waits at most this long between two steps, however long the
/// capture's own gap was.
pub const MAX_GAP: Duration = Duration::from_secs(2);
const MIN_SPEED: f64 = 1.0 / 16.0;
const MAX_SPEED: f64 = 256.0;
/// The fixed-interval replay's default wait between two steps, and its bounds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MIN_INTERVAL: Duration = Duration::from_millis(125);
const MAX_INTERVAL: Duration = Duration::from_secs(8);
/// A message and at most this many frames before it are drawn message
/// first; a message of more frames keeps capture order.
const FRAME_GROUP: usize = 64;
/// Steps kept in the link history (`b` goes back through them).
const HISTORY: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Timeline,
    Fields,
    Bytes,
    Lesson,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Timeline, Pane::Fields, Pane::Bytes, Pane::Lesson];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Timeline => "Timeline",
            Pane::Fields => "Fields",
            Pane::Bytes => "Bytes",
            Pane::Lesson => "Lesson",
        }
    }

    fn ctx(self) -> Ctx {
        match self {
            Pane::Timeline => Ctx::Timeline,
            Pane::Fields => Ctx::Fields,
            Pane::Bytes => Ctx::Bytes,
            Pane::Lesson => Ctx::Lesson,
        }
    }
}

/// The layers the filter offers (TLS last: the cycle keeps its order from before it).
pub const LAYERS: [&str; 6] = ["tcp", "http", "websocket", "engineio", "socketio", "tls"];

/// What the timeline shows; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub conn: Option<u32>,
    pub session: Option<u32>,
    pub layer: Option<&'static str>,
    pub dir: Option<Dir>,
    pub findings_only: bool,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    pub fn accepts(&self, r: &Row<'_>) -> bool {
        self.conn.is_none_or(|c| r.conn == c)
            && self.session.is_none_or(|s| r.session == Some(s))
            && self.layer.is_none_or(|l| kind_matches(l, r.kind))
            && self.dir.is_none_or(|d| r.dir == d)
            && (!self.findings_only || r.findings > 0)
    }

    /// One line describing the criteria in force.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.conn {
            parts.push(format!("conn {c}"));
        }
        if let Some(s) = self.session {
            parts.push(format!("session {s}"));
        }
        if let Some(l) = self.layer {
            parts.push(l.to_string());
        }
        if let Some(d) = self.dir {
            parts.push(d.as_str().to_string());
        }
        if self.findings_only {
            parts.push("findings".into());
        }
        parts.join(", ")
    }
}

/// The filter overlay's rows.
pub const FILTER_ITEMS: [&str; 5] = [
    "connection",
    "session",
    "layer",
    "direction",
    "findings only",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Filter {
        item: usize,
    },
    Stack {
        item: usize,
        stacks: Vec<StackChoice>,
    },
    Search {
        input: String,
    },
}

/// How replay paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayMode {
    /// One step every `interval`, whatever the capture's timing: a student
    /// can follow a loopback capture whose steps are microseconds apart.
    Fixed,
    /// The capture's own gaps (capped at [`MAX_GAP`]) divided by `speed`.
    Timing,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replay {
    pub playing: bool,
    pub mode: ReplayMode,
    /// The wait between two steps in [`ReplayMode::Fixed`].
    pub interval: Duration,
    /// The speed-up of [`ReplayMode::Timing`].
    pub speed: f64,
    /// Time waited at the current step.
    pub waited: Duration,
}

impl Replay {
    /// The pace as the status line shows it: `1 step/1s`, `timing 2×`.
    pub fn pace(&self) -> String {
        match self.mode {
            ReplayMode::Fixed => {
                let ms = self.interval.as_millis();
                if ms.is_multiple_of(1000) {
                    format!("1 step/{}s", ms / 1000)
                } else {
                    format!("1 step/{}s", self.interval.as_secs_f64())
                }
            }
            ReplayMode::Timing => {
                let s = self.speed;
                if s >= 1.0 {
                    format!("timing {s}×")
                } else {
                    format!("timing 1/{}×", (1.0 / s).round())
                }
            }
        }
    }
}

/// A search still scanning: it continues on the next pumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSearch {
    pub query: String,
    /// Next step index to look at.
    pub next: usize,
    /// Where the search started (it wraps around once).
    pub from: usize,
    pub wrapped: bool,
}

pub struct App {
    pub tl: Box<dyn Timeline>,
    pub lessons: Box<dyn LessonSource>,
    pub stack: Option<String>,
    /// Whether the stack guess was taken (or the user chose a stack).
    pub stack_guessed: bool,
    pub focus: Pane,
    /// The detail pane shown below the timeline in the narrow layout.
    pub detail: Pane,
    pub overlay: Option<Overlay>,
    pub filter: Filter,
    /// Step indexes shown, ascending: those passing the filter and not folded.
    pub visible: Visible,
    /// Steps the visible list has been built over.
    scanned: usize,
    /// The selected step (an index into the timeline, not into `visible`).
    pub selected: Option<usize>,
    pub tl_offset: usize,
    pub field: usize,
    pub fields_offset: usize,
    pub bytes_scroll: u16,
    pub lesson_scroll: u16,
    /// Hints, then answers, revealed for the selected step.
    pub revealed: usize,
    pub folded: BTreeSet<usize>,
    pub fold_frames: bool,
    pub last_search: Option<String>,
    pub searching: Option<PendingSearch>,
    pub replay: Replay,
    pub size: (u16, u16),
    /// A one-off message for the status line.
    pub message: Option<String>,
    /// The error of the last failed lesson reload.
    pub reload_error: Option<String>,
    pub quit: bool,
    /// The selected step's links to other steps (fields pane rows).
    pub links: Vec<Link>,
    /// Steps left by following a link, most recent last (`b` returns).
    pub history: Vec<usize>,
    /// The timeline pane shows the sequence diagram of the selected step's
    /// connection or session instead.
    pub diagram: bool,
    /// The diagram shown, and its arrows (timeline indexes, in order).
    pub diagram_lane: Option<Lane>,
    pub diagram_arrows: Vec<usize>,
    /// Steps loaded when the arrows were gathered.
    diagram_len: usize,
    /// The selected step, cached so views do not ask the store on every cell.
    current: Option<Arc<Step>>,
    /// The stream being read, for a live session (`replay -`, `--live`).
    pub live: Option<super::live::LiveFeed>,
    /// Follow the newest step as steps arrive (`F`, like `tail -f`).
    pub follow: bool,
    /// The questions asked so far, the values they hide, the answer prompt.
    pub quiz: Quiz,
    /// The selected step's bytes hidden by open questions (the bytes pane
    /// draws them `··`); `current` has their fields' values hidden.
    pub hidden_spans: Vec<Span>,
}

impl App {
    pub fn new(
        tl: Box<dyn Timeline>,
        lessons: Box<dyn LessonSource>,
        stack: Option<String>,
    ) -> App {
        let mut app = App {
            tl,
            lessons,
            stack_guessed: stack.is_some(),
            stack,
            focus: Pane::Timeline,
            detail: Pane::Fields,
            overlay: None,
            filter: Filter::default(),
            visible: Visible::default(),
            scanned: 0,
            selected: None,
            tl_offset: 0,
            field: 0,
            fields_offset: 0,
            bytes_scroll: 0,
            lesson_scroll: 0,
            revealed: 0,
            folded: BTreeSet::new(),
            fold_frames: false,
            last_search: None,
            searching: None,
            replay: Replay {
                playing: false,
                mode: ReplayMode::Fixed,
                interval: DEFAULT_INTERVAL,
                speed: 1.0,
                waited: Duration::ZERO,
            },
            size: (80, 24),
            message: None,
            reload_error: None,
            quit: false,
            links: Vec::new(),
            history: Vec::new(),
            diagram: false,
            diagram_lane: None,
            diagram_arrows: Vec::new(),
            diagram_len: 0,
            current: None,
            live: None,
            follow: false,
            quiz: Quiz::default(),
            hidden_spans: Vec::new(),
        };
        app.catch_up();
        app
    }

    // ---- reading -------------------------------------------------------

    /// The selected step.
    pub fn current(&self) -> Option<&Step> {
        self.current.as_deref()
    }

    /// The selected step's row in the timeline (or where it would be): its
    /// position in the visible list, but for frames, drawn under their
    /// message (see [`App::display_at`]).
    pub fn position(&self) -> usize {
        match self.selected {
            Some(s) if self.visible.contains(s) => {
                let p = self.visible.rank(s);
                match self.frame_group(p) {
                    Some((start, m)) if p == m => start,
                    Some(_) => p + 1,
                    None => p,
                }
            }
            Some(s) => self.visible.rank(s),
            None => 0,
        }
    }

    /// The step on timeline row `pos`. Rows follow the visible list, except
    /// that a message comes before the frames that fold under it (they
    /// arrive first, but read as its children): frames, message becomes
    /// message, frames.
    pub fn display_at(&self, pos: usize) -> Option<usize> {
        match self.frame_group(pos) {
            Some((start, m)) if pos == start => self.visible.get(m),
            Some(_) => self.visible.get(pos - 1),
            None => self.visible.get(pos),
        }
    }

    /// The visible-list positions `(first frame, message)` of the run of
    /// frames and their message that position `pos` falls in, if it does.
    fn frame_group(&self, pos: usize) -> Option<(usize, usize)> {
        let frame_of = |r: &Row<'_>| {
            matches!(r.kind, "websocket.frame" | "websocket.inflate")
                .then_some(r.parent)
                .flatten()
        };
        let i = self.visible.get(pos)?;
        let r = self.tl.row_for_filter(i)?;
        let m = match frame_of(&r) {
            Some(m) => m,
            None if r.kind == "websocket.message" => i,
            None => return None,
        };
        if !self.visible.contains(m) {
            return None;
        }
        let mpos = self.visible.rank(m);
        if mpos < pos || mpos - pos > FRAME_GROUP {
            return None;
        }
        let mut start = mpos;
        while start > 0 && mpos - start < FRAME_GROUP {
            let above = self
                .visible
                .get(start - 1)
                .and_then(|j| self.tl.row_for_filter(j));
            if above.is_some_and(|a| frame_of(&a) == Some(m)) {
                start -= 1;
            } else {
                break;
            }
        }
        (start < mpos && pos >= start).then_some((start, mpos))
    }

    /// Whether the whole capture is loaded and in the visible list (the
    /// lessons may still be binding, and chunks still being read back).
    pub fn navigable(&self) -> bool {
        !self.tl.state().loading && self.scanned >= self.tl.len()
    }

    /// Whether the loader or the filter still has work.
    pub fn busy(&self) -> bool {
        self.tl.state().loading
            || self.scanned < self.tl.len()
            || self.searching.is_some()
            || self.tl.busy()
    }

    /// The lesson bound to the selected step.
    pub fn lesson(&self) -> Option<LessonView> {
        let (i, s) = (self.selected?, self.current()?);
        self.lessons.lesson(i, s, self.stack.as_deref())
    }

    /// The contexts keys are looked up in, first match wins.
    pub fn contexts(&self) -> Vec<Ctx> {
        match &self.overlay {
            None if self.answering() => vec![Ctx::Answer, Ctx::Always],
            Some(Overlay::Search { .. }) => vec![Ctx::Search, Ctx::Always],
            Some(Overlay::Help { .. }) => vec![Ctx::Help, Ctx::Always],
            Some(Overlay::Filter { .. }) => vec![Ctx::Filter, Ctx::Always],
            Some(Overlay::Stack { .. }) => vec![Ctx::Stack, Ctx::Always],
            None if self.replay.playing => {
                vec![Ctx::Always, Ctx::Playing, self.focus.ctx(), Ctx::Global]
            }
            None => vec![Ctx::Always, self.focus.ctx(), Ctx::Global],
        }
    }

    pub fn areas(&self) -> Areas {
        areas(Rect::new(0, 0, self.size.0, self.size.1), self)
    }

    /// The pane that the narrow layout shows under the timeline.
    pub fn shown_detail(&self) -> Pane {
        if self.focus == Pane::Timeline {
            self.detail
        } else {
            self.focus
        }
    }

    fn hidden(&self, i: usize, row: &Row<'_>) -> bool {
        if self.fold_frames && row.parent.is_some() && row.kind == "websocket.frame" {
            return true;
        }
        let mut p = row.parent;
        let mut depth = 0;
        while let Some(pi) = p {
            if self.folded.contains(&pi) {
                return true;
            }
            depth += 1;
            if depth > 8 || pi == i {
                break;
            }
            p = self.tl.row_for_filter(pi).and_then(|r| r.parent);
        }
        false
    }

    fn shows(&self, i: usize) -> bool {
        self.tl
            .row_for_filter(i)
            .is_some_and(|r| self.filter.accepts(&r) && !self.hidden(i, &r))
    }

    // ---- background work -----------------------------------------------

    /// Takes newly loaded steps and continues any scan, within a budget.
    pub fn pump(&mut self, budget: Duration) {
        let h = self.page(Pane::Timeline);
        let from = self.tl_offset.min(self.visible.len());
        let to = from.saturating_add(h).min(self.visible.len());
        let mut shown: Vec<usize> = self.visible.range(from, to).collect();
        // The selected step's chunk is needed too (an indexed timeline
        // keeps the chunks wanted), even when scrolled off screen.
        if let Some(s) = self.selected
            && !shown.contains(&s)
        {
            shown.push(s);
        }
        self.tl.want(&shown);
        let start = Instant::now();
        // Half for the store, the rest (at least one chunk) for the visible
        // list: on a capture of millions of steps both have much to do.
        self.tl.poll(budget / 2);
        self.catch_up();
        while self.scanned < self.tl.len() && start.elapsed() < budget {
            self.catch_up();
        }
        // The search asks for steps before the lesson binder does: a store
        // that reads steps back on demand serves them in that order.
        self.continue_search();
        self.bind_lessons(start + budget);
        let asked = self.selected.is_none_or(|i| self.quiz.asked(i));
        let steps = TimelineSteps(self.tl.as_ref());
        if self.quiz.refresh(&steps) || !asked {
            self.ask_and_mask();
        }
        if self.diagram && self.tl.len() != self.diagram_len {
            self.refresh_diagram();
        }
        if self.follow {
            self.select_pos(usize::MAX);
        }
        self.fix_scroll();
    }

    /// `F`: follow the newest step as steps arrive, or stop following.
    fn toggle_follow(&mut self) {
        self.follow = !self.follow;
        if self.follow {
            self.select_pos(usize::MAX);
        }
        self.message = Some(if self.follow {
            "following the newest step (F to stop)".into()
        } else {
            "no longer following".into()
        });
    }

    /// `w`: writes everything a live session received so far to a capture
    /// file in the current directory.
    fn write_capture(&mut self) {
        let Some(feed) = &self.live else {
            self.message = Some("w writes a live session's capture; this one is a file".into());
            return;
        };
        let dest = super::live::save_name(super::live::is_pcapng(feed.spool_path()));
        self.message = Some(match feed.save(&dest) {
            Ok(n) => format!("wrote {n} packets to {}", dest.display()),
            Err(e) => format!("could not write {}: {e}", dest.display()),
        });
    }

    /// Feeds the lesson source the steps it has not seen, a chunk at most,
    /// and past the first few only until `deadline` (binding a step costs
    /// microseconds: a whole chunk held a pump for tens of milliseconds);
    /// once the whole capture is bound, takes its stack guess unless the
    /// user chose one.
    fn bind_lessons(&mut self, deadline: Instant) {
        let from = self.lessons.observed();
        let end = self.tl.len().min(from.saturating_add(SCAN_CHUNK));
        // While the capture is still being indexed, only steps already read
        // back (the screen's) are bound: reading chunks back for the binder
        // then would take a core from the index pass. A live session's
        // index pass waits for traffic, and its newest steps are at hand:
        // a binder left behind reads the chunks back, or it would wait for
        // the end of the session.
        let loading = self.tl.state().loading && self.live.is_none();
        for i in from..end {
            let n = i - from;
            if n >= BIND_AT_LEAST && n.is_multiple_of(64) && Instant::now() >= deadline {
                break;
            }
            let step = if loading {
                self.tl.step_at_hand(i)
            } else {
                self.tl.step(i)
            };
            match step {
                Some(s) => self.lessons.observe(i, &s),
                None => break,
            }
        }
        if self.stack.is_none()
            && !self.stack_guessed
            && !self.tl.state().loading
            && self.lessons.observed() >= self.tl.len()
        {
            self.stack_guessed = true;
            if let Some(g) = self.lessons.guess_stack() {
                self.message = Some(format!(
                    "stack: {g} (guessed from the capture; s to change)"
                ));
                self.stack = Some(g);
            }
        }
    }

    /// Extends the visible list over steps not yet scanned, a chunk at a time.
    fn catch_up(&mut self) {
        let end = self.tl.len().min(self.scanned + SCAN_CHUNK);
        for i in self.scanned..end {
            if self.shows(i) {
                self.visible.push(i);
            }
        }
        self.scanned = end;
        if self.selected.is_none() && !self.visible.is_empty() {
            self.select(self.visible.get(0));
        } else if let Some(s) = self.selected
            && self.current.is_none()
        {
            self.select(Some(s));
        }
    }

    /// Rebuilds the visible list (filter or folding changed), keeping the
    /// selection where possible.
    fn rebuild(&mut self) {
        self.visible.clear();
        self.scanned = 0;
        self.catch_up();
        if let Some(s) = self.selected
            && !self.visible.contains(s)
            && self.scanned >= self.tl.len()
        {
            let p = self.visible.rank(s);
            let next = self.visible.get(p).or_else(|| self.visible.last());
            self.select(next);
        }
    }

    fn select(&mut self, i: Option<usize>) {
        let changed = i != self.selected || self.current.is_none();
        self.selected = i;
        if changed {
            self.current = i.and_then(|i| self.tl.step(i));
            self.links = match (i, &self.current) {
                (Some(i), Some(s)) => links::links(self.tl.as_ref(), i, s),
                _ => Vec::new(),
            };
            self.field = 0;
            self.fields_offset = 0;
            self.bytes_scroll = 0;
            self.lesson_scroll = 0;
            self.revealed = 0;
            self.replay.waited = Duration::ZERO;
            self.quiz.input = None;
            self.quiz.verdict = None;
            self.ask_and_mask();
            self.refresh_diagram();
        }
    }

    /// Asks the selected step's questions once its lesson is bound, and
    /// hides on it what the open questions hide.
    fn ask_and_mask(&mut self) {
        let Some(i) = self.selected else {
            return;
        };
        let Some(raw) = self.tl.step(i) else {
            return;
        };
        if !self.quiz.asked(i) && self.lessons.observed() > i {
            let fields = self
                .lessons
                .lesson(i, &raw, self.stack.as_deref())
                .map(|l| l.answer_fields)
                .unwrap_or_default();
            let steps = TimelineSteps(self.tl.as_ref());
            self.quiz.ask(&steps, i, &raw, &fields);
        }
        let hidden = self.quiz.hidden(i);
        if hidden.is_empty() {
            self.current = Some(raw);
            self.hidden_spans.clear();
        } else {
            let (masked, spans) = hidden.mask(&raw);
            self.current = Some(Arc::new(masked));
            self.hidden_spans = spans;
        }
    }

    /// Whether the answer prompt has the keys.
    pub fn answering(&self) -> bool {
        self.quiz.input.as_ref().is_some_and(|i| i.focused)
    }

    /// `a`: opens the answer prompt for the lesson's first open question
    /// that names a field (or gives the keys back to an open prompt).
    fn start_answer(&mut self) {
        let Some(i) = self.selected else {
            self.message = Some("no step selected".into());
            return;
        };
        let Some(l) = self.lesson() else {
            self.message = Some("no lesson is bound to this step: nothing to answer".into());
            return;
        };
        if l.questions.is_empty() {
            self.message = Some("this step's lesson asks no question".into());
            return;
        }
        let q = (0..l.questions.len()).find(|&q| {
            l.answer_fields.get(q).is_some_and(Option::is_some) && !self.quiz.is_closed(i, q)
        });
        let Some(q) = q else {
            self.message = Some(
                if (0..l.questions.len()).all(|q| self.quiz.is_closed(i, q)) {
                    "every question here is answered".into()
                } else {
                    "no question here names a field to check an answer against: h reveals the answers"
                        .into()
                },
            );
            return;
        };
        match &mut self.quiz.input {
            Some(input) if input.q == q => input.focused = true,
            _ => {
                self.quiz.input = Some(Input {
                    q,
                    text: String::new(),
                    focused: true,
                })
            }
        }
        // The prompt is in the lesson pane: it takes the focus.
        self.focus_pane(Pane::Lesson);
        self.prompt_into_view();
        self.message = Some(format!(
            "answer Q{}: type, Enter checks, Esc cancels",
            q + 1
        ));
    }

    /// Scrolls the lesson pane to the answer prompt (its question and the
    /// last verdict just above it) when it is out of view.
    fn prompt_into_view(&mut self) {
        let lines = lesson_view::pane_lines(self);
        let Some(at) = lines
            .iter()
            .position(|l| l.to_string().starts_with("      answer › "))
        else {
            return;
        };
        let a = self.areas();
        let r = a.lesson.unwrap_or(a.detail);
        let h = usize::from(r.height.saturating_sub(2)).max(1);
        let row = lesson_view::rows(&lines[..at], r.width.saturating_sub(2));
        let top = usize::from(self.lesson_scroll);
        if row < top || row >= top + h {
            let lead = h.saturating_sub(1).min(3);
            self.lesson_scroll = u16::try_from(row.saturating_sub(lead)).unwrap_or(u16::MAX);
            self.clamp_lesson_scroll();
        }
    }

    /// The narrow layout shows one detail pane: make it the lesson.
    fn show_lesson_pane(&mut self) {
        if self.areas().lesson.is_none() {
            if self.focus == Pane::Timeline {
                self.detail = Pane::Lesson;
            } else {
                self.focus_pane(Pane::Lesson);
            }
        }
    }

    /// A key while the answer prompt has the keys; whether it took it.
    fn answer_key(&mut self, action: Action) -> bool {
        let Some(input) = self.quiz.input.as_mut() else {
            return false;
        };
        match action {
            Action::Input(c) => {
                if input.text.chars().count() < 200 {
                    input.text.push(c);
                }
            }
            Action::Backspace => {
                input.text.pop();
            }
            Action::Close => {
                self.quiz.input = None;
                self.message = Some("answer cancelled".into());
            }
            Action::NextPane => {
                input.focused = false;
                self.cycle_pane(true);
            }
            Action::Choose => self.submit_answer(),
            _ => return false,
        }
        self.prompt_into_view();
        true
    }

    /// Enter in the answer prompt: checks the typed answer against the
    /// capture's value; right closes the question (its value shows again),
    /// wrong shows the next hint.
    fn submit_answer(&mut self) {
        let (Some(i), Some(input)) = (self.selected, self.quiz.input.clone()) else {
            return;
        };
        if input.text.trim().is_empty() {
            self.message = Some("type an answer first (Esc cancels)".into());
            return;
        }
        let q = input.q;
        let Some(open) = self.quiz.open_question(i, q).cloned() else {
            self.quiz.input = None;
            return;
        };
        let verdict = |right: bool, text: String| Verdict {
            step: i,
            q,
            right,
            text,
        };
        match &open.resolution {
            crate::lessons::predict::Resolution::Found(a) => {
                if crate::lessons::predict::check(&a.value, &input.text) {
                    self.quiz.close(i, q);
                    self.quiz.verdict = Some(verdict(true, "right".into()));
                    self.message = Some(format!("Q{}: right", q + 1));
                    self.ask_and_mask();
                } else {
                    let hints = self.lesson().map(|l| l.hints).unwrap_or_default();
                    let text = if self.revealed < hints.len() {
                        self.revealed += 1;
                        format!(
                            "not quite — hint {}: {}",
                            self.revealed,
                            hints[self.revealed - 1]
                        )
                    } else {
                        "not quite — h reveals the answer".into()
                    };
                    self.quiz.verdict = Some(verdict(false, text));
                    if let Some(inp) = self.quiz.input.as_mut() {
                        inp.text.clear();
                    }
                    self.message = Some(format!("Q{}: not quite", q + 1));
                }
            }
            crate::lessons::predict::Resolution::NotReadYet(_) => {
                self.message = Some(
                    "the step holding the answer is still being read: Enter again in a moment"
                        .into(),
                );
            }
            _ => {
                self.quiz.input = None;
                self.quiz.verdict = Some(verdict(false, unanswerable(&open)));
            }
        }
    }

    /// Gathers the diagram's arrows when the selection moved to another
    /// connection or session, or more steps arrived.
    fn refresh_diagram(&mut self) {
        if !self.diagram {
            return;
        }
        // A selected step not read back yet keeps the lane drawn.
        let lane = match self.current() {
            Some(s) => Some(diagram::lane_of(s)),
            None if self.selected.is_some() => self.diagram_lane,
            None => None,
        };
        let len = self.tl.len();
        if lane == self.diagram_lane && len > self.diagram_len {
            // Steps arrived: only theirs are looked at (an indexed timeline
            // may no longer hold the older control frames in full).
            if let Some(l) = lane {
                diagram::extend(
                    self.tl.as_ref(),
                    l,
                    self.diagram_len,
                    &mut self.diagram_arrows,
                );
            }
            self.diagram_len = len;
        } else if lane != self.diagram_lane || len != self.diagram_len {
            self.diagram_lane = lane;
            self.diagram_len = len;
            self.diagram_arrows = match lane {
                Some(l) => diagram::arrows(self.tl.as_ref(), l),
                None => Vec::new(),
            };
        }
    }

    /// The arrow standing for the selected step, as a position in the diagram.
    pub fn diagram_pos(&self) -> Option<usize> {
        let s = self.selected?;
        let parent = self.tl.row_for_filter(s).and_then(|r| r.parent);
        let a = diagram::anchor(&self.diagram_arrows, s, parent)?;
        self.diagram_arrows.binary_search(&a).ok()
    }

    /// The first diagram arrow shown in a pane of `rows` arrow rows: the
    /// selected one stays in view, a third of the way down.
    pub fn diagram_offset(&self, rows: usize) -> usize {
        let pos = self.diagram_pos().unwrap_or(0);
        let n = self.diagram_arrows.len();
        pos.saturating_sub(rows / 3).min(n.saturating_sub(rows))
    }

    /// Moves the selection `delta` arrows through the diagram.
    fn diagram_move(&mut self, delta: isize) {
        let n = self.diagram_arrows.len();
        if n == 0 {
            return;
        }
        let pos = self.diagram_pos().unwrap_or(0) as isize;
        let to = (pos + delta).clamp(0, n as isize - 1) as usize;
        self.select(Some(self.diagram_arrows[to]));
    }

    fn toggle_diagram(&mut self) {
        self.diagram = !self.diagram;
        if self.diagram {
            self.diagram_lane = None;
            self.refresh_diagram();
            self.focus_pane(Pane::Timeline);
            if self.diagram_arrows.is_empty() {
                self.message = Some("no message of this connection to draw".into());
            }
        } else if let Some(s) = self.selected {
            // The timeline shows the step the diagram selected.
            self.reveal(s);
        }
    }

    fn select_pos(&mut self, pos: usize) {
        if let Some(i) = self.display_at(pos.min(self.visible.len().saturating_sub(1))) {
            self.select(Some(i));
        }
    }

    fn move_by(&mut self, delta: isize) {
        if self.visible.is_empty() {
            return;
        }
        let pos = self.position();
        let on = self
            .selected
            .is_some_and(|s| self.display_at(pos) == Some(s));
        let target = if delta > 0 && !on {
            // The selection is filtered out: the first visible after it is one step on.
            pos as isize + delta - 1
        } else {
            pos as isize + delta
        };
        self.select_pos(target.clamp(0, self.visible.len() as isize - 1) as usize);
    }

    /// The next (or previous) visible step satisfying `pred`.
    fn seek(&mut self, forward: bool, pred: impl Fn(&Row<'_>) -> bool) -> bool {
        // In capture order.
        let pos = self.selected.map_or(0, |s| self.visible.rank(s));
        let found = if forward {
            let start = match self.selected {
                Some(s) if self.visible.get(pos) == Some(s) => pos + 1,
                _ => pos,
            };
            self.visible
                .range(start, self.visible.len())
                .find(|&i| self.tl.row(i).is_some_and(|r| pred(&r)))
        } else {
            self.visible
                .range(0, pos)
                .rev()
                .find(|&i| self.tl.row(i).is_some_and(|r| pred(&r)))
        };
        match found {
            Some(i) => {
                self.select(Some(i));
                true
            }
            None => false,
        }
    }

    fn page(&self, pane: Pane) -> usize {
        let a = self.areas();
        let r = match pane {
            Pane::Timeline => a.timeline,
            Pane::Fields => a.fields.unwrap_or(a.detail),
            Pane::Bytes => a.bytes.unwrap_or(a.detail),
            Pane::Lesson => a.lesson.unwrap_or(a.detail),
        };
        usize::from(r.height.saturating_sub(2)).max(1)
    }

    /// Keeps the selected row and field inside their panes.
    fn fix_scroll(&mut self) {
        let h = self.page(Pane::Timeline);
        let pos = self.position();
        if pos < self.tl_offset {
            self.tl_offset = pos;
        } else if pos >= self.tl_offset + h {
            self.tl_offset = pos + 1 - h;
        }
        self.tl_offset = self.tl_offset.min(self.visible.len().saturating_sub(1));
        let h = self.page(Pane::Fields);
        if self.field < self.fields_offset {
            self.fields_offset = self.field;
        } else if self.field >= self.fields_offset + h {
            self.fields_offset = self.field + 1 - h;
        }
    }

    /// Rows of the fields pane: the fields, then the links no field names.
    pub fn field_count(&self) -> usize {
        self.current().map_or(0, |s| s.fields.len()) + self.extra_links().count()
    }

    /// The links no field names, shown after the fields.
    pub fn extra_links(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(|l| l.field.is_none())
    }

    /// The link of fields-pane row `row`, if it is one.
    pub fn link_at(&self, row: usize) -> Option<&Link> {
        let n = self.current().map_or(0, |s| s.fields.len());
        if row < n {
            self.links.iter().find(|l| l.field == Some(row))
        } else {
            self.extra_links().nth(row - n)
        }
    }

    /// The fields-pane row of the link to step `target`, if there is one.
    pub fn fields_row_of(&self, target: usize) -> Option<usize> {
        (0..self.field_count()).find(|&r| self.link_at(r).is_some_and(|l| l.target == target))
    }

    /// Goes to a link's target, remembering where it came from. A target the
    /// filter or a fold hides is shown first.
    fn follow(&mut self, target: usize) {
        let Some(from) = self.selected else {
            return;
        };
        if !self.navigable() && target >= self.tl.len() {
            self.message = Some(format!("step {} is not loaded yet", target + 1));
            return;
        }
        self.history.push(from);
        if self.history.len() > HISTORY {
            self.history.remove(0);
        }
        self.reveal(target);
        self.select(Some(target));
        self.message = Some(format!(
            "step {} (b returns to step {})",
            target + 1,
            from + 1
        ));
    }

    /// Makes step `i` visible: clears a filter that hides it, unfolds what
    /// it folds under.
    fn reveal(&mut self, i: usize) {
        if self.visible.contains(i) {
            return;
        }
        let Some(row) = self.tl.row_for_filter(i) else {
            return;
        };
        if !self.filter.accepts(&row) {
            self.filter = Filter::default();
        }
        if row.kind == "websocket.frame" {
            self.fold_frames = false;
        }
        let mut p = row.parent;
        let mut depth = 0;
        while let Some(pi) = p {
            self.folded.remove(&pi);
            depth += 1;
            if depth > 8 {
                break;
            }
            p = self.tl.row_for_filter(pi).and_then(|r| r.parent);
        }
        self.rebuild();
    }

    fn back(&mut self) {
        match self.history.pop() {
            Some(i) => {
                self.reveal(i);
                self.select(Some(i));
                self.message = Some(format!("back at step {}", i + 1));
            }
            None => self.message = Some("no link followed: nothing to go back to".into()),
        }
    }

    // ---- search --------------------------------------------------------

    fn matches(step: &Step, query: &str) -> bool {
        let q = query.to_lowercase();
        if step.summary.to_lowercase().contains(&q) {
            return true;
        }
        step.fields
            .iter()
            .any(|f| render_value(step, f).to_lowercase().contains(&q))
    }

    fn start_search(&mut self, query: String) {
        let from = self.selected.map_or(0, |s| s + 1);
        self.last_search = Some(query.clone());
        self.searching = Some(PendingSearch {
            query,
            next: from,
            from,
            wrapped: false,
        });
        self.continue_search();
    }

    /// Scans a chunk of steps for the pending search.
    fn continue_search(&mut self) {
        let Some(mut s) = self.searching.take() else {
            return;
        };
        let len = self.tl.len();
        let mut budget = SCAN_CHUNK / 4;
        while budget > 0 {
            if s.next >= len {
                if s.wrapped || self.tl.state().loading {
                    if !self.tl.state().loading {
                        self.message = Some(format!("no step matches \"{}\"", s.query));
                        return;
                    }
                    // More steps may still arrive: keep looking later.
                    self.searching = Some(s);
                    return;
                }
                s.wrapped = true;
                s.next = 0;
            }
            if s.wrapped && s.next >= s.from {
                self.message = Some(format!("no step matches \"{}\"", s.query));
                return;
            }
            let i = s.next;
            let step = if self.visible.contains(i) {
                match self.tl.step(i) {
                    Some(st) => Some(st),
                    None => {
                        // Not read back yet (the indexed timeline has asked
                        // for it): go on from here on a later pump.
                        self.message =
                            Some(format!("searching \"{}\"… step {}/{len}", s.query, i + 1));
                        self.searching = Some(s);
                        return;
                    }
                }
            } else {
                None
            };
            s.next += 1;
            budget -= 1;
            // An open question's answer is not found by searching for it.
            let step = step.map(|st| {
                if self.quiz.hides(i) {
                    Arc::new(self.quiz.hidden(i).mask(&st).0)
                } else {
                    st
                }
            });
            if step.is_some_and(|st| Self::matches(&st, &s.query)) {
                self.select(Some(i));
                self.message = Some(format!(
                    "\"{}\" found at step {}{}",
                    s.query,
                    i + 1,
                    if s.wrapped { " (wrapped)" } else { "" }
                ));
                return;
            }
        }
        self.searching = Some(s);
    }

    // ---- actions -------------------------------------------------------

    /// Handles a key press through the key table.
    pub fn key(&mut self, ev: &KeyEvent) {
        let Some(action) = keys::lookup(&self.contexts(), ev) else {
            if self.replay.playing {
                self.replay.playing = false;
            }
            return;
        };
        self.handle(action);
    }

    /// The pure state transition.
    pub fn handle(&mut self, action: Action) {
        if !matches!(
            action,
            Action::Tick(_)
                | Action::Resize(..)
                | Action::Faster
                | Action::Slower
                | Action::ReplayMode
                | Action::Quit
        ) {
            self.message = None;
        }
        if self.replay.playing
            && !matches!(
                action,
                Action::Tick(_)
                    | Action::Resize(..)
                    | Action::Faster
                    | Action::Slower
                    | Action::ReplayMode
                    | Action::Quit
            )
        {
            // Any key pauses; Space only pauses.
            self.replay.playing = false;
            if action == Action::Play {
                return;
            }
        }
        match self.overlay.take() {
            Some(o) => self.overlay_action(o, action),
            None => self.pane_action(action),
        }
        self.fix_scroll();
    }

    fn overlay_action(&mut self, overlay: Overlay, action: Action) {
        match (overlay, action) {
            (_, Action::Quit) => self.quit = true,
            (_, Action::Close) => {}
            (o, Action::Tick(d)) => {
                self.overlay = Some(o);
                self.tick(d);
            }
            (o, Action::Resize(w, h)) => {
                self.overlay = Some(o);
                self.size = (w, h);
            }
            (Overlay::Help { scroll }, a) => {
                let scroll = match a {
                    Action::ScrollDown => scroll.saturating_add(1),
                    Action::ScrollUp => scroll.saturating_sub(1),
                    Action::Wheel { down, .. } if down => scroll.saturating_add(3),
                    Action::Wheel { .. } => scroll.saturating_sub(3),
                    _ => scroll,
                };
                self.overlay = Some(Overlay::Help { scroll });
            }
            (Overlay::Search { mut input }, a) => match a {
                Action::Input(c) => {
                    if input.chars().count() < 200 {
                        input.push(c);
                    }
                    self.overlay = Some(Overlay::Search { input });
                }
                Action::Backspace => {
                    input.pop();
                    self.overlay = Some(Overlay::Search { input });
                }
                Action::Choose => {
                    let q = if input.is_empty() {
                        self.last_search.clone()
                    } else {
                        Some(input)
                    };
                    if let Some(q) = q {
                        self.start_search(q);
                    }
                }
                _ => self.overlay = Some(Overlay::Search { input }),
            },
            (Overlay::Filter { item }, a) => {
                let item = match a {
                    Action::ItemDown => (item + 1).min(FILTER_ITEMS.len() - 1),
                    Action::ItemUp => item.saturating_sub(1),
                    Action::ValueNext | Action::ValuePrev => {
                        self.change_filter(item, a == Action::ValueNext);
                        item
                    }
                    Action::ClearFilter => {
                        self.filter = Filter::default();
                        self.rebuild();
                        item
                    }
                    _ => item,
                };
                self.overlay = Some(Overlay::Filter { item });
            }
            (Overlay::Stack { item, stacks }, a) => match a {
                Action::ItemDown => {
                    let item = (item + 1).min(stacks.len().saturating_sub(1));
                    self.overlay = Some(Overlay::Stack { item, stacks });
                }
                Action::ItemUp => {
                    self.overlay = Some(Overlay::Stack {
                        item: item.saturating_sub(1),
                        stacks,
                    });
                }
                Action::Choose => {
                    if let Some(s) = stacks.get(item) {
                        self.stack = Some(s.id.clone());
                        self.message = Some(format!("stack: {}", s.title));
                    }
                }
                _ => self.overlay = Some(Overlay::Stack { item, stacks }),
            },
        }
    }

    /// Cycles one filter criterion through its values (the values seen so far).
    fn change_filter(&mut self, item: usize, forward: bool) {
        fn cycle<T: Clone + PartialEq>(cur: &Option<T>, all: &[T], forward: bool) -> Option<T> {
            let mut opts: Vec<Option<T>> = vec![None];
            opts.extend(all.iter().cloned().map(Some));
            let at = opts.iter().position(|o| o == cur).unwrap_or(0);
            let n = opts.len();
            let next = if forward {
                (at + 1) % n
            } else {
                (at + n - 1) % n
            };
            opts.swap_remove(next)
        }
        let st = self.tl.state();
        match item {
            0 => {
                let conns: Vec<u32> = st.connections.iter().map(|c| c.id).collect();
                self.filter.conn = cycle(&self.filter.conn, &conns, forward);
            }
            1 => {
                let sessions: Vec<u32> = (0..st.sids.len() as u32).collect();
                self.filter.session = cycle(&self.filter.session, &sessions, forward);
            }
            2 => self.filter.layer = cycle(&self.filter.layer, &LAYERS, forward),
            3 => self.filter.dir = cycle(&self.filter.dir, &[Dir::C2s, Dir::S2c], forward),
            _ => self.filter.findings_only = !self.filter.findings_only,
        }
        self.rebuild();
    }

    fn pane_action(&mut self, action: Action) {
        if self.answering() && self.answer_key(action) {
            return;
        }
        if self.follow
            && matches!(
                action,
                Action::PrevStep
                    | Action::PageUp
                    | Action::First
                    | Action::PrevSameKind
                    | Action::PrevFinding
                    | Action::Click(..)
            )
        {
            self.follow = false;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Some(Overlay::Help { scroll: 0 }),
            Action::Close | Action::BackOut => self.back_out(),
            Action::Diagram => self.toggle_diagram(),
            Action::NextStep
            | Action::PrevStep
            | Action::PageDown
            | Action::PageUp
            | Action::First
            | Action::Last
                if self.diagram =>
            {
                self.diagram_action(action)
            }
            Action::NextStep => self.move_by(1),
            Action::PrevStep => self.move_by(-1),
            Action::PageDown | Action::PageUp => self.page_by(action == Action::PageDown),
            Action::First => self.select_pos(0),
            Action::Last => self.select_pos(usize::MAX),
            Action::Tail => self.toggle_follow(),
            Action::WriteCapture => self.write_capture(),
            Action::NextField | Action::PrevField => self.step_field(action == Action::NextField),
            Action::ScrollDown | Action::ScrollUp => self.scroll_by(action == Action::ScrollDown),
            Action::NextPane | Action::PrevPane => self.cycle_pane(action == Action::NextPane),
            Action::Follow => match self.link_at(self.field).map(|l| l.target) {
                Some(t) if self.focus == Pane::Fields => self.follow(t),
                _ => self.pane_action(Action::DrillIn),
            },
            Action::Back => self.back(),
            Action::ReplayMode => self.toggle_replay_mode(),
            Action::DrillIn => match self.focus {
                Pane::Timeline => self.focus_pane(Pane::Fields),
                Pane::Fields => self.focus_pane(Pane::Bytes),
                _ => {}
            },
            Action::NextSameKind | Action::PrevSameKind => {
                self.seek_same_kind(action == Action::NextSameKind)
            }
            Action::NextFinding | Action::PrevFinding => {
                self.seek_finding(action == Action::NextFinding)
            }
            Action::Search => {
                self.overlay = Some(Overlay::Search {
                    input: String::new(),
                })
            }
            Action::Filter => self.overlay = Some(Overlay::Filter { item: 0 }),
            Action::Play => {
                self.replay.playing = !self.visible.is_empty();
                self.replay.waited = Duration::ZERO;
            }
            Action::Faster | Action::Slower => self.change_pace(action == Action::Faster),
            Action::Stack => self.open_stack_chooser(),
            Action::Hint => self.hint(),
            Action::Answer => self.start_answer(),
            Action::Reload => self.reload_lessons(),
            Action::Fold => self.fold(),
            Action::FoldFrames => self.toggle_fold_frames(),
            Action::Tick(d) => self.tick(d),
            Action::Resize(w, h) => self.size = (w, h),
            Action::Click(x, y) => self.click(x, y),
            Action::Wheel { x, y, down } => self.wheel(x, y, down),
            Action::ItemDown
            | Action::ItemUp
            | Action::ValueNext
            | Action::ValuePrev
            | Action::Choose
            | Action::ClearFilter
            | Action::Input(_)
            | Action::Backspace => {}
        }
    }

    /// Moving in the sequence diagram: by an arrow, a page, or to an end.
    fn diagram_action(&mut self, action: Action) {
        match action {
            Action::NextStep => self.diagram_move(1),
            Action::PrevStep => self.diagram_move(-1),
            Action::PageDown | Action::PageUp if self.focus == Pane::Timeline => {
                let page = self.page(Pane::Timeline).saturating_sub(1).max(1) as isize;
                self.diagram_move(if action == Action::PageDown {
                    page
                } else {
                    -page
                });
            }
            Action::PageDown | Action::PageUp => self.page_by(action == Action::PageDown),
            Action::First => self.diagram_move(isize::MIN / 2),
            Action::Last => self.diagram_move(isize::MAX / 2),
            _ => {}
        }
    }

    /// A page down or up in the focused pane.
    fn page_by(&mut self, down: bool) {
        let page = self.page(self.focus);
        match self.focus {
            Pane::Timeline => self.move_by(if down {
                page as isize
            } else {
                -(page as isize)
            }),
            Pane::Fields => {
                let n = self.field_count();
                self.field = if down {
                    (self.field + page).min(n.saturating_sub(1))
                } else {
                    self.field.saturating_sub(page)
                };
            }
            Pane::Bytes => self.bytes_scroll = scroll(self.bytes_scroll, page, down),
            Pane::Lesson => {
                self.lesson_scroll = scroll(self.lesson_scroll, page, down);
                self.clamp_lesson_scroll();
            }
        }
    }

    /// The next or previous field, its bytes from the top.
    fn step_field(&mut self, next: bool) {
        self.field = if next {
            (self.field + 1).min(self.field_count().saturating_sub(1))
        } else {
            self.field.saturating_sub(1)
        };
        self.bytes_scroll = 0;
    }

    /// A line down or up in the lesson pane, else in the bytes pane.
    fn scroll_by(&mut self, down: bool) {
        match self.focus {
            Pane::Lesson => {
                self.lesson_scroll = scroll(self.lesson_scroll, 1, down);
                self.clamp_lesson_scroll();
            }
            _ => self.bytes_scroll = scroll(self.bytes_scroll, 1, down),
        }
    }

    /// Focus the next or previous pane.
    fn cycle_pane(&mut self, next: bool) {
        let i = Pane::ALL.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = Pane::ALL.len();
        let j = if next { (i + 1) % n } else { (i + n - 1) % n };
        self.focus_pane(Pane::ALL[j]);
    }

    /// Fixed-interval replay or the capture's own timing.
    fn toggle_replay_mode(&mut self) {
        self.replay.mode = match self.replay.mode {
            ReplayMode::Fixed => ReplayMode::Timing,
            ReplayMode::Timing => ReplayMode::Fixed,
        };
        self.replay.waited = Duration::ZERO;
        self.message = Some(format!("replay: {}", self.replay.pace()));
    }

    /// The next or previous step of the selected step's kind.
    fn seek_same_kind(&mut self, fwd: bool) {
        if let Some(kind) = self.current().map(|s| s.kind)
            && !self.seek(fwd, |r| r.kind == kind)
        {
            self.message = Some(format!("no {} {kind} step", direction(fwd)));
        }
    }

    /// The next or previous step with a finding.
    fn seek_finding(&mut self, fwd: bool) {
        if !self.seek(fwd, |r| r.findings > 0) {
            self.message = Some(format!("no {} step with a finding", direction(fwd)));
        }
    }

    /// The chooser of whose call chains the lessons show.
    fn open_stack_chooser(&mut self) {
        let stacks = self.lessons.stacks();
        if stacks.is_empty() {
            self.message = Some("no stacks: no lessons with call chains are loaded".into());
            return;
        }
        let item = self
            .stack
            .as_ref()
            .and_then(|s| stacks.iter().position(|c| &c.id == s))
            .unwrap_or(0);
        self.overlay = Some(Overlay::Stack { item, stacks });
    }

    /// Reads the lesson files again (an instructor editing them).
    fn reload_lessons(&mut self) {
        match self.lessons.reload() {
            Ok(()) => {
                self.reload_error = None;
                self.message = Some("lessons reloaded".into());
            }
            Err(e) => {
                self.reload_error = Some(e);
                self.message = Some("reload failed: see the lesson pane".into());
            }
        }
    }

    /// Hides or shows the frames under their messages; a selected frame
    /// gives its selection to its message.
    fn toggle_fold_frames(&mut self) {
        self.fold_frames = !self.fold_frames;
        if self.fold_frames
            && let Some(p) = self.selected.and_then(|s| {
                self.tl
                    .row(s)
                    .filter(|r| r.kind == "websocket.frame")
                    .and_then(|r| r.parent)
            })
        {
            self.select(Some(p));
        }
        self.rebuild();
    }

    /// The chosen stack, and whether any stack has call chains.
    pub fn stack_info(&self) -> StackInfo<'_> {
        StackInfo {
            id: self.stack.as_deref(),
            any: !self.lessons.stacks().is_empty(),
        }
    }

    /// Reveals the next hint or answer and brings it into view, or says why
    /// there is nothing to reveal.
    fn hint(&mut self) {
        let Some(l) = self.lesson() else {
            self.message = Some(if self.current().is_some() {
                "no lesson is bound to this step: no hints to reveal".into()
            } else {
                "no step selected".into()
            });
            return;
        };
        let n = l.revealable();
        if n == 0 {
            self.message = Some("this step's lesson has no hints or questions".into());
            return;
        }
        if self.revealed >= n {
            self.message = Some("every hint and answer is shown".into());
            return;
        }
        self.revealed += 1;
        if self.revealed > l.hints.len()
            && let Some(i) = self.selected
        {
            // The answer is shown: its question closes, its value shows again.
            self.quiz.close(i, self.revealed - l.hints.len() - 1);
            self.ask_and_mask();
        }
        self.show_lesson_pane();
        let lines = lesson_view::pane_lines(self);
        if let Some(at) = lesson_view::revealed_line(&lines, l.hints.len(), self.revealed - 1) {
            let a = self.areas();
            let r = a.lesson.unwrap_or(a.detail);
            let width = r.width.saturating_sub(2);
            let h = usize::from(r.height.saturating_sub(2)).max(1);
            let row = lesson_view::rows(&lines[..at], width);
            let top = usize::from(self.lesson_scroll);
            if row < top || row + 2 > top + h {
                self.lesson_scroll = u16::try_from(row.saturating_sub(2)).unwrap_or(u16::MAX);
            }
        }
        let what = if self.revealed <= l.hints.len() {
            format!("hint {} of {}", self.revealed, l.hints.len())
        } else {
            format!(
                "answer {} of {}",
                self.revealed - l.hints.len(),
                l.questions.len()
            )
        };
        self.message = Some(format!("{what} shown in the lesson pane"));
    }

    /// Clamps the lesson pane's scrolling to its content.
    fn clamp_lesson_scroll(&mut self) {
        let a = self.areas();
        let r = a.lesson.unwrap_or(a.detail);
        let lines = lesson_view::pane_lines(self);
        let total = lesson_view::rows(&lines, r.width.saturating_sub(2));
        let h = usize::from(r.height.saturating_sub(2));
        let max = u16::try_from(total.saturating_sub(h)).unwrap_or(u16::MAX);
        self.lesson_scroll = self.lesson_scroll.min(max);
    }

    fn focus_pane(&mut self, p: Pane) {
        self.focus = p;
        if p != Pane::Timeline {
            self.detail = p;
        }
    }

    fn back_out(&mut self) {
        match self.focus {
            Pane::Bytes => self.focus_pane(Pane::Fields),
            _ => self.focus_pane(Pane::Timeline),
        }
    }

    fn fold(&mut self) {
        let Some(s) = self.selected else {
            return;
        };
        let target = if self.tl.children(s) > 0 {
            Some(s)
        } else {
            self.tl.row(s).and_then(|r| r.parent)
        };
        match target {
            Some(t) => {
                if !self.folded.remove(&t) {
                    self.folded.insert(t);
                    self.select(Some(t));
                }
                self.rebuild();
            }
            None => self.message = Some("nothing folds under this step".into()),
        }
    }

    fn change_pace(&mut self, faster: bool) {
        let r = &mut self.replay;
        match r.mode {
            ReplayMode::Fixed => {
                r.interval = if faster {
                    (r.interval / 2).max(MIN_INTERVAL)
                } else {
                    (r.interval * 2).min(MAX_INTERVAL)
                }
            }
            ReplayMode::Timing => {
                r.speed = if faster {
                    (r.speed * 2.0).min(MAX_SPEED)
                } else {
                    (r.speed / 2.0).max(MIN_SPEED)
                }
            }
        }
    }

    /// Why replay should stop at the selected step: a finding, or a lesson
    /// question the student has not answered yet.
    fn replay_stop(&self) -> Option<&'static str> {
        if self.current().is_some_and(|s| !s.findings.is_empty()) {
            return Some("a finding");
        }
        let hints = self.lesson().map(|l| (l.hints.len(), l.questions.len()));
        let all_closed = |q: usize| {
            self.selected
                .is_some_and(|i| (0..q).all(|k| self.quiz.is_closed(i, k)))
        };
        match hints {
            Some((h, q)) if q > 0 && self.revealed < h + q && !all_closed(q) => {
                Some("a question to answer")
            }
            _ => None,
        }
    }

    fn tick(&mut self, d: Duration) {
        if !self.replay.playing {
            return;
        }
        self.replay.waited += d;
        loop {
            let pos = self.position();
            let Some(next) = self.display_at(pos + 1) else {
                if !self.tl.state().loading {
                    self.replay.playing = false;
                    self.message = Some("replay reached the last step".into());
                }
                return;
            };
            let (Some(a), Some(b)) = (
                self.selected.and_then(|s| self.tl.row(s)),
                self.tl.row(next),
            ) else {
                return;
            };
            let due = match self.replay.mode {
                ReplayMode::Fixed => self.replay.interval,
                ReplayMode::Timing => {
                    let gap_ns = (b.time.as_nanos() - a.time.as_nanos()).max(0);
                    let gap = Duration::from_nanos(u64::try_from(gap_ns).unwrap_or(u64::MAX))
                        .min(MAX_GAP);
                    gap.div_f64(self.replay.speed)
                }
            };
            if self.replay.waited < due {
                return;
            }
            let left = self.replay.waited - due;
            self.select(Some(next));
            self.replay.waited = left;
            if let Some(why) = self.replay_stop() {
                self.replay.playing = false;
                self.message = Some(format!(
                    "replay paused at step {}: {why} (Space resumes)",
                    next + 1
                ));
                return;
            }
        }
    }

    fn pane_at(&self, x: u16, y: u16) -> Option<(Pane, Rect)> {
        let a = self.areas();
        let p = Position::new(x, y);
        let mut panes = vec![(Pane::Timeline, a.timeline)];
        for (pane, r) in [
            (Pane::Fields, a.fields),
            (Pane::Bytes, a.bytes),
            (Pane::Lesson, a.lesson),
        ] {
            if let Some(r) = r {
                panes.push((pane, r));
            }
        }
        if a.fields.is_none() {
            panes.push((self.shown_detail(), a.detail));
        }
        panes.into_iter().find(|(_, r)| r.contains(p))
    }

    fn click(&mut self, x: u16, y: u16) {
        let a = self.areas();
        if let Some(tabs) = a.tabs
            && tabs.contains(Position::new(x, y))
        {
            // The narrow layout's tab bar: " Fields  Bytes  Lesson ".
            let rel = x.saturating_sub(tabs.x) as usize;
            let mut at = 0;
            for p in [Pane::Fields, Pane::Bytes, Pane::Lesson] {
                let w = p.title().len() + 3;
                if rel < at + w {
                    self.focus_pane(p);
                    return;
                }
                at += w;
            }
            return;
        }
        let Some((pane, r)) = self.pane_at(x, y) else {
            return;
        };
        self.focus_pane(pane);
        let row = y.saturating_sub(r.y + 1) as usize;
        if y <= r.y || y + 1 >= r.y + r.height {
            return; // the border
        }
        match pane {
            Pane::Timeline if self.diagram => {
                // Row 0 names the lifelines; the arrows follow.
                let rows = usize::from(r.height.saturating_sub(3));
                if row > 0 {
                    let k = self.diagram_offset(rows) + row - 1;
                    if let Some(&i) = self.diagram_arrows.get(k) {
                        self.select(Some(i));
                    }
                }
            }
            Pane::Timeline => {
                let pos = self.tl_offset + row;
                if pos < self.visible.len() {
                    self.select_pos(pos);
                }
            }
            Pane::Fields => {
                let f = self.fields_offset + row;
                if f < self.field_count() {
                    self.field = f;
                    self.bytes_scroll = 0;
                }
            }
            _ => {}
        }
    }

    fn wheel(&mut self, x: u16, y: u16, down: bool) {
        let Some((pane, _)) = self.pane_at(x, y) else {
            return;
        };
        match pane {
            Pane::Timeline if self.diagram => self.diagram_move(if down { 3 } else { -3 }),
            Pane::Timeline => self.move_by(if down { 3 } else { -3 }),
            Pane::Fields => {
                self.field = if down {
                    (self.field + 3).min(self.field_count().saturating_sub(1))
                } else {
                    self.field.saturating_sub(3)
                };
            }
            Pane::Bytes => self.bytes_scroll = scroll(self.bytes_scroll, 3, down),
            Pane::Lesson => {
                self.lesson_scroll = scroll(self.lesson_scroll, 3, down);
                self.clamp_lesson_scroll();
            }
        }
    }
}

fn scroll(v: u16, by: usize, down: bool) -> u16 {
    let by = u16::try_from(by).unwrap_or(u16::MAX);
    if down {
        v.saturating_add(by)
    } else {
        v.saturating_sub(by)
    }
}

fn direction(forward: bool) -> &'static str {
    if forward { "later" } else { "earlier" }
}

/// Why an open question cannot be checked, in a student's words: the step
/// that would answer it never comes (the conversation ends first), or this
/// step lacks the field.
fn unanswerable(open: &super::quiz::Open) -> String {
    match &open.on {
        Some(on) => format!(
            "this capture never shows it: the conversation ends before the next {} — h reveals the answer",
            kind_words(on)
        ),
        None => "this capture never shows it: this step does not carry the answer — h reveals the answer"
            .into(),
    }
}

/// A kind pattern as a student reads it ("WebSocket frame", not
/// `websocket.frame`).
fn kind_words(on: &crate::query::KindPattern) -> String {
    use crate::query::KindPattern;
    let k = match on {
        KindPattern::Exact(k) | KindPattern::Layer(k) | KindPattern::Prefix(k) => k.as_str(),
    };
    let words = match k {
        "tcp.syn" => "SYN",
        "tcp.syn-ack" => "SYN-ACK",
        "tcp.fin" => "FIN",
        "tcp.rst" => "RST",
        "tls.client-hello" => "ClientHello",
        "tls.server-hello" => "ServerHello",
        "http.request" => "HTTP request",
        "http.response" => "HTTP response",
        "websocket.frame" => "WebSocket frame",
        "websocket.message" => "WebSocket message",
        "websocket.inflate" => "compressed message",
        "websocket.handshake" => "WebSocket handshake",
        "websocket.accept" => "Sec-WebSocket-Accept",
        "engineio.packet" => "Engine.IO packet",
        "socketio.packet" => "Socket.IO packet",
        "socketio.attachment" => "Socket.IO attachment",
        "tcp" => "TCP step",
        "tls" => "TLS step",
        "http" => "HTTP message",
        "websocket" => "WebSocket step",
        "engineio" => "Engine.IO packet",
        "socketio" => "Socket.IO packet",
        other => return format!("{other} step"),
    };
    words.into()
}
