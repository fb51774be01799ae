//! The `dispel` binary: bad input, exit codes, the ndjson and streams JSON
//! contracts, help, and a closed stdout.
//!
//! Bad inputs are SYNTHETIC: bytes written here (or with `support`'s
//! builders) into temporary files. The output-contract tests run on the real
//! captures in `captures/`.

mod support;
mod tools;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value as J;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_dispel");

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A temporary capture file holding `bytes`.
fn temp_capture(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .prefix("dispel-bad-")
        .suffix(".pcap")
        .tempfile()
        .unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

/// Runs dispel with `args`, its address space capped at 1 GiB: a buffer
/// sized from a length in the file (up to 4 GiB) cannot be allocated, so
/// such an allocation fails the run instead of passing unnoticed.
fn dispel_capped(args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .timeout(Duration::from_secs(60));
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("UTF-8 output")
}

/// Parses every line of ndjson output; each must be an object with a "type".
fn ndjson_lines(stdout: &str) -> Vec<J> {
    assert!(
        stdout.is_empty() || stdout.ends_with('\n'),
        "unterminated line"
    );
    stdout
        .lines()
        .map(|l| {
            let v: J = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.get("type").and_then(J::as_str).is_some(), "no type: {l}");
            v
        })
        .collect()
}

/// Runs a bad input through `explain --format ndjson`, `explain` (text) and
/// `streams --format json`; each must exit 2 with exactly one stderr line
/// `dispel: PATH: …`, the same line, and no panic. The ndjson output must be
/// valid and end with a summary carrying the same error. Returns the message
/// (after the prefix) and the ndjson lines.
fn bad_input(bytes: &[u8]) -> (String, Vec<J>) {
    let f = temp_capture(bytes);
    let path = f.path();
    let prefix = format!("dispel: {}: ", path.display());
    let mut message = None;
    let runs: [&[&str]; 3] = [
        &["explain", "--format", "ndjson"],
        &["explain"],
        &["streams", "--format", "json"],
    ];
    let mut ndjson = Vec::new();
    for (i, args) in runs.iter().enumerate() {
        let mut argv: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        argv.push(path.as_os_str());
        let out = dispel_capped(&argv);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.ends_with('\n'));
        let line = stderr.trim_end_matches('\n');
        let msg = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{args:?}: {line}"))
            .to_string();
        assert!(!msg.is_empty());
        match &message {
            None => message = Some(msg),
            Some(m) => assert_eq!(m, &msg, "{args:?}: same message"),
        }
        if i == 0 {
            ndjson = ndjson_lines(&text(&out.stdout));
            let last = ndjson.last().expect("a summary line");
            assert_eq!(last["type"], "summary");
            assert_eq!(last["error"].as_str(), message.as_deref(), "summary error");
        }
    }
    (message.unwrap(), ndjson)
}

/// The synthetic conversation (NOT HTTP: raw TCP data) as Ethernet records.
fn conversation_records() -> Vec<Vec<u8>> {
    conversation(
        7000,
        9000,
        &[
            (true, b"\x00\x01hello-binary"),
            (false, b"\x00\x02reply"),
            (true, b"\x00\x03bye"),
        ],
    )
    .iter()
    .map(|s| ethernet(&ip_packet(s, CLIENT, SERVER)))
    .collect()
}

/// A valid 9-record pcap of the conversation.
fn valid_pcap() -> Vec<u8> {
    pcap(1, &conversation_records())
}

/// A valid pcapng (one section, one Ethernet interface) of the conversation.
fn valid_pcapng() -> Vec<u8> {
    let mut ng = PcapNg::default();
    ng.section();
    ng.interface(1, 6);
    for (i, r) in conversation_records().iter().enumerate() {
        ng.packet(0, 1_700_000_000 + i as u64, 0, r);
    }
    ng.bytes
}

/// A little-endian pcap record header.
fn record_header(caplen: u32, origlen: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&1_700_000_100u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&caplen.to_le_bytes());
    v.extend_from_slice(&origlen.to_le_bytes());
    v
}

/// A little-endian pcapng block with explicit length fields.
fn ng_block(kind: u32, len: u32, body: &[u8], trailer: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(body);
    v.extend_from_slice(&trailer.to_le_bytes());
    v
}

