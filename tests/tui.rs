//! The terminal interface without a terminal: scripted key sequences on the
//! bundled default capture, drawn on ratatui's `TestBackend` and compared
//! with reviewed snapshots; widget tests on a `Buffer`; the highlight of
//! every field of every step checked against the field's span.

use std::time::Duration;

use dispel::analyze::Options;
use dispel::cli::{DEFAULT_CAPTURE, DEFAULT_CAPTURE_NAME};
use dispel::step::{Dir, Field, Finding, Origin, Span, Step, Timestamp};
use dispel::tui::app::{App, MAX_GAP, Pane};
use dispel::tui::keys::Action;
use dispel::tui::lessons::{LessonSource, LessonView, StackChoice, TraceLine};
use dispel::tui::timeline::{MemTimeline, Source, Timeline};
use dispel::tui::view::bytes::HexModel;
use dispel::tui::view::{self, Screen};
use dispel::tui::{NoLessons, keys};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

fn default_timeline() -> MemTimeline {
    MemTimeline::load_blocking(
        Source::Static {
            name: DEFAULT_CAPTURE_NAME.into(),
            data: DEFAULT_CAPTURE,
        },
        Options::default(),
    )
}

/// Lessons for tests: one for WebSocket frames (with hints, questions and a
/// call chain), one whose file "failed to lint", and a reload that fails
/// once.
#[derive(Default)]
struct FakeLessons {
    reloads: usize,
}

impl LessonSource for FakeLessons {
    fn stacks(&self) -> Vec<StackChoice> {
        vec![
            StackChoice {
                id: "gevent".into(),
                title: "Flask-SocketIO on gevent".into(),
            },
            StackChoice {
                id: "node".into(),
                title: "Node socket.io".into(),
            },
        ]
    }

    fn lesson(&self, i: usize, step: &Step, stack: Option<&str>) -> Option<LessonView> {
        match step.kind {
            "websocket.frame" => Some(LessonView {
                title: format!("A WebSocket frame (step {})", i + 1),
                body: format!(
                    "This frame carries {} payload bytes.\nClients mask; servers do not.\x1b[2J",
                    step.field("websocket.payload_length")
                        .map_or("?".into(), |f| f.value.to_string())
                ),
                refs: vec!["RFC 6455 §5.2".into(), "RFC 6455 §5.3".into()],
                hints: vec![
                    "Look at byte 1's top bit.".into(),
                    "Then at the key.".into(),
                ],
                questions: vec![(
                    "Which side sent this frame?".into(),
                    "The client: the MASK bit is set.".into(),
                )],
                trace: match stack {
                    Some("node") => vec![TraceLine {
                        package: "ws".into(),
                        version: "8.18.0".into(),
                        file: "lib/receiver.js".into(),
                        line: 170,
                        function: "Receiver.getInfo".into(),
                        does: "reads FIN, RSV and the opcode from byte 0".into(),
                    }],
                    _ => vec![TraceLine {
                        package: "gevent-websocket".into(),
                        version: "0.10.1".into(),
                        file: "geventwebsocket/websocket.py".into(),
                        line: 201,
                        function: "WebSocket.read_frame".into(),
                        does: "reads the two header bytes".into(),
                    }],
                },
                findings: Vec::new(),
                error: None,
            }),
            "websocket.message" => Some(LessonView {
                title: "broken lesson".into(),
                error: Some("lessons/ws-message.yaml:3:7: unknown placeholder {{nope}}".into()),
                ..LessonView::default()
            }),
            _ => None,
        }
    }

    fn reload(&mut self) -> Result<(), String> {
        self.reloads += 1;
        if self.reloads == 1 {
            Err("lessons/frame.yaml:12: expected a list of hints".into())
        } else {
            Ok(())
        }
    }
}

fn app_with(size: (u16, u16), lessons: Box<dyn LessonSource>) -> App {
    let mut app = App::new(Box::new(default_timeline()), lessons, None);
    app.handle(Action::Resize(size.0, size.1));
    app
}

