//! The timeline: one line per step in capture order — step number, time
//! offset, connection, direction, layer, summary — with a `!` on steps that
//! carry findings and a fold marker on steps others fold under.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{layer_color, layer_short, pane_block, render_lines, scroll_marks};
use crate::sanitize::escape;
use crate::step::Dir;
use crate::tui::app::{App, Pane};

pub struct TimelinePane<'a>(pub &'a App);

impl Widget for &TimelinePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let focused = app.focus == Pane::Timeline;
        let mut title = vec![Span::raw(" Timeline ")];
        if !app.filter.is_empty() {
            title.push(Span::styled(
                format!("[filter: {}] ", app.filter.describe()),
                Style::new().fg(Color::Yellow),
            ));
        }
        if app.fold_frames {
            title.push(Span::styled(
                "[frames folded] ",
                Style::new().fg(Color::Yellow),
            ));
        }
        let block = pane_block(Line::from(title), focused);
        let inner = block.inner(area);
        block.render(area, buf);
        if app.visible.is_empty() {
            let msg = if app.tl.state().loading {
                "loading…"
            } else if app.tl.is_empty() {
                "no steps: this capture has no TCP conversation dispel could follow"
            } else {
                "no step passes the filter (f changes it)"
            };
            render_lines(
                [Line::styled(msg, Style::new().fg(Color::DarkGray))],
                inner,
                buf,
            );
            return;
        }
        let origin = app.tl.state().origin;
        let width = app.tl.len().to_string().len();
        let end = app
            .tl_offset
            .saturating_add(usize::from(inner.height))
            .min(app.visible.len());
        let lines = (app.tl_offset..end)
            .filter_map(|p| app.display_at(p))
            .filter_map(|i| {
                let r = app.tl.row(i)?;
                let selected = app.selected == Some(i);
                let mark = if r.findings > 0 {
                    Span::styled(
                        "!",
                        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                    )
                } else {
                    Span::raw(" ")
                };
                let fold = match app.tl.children(i) {
                    0 => " ",
                    _ if app.folded.contains(&i) => "▸",
                    // `Z` hides every frame: a message shows it is folded.
                    _ if app.fold_frames && r.kind == "websocket.message" => "▸",
                    _ => "▾",
                };
                let arrow_style = match r.dir {
                    Dir::C2s => Style::new().fg(Color::Green),
                    Dir::S2c => Style::new().fg(Color::Magenta),
                };
                let layer = r.layer();
                let mut line = Line::from(vec![
                    mark,
                    Span::raw(fold),
                    Span::styled(
                        format!("{:>width$} ", i + 1),
                        Style::new().fg(Color::DarkGray),
                    ),
                    Span::raw(format!("{:>8.3}s ", r.time.since(origin))),
                    Span::raw(format!("c{:<2}", r.conn)),
                    Span::styled(format!("{} ", r.dir.arrow()), arrow_style),
                    Span::styled(
                        format!("{:<4} ", layer_short(layer)),
                        Style::new().fg(layer_color(layer)),
                    ),
                    Span::raw(if app.quiz.hides(i) {
                        // An open question's answer is not given away here.
                        escape(&app.quiz.hidden(i).mask_text(&r.summary)).into_owned()
                    } else {
                        escape(&r.summary).into_owned()
                    }),
                ]);
                if selected {
                    line = line.style(if focused {
                        Style::new().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::new().bg(Color::DarkGray)
                    });
                }
                Some(line)
            });
        render_lines(lines, inner, buf);
        let shown = usize::from(inner.height);
        scroll_marks(
            area,
            buf,
            app.tl_offset > 0,
            app.tl_offset.saturating_add(shown) < app.visible.len(),
        );
    }
}
