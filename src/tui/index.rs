//! The indexed timeline: a [`Timeline`] for captures of hundreds of
//! megabytes, whose memory does not grow with the steps' bytes.
//!
//! - An *index pass* (a background thread) runs the analysis with a lean
//!   sink ([`crate::analyze::Sink::wants_detail`] false) and keeps, per step,
//!   16 bytes: time, connection, kind, direction, findings count and one
//!   link word for folding (see [`Index`]). Rows of the whole capture render
//!   from the index, with a placeholder summary until their chunk is read.
//! - Every few thousand steps (or megabytes) it takes a
//!   [`Checkpoint`]: the analyzer's state between two packets and where the
//!   reader stood. The steps between two checkpoints are a *chunk*.
//! - A *worker* thread materialises a chunk on request: it resumes the
//!   analysis at the chunk's checkpoint with a full-detail sink, re-reading
//!   the file from the checkpoint's offset, until the next checkpoint's
//!   packet (or the end of the capture, where it runs the end-of-capture
//!   steps). A small LRU keeps the last chunks read.
//!
//! Nothing the interface calls waits on the worker or the index pass:
//! [`Timeline::step`] answers `None` for a step not yet read and asks for its
//! chunk; [`Timeline::poll`] collects what has arrived. Requests are served
//! in order: the rows on screen ([`Timeline::want`]) first, then `step`
//! requests in the order they were made since the last poll.
//!
//! Memory: 16 bytes per step, the checkpoints (one analyzer snapshot per
//! chunk: small unless many connections are open at once, or large messages
//! are mid-assembly), and the cached chunks (bounded by steps and by file
//! bytes per chunk, and by decoded content, below).
//!
//! Decoded content (`--limit decoded-total`, [`Options::decoded_total`]):
//! a chunk's run keeps its steps, so its budget adds them up from 0 at the
//! chunk's checkpoint; a chunk holds at most the budget, and what does not
//! fit is a digest as in any run that keeps its steps. The worker reports
//! what each chunk holds ([`decoded_bytes`] of its steps), and the cache
//! evicts the least recently used chunks until all it holds is within the
//! budget, never a *protected* chunk: one with rows on screen
//! ([`Timeline::want`]; the interface adds the selected step), the one
//! [`Timeline::step`] read last, or the one that arrived in the last poll.
//! So the cache holds at most the larger of the budget and what the
//! protected chunks hold — the budget plus the protected chunks at worst,
//! each of them at most the budget (a stream's chunk closed from the tail
//! is the index pass's steps, each within the budget alone, so only its
//! step count bounds it). A chunk read ahead and evicted before it was read
//! is not read ahead again. A chunk's budget does not start at what the
//! cache holds: a step would then be shown in full one time and as a digest
//! another, as the cache stood when its chunk was read.
//!
//! A stream (`-`, `--live`: [`Source::Live`]) is indexed the same way, so a
//! session of hours holds no more: the index pass reads the stream itself,
//! which spools every byte to a file before the analysis sees it, and the
//! worker re-reads closed chunks from that spool (all their records are in
//! it; the spool may end in the middle of the next record, which the
//! worker never reaches). The chunk still open — after the last checkpoint
//! — cannot be re-read deterministically while the spool grows, so over a
//! stream the index pass builds steps in full and sends them with their
//! entries after every packet (the next read may wait for traffic): the
//! timeline keeps them as the *tail*, at most one chunk's worth
//! ([`Config::checkpoint_steps`] / [`Config::checkpoint_bytes`]), and the
//! next checkpoint moves them into the cache like any chunk read back
//! (evicted from the next poll on: the interface sees every step in full
//! once). The newest steps are thus always at hand, lessons bind and the
//! sequence diagram grows as they arrive.
//!
//! `DISPEL_TUI_INDEXED=1` (or `0`) forces the choice [`open`] makes, so
//! tests can run the indexed timeline on small captures (and a live
//! session can keep every step in memory).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::column::Column;

/// Keyed with foldhash: these maps are touched for every step indexed.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use super::timeline::{LoadState, MemTimeline, Row, Source, Timeline};
use crate::analyze::{
    CaptureInfo, Checkpoint, Interest, Options, Rendered, Report, Run, Sink, decoded_bytes,
};
use crate::capture::CaptureReader;
use crate::error::CaptureError;
use crate::kinds::{self, Fold};
use crate::step::{ConnId, Dir, Step, Timestamp};
use crate::tcp::ConnMeta;

/// Captures at least this large open with the indexed timeline.
pub const INDEX_THRESHOLD: u64 = 32 * 1024 * 1024;

/// The environment variable that forces the choice: `1` indexed, `0` in memory.
pub const FORCE_ENV: &str = "DISPEL_TUI_INDEXED";

/// The summary a row shows until its chunk has been read.
pub const PLACEHOLDER: &str = "…";

/// Opens `source` with the timeline that suits its size: in memory for
/// small files and the bundled capture, indexed from [`INDEX_THRESHOLD`] on
/// and for streams (or as [`FORCE_ENV`] says).
pub fn open(source: Source, opts: Options) -> Box<dyn Timeline> {
    let forced = std::env::var(FORCE_ENV).ok();
    let big = match &source {
        Source::File(p) => std::fs::metadata(p).is_ok_and(|m| m.len() >= INDEX_THRESHOLD),
        Source::Static { .. } => false,
        // Hours of traffic: memory must not grow with the steps' bytes.
        Source::Live(_) => true,
    };
    let indexed = match forced.as_deref() {
        Some("1") => true,
        Some("0") => false,
        _ => big,
    };
    if indexed {
        Box::new(IndexTimeline::spawn(source, opts, Config::default()))
    } else {
        Box::new(MemTimeline::spawn(source, opts))
    }
}

