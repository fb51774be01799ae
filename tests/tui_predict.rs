//! Predict, then reveal (issue #21): a question that names a field hides
//! that field's value — fields, bytes, lesson text, timeline — while it is
//! open; `a` types an answer that dispel checks against the capture; `h`
//! reveals. On the bundled default capture with a fixture course
//! (`tests/lessons/predict`), drawn on ratatui's `TestBackend` and
//! compared with reviewed snapshots.

use std::path::Path;
use std::time::Duration;

use dispel::analyze::Options;
use dispel::cli::{DEFAULT_CAPTURE, DEFAULT_CAPTURE_NAME};
use dispel::tui::app::{App, Pane};
use dispel::tui::keys::{self, Action, Ctx};
use dispel::tui::timeline::{MemTimeline, Source};
use dispel::tui::{CourseLessons, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The masked client frame `2probe` (step 12) and its key.
const FRAME: usize = 11;
const KEY: &str = "04f4904f";
/// The WebSocket upgrade request (step 8), its 101 (step 9), the accept
/// derivation (step 10) and the value they carry.
const REQUEST: usize = 7;
const RESPONSE: usize = 8;
const DERIVATION: usize = 9;
const ACCEPT: &str = "RDVhJXleI51Y3+v4ubIdc2OijJU=";

fn app(size: (u16, u16)) -> App {
    app_with(Path::new("tests/lessons/predict"), size)
}

fn app_with(dir: &Path, size: (u16, u16)) -> App {
    let (course, problems) = dispel::lessons::load_dir(dir).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let tl = MemTimeline::load_blocking(
        Source::Static {
            name: DEFAULT_CAPTURE_NAME.into(),
            data: DEFAULT_CAPTURE,
        },
        Options::default(),
    );
    let lessons = CourseLessons::from_course(course, None, Vec::new());
    let mut app = App::new(Box::new(tl), Box::new(lessons), None);
    app.handle(Action::Resize(size.0, size.1));
    // Bind the lessons to every step.
    for _ in 0..20 {
        app.pump(Duration::from_millis(20));
    }
    app
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

fn press_code(app: &mut App, code: KeyCode) {
    app.key(&KeyEvent::new(code, KeyModifiers::NONE));
}

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

fn draw(app: &App) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    t.draw(|f| view::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

fn screen(app: &App) -> String {
    let buf = draw(app);
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn verdict(app: &App) -> String {
    app.quiz.verdict.as_ref().unwrap().text.clone()
}

/// The masking key's field row, selected so the bytes pane shows its span.
fn select_field(app: &mut App, name: &str) {
    let i = app
        .current()
        .unwrap()
        .fields
        .iter()
        .position(|f| f.name == name)
        .unwrap();
    app.field = i;
}

#[test]
fn an_open_question_hides_its_value_in_every_pane() {
    let mut app = app((180, 45));
    go_to(&mut app, FRAME);
    select_field(&mut app, "websocket.masking_key");
    let s = screen(&app);
    // Not in the fields, the bytes (hex or ASCII), nor the lesson body.
    assert!(!s.contains(KEY), "{s}");
    assert!(!s.contains("04 f4 90 4f"), "{s}");
    assert!(
        s.contains("Clients mask: a 4-byte key follows the length."),
        "{s}"
    );
    assert!(s.contains("a: type your answer · h: reveal it"), "{s}");
    // The other fields still show.
    assert!(s.contains("3684e2206691"), "{s}");
    insta::assert_snapshot!("predict_open", s);
    // Leaving the step keeps it open: coming back, still hidden.
    press(&mut app, "jk");
    assert_eq!(app.selected, Some(FRAME));
    assert!(!screen(&app).contains(KEY));
}

#[test]
fn a_typed_right_answer_closes_the_question_and_shows_the_value() {
    let mut app = app((180, 45));
    go_to(&mut app, FRAME);
    press(&mut app, "a");
    assert_eq!(app.contexts()[0], Ctx::Answer);
    assert_eq!(app.focus, Pane::Lesson);
    // Keys are typed, `q` and `h` included, not run.
    press(&mut app, "0x04 F4 90 4f");
    assert!(!app.quit);
    let s = screen(&app);
    assert!(s.contains("answer › 0x04 F4 90 4f▏"));
    // The hints name what the keys do here: `q` types, it does not quit.
    assert!(s.ends_with(" Esc cancel Enter check Tab leave\n"), "{s}");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.message.as_deref(), Some("Q1: right"));
    assert!(app.quiz.input.is_none());
    assert_ne!(app.contexts()[0], Ctx::Answer);
    select_field(&mut app, "websocket.masking_key");
    let s = screen(&app);
    assert!(s.contains("✓ right"), "{s}");
    assert!(
        s.contains(&format!("A: {KEY}, the key in the header.")),
        "{s}"
    );
    insta::assert_snapshot!("predict_right", s);
    // Answered: `a` has nothing left to ask.
    press(&mut app, "a");
    assert_eq!(
        app.message.as_deref(),
        Some("every question here is answered")
    );
}

#[test]
fn a_wrong_answer_shows_the_next_hint_and_keeps_the_value_hidden() {
    let mut app = app((180, 45));
    go_to(&mut app, FRAME);
    press(&mut app, "a");
    press(&mut app, "deadbeef");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.message.as_deref(), Some("Q1: not quite"));
    let s = screen(&app);
    assert!(
        s.contains("✗ not quite — hint 1: The key follows the"),
        "{s}"
    );
    assert_eq!(
        verdict(&app),
        "not quite — hint 1: The key follows the length."
    );
    assert!(!s.contains(KEY), "{s}");
    insta::assert_snapshot!("predict_wrong", s);
    // A second wrong answer, the second hint; then none is left.
    press(&mut app, "qq");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(verdict(&app), "not quite — hint 2: It is 4 bytes long.");
    press(&mut app, "x");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(verdict(&app), "not quite — h reveals the answer");
    assert!(screen(&app).contains("✗ not quite — h reveals the answer"));
    // Tab leaves the prompt open but gives the keys back; `a` takes them.
    press_code(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Pane::Timeline);
    assert_ne!(app.contexts()[0], Ctx::Answer);
    assert!(screen(&app).contains("answer ›   (a to type)"));
    press(&mut app, "a");
    assert_eq!(app.focus, Pane::Lesson);
    assert_eq!(app.contexts()[0], Ctx::Answer);
    // Esc cancels.
    press_code(&mut app, KeyCode::Esc);
    assert!(app.quiz.input.is_none());
    assert!(!screen(&app).contains(KEY));
}

#[test]
fn h_reveals_the_hints_then_the_answer_and_the_value() {
    let mut app = app((180, 45));
    go_to(&mut app, FRAME);
    press(&mut app, "hh");
    assert!(!screen(&app).contains(KEY));
    press(&mut app, "h");
    select_field(&mut app, "websocket.masking_key");
    let s = screen(&app);
    assert!(
        s.contains(&format!("A: {KEY}, the key in the header.")),
        "{s}"
    );
    assert!(s.contains("04 f4 90 4f"), "{s}");
    insta::assert_snapshot!("predict_revealed", s);
}

#[test]
fn a_question_on_a_later_step_hides_the_value_there_and_wherever_it_shows() {
    let mut app = app((180, 45));
    go_to(&mut app, REQUEST);
    // The request's own key stays: it is what the student predicts from.
    let s = screen(&app);
    assert!(s.contains("izs6QyQVgclKgSCjCu8BEg=="), "{s}");
    // The 101 and the derivation step hide the accept value.
    for at in [RESPONSE, DERIVATION] {
        go_to(&mut app, at);
        let s = screen(&app);
        assert!(!s.contains(ACCEPT), "step {}: {s}", at + 1);
    }
    // The 101's own lesson quotes the value: hidden in its body too.
    go_to(&mut app, RESPONSE);
    let s = screen(&app);
    assert!(s.contains("Sec-WebSocket-Accept ··."), "{s}");
    // The timeline summary of the derivation hides it too, and searching
    // for it finds nothing.
    go_to(&mut app, DERIVATION);
    assert!(screen(&app).contains("Sec-WebSocket-Accept ·· is right"));
    go_to(&mut app, REQUEST);
    press(&mut app, "/");
    press(&mut app, "RDVhJXle");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.selected, Some(REQUEST));
    assert_eq!(app.message.as_deref(), Some("no step matches \"RDVhJXle\""));
    // Typed without its padding, right: the value shows again everywhere.
    go_to(&mut app, REQUEST);
    press(&mut app, "a");
    press(&mut app, &ACCEPT.replace('=', ""));
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.message.as_deref(), Some("Q1: right"));
    go_to(&mut app, DERIVATION);
    assert!(screen(&app).contains(ACCEPT));
    go_to(&mut app, RESPONSE);
    let s = screen(&app);
    assert!(
        s.contains("The server answers with Sec-WebSocket-Accept"),
        "{s}"
    );
    assert!(s.contains(&format!("{ACCEPT}.")), "{s}");
}

