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
            StackChoice {
                id: "bare".into(),
                title: "a stack whose lessons trace nothing".into(),
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
                    Some("bare") => Vec::new(),
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
                ..LessonView::default()
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
    press(&mut app, &"j".repeat(7));
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
    press(&mut app, &"j".repeat(12));
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
    press(&mut app, &"j".repeat(12));
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
    press(&mut app, &"j".repeat(11));
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
    // The default capture has one finding, the client's repeated Close
    // (step 92): `]` goes there, and stays there.
    press(&mut app, "]");
    assert_eq!(app.selected, Some(91));
    press(&mut app, "]");
    assert_eq!(app.selected, Some(91));
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
    press(&mut app, &"j".repeat(12));
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
    press(&mut app, &"j".repeat(12));
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
    press(&mut app, &"j".repeat(12));
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
    press(&mut app, &"j".repeat(12));
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
    press(&mut app, &"j".repeat(12));
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

// ---- issue 22: layout, lesson order, links, replay ---------------------

fn capture_app(path: &str, size: (u16, u16), lessons: Box<dyn LessonSource>) -> App {
    let mut app = App::new(
        Box::new(MemTimeline::load_blocking(
            Source::File(path.into()),
            Options::default(),
        )),
        lessons,
        None,
    );
    app.handle(Action::Resize(size.0, size.1));
    app
}

/// Selects step `i` (an index) by stepping from the first.
fn go_to(app: &mut App, i: usize) {
    press_code(app, KeyCode::Esc);
    press_code(app, KeyCode::Esc);
    assert_eq!(app.focus, Pane::Timeline);
    press(app, "g");
    while app.selected != Some(i) {
        let before = app.selected;
        press(app, "j");
        assert_ne!(before, app.selected, "step {i} is not reachable");
    }
}

fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

const SIZES: [(u16, u16); 3] = [(120, 35), (100, 30), (80, 24)];

/// The Socket.IO ack of step 66 answers the event of step 62: at each size,
/// its summary is whole in the timeline and the status line keeps the
/// position, the stack, the findings count and the replay's pace.
#[test]
fn an_ack_at_three_sizes_shows_its_whole_summary_and_status() {
    for (w, h) in SIZES {
        let mut app = capture_app(
            "captures/node-socketio-v4.pcap",
            (w, h),
            Box::new(NoLessons::default()),
        );
        go_to(&mut app, 65);
        let summary = app.current().unwrap().summary.clone();
        assert!(summary.starts_with("SIO ACK"), "{summary}");
        let buf = draw(&app);
        let s = text(&buf);
        let status = row_text(&buf, h - 2);
        for part in ["step 66/", "stack -", "0 findings", "1 step/1s"] {
            assert!(status.contains(part), "{w}x{h}: {status:?} lacks {part}");
        }
        // At 120 columns the timeline row shows at least 60 characters of
        // the summary (all of it when shorter); narrower, what fits.
        let n = if w >= 120 { 60 } else { 40 };
        let want: String = summary.chars().take(n).collect();
        assert!(
            s.contains(&want),
            "{w}x{h}: the timeline cuts {summary:?}:\n{s}"
        );
        insta::assert_snapshot!(format!("ack_{w}x{h}"), s);
    }
}

/// Where the design promises a line fits, no pane cuts it: the last column
/// of the timeline, fields and bytes panes is blank, or the `…` of a line
/// cut on purpose (the lesson pane wraps); the status and hint lines end on
/// a whole part.
#[test]
fn no_line_is_cut_mid_word() {
    let hints: Vec<&str> = keys::BINDINGS.iter().filter_map(|b| b.hint).collect();
    for (w, h) in SIZES {
        let mut app = capture_app(
            "captures/node-socketio-v4.pcap",
            (w, h),
            Box::new(FakeLessons::default()),
        );
        let n = app.tl.len();
        for i in (0..n).step_by(7) {
            go_to(&mut app, i);
            for pane in [Pane::Timeline, Pane::Fields, Pane::Bytes] {
                // Narrow layouts show one detail pane at a time.
                while app.focus != pane {
                    press_code(&mut app, KeyCode::Tab);
                }
                let buf = draw(&app);
                let a = app.areas();
                let mut rects = vec![a.timeline, a.detail];
                rects.extend([a.fields, a.bytes, a.lesson].into_iter().flatten());
                for r in rects {
                    let last = r.x + r.width - 2;
                    for y in r.y + 1..r.y + r.height - 1 {
                        let end = buf[(last, y)].symbol();
                        let before = buf[(last - 1, y)].symbol();
                        // A word runs into the border: it must be the `…`
                        // of a deliberate cut, or a hex or table row that
                        // fills the pane to its last column.
                        let _ = before;
                        let cut = end != " " && end != "…";
                        assert!(
                            !cut || a.lesson == Some(r)
                                || (a.detail == r && app.shown_detail() == Pane::Lesson),
                            "{w}x{h} step {}: row {y} is cut: {:?}",
                            i + 1,
                            row_text(&buf, y)
                        );
                    }
                }
                let status = row_text(&buf, h - 2);
                assert!(
                    status.trim_end().ends_with("1 step/1s"),
                    "{w}x{h}: {status:?}"
                );
                let hint_line = row_text(&buf, h - 1);
                let tail = hint_line.trim_end();
                assert!(
                    hints.iter().any(|h| tail.ends_with(h)),
                    "{w}x{h}: the hint line ends mid-hint: {tail:?}"
                );
            }
            press_code(&mut app, KeyCode::Esc);
            press_code(&mut app, KeyCode::Esc);
        }
    }
}

#[test]
fn the_lesson_pane_reads_in_teaching_order_and_h_shows_what_it_reveals() {
    let mut app = app_with((120, 35), Box::new(FakeLessons::default()));
    press(&mut app, &"j".repeat(12));
    assert_eq!(selected_kind(&app), "websocket.frame");
    let lines: Vec<String> = view::lesson::pane_lines(&app)
        .iter()
        .map(|l| l.to_string())
        .collect();
    let at = |t: &str| lines.iter().position(|l| l.starts_with(t)).unwrap();
    assert!(at("This frame carries") < at("Hints"));
    assert!(at("Hints") < at("Predict"));
    assert!(at("Predict") < at("Call chain"));
    // Each `h` shows what it revealed on the 120×35 screen.
    for (n, want) in [
        "1. Look at byte 1's top bit.",
        "2. Then at the key.",
        "A: The client: the MASK bit",
    ]
    .into_iter()
    .enumerate()
    {
        let before = text(&draw(&app));
        press(&mut app, "h");
        let after = text(&draw(&app));
        assert!(
            !before.contains(want) && after.contains(want),
            "h #{}: {after}",
            n + 1
        );
    }
    press(&mut app, "h");
    assert_eq!(
        app.message.as_deref(),
        Some("every hint and answer is shown")
    );
    // No lesson: `h` says why nothing changes.
    press(&mut app, "g");
    press(&mut app, "h");
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("no lesson is bound"),
        "{:?}",
        app.message
    );
    // In the narrow layout `h` brings the lesson pane up.
    let mut narrow = app_with((80, 24), Box::new(FakeLessons::default()));
    press(&mut narrow, &"j".repeat(12));
    assert_eq!(narrow.shown_detail(), Pane::Fields);
    press(&mut narrow, "h");
    assert_eq!(narrow.shown_detail(), Pane::Lesson);
    assert!(text(&draw(&narrow)).contains("1. Look at byte 1's top bit."));
}