/// Tuning of the indexed timeline.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// A checkpoint is taken once this many steps were emitted since the
    /// last one…
    pub checkpoint_steps: u64,
    /// …or this many bytes of the file were read since the last one:
    /// chunks of large messages stay small. (0 and 0: after every packet.)
    pub checkpoint_bytes: u64,
    /// Analysis time between checkpoints, as a multiple of the time the last
    /// snapshot took: caps what snapshots cost the index pass when the state
    /// is large (many open connections). 0 turns the guard off (tests).
    pub min_work_ratio: u32,
    /// Chunks kept materialised…
    pub cache_chunks: usize,
    /// …holding at most this many steps between them (beyond the chunks on
    /// screen): a materialised step is a kilobyte or two.
    pub cache_steps: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            checkpoint_steps: 8192,
            checkpoint_bytes: 2 * 1024 * 1024,
            min_work_ratio: 20,
            cache_chunks: 8,
            cache_steps: 16 * 1024,
        }
    }
}

/// One step as the index pass sends it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    time: Timestamp,
    conn: ConnId,
    dir: Dir,
    kind: &'static str,
    findings: u32,
    session: Option<u32>,
}

enum Msg {
    Info(CaptureInfo),
    Conn(ConnMeta),
    /// Index entries, and over a stream the same steps in full (empty
    /// otherwise): the steps of the chunk still open.
    Entries(Vec<Entry>, Vec<Arc<Step>>),
    Sid(u32, String),
    /// A checkpoint; every entry before it has been sent.
    Checkpoint(Arc<Checkpoint>),
    /// File bytes read so far.
    Progress(u64),
    Done {
        notices: Vec<String>,
        error: Option<String>,
    },
}

/// The index pass's sink: lean steps in, entries out in batches.
struct IndexSink {
    tx: SyncSender<Msg>,
    /// Batches the interface has emptied, to fill again: a fresh batch
    /// each time made the allocator fault in new pages for every one (the
    /// interface thread frees them), a tenth of the pass.
    spare: Receiver<Vec<Entry>>,
    batch: Vec<Entry>,
    /// Over a stream, the batch's steps in full: the interface keeps the
    /// open chunk's steps, which cannot be read back before it closes.
    full: Option<Vec<Arc<Step>>>,
    sids_seen: Vec<bool>,
}

const BATCH: usize = 4096;

impl IndexSink {
    fn send(&self, m: Msg) -> io::Result<()> {
        self.tx
            .send(m)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "interface closed"))
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        // Over a stream a batch is a packet's steps: it starts small, or
        // the batches in flight would each hold room for thousands.
        let cap = if self.full.is_some() { 0 } else { BATCH };
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(cap));
        let b = std::mem::replace(&mut self.batch, next);
        let full = self.full.as_mut().map(std::mem::take).unwrap_or_default();
        self.send(Msg::Entries(b, full))
    }
}

impl Sink for IndexSink {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.send(Msg::Info(info.clone()))
    }
    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()> {
        self.flush()?;
        self.send(Msg::Conn(meta.clone()))
    }
    fn step(&mut self, _n: u64, step: &Step, _: Rendered<'_>) -> io::Result<()> {
        if let Some(s) = step.session
            && s < 1 << 20
            && !self.sids_seen.get(s as usize).copied().unwrap_or(false)
        {
            let sid = crate::kinds::session_id(step).map(str::to_owned);
            if let Some(sid) = sid {
                if self.sids_seen.len() <= s as usize {
                    self.sids_seen.resize(s as usize + 1, false);
                }
                self.sids_seen[s as usize] = true;
                self.flush()?;
                self.send(Msg::Sid(s, sid))?;
            }
        }
        self.batch.push(Entry {
            time: step.time,
            conn: step.conn,
            dir: step.dir,
            kind: step.kind,
            findings: u32::try_from(step.findings.len()).unwrap_or(u32::MAX),
            session: step.session,
        });
        if let Some(full) = &mut self.full {
            full.push(Arc::new(step.clone()));
        }
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }
    /// Kinds, findings and sessions only: every step lean (over a stream,
    /// every step in full).
    fn interest(&self) -> Interest {
        if self.full.is_some() {
            return Interest::default();
        }
        Interest::reading(|_| false, |_| true)
    }
    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        self.flush()?;
        self.send(Msg::Done {
            notices: report.notices.iter().map(|n| n.message.clone()).collect(),
            error: error.map(|e| e.to_string()),
        })
    }
}

fn open_reader(source: &Source, opts: &Options) -> Result<CaptureReader, CaptureError> {
    match source {
        Source::File(p) => CaptureReader::open(p, opts.max_record()),
        Source::Static { data, .. } => {
            CaptureReader::new(*data, Some(data.len() as u64), opts.max_record())
        }
        // The stream itself, spooled as it is read.
        Source::Live(feed) => feed.reader(opts),
    }
}

