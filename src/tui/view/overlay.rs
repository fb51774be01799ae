//! Overlays drawn over the panes: the help (generated from the key table),
//! the filter and the stack chooser.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Widget};

use crate::sanitize::escape;
use crate::tui::app::{App, FILTER_ITEMS};
use crate::tui::keys::{self, BINDINGS, Ctx};
use crate::tui::lessons::StackChoice;

/// A centred box of at most `w`×`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn frame(title: &str) -> Block<'_> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(Color::Cyan))
        .title(Line::styled(
            title,
            Style::new().add_modifier(Modifier::BOLD),
        ))
}

/// The help text: every binding of the key table, by context.
pub fn help_lines() -> Vec<Line<'static>> {
    let order = [
        Ctx::Always,
        Ctx::Timeline,
        Ctx::Fields,
        Ctx::Bytes,
        Ctx::Lesson,
        Ctx::Global,
        Ctx::Playing,
        Ctx::Search,
        Ctx::Filter,
        Ctx::Stack,
        Ctx::Help,
    ];
    let mut out = Vec::new();
    for ctx in order {
        out.push(Line::styled(
            ctx.title().to_string(),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        for b in BINDINGS.iter().filter(|b| b.ctx == ctx) {
            out.push(Line::from(vec![
                Span::styled(
                    format!("  {:<16}", keys::keys_label(b)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(b.help),
            ]));
        }
        if ctx == Ctx::Playing {
            out.push(Line::raw("  any other key   pause"));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::styled(
        "Mouse",
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    ));
    out.push(Line::raw(
        "  wheel           scroll the pane under the pointer",
    ));
    out.push(Line::raw(
        "  click           focus a pane; select a step or a field",
    ));
    out
}

pub fn help(area: Rect, buf: &mut Buffer, scroll: u16) {
    let r = centered(area, 84, area.height.saturating_sub(2));
    Clear.render(r, buf);
    let lines = help_lines();
    let max = (lines.len() as u16).saturating_sub(r.height.saturating_sub(2));
    Paragraph::new(lines)
        .block(frame(" Keys — ? or Esc closes, q quits "))
        .scroll((scroll.min(max), 0))
        .render(r, buf);
}

/// The filter's value for criterion `i`, as shown.
fn filter_value(app: &App, i: usize) -> String {
    let f = &app.filter;
    match i {
        0 => f.conn.map_or("any".into(), |c| format!("conn {c}")),
        1 => f.session.map_or("any".into(), |s| {
            match app.tl.state().sids.get(s as usize) {
                Some(Some(sid)) => format!("{s} ({})", escape(sid)),
                _ => s.to_string(),
            }
        }),
        2 => f.layer.unwrap_or("any").to_string(),
        3 => f
            .dir
            .map_or("any".into(), |d| format!("{} {}", d.as_str(), d.arrow())),
        _ => if f.findings_only { "yes" } else { "no" }.into(),
    }
}

pub fn filter(area: Rect, buf: &mut Buffer, app: &App, item: usize) {
    let r = centered(area, 56, FILTER_ITEMS.len() as u16 + 5);
    Clear.render(r, buf);
    let mut lines: Vec<Line<'static>> = FILTER_ITEMS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let line = Line::from(vec![
                Span::raw(format!(" {name:<15}")),
                Span::styled(
                    format!("‹ {} ›", filter_value(app, i)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
            ]);
            if i == item {
                line.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                line
            }
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(" {} of {} steps shown", app.visible.len(), app.tl.len()),
        Style::new().fg(Color::DarkGray),
    ));
    lines.push(Line::styled(
        " j/k criterion · ←/→ value · x clear · Enter/Esc close",
        Style::new().fg(Color::DarkGray),
    ));
    Paragraph::new(lines)
        .block(frame(" Filter "))
        .render(r, buf);
}

pub fn stack(
    area: Rect,
    buf: &mut Buffer,
    stacks: &[StackChoice],
    item: usize,
    current: Option<&str>,
) {
    let r = centered(area, 60, stacks.len() as u16 + 4);
    Clear.render(r, buf);
    let mut lines: Vec<Line<'static>> = stacks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mark = if Some(s.id.as_str()) == current {
                "●"
            } else {
                " "
            };
            let line = Line::raw(format!(
                " {mark} {:<14} {}",
                escape(&s.id),
                escape(&s.title)
            ));
            if i == item {
                line.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                line
            }
        })
        .collect();
    lines.push(Line::styled(
        " j/k move · Enter choose · Esc cancel",
        Style::new().fg(Color::DarkGray),
    ));
    Paragraph::new(lines)
        .block(frame(" Server stack "))
        .render(r, buf);
}
