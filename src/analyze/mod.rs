//! The instrumentation layer: runs a capture through the parsers and turns
//! their results into the step trace.
//!
//! Packets are read one at a time, decoded to TCP segments, reassembled, and
//! each connection's in-order bytes go to that connection's decoders. Steps
//! are handed to a [`Sink`] as soon as they are complete, in capture order, so
//! headless output streams and memory stays flat.

mod budget;
mod conn;
mod eio;
mod handshake;
mod http;
mod layer;
mod stream;
mod tcpsteps;
mod tls;
mod up;
mod ws;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, mpsc};

use pcap_parser::Linktype;

use crate::capture::{CaptureReader, Format, ResumePoint};
use crate::error::CaptureError;
use crate::link::{self, Decoded};
use crate::step::{Step, Timestamp};
use crate::tcp::{self, ConnMeta, ConnStats, Event, Provenance, Reassembler};

use up::{Back, Batch, Cmd, Up};

pub use budget::decoded_bytes;
pub use conn::Limits as LayerLimits;
pub use tls::SharedKeyLog;
pub use ws::Limits as WsLimits;

/// Everything configurable about a run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub tcp: tcp::Limits,
    pub layers: conn::Limits,
    /// Largest capture record accepted (bytes).
    pub max_record: Option<usize>,
    /// Run on the calling thread alone. By default [`run_file`] and
    /// [`run_reader`] read and decode connections on a second thread while
    /// the calling one runs Engine.IO and the sink ([`up`]); a batch that
    /// already keeps every core busy with one capture each wants this.
    pub single_thread: bool,
    /// The run-wide budget for decoded content (bytes), see [`budget`].
    pub decoded_total: Option<u64>,
}

impl Options {
    /// The record limit in effect.
    pub fn max_record(&self) -> usize {
        self.max_record.unwrap_or(16 * 1024 * 1024)
    }

    /// The decoded-content budget in effect.
    pub fn decoded_total(&self) -> u64 {
        self.decoded_total.unwrap_or(budget::DEFAULT)
    }
}

/// What is known about the capture before its first step.
#[derive(Debug, Clone)]
pub struct CaptureInfo {
    /// The name to show (file name as given).
    pub name: String,
    pub format: Format,
    /// Timestamp of the first packet: step times are relative to it.
    pub origin: Timestamp,
}

/// A capture-level observation that is not about one step: an unsupported
/// link type, IP fragments, undecodable packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub message: String,
}

/// The end-of-run summary.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub packets: u64,
    pub tcp_packets: u64,
    pub non_tcp_packets: u64,
    pub steps: u64,
    pub connections: Vec<ConnStats>,
    pub notices: Vec<Notice>,
    /// Findings per rule id, over the whole capture.
    pub findings: BTreeMap<&'static str, u64>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// `name (digit)`, `?` for no digit: how a packet type is shown. Written
/// by hand: one per Engine.IO and Socket.IO packet, where `format!` cost
/// as much as decoding the packet.
fn name_and_digit(name: &str, digit: Option<u8>) -> String {
    let mut s = String::with_capacity(name.len() + 6);
    s.push_str(name);
    s.push_str(" (");
    match digit {
        Some(d) => s.push_str(itoa::Buffer::new().format(d)),
        None => s.push('?'),
    }
    s.push(')');
    s
}

