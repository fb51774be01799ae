//! The lesson engine: loading (valid and invalid fixtures, with exact
//! diagnostics), limits, binding on real captures, interpolation, stack
//! guessing, and the `dispel lessons` commands.
//!
//! Fixtures: `tests/lessons/course/` is a small test course (not the bundled
//! one), `tests/lessons/valid/` files must load clean, and each
//! `tests/lessons/invalid/X.yaml` must produce exactly `X.expected`
//! (regenerate with `UPDATE_EXPECTED=1 cargo test --test lessons`, then read
//! the diff).

mod support;
mod tools;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dispel::analyze::{Collect, Options, run_file};
use dispel::lessons::{
    self, Binder, Course, Input, Problem, bind_all, guess_stack,
    load::load_inputs,
    predict::{self, Resolution},
    render,
};
use dispel::step::{Dir, Field, Step, Timestamp};

fn fixture(rel: &str) -> PathBuf {
    tools::root().join("tests/lessons").join(rel)
}

fn input(rel: &str) -> Input {
    let path = fixture(rel);
    Input {
        name: format!("tests/lessons/{rel}"),
        text: lessons::read_capped(&path, lessons::MAX_FILE_BYTES),
    }
}

fn test_course() -> Course {
    let (course, problems) = lessons::load_dir(&fixture("course")).unwrap();
    assert_eq!(problems, Vec::<Problem>::new());
    course
}

fn collect(capture: &str) -> Collect {
    let mut c = Collect::default();
    run_file(
        &tools::root().join("captures").join(capture),
        &Options::default(),
        &mut c,
    )
    .unwrap();
    c
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

#[test]
fn valid_fixtures_load_without_problems() {
    let files = yaml_files(&fixture("valid"));
    assert!(files.len() >= 4);
    for f in files.iter().filter(|f| !f.ends_with("stacks.yaml")) {
        let rel = format!("valid/{}", f.file_name().unwrap().to_string_lossy());
        let (course, problems) = load_inputs(&[input("valid/stacks.yaml"), input(&rel)], None);
        assert!(problems.is_empty(), "{rel}:\n{}", show(&problems));
        assert!(!course.lessons.is_empty(), "{rel} loaded no lesson");
    }
    // The whole directory, together.
    let (course, problems) = lessons::load_dir(&fixture("valid")).unwrap();
    assert!(problems.is_empty(), "{}", show(&problems));
    let ids: Vec<&str> = course.lessons.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "full-frame",
            "full-handshake",
            "full-finding",
            "full-layer",
            "syn",
            "doc-one",
            "doc-two"
        ]
    );
    // The anchor under `x-shared-trace` expanded into the trace.
    let full = course.lesson("full-frame").unwrap();
    assert_eq!(full.trace_for("flask-socketio-gevent")[0].line, 263);
    assert_eq!(
        full.trace_for("node-socketio")[0].function,
        "Receiver.getInfo"
    );
    assert_eq!(full.select.conds.len(), 10);
    assert_eq!(course.stacks.len(), 3);
}

fn show(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn invalid_fixtures_give_exactly_their_expected_diagnostics() {
    let files = yaml_files(&fixture("invalid"));
    assert!(files.len() >= 12);
    let update = std::env::var("UPDATE_EXPECTED").is_ok();
    for f in files {
        let rel = format!("invalid/{}", f.file_name().unwrap().to_string_lossy());
        let (_, problems) = load_inputs(&[input("course/stacks.yaml"), input(&rel)], None);
        assert!(!problems.is_empty(), "{rel} has no problem");
        let got = show(&problems);
        let expected_path = f.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &got).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} is missing", expected_path.display()));
        assert_eq!(got, expected, "{rel}");
    }
}

#[test]
fn a_broken_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("course/stacks.yaml"),
        dir.path().join("stacks.yaml"),
    )
    .unwrap();
    std::fs::copy(fixture("valid/minimal.yaml"), dir.path().join("b.yaml")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), "lessons: [\n").unwrap();
    std::fs::write(dir.path().join("c.yaml"), [0xffu8, 0xfe, 0x00]).unwrap();
    let (course, problems) = lessons::load_dir(dir.path()).unwrap();
    assert_eq!(course.lessons.len(), 1);
    assert_eq!(course.lessons[0].id, "syn");
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    assert!(problems[0].file.ends_with("a.yaml"));
    assert!(problems[0].message.starts_with("not valid YAML"));
    assert!(problems[1].file.ends_with("c.yaml"));
    assert_eq!(
        problems[1].message,
        "the file is not UTF-8 (invalid byte at offset 0)"
    );
    assert_eq!((problems[1].line, problems[1].col), (0, 0));
}

#[test]
fn oversized_files_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!("lessons: []\n# {}\n", "x".repeat(lessons::MAX_FILE_BYTES));
    std::fs::write(dir.path().join("big.yaml"), &big).unwrap();
    let (course, problems) = lessons::load_dir(dir.path()).unwrap();
    assert!(course.lessons.is_empty());
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].message,
        format!(
            "the file is {} bytes; lesson files are limited to 262144 bytes",
            big.len()
        )
    );
}

