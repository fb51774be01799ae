//! End to end: the real binary in a real terminal (tmux, 120×35), driven by
//! keys, its screen read back as text; then `q`, and the process must have
//! exited with the terminal given back. Skips when tmux is missing, except
//! under CI=true.

mod tools;

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A private tmux server (its own socket, no user config) killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// Runs `script` under `sh` in a new detached 120×35 session.
    fn start(&self, script: &str) {
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "120",
            "-y",
            "35",
            "sh",
            "-c",
            script,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    /// Waits until the screen contains `text`; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        self.wait_for_all(&[text])
    }

    /// Waits until one screen contains every one of `texts`; returns it.
    /// A capture can catch the terminal part way through a frame (tmux
    /// reads the pane while dispel is still writing it), so a frame is
    /// judged only once it is whole: a missing text fails on the timeout,
    /// with the last screen shown.
    fn wait_for_all(&self, texts: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if texts.iter().all(|t| s.contains(t)) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {texts:?}; screen:\n{s}"
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
#[cfg_attr(
    dispel_missing_tmux,
    ignore = "tmux is not installed: the TUI is not run in a real terminal"
)]
fn steps_opens_help_and_quits_in_a_real_terminal() {
    if !tools::have("tmux") {
        return;
    }
    let tmux = Tmux {
        socket: format!("dispel-e2e-{}", std::process::id()),
    };
    let bin = env!("CARGO_BIN_EXE_dispel");
    // The shell prints the exit status after dispel returns, then waits so
    // the pane stays readable.
    let script = format!("'{bin}'; echo \"dispel exited: $?\"; sleep 30");
    tmux.start(&script);

    tmux.wait_for("step 1/96");
    // The panes fill in as the loader and the lesson binder catch up (under
    // a loaded machine, a frame or two after the status line): wait for the
    // content itself rather than asserting on the first frame.
    tmux.wait_for_all(&[
        "51270 → 5001  SYN: the client",
        "Timeline",
        "Bytes",
        "Lesson",
    ]);

    tmux.keys(&["j", "j", "j"]);
    tmux.wait_for_all(&["step 4/96", "Fields · #4 http.response"]);

    tmux.keys(&["?"]);
    tmux.wait_for_all(&[
        "Keys — ? or Esc closes",
        "next step",
        "drill into the step's fields",
        "next field",
    ]);

    tmux.keys(&["q"]);
    let after = tmux.wait_for("dispel exited: 0");
    // The alternate screen is gone: nothing of the interface is left.
    assert!(!after.contains("Timeline"), "{after}");
    assert!(!after.contains("Keys — "), "{after}");
}

#[test]
#[cfg_attr(
    dispel_missing_tmux,
    ignore = "tmux is not installed: the TUI is not run in a real terminal"
)]
fn an_unreadable_capture_is_shown_then_exits_2() {
    if !tools::have("tmux") {
        return;
    }
    let tmux = Tmux {
        socket: format!("dispel-e2e-bad-{}", std::process::id()),
    };
    let bin = env!("CARGO_BIN_EXE_dispel");
    let script =
        format!("'{bin}' replay /nonexistent/x.pcap; echo \"dispel exited: $?\"; sleep 30");
    tmux.start(&script);
    let s = tmux.wait_for("stopped:");
    assert!(s.contains("step 0/0"), "{s}");
    tmux.keys(&["q"]);
    let after = tmux.wait_for("dispel exited: 2");
    assert!(after.contains("dispel: /nonexistent/x.pcap:"), "{after}");
}