fn app(size: (u16, u16)) -> App {
    app_with(size, Box::new(NoLessons::default()))
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

fn press_code(app: &mut App, code: KeyCode) {
    app.key(&KeyEvent::new(code, KeyModifiers::NONE));
}

fn draw(app: &App) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    t.draw(|f| view::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

/// The screen as text, then each run of highlighted cells (the selected
/// field's bytes, bits or stage) with its position, so snapshots show what
/// colour alone would.
fn screen(buf: &Buffer) -> String {
    let mut out = String::new();
    let mut hl = String::new();
    let mut sel = String::new();
    for y in 0..buf.area.height {
        let reversed: String = (0..buf.area.width)
            .map(|x| &buf[(x, y)])
            .filter(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED))
            .map(|c| c.symbol())
            .collect();
        if !reversed.trim().is_empty() {
            let shown: String = reversed.trim().chars().take(50).collect();
            sel.push_str(&format!("  row {y:>2}: {shown}\n"));
        }
        let mut line = String::new();
        let mut run: Option<(u16, String)> = None;
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            line.push_str(c.symbol());
            let lit = c.bg == Color::Yellow && c.fg == Color::Black;
            match (&mut run, lit) {
                (Some((_, s)), true) => s.push_str(c.symbol()),
                (None, true) => run = Some((x, c.symbol().to_string())),
                (Some((x0, s)), false) => {
                    hl.push_str(&format!("  row {y:>2} col {x0:>3}: {s}\n"));
                    run = None;
                }
                (None, false) => {}
            }
        }
        if let Some((x0, s)) = run {
            hl.push_str(&format!("  row {y:>2} col {x0:>3}: {s}\n"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !sel.is_empty() {
        out.push_str("selected (reversed):\n");
        out.push_str(&sel);
    }
    if !hl.is_empty() {
        out.push_str("highlighted:\n");
        out.push_str(&hl);
    }
    out
}

fn text(buf: &Buffer) -> String {
    screen(buf)
}

fn selected_kind(app: &App) -> &'static str {
    app.current().map(|s| s.kind).unwrap_or("-")
}

// ---- scripted sessions, snapshotted ------------------------------------

#[test]
fn opens_on_the_first_step() {
    let app = app((120, 35));
    let s = text(&draw(&app));
    assert!(s.contains("step 1/96"), "{s}");
    assert!(s.contains("tcp.syn"));
    insta::assert_snapshot!("open_120x35", s);
}

#[test]
fn steps_to_the_handshake_and_drills_into_the_accept_derivation() {
    let mut app = app((120, 35));
    press(&mut app, &"j".repeat(9));
    assert_eq!(selected_kind(&app), "websocket.accept");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Pane::Fields);
    // websocket.accept.sha1 is the fourth field.
    press(&mut app, "jjj");
    assert_eq!(
        app.current().unwrap().fields[app.field].name,
        "websocket.accept.sha1"
    );
    let s = text(&draw(&app));
    assert!(s.contains("Sec-WebSocket-Accept, derived"), "{s}");
    assert!(s.contains("(RFC 6455 §4.2.2)"));
    assert!(s.contains("✓ matches"));
    // The SHA-1 stage and its 20 bytes in the dump are highlighted.
    assert!(s.contains(": 44356125795e239d58df"), "{s}");
    insta::assert_snapshot!("accept_derivation", s);
}

#[test]
fn steps_to_a_masked_frame_and_its_unmasking() {
    let mut app = app((120, 35));
    press(&mut app, "n"); // tcp.syn → the next tcp.syn (conn 1)
    assert_eq!(app.selected, Some(5));
    press(&mut app, &"j".repeat(6));
    assert_eq!(selected_kind(&app), "websocket.frame");
    press_code(&mut app, KeyCode::Enter);
    // websocket.masked_payload is the eleventh field.
    press(&mut app, &"j".repeat(10));
    assert_eq!(
        app.current().unwrap().fields[app.field].name,
        "websocket.masked_payload"
    );
    let s = text(&draw(&app));
    assert!(s.contains("unmasking (RFC 6455 §5.3)"));
    assert!(s.contains("0  36  XOR 04 key[0] = 32 '2'"), "{s}");
    insta::assert_snapshot!("masked_frame_unmasking", s);
    // Selecting the opcode lights its four bits of byte 0.
    press(&mut app, "kkkkk");
    assert_eq!(
        app.current().unwrap().fields[app.field].name,
        "websocket.opcode"
    );
    insta::assert_snapshot!("masked_frame_opcode_bits", text(&draw(&app)));
}

#[test]
fn help_overlay_at_80x24_lists_the_key_table() {
    let mut app = app((80, 24));
    press(&mut app, "?");
    let s = text(&draw(&app));
    assert!(s.contains("Keys"));
    insta::assert_snapshot!("help_80x24", s);
    // Esc closes the overlay first; q would quit from it.
    press_code(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none() && !app.quit);
    press(&mut app, "?q");
    assert!(app.quit);
}

#[test]
fn filter_by_layer_and_direction() {
    let mut app = app((120, 35));
    press(&mut app, "f");
    press(&mut app, "jj"); // layer
    press_code(&mut app, KeyCode::Right); // tcp
    press_code(&mut app, KeyCode::Right); // http
    press(&mut app, "j");
    press_code(&mut app, KeyCode::Right); // c2s
    let s = text(&draw(&app));
    assert!(s.contains("‹ http ›") && s.contains("‹ c2s →"), "{s}");
    insta::assert_snapshot!("filter_overlay", s);
    press_code(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    // Only the two client HTTP requests remain.
    let kinds: Vec<_> = app
        .visible
        .iter()
        .map(|i| app.tl.row(i).unwrap().kind)
        .collect();
    assert_eq!(kinds, ["http.request", "http.request"]);
    insta::assert_snapshot!("filtered_timeline", text(&draw(&app)));
    press(&mut app, "fx");
    assert_eq!(app.visible.len(), 96);
}

#[test]
fn search_finds_summaries_and_field_values() {
    let mut app = app((120, 35));
    press(&mut app, "/room1");
    let prompt = text(&draw(&app));
    assert!(prompt.contains("/room1█"), "{prompt}");
    press_code(&mut app, KeyCode::Enter);
    let first = app.selected.unwrap();
    assert!(app.current().unwrap().summary.contains("room1"));
    // An empty prompt repeats the last search.
    press(&mut app, "/");
    press_code(&mut app, KeyCode::Enter);
    assert!(app.selected.unwrap() > first);
    insta::assert_snapshot!("search_room1", text(&draw(&app)));
    // The client's key appears in no summary, only in field values.
    press(&mut app, "g/izs6qyqv");
    press_code(&mut app, KeyCode::Enter);
    let s = app.current().unwrap();
    assert_eq!(s.kind, "http.request");
    assert!(!s.summary.contains("izs6"));
    press(&mut app, "/no such thing");
    press_code(&mut app, KeyCode::Enter);
    assert!(
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("no step matches"))
    );
}

#[test]
fn narrow_terminal_stacks_the_timeline_over_one_switchable_pane() {
    let mut app = app((80, 24));
    press(&mut app, &"j".repeat(11));
    let s = text(&draw(&app));
    assert!(s.contains(" Fields  ") && s.contains("(Tab switches)"));
    insta::assert_snapshot!("narrow_fields", s);
    press_code(&mut app, KeyCode::Tab);
    press_code(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Pane::Bytes);
    insta::assert_snapshot!("narrow_bytes", text(&draw(&app)));
}

#[test]
fn lesson_pane_reveals_hints_then_answers_and_follows_the_stack() {
    // Wide enough for the call chain's lines to fit unwrapped.
    let mut app = app_with((200, 50), Box::new(FakeLessons::default()));
    press(&mut app, &"j".repeat(11));
    assert_eq!(selected_kind(&app), "websocket.frame");
    let s = text(&draw(&app));
    assert!(s.contains("A WebSocket frame (step 12)"));
    assert!(s.contains("This frame carries 6 payload bytes."));
    // Lesson text is escaped: no ESC reaches a cell.
    assert!(s.contains("\\x1b[2J"));
    assert!(s.contains("h reveals hint 1 of 2"));
    assert!(s.contains("(answer hidden)"));
    assert!(!s.contains("The client: the MASK bit"));
    press(&mut app, "hhh");
    let s = text(&draw(&app));
    assert!(s.contains("1. Look at byte 1's top bit."));
    assert!(s.contains("2. Then at the key."));
    assert!(s.contains("A: The client: the MASK bit is set."));
    insta::assert_snapshot!("lesson_revealed", s);
    press(&mut app, "h");
    assert_eq!(
        app.message.as_deref(),
        Some("every hint and answer is shown")
    );
    // Choosing another stack changes the call chain.
    assert!(s.contains("gevent-websocket 0.10.1"));
    press(&mut app, "s");
    press_code(&mut app, KeyCode::Down);
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.stack.as_deref(), Some("node"));
    let s = text(&draw(&app));
    assert!(
        s.contains("ws 8.18.0 lib/receiver.js:170 Receiver.getInfo"),
        "{s}"
    );
    assert!(s.contains("stack node"));
    // Moving on hides the revealed hints again.
    press(&mut app, "j");
    assert_eq!(app.revealed, 0);
}

#[test]
fn a_broken_lesson_and_a_failed_reload_show_in_the_lesson_pane() {
    let mut app = app_with((200, 35), Box::new(FakeLessons::default()));
    press(&mut app, &"j".repeat(12));
    assert_eq!(selected_kind(&app), "websocket.message");
    let s = text(&draw(&app));
    assert!(s.contains("this lesson has an error:"));
    assert!(s.contains("unknown placeholder {{nope}}"), "{s}");
    press(&mut app, "r");
    let s = text(&draw(&app));
    assert!(s.contains("reloading the lessons failed:"));
    assert!(s.contains("expected a list of hints"));
    press(&mut app, "r");
    assert!(app.reload_error.is_none());
    assert!(!text(&draw(&app)).contains("reloading the lessons failed"));
}

// ---- navigation and replay ---------------------------------------------

#[test]
fn same_kind_findings_first_last_and_pages() {
    let mut app = app((120, 35));
    press(&mut app, "G");
    assert_eq!(app.selected, Some(95));
    press(&mut app, "g");
    assert_eq!(app.selected, Some(0));
    // The default capture has no findings: `]` stays put.
    press(&mut app, "]");
    assert_eq!(app.selected, Some(0));
    // The threading capture has three (bytes and frames after Close).
    let mut threading = App::new(
        Box::new(MemTimeline::load_blocking(
            Source::File("captures/flask-socketio-threading.pcap".into()),
            Options::default(),
        )),
        Box::new(NoLessons::default()),
        None,
    );
    threading.handle(Action::Resize(120, 35));
    let with_findings: Vec<usize> = (0..threading.tl.len())
        .filter(|&i| !threading.tl.step(i).unwrap().findings.is_empty())
        .collect();
    assert!(with_findings.len() >= 2, "{with_findings:?}");
    for &f in &with_findings {
        press(&mut threading, "]");
        assert_eq!(threading.selected, Some(f));
    }
    press(&mut threading, "]");
    assert_eq!(
        threading.selected,
        with_findings.last().copied(),
        "no finding after the last"
    );
    press(&mut threading, "[");
    assert_eq!(
        threading.selected,
        Some(with_findings[with_findings.len() - 2])
    );
    press(&mut app, "g");
    press(&mut app, &"j".repeat(11));
    press(&mut app, "n");
    assert_eq!(selected_kind(&app), "websocket.frame");
    assert_eq!(app.selected, Some(14));
    press(&mut app, "N");
    assert_eq!(app.selected, Some(11));
    press_code(&mut app, KeyCode::PageDown);
    let page = app.selected.unwrap() - 11;
    assert!(page > 5, "a page is the pane's height: {page}");
    press_code(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected, Some(11));
}

#[test]
fn folding_hides_frames_under_their_messages() {
    let mut app = app((120, 35));
    press(&mut app, "Z");
    assert!(
        app.visible
            .iter()
            .all(|i| app.tl.row(i).unwrap().kind != "websocket.frame"
                || app.tl.row(i).unwrap().parent.is_none())
    );
    let folded = app.visible.len();
    assert!(folded < 96);
    press(&mut app, "Z");
    assert_eq!(app.visible.len(), 96);
    // z on a frame folds its message.
    press(&mut app, &"j".repeat(11));
    press(&mut app, "z");
    assert_eq!(selected_kind(&app), "websocket.message");
    assert!(!app.visible.contains(11));
    press(&mut app, "z");
    assert!(app.visible.contains(11));
}

#[test]
fn replay_follows_the_capture_timing_and_any_key_pauses() {
    let mut app = app((120, 35));
    let t = |app: &App, i: usize| app.tl.row(i).unwrap().time.as_nanos();
    // `m` switches from the fixed interval to the capture's timing.
    press(&mut app, "m ");
    assert!(app.replay.playing);
    // Steps 1 and 2 are 16 µs apart; step 3 is 466 µs after step 2.
    app.handle(Action::Tick(Duration::from_micros(10)));
    assert_eq!(app.selected, Some(0));
    app.handle(Action::Tick(Duration::from_micros(10)));
    assert_eq!(app.selected, Some(1));
    let gap = (t(&app, 2) - t(&app, 1)) as u64;
    app.handle(Action::Tick(Duration::from_nanos(gap - 10_000)));
    assert_eq!(app.selected, Some(1));
    // Faster halves the wait.
    press(&mut app, "+");
    assert!(app.replay.playing && app.replay.speed == 2.0);
    app.handle(Action::Tick(Duration::from_nanos(gap / 2)));
    assert_eq!(app.selected, Some(2));
    // A long gap is capped.
    press(&mut app, "-");
    press(&mut app, "G");
    assert!(!app.replay.playing, "a key pauses");
    assert_eq!(app.selected, Some(95));
    let mut big = None;
    for i in 1..96 {
        if t(&app, i) - t(&app, i - 1) > MAX_GAP.as_nanos() as i128 {
            big = Some(i);
        }
    }
    if let Some(i) = big {
        press(&mut app, "g");
        while app.selected != Some(i - 1) {
            press(&mut app, "j");
        }
        press(&mut app, " ");
        app.handle(Action::Tick(MAX_GAP));
        assert_eq!(app.selected, Some(i));
    }
    press(&mut app, "G ");
    app.handle(Action::Tick(Duration::from_secs(10)));
    assert!(!app.replay.playing, "stops at the end");
    assert_eq!(app.message.as_deref(), Some("replay reached the last step"));
}

#[test]
fn keys_work_while_the_capture_is_still_loading() {
    let tl = MemTimeline::spawn(
        Source::Static {
            name: DEFAULT_CAPTURE_NAME.into(),
            data: DEFAULT_CAPTURE,
        },
        Options::default(),
    );
    let mut app = App::new(Box::new(tl), Box::new(NoLessons::default()), None);
    app.handle(Action::Resize(120, 35));
    // Before anything arrived: a screen, a status, and keys that do nothing harmful.
    let s = text(&draw(&app));
    assert!(s.contains("step 0/") || s.contains("loading"), "{s}");
    press(&mut app, "jjG?");
    press_code(&mut app, KeyCode::Esc);
    while app.busy() {
        app.pump(Duration::from_millis(5));
        press(&mut app, "j");
    }
    assert_eq!(app.tl.len(), 96);
    assert!(!text(&draw(&app)).contains("loading…"));
}

#[test]
fn mouse_clicks_select_and_the_wheel_scrolls() {
    let mut app = app((120, 35));
    // The timeline's third row (border at y=0).
    app.handle(Action::Click(10, 3));
    assert_eq!(app.selected, Some(2));
    app.handle(Action::Wheel {
        x: 10,
        y: 3,
        down: true,
    });
    assert_eq!(app.selected, Some(5));
    let a = app.areas();
    let fields = a.fields.unwrap();
    app.handle(Action::Click(fields.x + 3, fields.y + 2));
    assert_eq!(app.focus, Pane::Fields);
    assert_eq!(app.field, 1);
}

// ---- widgets on a Buffer -----------------------------------------------

#[test]
fn every_field_highlights_exactly_its_span() {
    let tl = default_timeline();
    let mut checked = 0;
    for i in 0..tl.len() {
        let step = tl.step(i).unwrap();
        for (fi, f) in step.fields.iter().enumerate() {
            for per_line in [4, 8, 16] {
                let Some(m) = HexModel::new(&step, fi, per_line) else {
                    assert!(step.buffers.is_empty(), "step {i} has buffers");
                    continue;
                };
                let lit: Vec<usize> = (0..m.data.len()).filter(|&o| m.is_highlighted(o)).collect();
                match f.span {
                    Some(span) => {
                        assert_eq!(m.buf, usize::from(span.buf), "step {i} field {}", f.name);
                        let want: Vec<usize> = span.range().collect();
                        assert_eq!(lit, want, "step {i} field {}", f.name);
                        checked += 1;
                    }
                    None => assert!(lit.is_empty(), "step {i} field {}", f.name),
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn the_bytes_pane_lights_the_cells_of_the_selected_field() {
    let mut app = app((120, 50));
    press(&mut app, &"j".repeat(11));
    press_code(&mut app, KeyCode::Enter);
    press(&mut app, &"j".repeat(9)); // websocket.masking_key: bytes 2..6 of the frame
    let buf = draw(&app);
    let area = app.areas().bytes.unwrap();
    let mut lit = String::new();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let c = &buf[(x, y)];
            if c.bg == Color::Yellow {
                lit.push_str(c.symbol());
            }
        }
        lit.push('|');
    }
    // Four hex bytes in the dump, their ASCII, and the key column of the unmasking table.
    assert!(lit.contains("|04f4904f...O|"), "{lit}");
    assert!(lit.contains("|04|f4|90|4f|04|f4|"), "{lit}");
}

fn synthetic_step(summary: &str) -> Step {
    let mut s = Step::new(0, Dir::C2s, "websocket.frame", Timestamp::default());
    s.summary = summary.into();
    let b = s.add_buffer(
        "stream",
        Origin::Stream { offset: 0 },
        vec![0x81, 0x1b].into(),
    );
    s.fields
        .push(Field::new("websocket.fin", true).span(Span::bits(b, 0, 1, 0x80)));
    s.fields
        .push(Field::new("websocket.payload", "\x1b]0;pwned\x07").span(Span::bytes(b, 1, 1)));
    s
}

#[test]
fn capture_text_never_reaches_a_cell_raw() {
    // SYNTHETIC: a hostile summary and field value.
    let mut step = synthetic_step("evil \x1b[2J\u{202e}txt");
    step.findings.push(Finding::new(
        dispel::rules::ALL[0],
        "message with \x1b[31m colour",
    ));
    let tl = MemTimeline::from_steps("evil\x1b.pcap", Timestamp::default(), vec![step]);
    let mut app = App::new(Box::new(tl), Box::new(NoLessons::default()), None);
    app.handle(Action::Resize(120, 35));
    let buf = draw(&app);
    for c in buf.content() {
        assert!(
            !c.symbol().chars().any(dispel::sanitize::is_unsafe),
            "unsafe {:?}",
            c.symbol()
        );
    }
    let s = text(&buf);
    assert!(s.contains("evil \\x1b[2J\\u{202e}txt"));
    assert!(s.contains("\\x1b]0;pwned\\x07"));
    assert!(s.contains("evil\\x1b.pcap"));
    assert!(s.contains("message with \\x1b[31m colour"));
    // The finding marker.
    assert!(s.lines().any(|l| l.starts_with("┃!")), "{s}");
}

#[test]
fn no_pane_draws_outside_its_area_at_any_size() {
    let tl = default_timeline();
    let mut app = App::new(Box::new(tl), Box::new(FakeLessons::default()), None);
    press(&mut app, &"j".repeat(11));
    for (w, h) in [
        (1, 1),
        (10, 3),
        (40, 10),
        (80, 24),
        (99, 19),
        (100, 20),
        (120, 35),
        (200, 60),
    ] {
        for overlay in ["", "?", "f", "s", "/"] {
            app.handle(Action::Resize(w, h));
            press(&mut app, overlay);
            // Render into an inner rectangle of a larger, pre-filled buffer.
            let mut buf = Buffer::filled(
                Rect::new(0, 0, w + 4, h + 4),
                ratatui::buffer::Cell::new("#"),
            );
            let area = Rect::new(2, 2, w, h);
            (&Screen(&app)).render(area, &mut buf);
            for y in 0..h + 4 {
                for x in 0..w + 4 {
                    if !area.contains((x, y).into()) {
                        assert_eq!(
                            buf[(x, y)].symbol(),
                            "#",
                            "{w}x{h} {overlay:?} drew at {x},{y}"
                        );
                    }
                }
            }
            press_code(&mut app, KeyCode::Esc);
        }
    }
}

#[test]
fn a_resize_leaves_no_garbage() {
    let mut app = app((120, 35));
    press(&mut app, &"j".repeat(11));
    let mut t = Terminal::new(TestBackend::new(120, 35)).unwrap();
    t.draw(|f| view::draw(f, &app)).unwrap();
    t.backend_mut().resize(80, 24);
    app.handle(Action::Resize(80, 24));
    t.draw(|f| view::draw(f, &app)).unwrap();
    let after = t.backend().buffer().clone();
    assert_eq!(
        after,
        draw(&app),
        "the resized screen is exactly a fresh draw"
    );
}

#[test]
fn help_and_hints_come_from_the_key_table() {
    let help: String = view::overlay::help_lines()
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect();
    for b in keys::BINDINGS {
        assert!(help.contains(b.help), "help lacks {:?}", b.help);
        assert!(help.contains(&keys::keys_label(b)));
    }
    let app = app((120, 35));
    let hints = keys::hints(&app.contexts());
    assert_eq!(hints[0], ("q".to_string(), "quit"));
    assert!(hints.iter().any(|(k, h)| k == "j/k" && *h == "step"));
    let s = text(&draw(&app));
    assert!(s.contains(" q quit ? help"), "{s}");
}

#[test]
fn the_readme_key_table_is_the_key_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows: Vec<String> = keys::BINDINGS
        .iter()
        .map(|b| {
            format!(
                "| {} | `{}` | {} |",
                b.ctx.title().to_lowercase(),
                keys::keys_label(b),
                b.help
            )
        })
        .collect();
    // On a mismatch, the table as it should read (to paste into README.md).
    let table = rows.join("\n");
    for row in &rows {
        assert!(
            readme.contains(row.as_str()),
            "README.md lacks the row {row}; the whole table:\n{table}"
        );
    }
    let n = readme.lines().filter(|l| l.contains(" | `")).count();
    assert_eq!(
        n,
        keys::BINDINGS.len(),
        "README.md has rows the table does not; the whole table:\n{table}"
    );
}
