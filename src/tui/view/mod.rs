//! Drawing: a function of the [`App`] state. Each pane is a widget over the
//! state (`impl Widget for &…`); every string from a capture or a lesson
//! goes through `crate::sanitize` before it reaches a cell.

pub mod bytes;
pub mod diagram;
pub mod fields;
pub mod layout;
pub mod lesson;
pub mod overlay;
pub mod status;
pub mod timeline;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Widget};

use super::app::{App, Overlay, Pane};

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let area = f.area();
    f.render_widget(&Screen(app), area);
}

/// The whole screen as one widget (tests render it into a `Buffer`).
pub struct Screen<'a>(pub &'a App);

impl Widget for &Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let a = layout::areas(area, app);
        if app.diagram {
            (&diagram::DiagramPane(app)).render(a.timeline, buf);
        } else {
            (&timeline::TimelinePane(app)).render(a.timeline, buf);
        }
        let detail = |pane: Pane, r: Rect, buf: &mut Buffer| match pane {
            Pane::Fields => (&fields::FieldsPane(app)).render(r, buf),
            Pane::Bytes => (&bytes::BytesPane(app)).render(r, buf),
            Pane::Lesson => (&lesson::LessonPane(app)).render(r, buf),
            Pane::Timeline => {}
        };
        if let (Some(fr), Some(br), Some(lr)) = (a.fields, a.bytes, a.lesson) {
            detail(Pane::Fields, fr, buf);
            detail(Pane::Bytes, br, buf);
            detail(Pane::Lesson, lr, buf);
        } else {
            let shown = app.shown_detail();
            if let Some(tabs) = a.tabs {
                tab_bar(shown, app.focus != Pane::Timeline).render(tabs, buf);
            }
            detail(shown, a.detail, buf);
        }
        (&status::StatusLine(app)).render(a.status, buf);
        (&status::HintLine(app)).render(a.hints, buf);
        match &app.overlay {
            Some(Overlay::Help { scroll }) => overlay::help(area, buf, *scroll),
            Some(Overlay::Filter { item }) => overlay::filter(area, buf, app, *item),
            Some(Overlay::Stack { item, stacks }) => {
                overlay::stack(area, buf, stacks, *item, app.stack.as_deref())
            }
            Some(Overlay::Search { .. }) | None => {}
        }
    }
}

fn tab_bar(shown: Pane, focused: bool) -> Line<'static> {
    let mut spans = Vec::new();
    for p in [Pane::Fields, Pane::Bytes, Pane::Lesson] {
        let style = if p == shown {
            let s = Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED);
            if focused { s.fg(Color::Cyan) } else { s }
        } else {
            Style::new().fg(Color::DarkGray)
        };
        spans.push(Span::styled(format!(" {} ", p.title()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        "(Tab switches)",
        Style::new().fg(Color::DarkGray),
    ));
    Line::from(spans)
}

/// A pane's frame: bold cyan when it has the focus.
pub fn pane_block(title: Line<'_>, focused: bool) -> Block<'_> {
    let style = if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::DarkGray)
    };
    Block::new()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(title)
}

/// Renders lines one per row, clipped to the area; rows past the last line
/// are left blank. The last column is kept for a `…` that ends a line too
/// long for the area, so a cut is never mistaken for the end of the text.
pub fn render_lines(lines: impl IntoIterator<Item = Line<'static>>, area: Rect, buf: &mut Buffer) {
    for (i, line) in lines.into_iter().take(usize::from(area.height)).enumerate() {
        let row = Rect {
            y: area.y + i as u16,
            height: 1,
            ..area
        };
        // The last column is never text: blank, or the `…` of a cut line.
        let room = area.width.saturating_sub(1);
        let cut = line.width() > usize::from(room) && area.width > 0;
        line.render(Rect { width: room, ..row }, buf);
        if cut {
            buf[(area.x + area.width - 1, row.y)].set_symbol("…");
        }
    }
}

/// Marks a pane's right border with `▲` when there is more above what it
/// shows and `▼` when there is more below (`area` is the pane with its frame).
pub fn scroll_marks(area: Rect, buf: &mut Buffer, above: bool, below: bool) {
    if area.width < 2 || area.height < 3 {
        return;
    }
    let x = area.x + area.width - 1;
    let style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
    if above {
        buf[(x, area.y + 1)].set_symbol("▲").set_style(style);
    }
    if below {
        buf[(x, area.y + area.height - 2)]
            .set_symbol("▼")
            .set_style(style);
    }
}

/// The colour of a layer in the timeline and status line, by its place in
/// the stack ([`crate::kinds::LAYERS`]).
pub fn layer_color(layer: &str) -> Color {
    const BY_RANK: [Color; 6] = [
        Color::Blue,
        Color::LightRed,
        Color::Green,
        Color::Yellow,
        Color::Magenta,
        Color::Cyan,
    ];
    crate::kinds::layer(layer)
        .and_then(|l| BY_RANK.get(usize::from(l.rank)).copied())
        .unwrap_or(Color::Gray)
}

/// A short layer name for narrow columns ([`crate::kinds::LAYERS`]).
pub fn layer_short(layer: &str) -> &str {
    crate::kinds::layer(layer).map_or(layer, |l| l.short)
}
