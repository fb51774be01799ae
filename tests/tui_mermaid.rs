//! The conversation as a diagram, headless: `dispel explain --format
//! mermaid` on every bundled capture, each line checked against the strict
//! grammar of the subset dispel emits (no Mermaid parser installs without a
//! browser), each arrow against the step it draws; `--conn` and `--kind`;
//! the markdown walk-through embedding the diagrams; hostile text escaped.

use std::path::Path;

use assert_cmd::Command;
use dispel::analyze::{self, Collect, Options, Rendered, Sink};
use dispel::output::Filter;
use dispel::output::mermaid::{MermaidSink, SAFE, is_arrow};
use dispel::step::{Dir, Step, Timestamp};

/// Message text: letters, digits, the safe punctuation and entity codes.
fn text_ok(t: &str) -> bool {
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' {
            let mut digits = 0;
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
                digits += 1;
            }
            if digits == 0 || chars.next() != Some(';') {
                return false;
            }
        } else if !(c.is_ascii_alphanumeric() || SAFE.contains(c)) {
            return false;
        }
    }
    !t.is_empty()
}

/// One parsed diagram: its title and its arrows (step number, direction).
#[derive(Debug, Default)]
struct Diagram {
    title: String,
    arrows: Vec<(u64, Dir)>,
}

/// Parses the emitted subset strictly: any other line fails.
fn parse(out: &str) -> Vec<Diagram> {
    let mut ds: Vec<Diagram> = Vec::new();
    let mut expect = "comment";
    for (n, line) in out.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        match expect {
            "comment" => {
                let t = line
                    .strip_prefix("%% ")
                    .unwrap_or_else(|| panic!("{}", at()));
                assert!(text_ok(t), "{}", at());
                ds.push(Diagram {
                    title: t.to_string(),
                    ..Diagram::default()
                });
                expect = "header";
            }
            "header" => {
                assert_eq!(line, "sequenceDiagram", "{}", at());
                expect = "c";
            }
            "c" => {
                assert_eq!(line, "    participant C as client", "{}", at());
                expect = "s";
            }
            "s" => {
                assert_eq!(line, "    participant S as server", "{}", at());
                expect = "note";
            }
            "note" => {
                let t = line
                    .strip_prefix("    Note over C,S: ")
                    .unwrap_or_else(|| panic!("{}", at()));
                assert!(text_ok(t), "{}", at());
                expect = "arrow";
            }
            _ if line.is_empty() => expect = "comment",
            _ => {
                let (dir, t) = if let Some(t) = line.strip_prefix("    C->>S: ") {
                    (Dir::C2s, t)
                } else if let Some(t) = line.strip_prefix("    S-->>C: ") {
                    (Dir::S2c, t)
                } else {
                    panic!("{}", at())
                };
                assert!(text_ok(t), "{}", at());
                // `#35;N` is the step's number.
                let num: String = t
                    .strip_prefix("#35;")
                    .unwrap_or_else(|| panic!("{}", at()))
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                ds.last_mut()
                    .unwrap()
                    .arrows
                    .push((num.parse().unwrap(), dir));
            }
        }
    }
    assert!(
        expect == "arrow" || out.is_empty(),
        "the output ends inside a diagram's header"
    );
    ds
}

fn mermaid(path: &Path) -> String {
    let mut out = Vec::new();
    let mut sink = MermaidSink::new(&mut out, Filter::default());
    analyze::run_file(path, &Options::default(), &mut sink).unwrap();
    String::from_utf8(out).unwrap()
}

fn steps(path: &Path) -> Vec<Step> {
    let mut c = Collect::default();
    analyze::run_file(path, &Options::default(), &mut c).unwrap();
    c.steps
}

