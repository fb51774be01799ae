//! Where each pane goes: side by side when the terminal is wide enough,
//! otherwise the timeline above one switchable detail pane. Both the views
//! and mouse handling use this one function, so a click lands where the
//! pane was drawn.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::tui::app::App;

/// At least this many columns and rows for the four panes side by side.
pub const WIDE_MIN: (u16, u16) = (100, 20);

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
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(body);
        let [timeline, fields] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(left);
        let [bytes, lesson] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
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
