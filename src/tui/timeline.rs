//! The step trace as the interface reads it: a [`Timeline`] of rows (one
//! line each) and full steps on demand.
//!
//! Views only ever go through the trait, so a store that keeps steps on disk
//! and indexes them by file offset can replace [`MemTimeline`] for huge
//! captures without touching the views. [`MemTimeline`] is fed by a loader
//! thread that runs the analysis with a [`Sink`] sending steps over a channel;
//! [`Timeline::poll`] takes what has arrived within a time budget, so the
//! first screen draws after the first steps, and no keypress waits for the
//! whole capture.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crate::analyze::{self, CaptureInfo, Options, Rendered, Report, Sink};
use crate::error::CaptureError;
use crate::kinds::{self, Fold};
use crate::step::{ConnId, Dir, Step, Timestamp};
use crate::tcp::ConnMeta;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub time: Timestamp,
    pub conn: ConnId,
    pub dir: Dir,
    pub kind: &'static str,
    pub summary: Cow<'a, str>,
    /// How many findings the step carries.
    pub findings: usize,
    /// The step this one folds under: a frame under its message, a message
    /// or an Engine.IO / Socket.IO packet under its Engine.IO session.
    pub parent: Option<usize>,
    pub session: Option<u32>,
}

impl Row<'_> {
    /// The layer: the part of the kind before the first dot.
    pub fn layer(&self) -> &'static str {
        self.kind.split('.').next().unwrap_or(self.kind)
    }
}

/// What is known about the capture as a whole, growing while it loads.
#[derive(Debug, Clone, Default)]
pub struct LoadState {
    /// The capture's name as given (a path, or the bundled capture's name).
    pub name: String,
    /// Timestamp of the first packet: row times are offsets from it.
    pub origin: Timestamp,
    /// Still reading.
    pub loading: bool,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
    pub connections: Vec<ConnMeta>,
    /// Engine.IO session ids by session index, as far as seen.
    pub sids: Vec<Option<String>>,
    /// Findings over all steps so far.
    pub findings: usize,
    /// Capture-level notices from the end-of-run report.
    pub notices: Vec<String>,
    /// How much of the file an index pass has read, in percent, while it
    /// runs (the indexed timeline; `None` otherwise).
    pub progress: Option<u8>,
}

impl LoadState {
    /// The loader finished: its notices and error, and nothing loads now.
    pub fn finished(&mut self, notices: Vec<String>, error: Option<String>) {
        self.notices = notices;
        self.error = error;
        self.loading = false;
        self.progress = None;
    }

    /// The loader went away without saying it had finished.
    pub fn lost(&mut self) {
        self.loading = false;
        self.progress = None;
        if self.error.is_none() {
            self.error = Some("the loader stopped unexpectedly".into());
        }
    }
}

/// Read access to the step trace, plus a way to take newly loaded steps.
pub trait Timeline {
    /// Steps available so far.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn row(&self, i: usize) -> Option<Row<'_>>;
    /// The row for filtering and folding, which never read the summary: a
    /// store that reads summaries back from the file may leave it empty and
    /// answer from its index.
    fn row_for_filter(&self, i: usize) -> Option<Row<'_>> {
        self.row(i)
    }
    fn step(&self, i: usize) -> Option<Arc<Step>>;
    /// Step `i` if it is at hand, without asking for it to be read back
    /// (as [`Timeline::step`] does).
    fn step_at_hand(&self, i: usize) -> Option<Arc<Step>> {
        self.step(i)
    }
    /// How many steps fold directly under step `i`.
    fn children(&self, i: usize) -> usize;
    fn state(&self) -> &LoadState;
    /// Takes what the loader has produced, spending at most about `budget`;
    /// returns how many steps were added (or read back).
    fn poll(&mut self, budget: Duration) -> usize;
    /// The steps on screen: a store that reads steps back on demand reads
    /// theirs first. Called before each `poll`.
    fn want(&mut self, _steps: &[usize]) {}
    /// Whether work the interface is waiting for is under way besides
    /// loading (a chunk being read back).
    fn busy(&self) -> bool {
        false
    }
}

/// Where a capture comes from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// Bytes built into the binary (the default capture).
    Static {
        name: String,
        data: &'static [u8],
    },
    /// A stream still arriving (`-`, `--live`): see [`super::live`].
    Live(super::live::LiveFeed),
}

enum Msg {
    Info(CaptureInfo),
    Conn(ConnMeta),
    Step(Step),
    Done {
        notices: Vec<String>,
        error: Option<String>,
    },
}

/// Sends the trace over a bounded channel; when the interface has gone (the
/// receiver is dropped) the send fails and the run stops as on a closed pipe.
struct ChannelSink(SyncSender<Msg>);

impl ChannelSink {
    fn send(&self, m: Msg) -> io::Result<()> {
        self.0
            .send(m)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "interface closed"))
    }
}