#[test]
fn a_stack_without_a_trace_for_the_step_says_so() {
    let mut app = app_with((200, 50), Box::new(FakeLessons::default()));
    press(&mut app, &"j".repeat(12));
    press(&mut app, "s");
    press_code(&mut app, KeyCode::Down);
    press_code(&mut app, KeyCode::Down);
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.stack.as_deref(), Some("bare"));
    let s = text(&draw(&app));
    assert!(s.contains("Call chain (bare)"), "{s}");
    assert!(s.contains("the bare has no trace for this step"), "{s}");
}

/// The targets of the selected step's links, as step numbers.
fn link_targets(app: &App) -> Vec<usize> {
    app.links.iter().map(|l| l.target + 1).collect()
}

#[test]
fn links_follow_to_the_named_step_and_b_comes_back() {
    let mut app = capture_app(
        "captures/node-socketio-v4.pcap",
        (120, 35),
        Box::new(NoLessons::default()),
    );
    // The ack (#66) names its event (#62) in a field, and was carried by
    // the Engine.IO packet #65.
    go_to(&mut app, 65);
    assert!(link_targets(&app).contains(&62), "{:?}", app.links);
    assert!(link_targets(&app).contains(&65), "{:?}", app.links);
    let s = text(&draw(&app));
    assert!(s.contains("↪ step 62"), "{s}");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Pane::Fields);
    let f = app
        .links
        .iter()
        .find(|l| l.target == 61)
        .and_then(|l| l.field)
        .unwrap();
    while app.field != f {
        press(&mut app, "j");
    }
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.selected, Some(61), "Enter followed the link");
    // The event links back to its ack.
    assert!(link_targets(&app).contains(&66), "{:?}", app.links);
    press(&mut app, "b");
    assert_eq!(app.selected, Some(65), "b came back");
    press(&mut app, "b");
    assert_eq!(app.selected, Some(65));
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("nothing to go back to")
    );

    // A message and its frame, both ways; an Engine.IO packet and the
    // message that carried it; the attachment and the packet carrying it.
    go_to(&mut app, 83); // #84 websocket.message
    assert!(link_targets(&app).contains(&83), "{:?}", app.links);
    assert!(link_targets(&app).contains(&85), "{:?}", app.links);
    go_to(&mut app, 82); // #83 its frame
    assert!(link_targets(&app).contains(&84), "{:?}", app.links);
    go_to(&mut app, 84); // #85 the Engine.IO packet
    assert!(link_targets(&app).contains(&84), "{:?}", app.links);
    go_to(&mut app, 88); // #89 the binary event
    let t = link_targets(&app);
    assert!(t.contains(&88) && t.contains(&85), "{:?}", app.links);
    go_to(&mut app, 87); // #88 the attachment's packet
    assert!(link_targets(&app).contains(&89), "{:?}", app.links);

    // A link to a step the filter hides clears the filter.
    go_to(&mut app, 65);
    press(&mut app, "f");
    press(&mut app, "jj");
    for _ in 0..5 {
        press_code(&mut app, KeyCode::Right);
    }
    assert_eq!(app.filter.layer, Some("socketio"));
    press_code(&mut app, KeyCode::Esc);
    // (The filter's intermediate layers moved the selection.)
    go_to(&mut app, 65);
    assert!(!app.visible.contains(64));
    press_code(&mut app, KeyCode::Enter);
    let row = app
        .fields_row_of(64)
        .unwrap_or_else(|| panic!("{:?} {:?} {:?}", app.selected, app.links, app.focus));
    while app.field != row {
        press(&mut app, "j");
    }
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.selected, Some(64));
    assert!(app.filter.is_empty() && app.visible.contains(64));
    press(&mut app, "b");
    assert_eq!(app.selected, Some(65));
}

