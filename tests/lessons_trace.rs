//! `dispel lessons trace`: attribution of a synthetic trace log to steps,
//! the replay's pacing and substitutions, the draft's YAML, and one
//! end-to-end run of the gevent stack on its capture (needs python3 and
//! network for the first venv: skipped visibly when python3 is missing,
//! except under `CI=true`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use dispel::analyze::{self, Collect, Options};
use dispel::lessons::trace::{
    self, Action, Attribution, StepAt, Subst, Wire, WireConn, WireEv, attribute, pace, parse_log,
};
use dispel::lessons::{self, load_paths};
use dispel::step::Dir;

fn names(att: &Attribution, log: &trace::Log, step: usize) -> Vec<String> {
    att.per_step[step]
        .iter()
        .map(|&f| log.funcs[f].function.clone())
        .collect()
}

const SYNTHETIC: &str = r#"{"ev":"pkg","pkg":"p","version":"1"}
{"ev":"call","g":1,"pkg":"p","file":"p/a.py","line":10,"fn":"handle"}
{"ev":"io","g":1,"conn":40000,"dir":"c2s","off":0,"n":5}
{"ev":"call","g":1,"pkg":"p","file":"p/a.py","line":20,"fn":"parse"}
{"ev":"ret","g":1}
{"ev":"call","g":1,"pkg":"p","file":"p/a.py","line":30,"fn":"dispatch"}
{"ev":"call","g":1,"pkg":"p","file":"p/a.py","line":35,"fn":"start_background_task"}
{"ev":"spawn","g":1,"key":1}
{"ev":"ret","g":1}
{"ev":"ret","g":1}
{"ev":"start","g":2,"key":1}
{"ev":"call","g":2,"pkg":"p","file":"p/b.py","line":40,"fn":"handler"}
{"ev":"put","g":2,"obj":77}
{"ev":"ret","g":2}
{"ev":"call","g":3,"pkg":"p","file":"p/c.py","line":50,"fn":"writer"}
{"ev":"get","g":3,"obj":77}
{"ev":"call","g":3,"pkg":"p","file":"p/c.py","line":60,"fn":"encode"}
{"ev":"ret","g":3}
{"ev":"io","g":3,"conn":40000,"dir":"s2c","off":0,"n":4}
{"ev":"ret","g":3}
{"ev":"io","g":9,"conn":41111,"dir":"c2s","off":0,"n":3}
{"ev":"call","g":9,"pkg":"p","file":"p/d.py","line":70,"fn":"stranger"}
{"ev":"ret","g":9}
{"ev":"ret","g":1}
{"ev":"call","g":4,"pkg":"p","file":"p/a.py","line":10,"fn":"half"#;

#[test]
fn attribution_follows_reads_writes_spawns_and_queues() {
    let log = parse_log(SYNTHETIC);
    // The half line at the end is dropped, not an error.
    assert!(log.funcs.iter().all(|f| f.function != "half"));
    let places = vec![
        StepAt::Bytes {
            conn: 0,
            dir: Dir::C2s,
            start: 0,
            end: 5,
        },
        StepAt::Bytes {
            conn: 0,
            dir: Dir::S2c,
            start: 0,
            end: 4,
        },
        StepAt::Bytes {
            conn: 0,
            dir: Dir::C2s,
            start: 5,
            end: 9,
        },
    ];
    let ports = HashMap::from([(40000u16, 0u32)]);
    let att = attribute(&log, &places, &ports);
    let c2s = names(&att, &log, 0);
    let s2c = names(&att, &log, 1);
    // On the stack at the read, and after it.
    for f in ["handle", "parse", "dispatch", "start_background_task"] {
        assert!(c2s.contains(&f.to_string()), "{f} not in {c2s:?}");
    }
    // The spawned handler: caused by the read, and it put what was written.
    assert!(c2s.contains(&"handler".to_string()), "{c2s:?}");
    assert!(s2c.contains(&"handler".to_string()), "{s2c:?}");
    // The writer's work before the write belongs to the write only.
    assert!(s2c.contains(&"encode".to_string()), "{s2c:?}");
    assert!(!c2s.contains(&"encode".to_string()), "{c2s:?}");
    assert!(!s2c.contains(&"parse".to_string()), "{s2c:?}");
    // A connection that is not the replay's, and a step never read.
    assert!(!c2s.contains(&"stranger".to_string()));
    assert!(att.per_step[2].is_empty());
    assert_eq!(att.seen, vec![true, true, false]);
}

#[test]
fn pacing_waits_for_the_server_and_cuts_at_client_steps() {
    let wire = Wire {
        conns: BTreeMap::from([(0, WireConn::default())]),
        events: vec![
            WireEv::Data {
                conn: 0,
                dir: Dir::C2s,
                start: 0,
                end: 10,
            },
            WireEv::Data {
                conn: 0,
                dir: Dir::S2c,
                start: 0,
                end: 20,
            },
            WireEv::Data {
                conn: 0,
                dir: Dir::C2s,
                start: 10,
                end: 15,
            },
            WireEv::Fin {
                conn: 0,
                dir: Dir::C2s,
            },
            WireEv::Fin {
                conn: 0,
                dir: Dir::S2c,
            },
        ],
    };
    let cuts = BTreeMap::from([(0, vec![0, 4, 10])]);
    let a = pace(&wire, &cuts);
    let none = BTreeMap::new();
    let after20 = BTreeMap::from([(0, (20, false))]);
    assert_eq!(
        a,
        vec![
            Action::Send {
                conn: 0,
                start: 0,
                end: 4,
                after: none.clone()
            },
            Action::Send {
                conn: 0,
                start: 4,
                end: 10,
                after: none
            },
            Action::Send {
                conn: 0,
                start: 10,
                end: 15,
                after: after20.clone()
            },
            Action::Close {
                conn: 0,
                after: after20
            },
            Action::End {
                after: BTreeMap::from([(0, (20, true))])
            },
        ]
    );
}

#[test]
fn substitutions_replace_sids_and_remask_frames() {
    let captured = b"HTTP/1.1 200 OK\r\n\r\n0{\"sid\":\"AAAAAAAAAAAAAAAAAAAA\",\"x\":1}";
    let live = b"HTTP/1.1 200 OK\r\n\r\n0{\"sid\":\"BBBBBBBBBBBBBBBBBBBB\",\"x\":1}";
    let mut s = Subst::default();
    s.learn(captured, live);
    assert_eq!(
        s.pairs,
        vec![(
            b"AAAAAAAAAAAAAAAAAAAA".to_vec(),
            b"BBBBBBBBBBBBBBBBBBBB".to_vec()
        )]
    );
    // HTTP part: plain text; WebSocket part: a masked frame carrying the sid.
    let key = [0x11, 0x22, 0x33, 0x44];
    let payload = b"sid=AAAAAAAAAAAAAAAAAAAA";
    let mut stream = b"GET /?sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\n\r\n".to_vec();
    let ws = stream.len();
    stream.extend_from_slice(&[0x81, 0x80 | payload.len() as u8]);
    stream.extend_from_slice(&key);
    stream.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let out = s.client_stream(&stream, Some(ws));
    assert_eq!(out.len(), stream.len());
    assert!(
        String::from_utf8_lossy(&out[..ws]).contains("sid=BBBBBBBBBBBBBBBBBBBB"),
        "{out:?}"
    );
    assert_eq!(&out[ws..ws + 6], &stream[ws..ws + 6], "header and key kept");
    let unmasked: Vec<u8> = out[ws + 6..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect();
    assert_eq!(unmasked, b"sid=BBBBBBBBBBBBBBBBBBBB");
    // And back: the live server stream reads as the captured one.
    assert_eq!(s.server_stream(live), captured.to_vec());
    // A Date header differs without being a difference; a body byte is one.
    let a = b"HTTP/1.1 101 X\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\n\r\nab";
    let b = b"HTTP/1.1 101 X\r\nDate: Tue, 02 Jan 2026 10:11:12 GMT\r\n\r\nac";
    let d = trace::differences(a, b);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].1, b"b".to_vec());
}

