//! `dispel check --format gradescope` through the real binary: the document
//! validated against Gradescope's documented `results.json` shape
//! (`docs/schema/gradescope.schema.json`) on every capture; scores taken
//! from the expectations' weights and compared with the pass/fail of the
//! same expectations in `--format json`; a capture read only in part
//! reported as partial in every format; and the README's first grading
//! example run and compared with what it shows.
//!
//! Inputs written here (an expectations file with weights, a capture cut
//! short) are made in a temporary directory and say so.

mod schema;
mod tools;

use std::process::{Command, Output};

use serde_json::Value as J;

const BIN: &str = env!("CARGO_BIN_EXE_dispel");

fn dispel(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(tools::root())
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn json_of(o: &Output) -> J {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn gradescope_schema() -> J {
    let text =
        std::fs::read_to_string(tools::root().join("docs/schema/gradescope.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The document's own arithmetic: the score is the tests' sum, no test
/// scores more than its maximum, and a test with points passes exactly
/// when it has them all.
fn assert_consistent(doc: &J, what: &str) {
    let tests = doc["tests"].as_array().unwrap();
    let sum: f64 = tests.iter().map(|t| t["score"].as_f64().unwrap()).sum();
    assert!(
        (doc["score"].as_f64().unwrap() - sum).abs() < 1e-9,
        "{what}: score is not the tests' sum"
    );
    for t in tests {
        let (score, max) = (
            t["score"].as_f64().unwrap(),
            t["max_score"].as_f64().unwrap(),
        );
        assert!(score <= max, "{what}: {t}");
        if max > 0.0 {
            assert_eq!(t["status"] == "passed", score == max, "{what}: {t}");
        }
    }
}

#[test]
fn every_capture_gives_a_valid_results_json() {
    let schema = gradescope_schema();
    for path in tools::captures() {
        let cap = format!("captures/{}", path.file_name().unwrap().to_string_lossy());
        for expect in [
            None,
            Some("examples/ws-echo-assignment.yaml"),
            Some("examples/assignment.yaml"),
        ] {
            let mut args = vec!["check", cap.as_str(), "--format", "gradescope"];
            if let Some(e) = expect {
                args.extend(["--expect", e]);
            }
            let o = dispel(&args);
            let doc = json_of(&o);
            let what = format!("{cap} {expect:?}");
            let errors = schema::validate(&schema, &doc);
            assert!(errors.is_empty(), "{what}: {errors:#?}");
            assert_consistent(&doc, &what);
            // The exit code is check's own.
            let status = dispel(&["check", cap.as_str()]).status.code();
            if expect.is_none() {
                assert_eq!(o.status.code(), status, "{what}");
                // Without expectations: one 1-point test, passed with exit 0.
                assert_eq!(doc["tests"][0]["max_score"], 1.0, "{what}");
                assert_eq!(
                    doc["tests"][0]["status"] == "passed",
                    status == Some(0),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn scores_are_the_weights_of_the_expectations_that_passed() {
    // Written here: the echo assignment's expectations with weights.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weighted.yaml");
    std::fs::write(
        &file,
        "title: weighted\n\
         expect:\n\
         \x20 - name: handshake accepted\n\
         \x20   kind: websocket.accept\n\
         \x20   where: {websocket.accept.valid: true}\n\
         \x20   weight: 2\n\
         \x20 - name: no MUST violations\n\
         \x20   no_findings: {severity: must}\n\
         \x20   weight: 5\n\
         \x20 - name: clean close\n\
         \x20   kind: websocket.frame\n\
         \x20   where: {websocket.opcode: 8, websocket.payload.close.status_code: 1000}\n\
         \x20   at_least: 2\n\
         \x20   weight: 0.5\n\
         \x20 - name: unweighted\n\
         \x20   kind: websocket.frame\n\
         \x20   dir: c2s\n",
    )
    .unwrap();
    let weights = [
        ("handshake accepted", 2.0),
        ("no MUST violations", 5.0),
        ("clean close", 0.5),
        ("unweighted", 1.0),
    ];
    let file = file.to_str().unwrap();
    let mut seen_pass = false;
    let mut seen_fail = false;
    for cap in [
        "captures/broken-length-not-minimal.pcap",
        "captures/broken-server-masked.pcap",
        "captures/ws-permessage-deflate.pcap",
        "captures/flask-sock-echo.pcap",
    ] {
        let gs = json_of(&dispel(&[
            "check",
            cap,
            "--expect",
            file,
            "--format",
            "gradescope",
        ]));
        let js = json_of(&dispel(&[
            "check", cap, "--expect", file, "--format", "json",
        ]));
        let outcomes = js["captures"][0]["expectations"].as_array().unwrap();
        let mut want = 0.0;
        for (name, w) in weights {
            let o = outcomes.iter().find(|o| o["name"] == name).unwrap();
            let t = gs["tests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("{cap}: no test {name}"));
            assert_eq!(t["max_score"].as_f64(), Some(w), "{cap} {name}");
            let passed = o["passed"].as_bool().unwrap();
            seen_pass |= passed;
            seen_fail |= !passed;
            assert_eq!(t["status"] == "passed", passed, "{cap} {name}");
            if passed {
                want += w;
            }
        }
        assert_eq!(gs["score"].as_f64(), Some(want), "{cap}");
        // Each rule that is not OK is a 0-point test with its evidence.
        for r in js["captures"][0]["rules"].as_array().unwrap() {
            if r["verdict"] == "OK" {
                continue;
            }
            let name = format!(
                "rule {} ({})",
                r["rule"].as_str().unwrap(),
                r["verdict"].as_str().unwrap()
            );
            let t = gs["tests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name.as_str());
            let t = t.unwrap_or_else(|| panic!("{cap}: no test {name}"));
            assert_eq!(t["max_score"], 0.0);
            let first = r["evidence"][0]["message"].as_str().unwrap();
            assert!(t["output"].as_str().unwrap().contains(first), "{cap}: {t}");
        }
    }
    assert!(
        seen_pass && seen_fail,
        "the captures should both pass and fail something"
    );
}

#[test]
fn a_weight_must_be_a_number_of_points() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "expect:\n  - name: handshake\n    kind: websocket.accept\n    weight: lots\n",
    )
    .unwrap();
    let o = dispel(&[
        "check",
        "captures/broken-accept.pcap",
        "--expect",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:4:13: expect[0]: `weight` must be a number of points from 0 to 1000000, found `lots`"),
        "{err}"
    );
}

/// A SYNTHETIC input: a real capture cut short in the middle of a packet
/// record, so it is read in part.
fn cut_capture(dir: &std::path::Path) -> String {
    let bytes = std::fs::read(tools::root().join("captures/broken-server-masked.pcap")).unwrap();
    // The first 7 packets whole, then 2 bytes of the next record header
    // (checked below: the capture is reported read up to packet 7).
    let path = dir.join("cut.pcap");
    std::fs::write(&path, &bytes[..900]).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_capture_read_in_part_is_reported_as_partial() {
    let dir = tempfile::tempdir().unwrap();
    let cut = cut_capture(dir.path());
    let whole = "captures/broken-accept.pcap";

    // JSON: flagged, counted in the summary, and the schema still holds.
    let o = dispel(&["check", &cut, whole, "--format", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let doc = json_of(&o);
    assert_eq!(doc["captures"][0]["partial"], true);
    assert_eq!(doc["captures"][1]["partial"], false);
    assert_eq!(doc["summary"]["partial"], 1);
    let packets = doc["captures"][0]["packets"].as_u64().unwrap();
    assert!(packets > 0);

    // Text: the verdicts say what they cover; the table leaves its OKs out
    // of the total.
    let o = dispel(&["check", &cut, whole, "--color", "never"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!(
            "the verdicts below cover packets 1–{packets}, before the damage"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("rules (over packets 1–{packets} only):")),
        "{text}"
    );
    let oks: Vec<u64> = doc["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdicts"]["OK"].as_u64().unwrap())
        .collect();
    let total = text
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(
        total, oks[1],
        "only the whole capture's OKs are in the total: {text}"
    );
    assert!(text.contains(&format!("{}*", oks[0])), "{text}");

    // CSV and JUnit say it in the error.
    let o = dispel(&["check", &cut, "--format", "csv"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("read in part:"));
    let o = dispel(&["check", &cut, "--format", "junit"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("read in part:"));

    // Gradescope: every test says partial; a no_findings pass is not
    // proven and scores nothing, an at_least pass keeps its points.
    let o = dispel(&[
        "check",
        &cut,
        "--expect",
        "examples/ws-echo-assignment.yaml",
        "--format",
        "gradescope",
    ]);
    let doc = json_of(&o);
    assert!(schema::validate(&gradescope_schema(), &doc).is_empty());
    assert_consistent(&doc, "cut");
    let tests = doc["tests"].as_array().unwrap();
    let by_name = |n: &str| tests.iter().find(|t| t["name"] == n).unwrap();
    for t in tests {
        assert!(
            t["output"].as_str().unwrap().starts_with("partial: "),
            "{t}"
        );
    }
    let handshake = by_name("handshake accepted");
    assert_eq!(handshake["status"], "passed");
    assert_eq!(handshake["score"], 1.0);
    let nf = by_name("every length minimal, every server frame unmasked");
    assert_eq!(nf["status"], "failed");
    assert!(
        nf["output"].as_str().unwrap().contains("not proven"),
        "{nf}"
    );
}

/// The README's first grading example (a plain WebSocket assignment) is
/// the real output of its command. The rule count line is compared with
/// its numbers masked, so adding a rule does not make the example wrong.
#[test]
fn the_readmes_first_grading_example_is_real() {
    let readme = std::fs::read_to_string(tools::root().join("README.md")).unwrap();
    let grading = &readme[readme.find("## Grading").unwrap()..];
    let start = grading.find("```text\n$ dispel check").unwrap() + 8;
    let block = &grading[start..start + grading[start..].find("```").unwrap()];
    let mut lines = block.lines();
    let cmd = lines.next().unwrap().strip_prefix("$ dispel ").unwrap();
    assert!(
        cmd.contains("--expect examples/ws-echo-assignment.yaml"),
        "{cmd}"
    );
    let shown: Vec<&str> = lines.collect();
    let mut args: Vec<&str> = cmd.split_whitespace().collect();
    args.extend(["--color", "never"]);
    let o = dispel(&args);
    let out = String::from_utf8(o.stdout).unwrap();
    let mask = |l: &str| {
        if l.contains(" rules: ") {
            l.chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect::<String>()
                .replace("##", "#")
                .replace("##", "#")
        } else {
            l.to_string()
        }
    };
    let got: Vec<String> = out.trim_end().lines().map(mask).collect();
    let want: Vec<String> = shown.iter().map(|l| mask(l)).collect();
    assert_eq!(got, want);
}