#[test]
fn every_bundled_capture_draws_one_arrow_per_message_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for path in files {
        let name = path.display().to_string();
        let steps = steps(&path);
        let ds = parse(&mermaid(&path));
        let mut drawn: Vec<u64> = Vec::new();
        for d in &ds {
            assert!(!d.arrows.is_empty(), "{name}: empty diagram {}", d.title);
            let mut last_time = f64::MIN;
            for &(n, dir) in &d.arrows {
                let s = &steps[usize::try_from(n).unwrap() - 1];
                assert_eq!(s.dir, dir, "{name}: step {n} drawn the wrong way");
                let t = s.time.since(Timestamp::default());
                assert!(t >= last_time, "{name}: step {n} out of time order");
                last_time = t;
                // A session's diagram holds its packets; a connection's the rest.
                if d.title.starts_with("Engine.IO session") {
                    assert!(s.session.is_some(), "{name}: step {n}");
                    assert!(matches!(s.layer(), "engineio" | "socketio"));
                } else {
                    assert!(
                        d.title.starts_with(&format!("connection {}: ", s.conn)),
                        "{name}: step {n} in {}",
                        d.title
                    );
                }
                drawn.push(n);
            }
        }
        drawn.sort_unstable();
        // Exactly the messages: every HTTP message, WebSocket message and
        // control frame, Engine.IO and Socket.IO packet, TCP open and close.
        let want: Vec<u64> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s.kind,
                    "http.request"
                        | "http.response"
                        | "websocket.message"
                        | "engineio.packet"
                        | "socketio.packet"
                        | "tcp.syn"
                        | "tcp.syn-ack"
                        | "tcp.fin"
                        | "tcp.rst"
                ) || (s.kind == "websocket.frame" && is_arrow(s))
            })
            .map(|(i, _)| i as u64 + 1)
            .collect();
        assert_eq!(drawn, want, "{name}");
        // Acks point back: an ack travels against its event.
        for s in steps
            .iter()
            .filter(|s| s.field("socketio.ack.answers").is_some())
        {
            let ev = s.field("socketio.ack.answers").unwrap().value.to_string();
            let ev: usize = ev.parse().unwrap();
            assert_ne!(steps[ev - 1].dir, s.dir, "{name}");
        }
    }
}

#[test]
fn conn_and_kind_select_the_diagrams_and_markdown_embeds_them() {
    let out = Command::cargo_bin("dispel")
        .unwrap()
        .args([
            "explain",
            "captures/node-socketio-v4.pcap",
            "--format",
            "mermaid",
            "--conn",
            "2",
            "--kind",
            "socketio",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ds = parse(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert!(ds[0].title.starts_with("Engine.IO session 0"), "{ds:?}");
    let steps = steps(Path::new("captures/node-socketio-v4.pcap"));
    for (n, _) in &ds[0].arrows {
        let s = &steps[*n as usize - 1];
        assert_eq!((s.kind, s.conn), ("socketio.packet", 2));
    }
    let md = Command::cargo_bin("dispel")
        .unwrap()
        .args([
            "explain",
            "captures/flask-sock-echo.pcap",
            "--format",
            "markdown",
        ])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    let at = md.find("```mermaid\n").expect("a mermaid block");
    let block = &md[at + 11..];
    let block = &block[..block.find("```").unwrap()];
    let ds = parse(&format!("%% x\n{block}"));
    assert!(!ds[0].arrows.is_empty());
}

#[test]
fn hostile_summaries_stay_inside_their_arrow() {
    let mut out = Vec::new();
    let mut sink = MermaidSink::new(&mut out, Filter::default());
    let mut s = Step::new(0, Dir::C2s, "http.request", Timestamp::default());
    s.summary = "GET /x;\nS->>C: forged\u{1b}[2J %%{init} <script>`#".into();
    sink.step(1, &s, Rendered::No).unwrap();
    sink.finish(&analyze::Report::default(), None).unwrap();
    let text = String::from_utf8(out).unwrap();
    let ds = parse(&text);
    assert_eq!(ds[0].arrows, vec![(1, Dir::C2s)], "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains("<script"));
}
