//! The two bottom lines: where you are (capture, position, connection,
//! session, stack, findings, loading progress, replay) and the keys that
//! matter right now, from the key table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::sanitize::escape;
use crate::tui::app::{App, Overlay};
use crate::tui::keys;

const SEP: &str = " │ ";

pub struct StatusLine<'a>(pub &'a App);

impl Widget for &StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let st = app.tl.state();
        let dim = Style::new().fg(Color::DarkGray);
        let wide = area.width >= 120;
        // Narrow terminals get the file name without its directory.
        let name = if wide {
            st.name.as_str()
        } else {
            st.name.rsplit(['/', '\\']).next().unwrap_or(&st.name)
        };
        let mut spans = vec![Span::styled(
            format!(" {} ", escape(name)),
            Style::new().add_modifier(Modifier::BOLD),
        )];
        let total = app.tl.len();
        let pos = app.selected.map_or(0, |s| s + 1);
        spans.push(Span::raw(format!("{SEP}step {pos}/{total}")));
        if !app.filter.is_empty() || app.visible.len() != total {
            spans.push(Span::styled(format!(" ({} shown)", app.visible.len()), dim));
        }
        if let Some(step) = app.current() {
            let conn = st.connections.iter().find(|c| c.id == step.conn);
            spans.push(Span::raw(format!("{SEP}conn {}", step.conn)));
            if let Some(c) = conn.filter(|_| wide) {
                spans.push(Span::styled(format!(" {} ⇄ {}", c.client, c.server), dim));
            }
            if let Some(s) = step.session {
                spans.push(Span::raw(format!("{SEP}session {s}")));
                if let Some(Some(sid)) = st.sids.get(s as usize).filter(|_| wide) {
                    spans.push(Span::styled(format!(" {}", escape(sid)), dim));
                }
            }
        }
        spans.push(Span::raw(format!(
            "{SEP}stack {}",
            escape(app.stack.as_deref().unwrap_or("-"))
        )));
        let fstyle = if st.findings > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        spans.push(Span::raw(SEP));
        spans.push(Span::styled(
            format!(
                "{} finding{}",
                st.findings,
                if st.findings == 1 { "" } else { "s" }
            ),
            fstyle,
        ));
        if st.loading {
            let text = match st.progress {
                Some(p) => format!("{SEP}indexing… {p}% ({total} steps)"),
                None => format!("{SEP}loading… {total} steps"),
            };
            spans.push(Span::styled(text, Style::new().fg(Color::Yellow)));
        }
        if let Some(e) = &st.error {
            spans.push(Span::styled(
                format!("{SEP}stopped: {}", escape(e)),
                Style::new().fg(Color::Red),
            ));
        }
        if app.replay.playing {
            spans.push(Span::styled(
                format!("{SEP}▶ replay {}×", speed(app.replay.speed)),
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
            ));
        } else if app.replay.speed != 1.0 {
            spans.push(Span::styled(
                format!("{SEP}speed {}×", speed(app.replay.speed)),
                dim,
            ));
        }
        Line::from(spans)
            .style(Style::new().bg(Color::Black))
            .render(area, buf);
    }
}

fn speed(s: f64) -> String {
    if s >= 1.0 {
        format!("{s}")
    } else {
        format!("1/{}", (1.0 / s).round())
    }
}

pub struct HintLine<'a>(pub &'a App);

impl Widget for &HintLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
        let mut spans = Vec::new();
        if let Some(Overlay::Search { input }) = &app.overlay {
            spans.push(Span::styled(" /", key));
            spans.push(Span::raw(escape(input).into_owned()));
            spans.push(Span::styled("█", Style::new().fg(Color::Gray)));
            spans.push(Span::styled(
                "   Enter find · Esc cancel · empty Enter repeats",
                Style::new().fg(Color::DarkGray),
            ));
            Line::from(spans).render(area, buf);
            return;
        }
        if let Some(m) = &app.message {
            spans.push(Span::styled(
                format!(" {} ", escape(m)),
                Style::new().fg(Color::Black).bg(Color::Yellow),
            ));
        } else if let Some(s) = &app.searching {
            spans.push(Span::styled(
                format!(" searching \"{}\"… ", escape(&s.query)),
                Style::new().fg(Color::Yellow),
            ));
        }
        for (k, what) in keys::hints(&app.contexts()) {
            spans.push(Span::styled(format!(" {k}"), key));
            spans.push(Span::raw(format!(" {what}")));
        }
        Line::from(spans).render(area, buf);
    }
}
