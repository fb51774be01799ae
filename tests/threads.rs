//! A run on two threads (the default: capture reading, reassembly, HTTP and
//! WebSocket on one, Engine.IO and the output on the other) must be the
//! run on one thread, step for step: same steps, same numbers, same report,
//! same error. Checked on every real capture and every hostile one, in full
//! and in `check`'s detail, and for a sink that reads only findings (steps
//! it skips must still count in the numbering). A sink whose output fails
//! stops both threads.

mod support;
mod tools;

use std::io;

use dispel::analyze::{self, Collect, Interest, Options, Rendered, Report, RunError, Sink};
use dispel::error::CaptureError;
use dispel::step::{Step, Value};
use dispel::tcp::ConnMeta;

fn opts(single_thread: bool) -> Options {
    Options {
        single_thread,
        ..Options::default()
    }
}

/// Everything a step carries, for comparison (steps hold spans into
/// buffers; their Debug form covers both).
fn whole(s: &Step) -> String {
    format!("{s:?}")
}

#[test]
fn two_threads_give_the_one_thread_trace_on_every_capture() {
    let mut steps = 0;
    for path in tools::captures_and_hostile() {
        let name = path.display();
        let mut one = Collect::default();
        let r1 = analyze::run_file(&path, &opts(true), &mut one);
        let mut two = Collect::default();
        let r2 = analyze::run_file(&path, &opts(false), &mut two);
        assert_eq!(
            one.steps.len(),
            two.steps.len(),
            "{name}: step counts differ"
        );
        for (i, (a, b)) in one.steps.iter().zip(&two.steps).enumerate() {
            assert_eq!(whole(a), whole(b), "{name}: step {} differs", i + 1);
        }
        assert_eq!(
            format!("{:?}", one.connections),
            format!("{:?}", two.connections),
            "{name}: connections differ"
        );
        assert_eq!(
            format!("{:?}", one.report),
            format!("{:?}", two.report),
            "{name}: reports differ"
        );
        assert_eq!(one.error, two.error, "{name}: errors differ");
        assert_eq!(
            r1.map_err(|e| e.to_string()).map(|r| r.steps),
            r2.map_err(|e| e.to_string()).map(|r| r.steps),
            "{name}: results differ"
        );
        steps += one.steps.len();
    }
    assert!(steps > 2000, "only {steps} steps");
}

