//! The indexed timeline (src/tui/index.rs) must show exactly what the
//! in-memory one shows: every step it reads back from a checkpoint equals
//! the step a straight full run produces, its index rows agree with the
//! full steps, and its folding is the in-memory timeline's.
//!
//! Checkpoints are taken after every packet, or every few steps, so chunks
//! start inside WebSocket messages spread over packets, inside HTTP bodies,
//! in the middle of a permessage-deflate context and between a Socket.IO
//! binary packet and its attachments; steps are read in a shuffled order so
//! chunks are restored again and again, out of order, through a tiny cache.

mod support;
mod tools;

use std::path::{Path, PathBuf};

use dispel::analyze::{self, Collect, Options};
use dispel::tui::index::{Config, IndexTimeline, PLACEHOLDER};
use dispel::tui::{MemTimeline, Source, Timeline};

fn inputs() -> Vec<PathBuf> {
    let mut v = tools::captures();
    for h in [
        "eio-five-sessions.pcap",
        "eio-payload-20000-packets.pcap",
        "sio-50-pending-acks.pcap",
        "sio-billion-attachments.pcap",
        "tcp-overlap-conflict.pcap",
        "ws-deflate-bomb.pcap",
        "terminal-escapes-ws.pcap",
        "pcap-record-4gb.pcap",
    ] {
        v.push(tools::root().join("tests/hostile").join(h));
    }
    v
}

fn full(path: &Path) -> Collect {
    let mut c = Collect::default();
    let _ = analyze::run_file(path, &Options::default(), &mut c);
    c
}

/// A seeded shuffle (xorshift), so a failure names a reproducible order.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn tiny(checkpoint_steps: u64, checkpoint_bytes: u64) -> Config {
    Config {
        checkpoint_steps,
        checkpoint_bytes,
        min_work_ratio: 0,
        cache_chunks: 2,
        cache_steps: usize::MAX,
    }
}

fn check(path: &Path, cfg: Config, seed: u64) -> usize {
    let name = path.display();
    let want = full(path);
    let mut tl = IndexTimeline::index_blocking(Source::File(path.into()), Options::default(), cfg);
    assert!(!tl.state().loading);
    assert_eq!(tl.len(), want.steps.len(), "{name}: step count");
    assert_eq!(tl.state().error, want.error, "{name}: error");
    assert_eq!(
        tl.state().connections.len(),
        want.connections.len(),
        "{name}: connections"
    );
    let findings: usize = want.steps.iter().map(|s| s.findings.len()).sum();
    assert_eq!(tl.state().findings, findings, "{name}: findings");
    // Rows from the index alone, before anything was read back, agree with
    // the full steps and fold as the in-memory timeline folds them.
    let mem = MemTimeline::from_steps("m", Timestamp::default(), want.steps.clone());
    for (i, s) in want.steps.iter().enumerate() {
        let r = tl.row(i).unwrap();
        assert!(!tl.is_materialised(i), "{name}: step {} read early", i + 1);
        assert_eq!(r.summary, PLACEHOLDER);
        let m = mem.row(i).unwrap();
        assert_eq!(
            (
                r.kind, r.conn, r.dir, r.time, r.findings, r.session, r.parent
            ),
            (
                s.kind,
                s.conn,
                s.dir,
                s.time,
                s.findings.len(),
                s.session,
                m.parent
            ),
            "{name}: row {}",
            i + 1
        );
        assert_eq!(
            tl.children(i),
            mem.children(i),
            "{name}: children of {}",
            i + 1
        );
    }
    // Every step read back, in a shuffled order, equals the full one.
    for i in shuffled(want.steps.len(), seed) {
        let got = tl.step_blocking(i);
        assert_eq!(tl.failure(), None, "{name}");
        let got = got.unwrap_or_else(|| panic!("{name}: step {} not read back", i + 1));
        assert_eq!(*got, want.steps[i], "{name}: step {} read back", i + 1);
        assert_eq!(tl.row(i).unwrap().summary, want.steps[i].summary);
    }
    assert!(tl.step(want.steps.len()).is_none());
    tl.chunks()
}

use dispel::step::Timestamp;