/// Receives the trace as it is produced: what a sink is about, plus one
/// way to say what it reads ([`Sink::interest`]). How the run schedules
/// the work (threads, batches, lean steps) stays inside the run.
pub trait Sink {
    /// Called once, before the first connection.
    fn capture(&mut self, _info: &CaptureInfo) -> io::Result<()> {
        Ok(())
    }
    /// A connection, before its first step.
    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()>;
    /// Step number `n` (1-based, the number every output shows). Numbers
    /// count every step of the run: one the sink's interest leaves out
    /// still takes its number. `rendered` says whether the sink's
    /// [`Interest::renderer`] already rendered it on the reading thread.
    fn step(&mut self, n: u64, step: &Step, rendered: Rendered<'_>) -> io::Result<()>;
    /// The end of the trace (also after an input error).
    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()>;
    /// What this sink reads. Asked once per run, before the first packet.
    fn interest(&self) -> Interest {
        Interest::default()
    }
}

/// What a sink reads, so the run builds no more than that.
#[derive(Clone, Default)]
pub struct Interest {
    /// Which per-message step kinds are built in full (see [`Detail`]).
    /// Steps of the other kinds arrive *lean*: kind, connection, direction,
    /// packets, time, session and findings, with no fields, buffers or
    /// summary — building those is most of the cost of a small message,
    /// and `check` reads only findings. Lean frames and messages without
    /// findings that the sink does not read are not even built: they are
    /// only numbered.
    pub detail: Detail,
    /// What writes this sink's output for a step, but the step's number: a
    /// run on two threads renders the steps the reading thread builds
    /// there, and hands them over as [`Rendered::Yes`] or
    /// [`Rendered::Hidden`].
    pub renderer: Option<Arc<dyn Renderer>>,
}

impl Interest {
    /// Reads the steps of the kinds `full` names in full, and lean frames
    /// and messages without findings of the kinds `unremarkable` names.
    pub fn reading(full: impl Fn(&str) -> bool, unremarkable: impl Fn(&str) -> bool) -> Interest {
        Interest {
            detail: Detail {
                frame: full("websocket.frame"),
                message: full("websocket.message"),
                inflate: full("websocket.inflate"),
                engineio: full("engineio.packet"),
                socketio: full("socketio.packet"),
                frame_unremarkable: unremarkable("websocket.frame"),
                message_unremarkable: unremarkable("websocket.message"),
                kept: false,
            },
            renderer: None,
        }
    }
}

/// How a step reaches a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendered<'a> {
    /// Not rendered: the sink renders it if it shows it.
    No,
    /// The sink's renderer rendered it (all but its number): these bytes.
    /// The step keeps only kind, connection, direction, packets, time,
    /// session and findings.
    Yes(&'a [u8]),
    /// The sink's renderer did not show it (the step is kept as for `Yes`).
    Hidden,
}

/// Renders steps for a sink on another thread (see [`Interest::renderer`]).
pub trait Renderer: Send + Sync {
    /// Appends the output for `step`, all but its number, to `out`; false
    /// (and nothing appended) if the sink does not show it. `origin` is
    /// the capture's first packet time ([`CaptureInfo::origin`]).
    fn render(&self, step: &Step, origin: Timestamp, out: &mut Vec<u8>) -> bool;
}

/// Which per-message step kinds are built in full. Every other kind (TCP
/// events, HTTP messages, handshakes, control frames, sessions) is rare and
/// always built in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// `websocket.frame` of data frames (control frames are always full).
    pub frame: bool,
    /// `websocket.message`.
    pub message: bool,
    /// `websocket.inflate`.
    pub inflate: bool,
    /// `engineio.packet` of message packets (the other types are always full).
    pub engineio: bool,
    /// `socketio.packet`.
    pub socketio: bool,
    /// Lean `websocket.frame` steps without findings are handed over (not
    /// only counted).
    pub frame_unremarkable: bool,
    /// Lean `websocket.message` steps without findings are handed over.
    pub message_unremarkable: bool,
    /// The sink keeps the steps it is handed (an in-memory timeline): their
    /// decoded content adds up against the run's budget
    /// (`--limit decoded-total`). A streaming sink holds one step at a time.
    pub kept: bool,
}

impl Detail {
    /// Everything in full: what every renderer needs.
    pub const FULL: Detail = Detail {
        frame: true,
        message: true,
        inflate: true,
        engineio: true,
        socketio: true,
        frame_unremarkable: true,
        message_unremarkable: true,
        kept: false,
    };

    /// What `sink` reads.
    pub fn of(sink: &dyn Sink) -> Detail {
        sink.interest().detail
    }
}

