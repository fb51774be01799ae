//! Where each pane goes. When the terminal is wide enough the timeline takes
//! the whole width on top (a row then shows most of its summary) and the
//! three detail panes sit side by side below it; otherwise the timeline sits
//! above one switchable detail pane. Both the views and mouse handling use
//! this one function, so a click lands where the pane was drawn.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::tui::app::App;

/// At least this many columns and rows for the detail panes side by side.
pub const WIDE_MIN: (u16, u16) = (110, 28);

/// The bytes pane's width: a hex dump of 8 bytes a line (offset, hex, ASCII)
/// with its frame; 16 bytes a line when the terminal has room for both.
const BYTES_NARROW: u16 = 42;
const BYTES_WIDE: u16 = 78;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub timeline: Rect,
    /// Set in the wide layout only.
    pub fields: Option<Rect>,
    pub bytes: Option<Rect>,
    pub lesson: Option<Rect>,
    /// The narrow layout's tab bar and its one detail pane.
    pub tabs: Option<Rect>,
    pub detail: Rect,
    pub status: Rect,
    pub hints: Rect,
}

pub fn areas(area: Rect, app: &App) -> Areas {
    let _ = app;
    let [body, status, hints] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    if area.width >= WIDE_MIN.0 && area.height >= WIDE_MIN.1 {
        let top = (body.height * 2 / 5).max(6);
        let [timeline, bottom] =
            Layout::vertical([Constraint::Length(top), Constraint::Min(0)]).areas(body);
        let bytes_w = if bottom.width >= BYTES_WIDE + 2 * 48 {
            BYTES_WIDE
        } else {
            BYTES_NARROW
        };
        let rest = bottom.width.saturating_sub(bytes_w);
        let fields_w = rest / 2;
        let [fields, bytes, lesson] = Layout::horizontal([
            Constraint::Length(fields_w),
            Constraint::Length(bytes_w),
            Constraint::Min(0),
        ])
        .areas(bottom);
        Areas {
            timeline,
            fields: Some(fields),
            bytes: Some(bytes),
            lesson: Some(lesson),
            tabs: None,
            detail: fields,
            status,
            hints,
        }
    } else {
        let top = (body.height * 2 / 5).max(body.height.min(5));
        let [timeline, tabs, detail] = Layout::vertical([
            Constraint::Length(top),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(body);
        Areas {
            timeline,
            fields: None,
            bytes: None,
            lesson: None,
            tabs: Some(tabs),
            detail,
            status,
            hints,
        }
    }
}