#[test]
fn a_draft_passes_lint_and_verify_refs() {
    let capture = Path::new("captures/flask-socketio-gevent.pcap");
    let mut c = Collect::default();
    analyze::run_file(capture, &Options::default(), &mut c).unwrap();
    let places = trace::step_places(&c.steps);
    // Step #8 is the upgrade request of conn 1: a synthetic server reads it.
    let StepAt::Bytes { start, end, .. } = places[7] else {
        panic!("step #8 has no bytes: {:?}", places[7]);
    };
    let text = format!(
        "{{\"ev\":\"call\",\"g\":1,\"pkg\":\"gevent\",\"file\":\"gevent/pywsgi.py\",\"line\":727,\"fn\":\"WSGIHandler.handle_one_request\"}}\n\
         {{\"ev\":\"io\",\"g\":1,\"conn\":50000,\"dir\":\"c2s\",\"off\":{start},\"n\":{}}}\n\
         {{\"ev\":\"call\",\"g\":1,\"pkg\":\"gevent-websocket\",\"file\":\"geventwebsocket/handler.py\",\"line\":136,\"fn\":\"WebSocketHandler.upgrade_connection\"}}\n\
         {{\"ev\":\"call\",\"g\":1,\"pkg\":\"gevent\",\"file\":\"gevent/pywsgi.py\",\"line\":835,\"fn\":\"WSGIHandler.finalize_headers.<genexpr>\"}}\n\
         {{\"ev\":\"ret\",\"g\":1}}\n{{\"ev\":\"ret\",\"g\":1}}\n{{\"ev\":\"ret\",\"g\":1}}\n",
        end - start
    );
    let log = parse_log(&text);
    let att = attribute(&log, &places, &HashMap::from([(50000u16, 1u32)]));
    let (course, _) = lessons::bundled();
    let stack = course.stack("flask-socketio-gevent").unwrap();
    let y = trace::draft(stack, &c.steps, &att, &log, 8).unwrap();
    assert!(
        y.contains("function: \"WSGIHandler.handle_one_request\""),
        "{y}"
    );
    assert!(
        y.contains("function: \"WebSocketHandler.upgrade_connection\""),
        "{y}"
    );
    assert!(!y.contains("<genexpr>"), "{y}");
    let dir = std::env::temp_dir().join(format!("dispel-draft-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("draft.yaml"), &y).unwrap();
    let (draft_course, problems) = load_paths(&[dir.join("draft.yaml")]).unwrap();
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(shown.is_empty(), "{y}\n{shown:#?}");
    assert_eq!(draft_course.lessons.len(), 1);
    if let Some(src) = std::env::var_os("DISPEL_SOURCES") {
        let (checked, failures) = lessons::verify::verify(&draft_course, Path::new(&src));
        assert_eq!(checked, 2);
        assert!(failures.is_empty(), "{:?}", failures);
    } else {
        eprintln!("not checking the draft with verify-refs: DISPEL_SOURCES is not set");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn node_stacks_say_they_cannot_be_traced() {
    let out = Command::new(env!("CARGO_BIN_EXE_dispel"))
        .args([
            "lessons",
            "trace",
            "node-socketio",
            "captures/node-socketio-v4.pcap",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Node tracer"), "{err}");
}

fn python_ok() -> bool {
    Command::new(std::env::var("DISPEL_PYTHON").unwrap_or_else(|_| "python3".into()))
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the Python that DISPEL_PYTHON names has venv (build.rs checks
/// python3's, so the test is already ignored without it); under CI=true
/// it must.
fn python_or_skip() -> bool {
    if python_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "python3 with venv is required under CI=true"
    );
    eprintln!("skipping: python3 (with venv) is not available");
    false
}

#[test]
#[cfg_attr(
    dispel_missing_venv,
    ignore = "needs python3 with venv (the reference servers' virtualenv)"
)]
fn the_gevent_stack_proves_the_known_facts() {
    if !python_or_skip() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dispel"))
        .args([
            "lessons",
            "trace",
            "flask-socketio-gevent",
            "captures/flask-socketio-gevent.pcap",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The live exchange is the captured one (up to sids and Date).
    let diffs = rep["differences"].as_array().unwrap();
    assert!(diffs.is_empty(), "{diffs:?}");
    let steps = rep["steps"].as_array().unwrap();
    let verdict = |kind: &str, summary: &str, function: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s["kind"] == kind && s["summary"].as_str().unwrap().contains(summary))
            .flat_map(|s| s["entries"].as_array().unwrap().iter())
            .filter(|e| e["function"] == function)
            .map(|e| e["verdict"].as_str().unwrap().to_string())
            .collect()
    };
    // The 101 goes through pywsgi's _write_with_headers and finalize_headers.
    for f in [
        "WSGIHandler._write_with_headers",
        "WSGIHandler.finalize_headers",
    ] {
        assert_eq!(verdict("http.response", "101", f), vec!["confirmed"], "{f}");
    }
    // The client's second Close is never read by the server: the capture
    // has two client Close frames, and only the first is read live.
    let mut c = Collect::default();
    analyze::run_file(
        Path::new("captures/flask-socketio-gevent.pcap"),
        &Options::default(),
        &mut c,
    )
    .unwrap();
    let closes: Vec<u64> = c
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == "websocket.frame" && s.dir == Dir::C2s)
        .filter(|(_, s)| s.summary.contains("Close"))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert_eq!(closes.len(), 2, "two client Close frames in the capture");
    let unseen: Vec<u64> = rep["unseen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(!unseen.contains(&closes[0]), "{unseen:?}");
    assert!(unseen.contains(&closes[1]), "{unseen:?}");
    // Every entry of the gevent course is confirmed or marked.
    assert_eq!(
        rep["refuted"],
        0,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The Engine.IO 'message' handler runs in the greenlet that read the
    // frame: no task is spawned between the read and the handler.
    let log_path = trace::cache_dir()
        .join("trace")
        .join("runs")
        .join("flask-socketio-gevent.jsonl");
    let text = std::fs::read_to_string(&log_path).unwrap();
    let mut last_read_g = None;
    let mut stacks: HashMap<u64, Vec<String>> = HashMap::new();
    let mut handlers = 0;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            break;
        };
        let g = v["g"].as_u64().unwrap_or(0);
        match v["ev"].as_str() {
            Some("io") if v["dir"] == "c2s" => last_read_g = Some(g),
            Some("call") => {
                let f = format!(
                    "{}:{}",
                    v["file"].as_str().unwrap(),
                    v["fn"].as_str().unwrap()
                );
                let st = stacks.entry(g).or_default();
                if f == "engineio/server.py:Server._trigger_event.run_handler"
                    && st.iter().any(|x| x == "engineio/socket.py:Socket.receive")
                {
                    handlers += 1;
                    assert_eq!(Some(g), last_read_g, "{line}");
                }
                st.push(f);
            }
            Some("ret") => {
                stacks.entry(g).or_default().pop();
            }
            _ => {}
        }
    }
    assert!(handlers > 0, "no message handler ran inside Socket.receive");
}

#[test]
#[cfg_attr(
    dispel_missing_venv,
    ignore = "needs python3 with venv (the reference servers' virtualenv)"
)]
fn the_eventlet_stack_closes_invalid_utf8_with_1011() {
    if !python_or_skip() {
        return;
    }
    // Recorded with captures/record/record.sh eventlet-invalid-utf8: a raw
    // client sends the text "4\xff\xfe" to the eventlet stack.
    let capture = "tests/trace/eventlet-invalid-utf8.pcap";
    let mut c = Collect::default();
    analyze::run_file(Path::new(capture), &Options::default(), &mut c).unwrap();
    let close = c
        .steps
        .iter()
        .find(|s| s.kind == "websocket.frame" && s.dir == Dir::S2c && s.summary.contains("Close"))
        .expect("the server's Close");
    let code = close
        .field("websocket.payload.close.status_code")
        .map(|f| format!("{:?}", f.value));
    assert_eq!(code.as_deref(), Some("UInt(1011)"), "{}", close.summary);
    let out = Command::new(env!("CARGO_BIN_EXE_dispel"))
        .args([
            "lessons",
            "trace",
            "flask-socketio-eventlet",
            capture,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The live server sent the same bytes: its Close is 1011 too.
    assert_eq!(rep["differences"].as_array().unwrap().len(), 0, "{rep}");
    // And the decode error comes from Message.getvalue, through
    // _iter_frames's generic handler (not _recv_frame's 1007).
    let finding = rep["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["lesson"] == "finding-frame-text-invalid-utf8")
        .expect("the finding's lesson is bound");
    let verdict = |f: &str| {
        finding["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["function"] == f)
            .map(|e| e["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(
        verdict("RFC6455WebSocket.Message.getvalue").as_deref(),
        Some("confirmed")
    );
    assert_eq!(
        verdict("RFC6455WebSocket._iter_frames").as_deref(),
        Some("confirmed")
    );
    assert_eq!(rep["refuted"], 0, "{rep}");
}
