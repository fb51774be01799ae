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
    tmux.keys(&["j", "j", "j", "j", "j", "Enter"]);
    tmux.wait_for_all(&["step 62/123", "Fields · #62 socketio.packet", "b returns"]);
    tmux.keys(&["b"]);
    tmux.wait_for_all(&["step 66/123", "back at step 66"]);

    tmux.keys(&["d"]);
    let s = tmux.wait_for_all(&["Diagram · Engine.IO session 0", "client", "server"]);
    assert!(s.contains("◀─"), "{s}");
    tmux.keys(&["q"]);
    tmux.wait_for("dispel exited: 0");
}
