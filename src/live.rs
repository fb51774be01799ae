//! Captures that are still being written: `-` (a pcap or pcapng stream on
//! standard input) and `--live` (the system's capture tool as a child,
//! see [`capture`]).
//!
//! A stream is read on its own thread in chunks handed over a small bounded
//! channel, so the analysis reads it as a [`Read`] that can also notice
//! Ctrl-C (the reader then sees the end of the input, and outputs that need
//! the end — a JSON document, `check`'s verdicts — finish with what was
//! seen) and can flush the output before it waits for more traffic (steps
//! are printed as their packets arrive). A stream is as untrusted as a
//! file: it goes through the same [`crate::capture::CaptureReader`] and
//! limits; only the file header is read ahead (see
//! `CaptureReader::new` with no length).

pub mod capture;

use std::io::{self, BufWriter, Read, Stdout, StdoutLock, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::analyze::{self, Options, Report, RunError, Sink};
use crate::error::CaptureError;
use capture::{LiveChild, LiveError, LiveOpts};

/// The name standard input goes by, as a capture argument and in reports.
pub const STDIN_NAME: &str = "-";

/// Bytes read from the source at a time.
const CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the analysis: what the input holds at most.
const CHUNKS_IN_FLIGHT: usize = 4;
/// How often a waiting reader looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Whether `path` names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN_NAME
}

/// A live capture started for this run, under its name (`live:lo`).
struct Registered {
    name: PathBuf,
    input: Option<Input>,
    child: LiveChild,
}

fn registry() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    static STREAMS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());
    locked(&STREAMS)
}

/// Whether `path` names a stream: standard input, or a live capture
/// started by [`resolve`].
pub fn is_stream(path: &Path) -> bool {
    is_stdin(path) || registry().iter().any(|r| r.name == path)
}

/// Keeps a live capture running; stops its tool when dropped.
pub struct LiveSession {
    name: PathBuf,
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        // The child stops as it is dropped (outside the lock).
        let gone: Vec<Registered> = {
            let mut r = registry();
            let (gone, kept) = std::mem::take(&mut *r)
                .into_iter()
                .partition(|x| x.name == self.name);
            *r = kept;
            gone
        };
        drop(gone);
    }
}

/// The capture a command reads: `capture` as given, or with `--live` a
/// capture tool started now, under the name `live:INTERFACE` (which the
/// runs here read as a stream) and the session that keeps it running.
pub fn resolve(
    capture: Option<PathBuf>,
    live: &LiveOpts,
) -> Result<(Option<PathBuf>, Option<LiveSession>), LiveError> {
    let Some(interface) = &live.live else {
        return Ok((capture, None));
    };
    // `--live` takes an optional value, so `--live x.pcap` reads the
    // capture as an interface name: say so rather than capture nothing.
    let path = Path::new(interface);
    let capture_like = ["pcap", "pcapng", "cap"]
        .iter()
        .any(|e| path.extension().is_some_and(|x| x.eq_ignore_ascii_case(e)));
    if capture_like || path.is_file() {
        return Err(LiveError::FileAsInterface {
            value: crate::sanitize::escape(interface).into_owned(),
        });
    }
    let filter = live.filter.as_deref().unwrap_or(capture::DEFAULT_FILTER);
    let (input, child) = capture::start(interface, filter)?;
    let name = PathBuf::from(format!("live:{interface}"));
    registry().push(Registered {
        name: name.clone(),
        input: Some(input),
        child,
    });
    Ok((Some(name.clone()), Some(LiveSession { name })))
}

/// The input of a stream: its live capture's, or standard input.
pub fn take_input(path: &Path) -> io::Result<Input> {
    if let Some(r) = registry().iter_mut().find(|r| r.name == path) {
        return r
            .input
            .take()
            .ok_or_else(|| io::Error::other("the live capture was already read"));
    }
    if io::IsTerminal::is_terminal(&io::stdin()) {
        // Typing a capture is not a thing: the user meant to pipe one.
        return Err(io::Error::other(
            "standard input is a terminal; pipe a capture into it (tcpdump -U -w - | dispel explain -)",
        ));
    }
    Input::stdin()
}

