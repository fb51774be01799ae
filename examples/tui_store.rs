//! Measures the interactive view's store on a large capture, as the
//! interface drives it (bench/run.sh runs it under `/usr/bin/time -v`):
//!
//!     cargo run --release --example tui_store -- CAPTURE [mem]
//!
//! An [`App`] over the indexed timeline (or, with `mem`, the in-memory
//! one), 160×50, pumped as the event loop pumps it (12 ms of work, then
//! the 4 ms a frame leaves). Prints, tab-separated:
//! - `first_screen_s`: until the first screenful of rows shows with its
//!   summaries read back;
//! - `indexed_s`: until the whole capture is indexed and every step is in
//!   the visible list (End reaches the last step);
//! - `last_screen_s`: after that, from pressing End until the last screen's
//!   summaries are read back;
//! - `worst_pump_ms`: the longest single pump (what a keypress can wait);
//! - `steps`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dispel::analyze::Options;
use dispel::tui::index::{Config, IndexTimeline, PLACEHOLDER};
use dispel::tui::keys::Action;
use dispel::tui::{App, MemTimeline, NoLessons, Source, Timeline};

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
        eprintln!("usage: tui_store CAPTURE [mem]");
        std::process::exit(2);
    };
    let mem = args.next().as_deref() == Some("mem");
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
    let mut app = App::new(tl, Box::new(NoLessons::default()), None);
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
        if first.is_some() && !app.busy() {
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
    let st = app.tl.state();
    if let Some(e) = &st.error {
        eprintln!("tui_store: {}: {e}", path.display());
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