impl Default for Detail {
    fn default() -> Detail {
        Detail::FULL
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The capture could not be read further; everything before was output.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The output failed (a closed pipe, a full disk).
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// Analyses the capture at `path`, feeding `sink`.
pub fn run_file(path: &Path, opts: &Options, sink: &mut dyn Sink) -> Result<Report, RunError> {
    let name = path.display().to_string();
    let reader = CaptureReader::open(path, opts.max_record());
    run(reader, name, opts, sink)
}

/// Analyses a capture from any byte source (the bundled default capture,
/// tests); `len`, when known, sharpens truncation reports.
pub fn run_reader<R: io::Read + Send + 'static>(
    source: R,
    len: Option<u64>,
    name: &str,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<Report, RunError> {
    let reader = CaptureReader::new(source, len, opts.max_record());
    run(reader, name.to_string(), opts, sink)
}

/// A sink that keeps everything: for the interactive view and tests.
#[derive(Debug, Default)]
pub struct Collect {
    pub info: Option<CaptureInfo>,
    pub connections: Vec<ConnMeta>,
    pub steps: Vec<Step>,
    pub report: Option<Report>,
    pub error: Option<String>,
}

impl Sink for Collect {
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.info = Some(info.clone());
        Ok(())
    }
    fn connection(&mut self, meta: &ConnMeta) -> io::Result<()> {
        self.connections.push(meta.clone());
        Ok(())
    }
    fn step(&mut self, _n: u64, step: &Step, _rendered: Rendered<'_>) -> io::Result<()> {
        self.steps.push(step.clone());
        Ok(())
    }
    fn finish(&mut self, report: &Report, error: Option<&CaptureError>) -> io::Result<()> {
        self.report = Some(report.clone());
        self.error = error.map(|e| e.to_string());
        Ok(())
    }
    fn interest(&self) -> Interest {
        Interest {
            detail: Detail {
                kept: true,
                ..Detail::FULL
            },
            renderer: None,
        }
    }
}

fn run(
    reader: Result<CaptureReader, CaptureError>,
    name: String,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<Report, RunError> {
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            sink.finish(&Report::default(), Some(&e))?;
            return Err(e.into());
        }
    };
    if opts.single_thread {
        let mut run = Run::start(reader, name, opts, sink);
        while run.packet(sink)? {}
        return run.finish(sink);
    }
    pipelined(reader, name, opts, sink)
}

/// Batches on their way from the front's thread to the back's: with
/// [`Batch::BYTES`] each, the pipeline holds a few MiB at most.
const BATCHES_IN_FLIGHT: usize = 2;

/// Bytes held by batches on their way (steps' buffers, bodies, payloads)
/// past which the front waits for the back: batches are sent when they
/// hold 1 MiB, but one step may hold a 16 MiB inflated body, and several
/// such in flight multiplied a run's memory by the connections carrying
/// them.
const IN_FLIGHT_BYTES: usize = 8 << 20;

/// How the front's thread ended.
enum FrontEnd {
    /// At the end of the input (or at an input error).
    Done(Box<Front>, Option<CaptureError>),
    /// The back stopped listening: the output failed.
    Hung,
}

