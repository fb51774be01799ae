//! `-`: a capture streamed on standard input. Real captures from
//! `captures/` are fed to the binary through a pipe record by record, with
//! pauses, while its output is read as it comes.

mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value as J;

const BIN: &str = env!("CARGO_BIN_EXE_dispel");

/// A capture split into its file header and its records (pcap records, or
/// pcapng blocks after the section header), both little-endian.
fn split(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let pcapng = bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
    let u32le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let (header_len, record_len): (usize, &dyn Fn(usize) -> usize) = if pcapng {
        (u32le(4), &|at| u32le(at + 4))
    } else {
        (24, &|at| 16 + u32le(at + 8))
    };
    let mut records = Vec::new();
    let mut at = header_len;
    while at < bytes.len() {
        let len = record_len(at);
        records.push(bytes[at..at + len].to_vec());
        at += len;
    }
    (bytes[..header_len].to_vec(), records)
}

/// `dispel ARGS` with piped stdin and stdout; stdout lines arrive on the
/// receiver as they are written.
fn spawn(args: &[&str]) -> (Child, ChildStdin, Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, stdin, rx)
}

/// Lines from `rx` until one satisfies `done`, within `limit`.
fn lines_until(rx: &Receiver<String>, limit: Duration, done: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let stop = done(&l);
                got.push(l);
                if stop {
                    return got;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no matching line within {limit:?}; got: {got:?}");
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// Kills `child` if it has not exited within `limit` (then fails).
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("dispel did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Feeds `capture` to `dispel explain -` a record at a time: the first
/// step must be printed while the stream is still open, and the whole
/// output must be the file's (but the capture's name on the first line).
fn streams_like_the_file(capture: &str, format: &str) {
    let path = tools::root().join(capture);
    let bytes = std::fs::read(&path).unwrap();
    let (header, records) = split(&bytes);
    assert!(records.len() > 10, "{capture}");
    let (mut child, mut stdin, rx) = spawn(&["explain", "-", "--format", format]);
    // Up to the first packet (pcapng: interface descriptions come first).
    let is_packet = |r: &Vec<u8>| header.len() == 24 || matches!(r[0], 3 | 6);
    let first = records.iter().position(is_packet).unwrap() + 1;
    stdin.write_all(&header).unwrap();
    for r in &records[..first] {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    // The stream is open, with one packet in it: its step must show.
    let first_step = |l: &str| l.starts_with("#1 ") || l.starts_with(r#"{"type":"step","step":1,"#);
    let mut out = lines_until(&rx, Duration::from_secs(20), first_step);
    for r in &records[first..] {
        stdin.write_all(r).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(stdin);
    let status = wait(&mut child, Duration::from_secs(60));
    out.extend(rx.iter());
    assert!(status.success(), "{capture}: {}", stderr_of(&mut child));

    let file = Command::new(BIN)
        .arg("explain")
        .arg(&path)
        .args(["--format", format])
        .output()
        .unwrap();
    let file = String::from_utf8(file.stdout).unwrap();
    let mut expected: Vec<&str> = file.lines().collect();
    let first = expected.remove(0);
    assert_eq!(
        out[0],
        first.replacen(&path.display().to_string(), "-", 1),
        "{capture} {format}"
    );
    assert_eq!(out[1..], expected[..], "{capture} {format}");
}

#[test]
fn a_pcap_on_stdin_is_explained_as_it_arrives_and_as_the_file_is() {
    streams_like_the_file("captures/flask-sock-echo.pcap", "text");
    streams_like_the_file("captures/flask-sock-echo.pcap", "ndjson");
}

#[test]
fn a_pcapng_on_stdin_is_explained_as_it_arrives_and_as_the_file_is() {
    streams_like_the_file("captures/flask-socketio-ipv6.pcapng", "text");
}

#[test]
fn a_stream_cut_mid_record_is_reported_like_a_truncated_file() {
    let path = tools::root().join("captures/flask-sock-echo.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let (header, records) = split(&bytes);
    let (mut child, mut stdin, rx) = spawn(&["explain", "-"]);
    stdin.write_all(&header).unwrap();
    for r in &records[..5] {
        stdin.write_all(r).unwrap();
    }
    let cut = &records[5];
    stdin.write_all(&cut[..cut.len() / 2]).unwrap();
    drop(stdin);
    let status = wait(&mut child, Duration::from_secs(30));
    let out: Vec<String> = rx.iter().collect();
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(2), "{err}");
    // What came before is printed: the first five packets' steps.
    assert!(out.iter().any(|l| l.starts_with("#1 ")), "{out:?}");
    assert!(out.iter().any(|l| l.contains("stopped early")), "{out:?}");
    let offset = header.len() + records[..5].iter().map(Vec::len).sum::<usize>();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "dispel: -: truncated packet record at byte {offset} (packet 6)"
        )),
        "{err}"
    );
}

#[test]
fn ctrl_c_during_a_json_run_leaves_valid_json_with_what_was_seen() {
    let path = tools::root().join("captures/flask-sock-echo.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let (header, records) = split(&bytes);
    let (mut child, mut stdin, rx) = spawn(&["explain", "-", "--format", "json"]);
    stdin.write_all(&header).unwrap();
    for r in &records[..8] {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    // Give it time to read them; the stream stays open.
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = wait(&mut child, Duration::from_secs(20));
    drop(stdin);
    let out: Vec<String> = rx.iter().collect();
    let err = stderr_of(&mut child);
    assert!(status.success(), "{status:?} {err}");
    let doc: J = serde_json::from_str(&out.join("\n")).expect("valid JSON after Ctrl-C");
    let steps = doc["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "the steps seen before Ctrl-C");
    assert_eq!(doc["summary"]["packets"], 8, "{}", doc["summary"]);
}

#[test]
fn check_and_streams_read_stdin() {
    let path = tools::root().join("captures/broken-server-masked.pcap");
    let bytes = std::fs::read(&path).unwrap();
    for (args, code, needle) in [
        (&["check", "-"][..], 1, "FAILED"),
        (&["streams", "-"][..], 0, "1 connections"),
    ] {
        let (mut child, mut stdin, rx) = spawn(args);
        stdin.write_all(&bytes).unwrap();
        drop(stdin);
        let status = wait(&mut child, Duration::from_secs(30));
        let out = rx.iter().collect::<Vec<_>>().join("\n");
        assert_eq!(status.code(), Some(code), "{args:?}: {out}");
        assert!(out.contains(needle), "{args:?}: {out}");
    }
}

/// Runs dispel with `args` and no tool on PATH: exit 2 and one line on
/// stderr, returned.
fn one_line_error(args: &[&str]) -> String {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", empty.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn live_without_a_capture_tool_says_what_to_install() {
    let err = one_line_error(&["explain", "--live"]);
    assert!(
        err.starts_with("dispel: --live needs tcpdump or dumpcap") && err.contains("install"),
        "{err}"
    );
}

/// Standard input can be read once: `check - -` is refused in one line.
#[test]
fn standard_input_is_named_once() {
    assert_eq!(
        one_line_error(&["check", "-", "-"]),
        "dispel: standard input (-) can be read once: name it once among the captures\n"
    );
}

/// `--live` takes an optional interface, so `--live x.pcap` would read
/// the capture as an interface name: it is one clear line instead, before
/// any tool starts.
#[test]
fn a_capture_file_given_to_live_is_not_taken_for_an_interface() {
    let err = one_line_error(&["explain", "--live", "captures/flask-sock-echo.pcap"]);
    assert!(
        err.starts_with("dispel: --live takes an interface") && err.contains("drop --live"),
        "{err}"
    );
}

/// Whether this test can capture in a private network namespace: root,
/// tcpdump, unshare, ip and python3 (skipped visibly otherwise; under
/// CI=true, CI runs as root with them installed, so their absence fails).
fn can_capture_in_a_namespace() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !root {
        assert!(!ci, "the --live test runs as root under CI=true");
        eprintln!("skipping: the --live test needs root (a private network namespace)");
        return false;
    }
    ["tcpdump", "python3"].iter().all(|t| tools::have(t))
        && ["unshare", "ip"].iter().all(|t| {
            let found = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {t}"))
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                assert!(!ci, "{t} is required under CI=true");
                eprintln!("skipping: {t} is not installed");
            }
            found
        })
}

/// `dispel explain --live` on the loopback of a private network namespace,
/// a real server and client from `captures/record/` talking on port 5000
/// (in the default filter): the steps are printed while the capture runs,
/// and Ctrl-C ends it cleanly.
#[test]
#[cfg_attr(
    dispel_missing_netns,
    ignore = "needs root, tcpdump and iproute2 (a private network namespace)"
)]
fn live_capture_on_loopback_in_a_private_namespace() {
    if !can_capture_in_a_namespace() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rec = tools::root().join("captures/record/py");
    let script = r#"
set -u
ip link set lo up || exit 90
"$DISPEL" explain --live --format ndjson > "$DIR/out" 2> "$DIR/err" &
D=$!
for i in $(seq 100); do grep -q 'capturing on lo' "$DIR/err" && break; sleep 0.1; done
python3 "$REC/broken_server.py" server-masked 127.0.0.1 5000 > "$DIR/server" 2>&1 &
S=$!
for i in $(seq 50); do grep -q listening "$DIR/server" && break; sleep 0.1; done
timeout 20 python3 "$REC/raw_client.py" 127.0.0.1 5000 > "$DIR/client" 2>&1
echo "client $?" > "$DIR/status"
# The steps show while the capture still runs.
for i in $(seq 100); do grep -q '"tcp.fin"' "$DIR/out" && break; sleep 0.1; done
grep -q '"tcp.fin"' "$DIR/out" && echo "seen-live" >> "$DIR/status"
kill -INT $D
wait $D
echo "dispel $?" >> "$DIR/status"
kill $S
"#;
    let out = Command::new("timeout")
        .args(["60", "unshare", "-n", "sh", "-c", script])
        .env("DISPEL", BIN)
        .env("DIR", dir.path())
        .env("REC", &rec)
        .output()
        .unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
    if out.status.code() == Some(90) || String::from_utf8_lossy(&out.stderr).contains("unshare") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no private network namespace under CI=true: {out:?}"
        );
        eprintln!("skipping: cannot make a private network namespace: {out:?}");
        return;
    }
    let status = read("status");
    let err = read("err");
    assert!(status.contains("client 0"), "{status} {}", read("client"));
    assert!(
        status.contains("seen-live"),
        "{status}\n{err}\n{}",
        read("out")
    );
    assert!(status.contains("dispel 0"), "{status}\n{err}");
    let lines: Vec<J> = read("out")
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson"))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    for k in [
        "tcp.syn",
        "http.request",
        "websocket.handshake",
        "websocket.frame",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // The server masks its echo: the finding the capture is recorded for.
    assert!(
        read("out").contains("frame.server-masked"),
        "{}",
        read("out")
    );
    assert_eq!(err.lines().count(), 1, "only the capturing line: {err}");
}