impl Sink for ChannelSink {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.send(Msg::Info(info.clone()))
    }
    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()> {
        self.send(Msg::Conn(meta.clone()))
    }
    fn step(&mut self, _n: u64, step: &Step, _: Rendered<'_>) -> io::Result<()> {
        self.send(Msg::Step(step.clone()))
    }
    /// Every step in full, kept by the timeline.
    fn interest(&self) -> analyze::Interest {
        analyze::Interest {
            detail: analyze::Detail {
                kept: true,
                ..analyze::Detail::FULL
            },
            renderer: None,
        }
    }
    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        self.send(Msg::Done {
            notices: report.notices.iter().map(|n| n.message.clone()).collect(),
            error: error.map(|e| e.to_string()),
        })
    }
}

/// The in-memory store: every step behind an `Arc`, plus two small integers
/// per step for folding.
pub struct MemTimeline {
    steps: Vec<Arc<Step>>,
    parent: Vec<Option<u32>>,
    children: Vec<u32>,
    state: LoadState,
    rx: Option<Receiver<Msg>>,
    /// Frames waiting for the message they belong to, per connection and direction.
    pending_frames: HashMap<(ConnId, Dir), Vec<u32>>,
    /// The last message per connection and direction with no parent yet: the
    /// Engine.IO packet decoded from it names its session.
    last_message: HashMap<(ConnId, Dir), u32>,
    /// Top-level steps of each session, folded under the session's summary
    /// step when it arrives (at the end of the capture).
    members: HashMap<u32, Vec<u32>>,
}

impl MemTimeline {
    fn empty(name: String) -> MemTimeline {
        MemTimeline {
            steps: Vec::new(),
            parent: Vec::new(),
            children: Vec::new(),
            state: LoadState {
                name,
                loading: true,
                ..LoadState::default()
            },
            rx: None,
            pending_frames: HashMap::new(),
            last_message: HashMap::new(),
            members: HashMap::new(),
        }
    }

    /// Starts loading `source` on a background thread.
    pub fn spawn(source: Source, opts: Options) -> MemTimeline {
        let name = match &source {
            Source::File(p) => p.display().to_string(),
            Source::Static { name, .. } => name.clone(),
            Source::Live(feed) => feed.name.clone(),
        };
        let (tx, rx) = mpsc::sync_channel(4096);
        let loader_name = name.clone();
        let spawned = thread::Builder::new()
            .name("dispel-loader".into())
            .spawn(move || {
                let mut sink = ChannelSink(tx);
                // Errors reach the interface through `finish`; a closed
                // channel only means the interface quit first.
                let _ = match source {
                    Source::File(p) => analyze::run_file(&p, &opts, &mut sink),
                    Source::Static { data, .. } => analyze::run_reader(
                        data,
                        Some(data.len() as u64),
                        &loader_name,
                        &opts,
                        &mut sink,
                    ),
                    Source::Live(feed) => {
                        feed.run(&opts, &mut sink);
                        return;
                    }
                };
            });
        let mut tl = MemTimeline::empty(name);
        match spawned {
            Ok(_) => tl.rx = Some(rx),
            Err(e) => {
                tl.state.loading = false;
                tl.state.error = Some(format!("could not start the loader: {e}"));
            }
        }
        tl
    }

    /// Loads `source` completely before returning (tests, small captures).
    pub fn load_blocking(source: Source, opts: Options) -> MemTimeline {
        let mut tl = MemTimeline::spawn(source, opts);
        while tl.state.loading {
            if tl.poll(Duration::from_millis(50)) == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        tl
    }

    /// A timeline of given steps (widget tests).
    pub fn from_steps(name: &str, origin: Timestamp, steps: Vec<Step>) -> MemTimeline {
        let mut tl = MemTimeline::empty(name.to_string());
        tl.state.origin = origin;
        for s in steps {
            tl.push(s);
        }
        tl.state.loading = false;
        tl
    }

    fn set_parent(&mut self, child: u32, parent: u32) {
        if let Some(p) = self.parent.get_mut(child as usize)
            && p.is_none()
            && child != parent
        {
            *p = Some(parent);
            if let Some(c) = self.children.get_mut(parent as usize) {
                *c += 1;
            }
        }
    }

    fn push(&mut self, step: Step) {
        let Ok(i) = u32::try_from(self.steps.len()) else {
            return; // four billion steps: keep the first ones
        };
        let key = (step.conn, step.dir);
        self.state.findings += step.findings.len();
        if let Some(s) = step.session {
            let s = s as usize;
            if s < 1 << 20 {
                if self.state.sids.len() <= s {
                    self.state.sids.resize(s + 1, None);
                }
                if self.state.sids[s].is_none() {
                    let sid = crate::kinds::session_id(&step).map(str::to_owned);
                    self.state.sids[s] = sid;
                }
            }
        }
        self.parent.push(None);
        self.children.push(0);
        match kinds::fold(step.kind) {
            Fold::Frame => {
                self.pending_frames.entry(key).or_default().push(i);
            }
            Fold::Message => {
                for f in self.pending_frames.remove(&key).unwrap_or_default() {
                    self.set_parent(f, i);
                }
                self.last_message.insert(key, i);
            }
            Fold::Session => {
                if let Some(s) = step.session {
                    for m in self.members.remove(&s).unwrap_or_default() {
                        self.set_parent(m, i);
                    }
                }
            }
            _ => {}
        }
        let fold = kinds::fold(step.kind);
        if let Some(s) = step.session
            && fold != Fold::Session
        {
            let members = self.members.entry(s).or_default();
            if fold == Fold::EioPacket
                && let Some(m) = self.last_message.remove(&key)
            {
                members.push(m);
            }
            members.push(i);
        } else if !matches!(fold, Fold::Message | Fold::Frame | Fold::OtherWebsocket) {
            self.last_message.remove(&key);
        }
        self.steps.push(Arc::new(step));
    }
}

impl Timeline for MemTimeline {
    fn len(&self) -> usize {
        self.steps.len()
    }

