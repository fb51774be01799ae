//! The terminal interface: the step trace in linked panes — timeline,
//! fields, bytes, lesson — with a status line and a key table that drives
//! dispatch, the help overlay and the hints alike.
//!
//! - [`app`]: the state and its pure transitions;
//! - [`keys`]: the one key table;
//! - [`view`]: drawing, a function of the state;
//! - [`timeline`]: step access behind a trait, loaded in the background;
//! - [`index`]: the store for large captures — an index, checkpoints, and
//!   chunks read back from the file on demand;
//! - [`lessons`]: the lessons engine behind a trait;
//! - [`terminal`]: terminal setup, restore and the event loop.
//!
//! Nothing here runs unless stdout is a terminal; the headless path prints
//! the text trace without touching the terminal library.

pub mod app;
mod column;
pub mod course;
pub mod diagram;
pub mod index;
pub mod keys;
pub mod labels;
pub mod lessons;
pub mod links;
pub mod live;
pub mod quiz;
pub mod terminal;
pub mod timeline;
pub mod view;
pub mod visible;

pub use app::App;
pub use course::CourseLessons;
pub use lessons::{LessonSource, LessonView, NoLessons, StackChoice, TraceLine};
pub use timeline::{MemTimeline, Row, Source, Timeline};

use crate::analyze::Options;

/// Opens the interface over `source` and runs it until the user quits.
/// Returns why the capture could not be read to its end, if it could not
/// (the interface showed it; the command line reports it and exits 2).
pub fn run(
    source: Source,
    opts: &Options,
    lessons: Box<dyn LessonSource>,
    stack: Option<String>,
) -> std::io::Result<Option<String>> {
    let live = match &source {
        Source::Live(feed) => Some(feed.clone()),
        _ => None,
    };
    let tl = index::open(source, opts.clone());
    let mut app = App::new(tl, lessons, stack);
    app.live = live;
    terminal::run(&mut app)?;
    let st = app.tl.state();
    Ok(if st.loading { None } else { st.error.clone() })
}