/// SYNTHETIC: a Socket.IO conversation over WebSocket long enough to cross
/// the threads in many batches, with WebSocket pings whose pongs come a few
/// messages later (a pong names its ping's step number, which only the
/// second thread knows), and an event acknowledged 2,000 messages on.
fn long_socketio_conversation() -> Vec<u8> {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut ex: support::Exchange = vec![
        (
            true,
            support::upgrade_request("/socket.io/?EIO=4&transport=websocket", key, &[]),
        ),
        (false, support::upgrade_response(key, &[])),
        (
            false,
            support::stext(
                r#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
            ),
        ),
        (true, support::ctext("40")),
        (false, support::stext(r#"40{"sid":"n1"}"#)),
        (true, support::ctext(r#"421["hello"]"#)),
    ];
    for i in 0..3000 {
        ex.push((false, support::stext(&format!(r#"42["tick",{i}]"#))));
        if i % 97 == 0 {
            ex.push((true, support::cframe(0x9, format!("p{i}").as_bytes())));
        }
        if i % 97 == 3 {
            ex.push((
                false,
                support::sframe(0xA, format!("p{}", i - 3).as_bytes()),
            ));
        }
        if i == 2000 {
            ex.push((false, support::stext(r#"431[]"#)));
        }
    }
    support::conv_pcap(&ex)
}

#[test]
fn a_long_conversation_crosses_in_many_batches_and_matches() {
    let bytes = long_socketio_conversation();
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &bytes).unwrap();
    let mut one = Collect::default();
    analyze::run_file(path.path(), &opts(true), &mut one).unwrap();
    let mut two = Collect::default();
    analyze::run_file(path.path(), &opts(false), &mut two).unwrap();
    assert!(one.steps.len() > 12_000, "{} steps", one.steps.len());
    assert_eq!(one.steps.len(), two.steps.len());
    for (i, (a, b)) in one.steps.iter().zip(&two.steps).enumerate() {
        assert_eq!(whole(a), whole(b), "step {} differs", i + 1);
    }
    // Every pong answers its ping, by the ping's own number.
    let mut pongs = 0;
    for s in &two.steps {
        if let Some(f) = s.field("websocket.pong.answers") {
            let Value::UInt(n) = f.value else {
                panic!("unanswered pong: {}", s.summary)
            };
            let ping = &two.steps[n as usize - 1];
            assert!(
                ping.field("websocket.payload.ping").is_some(),
                "{}",
                ping.summary
            );
            pongs += 1;
        }
    }
    assert_eq!(pongs, 31);
    // The ack names the event's step.
    let ack = two
        .steps
        .iter()
        .find(|s| s.kind == "socketio.packet" && s.summary.contains("ACK"))
        .expect("the ack's step");
    let Some(Value::UInt(n)) = ack.field("socketio.ack.answers").map(|f| &f.value) else {
        panic!("the ack answers nothing: {:?}", ack.fields)
    };
    let event = &two.steps[*n as usize - 1];
    assert_eq!(event.kind, "socketio.packet");
    assert!(event.summary.contains("hello"), "{}", event.summary);
}

/// Reads only findings, as `check` does, and keeps the numbers the run
/// gives the steps it is handed.
#[derive(Default)]
struct FindingsOnly {
    seen: Vec<(u64, &'static str, Vec<&'static str>)>,
    /// Steps the run numbered, from its report.
    steps: u64,
}

impl Sink for FindingsOnly {
    fn connection(&mut self, _meta: &ConnMeta) -> io::Result<()> {
        Ok(())
    }
    fn step(&mut self, n: u64, step: &Step, _: Rendered<'_>) -> io::Result<()> {
        let rules = step.findings.iter().map(|f| f.rule.id).collect();
        self.seen.push((n, step.kind, rules));
        Ok(())
    }
    fn finish(&mut self, report: &Report, _error: Option<&CaptureError>) -> io::Result<()> {
        self.steps = report.steps;
        Ok(())
    }
    fn interest(&self) -> Interest {
        Interest::reading(|_| false, |_| false)
    }
}

/// Whether a findings-only sink is handed this step of a full run: every
/// step but data frames and messages without findings.
fn handed_over(s: &Step) -> bool {
    let control = s
        .field("websocket.opcode")
        .is_some_and(|f| matches!(f.value, Value::UInt(op) if op >= 8));
    !s.findings.is_empty()
        || !matches!(s.kind, "websocket.frame" | "websocket.message")
        || (s.kind == "websocket.frame" && control)
}

#[test]
fn skipped_steps_keep_their_numbers_on_one_thread_and_two() {
    let mut skipped = 0;
    for path in tools::captures_and_hostile() {
        let name = path.display();
        let mut full = Collect::default();
        let _ = analyze::run_file(&path, &opts(true), &mut full);
        let want: Vec<(u64, &'static str, Vec<&'static str>)> = full
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| handed_over(s))
            .map(|(i, s)| {
                let rules = s.findings.iter().map(|f| f.rule.id).collect();
                (i as u64 + 1, s.kind, rules)
            })
            .collect();
        for single_thread in [true, false] {
            let mut sink = FindingsOnly::default();
            let _ = analyze::run_file(&path, &opts(single_thread), &mut sink);
            let steps = sink.steps;
            assert_eq!(
                sink.seen, want,
                "{name} (single_thread: {single_thread}): handed-over steps differ"
            );
            assert_eq!(
                steps,
                full.steps.len() as u64,
                "{name} (single_thread: {single_thread}): step count differs"
            );
            skipped += steps - sink.seen.len() as u64;
        }
    }
    assert!(skipped > 1000, "only {skipped} steps skipped");
}

/// Fails writing its `n`th step, as a closed pipe does.
struct FailsAt {
    n: u64,
    got: u64,
}

impl Sink for FailsAt {
    fn connection(&mut self, _meta: &ConnMeta) -> io::Result<()> {
        Ok(())
    }
    fn step(&mut self, _n: u64, _step: &Step, _: Rendered<'_>) -> io::Result<()> {
        self.got += 1;
        if self.got == self.n {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed"));
        }
        Ok(())
    }
    fn finish(&mut self, _report: &Report, _error: Option<&CaptureError>) -> io::Result<()> {
        panic!("finish after an output error");
    }
}

#[test]
fn an_output_error_stops_both_threads_at_that_step() {
    let path = tools::root().join("captures/impaired-flask-sock.pcap");
    for single_thread in [true, false] {
        let mut sink = FailsAt { n: 100, got: 0 };
        let r = analyze::run_file(&path, &opts(single_thread), &mut sink);
        assert!(
            matches!(&r, Err(RunError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe),
            "single_thread: {single_thread}: {r:?}"
        );
        assert_eq!(sink.got, 100, "single_thread: {single_thread}");
    }
}

/// `--format ndjson` (whose steps built on the reading thread are rendered
/// there) writes the same bytes on one thread and two, whatever the filter.
#[test]
fn ndjson_is_the_same_bytes_on_one_thread_and_two() {
    use dispel::output::Filter;
    use dispel::output::ndjson::NdjsonSink;
    let filters = [
        Filter::default(),
        Filter {
            conn: Some(1),
            kinds: Vec::new(),
        },
        Filter {
            conn: None,
            kinds: vec!["websocket.frame".into(), "engineio".into()],
        },
    ];
    let mut lines = 0;
    for path in tools::captures_and_hostile() {
        for filter in &filters {
            let out = |single_thread: bool| {
                let mut buf = Vec::new();
                let mut sink = NdjsonSink::new(&mut buf, filter.clone());
                let _ = analyze::run_file(&path, &opts(single_thread), &mut sink);
                drop(sink);
                buf
            };
            let (one, two) = (out(true), out(false));
            assert!(
                one == two,
                "{} ({filter:?}): ndjson differs",
                path.display()
            );
            lines += one.iter().filter(|&&b| b == b'\n').count();
        }
    }
    assert!(lines > 2000, "{lines} lines");
}