/// A capture tool that may not capture (a stand-in script printing what
/// tcpdump prints without the capability): one line naming the capability
/// to grant, at once.
#[test]
fn live_without_permission_says_which_capability_to_grant() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("tcpdump");
    std::fs::write(
        &tool,
        "#!/bin/sh\necho \"tcpdump: lo: You don't have permission to perform this capture on that device\" >&2\n\
         echo '(socket: Operation not permitted)' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["replay", "--live"])
        .env("PATH", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "no hang");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("dispel: tcpdump may not capture on lo")
            && err.contains(&format!(
                "setcap cap_net_raw,cap_net_admin+eip {}",
                tool.display()
            ))
            && err.contains("You don't have permission"),
        "{err}"
    );
}

/// The TUI's live feed: a stream cut mid-record is analysed up to the cut,
/// counted, and `save` writes the bytes up to the last whole record.
#[test]
fn a_live_feed_counts_packets_and_saves_whole_records() {
    use dispel::analyze::{Collect, Options};
    use dispel::tui::live::LiveFeed;
    let bytes = std::fs::read(tools::root().join("captures/flask-sock-echo.pcap")).unwrap();
    let (header, records) = split(&bytes);
    let whole = header.len() + records[..7].iter().map(Vec::len).sum::<usize>();
    let cut = bytes[..whole + records[7].len() / 2].to_vec();
    let input = dispel::live::Input::spawn(std::io::Cursor::new(cut)).unwrap();
    let feed = LiveFeed::new("-".into(), input).unwrap();
    let mut sink = Collect::default();
    feed.run(&Options::default(), &mut sink);
    assert_eq!(feed.packets(), 7);
    assert!(
        sink.error.as_deref().unwrap_or("").contains("truncated"),
        "{:?}",
        sink.error
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("saved.pcap");
    assert_eq!(feed.save(&dest).unwrap(), 7);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes[..whole]);
}

/// `F` selects the newest step and keeps following; moving up stops it.
/// `w` on a file says it is for live sessions.
#[test]
fn follow_jumps_to_the_newest_step_and_moving_up_stops_it() {
    use dispel::analyze::Options;
    use dispel::tui::keys::Action;
    use dispel::tui::{App, MemTimeline, NoLessons, Source};
    let tl = MemTimeline::load_blocking(
        Source::File(tools::root().join("captures/flask-sock-echo.pcap")),
        Options::default(),
    );
    let mut app = App::new(Box::new(tl), Box::new(NoLessons::default()), None);
    app.handle(Action::Resize(120, 35));
    let first = app.selected;
    app.handle(Action::Tail);
    assert!(app.follow);
    let newest = app.selected;
    assert_ne!(newest, first);
    app.handle(Action::Last);
    assert_eq!(app.selected, newest, "F selected the last row");
    app.handle(Action::PrevStep);
    assert!(!app.follow, "moving up stops following");
    app.handle(Action::WriteCapture);
    assert!(
        app.message
            .as_deref()
            .unwrap_or("")
            .contains("live session"),
        "{:?}",
        app.message
    );
}