#[test]
fn every_step_read_back_after_every_packet_checkpoints_equals_the_full_run() {
    let mut restored = 0;
    for (k, path) in inputs().iter().enumerate() {
        restored += check(path, tiny(1, 0), 0x9e37_79b9 + k as u64);
    }
    // Checkpoints really were taken, many of them.
    assert!(restored > 1000, "{restored} checkpoints");
}

#[test]
fn every_step_read_back_with_chunks_of_a_few_steps_equals_the_full_run() {
    for (k, path) in inputs().iter().enumerate() {
        let chunks = check(path, tiny(7, u64::MAX), 0x5eed + k as u64);
        let steps = full(path).steps.len();
        if steps > 14 {
            assert!(chunks >= 2, "{}: {chunks} chunks", path.display());
        }
    }
}

#[test]
fn the_bundled_capture_reads_back_from_memory() {
    let data: &'static [u8] = dispel::cli::DEFAULT_CAPTURE;
    let want = full(&tools::root().join(dispel::cli::DEFAULT_CAPTURE_NAME));
    let mut tl = IndexTimeline::index_blocking(
        Source::Static {
            name: "bundled".into(),
            data,
        },
        Options::default(),
        tiny(3, 0),
    );
    assert_eq!(tl.len(), want.steps.len());
    assert_eq!(
        tl.state().sids.first().cloned().flatten().as_deref(),
        Some("kyLnI3zry0iNvrG_AAAA")
    );
    for i in shuffled(want.steps.len(), 7) {
        assert_eq!(
            *tl.step_blocking(i).unwrap(),
            want.steps[i],
            "step {}",
            i + 1
        );
    }
}