/// Every session summary links to its session's first packet, the open.
#[test]
fn a_session_links_to_its_open_packet() {
    let mut app = capture_app(
        "captures/node-socketio-v4.pcap",
        (120, 35),
        Box::new(NoLessons::default()),
    );
    let sessions: Vec<usize> = (0..app.tl.len())
        .filter(|&i| app.tl.row(i).unwrap().kind == "engineio.session")
        .collect();
    assert!(!sessions.is_empty());
    for s in sessions {
        go_to(&mut app, s);
        let open = app
            .links
            .iter()
            .find(|l| l.label.contains("the open"))
            .unwrap_or_else(|| panic!("{:?}", app.links));
        let step = app.tl.step(open.target).unwrap();
        assert_eq!(step.kind, "engineio.packet");
        assert_eq!(
            step.field("engineio.type").unwrap().value.to_string(),
            "open"
        );
    }
}

#[test]
fn replay_advances_one_step_a_second_and_pauses_where_there_is_to_read() {
    let mut app = app_with((120, 35), Box::new(FakeLessons::default()));
    let status = |app: &App| row_text(&draw(app), 33);
    assert!(status(&app).contains("⏸ 1 step/1s"), "{}", status(&app));
    press(&mut app, " ");
    assert!(status(&app).contains("▶ 1 step/1s"));
    // The fake clock: 999 ms is not a second.
    app.handle(Action::Tick(Duration::from_millis(999)));
    assert_eq!(app.selected, Some(0));
    app.handle(Action::Tick(Duration::from_millis(1)));
    assert_eq!(app.selected, Some(1));
    // However close the capture's steps (these are microseconds apart).
    app.handle(Action::Tick(Duration::from_secs(1)));
    assert_eq!(app.selected, Some(2));
    press(&mut app, "+");
    assert!(app.replay.playing, "+ does not pause");
    assert!(status(&app).contains("1 step/0.5s"), "{}", status(&app));
    app.handle(Action::Tick(Duration::from_millis(500)));
    assert_eq!(app.selected, Some(3));
    press(&mut app, "-");
    press(&mut app, "-");
    assert!(status(&app).contains("1 step/2s"), "{}", status(&app));
    // A step whose lesson asks a question stops the replay (step 12, a
    // frame with a lesson).
    app.handle(Action::Tick(Duration::from_secs(60)));
    assert_eq!(app.selected, Some(11));
    assert!(!app.replay.playing);
    assert!(
        app.message.as_deref().unwrap().contains("a question"),
        "{:?}",
        app.message
    );
    // Space resumes from there (the frame is drawn under its message, so
    // the next row is step 14).
    press(&mut app, " ");
    app.handle(Action::Tick(Duration::from_secs(2)));
    assert_eq!(app.selected, Some(13));
    // `m` switches to the capture's timing and back, shown in the status.
    press(&mut app, "m");
    assert!(status(&app).contains("timing 1×"), "{}", status(&app));
    press(&mut app, "m");
    assert!(status(&app).contains("1 step/2s"), "{}", status(&app));

    // A finding stops it too.
    let mut threading = capture_app(
        "captures/flask-socketio-threading.pcap",
        (120, 35),
        Box::new(NoLessons::default()),
    );
    let first = (0..threading.tl.len())
        .find(|&i| !threading.tl.step(i).unwrap().findings.is_empty())
        .unwrap();
    go_to(&mut threading, first - 1);
    press(&mut threading, " ");
    threading.handle(Action::Tick(Duration::from_secs(30)));
    assert_eq!(threading.selected, Some(first));
    assert!(!threading.replay.playing);
    assert!(threading.message.as_deref().unwrap().contains("a finding"));
}

