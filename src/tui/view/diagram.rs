//! The sequence (ladder) view in the timeline's place: client and server as
//! two lifelines, one arrow per message of the selected step's connection
//! or Engine.IO session, in time order, each labelled with its step number,
//! time and summary. The selected step's arrow is highlighted (a frame
//! highlights its message); moving through the arrows selects their steps.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{pane_block, render_lines, scroll_marks};
use crate::output::mermaid::Lane;
use crate::sanitize::escape;
use crate::step::Dir;
use crate::tui::app::{App, Pane};

pub struct DiagramPane<'a>(pub &'a App);

/// Columns before the client's lifeline: step number and time.
const LEFT: usize = 18;

/// One arrow between the lifelines, `width` columns from lifeline to
/// lifeline (both excluded), the label inside it.
pub fn arrow(dir: Dir, label: &str, width: usize) -> String {
    let room = width.saturating_sub(7);
    let mut text: String = label.chars().take(room).collect();
    if label.chars().count() > room && room > 0 {
        text.pop();
        text.push('…');
    }
    let n = text.chars().count();
    let dashes = width.saturating_sub(n + 5);
    let (l, r) = (dashes / 2, dashes - dashes / 2);
    match dir {
        Dir::C2s => format!("─{} {text} {}▶", "─".repeat(l), "─".repeat(r + 1)),
        Dir::S2c => format!("◀{} {text} {}─", "─".repeat(l + 1), "─".repeat(r)),
    }
}

impl Widget for &DiagramPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let focused = app.focus == Pane::Timeline;
        let st = app.tl.state();
        let what = match app.diagram_lane {
            Some(Lane::Conn(c)) => match st.connections.iter().find(|m| m.id == c) {
                Some(m) => format!("connection {c}: client {} ⇄ server {}", m.client, m.server),
                None => format!("connection {c}"),
            },
            Some(Lane::Session(s)) => match st.sids.get(s as usize) {
                Some(Some(sid)) => format!("Engine.IO session {s} ({})", escape(sid)),
                _ => format!("Engine.IO session {s}"),
            },
            None => "nothing selected".into(),
        };
        let title = Line::from(vec![
            Span::raw(" Diagram · "),
            Span::styled(what, Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(" (d: timeline) ", Style::new().fg(Color::DarkGray)),
        ]);
        let block = pane_block(title, focused);
        let inner = block.inner(area);
        block.render(area, buf);
        let w = usize::from(inner.width);
        // The server's lifeline in the last column but one (the last is
        // the pane's margin).
        let span = w.saturating_sub(LEFT + 3);
        let mut lines = vec![Line::styled(
            format!(
                "{:>width$}client{}server",
                "",
                " ".repeat(span.saturating_sub(7)),
                width = LEFT.saturating_sub(3)
            ),
            Style::new().add_modifier(Modifier::BOLD),
        )];
        let rows = usize::from(inner.height).saturating_sub(1);
        let offset = app.diagram_offset(rows);
        let sel = app.diagram_pos();
        let origin = st.origin;
        for k in offset..app.diagram_arrows.len().min(offset + rows) {
            let i = app.diagram_arrows[k];
            let Some(r) = app.tl.row(i) else { continue };
            let summary = if app.quiz.hides(i) {
                // An open question's answer is not given away here.
                escape(&app.quiz.hidden(i).mask_text(&r.summary)).into_owned()
            } else {
                escape(&r.summary).into_owned()
            };
            let color = match r.dir {
                Dir::C2s => Color::Green,
                Dir::S2c => Color::Magenta,
            };
            let mut line = Line::from(vec![
                Span::styled(
                    format!("{:>6} {:>9.3}s ", i + 1, r.time.since(origin)),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::raw("│"),
                Span::styled(arrow(r.dir, &summary, span), Style::new().fg(color)),
                Span::raw("│"),
            ]);
            if sel == Some(k) {
                line = line.style(if focused {
                    Style::new().add_modifier(Modifier::REVERSED)
                } else {
                    Style::new().bg(Color::DarkGray)
                });
            }
            lines.push(line);
        }
        if app.diagram_arrows.is_empty() {
            lines.push(Line::styled(
                "no message to draw for this step's connection",
                Style::new().fg(Color::DarkGray),
            ));
        }
        render_lines(lines, inner, buf);
        scroll_marks(
            area,
            buf,
            offset > 0,
            offset + rows < app.diagram_arrows.len(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_fill_the_space_between_the_lifelines() {
        let a = arrow(Dir::C2s, "GET /", 20);
        assert_eq!(a.chars().count(), 20, "{a}");
        assert!(a.ends_with('▶') && a.contains(" GET / "));
        let b = arrow(Dir::S2c, "a label far too long for the arrow", 20);
        assert_eq!(b.chars().count(), 20, "{b}");
        assert!(b.starts_with('◀') && b.contains('…'));
    }
}
