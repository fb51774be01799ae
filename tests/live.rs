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
fn streams_like_the_file(capture: &str) {
    let path = tools::root().join(capture);
    let bytes = std::fs::read(&path).unwrap();
    let (header, records) = split(&bytes);
    assert!(records.len() > 10, "{capture}");
    let (mut child, mut stdin, rx) = spawn(&["explain", "-"]);
    // Up to the first packet (pcapng: interface descriptions come first).
    let is_packet = |r: &Vec<u8>| header.len() == 24 || matches!(r[0], 3 | 6);
    let first = records.iter().position(is_packet).unwrap() + 1;
    stdin.write_all(&header).unwrap();
    for r in &records[..first] {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    // The stream is open, with one packet in it: its step must show.
    let mut out = lines_until(&rx, Duration::from_secs(20), |l| l.starts_with("#1 "));
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
        .output()
        .unwrap();
    let file = String::from_utf8(file.stdout).unwrap();
    let mut expected: Vec<&str> = file.lines().collect();
    let first = expected.remove(0);
    assert_eq!(
        out[0],
        first.replacen(&path.display().to_string(), "-", 1),
        "{capture}"
    );
    assert_eq!(out[1..], expected[..], "{capture}");
}

#[test]
fn a_pcap_on_stdin_is_explained_as_it_arrives_and_as_the_file_is() {
    streams_like_the_file("captures/flask-sock-echo.pcap");
}

#[test]
fn a_pcapng_on_stdin_is_explained_as_it_arrives_and_as_the_file_is() {
    streams_like_the_file("captures/flask-socketio-ipv6.pcapng");
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