fn resume_reader(
    source: &Source,
    cp: &Checkpoint,
    opts: &Options,
) -> Result<CaptureReader, CaptureError> {
    let point = cp.resume_point();
    match source {
        Source::File(p) => CaptureReader::resume(p, point, opts.max_record()),
        Source::Static { data, .. } => {
            let rest: &'static [u8] = data.get(point.offset as usize..).unwrap_or_default();
            CaptureReader::resume_from(rest, Some(data.len() as u64), point, opts.max_record())
        }
        Source::Live(feed) => CaptureReader::resume(feed.spool_path(), point, opts.max_record()),
    }
}

/// The index pass: the whole capture, lean, with checkpoints. Over a
/// stream, steps are built in full and sent after every packet (the next
/// read may wait for traffic), and the feed counts the packets.
fn index_pass(
    source: Source,
    name: String,
    opts: Options,
    cfg: Config,
    tx: SyncSender<Msg>,
    spare: Receiver<Vec<Entry>>,
) {
    let live = match &source {
        Source::Live(feed) => Some(feed.clone()),
        _ => None,
    };
    let mut sink = IndexSink {
        tx,
        spare,
        batch: Vec::with_capacity(if live.is_some() { 0 } else { BATCH }),
        full: live.as_ref().map(|_| Vec::new()),
        sids_seen: Vec::new(),
    };
    let reader = match open_reader(&source, &opts) {
        Ok(r) => r,
        Err(e) => {
            let _ = sink.finish(&Report::default(), Some(&e));
            return;
        }
    };
    let mut run = Run::start(reader, name, &opts, &sink);
    let cp = run.checkpoint();
    if sink.send(Msg::Checkpoint(Arc::new(cp))).is_err() {
        return;
    }
    let (mut last_steps, mut last_offset) = (0u64, 0u64);
    let mut last_progress = 0u64;
    let mut since = Instant::now();
    let mut snapshot_cost = Duration::ZERO;
    loop {
        match run.packet(&mut sink) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => return, // the interface has gone
        }
        if let Some(feed) = &live {
            if sink.flush().is_err() {
                return;
            }
            feed.count(run.packets());
        }
        let (steps, offset) = (run.steps(), run.offset());
        // A checkpoint may fall where no step was emitted since the last
        // one (inside a message spread over packets): the chunk that starts
        // there is simply the next one with steps.
        // A chunk that has grown to four times its size is cut as soon as
        // the work since the last snapshot is twice its cost: a chunk is
        // materialised whole, so its size is the interface's memory.
        let due = steps - last_steps >= cfg.checkpoint_steps
            || offset - last_offset >= cfg.checkpoint_bytes;
        let overdue = steps - last_steps >= 4 * cfg.checkpoint_steps.max(1);
        let work = since.elapsed();
        if (due && work >= snapshot_cost * cfg.min_work_ratio)
            || (overdue && work >= snapshot_cost * 2)
        {
            if sink.flush().is_err() {
                return;
            }
            let t = Instant::now();
            let cp = run.checkpoint();
            // At most doubling per snapshot: one snapshot that the
            // scheduler interrupted must not space out all later ones.
            let took = t.elapsed();
            snapshot_cost = if snapshot_cost.is_zero() {
                took
            } else {
                took.min(snapshot_cost * 2)
            };
            since = Instant::now();
            if sink.send(Msg::Checkpoint(Arc::new(cp))).is_err() {
                return;
            }
            (last_steps, last_offset) = (steps, offset);
        }
        if offset - last_progress >= 1 << 20 {
            last_progress = offset;
            if sink.send(Msg::Progress(offset)).is_err() {
                return;
            }
        }
    }
    // Errors reached the sink's `finish`.
    let _ = run.finish(&mut sink);
}

/// Keeps full steps, and the decoded content they hold: what the run's
/// budget admitted for this sink (a chunk's run keeps its steps, so its
/// budget adds them up, from 0 at the chunk's checkpoint).
#[derive(Default)]
struct Gather {
    steps: Vec<Arc<Step>>,
    decoded: u64,
}

impl Sink for Gather {
    fn connection(&mut self, _: &ConnMeta) -> io::Result<()> {
        Ok(())
    }
    fn step(&mut self, _n: u64, step: &Step, _: Rendered<'_>) -> io::Result<()> {
        self.decoded += decoded_bytes(step);
        self.steps.push(Arc::new(step.clone()));
        Ok(())
    }
    /// Every step in full, kept.
    fn interest(&self) -> Interest {
        Interest {
            detail: crate::analyze::Detail {
                kept: true,
                ..crate::analyze::Detail::FULL
            },
            renderer: None,
        }
    }
    fn finish(&mut self, _: &Report, _: Option<&CaptureError>) -> io::Result<()> {
        Ok(())
    }
}

/// Re-runs one chunk in full: from `cp` until the packet count reaches
/// `until` (the next checkpoint's), or to the end of the capture and its
/// end-of-capture steps when `until` is `None`. Gives the steps and the
/// decoded bytes they hold.
fn materialise(
    source: &Source,
    opts: &Options,
    cp: &Checkpoint,
    until: Option<u64>,
) -> Result<(Vec<Arc<Step>>, u64), String> {
    let reader = resume_reader(source, cp, opts).map_err(|e| e.to_string())?;
    let mut sink = Gather::default();
    let mut run = Run::resume(cp, reader, &sink);
    match until {
        Some(n) => {
            while run.packets() < n {
                if !run.packet(&mut sink).map_err(|e| e.to_string())? {
                    break;
                }
            }
        }
        None => {
            while run.packet(&mut sink).map_err(|e| e.to_string())? {}
            // An input error here is the one the index pass reported.
            let _ = run.finish(&mut sink);
        }
    }
    Ok((sink.steps, sink.decoded))
}