#[test]
fn steps_not_read_back_are_asked_for_and_arrive_on_poll() {
    let path = tools::root().join("captures/flask-sock-echo.pcap");
    let mut tl = IndexTimeline::index_blocking(
        Source::File(path.clone()),
        Options::default(),
        Config {
            cache_chunks: 1,
            ..tiny(10, u64::MAX)
        },
    );
    let last = tl.len() - 1;
    assert!(tl.chunks() > 3);
    // Asking does not wait: the step is not there yet…
    assert!(tl.step(last).is_none());
    assert_eq!(tl.row(last).unwrap().summary, PLACEHOLDER);
    // …and arrives through poll.
    let started = std::time::Instant::now();
    while tl.step(last).is_none() {
        tl.poll(std::time::Duration::from_millis(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(started.elapsed().as_secs() < 20, "never read back");
    }
    assert!(tl.is_materialised(last));
    // The rows on screen are read first and kept over what `step` asked.
    tl.want(&[0, 1, 2]);
    while !tl.is_materialised(0) {
        tl.poll(std::time::Duration::from_millis(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(started.elapsed().as_secs() < 20, "never read back");
    }
    // A cache of one chunk: the one on screen stays, and so does the one
    // `step` read last (a reader going in order, as the lesson binder
    // does, needs it again)…
    assert!(tl.is_materialised(last));
    // …until `step` reads from another: then it goes, the screen's stays.
    let mid = last / 2;
    while tl.step(mid).is_none() {
        tl.poll(std::time::Duration::from_millis(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(started.elapsed().as_secs() < 20, "never read back");
    }
    assert!(!tl.is_materialised(last));
    assert!(tl.is_materialised(0));
    let want = full(&path);
    assert_eq!(*tl.step(0).unwrap(), want.steps[0]);
}

/// The chunk cache holds at most `cache_steps` steps (beyond one chunk),
/// however many chunks it may keep: a materialised step is a kilobyte or
/// two, so the step budget is what bounds the interface's memory.
#[test]
fn the_chunk_cache_keeps_to_its_step_budget() {
    let path = tools::root().join("captures/browser-flask-socketio.pcap");
    let mut tl = IndexTimeline::index_blocking(
        Source::File(path),
        Options::default(),
        Config {
            cache_chunks: 8,
            cache_steps: 5,
            ..tiny(2, u64::MAX)
        },
    );
    assert!(tl.chunks() > 12, "{} chunks", tl.chunks());
    let started = std::time::Instant::now();
    // Six steps four apart (six chunks of about two steps), read back in
    // turn.
    let firsts: Vec<usize> = (0..tl.len()).step_by(4).take(6).collect();
    for &i in &firsts {
        while tl.step(i).is_none() {
            tl.poll(std::time::Duration::from_millis(10));
            std::thread::sleep(std::time::Duration::from_millis(1));
            assert!(started.elapsed().as_secs() < 20, "never read back");
        }
    }
    let kept: Vec<usize> = firsts
        .iter()
        .copied()
        .filter(|&i| tl.is_materialised(i))
        .collect();
    // Chunks of about two steps, a budget of five: two or three stay, the
    // latest among them; all six would without the budget.
    assert!(kept.len() <= 3, "kept {kept:?}");
    assert!(kept.contains(&firsts[5]), "kept {kept:?}");
}

/// Pumps until the app has nothing left to do.
fn settle(app: &mut dispel::tui::App) {
    pump_until(app, |a| !a.busy(), "the app never settled");
}

/// Pumps as the event loop does until `done` holds (failing with `what`
/// after 60 s).
fn pump_until(app: &mut dispel::tui::App, done: impl Fn(&dispel::tui::App) -> bool, what: &str) {
    let started = std::time::Instant::now();
    loop {
        app.pump(std::time::Duration::from_millis(20));
        if done(app) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(started.elapsed().as_secs() < 60, "{what}");
    }
}

fn keys(app: &mut dispel::tui::App, s: &str) {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for c in s.chars() {
        let code = if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        app.key(&KeyEvent::new(code, KeyModifiers::NONE));
    }
}

#[test]
fn search_and_end_over_the_indexed_timeline_land_where_the_memory_one_does() {
    use dispel::tui::{App, NoLessons};
    let path = tools::root().join("captures/browser-flask-socketio.pcap");
    let mem = MemTimeline::load_blocking(Source::File(path.clone()), Options::default());
    let idx = IndexTimeline::index_blocking(
        Source::File(path),
        Options::default(),
        Config {
            cache_chunks: 1,
            ..tiny(5, u64::MAX)
        },
    );
    let mut a = App::new(Box::new(mem), Box::new(NoLessons::default()), None);
    let mut b = App::new(Box::new(idx), Box::new(NoLessons::default()), None);
    for app in [&mut a, &mut b] {
        settle(app);
    }
    // Searches that go forward over many chunks not read back yet, one
    // that wraps, one in field values only, and End.
    for script in ["/pong\n", "//\n", "G/upgrade\n", "g/websocket\n", "G"] {
        keys(&mut a, script);
        keys(&mut b, script);
        settle(&mut a);
        settle(&mut b);
        assert_eq!(a.selected, b.selected, "after {script:?}");
        assert_eq!(a.message, b.message, "after {script:?}");
        assert_eq!(a.current(), b.current(), "after {script:?}");
        assert!(a.selected.is_some());
    }
    assert_eq!(b.selected, Some(b.tl.len() - 1));
}

#[test]
fn lessons_bound_through_the_indexed_timeline_are_the_full_runs() {
    // The binder reads every step back in order, through a cache of two
    // chunks of a few steps: chunks are read ahead, evicted and freed on
    // the reader's thread as it goes. Each step's lessons must be the ones
    // `bind_all` gives over a straight full run.
    use dispel::lessons;
    use dispel::tui::{App, CourseLessons};
    let path = tools::root().join("captures/browser-flask-socketio.pcap");
    let selection = lessons::cli::select(None, None, &mut Vec::new())
        .unwrap()
        .unwrap();
    let course = selection.course.clone();
    let steps = full(&path).steps;
    let want = lessons::bind_all(&course, steps.iter());
    let idx = IndexTimeline::index_blocking(
        Source::File(path),
        Options::default(),
        Config {
            cache_steps: 16,
            ..tiny(7, u64::MAX)
        },
    );
    let mut app = App::new(
        Box::new(idx),
        Box::new(CourseLessons::new(selection, None)),
        None,
    );
    let n = steps.len();
    pump_until(
        &mut app,
        |a| a.lessons.observed() >= n,
        "the lessons were never bound",
    );
    assert_eq!(app.tl.len(), steps.len());
    let mut bound = 0;
    for (i, (step, b)) in steps.iter().zip(&want).enumerate() {
        let got = app.lessons.lesson(i, step, None);
        let title = got.as_ref().map(|v| v.title.clone());
        let expected = match b.step {
            Some(l) => Some(lessons::render(&course.lessons[l], step, None, None).title),
            // Finding lessons alone: the pane still opens, saying so.
            None if b.findings.iter().any(Option::is_some) => {
                Some(format!("No lesson for {} steps", step.kind))
            }
            None => None,
        };
        assert_eq!(title, expected, "step {}", i + 1);
        let findings = got.as_ref().map_or(0, |v| v.findings.len());
        assert_eq!(
            findings,
            b.findings.iter().flatten().count(),
            "step {}",
            i + 1
        );
        bound += usize::from(expected.is_some());
    }
    // Most steps of a real capture have a lesson: the test compares
    // something.
    assert!(bound * 2 > steps.len(), "{bound} of {}", steps.len());
}

/// SYNTHETIC: a Socket.IO conversation over WebSocket of about 20,000
/// steps, one server event per packet.
fn long_live_conversation() -> Vec<u8> {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut ex: support::Exchange = vec![
        (
            true,
            support::upgrade_request("/socket.io/?EIO=4&transport=websocket", key, &[]),
        ),
        (false, support::upgrade_response(key, &[])),
        (
            false,
            support::stext(
                r#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
            ),
        ),
        (true, support::ctext("40")),
        (false, support::stext(r#"40{"sid":"n1"}"#)),
    ];
    for i in 0..5000 {
        ex.push((false, support::stext(&format!(r#"42["tick",{i}]"#))));
    }
    support::conv_pcap(&ex)
}

/// A pipe the test writes into: reads block until bytes come, and end
/// when the sender is dropped.
struct Pipe {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    part: Vec<u8>,
}

impl std::io::Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.part.is_empty() {
            match self.rx.recv() {
                Ok(p) => self.part = p,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.part.len());
        buf[..n].copy_from_slice(&self.part[..n]);
        self.part.drain(..n);
        Ok(n)
    }
}

/// Issue 27: a live session indexes its stream like a file. Over a long
/// stream the interface holds the 20-byte index of every step but full
/// steps only for the cache's budget and the chunk still open; the newest
/// step is readable as soon as it is indexed, before the stream ends (and
/// while the spool ends in the middle of a record); chunks closed long ago
/// are read back from the spool; at the end every step equals a straight
/// full run's.
#[test]
fn a_long_live_stream_is_indexed_with_bounded_memory_and_its_newest_step_readable() {
    use dispel::tui::live::LiveFeed;
    use std::time::{Duration, Instant};
    let bytes = long_live_conversation();
    let want = support::analyse(bytes.clone());
    assert!(want.steps.len() > 15_000, "{} steps", want.steps.len());
    // pcap: a 24-byte header, then records of 16 + caplen bytes.
    let mut ends = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        at += 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        ends.push(at);
    }
    let cfg = Config {
        checkpoint_steps: 500,
        checkpoint_bytes: u64::MAX,
        min_work_ratio: 0,
        cache_chunks: 4,
        cache_steps: 1000,
    };
    // A chunk closes at the first packet that brings it to 500 steps.
    let chunk_max = 600;
    let (tx, rx) = std::sync::mpsc::channel();
    let input = dispel::live::Input::spawn(Pipe {
        rx,
        part: Vec::new(),
    })
    .unwrap();
    let feed = LiveFeed::new("-".into(), input).unwrap();
    let mut tl = IndexTimeline::spawn(Source::Live(feed.clone()), Options::default(), cfg);
    // `arrived`: steps the last poll took, whose closed chunks stay until
    // the next.
    let bounded = |tl: &IndexTimeline, arrived: usize| {
        assert!(
            tl.tail_steps() <= chunk_max,
            "open chunk {}",
            tl.tail_steps()
        );
        // The budget, beyond which one chunk may stay, plus the chunk just
        // read back and the one read in order.
        assert!(
            tl.cached_steps() <= cfg.cache_steps + 3 * chunk_max + arrived,
            "{} steps cached of {}, {arrived} just arrived",
            tl.cached_steps(),
            tl.len()
        );
    };
    let poll = |tl: &mut IndexTimeline, budget: Duration| {
        let before = tl.len();
        tl.poll(budget);
        bounded(tl, tl.len() - before);
    };
    let send = |from: usize, to: usize| {
        for piece in bytes[from..to].chunks(1000) {
            tx.send(piece.to_vec()).unwrap();
        }
    };
    // The first half, and half of the next record: the spool ends inside it.
    let half = ends.len() / 2;
    send(0, ends[half - 1]);
    send(ends[half - 1], (ends[half - 1] + ends[half]) / 2);
    let started = Instant::now();
    while feed.packets() < half as u64 {
        poll(&mut tl, Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(1));
        assert!(
            started.elapsed().as_secs() < 60,
            "{} packets",
            feed.packets()
        );
    }
    // Every step of those packets was sent before the count moved; the
    // next poll evicts what that one closed.
    poll(&mut tl, Duration::from_secs(10));
    poll(&mut tl, Duration::from_millis(1));
    bounded(&tl, 0);
    assert!(tl.state().loading, "the stream has not ended");
    let n = tl.len();
    assert!(n > 7_000 && n < want.steps.len(), "{n} steps indexed");
    assert!(tl.chunks() > 10, "{} chunks", tl.chunks());
    assert!(
        tl.resident_steps() < n / 3,
        "{} of {n} steps held",
        tl.resident_steps()
    );
    let newest = tl.step(n - 1).expect("the newest step, at once");
    assert_eq!(*newest, want.steps[n - 1], "step {n}");
    assert_eq!(tl.row(n - 1).unwrap().summary, want.steps[n - 1].summary);
    // The first chunk, evicted long ago, read back from the growing spool.
    assert!(!tl.is_materialised(0));
    let first = tl.step_blocking(0).expect("step 1 read back");
    assert_eq!(tl.failure(), None);
    assert_eq!(*first, want.steps[0]);
    bounded(&tl, 0);

    // The rest, then the end of the stream.
    send((ends[half - 1] + ends[half]) / 2, bytes.len());
    drop(tx);
    while tl.state().loading {
        poll(&mut tl, Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(1));
        assert!(started.elapsed().as_secs() < 120, "{} steps", tl.len());
    }
    assert_eq!(tl.state().error, None);
    assert_eq!(tl.len(), want.steps.len());
    assert_eq!(feed.packets(), ends.len() as u64);
    let last = tl.len() - 1;
    for i in (0..tl.len()).step_by(97).chain([n - 1, n, last]) {
        let got = tl.step_blocking(i);
        assert_eq!(tl.failure(), None);
        let got = got.unwrap_or_else(|| panic!("step {} not read back", i + 1));
        assert_eq!(*got, want.steps[i], "step {} read back", i + 1);
        bounded(&tl, 0);
    }
}

/// Issue 27: the interface over a live stream through the indexed timeline,
/// with chunks of a few steps and a cache of fewer: while the stream is
/// still open, lessons bind to every step that arrived (chunks closed and
/// evicted before the binder reached them are read back), `F` keeps the
/// newest step selected, and the diagram grows with the arrows a full run
/// draws, control frames included, though their chunks were long evicted.
/// The lessons are the bundled course's, bound as over a full run.
#[test]
fn a_live_interface_binds_lessons_follows_and_draws_as_steps_arrive() {
    use dispel::lessons;
    use dispel::output::mermaid::{Diagrams, Lane};
    use dispel::tui::live::LiveFeed;
    use dispel::tui::{App, CourseLessons};
    // SYNTHETIC: a WebSocket echo with a ping and its pong first, then
    // eighty messages, then a close.
    let mut after = vec![
        (true, support::cframe(0x9, b"early")),
        (false, support::sframe(0xA, b"early")),
    ];
    for i in 0..40 {
        after.push((true, support::ctext(&format!("hello {i}"))));
        after.push((false, support::stext(&format!("hello {i}"))));
    }
    after.push((
        true,
        support::cframe(0x8, &support::close_body(1000, b"bye")),
    ));
    let bytes = support::conv_pcap(&support::ws_conv(&after));
    let steps = support::analyse(bytes.clone()).steps;
    let selection = lessons::cli::select(None, None, &mut Vec::new())
        .unwrap()
        .unwrap();
    let course = selection.course.clone();
    let want = lessons::bind_all(&course, steps.iter());
    let mut ends = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        at += 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        ends.push(at);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let input = dispel::live::Input::spawn(Pipe {
        rx,
        part: Vec::new(),
    })
    .unwrap();
    let feed = LiveFeed::new("-".into(), input).unwrap();
    let tl = IndexTimeline::spawn(
        Source::Live(feed.clone()),
        Options::default(),
        Config {
            cache_steps: 4,
            ..tiny(2, u64::MAX)
        },
    );
    let mut app = App::new(
        Box::new(tl),
        Box::new(CourseLessons::new(selection, None)),
        None,
    );
    app.live = Some(feed.clone());
    app.handle(dispel::tui::keys::Action::Resize(120, 35));
    // The handshake: then follow, and open the diagram.
    tx.send(bytes[..ends[5]].to_vec()).unwrap();
    pump_until(
        &mut app,
        |a| feed.packets() == 6 && a.tl.len() > 2,
        "the handshake never came",
    );
    keys(&mut app, "Fd");
    assert!(app.follow && app.diagram);
    let half = ends.len() / 2;
    tx.send(bytes[ends[5]..ends[half - 1]].to_vec()).unwrap();
    pump_until(
        &mut app,
        |a| feed.packets() == half as u64 && a.lessons.observed() == a.tl.len(),
        "the first half was never bound",
    );
    assert!(app.tl.state().loading);
    let n = app.tl.len();
    assert!(
        n > 50 && n + 50 < steps.len(),
        "{n} of {} steps",
        steps.len()
    );
    // The newest row: the last step, or the message it folds under.
    assert!(app.selected.unwrap() + 3 > n, "{:?} of {n}", app.selected);
    assert_eq!(app.diagram_lane, Some(Lane::Conn(0)));
    // The rest, a record at a time.
    for w in ends[half - 1..].windows(2) {
        tx.send(bytes[w[0]..w[1]].to_vec()).unwrap();
        app.pump(std::time::Duration::from_millis(5));
    }
    drop(tx);
    pump_until(
        &mut app,
        |a| !a.tl.state().loading && a.lessons.observed() == a.tl.len() && !a.busy(),
        "the stream never ended",
    );
    assert_eq!(app.tl.state().error, None);
    assert_eq!(app.tl.len(), steps.len());
    let last = app.selected.unwrap();
    assert!(last + 3 > steps.len(), "following the newest: {last}");
    let mut expected = Diagrams::default();
    for (i, s) in steps.iter().enumerate() {
        expected.step(i as u64 + 1, s, app.tl.state().origin);
    }
    let arrows: Vec<usize> = expected
        .lanes()
        .find(|(l, _)| **l == Lane::Conn(0))
        .map(|(_, a)| a.iter().map(|a| a.number as usize - 1).collect())
        .unwrap();
    let frames = arrows
        .iter()
        .filter(|&&i| steps[i].kind == "websocket.frame")
        .count();
    assert!(frames >= 3, "control frames among the arrows: {frames}");
    assert!(
        arrows
            .iter()
            .any(|&i| steps[i].kind == "websocket.frame" && i < 20),
        "an early control frame, whose chunk was evicted: {arrows:?}"
    );
    assert_eq!(app.diagram_lane, Some(Lane::Conn(0)));
    assert_eq!(app.diagram_arrows, arrows);
    for (i, (step, b)) in steps.iter().zip(&want).enumerate() {
        let got = app.lessons.lesson(i, step, None).map(|v| v.title);
        let expected = match b.step {
            Some(l) => Some(lessons::render(&course.lessons[l], step, None, None).title),
            None if b.findings.iter().any(Option::is_some) => {
                Some(format!("No lesson for {} steps", step.kind))
            }
            None => None,
        };
        assert_eq!(got, expected, "step {}", i + 1);
    }
}

/// Every real capture and the hostile ones (pcap and pcapng, TLS with a
/// key log in the stream, truncated and oversized records) streamed
/// through a live session in pieces that cut records, with chunks of three
/// steps: the same steps, error and findings as the file, every step read
/// back (open chunk, closed chunk, or from the spool) equal to the full
/// run's.
#[test]
fn every_capture_streamed_live_reads_back_as_the_file() {
    use dispel::tui::live::LiveFeed;
    use std::time::{Duration, Instant};
    let mut total = 0;
    for path in inputs() {
        let name = path.display();
        let want = full(&path);
        let bytes = std::fs::read(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let input = dispel::live::Input::spawn(Pipe {
            rx,
            part: Vec::new(),
        })
        .unwrap();
        let feed = LiveFeed::new("-".into(), input).unwrap();
        let mut tl = IndexTimeline::spawn(
            Source::Live(feed),
            Options::default(),
            Config {
                cache_steps: 8,
                ..tiny(3, u64::MAX)
            },
        );
        for piece in bytes.chunks(777) {
            tx.send(piece.to_vec()).unwrap();
        }
        drop(tx);
        let started = Instant::now();
        while tl.state().loading {
            tl.poll(Duration::from_millis(20));
            std::thread::sleep(Duration::from_millis(1));
            assert!(started.elapsed().as_secs() < 60, "{name}: never ended");
        }
        assert_eq!(tl.len(), want.steps.len(), "{name}: step count");
        // A record longer than the file is truncated in a file; a stream's
        // end is unknown when the record is read, so it is over the limit.
        let error = tl.state().error.clone();
        if error != want.error {
            assert!(
                want.error.is_some()
                    && error
                        .as_deref()
                        .is_some_and(|e| e.contains("over the 16777216-byte record limit")),
                "{name}: {error:?}, not {:?}",
                want.error
            );
        }
        let findings: usize = want.steps.iter().map(|s| s.findings.len()).sum();
        assert_eq!(tl.state().findings, findings, "{name}: findings");
        for i in shuffled(want.steps.len(), 7) {
            let got = tl.step_blocking(i);
            assert_eq!(tl.failure(), None, "{name}");
            let got = got.unwrap_or_else(|| panic!("{name}: step {} not read back", i + 1));
            assert_eq!(*got, want.steps[i], "{name}: step {} read back", i + 1);
        }
        total += want.steps.len();
    }
    assert!(total > 2_000, "{total} steps");
}

/// SYNTHETIC: a WebSocket conversation with permessage-deflate whose
/// client sends `n` messages of 64 KiB of `0`s, each deflated to a few
/// hundred bytes (a thousandfold inflation): every chunk of a few steps
/// holds a lot of decoded content.
fn inflating_messages(n: usize) -> Vec<u8> {
    use support::*;
    let text = vec![b'0'; 64 << 10];
    let mut ex = ws_deflate_conv(&[]);
    for _ in 0..n {
        let frame = ws_frame(true, 0b100, 0x1, Some(WS_MASK), &deflate_message(&text));
        ex.push((true, frame));
    }
    conv_pcap(&ex)
}

/// The chunk cache holds no more decoded content than the run's budget
/// (`--limit decoded-total`) beyond the chunks it may not evict (the rows
/// on screen, the selected step's, the one just read): scrolled across every
/// chunk and back, it stays within the budget, every step read back is the
/// full run's, and a read-ahead chunk the budget dropped is not read again
/// and again.
#[test]
fn the_chunk_cache_keeps_to_the_decoded_content_budget() {
    use dispel::analyze::decoded_bytes;
    use std::time::{Duration, Instant};
    let messages = 24;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), inflating_messages(messages)).unwrap();
    let want = full(file.path());
    let total: u64 = want.steps.iter().map(decoded_bytes).sum();
    assert!(
        want.steps
            .iter()
            .filter(|s| s.kind == "websocket.message")
            .count()
            == messages,
        "{} steps",
        want.steps.len()
    );
    // About five messages' decoded content: a chunk (a checkpoint every
    // two steps, so after every packet: a frame, its message and the
    // inflated message) holds one message's.
    let limit = total * 5 / messages as u64;
    assert!(total > 4 * limit, "{total} bytes decoded");
    let opts = Options {
        decoded_total: Some(limit),
        ..Options::default()
    };
    let mut tl = IndexTimeline::index_blocking(
        Source::File(file.path().into()),
        opts,
        Config {
            cache_chunks: 8,
            cache_steps: usize::MAX,
            ..tiny(2, u64::MAX)
        },
    );
    assert_eq!(tl.len(), want.steps.len());
    assert!(tl.chunks() >= messages, "{} chunks", tl.chunks());
    let started = Instant::now();
    let mut peak = 0;
    // Four rows on screen, the first selected: down a row at a time, then
    // back up, as the interface scrolls.
    let h = 4;
    let last = tl.len() - h;
    let tops: Vec<usize> = (0..=last).chain((0..last).rev()).collect();
    for top in tops {
        let rows: Vec<usize> = (top..top + h).collect();
        tl.want(&rows);
        loop {
            tl.poll(Duration::from_millis(10));
            let (held, protected) = (tl.cached_decoded_bytes(), tl.protected_decoded_bytes());
            // The chunks it may not evict fit the budget here…
            assert!(protected <= limit, "{protected} protected, limit {limit}");
            // …so everything it holds does.
            assert!(held <= limit, "top {top}: {held} held, limit {limit}");
            peak = peak.max(held);
            if let Some(s) = tl.step(top)
                && rows.iter().all(|&i| tl.is_materialised(i))
            {
                assert_eq!(*s, want.steps[top], "step {} read back", top + 1);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            assert!(
                started.elapsed().as_secs() < 60,
                "step {top} never read back"
            );
        }
        for &i in &rows {
            assert_eq!(
                *tl.step(i).unwrap(),
                want.steps[i],
                "step {} read back",
                i + 1
            );
        }
    }
    // The cache did fill up to its budget (eight chunks would be past it).
    assert!(peak > limit / 2, "peak {peak}, limit {limit}");
    // Idle, the worker settles: nothing is read ahead and dropped in a loop.
    let idle = Instant::now();
    while tl.busy() {
        tl.poll(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(1));
        assert!(idle.elapsed().as_secs() < 20, "the worker never settles");
    }
    for _ in 0..20 {
        tl.poll(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!tl.busy(), "a chunk read again while idle");
        assert!(tl.cached_decoded_bytes() <= limit);
    }
}

/// When the chunks the cache may not evict hold about the whole budget, a
/// chunk read ahead (the one after the chunk `step` read last) is dropped
/// at the next poll: it is then not read ahead again, or the worker would
/// read and the cache drop it for as long as the interface stays there.
#[test]
fn a_read_ahead_chunk_over_the_decoded_budget_is_not_read_again_and_again() {
    use dispel::analyze::decoded_bytes;
    use std::time::{Duration, Instant};
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), inflating_messages(6)).unwrap();
    let want = full(file.path());
    let message = want.steps.iter().map(decoded_bytes).max().unwrap();
    // Room for one message's chunk and a half (a chunk is a packet's
    // steps: a frame, its message and the inflated message).
    let limit = message * 3 / 2;
    let opts = Options {
        decoded_total: Some(limit),
        ..Options::default()
    };
    let mut tl =
        IndexTimeline::index_blocking(Source::File(file.path().into()), opts, tiny(2, u64::MAX));
    // The second message's inflated step, read: the third's chunk is read
    // ahead, and does not fit beside it.
    let inflated: Vec<usize> = (0..want.steps.len())
        .filter(|&i| want.steps[i].kind == "websocket.inflate")
        .collect();
    let (at, i) = (inflated[1], inflated[2]);
    let started = Instant::now();
    let got = tl.step_blocking(at).unwrap();
    assert_eq!(*got, want.steps[at]);
    tl.want(&[at]);
    let mut reads = 0;
    for _ in 0..200 {
        if tl.busy() {
            reads += 1;
        }
        tl.poll(Duration::from_millis(5));
        assert!(tl.cached_decoded_bytes() <= limit.max(tl.protected_decoded_bytes()));
        std::thread::sleep(Duration::from_millis(2));
        assert!(started.elapsed().as_secs() < 30);
    }
    // The chunk after it was read ahead at most a few times, not on every
    // poll…
    assert!(reads < 20, "busy on {reads} of 200 polls");
    assert!(!tl.is_materialised(i));
    // …and is read when asked for.
    assert_eq!(*tl.step_blocking(i).unwrap(), want.steps[i]);
}