/// A run on two threads: a spawned one reads the capture and runs the
/// front (reassembly, HTTP, WebSocket), the calling one applies its
/// commands in order (Engine.IO, numbering, the sink), so the trace is the
/// sequential run's. If no thread can be spawned, the run stays on this one.
fn pipelined(
    reader: CaptureReader,
    name: String,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<Report, RunError> {
    let Interest { detail, renderer } = sink.interest();
    let Analyzer { front, mut back } = Analyzer::new(name, reader.format(), opts, detail);
    let budget_limit = opts.decoded_total();
    let (start_tx, start_rx) = mpsc::sync_channel::<(CaptureReader, Front)>(1);
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::channel::<Batch>();
    let ended = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("dispel-front".into())
            .spawn_scoped(scope, move || {
                let Ok((mut reader, mut front)) = start_rx.recv() else {
                    return FrontEnd::Hung;
                };
                let render = renderer.as_deref();
                let keep_limit = budget_limit;
                let mut batch = Batch {
                    keep_limit,
                    ..Batch::default()
                };
                let mut input_error = None;
                // Bytes of the batches sent and not yet back, oldest first:
                // the back returns them in order. A run with large steps
                // (inflated bodies and messages of several MiB) waits for
                // the back rather than queue more of them.
                let mut in_flight = std::collections::VecDeque::<usize>::new();
                let mut spare: Option<Batch> = None;
                loop {
                    match reader.next_packet() {
                        Ok(Some(p)) => {
                            front.secrets(p.secrets);
                            front.packet(
                                p.number,
                                p.time,
                                p.interface,
                                p.linktype,
                                p.data,
                                &mut Up::Queue(&mut batch, render),
                            )
                        }
                        Ok(None) => break,
                        Err(e) => {
                            input_error = Some(e);
                            break;
                        }
                    }
                    if batch.full() {
                        let size = batch.bytes + batch.data.len();
                        while let Ok(back) = empty_rx.try_recv() {
                            in_flight.pop_front();
                            spare = Some(back);
                        }
                        while !in_flight.is_empty()
                            && in_flight.iter().sum::<usize>() + size > IN_FLIGHT_BYTES
                        {
                            let Ok(back) = empty_rx.recv() else {
                                return FrontEnd::Hung;
                            };
                            in_flight.pop_front();
                            spare = Some(back);
                        }
                        let mut next = spare.take().unwrap_or_default();
                        next.origin = batch.origin;
                        next.keep_limit = keep_limit;
                        if full_tx.send(std::mem::replace(&mut batch, next)).is_err() {
                            return FrontEnd::Hung;
                        }
                        in_flight.push_back(size);
                    }
                }
                front.finish(&mut Up::Queue(&mut batch, render));
                match full_tx.send(batch) {
                    Ok(()) => FrontEnd::Done(Box::new(front), input_error),
                    Err(_) => FrontEnd::Hung,
                }
            });
        let Ok(front_thread) = spawned else {
            return Err(Box::new((reader, front)));
        };
        if let Err(mpsc::SendError(start)) = start_tx.send((reader, front)) {
            let _ = front_thread.join();
            return Err(Box::new(start));
        }
        for mut batch in full_rx.iter() {
            for cmd in &mut batch.cmds {
                back.apply(cmd, &batch.data, sink);
            }
            if back.output_error.is_some() {
                break;
            }
            batch.clear();
            let _ = empty_tx.send(batch);
        }
        // A front still sending (after an output error) stops at its next
        // batch, or while it waits for one back.
        drop(full_rx);
        drop(empty_tx);
        match front_thread.join() {
            Ok(ended) => Ok(ended),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let (mut front, input_error) = match ended {
        Ok(FrontEnd::Done(front, input_error)) => (front, input_error),
        Ok(FrontEnd::Hung) => {
            let e = back
                .output_error
                .take()
                .unwrap_or_else(|| io::Error::other("the capture-reading thread stopped early"));
            return Err(e.into());
        }
        Err(start) => {
            let (reader, front) = *start;
            let mut run = Run {
                reader,
                an: Analyzer { front, back },
                input_error: None,
                ended: false,
            };
            while run.packet(sink)? {}
            return run.finish(sink);
        }
    };
    if let Some(e) = back.output_error.take() {
        return Err(e.into());
    }
    let report = report(&mut front, &back);
    sink.finish(&report, input_error.as_ref())?;
    match input_error {
        Some(e) => Err(e.into()),
        None => Ok(report),
    }
}

/// An analysis driven one packet at a time, that can be snapshotted between
/// packets ([`Run::checkpoint`]) and resumed from a snapshot with another
/// sink ([`Run::resume`]): the indexed TUI timeline indexes a capture with
/// a lean sink and later re-runs stretches of it in full.
///
/// `run_file` is `start`, `packet` until it returns false, then `finish`.
pub struct Run {
    reader: CaptureReader,
    an: Analyzer,
    input_error: Option<CaptureError>,
    ended: bool,
}

/// The analysis state between two packets and where the reader stood.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    an: Analyzer,
    point: ResumePoint,
}

impl Checkpoint {
    /// Where the reader goes on from.
    pub fn resume_point(&self) -> &ResumePoint {
        &self.point
    }
    /// Steps emitted before this point.
    pub fn steps(&self) -> u64 {
        self.an.back.steps
    }
    /// Packets read before this point.
    pub fn packets(&self) -> u64 {
        self.an.front.report.packets
    }
}

impl Run {
    /// Starts a run over `reader`; `sink` is asked which steps it wants in
    /// full ([`Sink::interest`]).
    pub fn start(reader: CaptureReader, name: String, opts: &Options, sink: &dyn Sink) -> Run {
        let an = Analyzer::new(name, reader.format(), opts, Detail::of(sink));
        Run {
            reader,
            an,
            input_error: None,
            ended: false,
        }
    }

    /// Goes on from `cp` with `reader` (opened at `cp.resume_point()`),
    /// building steps in the detail `sink` wants. Steps are numbered on
    /// from the checkpoint.
    pub fn resume(cp: &Checkpoint, reader: CaptureReader, sink: &dyn Sink) -> Run {
        let mut an = cp.an.clone();
        an.set_detail(Detail::of(sink));
        Run {
            reader,
            an,
            input_error: None,
            ended: false,
        }
    }

    /// A snapshot of the run as it stands (between two packets).
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            an: self.an.clone(),
            point: self.reader.resume_point(),
        }
    }

    /// Analyses the next packet; false once the input has ended (or could
    /// not be read further: [`Run::finish`] reports that).
    pub fn packet(&mut self, sink: &mut dyn Sink) -> Result<bool, RunError> {
        if self.ended {
            return Ok(false);
        }
        match self.reader.next_packet() {
            Ok(Some(p)) => {
                let an = &mut self.an;
                an.front.secrets(p.secrets);
                an.front.packet(
                    p.number,
                    p.time,
                    p.interface,
                    p.linktype,
                    p.data,
                    &mut Up::Now(&mut an.back, sink),
                );
                if let Some(e) = an.back.output_error.take() {
                    return Err(e.into());
                }
                Ok(true)
            }
            Ok(None) => {
                self.ended = true;
                Ok(false)
            }
            Err(e) => {
                self.input_error = Some(e);
                self.ended = true;
                Ok(false)
            }
        }
    }

    /// Steps emitted so far (the number of the last one).
    pub fn steps(&self) -> u64 {
        self.an.back.steps
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.an.front.report.packets
    }

    /// The file offset of the next record.
    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    /// Ends the run: the steps only the end of the capture completes, then
    /// the report to `sink`.
    pub fn finish(mut self, sink: &mut dyn Sink) -> Result<Report, RunError> {
        let an = &mut self.an;
        an.front.finish(&mut Up::Now(&mut an.back, sink));
        if let Some(e) = an.back.output_error.take() {
            return Err(e.into());
        }
        let report = self.an.report();
        sink.finish(&report, self.input_error.as_ref())?;
        match self.input_error {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct IfaceCounts {
    linktype: i32,
    unsupported: u64,
    malformed: u64,
    first_malformed: Option<(u64, String)>,
}

/// A run's state: the front (per-connection decoding) and the back
/// (Engine.IO across connections, the output), see [`up`].
#[derive(Debug, Clone)]
struct Analyzer {
    front: Front,
    back: Back,
}

impl Analyzer {
    fn new(name: String, format: Format, opts: &Options, detail: Detail) -> Analyzer {
        Analyzer {
            front: Front::new(name, format, opts, detail),
            back: Back::new(
                eio::Tracker::new(
                    opts.layers.engineio.clone(),
                    opts.layers.engineio_sessions,
                    detail,
                ),
                budget::Budget::new(opts.decoded_total(), detail.kept),
            ),
        }
    }

    fn set_detail(&mut self, detail: Detail) {
        self.front.set_detail(detail);
        self.back.set_detail(detail);
    }

    fn report(&mut self) -> Report {
        report(&mut self.front, &self.back)
    }
}

/// The front of a run: capture records to TCP segments, reassembly, and
/// each connection's HTTP and WebSocket decoding.
#[derive(Clone)]
struct Front {
    info: CaptureInfo,
    opts: Options,
    started: bool,
    reasm: Reassembler,
    conns: Vec<conn::ConnState>,
    /// Packet counts and times (steps and findings are the back's).
    report: Report,
    ifaces: BTreeMap<u32, IfaceCounts>,
    fragments: u64,
    first_fragment: Option<u64>,
    detail: Detail,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("packets", &self.report.packets)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl Front {
    fn new(name: String, format: Format, opts: &Options, detail: Detail) -> Front {
        Front {
            info: CaptureInfo {
                name,
                format,
                origin: Timestamp::default(),
            },
            opts: {
                // The run's own key log: the capture's secrets blocks add
                // to it, not to the caller's.
                let mut o = opts.clone();
                let log = o
                    .layers
                    .keylog
                    .read()
                    .map(|k| k.clone())
                    .unwrap_or_default();
                o.layers.keylog = Arc::new(std::sync::RwLock::new(log));
                o
            },
            started: false,
            reasm: Reassembler::new(opts.tcp),
            conns: Vec::new(),
            report: Report::default(),
            ifaces: BTreeMap::new(),
            fragments: 0,
            first_fragment: None,
            detail,
        }
    }

    fn set_detail(&mut self, detail: Detail) {
        self.detail = detail;
        for c in &mut self.conns {
            c.set_detail(detail);
        }
    }

    /// Key log text from the capture (pcapng Decryption Secrets Blocks):
    /// added to the run's key log, for the connections that follow.
    fn secrets(&mut self, text: &[u8]) {
        if !text.is_empty()
            && let Ok(mut log) = self.opts.layers.keylog.write()
        {
            log.add_text(text);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        number: u64,
        time: Timestamp,
        interface: u32,
        linktype: Linktype,
        data: &[u8],
        up: &mut Up<'_>,
    ) {
        self.report.packets += 1;
        if self.report.first.is_none() {
            self.report.first = Some(time);
            self.info.origin = time;
        }
        self.report.last = Some(time);
        match link::decode(linktype, data) {
            Decoded::Tcp(seg) => {
                self.report.tcp_packets += 1;
                if !self.started {
                    self.started = true;
                    up.send(Cmd::Capture(Box::new(self.info.clone())));
                }
                let at = Provenance {
                    frame: number,
                    time,
                };
                let (reasm, mut layers) = self.split();
                reasm.push(&seg, at, &mut |id, ev| layers.event(up, id, ev));
            }
            Decoded::NotTcp => self.report.non_tcp_packets += 1,
            Decoded::Fragment => {
                self.report.non_tcp_packets += 1;
                self.fragments += 1;
                self.first_fragment.get_or_insert(number);
            }
            Decoded::UnsupportedLink => {
                let c = self.ifaces.entry(interface).or_default();
                c.linktype = linktype.0;
                c.unsupported += 1;
            }
            Decoded::Malformed(why) => {
                let c = self.ifaces.entry(interface).or_default();
                c.linktype = linktype.0;
                c.malformed += 1;
                c.first_malformed.get_or_insert((number, why));
            }
        }
    }

    /// The end of the capture: what only the end completes.
    fn finish(&mut self, up: &mut Up<'_>) {
        let (reasm, mut layers) = self.split();
        reasm.finish(&mut |id, ev| layers.event(up, id, ev));
        for c in self.conns.iter_mut() {
            c.end_of_capture(up);
        }
        up.send(Cmd::End(self.report.last.unwrap_or_default()));
    }

    /// The reassembler, and apart from it what its events drive (so both
    /// can be borrowed at once).
    fn split(&mut self) -> (&mut Reassembler, Layers<'_>) {
        (
            &mut self.reasm,
            Layers {
                conns: &mut self.conns,
                limits: &self.opts.layers,
                detail: self.detail,
            },
        )
    }
}

/// The end-of-run summary of a front and a back that saw the same packets.
fn report(front: &mut Front, back: &Back) -> Report {
    let mut report = std::mem::take(&mut front.report);
    report.steps = back.steps;
    report.findings = back.findings.clone();
    report.connections = front.reasm.stats().collect();
    for (iface, c) in &front.ifaces {
        if c.unsupported > 0 {
            report.notices.push(Notice {
                message: format!(
                    "interface {iface}: link type {} is not supported; {} packets skipped",
                    c.linktype, c.unsupported
                ),
            });
        }
        if let Some((first, why)) = &c.first_malformed {
            report.notices.push(Notice {
                message: format!(
                    "interface {iface}: {} packets could not be decoded (first: packet {first}: {why})",
                    c.malformed
                ),
            });
        }
    }
    let skipped = front.reasm.skipped();
    if skipped.segments > 0 {
        report.notices.push(Notice {
            message: format!(
                "the connection limit ({} connections, --limit max-connections) was reached: {} TCP segments of further connections were skipped (first: packet {})",
                front.opts.tcp.max_connections,
                skipped.segments,
                skipped.first_frame.unwrap_or(0)
            ),
        });
    }
    if let Some(n) = back.eio.sessions_skipped() {
        report.notices.push(Notice {
            message: format!(
                "the Engine.IO session limit ({} sessions, --limit max-sessions) was reached: {n} further open packets did not start a session",
                front.opts.layers.engineio_sessions
            ),
        });
    }
    if front.fragments > 0 {
        report.notices.push(Notice {
            message: format!(
                "{} IP fragments carrying TCP were skipped (first: packet {}); dispel does not reassemble IP fragments, so their bytes appear as gaps",
                front.fragments,
                front.first_fragment.unwrap_or(0)
            ),
        });
    }
    report
}

/// The per-connection layers above TCP, as the reassembler's events reach
/// them.
struct Layers<'a> {
    conns: &'a mut Vec<conn::ConnState>,
    limits: &'a conn::Limits,
    detail: Detail,
}

impl Layers<'_> {
    /// One reassembler event: a new connection, or bytes and control events
    /// for a known one.
    fn event(&mut self, up: &mut Up<'_>, id: u32, ev: Event<'_>) {
        if let Event::Open(meta) = &ev {
            debug_assert_eq!(meta.id as usize, self.conns.len());
            self.conns.push(conn::ConnState::new(
                (*meta).clone(),
                self.limits.clone(),
                self.detail,
            ));
            up.send(Cmd::Connection(Box::new((*meta).clone())));
            return;
        }
        if let Some(c) = self.conns.get_mut(id as usize) {
            c.event(ev, up);
        }
    }
}
