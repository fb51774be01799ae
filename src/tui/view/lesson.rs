//! The lesson bound to the selected step: its text with values filled in,
//! spec references, the call chain through the chosen stack, hints revealed
//! one `h` at a time, prediction questions whose answers stay hidden until
//! asked — and the step's findings. A lesson that failed to lint shows its
//! error here instead.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::{pane_block, scroll_marks};
use crate::sanitize::escape;
use crate::step::{Severity, Step};
use crate::tui::app::{App, Pane};
use crate::tui::lessons::LessonView;
use crate::tui::quiz::{Input, Verdict};

pub struct LessonPane<'a>(pub &'a App);

const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const ERR: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);

/// Multi-line text from a lesson, each line escaped.
fn text(out: &mut Vec<Line<'static>>, s: &str, style: Style) {
    for l in s.lines() {
        out.push(Line::styled(escape(l).into_owned(), style));
    }
}

fn heading(out: &mut Vec<Line<'static>>, s: &str) {
    out.push(Line::raw(""));
    out.push(Line::styled(s.to_string(), BOLD.fg(Color::Cyan)));
}

/// Where the call chain stands for the chosen stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackInfo<'a> {
    /// The chosen stack (`None`: the lessons' default).
    pub id: Option<&'a str>,
    /// Whether any stack has call chains at all.
    pub any: bool,
}

/// Where the questions of the lesson shown stand: which are closed
/// (answered right or revealed), the last verdict, the answer prompt.
#[derive(Debug, Clone, Default)]
pub struct QuizLines<'a> {
    pub closed: Vec<bool>,
    pub verdict: Option<&'a Verdict>,
    pub input: Option<&'a Input>,
}

/// The lesson's lines in teaching order: the explanation, then what `h`
/// reveals (hints, then the questions and their answers), then the call
/// chain; `revealed` counts hints then answers shown.
pub fn lesson_lines(
    l: &LessonView,
    revealed: usize,
    stack: StackInfo<'_>,
    quiz: &QuizLines<'_>,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    out.push(Line::styled(escape(&l.title).into_owned(), BOLD));
    if let Some(e) = &l.error {
        out.push(Line::styled("this lesson has an error:", ERR));
        text(&mut out, e, Style::new().fg(Color::Red));
    }
    if !l.body.is_empty() {
        out.push(Line::raw(""));
        text(&mut out, &l.body, Style::new());
    }
    if !l.refs.is_empty() {
        out.push(Line::raw(""));
        out.push(Line::from(vec![
            Span::styled("Spec: ", BOLD),
            Span::raw(
                l.refs
                    .iter()
                    .map(|r| escape(r).into_owned())
                    .collect::<Vec<_>>()
                    .join(" · "),
            ),
        ]));
    }
    let hints = l.hints.len();
    if hints > 0 {
        heading(&mut out, "Hints");
        for (i, h) in l.hints.iter().enumerate().take(revealed) {
            text(&mut out, &format!("  {}. {h}", i + 1), Style::new());
        }
        if revealed < hints {
            out.push(Line::styled(
                format!("  h reveals hint {} of {hints}", revealed + 1),
                DIM,
            ));
        }
    }
    if !l.questions.is_empty() {
        heading(&mut out, "Predict");
        for (i, (q, a)) in l.questions.iter().enumerate() {
            text(&mut out, &format!("  Q{}. {q}", i + 1), Style::new());
            let closed = quiz.closed.get(i).copied().unwrap_or(false);
            let checkable = l.answer_fields.get(i).is_some_and(Option::is_some);
            if let Some(v) = quiz.verdict.filter(|v| v.q == i) {
                let (mark, style) = if v.right {
                    (
                        "✓",
                        Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
                    )
                } else {
                    ("✗", Style::new().fg(Color::Yellow))
                };
                text(&mut out, &format!("      {mark} {}", v.text), style);
            }
            if let Some(inp) = quiz.input.filter(|inp| inp.q == i) {
                let style = if inp.focused {
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
                } else {
                    DIM
                };
                out.push(Line::from(vec![
                    Span::styled("      answer › ", style),
                    Span::raw(escape(&inp.text).into_owned()),
                    Span::styled(if inp.focused { "▏" } else { "  (a to type)" }, style),
                ]));
            }
            if revealed > hints + i || closed {
                text(
                    &mut out,
                    &format!("      A: {a}"),
                    Style::new().fg(Color::Green),
                );
            } else if checkable {
                if quiz.input.is_none_or(|inp| inp.q != i) {
                    out.push(Line::styled(
                        "      a: type your answer · h: reveal it",
                        DIM,
                    ));
                }
            } else if revealed == hints + i {
                out.push(Line::styled("      h reveals the answer", DIM));
            } else {
                out.push(Line::styled("      (answer hidden)", DIM));
            }
        }
    }
    let stack_name = escape(stack.id.unwrap_or("default stack")).into_owned();
    if !l.trace.is_empty() {
        heading(&mut out, &format!("Call chain ({stack_name})"));
        for t in &l.trace {
            out.push(Line::from(vec![
                Span::styled(
                    format!("  {} {} ", escape(&t.package), escape(&t.version)),
                    Style::new().fg(Color::Yellow),
                ),
                Span::styled(format!("{}:{} ", escape(&t.file), t.line), DIM),
                Span::styled(escape(&t.function).into_owned(), BOLD),
            ]));
            text(&mut out, &format!("      {}", t.does), Style::new());
        }
    } else if stack.any {
        heading(&mut out, &format!("Call chain ({stack_name})"));
        out.push(Line::styled(
            format!("  the {stack_name} has no trace for this step (s chooses another stack)"),
            DIM,
        ));
    }
    out
}