#[test]
fn z_marks_folded_messages_after_capital_z() {
    let mut app = app((120, 35));
    press(&mut app, "Z");
    press(&mut app, &"j".repeat(12));
    let s = text(&draw(&app));
    assert!(!s.contains("▾13"), "{s}");
    assert!(s.contains("▸13"), "{s}");
}

/// The diagram view draws the arrows `--format mermaid` draws for the
/// selected step's connection or session, on every bundled capture; moving
/// through it selects their steps, and the timeline's selection shows in it.
#[test]
fn the_diagram_draws_each_lane_as_mermaid_does_and_follows_the_selection() {
    use dispel::output::mermaid::{Diagrams, Lane};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    for path in files {
        let name = path.display().to_string();
        let mut app = capture_app(&name, (120, 35), Box::new(NoLessons::default()));
        let mut expected = Diagrams::default();
        for i in 0..app.tl.len() {
            expected.step(
                i as u64 + 1,
                &app.tl.step(i).unwrap(),
                app.tl.state().origin,
            );
        }
        press(&mut app, "d");
        assert!(app.diagram);
        for (lane, arrows) in expected.lanes() {
            // Select the lane's first arrow through the timeline.
            let first = arrows[0].number as usize - 1;
            press(&mut app, "d");
            go_to(&mut app, first);
            press(&mut app, "d");
            assert_eq!(app.diagram_lane, Some(*lane), "{name}");
            let want: Vec<usize> = arrows.iter().map(|a| a.number as usize - 1).collect();
            assert_eq!(app.diagram_arrows, want, "{name} {lane:?}");
            assert_eq!(app.diagram_pos(), Some(0));
            // j in the diagram selects the next arrow's step.
            if want.len() > 1 {
                press(&mut app, "j");
                assert_eq!(app.selected, Some(want[1]), "{name} {lane:?}");
                press(&mut app, "k");
                assert_eq!(app.selected, Some(want[0]));
            }
        }
    }
    // The ack's session at 120×35: the ack selected, drawn back to the client.
    let mut app = capture_app(
        "captures/node-socketio-v4.pcap",
        (120, 35),
        Box::new(NoLessons::default()),
    );
    go_to(&mut app, 65);
    press(&mut app, "d");
    assert_eq!(app.diagram_lane, Some(Lane::Session(0)));
    let s = text(&draw(&app));
    assert!(s.contains("Diagram · Engine.IO session 0"), "{s}");
    assert!(s.contains("◀─"), "{s}");
    insta::assert_snapshot!("diagram_ack_120x35", s);
    // A frame's arrow is its message's; back in the timeline the selection
    // is where the diagram left it.
    press(&mut app, "d");
    go_to(&mut app, 62); // #63, the ack's frame
    press(&mut app, "d");
    assert_eq!(app.diagram_lane, Some(Lane::Conn(2)));
    assert_eq!(app.diagram_arrows[app.diagram_pos().unwrap()], 63);
    press(&mut app, "j");
    let picked = app.selected.unwrap();
    assert!(picked > 63);
    press(&mut app, "d");
    assert!(!app.diagram);
    assert_eq!(app.selected, Some(picked));
    assert!(app.visible.contains(picked));
}
