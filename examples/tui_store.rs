//! Measures the interactive view's store on a large capture, as the
//! interface drives it (bench/run.sh runs it under `/usr/bin/time -v`):
//!
//!     cargo run --release --example tui_store -- CAPTURE [mem] [lessons]
//!     cargo run --release --example tui_store -- CAPTURE live [mem]
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
//!
//! With `live`, the capture is read as `dispel replay -` reads a stream
//! (spooled as it arrives), and the store is polled as the event loop
//! polls it while following the newest step: prints `indexed_s`, `steps`
//! and `resident_steps_max`, the most full steps the indexed timeline held
//! at once (the in-memory one, with `mem`, holds them all).

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
    if rest.iter().any(|a| a == "live") {
        return live(&path, mem);
    }
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

/// The `live` measurement (see the module documentation).
fn live(path: &std::path::Path, mem: bool) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| {
        eprintln!("tui_store: {}: {e}", path.display());
        std::process::exit(2);
    });
    let input = dispel::live::Input::spawn(file).expect("the input thread");
    let feed = dispel::tui::live::LiveFeed::new("-".into(), input).expect("a spool");
    let started = Instant::now();
    let mut resident_max = 0;
    let mut steps = 0;
    let mut poll = |tl: &mut dyn Timeline, resident: usize| {
        // Following: the newest screenful is on screen, its last step read.
        let n = tl.len();
        let shown: Vec<usize> = (n.saturating_sub(45)..n).collect();
        tl.want(&shown);
        tl.poll(Duration::from_millis(12));
        if let Some(&last) = shown.last() {
            let _ = tl.step(last);
        }
        resident_max = resident_max.max(resident);
        steps = tl.len();
        std::thread::sleep(Duration::from_millis(4));
    };
    if mem {
        let mut tl = MemTimeline::spawn(Source::Live(feed), Options::default());
        while tl.state().loading {
            let n = tl.len();
            poll(&mut tl, n);
        }
    } else {
        let mut tl =
            IndexTimeline::spawn(Source::Live(feed), Options::default(), Config::default());
        while tl.state().loading {
            let n = tl.resident_steps();
            poll(&mut tl, n);
        }
    }
    println!(
        "indexed_s\t{:.3}\nsteps\t{steps}\nresident_steps_max\t{resident_max}",
        started.elapsed().as_secs_f64()
    );
}