enum Job {
    /// Read a chunk back.
    Read {
        chunk: usize,
        cp: Arc<Checkpoint>,
        until: Option<u64>,
    },
    /// Free an evicted chunk's steps on the thread that allocated them:
    /// freed by the interface, each step's many small blocks went back to
    /// another thread's heap (mimalloc's cross-thread frees), three
    /// quarters of the interface's work while the lessons were bound.
    Drop(Vec<Arc<Step>>),
}

struct Done {
    chunk: usize,
    /// The chunk's steps and the decoded bytes they hold.
    steps: Result<(Vec<Arc<Step>>, u64), String>,
}

fn worker(source: Source, opts: Options, jobs: Receiver<Job>, done: Sender<Done>) {
    while let Ok(job) = jobs.recv() {
        let (chunk, cp, until) = match job {
            Job::Read { chunk, cp, until } => (chunk, cp, until),
            Job::Drop(steps) => {
                drop(steps);
                continue;
            }
        };
        let steps = materialise(&source, &opts, &cp, until);
        if done.send(Done { chunk, steps }).is_err() {
            return;
        }
    }
}

/// How a step folds (two bits of [`Index::meta`]).
const TAG_NONE: u32 = 0;
/// `link` is the parent's step index (a frame under its message).
const TAG_PARENT: u32 = 1;
/// The step belongs to session `link`: it folds under that session's next
/// summary step.
const TAG_SESSION: u32 = 2;
/// A WebSocket message that carried a packet of session `link`: folds like
/// [`TAG_SESSION`] but has no session itself.
const TAG_CARRIER: u32 = 3;

const DIR_BIT: u32 = 1 << 8;
const TAG_SHIFT: u32 = 9;
const ONE_CHILD: u32 = 1 << 11;
const FINDINGS_SHIFT: u32 = 16;

/// The per-step index, struct of arrays: 16 bytes a step.
#[derive(Default)]
struct Index {
    /// Nanoseconds since the Unix epoch (saturating).
    time: super::column::Times,
    conn: Column<u32>,
    /// Kind (bits 0–7, an index into `kinds`), direction (bit 8), folding tag
    /// (bits 9–10), "exactly one child" (bit 11), findings (bits 16–31,
    /// saturating).
    meta: Column<u32>,
    link: Column<u32>,
    kinds: Vec<&'static str>,
    kind_ids: HashMap<&'static str, u32>,
    /// Kind ids by the address of the kind's text: entries' kinds are the
    /// same few static strings, found here without hashing them.
    kind_at: Vec<(usize, usize, u32)>,
    /// What each kind id means to folding.
    kind_class: Vec<Fold>,
    /// A frame list lent out while a message folds its frames.
    spare_frames: Vec<u32>,
    /// Children counts above one (and of session steps).
    children: HashMap<u32, u32>,
    /// Summary steps of each session, ascending.
    session_steps: HashMap<u32, Vec<u32>>,
    /// Members of each session not yet folded under a summary step.
    pending_members: HashMap<u32, u32>,
    pending_frames: HashMap<(ConnId, Dir), Vec<u32>>,
    last_message: HashMap<(ConnId, Dir), u32>,
}

fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanos()).unwrap_or(if t.secs < 0 { i64::MIN } else { i64::MAX })
}

fn from_nanos(n: i64) -> Timestamp {
    Timestamp {
        secs: n.div_euclid(1_000_000_000),
        nanos: n.rem_euclid(1_000_000_000) as u32,
    }
}

impl Index {
    fn len(&self) -> usize {
        self.time.len()
    }