#[test]
fn one_broken_lesson_does_not_stop_its_file() {
    let text = "lessons:\n  - id: ok\n    title: t\n    select: {kind: tcp}\n    body: b\n    refs: []\n  - id: broken\n    select: {kind: tcp}\n";
    let (course, problems) = load_inputs(
        &[Input {
            name: "x.yaml".into(),
            text: Ok(text.into()),
        }],
        None,
    );
    assert_eq!(course.lessons.len(), 1);
    let heads: Vec<String> = problems.iter().map(|p| p.headline()).collect();
    assert_eq!(
        heads,
        [
            "x.yaml:7:5: a lesson is missing `title`",
            "x.yaml:7:5: a lesson is missing `body`",
            "x.yaml:7:5: a lesson is missing `refs`",
        ]
    );
}

/// `from` says which side answers a prediction on a later step: `peer` or
/// `same`, and only with `on`; anything else is located.
#[test]
fn a_question_from_is_peer_or_same_and_needs_on() {
    let lesson = |q: &str| {
        format!(
            "lessons:\n  - id: ping\n    title: t\n    select: {{kind: websocket.frame}}\n    body: b\n    refs: []\n    questions:\n      - {q}\n"
        )
    };
    let load = |text: String| {
        load_inputs(
            &[Input {
                name: "x.yaml".into(),
                text: Ok(text),
            }],
            None,
        )
    };
    let (course, problems) = load(lesson(
        "{ask: a, answer: b, field: websocket.opcode, on: websocket.frame, from: peer}",
    ));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        course.lessons[0].questions[0].from,
        Some(dispel::lessons::Side::Peer)
    );
    let heads = |text| {
        load(text)
            .1
            .iter()
            .map(|p| p.headline())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        heads(lesson(
            "{ask: a, answer: b, field: websocket.opcode, on: websocket.frame, from: sideways}"
        )),
        ["x.yaml:8:81: `from` must be `peer` or `same`"]
    );
    assert_eq!(
        heads(lesson(
            "{ask: a, answer: b, field: websocket.opcode, from: peer}"
        )),
        ["x.yaml:8:60: `from` needs `on`: it says which side sends that later step"]
    );
}

// ---------------------------------------------------------------------------
// Binding
// ---------------------------------------------------------------------------

