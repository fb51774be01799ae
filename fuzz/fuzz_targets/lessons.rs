//! Lesson YAML (src/lessons): arbitrary text as a lesson file, loaded beside
//! the bundled stacks, then every lesson bound to and rendered for a small
//! synthetic step. The first byte says whether the text is also tried as a
//! stacks file.
//!
//! Invariants: loading never panics and reports problems instead (alias
//! bombs and deep nesting are refused, not expanded); every problem has a
//! location inside the text; rendered text carries no raw control
//! characters.
#![no_main]

use std::sync::OnceLock;

use dispel::lessons::{self, Stack, load::{Input, load_inputs}};
use dispel::step::{Dir, Field, Step, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let name = if ctl & 1 == 0 { "fuzz.yaml" } else { "stacks.yaml" };
    // The bundled stacks, parsed once: loading the whole course per input
    // would be most of each execution.
    static STACKS: OnceLock<Vec<Stack>> = OnceLock::new();
    let stacks = STACKS.get_or_init(|| lessons::bundled().0.stacks);
    let inputs = [Input { name: name.into(), text: Ok(text.clone()) }];
    let (course, problems) = load_inputs(&inputs, Some(stacks));
    // YAML's line breaks: LF, CRLF and a lone CR (which `str::lines` keeps).
    let lines = 1 + text.matches('\n').count() + text.matches('\r').count()
        - text.matches("\r\n").count();
    for p in &problems {
        let _ = p.to_string();
        assert!(p.line as usize <= lines + 1, "problem at line {} of {lines}", p.line);
    }
    let mut step = Step::new(0, Dir::C2s, "websocket.frame", Timestamp::default());
    step.fields.push(Field::new("websocket.opcode", 1u64));
    step.fields.push(Field::new("websocket.masking_key", "\x1b[2J\u{202e}"));
    let mut binder = course.binder();
    let b = binder.bind(&step);
    for i in b.step.into_iter().chain(0..course.lessons.len().min(8)) {
        let r = lessons::render(&course.lessons[i], &step, None, Some("flask-socketio-gevent"));
        for s in [&r.title, &r.body] {
            assert!(
                !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
                "raw control character in rendered lesson text"
            );
        }
    }
});
