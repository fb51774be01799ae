//! `explain --format markdown` as a course page (issue #21 §4), through the
//! real binary on every capture in `captures/` with the bundled lessons:
//! bounded lines, TCP header dumps only where they teach, the capture time
//! as an ISO 8601 date, questions with their answers folded; and the
//! `--quiz` worksheet.

mod tools;

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dispel");

/// No line of the page is longer (a field table's row is the longest kind:
/// a value cell is cut at 100 characters; prose wraps at 100).
const MAX_LINE: usize = 200;

fn dispel(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(tools::root())
        .output()
        .unwrap()
}

fn markdown(file: &str, extra: &[&str]) -> String {
    let mut args = vec!["explain", file, "--format", "markdown"];
    args.extend(extra);
    let o = dispel(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{file}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The page's step sections: (heading, body).
fn sections(md: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = md;
    while let Some(at) = rest.find("\n### Step ") {
        let from = &rest[at + 1..];
        let end = from[1..]
            .find("\n## ")
            .into_iter()
            .chain(from[1..].find("\n### "))
            .min()
            .map_or(from.len(), |e| e + 1);
        let (sec, next) = from.split_at(end);
        let (head, body) = sec.split_once('\n').unwrap_or((sec, ""));
        out.push((head, body));
        rest = next;
    }
    out
}

#[test]
fn every_capture_makes_a_page_of_bounded_lines() {
    for path in tools::captures() {
        let file = path.to_str().unwrap();
        let md = markdown(file, &[]);
        for (n, line) in md.lines().enumerate() {
            assert!(
                line.chars().count() <= MAX_LINE,
                "{file}:{}: {} characters: {}…",
                n + 1,
                line.chars().count(),
                line.chars().take(120).collect::<String>()
            );
        }
        // The capture's time as an ISO 8601 date.
        let captured = md
            .lines()
            .find(|l| l.starts_with("| captured | "))
            .unwrap_or_else(|| panic!("{file}: no capture time"));
        let date = &captured["| captured | ".len()..];
        assert!(
            date.len() == 29
                && date.as_bytes()[4] == b'-'
                && date.as_bytes()[10] == b'T'
                && date.ends_with("Z |"),
            "{file}: {captured}"
        );
        // Fences balance.
        assert_eq!(
            md.lines().filter(|l| l.starts_with("```")).count() % 2,
            0,
            "{file}"
        );
    }
}

#[test]
fn a_long_payload_is_elided_with_its_length_and_digest() {
    // The echo capture carries a 70,000-byte text message.
    let md = markdown("captures/flask-sock-echo.pcap", &[]);
    assert!(
        md.contains("of 70000 characters (70000 bytes, SHA-1 "),
        "elision note"
    );
    assert!(md.lines().all(|l| l.chars().count() <= MAX_LINE));
}

#[test]
fn tcp_headers_are_dumped_at_the_syn_and_at_findings_only() {
    for file in [
        "captures/flask-socketio-gevent.pcap",
        "captures/impaired-flask-sock.pcap",
    ] {
        let md = markdown(file, &[]);
        let (mut dumped, mut skipped) = (0, 0);
        for (head, body) in sections(&md) {
            if !head.contains(" · `tcp.") {
                continue;
            }
            // (Some TCP steps, an out-of-order note, have no bytes at all.)
            let dumps = body.contains("**Bytes: ");
            let teaches = head.contains("`tcp.syn`") || body.contains("**Findings**");
            let elided = body.contains("dumped at the SYN and at steps with a finding");
            assert!(!dumps || teaches, "{file}: dumped without teaching: {head}");
            assert!(
                !elided || !teaches,
                "{file}: elided where it teaches: {head}"
            );
            assert!(
                !head.contains("`tcp.syn`") || dumps,
                "{file}: the SYN not dumped: {head}"
            );
            dumped += usize::from(dumps);
            skipped += usize::from(elided);
        }
        assert!(
            dumped > 0 && skipped > 0,
            "{file}: {dumped} dumped, {skipped} not"
        );
    }
}

#[test]
fn lessons_come_with_their_questions_and_folded_answers() {
    let md = markdown("captures/flask-socketio-gevent.pcap", &[]);
    let questions = md.matches("\n**Q").count();
    assert!(questions > 5, "{questions} questions");
    assert_eq!(
        md.matches("<details><summary>Answer</summary>").count(),
        questions
    );
    // Numbered in order through the page.
    for n in 1..=questions {
        assert!(md.contains(&format!("\n**Q{n}.** ")), "Q{n}");
    }
    assert!(!md.contains("## Answer key"));
}

#[test]
fn the_quiz_leaves_blanks_and_keys_the_answers_at_the_end() {
    let file = "captures/flask-socketio-gevent.pcap";
    let page = markdown(file, &[]);
    let quiz = markdown(file, &["--quiz"]);
    assert!(quiz.starts_with("# Worksheet of "));
    let questions = page.matches("\n**Q").count();
    assert_eq!(quiz.matches("Your answer: ______").count(), questions);
    assert!(!quiz.contains("<summary>Answer</summary>"));
    let (_, key) = quiz.split_once("\n## Answer key\n").expect("an answer key");
    let keyed: Vec<&str> = key.lines().filter(|l| l.starts_with("- **Q")).collect();
    assert_eq!(keyed.len(), questions);
    // Each key entry names its question and the step it is asked at, and
    // gives the answer the page folds under that question.
    for (n, line) in keyed.iter().enumerate() {
        assert!(
            line.starts_with(&format!("- **Q{}** (step ", n + 1)),
            "{line}"
        );
    }
    let first = page
        .split_once("<details><summary>Answer</summary>\n\n")
        .unwrap()
        .1
        .split_once("\n\n</details>")
        .unwrap()
        .0
        .replace('\n', " ");
    let key_first = keyed[0].split_once("): ").unwrap().1;
    assert!(
        first.starts_with(key_first) || key.replace('\n', " ").contains(&first),
        "{first:?} vs {key_first:?}"
    );
}

#[test]
fn quiz_is_refused_with_another_format() {
    let o = dispel(&[
        "explain",
        "captures/flask-socketio-gevent.pcap",
        "--format",
        "text",
        "--quiz",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "dispel: --quiz makes a worksheet of the markdown walk-through: use it with --format markdown\n"
    );
    assert!(o.stdout.is_empty());
}

/// A worksheet hides what its questions ask for, as the TUI does while a
/// question is open: the fixture course asks for the masking key of each
/// client frame (on the frame) and, at the upgrade request, for the 101's
/// Sec-WebSocket-Accept (on a later step). The answer key still has them.
#[test]
fn a_worksheet_hides_the_values_its_questions_ask_for() {
    let file = "captures/flask-socketio-gevent.pcap";
    let lessons = ["--lessons", "tests/lessons/predict"];
    let page = markdown(file, &lessons);
    let mut args = lessons.to_vec();
    args.push("--quiz");
    let quiz = markdown(file, &args);
    let accept = "RDVhJXleI51Y3+v4ubIdc2OijJU=";
    let key = "04f4904f";
    // The page shows them; the worksheet only in its key.
    assert!(page.contains(accept) && page.contains(key));
    let (sheet, answers) = quiz.split_once("\n## Answer key\n").unwrap();
    assert!(!sheet.contains(accept), "the accept value is shown");
    assert!(!sheet.contains(key), "the masking key is shown");
    assert!(answers.contains(&format!("{key}, the key in the header.")));
    // Hidden in the field table and the dump of the frame.
    let frame = sheet
        .split("\n### Step 12 ")
        .nth(1)
        .unwrap()
        .split("\n### ")
        .next()
        .unwrap();
    assert!(
        frame.contains("| `websocket.masking_key` | \"··\" | stream\\[2..6\\] |"),
        "{frame}"
    );
    assert!(frame.contains("81 86 ·· ·· ·· ·· 36 84"), "{frame}");
    assert!(
        frame.contains("Clients mask: a 4-byte key follows the length."),
        "{frame}"
    );
    // The question about a later step hides the value there, and on the
    // derivation step after it; the request keeps its own key.
    let request = sheet.split("\n### Step 8 ").nth(1).unwrap();
    assert!(request.contains("izs6QyQVgclKgSCjCu8BEg=="));
    let response = sheet.split("\n### Step 9 ").nth(1).unwrap();
    assert!(
        response.contains("| · `http.sec_websocket_accept` | \"··\" |"),
        "{response}"
    );
    // And in the lesson of that later step, whose body quotes it.
    assert!(
        response.contains("The server answers with Sec-WebSocket-Accept ··."),
        "{response}"
    );
}