fn bound_ids(course: &Course, c: &Collect) -> Vec<(String, Option<String>, Vec<Option<String>>)> {
    bind_all(course, &c.steps)
        .into_iter()
        .zip(&c.steps)
        .map(|(b, s)| {
            (
                s.kind.to_string(),
                b.step.map(|i| course.lessons[i].id.clone()),
                b.findings
                    .iter()
                    .map(|f| f.map(|i| course.lessons[i].id.clone()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn lessons_bind_to_the_flask_sock_capture() {
    let course = test_course();
    let c = collect("flask-sock-echo.pcap");
    let b = bound_ids(&course, &c);
    let lesson_of = |kind: &str| -> Vec<Option<&str>> {
        b.iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, l, _)| l.as_deref())
            .collect()
    };
    // The handshake lesson binds to the websocket.handshake step.
    assert_eq!(lesson_of("websocket.handshake"), [Some("ws-handshake")]);
    // A layer selector catches the kinds without an exact lesson.
    assert_eq!(lesson_of("websocket.accept"), [Some("ws-layer")]);
    assert!(
        lesson_of("websocket.message")
            .iter()
            .all(|l| *l == Some("ws-layer"))
    );
    // No lesson for TCP.
    assert!(lesson_of("tcp.syn").iter().all(Option::is_none));

    let frames: Vec<(&Step, Option<&str>)> = c
        .steps
        .iter()
        .zip(&b)
        .filter(|(s, _)| s.kind == "websocket.frame")
        .map(|(s, (_, l, _))| (s, l.as_deref()))
        .collect();
    let opcode = |s: &Step| match s.field("websocket.opcode").unwrap().value {
        dispel::step::Value::UInt(o) => o,
        _ => unreachable!(),
    };
    // dir + where beats the bare exact kind for masked client frames, and
    // `where` on the close code + `after` beats that for the Close.
    for (s, l) in &frames {
        let want = match (s.dir, opcode(s)) {
            (Dir::C2s, 8) => "ws-close-after-handshake",
            (Dir::C2s, _) => "ws-frame-masked",
            (Dir::S2c, _) => continue,
        };
        assert_eq!(*l, Some(want), "{}", s.summary);
    }
    // nth: 1 — only the first server text frame.
    let server_text: Vec<Option<&str>> = frames
        .iter()
        .filter(|(s, _)| s.dir == Dir::S2c && opcode(s) == 1)
        .map(|(_, l)| *l)
        .collect();
    assert!(server_text.len() >= 2);
    assert_eq!(server_text[0], Some("ws-first-text-from-server"));
    assert!(server_text[1..].iter().all(|l| *l == Some("ws-frame")));
    // The pong: an exact kind (ws-frame) beats a prefix with a condition (ws-pong).
    let pong: Vec<Option<&str>> = frames
        .iter()
        .filter(|(s, _)| opcode(s) == 0xA)
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(pong, [Some("ws-frame")]);
    // The finding lesson binds to the desync step's finding.
    let desync: Vec<_> = b
        .iter()
        .filter(|(k, _, _)| k == "websocket.desync")
        .collect();
    assert_eq!(desync.len(), 1);
    assert_eq!(desync[0].1.as_deref(), Some("ws-layer"));
    assert_eq!(desync[0].2, [Some("ws-desync-werkzeug".to_string())]);
}

fn course_from(yaml: &str) -> Course {
    let (course, problems) = load_inputs(
        &[Input {
            name: "t.yaml".into(),
            text: Ok(yaml.into()),
        }],
        None,
    );
    assert!(problems.is_empty(), "{}", show(&problems));
    course
}

#[test]
fn after_nth_ties_and_where_operators() {
    let course = course_from(
        r#"
lessons:
  - {id: fin-a, title: a, body: b, refs: [], select: {kind: tcp.fin}}
  - {id: fin-b, title: tie loses, body: b, refs: [], select: {kind: tcp.fin}}
  - {id: second-syn, title: t, body: b, refs: [], select: {kind: tcp.syn, nth: 2}}
  - {id: fin-after-frame, title: t, body: b, refs: [], select: {kind: tcp.fin, after: big-frame}}
  - id: big-frame
    title: t
    body: b
    refs: []
    select: {kind: websocket.frame, where: {websocket.payload_length: {ge: 126}, websocket.mask: {ne: false}}}
"#,
    );
    // SYNTHETIC: two connections, the second with a 300-byte client frame.
    let conn1 = support::ws_conv(&[(true, support::cframe(1, b"small"))]);
    let conn2 = support::ws_conv(&[(true, support::cframe(2, &[0u8; 300]))]);
    let c = support::analyse(support::conns_pcap(&[conn1, conn2]));
    let b = bound_ids(&course, &c);
    let syns: Vec<_> = b
        .iter()
        .filter(|(k, _, _)| k == "tcp.syn")
        .map(|x| x.1.clone())
        .collect();
    assert_eq!(syns, [None, Some("second-syn".into())]);
    let frames: Vec<_> = b
        .iter()
        .filter(|(k, _, _)| k == "websocket.frame")
        .map(|x| x.1.clone())
        .collect();
    assert_eq!(frames, [None, Some("big-frame".into())]);
    // FINs before the big frame get the first of two equal lessons; after
    // it, the `after` lesson is more specific.
    let big_at = b
        .iter()
        .position(|x| x.1.as_deref() == Some("big-frame"))
        .unwrap();
    for (i, (k, l, _)) in b.iter().enumerate() {
        if k == "tcp.fin" {
            let want = if i > big_at {
                "fin-after-frame"
            } else {
                "fin-a"
            };
            assert_eq!(l.as_deref(), Some(want), "step {}", i + 1);
        }
    }
    assert!(
        b.iter()
            .any(|(k, l, _)| k == "tcp.fin" && l.as_deref() == Some("fin-after-frame"))
    );
}

#[test]
fn after_holds_on_the_connection_of_the_step_it_names() {
    let course = course_from(
        r#"
lessons:
  - {id: first-frame, title: t, body: b, refs: [], select: {kind: websocket.frame, nth: 1}}
  - {id: later-frame, title: t, body: b, refs: [], select: {kind: websocket.frame, after: first-frame}}
"#,
    );
    // SYNTHETIC: two connections, one after the other; the first frame of
    // the capture is on the first.
    let conn1 = support::ws_conv(&[
        (true, support::cframe(1, b"one")),
        (true, support::cframe(1, b"two")),
    ]);
    let conn2 = support::ws_conv(&[(true, support::cframe(1, b"three"))]);
    let c = support::analyse(support::conns_pcap(&[conn1, conn2]));
    let frames: Vec<Option<String>> = bound_ids(&course, &c)
        .into_iter()
        .filter(|(k, _, _)| k == "websocket.frame")
        .map(|x| x.1)
        .collect();
    // "After the first frame" is about its own connection: the second
    // connection's frame comes later in the capture but after no bound
    // step of its connection.
    assert_eq!(
        frames,
        [Some("first-frame".into()), Some("later-frame".into()), None]
    );
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

#[test]
fn rendering_interpolates_from_the_bound_step() {
    let course = test_course();
    let c = collect("flask-sock-echo.pcap");
    let mut binder = Binder::new(&course);
    let mut masked = None;
    let mut handshake = None;
    let mut desync = None;
    for s in &c.steps {
        let b = binder.bind(s);
        match b.step.map(|i| course.lessons[i].id.as_str()) {
            Some("ws-frame-masked") if masked.is_none() => masked = Some((s, b.step.unwrap())),
            Some("ws-handshake") => handshake = Some((s, b.step.unwrap())),
            _ => {}
        }
        if let Some(Some(i)) = b.findings.first() {
            desync = Some((s, *i));
        }
    }
    let (s, i) = masked.unwrap();
    let r = render(&course.lessons[i], s, None, None);
    let key = hex::encode(match &s.field("websocket.masking_key").unwrap().value {
        dispel::step::Value::Bytes(b) => b.clone(),
        _ => unreachable!(),
    });
    assert_eq!(r.body, format!("The client chose the key {key}."));
    assert_eq!(r.hints, ["Look at the second byte's top bit."]);
    assert!(r.trace.is_empty());

    let (s, i) = handshake.unwrap();
    let r = render(&course.lessons[i], s, None, Some("flask-sock"));
    assert_eq!(
        r.body,
        "The server answered 101: the connection is now upgraded.\nBraces are written { and }.\n"
    );
    assert_eq!(r.questions[0].answer, "101");
    assert_eq!(r.trace.len(), 1);
    assert_eq!(r.trace[0].function, "Server.__init__");
    let r = render(&course.lessons[i], s, None, Some("flask-socketio-gevent"));
    assert_eq!(r.trace[0].package, "gevent-websocket");

    let (s, i) = desync.unwrap();
    let r = render(&course.lessons[i], s, Some(&s.findings[0]), None);
    assert_eq!(r.body, format!("frame.desync: {}", s.findings[0].message));
}

#[test]
fn rendering_is_terminal_safe_and_missing_fields_are_question_marks() {
    let course = course_from(
        "lessons:\n  - id: t\n    title: \"T\\e[31m\"\n    select: {kind: http.request}\n    body: \"uri {http.request.uri}, host {http.host}, {step.dir} \\u202e\"\n    refs: []\n",
    );
    // SYNTHETIC step with a hostile value.
    let mut s = Step::new(0, Dir::C2s, "http.request", Timestamp::default());
    s.fields.push(Field::new("http.request.uri", "/\x1b[2Jx"));
    let r = render(&course.lessons[0], &s, None, None);
    assert_eq!(r.title, "T\\x1b[31m");
    assert_eq!(r.body, "uri /\\x1b[2Jx, host ?, c2s \\u{202e}");
}

// ---------------------------------------------------------------------------
// Stacks
// ---------------------------------------------------------------------------

#[test]
fn the_stack_is_guessed_from_each_real_capture() {
    let expected = [
        // The broken captures come from a hand-written raw-socket server:
        // none of the course's stacks.
        ("broken-accept.pcap", None),
        ("broken-close-code.pcap", None),
        ("broken-fragmented-ping.pcap", None),
        ("broken-invalid-utf8.pcap", None),
        ("broken-length-not-minimal.pcap", None),
        ("broken-server-masked.pcap", None),
        ("browser-flask-socketio-https.pcap", None),
        ("browser-flask-socketio.pcap", Some("flask-socketio-gevent")),
        // The ending-* captures: Node socket.io, but one Flask-SocketIO
        // (gevent) refusing an Origin.
        ("ending-client-silent.pcap", Some("node-socketio")),
        ("ending-not-offered.pcap", Some("node-socketio")),
        ("ending-no-sticky-sessions.pcap", Some("node-socketio")),
        ("ending-origin-refused.pcap", Some("flask-socketio-gevent")),
        ("ending-polling-only.pcap", Some("node-socketio")),
        ("ending-probe-failed.pcap", Some("node-socketio")),
        (
            "ending-py-client-silent.pcap",
            Some("flask-socketio-gevent"),
        ),
        (
            "ending-py-server-disconnect.pcap",
            Some("flask-socketio-gevent"),
        ),
        ("ending-server-disconnect.pcap", Some("node-socketio")),
        ("ending-server-killed-polling.pcap", Some("node-socketio")),
        ("ending-server-killed-ws.pcap", Some("node-socketio")),
        ("ending-server-restart.pcap", Some("node-socketio")),
        ("ending-server-silent.pcap", Some("node-socketio")),
        ("ending-too-large.pcap", Some("node-socketio")),
        ("ending-too-large-polling.pcap", Some("node-socketio")),
        ("ending-upgrade-refused.pcap", Some("node-socketio")),
        ("flask-sock-echo.pcap", Some("flask-sock")),
        ("flask-socketio-any.pcap", Some("flask-socketio-gevent")),
        (
            "flask-socketio-eventlet.pcap",
            Some("flask-socketio-eventlet"),
        ),
        ("flask-socketio-gevent.pcap", Some("flask-socketio-gevent")),
        // Over TLS: without --keylog nothing above TLS is decoded.
        ("flask-socketio-https.pcap", None),
        ("flask-socketio-ipv6.pcapng", Some("flask-socketio-gevent")),
        (
            "flask-socketio-threading.pcap",
            Some("flask-socketio-threading"),
        ),
        ("impaired-flask-sock.pcap", Some("flask-sock")),
        // Over TLS: without --keylog nothing above TLS is decoded.
        ("node-socketio-https.pcap", None),
        ("node-socketio-eio3.pcap", Some("node-socketio")),
        // socket.io 4 with socket.io-msgpack-parser: the same server stack.
        ("node-socketio-msgpack.pcap", Some("node-socketio")),
        ("node-socketio-v4.pcap", Some("node-socketio")),
        // Python websockets over TLS: no pinned stack (the -dsb capture is
        // decrypted by its own key log; the others need --keylog).
        ("tls12-ecdhe-aes128-gcm.pcap", None),
        ("tls12-ecdhe-chacha20.pcap", None),
        ("tls13-chacha20.pcap", None),
        ("tls13-websockets-dsb.pcapng", None),
        ("tls13-websockets.pcap", None),
        ("ws-permessage-deflate.pcap", None),
    ];
    let caps = tools::captures();
    assert_eq!(
        caps.len(),
        expected.len(),
        "a capture was added: list its stack here"
    );
    for (name, want) in expected {
        let c = collect(name);
        assert_eq!(guess_stack(&c.steps), want, "{name}");
    }
    // With no signal at all: unsure.
    assert_eq!(guess_stack(&[]), None);
    // The course only offers stacks it declares.
    let course = test_course();
    let c = collect("flask-socketio-eventlet.pcap");
    assert_eq!(course.guess_stack(&c.steps), None);
    let c = collect("flask-sock-echo.pcap");
    assert_eq!(
        course.guess_stack(&c.steps).map(|s| s.id.as_str()),
        Some("flask-sock")
    );
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

fn dispel() -> Command {
    let mut c = Command::cargo_bin("dispel").unwrap();
    c.current_dir(tools::root());
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = dispel().args(args).output().unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

/// Found by the `lessons` fuzz target: a broken interpolation followed,
/// about 40 bytes on, by a multi-byte character made the locator slice
/// inside it and panic.
#[test]
fn a_broken_interpolation_before_multibyte_text_is_located_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("lessons:\n");
    for pad in 30..40 {
        yaml.push_str(&format!(
            "  - id: l{pad}\n    title: t\n    select: {{kind: websocket.frame}}\n    body: \"{{nope}}{}{}\"\n",
            "a".repeat(pad),
            "é".repeat(8)
        ));
    }
    let path = dir.path().join("utf8.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out, err) = run(&["lessons", "lint", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out.matches("`{nope}` is not a field").count(), 10, "{out}");
}

#[test]
fn lint_exit_codes_and_output() {
    let (code, out, _) = run(&["lessons", "lint", "tests/lessons/course"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "the given files: 8 lessons, 3 stacks, no problems\n");
    // One lesson: counted in the singular.
    let (code, out, _) = run(&["lessons", "lint", "tests/lessons/valid/minimal.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "the given files: 1 lesson, 3 stacks, no problems\n");
    let (code, out, _) = run(&["lessons", "lint", "tests/lessons/invalid/unknown-rule.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "tests/lessons/invalid/unknown-rule.yaml:5:16: unknown finding rule `frame.client-unmaskd`; did you mean `frame.client-unmasked`?\n\
         5 |       finding: frame.client-unmaskd\n  \
           |                ^^^^^^^^^^^^^^^^^^^^\n\
         \n\
         the given files: 1 problem\n"
    );
    let (code, _, err) = run(&["lessons", "lint", "tests/lessons/nope.yaml"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "dispel: tests/lessons/nope.yaml: no such file or directory\n"
    );
}

#[test]
fn coverage_lists_what_no_lesson_explains() {
    let (code, out, _) = run(&[
        "lessons",
        "coverage",
        "captures/flask-sock-echo.pcap",
        "--lessons",
        "tests/lessons/course",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("step kinds without a lesson:\n"), "{out}");
    assert!(
        out.contains("\n  tcp.syn                  1 of 1 steps (first: step #1)\n"),
        "{out}"
    );
    assert!(
        !out.contains("websocket."),
        "websocket steps all have lessons: {out}"
    );
    assert!(!out.contains("finding rules without a lesson:"), "{out}");
    assert!(
        out.ends_with(": 5 step kinds and 0 finding rules without a lesson\n"),
        "{out}"
    );

    // A course covering every layer and the capture's one finding: exit 0.
    let dir = tempfile::tempdir().unwrap();
    let mut y = String::from("lessons:\n");
    for l in ["tcp", "http", "websocket"] {
        y.push_str(&format!(
            "  - {{id: {l}, title: t, body: b, refs: [], select: {{kind: {l}}}}}\n"
        ));
    }
    y.push_str("  - {id: d, title: t, body: b, refs: [], select: {finding: frame.desync}}\n");
    std::fs::write(dir.path().join("all.yaml"), y).unwrap();
    let (code, out, _) = run(&[
        "lessons",
        "coverage",
        "captures/flask-sock-echo.pcap",
        "--lessons",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("has a lesson\n"), "{out}");

    let (code, _, err) = run(&["lessons", "coverage", "captures/none.pcap"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn verify_refs_checks_files_and_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sources");
    let pkg = src.join("wsproto-1.3.2/wsproto");
    std::fs::create_dir_all(&pkg).unwrap();
    let mut py = String::new();
    for i in 1..=40 {
        py.push_str(&match i {
            10 => "class FrameDecoder:\n".to_string(),
            20 => "    def process_buffer(self):\n".to_string(),
            _ => format!("    x = {i}\n"),
        });
    }
    std::fs::write(pkg.join("frame_protocol.py"), py).unwrap();
    let les = dir.path().join("lessons");
    std::fs::create_dir_all(&les).unwrap();
    std::fs::copy(fixture("course/stacks.yaml"), les.join("stacks.yaml")).unwrap();
    let entry = |file: &str, line: u32, function: &str, package: &str, version: &str| {
        format!(
            "        - {{package: {package}, version: {version}, file: {file}, line: {line}, function: {function}, does: x}}\n"
        )
    };
    let mut y = String::from(
        "lessons:\n  - id: refs\n    title: t\n    select: {kind: tcp}\n    body: b\n    refs: []\n    trace:\n      flask-sock:\n",
    );
    y.push_str(&entry(
        "wsproto/frame_protocol.py",
        20,
        "FrameDecoder.process_buffer",
        "wsproto",
        "1.3.2",
    )); // right line
    y.push_str(&entry(
        "wsproto/frame_protocol.py",
        13,
        "FrameDecoder",
        "wsproto",
        "1.3.2",
    )); // off by 3
    y.push_str(&entry(
        "wsproto/frame_protocol.py",
        30,
        "FrameDecoder.process_buffer",
        "wsproto",
        "1.3.2",
    )); // off by 10
    y.push_str(&entry("wsproto/missing.py", 1, "f", "wsproto", "1.3.2")); // missing file
    y.push_str(&entry(
        "simple_websocket/ws.py",
        1,
        "Server",
        "simple-websocket",
        "1.1.0",
    )); // missing package
    std::fs::write(les.join("refs.yaml"), y).unwrap();
    let (code, out, err) = run(&[
        "lessons",
        "verify-refs",
        "--sources",
        src.to_str().unwrap(),
        "--lessons",
        les.to_str().unwrap(),
    ]);
    assert_eq!(err, "");
    assert_eq!(code, 1, "{out}");
    let f = les.join("refs.yaml").display().to_string();
    let s = src.display().to_string();
    assert_eq!(
        out,
        format!(
            "{f}:11:11: `process_buffer` (FrameDecoder.process_buffer) is not defined at wsproto/frame_protocol.py:30 (±3) of wsproto-1.3.2; it is defined at line 20\n\
             {f}:12:11: `wsproto/missing.py` does not exist in wsproto-1.3.2\n\
             {f}:13:11: package sources `simple-websocket-1.1.0` not found in {s} (run lessons/fetch-sources.sh)\n\
             checked 5 trace entries: 3 failures\n"
        )
    );
    let (code, _, err) = run(&["lessons", "verify-refs", "--sources", "/nonexistent-dir"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn packages_and_stack_options() {
    let (code, out, _) = run(&["lessons", "packages", "--lessons", "tests/lessons/course"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pypi Flask-SocketIO 5.7.0");
    assert!(lines.contains(&"npm ws 8.21.3"));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("simple-websocket"))
            .count(),
        1
    );
    assert_eq!(lines.len(), 12);

    let (code, _, err) = run(&[
        "explain",
        "captures/flask-sock-echo.pcap",
        "--lessons",
        "tests/lessons/course",
        "--stack",
        "flask-sok",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "dispel: unknown stack `flask-sok`; the stacks are: flask-socketio-gevent, flask-sock, node-socketio\n"
    );
    let (code, out, _) = run(&[
        "explain",
        "captures/flask-sock-echo.pcap",
        "--lessons",
        "tests/lessons/course",
        "--stack",
        "flask-sock",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("websocket.frame"));
    let (code, _, err) = run(&[
        "replay",
        "captures/flask-sock-echo.pcap",
        "--lessons",
        "/nonexistent-dir",
    ]);
    assert_eq!(code, 2, "{err}");
}

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

fn yaml_as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    v
}

/// Python's `jsonschema` (the reference implementation most editors'
/// tooling agrees with) checks the schema against the draft 2020-12
/// meta-schema and validates documents; `.ci/run` installs it.
fn have_python_jsonschema() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with jsonschema is required under CI=true (.ci/run installs it)"
        );
        eprintln!("skipping: python3 -c 'import jsonschema' failed");
    }
    found
}

/// Validates `docs` against `schema` in one python3 run; the error count of
/// each document, in order.
fn python_validate(schema: &serde_json::Value, docs: &[serde_json::Value]) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let input = serde_json::json!({ "schema": schema, "docs": docs });
    let path = dir.path().join("input.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
d = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(d["schema"])
v = Draft202012Validator(d["schema"])
print(json.dumps([len(list(v.iter_errors(doc))) for doc in d["docs"]]))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python jsonschema failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_schema_is_draft_2020_12() {
    let (code, out, _) = run(&["lessons", "schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
#[cfg_attr(
    dispel_missing_jsonschema,
    ignore = "python3 with jsonschema is not installed: the lesson schema is not checked against its meta-schema"
)]
fn the_schema_is_valid_and_accepts_the_valid_fixtures() {
    let (code, out, _) = run(&["lessons", "schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    if !have_python_jsonschema() {
        return;
    }
    let mut files = yaml_files(&fixture("valid"));
    files.extend(yaml_files(&fixture("course")));
    // Two documents in one file; each is checked by the loader test.
    files.retain(|f| !f.ends_with("multi-doc.yaml"));
    let bad = [
        "unknown-keys.yaml",
        "unknown-kinds.yaml",
        "unknown-rule.yaml",
        "cannot-match.yaml",
    ];
    let mut docs: Vec<serde_json::Value> = files.iter().map(|f| yaml_as_json(f)).collect();
    docs.extend(
        bad.iter()
            .map(|b| yaml_as_json(&fixture("invalid").join(b))),
    );
    let errors = python_validate(&schema, &docs);
    for (f, n) in files.iter().zip(&errors) {
        assert_eq!(*n, 0, "{} does not validate", f.display());
    }
    // And it rejects what lint rejects structurally.
    for (b, n) in bad.iter().zip(&errors[files.len()..]) {
        assert!(*n > 0, "{b} passed the schema");
    }
}

// ---------------------------------------------------------------------------
// The bundled course
// ---------------------------------------------------------------------------

#[test]
fn the_bundled_course_loads_clean() {
    let (course, problems) = lessons::bundled();
    assert!(problems.is_empty(), "{}", show(&problems));
    assert_eq!(
        course.lessons.is_empty(),
        !lessons::BUNDLED
            .iter()
            .any(|(n, _)| !n.ends_with("stacks.yaml"))
    );
}

#[test]
#[cfg_attr(
    dispel_missing_sources,
    ignore = "DISPEL_SOURCES is not set: lesson traces are not checked against the package sources (lessons/fetch-sources.sh)"
)]
fn the_bundled_course_traces_match_the_real_sources() {
    // Needs the package sources (lessons/fetch-sources.sh); CI fetches them.
    let Some(dir) = std::env::var_os("DISPEL_SOURCES") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "DISPEL_SOURCES must be set under CI=true (.ci/run runs lessons/fetch-sources.sh)"
        );
        eprintln!("skipping: DISPEL_SOURCES is not set");
        return;
    };
    let (course, _) = lessons::bundled();
    let (_, failures) = lessons::verify::verify(&course, Path::new(&dir));
    let shown: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.at, f.message))
        .collect();
    assert!(shown.is_empty(), "{shown:#?}");
}

// ---------------------------------------------------------------------------
// The bundled course on every capture
// ---------------------------------------------------------------------------

/// The longest prose paragraph the lesson pane wraps sensibly.
const MAX_PARAGRAPH: usize = 1200;

/// What is wrong with one rendered text of a lesson (`template` is the text
/// as written), if anything: an interpolation left unresolved (`?` where a
/// field was, or braces), a display text repeating the word written right
/// before it ("namespace the default namespace"), or a paragraph too long.
fn rendered_problem(template: &str, rendered: &str, step: &dispel::step::Step) -> Option<String> {
    use dispel::lessons::render::interpolate;
    use dispel::lessons::template::{Piece, parse};
    let (pieces, _) = parse(template);
    let mut before = "";
    for p in &pieces {
        match p {
            Piece::Text(t) => before = t,
            Piece::Name { name, raw, .. } => {
                let one = if *raw {
                    format!("{{{name}:raw}}")
                } else {
                    format!("{{{name}}}")
                };
                let value = interpolate(&one, step, None);
                if value == "?" && !name.starts_with("finding.") {
                    return Some(format!("`{one}` is not on the step"));
                }
                let word = before
                    .trim_end()
                    .rsplit(|c: char| !c.is_alphanumeric())
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                let value_words: Vec<String> = value
                    .split(|c: char| !c.is_alphanumeric())
                    .map(str::to_lowercase)
                    .collect();
                if word.len() > 4 && before.ends_with(' ') && value_words.contains(&word) {
                    return Some(format!("\"{word} {value}\" repeats a word"));
                }
                before = "";
            }
        }
    }
    let unresolved = regex::Regex::new(r"\{[A-Za-z0-9_.-]+(?::raw)?\}").unwrap();
    if !template.contains("{{") && unresolved.is_match(rendered) {
        return Some("an interpolation is left in braces".into());
    }
    rendered
        .split("\n\n")
        .find(|p| p.chars().count() > MAX_PARAGRAPH)
        .map(|p| format!("a {}-character paragraph", p.chars().count()))
}

#[test]
fn every_bundled_lesson_renders_cleanly_on_every_capture() {
    let (course, problems) = lessons::bundled();
    assert!(problems.iter().all(|p| p.warning), "{}", show(&problems));
    let stacks: Vec<Option<&str>> = std::iter::once(None)
        .chain(course.stacks.iter().map(|s| Some(s.id.as_str())))
        .collect();
    let mut bad = Vec::new();
    let mut rendered = 0;
    for cap in tools::captures() {
        let mut opts = Options::default();
        if let Ok(keys) = std::fs::read(cap.with_extension("keys")) {
            let mut log = dispel::proto::tls::keylog::KeyLog::default();
            log.add_text(&keys);
            opts.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
        }
        let mut c = Collect::default();
        run_file(&cap, &opts, &mut c).unwrap();
        let mut binder = course.binder();
        let name = cap.file_name().unwrap().to_string_lossy().to_string();
        for step in &c.steps {
            let b = binder.bind(step);
            let bound = b.step.map(|i| (i, None)).into_iter().chain(
                b.findings
                    .iter()
                    .zip(&step.findings)
                    .filter_map(|(l, f)| l.map(|i| (i, Some(f)))),
            );
            for (i, finding) in bound {
                let lesson = &course.lessons[i];
                for stack in &stacks {
                    let r = render(lesson, step, finding, *stack);
                    rendered += 1;
                    let mut texts: Vec<(&str, &str)> = vec![(&lesson.body, &r.body)];
                    texts.extend(
                        lesson
                            .hints
                            .iter()
                            .map(String::as_str)
                            .zip(r.hints.iter().map(String::as_str)),
                    );
                    for (q, qa) in lesson.questions.iter().zip(&r.questions) {
                        texts.push((&q.ask, &qa.ask));
                        texts.push((&q.answer, &qa.answer));
                    }
                    if let (Some(s), Some(note)) = (stack, &r.note) {
                        texts.push((lesson.note_for(s).unwrap(), note));
                    }
                    for (template, text) in texts {
                        if let Some(why) = rendered_problem(template, text, step) {
                            bad.push(format!(
                                "{name} step {} ({}): lesson {}: {why}: {text}",
                                step.kind, step.summary, lesson.id
                            ));
                        }
                    }
                }
            }
        }
    }
    bad.sort();
    bad.dedup();
    assert!(rendered > 1000, "only {rendered} renderings");
    assert!(
        bad.is_empty(),
        "{} problems:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn teaching_warnings_keep_lint_clean_and_errors_stop_a_course_loading() {
    // Warnings only: reported, exit 0.
    let (code, out, _) = run(&[
        "lessons",
        "lint",
        "tests/lessons/invalid/one-recording.yaml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(": warning: body speaks of the recorder (`NFQUEUE`)"),
        "{out}"
    );
    assert!(out.ends_with("no problems, 7 warnings\n"), "{out}");
    // An error: exit 1.
    let (code, out, _) = run(&["lessons", "lint", "tests/lessons/invalid/answer-shown.yaml"]);
    assert_eq!(code, 1, "{out}");
    // A course with an error is not taught from: explain (as replay) exits
    // 2 with the first problem located on one line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("invalid/answer-shown.yaml"),
        dir.path().join("answer-shown.yaml"),
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run(&["explain", "captures/flask-sock-echo.pcap", "--lessons", d]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("dispel: ")
            && lines[0].contains(
                "answer-shown.yaml:5:48: body: `{websocket.masking_key}` shows the answer"
            )
            && lines[0].contains("(and 1 more problem)"),
        "{err}"
    );
    // A course with warnings only loads, and says so on stderr.
    std::fs::remove_file(dir.path().join("answer-shown.yaml")).unwrap();
    std::fs::copy(
        fixture("invalid/one-recording.yaml"),
        dir.path().join("one-recording.yaml"),
    )
    .unwrap();
    let (code, out, err) = run(&["explain", "captures/flask-sock-echo.pcap", "--lessons", d]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    assert!(
        err.contains("dispel: warning: 7 teaching warnings in"),
        "{err}"
    );
}

/// Every prediction of the bundled course can be answered where it is
/// asked, as the TUI and the worksheet resolve it (`predict::resolve`):
/// the field is on the step itself, or (with `on`) on a later step of that
/// kind in the same conversation — on every capture, unless the
/// conversation has no later step of that kind at all (a ping never
/// answered, a SYN refused: the capture ends the story first, and the TUI
/// says it has nothing to check against). Every question is answered on at
/// least one capture.
#[test]
fn every_bundled_question_has_its_answer_on_every_capture() {
    let (course, _) = lessons::bundled();
    let mut missing = Vec::new();
    let mut asked = 0;
    let mut never_told = 0;
    let mut answered_somewhere = std::collections::HashSet::new();
    let mut questions = std::collections::HashSet::new();
    for cap in tools::captures() {
        let mut opts = Options::default();
        if let Ok(keys) = std::fs::read(cap.with_extension("keys")) {
            let mut log = dispel::proto::tls::keylog::KeyLog::default();
            log.add_text(&keys);
            opts.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
        }
        let mut c = Collect::default();
        run_file(&cap, &opts, &mut c).unwrap();
        let name = cap.file_name().unwrap().to_string_lossy().to_string();
        let bindings = bind_all(&course, &c.steps);
        let steps: Vec<std::sync::Arc<Step>> =
            c.steps.iter().cloned().map(std::sync::Arc::new).collect();
        for (n, (step, b)) in c.steps.iter().zip(&bindings).enumerate() {
            let Some(i) = b.step else { continue };
            let lesson = &course.lessons[i];
            for (k, q) in lesson.questions.iter().enumerate() {
                let Some(field) = &q.field else { continue };
                asked += 1;
                questions.insert((i, k));
                let answered_on = match predict::resolve(&steps, n, step, q) {
                    Resolution::Found(a) => Some(&c.steps[a.step]),
                    _ => None,
                };
                if answered_on.is_some_and(|s| s.field(field).is_some()) {
                    answered_somewhere.insert((i, k));
                    continue;
                }
                // The story ends first: no later step of the kind in the
                // same conversation.
                if let Some(on) = &q.on
                    && !c.steps[n + 1..].iter().any(|s| {
                        on.matches(s.kind)
                            && q.from.is_none_or(|side| side.admits(step.dir, s.dir))
                            && predict::related(on, (step.conn, step.session), (s.conn, s.session))
                    })
                {
                    never_told += 1;
                    continue;
                }
                missing.push(format!(
                    "{name} step {} ({}): lesson {}: `{field}`{} is not there",
                    n + 1,
                    step.summary,
                    lesson.id,
                    q.on.as_ref()
                        .map_or(String::new(), |k| format!(" on the next {k}"))
                ));
            }
        }
    }
    assert!(asked > 100, "only {asked} questions asked");
    // The endings captures are the ones whose stories stop early; most
    // questions are answered.
    assert!(
        never_told * 10 < asked,
        "{never_told} of {asked} never answered"
    );
    let unanswered: Vec<String> = questions
        .difference(&answered_somewhere)
        .map(|&(i, k)| format!("{} question {}", course.lessons[i].id, k + 1))
        .collect();
    assert!(
        unanswered.is_empty(),
        "answered on no capture: {unanswered:?}"
    );
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "{} unanswerable:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
