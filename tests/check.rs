//! `dispel check` and the new explain formats, through the real binary.
//!
//! Verdicts are asserted rule by rule on the real captures in `captures/`:
//! the deliberately broken ones against the bug each was recorded with
//! (captures/README.md §11), the others against the findings their own
//! ndjson trace reports. Expectations are checked against an independent
//! evaluation over the ndjson steps. Inputs written here (a garbage file, a
//! SYNTHETIC capture with a SHOULD finding or hostile payloads) say so.

mod schema;
mod support;
mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};

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

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

fn json_of(o: &Output) -> J {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn schema(name: &str) -> J {
    let text = std::fs::read_to_string(tools::root().join("docs/schema").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_valid(schema: &J, doc: &J, what: &str) {
    let errors = schema::validate(schema, doc);
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

/// The captures as `captures/NAME`, relative to the repository root (the
/// working directory of every run).
fn capture_names() -> Vec<String> {
    tools::captures()
        .iter()
        .map(|p| format!("captures/{}", p.file_name().unwrap().to_string_lossy()))
        .collect()
}

/// The broken captures and the rules their bug breaks, with the packets
/// that carry it (captures/README.md §11).
/// A rule id and the capture packets of its one finding.
type Broken = (&'static str, &'static [u64]);

const BROKEN: &[(&str, &[Broken])] = &[
    ("broken-accept", &[("handshake.accept-mismatch", &[6])]),
    ("broken-server-masked", &[("frame.server-masked", &[9])]),
    (
        "broken-length-not-minimal",
        &[("frame.length-not-minimal", &[9])],
    ),
    ("broken-close-code", &[("frame.close-code-invalid", &[11])]),
    (
        "broken-fragmented-ping",
        &[
            ("frame.control-fragmented", &[11]),
            ("frame.continuation-without-start", &[12]),
        ],
    ),
    ("broken-invalid-utf8", &[("frame.text-invalid-utf8", &[9])]),
];

/// rule id → verdict, from a capture object of the check JSON.
fn verdicts(c: &J) -> BTreeMap<String, String> {
    c["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_string(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The ndjson trace of a capture: its step objects.
fn ndjson_steps(capture: &str) -> Vec<J> {
    let o = dispel(&["explain", capture, "--format", "ndjson"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap())
        .filter(|v| v["type"] == "step")
        .collect()
}

// ---------------------------------------------------------------------------
// Verdicts, rule by rule
// ---------------------------------------------------------------------------

#[test]
fn broken_captures_fail_exactly_the_rule_their_bug_breaks() {
    let files: Vec<String> = BROKEN
        .iter()
        .map(|(n, _)| format!("captures/{n}.pcap"))
        .collect();
    let mut args = vec!["check", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let o = dispel(&args);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc = json_of(&o);
    let caps = doc["captures"].as_array().unwrap();
    assert_eq!(caps.len(), BROKEN.len());
    for ((name, broken), c) in BROKEN.iter().zip(caps) {
        assert_eq!(
            c["file"],
            format!("captures/{name}.pcap"),
            "input order kept"
        );
        assert_eq!(c["status"], "failed");
        let v = verdicts(c);
        assert_eq!(
            v.len(),
            dispel::rules::ALL.len(),
            "{name}: one verdict per rule"
        );
        for rule in dispel::rules::ALL {
            let want = if broken.iter().any(|(id, _)| *id == rule.id) {
                "FAILED"
            } else {
                "OK"
            };
            assert_eq!(v[rule.id], want, "{name}: {}", rule.id);
        }
        for (id, frames) in broken.iter() {
            let r = c["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["rule"] == *id)
                .unwrap();
            let ev = r["evidence"].as_array().unwrap();
            assert_eq!(ev.len(), 1, "{name} {id}: {ev:?}");
            assert_eq!(ev[0]["frames"], serde_json::json!(frames), "{name} {id}");
            assert_eq!(ev[0]["conn"], 0);
            assert_eq!(
                ev[0]["dir"], "s2c",
                "{name} {id}: the server is the broken side"
            );
            assert!(!ev[0]["message"].as_str().unwrap().is_empty());
        }
        assert_eq!(c["verdicts"]["FAILED"], broken.len() as u64);
    }
}

#[test]
fn batch_over_captures_agrees_with_each_trace_and_is_deterministic() {
    let o = dispel(&["check", "captures", "--format", "json", "-j", "4"]);
    let doc = json_of(&o);
    assert_valid(&schema("check.schema.json"), &doc, "check json");
    let caps = doc["captures"].as_array().unwrap();
    let names: Vec<&str> = caps.iter().map(|c| c["file"].as_str().unwrap()).collect();
    assert_eq!(names, capture_names(), "every capture, sorted by path");
    let mut any_failed = false;
    for c in caps {
        let file = c["file"].as_str().unwrap();
        // What the trace itself reports: severity of each rule that fired.
        let mut fired: BTreeMap<String, String> = BTreeMap::new();
        let mut evidence: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for s in ndjson_steps(file) {
            for f in s["findings"].as_array().unwrap() {
                let id = f["rule"].as_str().unwrap().to_string();
                fired.insert(id.clone(), f["severity"].as_str().unwrap().to_string());
                evidence
                    .entry(id)
                    .or_default()
                    .push(s["step"].as_u64().unwrap());
            }
        }
        let v = verdicts(c);
        for rule in dispel::rules::ALL {
            let want = match fired.get(rule.id).map(String::as_str) {
                None => "OK",
                Some("MUST") => "FAILED",
                Some("SHOULD") => "NON-STRICT",
                Some("INFO") => "INFORMATIONAL",
                Some(s) => panic!("severity {s}"),
            };
            assert_eq!(v[rule.id], want, "{file}: {}", rule.id);
        }
        for r in c["rules"].as_array().unwrap() {
            let steps: Vec<u64> = r["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["step"].as_u64().unwrap())
                .collect();
            let want = evidence
                .get(r["rule"].as_str().unwrap())
                .cloned()
                .unwrap_or_default();
            assert_eq!(steps, want, "{file}: evidence of {}", r["rule"]);
        }
        let failed = fired.values().any(|s| s == "MUST");
        any_failed |= failed;
        assert_eq!(
            c["status"],
            if failed { "failed" } else { "passed" },
            "{file}"
        );
    }
    assert!(any_failed);
    assert_eq!(code(&o), 1);
    assert_eq!(doc["summary"]["exit_code"], 1);
    assert_eq!(doc["summary"]["captures"], caps.len());
    // One worker gives the same bytes as four.
    let serial = dispel(&["check", "captures", "--format", "json", "-j", "1"]);
    assert_eq!(serial.stdout, o.stdout);
}

// ---------------------------------------------------------------------------
// Exit codes
// ---------------------------------------------------------------------------

#[test]
fn exit_0_when_every_rule_passes() {
    let o = dispel(&["check", "captures/ws-permessage-deflate.pcap"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("passed"));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn rules_restrict_the_verdicts() {
    // The impaired capture has only INFORMATIONAL TCP findings and one
    // FAILED frame rule: restricted to TCP it passes.
    let o = dispel(&[
        "check",
        "captures/impaired-flask-sock.pcap",
        "--rules",
        "tcp.*",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let doc = json_of(&o);
    let v = verdicts(&doc["captures"][0]);
    assert!(v.keys().all(|id| id.starts_with("tcp.")), "{v:?}");
    assert_eq!(
        v.len(),
        dispel::rules::ALL
            .iter()
            .filter(|r| r.id.starts_with("tcp."))
            .count()
    );
    assert_eq!(v["tcp.retransmission"], "INFORMATIONAL");
    let o = dispel(&[
        "check",
        "captures/impaired-flask-sock.pcap",
        "--rules",
        "tcp,frame.desync",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("frame.desync"));
    let o = dispel(&[
        "check",
        "captures/impaired-flask-sock.pcap",
        "--rules",
        "nope.*",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("dispel: --rules: `nope.*` names no rule"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn one_unreadable_file_among_good_ones_exits_2_and_the_others_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.pcap");
    std::fs::write(&bad, b"this is not a capture file at all").unwrap();
    let missing = dir.path().join("missing.pcap");
    let bad_s = bad.to_str().unwrap();
    let missing_s = missing.to_str().unwrap();
    let o = dispel(&[
        "check",
        "captures/ws-permessage-deflate.pcap",
        bad_s,
        "captures/node-socketio-v4.pcap",
        missing_s,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains(&format!("dispel: {bad_s}: ")), "{err}");
    assert!(err.contains(&format!("dispel: {missing_s}: ")), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    let doc = json_of(&o);
    assert_valid(&schema("check.schema.json"), &doc, "check json with errors");
    let st: Vec<&str> = doc["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["passed", "error", "passed", "error"]);
    assert_eq!(doc["captures"][1]["rules"], serde_json::json!([]));
    assert_eq!(
        doc["captures"][0]["verdicts"]["OK"],
        dispel::rules::ALL.len()
    );
    assert_eq!(doc["summary"]["errors"], 2);
    // The same run in every format: 2, and the good captures still there.
    for format in ["text", "junit", "csv"] {
        let o = dispel(&[
            "check",
            "captures/ws-permessage-deflate.pcap",
            bad_s,
            "--format",
            format,
        ]);
        assert_eq!(code(&o), 2, "{format}");
        assert!(stdout(&o).contains("ws-permessage-deflate"), "{format}");
    }
    // An empty directory is an input that gives nothing to check.
    let empty = tempfile::tempdir().unwrap();
    let o = dispel(&["check", empty.path().to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no *.pcap or *.pcapng file"));
}

/// SYNTHETIC: an HTTP response whose gzip body is not gzip, which earns a
/// SHOULD finding (http.body-decode); no real capture has one.
fn should_capture() -> tempfile::NamedTempFile {
    let resp =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 16\r\n\r\nthis is not gzip";
    let bytes = support::conv_pcap(&[
        (true, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
        (false, resp.to_vec()),
    ]);
    let mut f = tempfile::Builder::new().suffix(".pcap").tempfile().unwrap();
    f.write_all(&bytes).unwrap();
    f
}

#[test]
fn non_strict_passes_with_a_warning_unless_strict() {
    let f = should_capture();
    let p = f.path().to_str().unwrap();
    let o = dispel(&["check", p, "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let doc = json_of(&o);
    assert_eq!(
        verdicts(&doc["captures"][0])["http.body-decode"],
        "NON-STRICT"
    );
    assert_eq!(doc["captures"][0]["status"], "passed");
    let o = dispel(&["check", p, "--strict", "--format", "json"]);
    assert_eq!(code(&o), 1);
    let doc = json_of(&o);
    assert_eq!(doc["strict"], true);
    assert_eq!(doc["captures"][0]["status"], "failed");
    let o = dispel(&["check", p, "--strict", "--format", "csv"]);
    assert!(stdout(&o).contains(",http.body-decode,"), "{}", stdout(&o));
    let o = dispel(&["check", p]);
    assert!(
        stdout(&o).contains("NON-STRICT     http.body-decode"),
        "{}",
        stdout(&o)
    );
}

// ---------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------

/// Evaluates examples/assignment.yaml over one trace, independently of
/// dispel's evaluator: name → passed.
fn assignment_by_hand(steps: &[J]) -> BTreeMap<&'static str, bool> {
    let f = |s: &J, k: &str| s["fields"].get(k).cloned().unwrap_or(J::Null);
    fn of<'a>(
        steps: &'a [J],
        kind: &'static str,
        dir: Option<&'static str>,
    ) -> impl Iterator<Item = &'a J> {
        steps
            .iter()
            .filter(move |s| s["kind"] == kind && dir.is_none_or(|d| s["dir"] == d))
    }
    let of = |kind: &'static str, dir: Option<&'static str>| of(steps, kind, dir);
    let mut m = BTreeMap::new();
    m.insert(
        "handshake accepted",
        of("websocket.accept", None).any(|s| f(s, "websocket.accept.valid") == true),
    );
    m.insert(
        "upgraded from polling to WebSocket",
        of("engineio.packet", None).any(|s| f(s, "engineio.upgrade_stage") == "upgrade"),
    );
    m.insert(
        "masked client text frame",
        of("websocket.frame", Some("c2s"))
            .any(|s| f(s, "websocket.opcode") == 1 && f(s, "websocket.mask") == true),
    );
    m.insert(
        "server never masks",
        !of("websocket.frame", Some("s2c")).any(|s| f(s, "websocket.mask") == true),
    );
    m.insert(
        "chat event sent",
        of("socketio.packet", Some("c2s"))
            .any(|s| f(s, "socketio.type") == "EVENT" && f(s, "socketio.event") == "chat"),
    );
    m.insert(
        "ack-me answered by an ack",
        of("socketio.packet", Some("c2s")).any(|q| {
            f(q, "socketio.event") == "ack-me"
                && !f(q, "socketio.ack_id").is_null()
                && of("socketio.packet", Some("s2c")).any(|a| {
                    f(a, "socketio.type") == "ACK"
                        && a["step"].as_u64() > q["step"].as_u64()
                        && f(a, "socketio.ack.answers") == q["step"]
                })
        }),
    );
    m.insert(
        "clean close",
        of("websocket.frame", Some("c2s"))
            .any(|s| f(s, "websocket.payload.close.status_code") == 1000),
    );
    m.insert(
        "no MUST violations",
        !steps.iter().any(|s| {
            s["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["severity"] == "MUST")
        }),
    );
    m
}

#[test]
fn the_example_assignment_grades_every_real_capture() {
    let o = dispel(&[
        "check",
        "captures",
        "--expect",
        "examples/assignment.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let doc = json_of(&o);
    assert_valid(
        &schema("check.schema.json"),
        &doc,
        "check json with expectations",
    );
    assert_eq!(doc["expectations"]["file"], "examples/assignment.yaml");
    let mut passes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in doc["captures"].as_array().unwrap() {
        let file = c["file"].as_str().unwrap();
        let want = assignment_by_hand(&ndjson_steps(file));
        let got: BTreeMap<&str, bool> = c["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), e["passed"].as_bool().unwrap()))
            .collect();
        assert_eq!(got, want, "{file}");
        for e in c["expectations"].as_array().unwrap() {
            let n = passes
                .entry(e["name"].as_str().unwrap().into())
                .or_default();
            if e["passed"] == true {
                n.0 += 1;
            } else {
                n.1 += 1;
                assert!(!e["detail"].as_str().unwrap().is_empty());
            }
        }
        let exp_failed = got.values().any(|p| !p);
        if exp_failed {
            assert_eq!(c["status"], "failed", "{file}");
        }
    }
    // Not vacuous: every expectation is met somewhere and missed somewhere.
    for (name, (yes, no)) in &passes {
        assert!(*yes > 0 && *no > 0, "{name}: {yes} passed, {no} failed");
    }
}

#[test]
fn the_documented_recipes_each_pass_somewhere_and_fail_somewhere() {
    let doc = std::fs::read_to_string(tools::root().join("docs/expectations.md")).unwrap();
    let recipes = doc
        .split("## Recipes")
        .nth(1)
        .and_then(|s| s.split("```yaml\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("a yaml block under ## Recipes");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recipes.yaml");
    std::fs::write(&file, recipes).unwrap();
    let o = dispel(&[
        "check",
        "captures",
        "--expect",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_ne!(code(&o), 2, "{}", stderr(&o));
    let doc = json_of(&o);
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in doc["captures"].as_array().unwrap() {
        for e in c["expectations"].as_array().unwrap() {
            let t = tally.entry(e["name"].as_str().unwrap().into()).or_default();
            if e["passed"] == true {
                t.0 += 1
            } else {
                t.1 += 1
            }
        }
    }
    assert!(tally.len() >= 8, "{tally:?}");
    for (name, (yes, no)) in &tally {
        assert!(*yes > 0 && *no > 0, "{name}: {yes} passed, {no} failed");
    }
    // The ws echo example passes on the flask-sock capture, whose server
    // sends a 16-bit frame, and fails on the broken length capture.
    let o = dispel(&[
        "check",
        "captures/flask-sock-echo.pcap",
        "--expect",
        "examples/ws-echo-assignment.yaml",
        "--rules",
        "handshake",
        "--format",
        "json",
    ]);
    let doc = json_of(&o);
    let failed: Vec<&J> = doc["captures"][0]["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["passed"] == false)
        .collect();
    // flask-sock's server never sends its own Close 1000 (Werkzeug writes
    // HTTP junk instead, captures/README.md §4): only the client's is there.
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["name"], "clean close with 1000");
    let o = dispel(&[
        "check",
        "captures/broken-length-not-minimal.pcap",
        "--expect",
        "examples/ws-echo-assignment.yaml",
        "--format",
        "json",
    ]);
    let doc = json_of(&o);
    let e = &doc["captures"][0]["expectations"][3];
    assert_eq!(
        e["name"],
        "every length minimal, every server frame unmasked"
    );
    assert_eq!(e["passed"], false);
    assert_eq!(e["evidence"][0]["frames"], serde_json::json!([9]));
}

#[test]
fn a_bad_expect_file_is_refused_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "expect:\n  - name: ok\n    kind: websocket.frame\n  - name: typo\n    kinds: websocket.frame\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let o = dispel(&[
        "check",
        "captures/ws-permessage-deflate.pcap",
        "--expect",
        f,
    ]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.starts_with(&format!("dispel: {f}:5:5: ")), "{err}");
    assert!(err.contains("unknown field `kinds`"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "nothing is checked with a bad expect file"
    );
    std::fs::write(&file, "expect:\n  - name: x\n    kind: websocket.frame\n    where:\n      websocket.opcode: {equals: 1}\n").unwrap();
    let o = dispel(&[
        "check",
        "captures/ws-permessage-deflate.pcap",
        "--expect",
        f,
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains(":5:"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown field `equals`"),
        "{}",
        stderr(&o)
    );
    let o = dispel(&[
        "check",
        "captures/ws-permessage-deflate.pcap",
        "--expect",
        "no/such.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("dispel: no/such.yaml: "),
        "{}",
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------
// JUnit and CSV
// ---------------------------------------------------------------------------

#[test]
fn junit_is_well_formed_xml_with_a_suite_per_capture_and_a_case_per_rule() {
    let o = dispel(&[
        "check",
        "captures",
        "--expect",
        "examples/assignment.yaml",
        "--format",
        "junit",
    ]);
    assert_eq!(code(&o), 1);
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit parses as XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), capture_names().len());
    let json = json_of(&dispel(&[
        "check",
        "captures",
        "--expect",
        "examples/assignment.yaml",
        "--format",
        "json",
    ]));
    let mut total_failures = 0;
    for (suite, c) in suites.iter().zip(json["captures"].as_array().unwrap()) {
        assert_eq!(suite.attribute("name"), c["file"].as_str());
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let n_exp = c["expectations"].as_array().unwrap().len();
        assert_eq!(cases.len(), dispel::rules::ALL.len() + n_exp);
        assert_eq!(
            suite.attribute("tests"),
            Some(cases.len().to_string().as_str())
        );
        let failed: BTreeSet<&str> = cases
            .iter()
            .filter(|k| k.children().any(|n| n.has_tag_name("failure")))
            .map(|k| k.attribute("name").unwrap())
            .collect();
        let mut want: BTreeSet<String> = c["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verdict"] == "FAILED")
            .map(|r| r["rule"].as_str().unwrap().to_string())
            .collect();
        want.extend(
            c["expectations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["passed"] == false)
                .map(|e| format!("expect: {}", e["name"].as_str().unwrap())),
        );
        assert_eq!(
            failed,
            want.iter().map(String::as_str).collect(),
            "{}",
            c["file"]
        );
        assert_eq!(
            suite.attribute("failures"),
            Some(failed.len().to_string().as_str())
        );
        total_failures += failed.len();
        for k in &cases {
            if let Some(f) = k.children().find(|n| n.has_tag_name("failure")) {
                let msg = f.attribute("message").unwrap();
                assert!(!msg.is_empty());
                if !k.attribute("name").unwrap().starts_with("expect: ") {
                    assert_eq!(f.attribute("type"), Some("FAILED"));
                    assert!(msg.contains(k.attribute("name").unwrap()), "{msg}");
                    assert!(f.text().unwrap().contains("step "), "evidence in the body");
                }
            }
        }
    }
    assert_eq!(
        root.attribute("failures"),
        Some(total_failures.to_string().as_str())
    );
}

#[test]
fn junit_escapes_names_and_drops_characters_xml_forbids() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = dir.path().join("a&b<c>\"d'e\u{1}.pcap");
    std::fs::copy(
        tools::root().join("captures/broken-server-masked.pcap"),
        &nasty,
    )
    .unwrap();
    let exp = dir.path().join("e.yaml");
    std::fs::write(
        &exp,
        "expect:\n  - name: \"bell \\a and <tags> & ]]> too\"\n    kind: websocket.frame\n    where: {websocket.mask: true}\n    dir: s2c\n    exactly: 0\n",
    )
    .unwrap();
    let o = dispel(&[
        "check",
        nasty.to_str().unwrap(),
        "--expect",
        exp.to_str().unwrap(),
        "--format",
        "junit",
    ]);
    assert_eq!(code(&o), 1);
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).expect("parses despite the names");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let name = nasty.to_str().unwrap().replace('\u{1}', "");
    assert_eq!(suite.attribute("name"), Some(name.as_str()));
    let case = doc
        .descendants()
        .find(|n| {
            n.attribute("name")
                .is_some_and(|a| a.starts_with("expect: "))
        })
        .unwrap();
    assert_eq!(
        case.attribute("name"),
        Some("expect: bell  and <tags> & ]]> too")
    );
    assert!(
        case.children().any(|n| n.has_tag_name("failure")),
        "the server masked"
    );
}

#[test]
fn csv_has_a_row_per_capture_matching_the_json() {
    let o = dispel(&["check", "captures", "--format", "csv"]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(dispel::check::render::csv::HEADER.join(",").as_str())
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let json = json_of(&dispel(&["check", "captures", "--format", "json"]));
    let caps = json["captures"].as_array().unwrap();
    assert_eq!(rows.len(), caps.len());
    for (row, c) in rows.iter().zip(caps) {
        assert_eq!(
            row.len(),
            dispel::check::render::csv::HEADER.len(),
            "{row:?}"
        );
        assert_eq!(row[0], c["file"]);
        assert_eq!(row[1], c["status"]);
        assert_eq!(row[6], c["verdicts"]["OK"].to_string());
        assert_eq!(row[8], c["verdicts"]["FAILED"].to_string());
        assert_eq!(row[9], c["verdicts"]["INFORMATIONAL"].to_string());
        let failed: Vec<&str> = c["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verdict"] == "FAILED")
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert_eq!(row[12], failed.join(";"));
    }
}

// ---------------------------------------------------------------------------
// Text: colour and the summary table
// ---------------------------------------------------------------------------

#[test]
fn verdict_words_are_coloured_only_when_asked_or_on_a_terminal() {
    let f = "captures/broken-server-masked.pcap";
    let o = dispel(&["check", f, "--color", "always"]);
    assert!(
        stdout(&o).contains("\x1b[1;31mFAILED\x1b[0m"),
        "{}",
        stdout(&o)
    );
    for args in [vec!["check", f], vec!["check", f, "--color", "never"]] {
        let o = dispel(&args);
        assert!(
            !o.stdout.contains(&0x1b),
            "{args:?}: not a terminal, no colour"
        );
        assert!(stdout(&o).contains("FAILED"));
    }
    // NO_COLOR does not override an explicit --color always.
    let o = Command::new(BIN)
        .args(["check", f, "--color", "always"])
        .current_dir(tools::root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.stdout.contains(&0x1b));
}

#[test]
fn text_ends_with_a_summary_table_for_a_batch() {
    let o = dispel(&["check", "captures"]);
    let text = stdout(&o);
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("capture "))
        .collect();
    assert!(
        table[0].contains("OK") && table[0].contains("NON-STRICT") && table[0].contains("FAILED")
    );
    assert_eq!(table.len(), capture_names().len() + 3, "{table:#?}");
    for (line, name) in table[1..].iter().zip(capture_names()) {
        assert!(line.starts_with(&name), "{line}");
    }
    let n = capture_names().len();
    assert!(
        table[n + 2].starts_with(&format!("{n} captures: ")),
        "{}",
        table[n + 2]
    );
}

#[test]
fn a_closed_pipe_ends_check_quietly() {
    let mut child = Command::new(BIN)
        .args(["check", "captures", "--format", "json"])
        .current_dir(tools::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------
// explain --format json and markdown
// ---------------------------------------------------------------------------

#[test]
fn explain_json_is_the_ndjson_objects_in_one_document() {
    let sch = schema("explain.schema.json");
    for file in capture_names() {
        let o = dispel(&["explain", &file, "--format", "json"]);
        assert_eq!(code(&o), 0);
        let doc = json_of(&o);
        assert_valid(&sch, &doc, &file);
        let nd = dispel(&["explain", &file, "--format", "ndjson"]);
        let lines: Vec<J> = stdout(&nd)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let of = |t: &str| -> Vec<J> { lines.iter().filter(|l| l["type"] == t).cloned().collect() };
        assert_eq!(doc["capture"], of("capture")[0], "{file}");
        assert_eq!(doc["connections"], J::Array(of("connection")), "{file}");
        assert_eq!(doc["steps"], J::Array(of("step")), "{file}");
        assert_eq!(doc["summary"], of("summary")[0], "{file}");
        // One session per engineio.session step, pointing at it.
        let sessions: Vec<&J> = of("step")
            .iter()
            .filter(|s| s["kind"] == "engineio.session" && !s["session"].is_null())
            .map(|s| &doc["steps"][s["step"].as_u64().unwrap() as usize - 1])
            .collect();
        assert_eq!(
            doc["sessions"].as_array().unwrap().len(),
            sessions.len(),
            "{file}"
        );
        for (sess, step) in doc["sessions"].as_array().unwrap().iter().zip(sessions) {
            assert_eq!(sess["step"], step["step"]);
            assert_eq!(sess["sid"], step["fields"]["engineio.sid"]);
            assert_eq!(sess["session"], step["session"]);
        }
    }
    // Filters apply as in ndjson; sessions are listed whatever --kind says.
    let o = dispel(&[
        "explain",
        "captures/node-socketio-v4.pcap",
        "--format",
        "json",
        "--kind",
        "websocket.frame",
        "--conn",
        "2",
    ]);
    let doc = json_of(&o);
    assert!(
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["kind"] == "websocket.frame" && s["conn"] == 2)
    );
    assert!(!doc["steps"].as_array().unwrap().is_empty());
    assert_eq!(doc["connections"].as_array().unwrap().len(), 1);
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
}

#[test]
fn explain_markdown_walks_every_step_with_its_bytes() {
    let file = "captures/flask-sock-echo.pcap";
    let o = dispel(&["explain", file, "--format", "markdown"]);
    assert_eq!(code(&o), 0);
    let md = stdout(&o);
    let steps = ndjson_steps(file);
    for s in &steps {
        let n = s["step"].as_u64().unwrap();
        let head = format!("### Step {n} · `{}` ·", s["kind"].as_str().unwrap());
        assert!(md.contains(&head), "{head}");
    }
    assert_eq!(md.matches("### Step ").count(), steps.len());
    // The RFC 6455 §5.7 style first client frame: its stream bytes dumped.
    assert!(md.contains("**Bytes: stream** (23 bytes of the c2s stream from offset 198"));
    assert!(md.contains("| `websocket.masking_key` | 6a33e5b0 | stream\\[2..6\\] |"));
    assert!(md.contains("- **MUST** `frame.desync`"));
    assert!(md.contains("## Summary"));
    // Fences balance: an even number of fence lines.
    assert_eq!(md.lines().filter(|l| l.starts_with("```")).count() % 2, 0);
}

#[test]
fn explain_markdown_keeps_hostile_payloads_inside_their_fences() {
    // SYNTHETIC: a text message with a backtick run, a heading, an escape
    // sequence and a bidi override, from a "server".
    let payload = "x\n```\n# pwned ``````` \x1b[2J \u{202e}evil\n".repeat(3);
    let mut conv = support::ws_handshake(&[], &[]);
    conv.push((false, support::stext(&payload)));
    let bytes = support::conv_pcap(&conv);
    let mut f = tempfile::Builder::new().suffix(".pcap").tempfile().unwrap();
    f.write_all(&bytes).unwrap();
    let o = dispel(&[
        "explain",
        f.path().to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = stdout(&o);
    assert!(
        !md.contains('\x1b') && !md.contains('\u{202e}'),
        "raw controls"
    );
    assert!(md.contains("\\x1b[2J") && md.contains("\\u{202e}"));
    // Read the document as CommonMark reads fences: a line of N >= 3
    // backticks (plus an info string) opens a block that only a line of at
    // least N backticks and nothing else closes. Every payload line must be
    // inside a block, and the payload's own block needs 8 backticks (one
    // more than its longest run).
    let mut open: Option<usize> = None;
    let mut payload_fences = BTreeSet::new();
    for line in md.lines() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match open {
            None if ticks >= 3 => open = Some(ticks),
            Some(n) if ticks >= n && line.trim_end().len() == ticks => open = None,
            _ => {}
        }
        if line.starts_with("# pwned") {
            let n = open.unwrap_or_else(|| panic!("payload line outside a code block: {line}"));
            payload_fences.insert(n);
        }
    }
    assert!(open.is_none(), "a block is left open");
    assert_eq!(payload_fences, BTreeSet::from([8]));
}

// ---------------------------------------------------------------------------
// Help, completions, man page
// ---------------------------------------------------------------------------

#[test]
fn every_subcommand_has_help_with_an_example() {
    use clap::CommandFactory;
    let cmd = dispel::cli::Cli::command();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let o = dispel(&[name, "--help"]);
        assert_eq!(code(&o), 0, "{name}");
        assert!(
            stdout(&o).contains("Example"),
            "{name} --help has no example"
        );
    }
    let o = dispel(&["check", "--help"]);
    for rule in dispel::rules::ALL {
        assert!(
            stdout(&o).contains(rule.id),
            "check --help lists {}",
            rule.id
        );
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = dispel(&["completions", shell]);
        assert_eq!(code(&o), 0, "{shell}");
        let s = stdout(&o);
        assert!(
            s.contains("dispel") && s.contains("check") && s.contains("expect"),
            "{shell}"
        );
    }
    let o = dispel(&["completions", "tcsh"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn man_pages_come_from_the_same_definitions() {
    let o = dispel(&["man"]);
    assert_eq!(code(&o), 0);
    let roff = stdout(&o);
    assert!(
        roff.starts_with(".ie \\n(.g .ds Aq") || roff.contains(".TH dispel"),
        "{roff}"
    );
    assert!(roff.contains(".TH dispel 1"), "{roff}");
    assert!(roff.contains("check"));
    let o = dispel(&["man", "check"]);
    assert_eq!(code(&o), 0);
    let roff = stdout(&o);
    assert!(roff.contains(".TH dispel-check 1"), "{roff}");
    assert!(roff.contains("\\-\\-expect"), "{roff}");
    assert!(roff.contains("frame.client\\-unmasked"), "the rule list");
    let o = dispel(&["man", "nope"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).starts_with("dispel: no subcommand `nope`"));
    // Hidden from the help, so students are not pointed at roff.
    assert!(!stdout(&dispel(&["--help"])).contains("man "));
}