    fn row(&self, i: usize) -> Option<Row<'_>> {
        let s = self.steps.get(i)?;
        Some(Row {
            time: s.time,
            conn: s.conn,
            dir: s.dir,
            kind: s.kind,
            summary: Cow::Borrowed(&s.summary),
            findings: s.findings.len(),
            parent: self.parent[i].map(|p| p as usize),
            session: s.session,
        })
    }

    fn step(&self, i: usize) -> Option<Arc<Step>> {
        self.steps.get(i).cloned()
    }

    fn children(&self, i: usize) -> usize {
        self.children.get(i).map_or(0, |c| *c as usize)
    }

    fn state(&self) -> &LoadState {
        &self.state
    }

    fn poll(&mut self, budget: Duration) -> usize {
        let Some(rx) = self.rx.take() else {
            return 0;
        };
        let start = Instant::now();
        let before = self.steps.len();
        let mut n = 0u32;
        loop {
            n = n.wrapping_add(1);
            if n.is_multiple_of(256) && start.elapsed() >= budget {
                break;
            }
            match rx.try_recv() {
                Ok(Msg::Info(info)) => {
                    self.state.origin = info.origin;
                }
                Ok(Msg::Conn(c)) => self.state.connections.push(c),
                Ok(Msg::Step(s)) => self.push(s),
                Ok(Msg::Done { notices, error }) => {
                    self.state.finished(notices, error);
                    return self.steps.len() - before;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.state.lost();
                    return self.steps.len() - before;
                }
            }
        }
        self.rx = Some(rx);
        self.steps.len() - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(conn: u32, dir: Dir, kind: &'static str, session: Option<u32>) -> Step {
        let mut s = Step::new(conn, dir, kind, Timestamp::default());
        s.session = session;
        s
    }

    #[test]
    fn frames_fold_under_their_message_and_packets_under_their_session() {
        let steps = vec![
            step(0, Dir::C2s, "tcp.syn", None),
            step(1, Dir::C2s, "websocket.frame", None),
            step(1, Dir::S2c, "websocket.frame", None),
            step(1, Dir::C2s, "websocket.frame", None),
            step(1, Dir::C2s, "websocket.message", None),
            step(1, Dir::C2s, "engineio.packet", Some(0)),
            step(1, Dir::C2s, "socketio.packet", Some(0)),
            step(1, Dir::S2c, "websocket.message", None),
            step(0, Dir::C2s, "http.request", Some(0)),
            step(1, Dir::S2c, "engineio.session", Some(0)),
        ];
        let tl = MemTimeline::from_steps("t", Timestamp::default(), steps);
        let parents: Vec<_> = (0..tl.len()).map(|i| tl.row(i).unwrap().parent).collect();
        assert_eq!(
            parents,
            vec![
                None,
                Some(4),
                Some(7),
                Some(4),
                Some(9),
                Some(9),
                Some(9),
                None, // no Engine.IO packet came from it
                Some(9),
                None
            ]
        );
        assert_eq!(tl.children(4), 2);
        assert_eq!(tl.children(9), 4);
        assert_eq!(tl.children(0), 0);
    }

    #[test]
    fn the_default_capture_loads_through_the_channel() {
        let tl = MemTimeline::load_blocking(
            Source::File(crate::cli::DEFAULT_CAPTURE_NAME.into()),
            Options::default(),
        );
        assert!(!tl.state().loading);
        assert_eq!(tl.state().error, None);
        let mut c = analyze::Collect::default();
        analyze::run_file(
            std::path::Path::new(crate::cli::DEFAULT_CAPTURE_NAME),
            &Options::default(),
            &mut c,
        )
        .unwrap();
        assert_eq!(tl.len(), c.steps.len());
        for (i, s) in c.steps.iter().enumerate() {
            assert_eq!(&*tl.step(i).unwrap(), s);
        }
        assert_eq!(
            tl.state().sids.first().cloned().flatten().as_deref(),
            Some("kyLnI3zry0iNvrG_AAAA")
        );
    }
}