/// Why the live capture behind `path` stopped, if its tool failed.
fn tool_failure(path: &Path) -> Option<String> {
    registry()
        .iter_mut()
        .find(|r| r.name == path)
        .and_then(|r| r.child.failure())
}

/// Something to do before the input waits for more bytes.
pub type Idle = Arc<dyn Fn() + Send + Sync>;

/// A byte stream read on its own thread: a [`Read`] that sees the end of
/// the input when the stream ends or when `stop` is set, flushes the
/// output (its `idle` hook) before waiting, and copies what it reads to a
/// spool when given one.
pub struct Input {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    stop: Option<Arc<AtomicBool>>,
    idle: Option<Idle>,
    spool: Option<Box<dyn Write + Send>>,
    received: Arc<AtomicU64>,
    ended: bool,
}

impl Input {
    /// Reads `source` on a new thread.
    pub fn spawn<R: Read + Send + 'static>(mut source: R) -> io::Result<Input> {
        let (tx, rx) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        std::thread::Builder::new()
            .name("dispel-input".into())
            .spawn(move || {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let sent = match source.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => tx.send(Ok(buf[..n].to_vec())),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    };
                    if sent.is_err() {
                        break; // the analysis stopped reading
                    }
                }
            })?;
        Ok(Input {
            rx,
            chunk: Vec::new(),
            pos: 0,
            stop: None,
            idle: None,
            spool: None,
            received: Arc::new(AtomicU64::new(0)),
            ended: false,
        })
    }

    /// Standard input.
    pub fn stdin() -> io::Result<Input> {
        Input::spawn(io::stdin())
    }

    /// Ends the input when `flag` is set (Ctrl-C).
    pub fn stop_on(mut self, flag: Arc<AtomicBool>) -> Input {
        self.stop = Some(flag);
        self
    }

    /// Calls `idle` each time the input is about to wait for more bytes.
    pub fn on_idle(mut self, idle: Idle) -> Input {
        self.idle = Some(idle);
        self
    }

    /// Copies every byte read to `spool` before the analysis sees it.
    pub fn spool_to(mut self, spool: Box<dyn Write + Send>) -> Input {
        self.spool = Some(spool);
        self
    }

    /// How many bytes have been read (and spooled) so far.
    pub fn received(&self) -> Arc<AtomicU64> {
        self.received.clone()
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// The next chunk: `None` at the end of the input.
    fn next_chunk(&mut self) -> Option<io::Result<Vec<u8>>> {
        match self.rx.try_recv() {
            Ok(c) => return Some(c),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if let Some(idle) = &self.idle {
            idle();
        }
        loop {
            if self.stopped() {
                return None;
            }
            match self.rx.recv_timeout(POLL) {
                Ok(c) => return Some(c),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos >= self.chunk.len() {
            if self.ended || self.stopped() {
                self.ended = true;
                return Ok(0);
            }
            match self.next_chunk() {
                None => {
                    self.ended = true;
                    if let Some(s) = &mut self.spool {
                        s.flush()?;
                    }
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Some(Ok(c)) => {
                    if let Some(s) = &mut self.spool {
                        s.write_all(&c)?;
                        s.flush()?;
                    }
                    self.received.fetch_add(c.len() as u64, Ordering::Relaxed);
                    self.chunk = c;
                    self.pos = 0;
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The flag Ctrl-C sets, installed once per process. A second Ctrl-C
/// ends the process at once (exit 130), should the first not be enough.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        {
            use signal_hook::consts::SIGINT;
            // Registered first, so it sees the flag as it was before
            // this Ctrl-C: only a second one ends the process.
            let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag.clone());
            let _ = signal_hook::flag::register(SIGINT, flag.clone());
        }
        flag
    })
    .clone()
}

/// Standard output shared with the input's idle hook, which flushes it
/// before the input waits: steps appear as their packets arrive, and a
/// capture piped in at full speed is still written in large blocks.
fn shared_stdout() -> &'static Arc<Mutex<BufWriter<Stdout>>> {
    static OUT: OnceLock<Arc<Mutex<BufWriter<Stdout>>>> = OnceLock::new();
    OUT.get_or_init(|| Arc::new(Mutex::new(BufWriter::new(io::stdout()))))
}

/// Standard output for a run over `capture`: flushed whenever a stream
/// input (`-`) waits for more, buffered as usual for a file.
pub enum Out {
    File(BufWriter<StdoutLock<'static>>),
    Stream(Arc<Mutex<BufWriter<Stdout>>>),
}

/// Standard output for a run over `capture` (see [`Out`]).
pub fn stdout_for(capture: &Path) -> Out {
    if is_stream(capture) {
        Out::Stream(shared_stdout().clone())
    } else {
        Out::File(BufWriter::new(io::stdout().lock()))
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::File(w) => w.write(buf),
            Out::Stream(w) => locked(w).write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::File(w) => w.write_all(buf),
            Out::Stream(w) => locked(w).write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::File(w) => w.flush(),
            Out::Stream(w) => locked(w).flush(),
        }
    }
}

/// Flushes the shared standard output (the idle hook of a stream read for
/// the command line). A failed flush shows again at the next write.
fn flush_stdout() {
    let _ = locked(shared_stdout()).flush();
}

/// Analyses the capture at `path`, or the stream it names (see
/// [`is_stream`]).
pub fn run_path(path: &Path, opts: &Options, sink: &mut dyn Sink) -> Result<Report, RunError> {
    if is_stream(path) {
        run_stream(path, opts, sink)
    } else {
        analyze::run_file(path, opts, sink)
    }
}

/// Analyses a stream, step by step as its packets arrive, with standard
/// output flushed whenever it waits; Ctrl-C ends the input.
pub fn run_stream(path: &Path, opts: &Options, sink: &mut dyn Sink) -> Result<Report, RunError> {
    let input = take_input(path)
        .map_err(CaptureError::Io)?
        .stop_on(interrupt_flag())
        .on_idle(Arc::new(flush_stdout));
    let result = run_input(input, &path.display().to_string(), opts, sink);
    match result {
        // A tool that failed says why better than its empty output.
        Err(RunError::Capture(e)) => Err(RunError::Capture(match tool_failure(path) {
            Some(why) => CaptureError::Io(io::Error::other(why)),
            None => e,
        })),
        other => other,
    }
}

/// Analyses a stream on the calling thread alone: the two-thread run hands
/// steps over in batches, which a slow stream would hold back.
pub fn run_input(
    input: Input,
    name: &str,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<Report, RunError> {
    let opts = Options {
        single_thread: true,
        ..opts.clone()
    };
    analyze::run_reader(input, None, name, &opts, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out its parts one read at a time.
    struct Parts(Vec<Vec<u8>>);
    impl Read for Parts {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let part = self.0.remove(0);
            let n = part.len().min(buf.len());
            buf[..n].copy_from_slice(&part[..n]);
            if n < part.len() {
                self.0.insert(0, part[n..].to_vec());
            }
            Ok(n)
        }
    }

    #[test]
    fn input_passes_bytes_through_and_spools_them() {
        let spool = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                locked(&self.0).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut input = Input::spawn(Parts(vec![b"ab".to_vec(), b"cde".to_vec()]))
            .unwrap()
            .spool_to(Box::new(Shared(spool.clone())));
        let received = input.received();
        let mut all = Vec::new();
        input.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcde");
        assert_eq!(*locked(&spool), b"abcde");
        assert_eq!(received.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_set_stop_flag_ends_a_waiting_input() {
        // A source that never ends: the read must return at the flag.
        struct Forever;
        impl Read for Forever {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
        }
        let flag = Arc::new(AtomicBool::new(false));
        let mut input = Input::spawn(Forever).unwrap().stop_on(flag.clone());
        let setter = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            setter.store(true, Ordering::Relaxed);
        });
        let mut buf = [0u8; 8];
        assert_eq!(input.read(&mut buf).unwrap(), 0);
    }
}
