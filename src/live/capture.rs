//! `--live`: the system's capture tool as a child — `tcpdump -U -w -` or
//! `dumpcap -w -`, whichever is installed — its standard output read as a
//! stream. The child is stopped (SIGTERM, then SIGKILL) when the run ends
//! or the interface quits. A missing tool, or a missing permission, is one
//! line saying what to install or which capability to grant; a child that
//! exits early is noticed, never waited on.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Input;

/// The loopback interface: where a course app and its browser meet.
#[cfg(target_os = "macos")]
pub const DEFAULT_INTERFACE: &str = "lo0";
#[cfg(not(target_os = "macos"))]
pub const DEFAULT_INTERFACE: &str = "lo";

/// TCP on the ports course apps use (Flask 5000, Django 8000, 8080,
/// Node 3000).
pub const DEFAULT_FILTER: &str = "tcp and (port 5000 or port 8000 or port 8080 or port 3000)";

/// How long a starting tool may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of the tool's standard error kept for a diagnosis.
const STDERR_LINES: usize = 20;

/// The `--live` options of `replay` and `explain`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LiveOpts {
    /// Capture from the network as it happens, on INTERFACE (default:
    /// loopback), with tcpdump or dumpcap (see README: Live captures).
    #[arg(
        long,
        value_name = "INTERFACE",
        num_args = 0..=1,
        default_missing_value = DEFAULT_INTERFACE,
        conflicts_with = "capture"
    )]
    pub live: Option<String>,
    /// The capture filter of --live, in BPF syntax (default: `tcp and (port
    /// 5000 or port 8000 or port 8080 or port 3000)`).
    #[arg(long, value_name = "BPF", requires = "live")]
    pub filter: Option<String>,
}

/// Why a live capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "--live needs tcpdump or dumpcap, and neither is installed: install one (Debian/Ubuntu: apt install tcpdump; macOS has tcpdump)"
    )]
    NoTool,
    #[error(
        "{tool} may not capture on {interface}: run as root, or grant it the capability once: sudo setcap cap_net_raw,cap_net_admin+eip {path} ({detail})"
    )]
    Permission {
        tool: &'static str,
        interface: String,
        path: String,
        detail: String,
    },
    #[error("{tool} stopped: {detail}")]
    Exited { tool: &'static str, detail: String },
    /// `--live x.pcap`: the optional value took the capture's place.
    #[error(
        "--live takes an interface, and {value} is a capture file: to read it, drop --live (dispel explain {value}); to capture live, give the interface (--live lo)"
    )]
    FileAsInterface { value: String },
    #[error("could not start {tool}: {source}")]
    Spawn {
        tool: &'static str,
        source: std::io::Error,
    },
}

/// A running capture tool; stopped on drop.
pub struct LiveChild {
    child: Child,
    tool: &'static str,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl LiveChild {
    /// Why the tool stopped, if it stopped with a failure (after the input
    /// ended without a capture, say).
    pub fn failure(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        if status.success() {
            return None;
        }
        Some(format!(
            "{} stopped: {}",
            self.tool,
            last_line(self.tool, &self.stderr)
        ))
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        #[cfg(unix)]
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child, which has not been reaped
            // (try_wait above), so the pid is still its.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let end = Instant::now() + Duration::from_secs(1);
            while Instant::now() < end {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the tool last said: its last line naming itself (`tcpdump: lo:
/// ...`), or its last line.
fn last_line(tool: &str, stderr: &Mutex<Vec<String>>) -> String {
    let lines = stderr.lock().unwrap_or_else(|p| p.into_inner());
    let own = format!("{tool}:");
    let line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with(&own))
        .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()))
        .cloned()
        .unwrap_or_else(|| "no message".into());
    crate::sanitize::escape(&line).into_owned()
}

/// The first of `names` on PATH.
fn find_tool(names: &[&'static str]) -> Option<(&'static str, PathBuf)> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|&name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
            .map(|p| (name, p))
    })
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Starts the capture tool on `interface` with `filter`, and waits until it
/// says it is listening (or fails, or a few seconds pass).
pub fn start(interface: &str, filter: &str) -> Result<(Input, LiveChild), LiveError> {
    let (tool, path) = find_tool(&["tcpdump", "dumpcap"]).ok_or(LiveError::NoTool)?;
    let mut cmd = Command::new(&path);
    match tool {
        // -U and --immediate-mode: each packet is written out as it is
        // captured (not when the kernel buffer fills).
        "tcpdump" => cmd.args([
            "-U",
            "--immediate-mode",
            "-n",
            "-w",
            "-",
            "-i",
            interface,
            "--",
            filter,
        ]),
        // -P: pcap (dispel reads both; pcap keeps the spool simple).
        _ => cmd.args(["-q", "-P", "-w", "-", "-i", interface, "-f", filter]),
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LiveError::Spawn { tool, source })?;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    if let Some(err) = child.stderr.take() {
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") || line.contains("Capturing on") {
                    let _ = ready_tx.send(());
                }
                let mut l = lines.lock().unwrap_or_else(|p| p.into_inner());
                if l.len() >= STDERR_LINES {
                    l.remove(0);
                }
                l.push(line);
            }
        });
    }
    let stdout = child.stdout.take();
    let mut live = LiveChild {
        child,
        tool,
        stderr,
    };
    let end = Instant::now() + START_TIMEOUT;
    loop {
        if ready_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = live.child.try_wait() {
            // Let the stderr reader catch up with the last words.
            std::thread::sleep(Duration::from_millis(50));
            let detail = last_line(tool, &live.stderr);
            let lower = detail.to_ascii_lowercase();
            if lower.contains("permission") || lower.contains("not permitted") {
                return Err(LiveError::Permission {
                    tool,
                    interface: interface.to_string(),
                    path: path.display().to_string(),
                    detail,
                });
            }
            return Err(LiveError::Exited {
                tool,
                detail: format!("{detail} ({status})"),
            });
        }
        if Instant::now() >= end {
            break; // quiet but running: read what it writes
        }
    }
    let stdout = stdout.ok_or_else(|| LiveError::Exited {
        tool,
        detail: "no output".into(),
    })?;
    let input = Input::spawn(stdout).map_err(|source| LiveError::Spawn { tool, source })?;
    // Said on stderr, so it reaches the user whatever stdout is piped to.
    let _ = writeln!(
        std::io::stderr(),
        "dispel: capturing on {} with {tool} (filter: {}); Ctrl-C stops",
        crate::sanitize::escape(interface),
        crate::sanitize::escape(filter)
    );
    Ok((input, live))
}