#[test]
fn the_answer_prompt_keys_are_in_the_key_table() {
    let answer: Vec<_> = keys::BINDINGS
        .iter()
        .filter(|b| b.ctx == Ctx::Answer)
        .map(|b| b.action)
        .collect();
    assert_eq!(
        answer,
        [
            Action::Choose,
            Action::Close,
            Action::NextPane,
            Action::Backspace
        ]
    );
    assert!(
        keys::BINDINGS
            .iter()
            .any(|b| b.ctx == Ctx::Global && b.action == Action::Answer)
    );
}

#[test]
fn in_the_narrow_layout_a_brings_up_the_lesson_pane_with_its_prompt() {
    let mut app = app((80, 24));
    go_to(&mut app, FRAME);
    assert_eq!(app.shown_detail(), Pane::Fields);
    assert!(!screen(&app).contains(KEY));
    press(&mut app, "a");
    assert_eq!(app.shown_detail(), Pane::Lesson);
    press(&mut app, "04f4904f");
    let s = screen(&app);
    assert!(s.contains("answer › 04f4904f▏"), "{s}");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.message.as_deref(), Some("Q1: right"));
}

#[test]
fn the_prompt_and_its_verdict_show_at_every_size() {
    for size in [(60, 20), (80, 24), (100, 30), (120, 35), (200, 60)] {
        let mut app = app(size);
        go_to(&mut app, FRAME);
        press(&mut app, "a");
        press(&mut app, "nope");
        press_code(&mut app, KeyCode::Enter);
        let s = screen(&app);
        assert!(s.contains("✗ not quite"), "{size:?}: {s}");
        assert!(s.contains("answer › ▏"), "{size:?}: {s}");
        assert!(!s.contains(KEY), "{size:?}: {s}");
    }
}

/// A question read on a later step that never comes (here a SYN-ACK asked
/// for at a WebSocket frame, long after the connection opened) says why it
/// cannot be checked, in words: the conversation ends first.
#[test]
fn a_question_whose_step_never_comes_says_the_conversation_ends_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("late.yaml"),
        "lessons:\n\
         \x20 - id: late\n\
         \x20   title: Too late\n\
         \x20   select: {kind: websocket.frame, dir: c2s}\n\
         \x20   body: A frame.\n\
         \x20   refs: []\n\
         \x20   questions:\n\
         \x20     - ask: What will the server's next SYN-ACK acknowledge?\n\
         \x20       answer: \"the client ISN plus one\"\n\
         \x20       field: tcp.ack\n\
         \x20       on: tcp.syn-ack\n",
    )
    .unwrap();
    let mut app = app_with(dir.path(), (180, 45));
    go_to(&mut app, FRAME);
    press(&mut app, "a");
    press(&mut app, "1");
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(
        verdict(&app),
        "this capture never shows it: the conversation ends before the next SYN-ACK — h reveals the answer"
    );
}