    fn kind(&self, i: usize) -> &'static str {
        let k = (self.meta[i] & 0xff) as usize;
        self.kinds.get(k).copied().unwrap_or("?")
    }

    fn tag(&self, i: usize) -> u32 {
        (self.meta[i] >> TAG_SHIFT) & 3
    }

    fn set_tag(&mut self, i: usize, tag: u32, link: u32) {
        self.meta[i] = (self.meta[i] & !(3 << TAG_SHIFT)) | (tag << TAG_SHIFT);
        self.link[i] = link;
    }

    fn add_child(&mut self, p: u32) {
        let pi = p as usize;
        if let Some(c) = self.children.get_mut(&p) {
            *c += 1;
        } else if self.meta[pi] & ONE_CHILD != 0 {
            self.meta[pi] &= !ONE_CHILD;
            self.children.insert(p, 2);
        } else {
            self.meta[pi] |= ONE_CHILD;
        }
    }

    fn children(&self, i: usize) -> usize {
        if i >= self.len() {
            return 0;
        }
        if self.meta[i] & ONE_CHILD != 0 {
            return 1;
        }
        self.children.get(&(i as u32)).map_or(0, |c| *c as usize)
    }

    fn session(&self, i: usize) -> Option<u32> {
        (self.tag(i) == TAG_SESSION).then(|| self.link[i])
    }

    fn parent(&self, i: usize) -> Option<usize> {
        match self.tag(i) {
            TAG_PARENT => Some(self.link[i] as usize),
            TAG_SESSION | TAG_CARRIER => {
                let steps = self.session_steps.get(&self.link[i])?;
                let p = steps.partition_point(|&s| s as usize <= i);
                steps.get(p).map(|&s| s as usize)
            }
            _ => None,
        }
    }

    /// The id of a kind (0xff: past the 255th kind), and its class.
    fn kind_id(&mut self, kind: &'static str) -> (u32, Fold) {
        let at = (kind.as_ptr() as usize, kind.len());
        let k = match self.kind_at.iter().find(|(p, n, _)| (*p, *n) == at) {
            Some(&(_, _, k)) => k,
            None => {
                let k = match self.kind_ids.get(kind) {
                    Some(&k) => k,
                    None => {
                        let k = u32::try_from(self.kinds.len())
                            .unwrap_or(u32::MAX)
                            .min(0xff);
                        if k < 0xff {
                            self.kinds.push(kind);
                            self.kind_ids.insert(kind, k);
                            self.kind_class.push(kinds::fold(kind));
                        }
                        k
                    }
                };
                if self.kind_at.len() < 64 {
                    self.kind_at.push((at.0, at.1, k));
                }
                k
            }
        };
        let class = self
            .kind_class
            .get(k as usize)
            .copied()
            .unwrap_or_else(|| kinds::fold(kind));
        (k, class)
    }

    /// Appends a step, folding as [`MemTimeline`] does.
    fn push(&mut self, e: &Entry) {
        let Ok(i) = u32::try_from(self.len()) else {
            return; // four billion steps: keep the first ones
        };
        let (kind, class) = self.kind_id(e.kind);
        let mut meta = kind;
        if e.dir == Dir::S2c {
            meta |= DIR_BIT;
        }
        meta |= e.findings.min(0xffff) << FINDINGS_SHIFT;
        self.time.push(nanos(e.time));
        self.conn.push(e.conn);
        self.meta.push(meta);
        self.link.push(0);
        let key = (e.conn, e.dir);
        if let Some(s) = e.session {
            self.set_tag(i as usize, TAG_SESSION, s);
        }
        match class {
            Fold::Frame => {
                self.pending_frames.entry(key).or_default().push(i);
            }
            Fold::Message => {
                // The key's list is swapped with a spare one, not removed:
                // no allocation per message.
                let mut frames = std::mem::take(&mut self.spare_frames);
                if let Some(v) = self.pending_frames.get_mut(&key) {
                    std::mem::swap(v, &mut frames);
                }
                for &f in &frames {
                    // Frames never carry a session, so they have no parent yet.
                    if self.tag(f as usize) == TAG_NONE && f != i {
                        self.set_tag(f as usize, TAG_PARENT, i);
                        self.add_child(i);
                    }
                }
                frames.clear();
                self.spare_frames = frames;
                self.last_message.insert(key, i);
            }
            Fold::Session => {
                if let Some(s) = e.session {
                    let n = self.pending_members.remove(&s).unwrap_or(0);
                    if n > 0 {
                        *self.children.entry(i).or_default() += n;
                    }
                    self.session_steps.entry(s).or_default().push(i);
                }
            }
            Fold::EioPacket | Fold::OtherWebsocket | Fold::Other => {}
        }
        if let Some(s) = e.session
            && class != Fold::Session
        {
            let mut n = 1;
            if class == Fold::EioPacket
                && let Some(m) = self.last_message.remove(&key)
                && self.tag(m as usize) == TAG_NONE
            {
                self.set_tag(m as usize, TAG_CARRIER, s);
                n += 1;
            }
            *self.pending_members.entry(s).or_default() += n;
        } else if class == Fold::Other || class == Fold::Session || class == Fold::EioPacket {
            self.last_message.remove(&key);
        }
    }
}

/// A chunk read back in full.
struct Chunk {
    first: usize,
    steps: Vec<Arc<Step>>,
    /// The decoded content its steps hold ([`decoded_bytes`]).
    decoded: u64,
}

/// The timeline of large captures: see the module documentation.
pub struct IndexTimeline {
    index: Index,
    state: LoadState,
    /// Checkpoints, and the first step of the chunk each starts (ascending;
    /// equal when no step came between two: only the last of those is used).
    checkpoints: Vec<Arc<Checkpoint>>,
    starts: Vec<usize>,
    file_len: Option<u64>,
    rx: Option<Receiver<Msg>>,
    /// Emptied entry batches, back to the index pass.
    spent: Option<Sender<Vec<Entry>>>,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    in_flight: Option<usize>,
    cache: HashMap<usize, Chunk>,
    /// Over a stream, the steps of the chunk still open (after the last
    /// checkpoint), in full as the index pass sent them: they cannot be
    /// read back until the next checkpoint closes the chunk, which then
    /// joins the cache.
    tail: Option<Chunk>,
    /// Least recently used first.
    lru: VecDeque<usize>,
    cfg: Config,
    /// Step indexes on screen, from [`Timeline::want`].
    screen: Vec<usize>,
    /// Chunks `step` was asked for and did not have, in order.
    asked: RefCell<Vec<usize>>,
    /// The chunk `step` last read from: the one after it is read ahead
    /// when the worker has nothing else to do (the lesson binder reads every
    /// step in order, and waited for each chunk in turn).
    read_at: Cell<Option<usize>>,
    /// A chunk whose materialisation failed: not asked again.
    failed: Option<(usize, String)>,
    /// The run's decoded-content budget (`--limit decoded-total`): the
    /// cached chunks are evicted down to it, see [`IndexTimeline::evict`].
    decoded_limit: u64,
    /// A chunk read ahead ([`IndexTimeline::read_at`]'s next) and evicted
    /// before it was read: not read ahead again, or a cache over its
    /// budget would read and drop it over and over.
    ahead_dropped: Option<usize>,
    /// The chunk that arrived last poll: whoever asked for it has yet to
    /// read it.
    arrived: Option<usize>,
}

