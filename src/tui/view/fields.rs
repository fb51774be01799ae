//! The selected step's fields as a tree: Wireshark names (and a plain label
//! where one is known), values as the text trace renders them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{pane_block, render_lines, scroll_marks};
use crate::output::text::{frames_label, render_value};
use crate::sanitize::escape;
use crate::step::Step;
use crate::tui::app::{App, Pane};
use crate::tui::labels::label;

pub struct FieldsPane<'a>(pub &'a App);

/// The tree glyph of field `i`: `▾` when deeper fields follow it.
fn glyph(step: &Step, i: usize) -> &'static str {
    let d = step.fields[i].depth;
    match step.fields.get(i + 1) {
        Some(next) if next.depth > d => "▾ ",
        _ if d > 0 => "· ",
        _ => "  ",
    }
}

impl Widget for &FieldsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let focused = app.focus == Pane::Fields;
        let Some(step) = app.current() else {
            let block = pane_block(Line::raw(" Fields "), focused);
            block.render(area, buf);
            return;
        };
        let title = Line::from(vec![
            Span::raw(format!(" Fields · #{} ", app.selected.unwrap_or(0) + 1)),
            Span::styled(step.kind, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!(" · packets {} ", frames_label(&step.frames))),
        ]);
        let block = pane_block(title, focused);
        let inner = block.inner(area);
        block.render(area, buf);
        if step.fields.is_empty() {
            render_lines(
                [Line::styled(
                    "(no fields)",
                    Style::new().fg(Color::DarkGray),
                )],
                inner,
                buf,
            );
            return;
        }
        let width = usize::from(inner.width);
        let link_style = Style::new()
            .fg(Color::LightBlue)
            .add_modifier(Modifier::UNDERLINED);
        let field_rows = step.fields.iter().enumerate().map(|(i, f)| {
            let indent = "  ".repeat(usize::from(f.depth));
            // As Wireshark's tree: the label and the value first, the
            // display-filter name after them (dimmed, and only when it fits
            // whole), so a narrow pane drops the name, not the value.
            let name = escape(&f.name).into_owned();
            let label = label(step.kind, &f.name);
            let mut spans = vec![
                Span::raw(format!("{indent}{}", glyph(step, i))),
                Span::styled(
                    label.map_or(name.clone(), str::to_string),
                    Style::new().fg(Color::Cyan),
                ),
            ];
            spans.push(Span::raw(if label.is_some() { ": " } else { " = " }));
            let value_style = if f.span.is_some() {
                Style::new()
            } else {
                // Computed, not read from bytes: nothing to highlight.
                Style::new().add_modifier(Modifier::ITALIC)
            };
            if let Some(l) = app.links.iter().find(|l| l.field == Some(i)) {
                // The link leads the row: a narrow pane cuts the rest.
                spans.insert(
                    1,
                    Span::styled(format!("↪ step {}", l.target + 1), link_style),
                );
                spans.insert(2, Span::raw(" "));
            }
            spans.push(Span::styled(render_value(step, f), value_style));
            if label.is_some() {
                let used: usize = spans.iter().map(|s| s.width()).sum();
                if used + 2 + name.chars().count() < width {
                    spans.push(Span::styled(
                        format!("  {name}"),
                        Style::new().fg(Color::DarkGray),
                    ));
                }
            }
            Line::from(spans)
        });
        let link_rows = app.extra_links().map(|l| {
            Line::from(vec![
                Span::styled("↪ ", link_style),
                Span::styled(escape(&l.label).into_owned(), link_style),
            ])
        });
        let total = app.field_count();
        let lines = field_rows
            .chain(link_rows)
            .enumerate()
            .skip(app.fields_offset)
            .take(usize::from(inner.height))
            .map(|(i, mut line)| {
                if i == app.field {
                    line = line.style(if focused {
                        Style::new().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::new().bg(Color::DarkGray)
                    });
                }
                line
            });
        render_lines(lines, inner, buf);
        scroll_marks(
            area,
            buf,
            app.fields_offset > 0,
            app.fields_offset + usize::from(inner.height) < total,
        );
    }
}
