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

/// One part of the status line; `drop` ranks the parts that give way when
/// the line is too narrow (lowest first), `None` for those that stay.
struct Part {
    spans: Vec<Span<'static>>,
    drop: Option<u8>,
}

fn part(spans: Vec<Span<'static>>, drop: Option<u8>) -> Part {
    Part { spans, drop }
}

fn width(parts: &[Part]) -> usize {
    parts
        .iter()
        .flat_map(|p| p.spans.iter())
        .map(Span::width)
        .sum()
}

/// The capture's name in at most `room` columns: the path, else the file
/// name, else the file name's end after `…`; `None` when even that is too
/// narrow to help.
fn fit_name(name: &str, room: usize) -> Option<String> {
    let name = escape(name).into_owned();
    let file = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_string();
    for n in [&name, &file] {
        if n.chars().count() + 2 <= room {
            return Some(format!(" {n} "));
        }
    }
    let keep = room.checked_sub(3).filter(|k| *k >= 8)?;
    let chars: Vec<char> = file.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(keep)..].iter().collect();
    Some(format!(" …{tail} "))
}

impl Widget for &StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let st = app.tl.state();
        let dim = Style::new().fg(Color::DarkGray);
        let mut parts = Vec::new();
        let total = app.tl.len();
        let pos = app.selected.map_or(0, |s| s + 1);
        parts.push(part(
            vec![Span::raw(format!("{SEP}step {pos}/{total}"))],
            None,
        ));
        if !app.filter.is_empty() || app.visible.len() != total {
            parts.push(part(
                vec![Span::styled(format!(" ({} shown)", app.visible.len()), dim)],
                Some(3),
            ));
        }
        if let Some(step) = app.current() {
            let conn = st.connections.iter().find(|c| c.id == step.conn);
            parts.push(part(
                vec![Span::raw(format!("{SEP}conn {}", step.conn))],
                Some(4),
            ));
            if let Some(c) = conn {
                parts.push(part(
                    vec![Span::styled(format!(" {} ⇄ {}", c.client, c.server), dim)],
                    Some(0),
                ));
            }
            if let Some(s) = step.session {
                parts.push(part(vec![Span::raw(format!("{SEP}session {s}"))], Some(5)));
                if let Some(Some(sid)) = st.sids.get(s as usize) {
                    parts.push(part(
                        vec![Span::styled(format!(" {}", escape(sid)), dim)],
                        Some(1),
                    ));
                }
            }
        }
        parts.push(part(
            vec![Span::raw(format!(
                "{SEP}stack {}",
                escape(app.stack.as_deref().unwrap_or("-"))
            ))],
            None,
        ));
        let fstyle = if st.findings > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        parts.push(part(
            vec![
                Span::raw(SEP),
                Span::styled(
                    format!(
                        "{} finding{}",
                        st.findings,
                        if st.findings == 1 { "" } else { "s" }
                    ),
                    fstyle,
                ),
            ],
            None,
        ));
        // The replay's pace, always: a student sees what Space will do.
        let (mark, style) = if app.replay.playing {
            (
                "▶",
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
            )
        } else {
            ("⏸", dim)
        };
        parts.push(part(
            vec![Span::styled(
                format!("{SEP}{mark} {}", app.replay.pace()),
                style,
            )],
            None,
        ));
        if let Some(feed) = &app.live {
            // A live session: always said, with the packets read so far.
            let n = feed.packets();
            let follow = if app.follow { ", following" } else { "" };
            let (text, color) = if st.loading {
                (format!("{SEP}● live: {n} packets{follow}"), Color::Green)
            } else {
                (format!("{SEP}live ended: {n} packets"), Color::Yellow)
            };
            parts.push(part(vec![Span::styled(text, Style::new().fg(color))], None));
        } else if st.loading {
            let text = match st.progress {
                Some(p) => format!("{SEP}indexing… {p}% ({total} steps)"),
                None => format!("{SEP}loading… {total} steps"),
            };
            parts.push(part(
                vec![Span::styled(text, Style::new().fg(Color::Yellow))],
                Some(2),
            ));
        }
        if let Some(e) = &st.error {
            parts.push(part(
                vec![Span::styled(
                    format!("{SEP}stopped: {}", escape(e)),
                    Style::new().fg(Color::Red),
                )],
                None,
            ));
        }
        // Shorten the capture's name first, then drop the details in rank
        // order; the position, stack and findings count stay.
        let room = usize::from(area.width);
        // The file name (without its directory) is kept over the details;
        // only when they are all gone is its start cut.
        let file = st.name.rsplit(['/', '\\']).next().unwrap_or(&st.name);
        let min_name = escape(file).chars().count().min(40) + 2;
        let mut rank = 0u8;
        while width(&parts) + min_name > room && rank < 8 {
            parts.retain(|p| p.drop != Some(rank));
            rank += 1;
        }
        let mut spans = Vec::new();
        if let Some(name) = fit_name(&st.name, room.saturating_sub(width(&parts))) {
            spans.push(Span::styled(
                name,
                Style::new().add_modifier(Modifier::BOLD),
            ));
        } else if let Some(s) = parts.first_mut().and_then(|p| p.spans.first_mut()) {
            // No room for the name: the first part loses its separator.
            let rest = s.content.trim_start_matches(SEP).to_string();
            s.content = format!(" {rest}").into();
        }
        spans.extend(parts.into_iter().flat_map(|p| p.spans));
        Line::from(spans)
            .style(Style::new().bg(Color::Black))
            .render(area, buf);
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
        // Whole hints only, as many as fit (quit and help come first).
        let mut used: usize = spans.iter().map(Span::width).sum();
        for (k, what) in keys::hints(&app.contexts()) {
            let k = Span::styled(format!(" {k}"), key);
            let what = Span::raw(format!(" {what}"));
            let w = k.width() + what.width();
            if used + w > usize::from(area.width) {
                break;
            }
            used += w;
            spans.push(k);
            spans.push(what);
        }
        Line::from(spans).render(area, buf);
    }
}