/// A real capture at 120×35: the ack's summary whole on its row, its link
/// to the event followed with Enter and `b` back, then the session drawn
/// as a sequence diagram.
#[test]
fn follows_an_ack_link_back_and_opens_the_diagram_in_a_real_terminal() {
    if !tools::have("tmux") {
        return;
    }
    let tmux = Tmux {
        socket: format!("dispel-e2e-link-{}", std::process::id()),
    };
    let bin = env!("CARGO_BIN_EXE_dispel");
    let capture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/node-socketio-v4.pcap"
    );
    let script = format!("'{bin}' replay '{capture}'; echo \"dispel exited: $?\"; sleep 30");
    tmux.start(&script);
    tmux.wait_for("step 1/123");

    tmux.keys(&["/"]);
    tmux.keys(&["-l", "answers step 62"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for_all(&["step 66/123", "Fields · #66 socketio.packet"]);
    assert!(
        s.contains(r#"SIO ACK ack id 0 [{"ok":true,"doubled":42}] (answers step 62)"#),
        "the ack's summary is cut:\n{s}"
    );
    // Into the fields, down to the link, Enter follows it.
    tmux.keys(&["Enter"]);
    tmux.wait_for("↪ step 62");
    // (type, protocol, encoding, namespace, ack id, data, then the link)
    tmux.keys(&["j", "j", "j", "j", "j", "j", "Enter"]);
    tmux.wait_for_all(&["step 62/123", "Fields · #62 socketio.packet", "b returns"]);
    tmux.keys(&["b"]);
    tmux.wait_for_all(&["step 66/123", "back at step 66"]);

    tmux.keys(&["d"]);
    let s = tmux.wait_for_all(&["Diagram · Engine.IO session 0", "client", "server"]);
    assert!(s.contains("◀─"), "{s}");
    tmux.keys(&["q"]);
    tmux.wait_for("dispel exited: 0");
}

/// The status line's `step A/B`.
fn step_of(screen: &str) -> (usize, usize) {
    let mark = "│ step ";
    let at = screen.rfind(mark).expect("a step in the status line") + mark.len();
    let end = screen[at..].find(' ').map_or(screen.len(), |e| at + e);
    let (a, b) = screen[at..end].split_once('/').expect("step A/B");
    (a.parse().unwrap(), b.parse().unwrap())
}

/// Issue 27: a capture fed slowly through a pipe (a FIFO this test writes
/// record by record) into `dispel replay -`. The timeline grows while the
/// selection stays; `F` follows the newest step; `w` writes what was
/// received, and that file is the capture, byte for byte, so it opens
/// again with the same steps.
#[test]
#[cfg_attr(
    dispel_missing_tmux,
    ignore = "tmux is not installed: the TUI is not run in a real terminal"
)]
fn a_slow_pipe_grows_the_timeline_live_and_is_written_back() {
    use std::io::Write;
    if !tools::have("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("feed");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let capture = tools::root().join("captures/flask-sock-echo.pcap");
    let bytes = std::fs::read(&capture).unwrap();
    // pcap: a 24-byte header, then records of 16 + caplen bytes.
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let len = 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&bytes[at..at + len]);
        at += len;
    }
    let tmux = Tmux {
        socket: format!("dispel-e2e-live-{}", std::process::id()),
    };
    let bin = env!("CARGO_BIN_EXE_dispel");
    let script = format!(
        "cd '{}' && '{bin}' replay - < feed; echo \"dispel exited: $?\"; sleep 30",
        dir.path().display()
    );
    tmux.start(&script);
    let mut feed = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    feed.write_all(&bytes[..24]).unwrap();
    for r in &records[..10] {
        feed.write_all(r).unwrap();
    }
    let s = tmux.wait_for("● live: 10 packets");
    let (sel, first_total) = step_of(&s);
    assert_eq!(sel, 1, "{s}");
    tmux.keys(&["j", "j"]);
    tmux.wait_for("step 3/");

    for r in &records[10..20] {
        feed.write_all(r).unwrap();
        sleep(Duration::from_millis(20));
    }
    let s = tmux.wait_for("● live: 20 packets");
    let (sel, total) = step_of(&s);
    assert_eq!(sel, 3, "the selection stays where the student put it:\n{s}");
    assert!(total > first_total, "the timeline grew:\n{s}");

    tmux.keys(&["F"]);
    let s = tmux.wait_for("live: 20 packets, following");
    let (sel, total) = step_of(&s);
    assert!(sel + 1 >= total, "F jumps to the newest:\n{s}");
    for r in &records[20..] {
        feed.write_all(r).unwrap();
    }
    drop(feed);
    let n = records.len();
    let s = tmux.wait_for(&format!("live ended: {n} packets"));
    let (sel, end_total) = step_of(&s);
    assert!(end_total > total, "{s}");
    assert!(sel + 1 >= end_total, "following to the end:\n{s}");

    tmux.keys(&["w"]);
    tmux.wait_for(&format!("wrote {n} packets to dispel-live-1.pcap"));
    let written = std::fs::read(dir.path().join("dispel-live-1.pcap")).unwrap();
    assert!(written == bytes, "the written file is what was received");
    let explain = |p: &std::path::Path| {
        let out = Command::new(bin).arg("explain").arg(p).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(
        explain(&dir.path().join("dispel-live-1.pcap")),
        explain(&capture),
        "the written file opens again with the same steps"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("dispel exited: 0");
}