/// The line where revealed item `n` (0-based: the hints, then the answers)
/// starts in `lines`, the lesson's lines with that item revealed.
pub fn revealed_line(lines: &[Line<'_>], hints: usize, n: usize) -> Option<usize> {
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if n < hints {
        let from = text.iter().position(|t| t == "Hints")?;
        let marker = format!("  {}. ", n + 1);
        (from..text.len()).find(|&i| text[i].starts_with(&marker))
    } else {
        text.iter()
            .enumerate()
            .filter(|(_, t)| t.starts_with("      A: "))
            .nth(n - hints)
            .map(|(i, _)| i)
    }
}

/// The pane's lines for the app's state, the rows they take at `width`
/// when wrapped, and the row where the last revealed item starts.
pub fn pane_lines(app: &App) -> Vec<Line<'static>> {
    let lesson = app.lesson();
    let mut lines = Vec::new();
    if let Some(e) = &app.reload_error {
        lines.push(Line::styled("reloading the lessons failed:", ERR));
        text(&mut lines, e, Style::new().fg(Color::Red));
        lines.push(Line::raw(""));
    }
    if let Some(step) = app.current() {
        match &lesson {
            Some(l) => {
                let i = app.selected.unwrap_or(0);
                let quiz = QuizLines {
                    closed: app.quiz.closed.get(&i).cloned().unwrap_or_default(),
                    verdict: app.quiz.verdict.as_ref().filter(|v| v.step == i),
                    input: app.quiz.input.as_ref(),
                };
                lines.extend(lesson_lines(l, app.revealed, app.stack_info(), &quiz))
            }
            None => {
                lines.push(Line::styled(
                    format!("No lesson is bound to {} steps.", step.kind),
                    DIM,
                ));
                let d = app.lessons.describe();
                if !d.is_empty() {
                    text(&mut lines, &d, DIM);
                }
            }
        }
        let finding_lessons = lesson.as_ref().map_or(&[][..], |l| &l.findings[..]);
        findings_lines(&mut lines, step, finding_lessons);
    }
    lines
}

/// How many rows `lines` take wrapped at `width`.
pub fn rows(lines: &[Line<'static>], width: u16) -> usize {
    Paragraph::new(lines.to_vec())
        .wrap(Wrap { trim: false })
        .line_count(width)
}

fn findings_lines(out: &mut Vec<Line<'static>>, step: &Step, lessons: &[LessonView]) {
    if step.findings.is_empty() && lessons.is_empty() {
        return;
    }
    heading(out, &format!("Findings ({})", step.findings.len()));
    for f in &step.findings {
        let sev = match f.rule.severity {
            Severity::Must => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Should => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Severity::Info => Style::new().fg(Color::Blue),
        };
        out.push(Line::from(vec![
            Span::styled(format!("! {} ", f.rule.severity.as_str()), sev),
            Span::styled(format!("{} ", f.rule.id), BOLD),
            Span::styled(format!("({})", f.rule.section), DIM),
        ]));
        text(out, &format!("  {}", f.message), Style::new());
    }
    for l in lessons {
        out.push(Line::raw(""));
        out.extend(lesson_lines(
            l,
            0,
            StackInfo {
                id: None,
                any: false,
            },
            &QuizLines::default(),
        ));
    }
}

impl Widget for &LessonPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let focused = app.focus == Pane::Lesson;
        let title = match app.lesson() {
            Some(_) => " Lesson ",
            None => " Lesson (none bound) ",
        };
        let block = pane_block(Line::raw(title), focused);
        let inner = block.inner(area);
        let lines = pane_lines(app);
        let total = rows(&lines, inner.width);
        let h = usize::from(inner.height);
        let scroll = usize::from(app.lesson_scroll).min(total.saturating_sub(h));
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .render(area, buf);
        scroll_marks(area, buf, scroll > 0, scroll + h < total);
    }
}
