//! Measures the interactive view's store on a large capture, as the
//! interface drives it (bench/run.sh runs it under `/usr/bin/time -v`):
//!
//!     cargo run --release --example tui_store -- CAPTURE [mem] [lessons]
//!
//! An [`App`] over the indexed timeline (or, with `mem`, the in-memory
//! one), with the bundled lessons bound as `dispel` binds them (or, without
//! `lessons`, none), 160×50, pumped as the event loop pumps it (12 ms of work, then
//! the 4 ms a frame leaves). Prints, tab-separated:
//! - `first_screen_s`: until the first screenful of rows shows with its
//!   summaries read back;
//! - `indexed_s`: until the whole capture is indexed and every step is in
//!   the visible list (End reaches the last step);
//! - `last_screen_s`: after that, from pressing End until the last screen's
//!   summaries are read back;
//! - `worst_pump_ms`: the longest single pump (what a keypress can wait);
//! - `steps`;
//! - with `lessons`, first `bound_s`: until every step's lessons are bound.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dispel::analyze::Options;
use dispel::tui::index::{Config, IndexTimeline, PLACEHOLDER};
use dispel::tui::keys::Action;
use dispel::tui::{App, CourseLessons, LessonSource, MemTimeline, NoLessons, Source, Timeline};

// The allocator the `dispel` binary runs with (src/main.rs), so the store
// is measured as the interface runs it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn screen_ready(app: &App) -> bool {
    let h = 45usize;
    let shown: Vec<usize> = app
        .visible
        .range(app.tl_offset, app.tl_offset + h)
        .collect();
    !shown.is_empty()
        && (shown.len() >= h || !app.tl.state().loading)
        && shown
            .iter()
            .all(|&i| app.tl.row(i).is_some_and(|r| r.summary != PLACEHOLDER))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: tui_store CAPTURE [mem] [lessons]");
        std::process::exit(2);
    };
    let rest: Vec<String> = args.collect();
    let mem = rest.iter().any(|a| a == "mem");
    let with_lessons = rest.iter().any(|a| a == "lessons");
    let started = Instant::now();
    let tl: Box<dyn Timeline> = if mem {
        Box::new(MemTimeline::spawn(
            Source::File(path.clone()),
            Options::default(),
        ))
    } else {
        Box::new(IndexTimeline::spawn(
            Source::File(path.clone()),
            Options::default(),
            Config::default(),
        ))
    };
    let lessons: Box<dyn LessonSource> = if with_lessons {
        let selection = match dispel::lessons::cli::select(None, None, &mut std::io::stderr()) {
            Ok(Ok(s)) => s,
            _ => std::process::exit(2),
        };
        Box::new(CourseLessons::new(selection, None))
    } else {
        Box::new(NoLessons::default())
    };
    let mut app = App::new(tl, lessons, None);
    app.handle(Action::Resize(160, 50));
    let mut worst = Duration::ZERO;
    let mut pump = |app: &mut App| {
        let t = Instant::now();
        app.pump(Duration::from_millis(12));
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(4));
    };
    let mut first = None;
    loop {
        pump(&mut app);
        if first.is_none() && screen_ready(&app) {
            first = Some(started.elapsed());
        }
        if first.is_some() && app.navigable() {
            break;
        }
    }
    let indexed = started.elapsed();
    let end = Instant::now();
    app.handle(Action::Last);
    loop {
        pump(&mut app);
        if screen_ready(&app) && app.current().is_some() {
            break;
        }
    }
    let last = end.elapsed();
    // With lessons: on until every step is bound (the lesson pane of any
    // step can then show), as the interface goes on binding in the
    // background.
    let bound = with_lessons.then(|| {
        while app.lessons.observed() < app.tl.len() {
            pump(&mut app);
        }
        started.elapsed()
    });
    let st = app.tl.state();
    if let Some(e) = &st.error {
        eprintln!("tui_store: {}: {e}", path.display());
    }
    if let Some(b) = bound {
        println!("bound_s\t{:.3}", b.as_secs_f64());
    }
    println!(
        "first_screen_s\t{:.3}\nindexed_s\t{:.3}\nlast_screen_s\t{:.3}\nworst_pump_ms\t{:.1}\nsteps\t{}",
        first.unwrap_or_default().as_secs_f64(),
        indexed.as_secs_f64(),
        last.as_secs_f64(),
        worst.as_secs_f64() * 1e3,
        app.tl.len(),
    );
}
