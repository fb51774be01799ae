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
        Ctx::Answer,
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

/// Words of `text` in lines of at most `width` columns; a word longer than
/// a line is cut (nothing else is).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = vec![String::new()];
    for w in text.split(' ') {
        let last = out.last_mut().expect("one line at least");
        let n = last.chars().count();
        if n == 0 || n + 1 + w.chars().count() <= width {
            if n > 0 {
                last.push(' ');
            }
            last.push_str(w);
        } else {
            out.push(w.to_string());
        }
    }
    out
}

/// A help line wrapped to `width`, continuation lines under the description.
fn wrap_help(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    if line.width() <= width || line.spans.len() != 2 {
        return vec![line];
    }
    let key = line.spans[0].clone();
    let indent = key.width();
    let mut out = Vec::new();
    for (i, part) in wrap_words(&line.spans[1].content, width.saturating_sub(indent))
        .into_iter()
        .enumerate()
    {
        let head = if i == 0 {
            key.clone()
        } else {
            Span::raw(" ".repeat(indent))
        };
        out.push(Line::from(vec![head, Span::raw(part)]));
    }
    out
}

pub fn help(area: Rect, buf: &mut Buffer, scroll: u16) {
    let r = centered(area, 96, area.height.saturating_sub(2));
    Clear.render(r, buf);
    let width = usize::from(r.width.saturating_sub(2));
    let lines: Vec<Line<'static>> = help_lines()
        .into_iter()
        .flat_map(|l| wrap_help(l, width))
        .collect();
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
    // As wide as the longest entry (the screen allowing); an entry wider
    // than that puts its description on the next line.
    let id_w = stacks
        .iter()
        .map(|s| escape(&s.id).chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    let longest = stacks
        .iter()
        .map(|s| 4 + id_w + escape(&s.title).chars().count())
        .max()
        .unwrap_or(0)
        .max(40);
    let w = (longest as u16 + 3).min(area.width);
    let inner = usize::from(w.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    for (i, s) in stacks.iter().enumerate() {
        let mark = if Some(s.id.as_str()) == current {
            "●"
        } else {
            " "
        };
        let id = escape(&s.id);
        let title = escape(&s.title);
        let mut rows = vec![format!(" {mark} {id:<id_w$} {title}")];
        if rows[0].chars().count() > inner {
            rows = vec![format!(" {mark} {id}")];
            rows.extend(
                wrap_words(&title, inner.saturating_sub(5))
                    .into_iter()
                    .map(|t| format!("     {t}")),
            );
        }
        for row in rows {
            let line = Line::raw(row);
            lines.push(if i == item {
                line.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                line
            });
        }
    }
    let r = centered(area, w, lines.len() as u16 + 3);
    Clear.render(r, buf);
    lines.push(Line::styled(
        " j/k move · Enter choose · Esc cancel",
        Style::new().fg(Color::DarkGray),
    ));
    Paragraph::new(lines)
        .block(frame(" Server stack "))
        .render(r, buf);
}