/// The frames of every step line of ndjson output.
fn step_frames(lines: &[J]) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| l["type"] == "step")
        .flat_map(|l| l["frames"].as_array().unwrap().clone())
        .map(|f| f.as_u64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn empty_file() {
    let (msg, lines) = bad_input(b"");
    assert!(msg.contains("empty"), "{msg}");
    assert!(msg.contains("not a pcap or pcapng capture"), "{msg}");
    assert_eq!(lines.len(), 1);
}

#[test]
fn text_file() {
    let (msg, lines) = bad_input(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(msg.contains("not a pcap or pcapng capture"), "{msg}");
    assert!(msg.contains("47455420"), "shows the first bytes: {msg}");
    assert_eq!(lines.len(), 1);
}

#[test]
fn wrong_magic() {
    let mut bytes = vec![0xde, 0xad, 0xbe, 0xef];
    bytes.extend_from_slice(&valid_pcap()[4..]);
    let (msg, _) = bad_input(&bytes);
    assert!(msg.contains("not a pcap or pcapng capture"), "{msg}");
    assert!(msg.contains("deadbeef"), "{msg}");
}

#[test]
fn pcap_header_cut_at_ten_bytes() {
    let (msg, lines) = bad_input(&valid_pcap()[..10]);
    assert_eq!(
        msg,
        "truncated pcap file header at byte 0: 24 bytes needed, 10 present"
    );
    assert_eq!(lines.len(), 1);
}

#[test]
fn pcapng_section_header_cut_short() {
    let (msg, lines) = bad_input(&valid_pcapng()[..20]);
    assert!(
        msg.starts_with("truncated pcapng section header block at byte 0"),
        "{msg}"
    );
    assert!(msg.contains("20 present"), "{msg}");
    assert_eq!(lines.len(), 1);
}

/// A valid 9-record capture, then record 10 announcing 1514 bytes of which
/// 210 are present. Returns the file, the record's offset.
fn capture_with_truncated_record() -> (Vec<u8>, usize) {
    let mut bytes = valid_pcap();
    let offset = bytes.len();
    assert_eq!(
        offset,
        24 + conversation_records()
            .iter()
            .map(|r| 16 + r.len())
            .sum::<usize>()
    );
    bytes.extend(record_header(1514, 1514));
    bytes.extend((0..210u32).map(|b| b as u8));
    (bytes, offset)
}

#[test]
fn truncated_record_after_valid_ones_keeps_their_output() {
    let (bytes, offset) = capture_with_truncated_record();
    let (msg, lines) = bad_input(&bytes);
    let head = format!("truncated packet record at byte {offset} (packet 10): ");
    assert!(msg.starts_with(&head), "{msg}");
    let rest = msg.strip_prefix(&head).unwrap();
    let (announced, present) = rest
        .strip_suffix(" present")
        .and_then(|r| r.split_once(" bytes announced, "))
        .unwrap_or_else(|| panic!("{msg}"));
    let announced: u64 = announced.parse().unwrap();
    let present: u64 = present.parse().unwrap();
    assert!(present < announced, "{msg}");
    // Everything before the bad record was decoded and output.
    assert_eq!(step_frames(&lines), [1, 2, 4, 5, 6, 7, 8]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["packets"], 9);
    assert_eq!(summary["connections"], 1);
    assert_eq!(lines[0]["type"], "capture");
    assert_eq!(lines[1]["type"], "connection");
}

#[test]
fn truncated_record_message_is_exactly_the_specified_one() {
    let (bytes, offset) = capture_with_truncated_record();
    let (msg, _) = bad_input(&bytes);
    assert_eq!(
        msg,
        format!(
            "truncated packet record at byte {offset} (packet 10): 1514 bytes announced, 210 present"
        )
    );
}

#[test]
fn record_claiming_four_gigabytes() {
    let mut bytes = valid_pcap();
    let offset = bytes.len();
    bytes.extend(record_header(0xFFFF_FFF0, 0xFFFF_FFF0));
    bytes.extend_from_slice(&[0x55; 100]);
    let (msg, lines) = bad_input(&bytes);
    assert!(
        msg.starts_with(&format!(
            "truncated packet record at byte {offset} (packet 10): "
        )),
        "{msg}"
    );
    assert_eq!(step_frames(&lines), [1, 2, 4, 5, 6, 7, 8]);
}

#[test]
fn first_record_claiming_four_gigabytes() {
    let mut bytes = valid_pcap()[..24].to_vec();
    bytes.extend(record_header(0xFFFF_FFF0, 60));
    bytes.extend_from_slice(&[0x55; 60]);
    let (msg, lines) = bad_input(&bytes);
    assert!(
        msg.starts_with("truncated packet record at byte 24 (packet 1): "),
        "{msg}"
    );
    assert_eq!(lines.len(), 1);
}

#[test]
fn record_over_the_size_limit_that_the_file_does_hold() {
    // 17 MiB really present: not truncated, but over the 16 MiB record limit.
    let mut bytes = valid_pcap();
    let offset = bytes.len();
    let len = 17 * 1024 * 1024;
    bytes.extend(record_header(len, len));
    bytes.resize(bytes.len() + len as usize, 0);
    let (msg, lines) = bad_input(&bytes);
    assert!(
        msg.contains(&format!("at byte {offset} (packet 10)")),
        "{msg}"
    );
    assert_eq!(step_frames(&lines), [1, 2, 4, 5, 6, 7, 8]);
}

#[test]
fn pcapng_block_with_absurd_length() {
    let mut bytes = valid_pcapng();
    let offset = bytes.len();
    bytes.extend(ng_block(6, 0xFFFF_FFF0, &[0; 40], 0));
    let (msg, lines) = bad_input(&bytes);
    assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
    assert!(msg.contains("(packet 10)"), "{msg}");
    assert_eq!(step_frames(&lines), [1, 2, 4, 5, 6, 7, 8]);
}

#[test]
fn pcapng_block_length_smaller_than_twelve() {
    // An enhanced packet block claiming 8 bytes, then a valid one.
    let good = valid_pcapng();
    let mut bytes = good.clone();
    let offset = bytes.len();
    bytes.extend(ng_block(6, 8, &[], 8));
    let tail = {
        let mut ng = PcapNg::default();
        ng.section();
        ng.interface(1, 6);
        let shb_idb = ng.bytes.len();
        ng.packet(0, 1_700_000_200, 0, &conversation_records()[0]);
        ng.bytes[shb_idb..].to_vec()
    };
    bytes.extend(tail);
    let (msg, lines) = bad_input(&bytes);
    assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
    assert_eq!(step_frames(&lines), [1, 2, 4, 5, 6, 7, 8]);
}

#[test]
fn pcapng_short_process_information_block() {
    let mut bytes = valid_pcapng();
    let offset = bytes.len();
    bytes.extend(ng_block(0x8000_0001, 8, &[], 8));
    let (msg, _) = bad_input(&bytes);
    assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
}

#[test]
fn pcapng_block_length_not_a_multiple_of_four() {
    // An unknown block of 13 bytes whose trailing length matches, then a
    // valid enhanced packet block (now 1 byte off its boundary).
    let mut bytes = valid_pcapng();
    let offset = bytes.len();
    bytes.extend(ng_block(0x0000_0101, 13, b"x", 13));
    bytes.extend(ng_block(6, 32, &[0; 20], 32));
    let (msg, _) = bad_input(&bytes);
    assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
}

#[test]
fn pcapng_packet_longer_than_its_block() {
    // An enhanced packet block of 36 bytes claiming 4000 captured bytes,
    // followed by 300 kB of another block: the reader must report it, not
    // spin.
    let mut bytes = valid_pcapng();
    let offset = bytes.len();
    let mut epb = Vec::new();
    for v in [0u32, 0, 0, 4000, 4000] {
        epb.extend_from_slice(&v.to_le_bytes());
    }
    epb.extend_from_slice(b"abcd");
    bytes.extend(ng_block(
        6,
        12 + epb.len() as u32,
        &epb,
        12 + epb.len() as u32,
    ));
    let filler = vec![0u8; 300_000];
    bytes.extend(ng_block(
        0x0000_0101,
        12 + filler.len() as u32,
        &filler,
        12 + filler.len() as u32,
    ));
    let (msg, _) = bad_input(&bytes);
    assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
}

#[test]
fn nonexistent_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-capture.pcap");
    let out = Command::cargo_bin("dispel")
        .unwrap()
        .arg("explain")
        .arg(&path)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("dispel: {}: cannot read: ", path.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

// ---------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------

#[test]
fn help_has_examples() {
    for args in [
        vec!["--help"],
        vec!["explain", "--help"],
        vec!["streams", "--help"],
    ] {
        let out = Command::cargo_bin("dispel")
            .unwrap()
            .args(&args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("Example"), "{args:?}: {stdout}");
        assert!(stdout.contains("Usage"), "{args:?}: {stdout}");
    }
}

// ---------------------------------------------------------------------------
// The ndjson contract on real captures
// ---------------------------------------------------------------------------

fn run_ok(args: &[&str], capture: &Path) -> Vec<u8> {
    let out = Command::cargo_bin("dispel")
        .unwrap()
        .args(args)
        .arg(capture)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} {}: {}",
        capture.display(),
        text(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    out.stdout
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
fn today_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Civil date from days since the epoch (H. Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Every string anywhere in a JSON value.
fn strings(v: &J, out: &mut Vec<String>) {
    match v {
        J::String(s) => out.push(s.clone()),
        J::Array(a) => a.iter().for_each(|x| strings(x, out)),
        J::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

fn check_ndjson_contract(capture: &Path) {
    let name = capture.display().to_string();
    let walked = walk(&std::fs::read(capture).unwrap());
    let lines = ndjson_lines(&text(&run_ok(&["explain", "--format", "ndjson"], capture)));
    assert!(lines.len() >= 3, "{name}");
    let first = &lines[0];
    assert_eq!(first["type"], "capture", "{name}");
    // The only absolute time is the capture's own first packet.
    assert_eq!(
        first["start"].as_str(),
        Some(format!("{}.{:09}", walked.first.secs, walked.first.nanos).as_str()),
        "{name}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary", "{name}");
    assert!(summary["error"].is_null(), "{name}");
    assert_eq!(summary["packets"], walked.records, "{name}");

    let mut announced = std::collections::BTreeSet::new();
    let mut last_step = 0;
    let mut steps = 0;
    for l in &lines[1..lines.len() - 1] {
        match l["type"].as_str().unwrap() {
            "connection" => {
                let conn = l["conn"].as_u64().unwrap();
                assert!(announced.insert(conn), "{name}: conn {conn} twice");
                for end in ["client", "server"] {
                    let ep = l[end].as_str().unwrap();
                    assert!(ep.parse::<std::net::SocketAddr>().is_ok(), "{name}: {ep}");
                }
            }
            "step" => {
                steps += 1;
                let conn = l["conn"].as_u64().unwrap();
                assert!(
                    announced.contains(&conn),
                    "{name}: step of conn {conn} before its connection line"
                );
                let n = l["step"].as_u64().unwrap();
                assert!(n > last_step, "{name}: step numbers");
                last_step = n;
                let dir = l["dir"].as_str().unwrap();
                assert!(dir == "c2s" || dir == "s2c", "{name}: {dir}");
                assert!(l["kind"].as_str().is_some_and(|k| !k.is_empty()));
                assert!(l["fields"].is_object(), "{name}");
                let frames: Vec<u64> = l["frames"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_u64().unwrap())
                    .collect();
                assert!(!frames.is_empty(), "{name}: step {n} has no frames");
                assert!(
                    frames.windows(2).all(|w| w[0] < w[1]),
                    "{name}: step {n} frames {frames:?}"
                );
                assert!(
                    frames.iter().all(|&f| f >= 1 && f <= walked.records),
                    "{name}: step {n} frames {frames:?}"
                );
                let time = l["time"].as_f64().expect("numeric time");
                assert!(time >= 0.0, "{name}: step {n} time {time}");
                if let Some(p) = l["fields"].get("tcp.payload") {
                    let hex = p.as_str().unwrap();
                    assert!(
                        hex.len().is_multiple_of(2)
                            && hex
                                .bytes()
                                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                        "{name}: payload not lowercase hex"
                    );
                }
                for f in l["findings"].as_array().unwrap() {
                    for key in ["rule", "severity", "section", "message"] {
                        assert!(f[key].is_string(), "{name}: finding {key}");
                    }
                }
            }
            other => panic!("{name}: unexpected line type {other}"),
        }
    }
    assert_eq!(summary["steps"], steps, "{name}");
    assert_eq!(summary["connections"], announced.len(), "{name}");

    let today = today_iso();
    let mut all = Vec::new();
    for l in &lines {
        strings(l, &mut all);
    }
    assert!(
        all.iter().all(|s| !s.contains(&today)),
        "{name}: output contains today's date {today}"
    );
}

#[test]
fn ndjson_contract_on_every_real_capture() {
    for capture in tools::captures() {
        check_ndjson_contract(&capture);
    }
}

#[test]
fn ndjson_output_is_deterministic() {
    for name in ["flask-socketio-any.pcap", "impaired-flask-sock.pcap"] {
        let capture = tools::root().join("captures").join(name);
        let a = run_ok(&["explain", "--format", "ndjson"], &capture);
        let b = run_ok(&["explain", "--format", "ndjson"], &capture);
        assert!(!a.is_empty());
        assert!(a == b, "{name}: two runs differ");
    }
}

// ---------------------------------------------------------------------------
// streams --format json
// ---------------------------------------------------------------------------

fn streams_json(capture: &Path) -> J {
    serde_json::from_slice(&run_ok(&["streams", "--format", "json"], capture)).unwrap()
}

#[test]
fn streams_json_lists_connections_with_sensible_counts() {
    for capture in tools::captures() {
        let name = capture.display().to_string();
        let walked = walk(&std::fs::read(&capture).unwrap());
        let doc = streams_json(&capture);
        assert_eq!(doc["packets"], walked.records, "{name}");
        let tcp = doc["tcp_packets"].as_u64().unwrap();
        assert!(tcp <= walked.records, "{name}");
        let conns = doc["connections"].as_array().unwrap();
        assert!(!conns.is_empty(), "{name}");
        let mut total = 0;
        for (i, c) in conns.iter().enumerate() {
            assert_eq!(c["conn"], i as u64, "{name}: numbering");
            let mut per_conn = 0;
            for dir in ["c2s", "s2c"] {
                let p = c[dir]["packets"].as_u64().expect("packets");
                let b = c[dir]["bytes"].as_u64().expect("bytes");
                // Every packet holds at most 64 KiB of TCP payload.
                assert!(b <= p * 65_535, "{name}: conn {i} {dir}");
                per_conn += p;
            }
            assert!(per_conn >= 2, "{name}: conn {i} has a handshake");
            assert!(
                c["first_frame"].as_u64().unwrap() <= c["last_frame"].as_u64().unwrap(),
                "{name}"
            );
            total += per_conn;
        }
        assert!(total <= tcp, "{name}: {total} > {tcp}");
        assert!(total > 0);
    }
}

#[test]
#[cfg_attr(
    dispel_missing_tshark,
    ignore = "tshark is not installed: byte counts are not compared with Wireshark"
)]
fn streams_json_byte_counts_match_tshark() {
    if !tools::have("tshark") {
        return;
    }
    let capture = tools::root().join("captures/flask-socketio-any.pcap");
    let out = StdCommand::new("tshark")
        .arg("-r")
        .arg(&capture)
        .args([
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.len",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = streams_json(&capture);
    let conns = doc["connections"].as_array().unwrap();
    let mut expected = vec![[0u64; 4]; conns.len()];
    for line in text(&out.stdout).lines() {
        let f: Vec<u64> = line.split('\t').map(|x| x.parse().unwrap()).collect();
        let client_port: u16 = conns[f[0] as usize]["client"]
            .as_str()
            .unwrap()
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .port();
        let d = usize::from(f[1] != u64::from(client_port));
        expected[f[0] as usize][d] += 1;
        expected[f[0] as usize][2 + d] += f[2];
    }
    for (i, c) in conns.iter().enumerate() {
        let got = [
            c["c2s"]["packets"].as_u64().unwrap(),
            c["s2c"]["packets"].as_u64().unwrap(),
            c["c2s"]["bytes"].as_u64().unwrap(),
            c["s2c"]["bytes"].as_u64().unwrap(),
        ];
        assert_eq!(
            got, expected[i],
            "conn {i}: [c2s pkts, s2c pkts, c2s bytes, s2c bytes]"
        );
    }
}

// ---------------------------------------------------------------------------
// A closed stdout
// ---------------------------------------------------------------------------

#[test]
fn closed_pipe_is_a_quiet_success() {
    let capture: PathBuf = tools::root().join("captures/impaired-flask-sock.pcap");
    let mut child = StdCommand::new(BIN)
        .arg("explain")
        .arg(&capture)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("dispel:"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