impl IndexTimeline {
    /// Starts the index pass and the worker over `source`.
    pub fn spawn(source: Source, opts: Options, cfg: Config) -> IndexTimeline {
        let live = matches!(source, Source::Live(_));
        let (name, file_len) = match &source {
            Source::File(p) => (
                p.display().to_string(),
                std::fs::metadata(p).ok().map(|m| m.len()),
            ),
            Source::Static { name, data } => (name.clone(), Some(data.len() as u64)),
            Source::Live(feed) => (feed.name.clone(), None),
        };
        // Over a stream every packet is a message: room for as many as the
        // in-memory timeline has for steps, so a burst of traffic does not
        // wait for the interface's next poll.
        let (tx, rx) = mpsc::sync_channel(if live { 4096 } else { 64 });
        let (spent_tx, spent_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let mut tl = IndexTimeline {
            index: Index::default(),
            state: LoadState {
                name: name.clone(),
                loading: true,
                // A stream has no end to measure progress against.
                progress: (!live).then_some(0),
                ..LoadState::default()
            },
            checkpoints: Vec::new(),
            starts: Vec::new(),
            file_len,
            rx: None,
            spent: None,
            jobs: None,
            done: done_rx,
            in_flight: None,
            cache: HashMap::default(),
            tail: live.then(|| Chunk {
                first: 0,
                steps: Vec::new(),
                decoded: 0,
            }),
            lru: VecDeque::new(),
            cfg,
            screen: Vec::new(),
            asked: RefCell::new(Vec::new()),
            read_at: Cell::new(None),
            failed: None,
            decoded_limit: opts.decoded_total(),
            ahead_dropped: None,
            arrived: None,
        };
        let (src, o) = (source.clone(), opts.clone());
        let indexer = thread::Builder::new()
            .name("dispel-index".into())
            .spawn(move || index_pass(src, name, o, cfg, tx, spent_rx));
        let worker = thread::Builder::new()
            .name("dispel-chunks".into())
            .spawn(move || worker(source, opts, jobs_rx, done_tx));
        match (indexer, worker) {
            (Ok(_), Ok(_)) => {
                tl.rx = Some(rx);
                tl.spent = Some(spent_tx);
                tl.jobs = Some(jobs_tx);
            }
            (Err(e), _) | (_, Err(e)) => {
                tl.state.loading = false;
                tl.state.error = Some(format!("could not start the loader: {e}"));
            }
        }
        tl
    }

    /// Indexes `source` completely before returning (tests, measurements).
    pub fn index_blocking(source: Source, opts: Options, cfg: Config) -> IndexTimeline {
        let mut tl = IndexTimeline::spawn(source, opts, cfg);
        while tl.state.loading {
            if tl.poll(Duration::from_millis(50)) == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        tl
    }

    /// Waits until step `i` is materialised (tests, measurements); `None`
    /// if it does not exist or its chunk could not be read.
    pub fn step_blocking(&mut self, i: usize) -> Option<Arc<Step>> {
        loop {
            if let Some(s) = self.step(i) {
                return Some(s);
            }
            if i >= self.len() && !self.state.loading {
                return None;
            }
            if self
                .failed
                .as_ref()
                .is_some_and(|(c, _)| Some(*c) == self.chunk_of(i))
            {
                return None;
            }
            if self.poll(Duration::from_millis(50)) == 0 && self.in_flight.is_some() {
                thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// How many chunks (checkpoints) the index has.
    pub fn chunks(&self) -> usize {
        self.checkpoints.len()
    }

    /// Why a chunk could not be read, if one could not.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_ref().map(|(_, e)| e.as_str())
    }

    /// Whether step `i` is materialised (read back, or in the open chunk
    /// of a stream).
    pub fn is_materialised(&self, i: usize) -> bool {
        self.cached_step(i).is_some()
    }

    /// Full steps held: the cached chunks' and the open chunk's.
    pub fn resident_steps(&self) -> usize {
        self.cached_steps() + self.tail_steps()
    }

    /// Full steps of the cached chunks.
    pub fn cached_steps(&self) -> usize {
        self.cache.values().map(|c| c.steps.len()).sum()
    }

    /// Decoded bytes the cached chunks hold (what `--limit decoded-total`
    /// counts: see the module documentation for the bound).
    pub fn cached_decoded_bytes(&self) -> u64 {
        self.cache.values().map(|c| c.decoded).sum()
    }

    /// Decoded bytes the chunks the cache may not evict now hold: those
    /// with rows on screen, the one `step` last read from and those that
    /// arrived in the last poll. The cache holds at most the larger of this
    /// and the budget.
    pub fn protected_decoded_bytes(&self) -> u64 {
        self.protected()
            .iter()
            .filter_map(|c| self.cache.get(c))
            .map(|c| c.decoded)
            .sum()
    }

    /// Full steps of a stream's open chunk (0 for a file).
    pub fn tail_steps(&self) -> usize {
        self.tail.as_ref().map_or(0, |t| t.steps.len())
    }

    /// Bytes the per-step index takes (capacity, the maps estimated).
    pub fn index_bytes(&self) -> usize {
        let x = &self.index;
        x.time.bytes()
            + x.conn.bytes()
            + x.meta.bytes()
            + x.link.bytes()
            + x.children.capacity() * 16
    }

    fn chunk_of(&self, i: usize) -> Option<usize> {
        if i >= self.index.len() {
            return None;
        }
        self.starts.partition_point(|&s| s <= i).checked_sub(1)
    }

    /// The chunk's end step (exclusive) and the packet count to stop at,
    /// once the chunk is complete.
    fn chunk_end(&self, c: usize) -> Option<(usize, Option<u64>)> {
        match self.checkpoints.get(c + 1) {
            Some(next) => Some((self.starts[c + 1], Some(next.packets()))),
            None if !self.state.loading && c < self.checkpoints.len() => {
                Some((self.index.len(), None))
            }
            None => None,
        }
    }

    fn cached_step(&self, i: usize) -> Option<&Arc<Step>> {
        if let Some(t) = &self.tail
            && i >= t.first
        {
            return t.steps.get(i - t.first);
        }
        let c = self.chunk_of(i)?;
        let chunk = self.cache.get(&c)?;
        chunk.steps.get(i - chunk.first)
    }

    fn take_index(&mut self, budget: Duration, start: Instant) -> usize {
        let Some(rx) = self.rx.take() else {
            return 0;
        };
        let before = self.index.len();
        loop {
            if start.elapsed() >= budget {
                break;
            }
            match rx.try_recv() {
                Ok(Msg::Info(info)) => self.state.origin = info.origin,
                Ok(Msg::Conn(c)) => self.state.connections.push(c),
                Ok(Msg::Entries(mut es, full)) => {
                    for e in &es {
                        self.state.findings += e.findings as usize;
                        self.index.push(e);
                    }
                    if let Some(t) = &mut self.tail {
                        t.decoded += full.iter().map(|s| decoded_bytes(s)).sum::<u64>();
                        t.steps.extend(full);
                    }
                    es.clear();
                    if let Some(spent) = &self.spent {
                        // The index pass may have finished: then no one
                        // takes it back, and it is dropped.
                        let _ = spent.send(es);
                    }
                }
                Ok(Msg::Sid(s, sid)) => {
                    let s = s as usize;
                    if self.state.sids.len() <= s {
                        self.state.sids.resize(s + 1, None);
                    }
                    self.state.sids[s] = Some(sid);
                }
                Ok(Msg::Checkpoint(cp)) => {
                    self.close_tail(cp.steps() as usize);
                    self.starts.push(cp.steps() as usize);
                    self.checkpoints.push(cp);
                }
                Ok(Msg::Progress(offset)) => {
                    if let Some(len) = self.file_len.filter(|&l| l > 0) {
                        self.state.progress = Some((offset.min(len) * 100 / len) as u8);
                    }
                }
                Ok(Msg::Done { notices, error }) => {
                    self.close_tail(self.index.len());
                    self.tail = None;
                    self.state.finished(notices, error);
                    return self.index.len() - before;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.state.lost();
                    return self.index.len() - before;
                }
            }
        }
        self.rx = Some(rx);
        self.index.len() - before
    }

    /// A checkpoint (or the end) at step `end` closes a stream's open
    /// chunk: its steps join the cache as that chunk's, and the next chunk
    /// opens at `end`. Steps that do not line up with the index are
    /// dropped (the chunk is read back from the spool when asked for).
    fn close_tail(&mut self, end: usize) {
        let Some(t) = &mut self.tail else {
            return;
        };
        let steps = std::mem::take(&mut t.steps);
        let decoded = std::mem::take(&mut t.decoded);
        let first = std::mem::replace(&mut t.first, end);
        let Some(c) = self.checkpoints.len().checked_sub(1) else {
            return;
        };
        if steps.is_empty() || first + steps.len() != end || self.starts[c] != first {
            return;
        }
        // Evicted from the next poll on, not now: the interface sees every
        // step that arrived in full at least once (the diagram's control
        // frames, the lesson binder), however many chunks one poll closed.
        self.cache.insert(
            c,
            Chunk {
                first,
                steps,
                decoded,
            },
        );
        self.touch(c);
    }

    fn take_chunks(&mut self) -> usize {
        let mut n = 0;
        let mut arrived = None;
        while let Ok(d) = self.done.try_recv() {
            self.in_flight = None;
            let Some((end, _)) = self.chunk_end(d.chunk) else {
                continue;
            };
            let first = self.starts[d.chunk];
            match d.steps {
                Ok((steps, decoded)) if steps.len() == end - first => {
                    n += steps.len();
                    self.cache.insert(
                        d.chunk,
                        Chunk {
                            first,
                            steps,
                            decoded,
                        },
                    );
                    self.touch(d.chunk);
                    if self.ahead_dropped == Some(d.chunk) {
                        self.ahead_dropped = None;
                    }
                    arrived = Some(d.chunk);
                }
                Ok((steps, _)) => {
                    self.failed = Some((
                        d.chunk,
                        format!(
                            "steps {}–{} read back as {} steps, not {}",
                            first + 1,
                            end,
                            steps.len(),
                            end - first
                        ),
                    ));
                }
                Err(e) => self.failed = Some((d.chunk, e)),
            }
        }
        self.arrived = arrived;
        self.evict();
        n
    }

    fn touch(&mut self, c: usize) {
        if let Some(p) = self.lru.iter().position(|&x| x == c) {
            self.lru.remove(p);
        }
        self.lru.push_back(c);
    }

    /// The chunks the cache may not evict now: those on screen, the one
    /// that just arrived (whoever asked for it has yet to read it) and the
    /// one being read in order (the lesson binder's: evicted when the next
    /// arrived, it was read twice; usually the selected step's).
    fn protected(&self) -> Vec<usize> {
        let mut keep = self.screen_chunks();
        keep.extend(self.arrived);
        keep.extend(self.read_at.get());
        keep
    }

    /// Drops the least recently used chunks, but never a protected one
    /// ([`IndexTimeline::protected`]), while the cache is over its size
    /// (chunks, steps) or holds more decoded content than the run's budget:
    /// it then holds at most the larger of the budget and what the
    /// protected chunks hold.
    fn evict(&mut self) {
        let keep = self.protected();
        let mut guard = self.lru.len();
        let (mut steps, mut decoded) = self
            .cache
            .values()
            .fold((0, 0), |(n, d), c| (n + c.steps.len(), d + c.decoded));
        while (self.cache.len() > self.cfg.cache_chunks.max(1)
            || (self.cache.len() > 1 && steps > self.cfg.cache_steps)
            || decoded > self.decoded_limit)
            && guard > 0
        {
            guard -= 1;
            let Some(c) = self.lru.pop_front() else {
                break;
            };
            if keep.contains(&c) {
                self.lru.push_back(c);
                continue;
            }
            let Some(gone) = self.cache.remove(&c) else {
                continue;
            };
            steps -= gone.steps.len();
            decoded -= gone.decoded;
            if self.read_at.get().map(|r| r + 1) == Some(c) {
                self.ahead_dropped = Some(c);
            }
            if let Some(jobs) = &self.jobs {
                // (Should the worker have stopped, the send hands the
                // steps back and they are freed here.)
                let _ = jobs.send(Job::Drop(gone.steps));
            }
        }
    }

    fn screen_chunks(&self) -> Vec<usize> {
        let mut cs: Vec<usize> = self
            .screen
            .iter()
            .filter_map(|&i| self.chunk_of(i))
            .collect();
        cs.dedup();
        cs
    }

    /// Sends the most wanted chunk not yet read to the worker.
    fn dispatch(&mut self) {
        let asked = std::mem::take(&mut *self.asked.borrow_mut());
        if self.in_flight.is_some() {
            return;
        }
        let mut wanted = self.screen_chunks();
        wanted.extend(asked);
        wanted.extend(
            self.read_at
                .get()
                .map(|c| c + 1)
                .filter(|&c| Some(c) != self.ahead_dropped),
        );
        for c in wanted {
            if self.cache.contains_key(&c) || self.failed.as_ref().is_some_and(|f| f.0 == c) {
                continue;
            }
            let Some((_, until)) = self.chunk_end(c) else {
                continue;
            };
            let Some(jobs) = &self.jobs else {
                return;
            };
            let job = Job::Read {
                chunk: c,
                cp: self.checkpoints[c].clone(),
                until,
            };
            if jobs.send(job).is_ok() {
                self.in_flight = Some(c);
            } else {
                self.failed = Some((c, "the chunk reader stopped".into()));
            }
            return;
        }
    }
}

impl Timeline for IndexTimeline {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn row(&self, i: usize) -> Option<Row<'_>> {
        let mut row = self.row_for_filter(i)?;
        row.summary = match self.cached_step(i) {
            Some(s) => Cow::Owned(s.summary.clone()),
            None => Cow::Borrowed(PLACEHOLDER),
        };
        Some(row)
    }

    fn row_for_filter(&self, i: usize) -> Option<Row<'_>> {
        if i >= self.index.len() {
            return None;
        }
        let summary = Cow::Borrowed("");
        let meta = self.index.meta[i];
        Some(Row {
            time: from_nanos(self.index.time.get(i).unwrap_or_default()),
            conn: self.index.conn[i],
            dir: if meta & DIR_BIT != 0 {
                Dir::S2c
            } else {
                Dir::C2s
            },
            kind: self.index.kind(i),
            summary,
            findings: (meta >> FINDINGS_SHIFT) as usize,
            parent: self.index.parent(i),
            session: self.index.session(i),
        })
    }

    fn step(&self, i: usize) -> Option<Arc<Step>> {
        let c = self.chunk_of(i);
        self.read_at.set(c.or(self.read_at.get()));
        if let Some(s) = self.cached_step(i) {
            return Some(s.clone());
        }
        if let Some(c) = c {
            let mut asked = self.asked.borrow_mut();
            if !asked.contains(&c) && asked.len() < 64 {
                asked.push(c);
            }
        }
        None
    }

    fn step_at_hand(&self, i: usize) -> Option<Arc<Step>> {
        self.cached_step(i).cloned()
    }

    fn children(&self, i: usize) -> usize {
        self.index.children(i)
    }

    fn state(&self) -> &LoadState {
        &self.state
    }

    fn poll(&mut self, budget: Duration) -> usize {
        let start = Instant::now();
        let mut n = self.take_chunks();
        n += self.take_index(budget, start);
        for c in self.screen_chunks() {
            if self.cache.contains_key(&c) {
                self.touch(c);
            }
        }
        self.dispatch();
        n
    }

    fn want(&mut self, steps: &[usize]) {
        self.screen.clear();
        self.screen.extend_from_slice(steps);
    }

    fn busy(&self) -> bool {
        self.in_flight.is_some()
    }
}
