//! What the connection layers hand upward — steps for the output, messages
//! and HTTP exchanges for Engine.IO — as commands, so the two halves of a
//! run can sit on two threads.
//!
//! The *front* of a run (capture reading, TCP reassembly, HTTP, WebSocket:
//! everything per connection) and its *back* (the Engine.IO / Socket.IO
//! tracker, which spans connections, step numbering and the sink) talk only
//! through [`Cmd`]s, applied by [`Back::apply`] in the order the front sent
//! them. A sequential run applies each at once ([`Up::Now`]); a pipelined
//! run queues them in batches for the back's thread ([`Up::Queue`]). Both
//! go through the same `apply`, so the trace is the same either way.
//!
//! The front never waits for an answer from the back. The two things it
//! used to ask for travel as slots the back fills and later reads itself:
//! a ping's step number, which its pong shows ([`StepSlot`]), and what an
//! Engine.IO request told the tracker, which its response needs
//! ([`CtxSlot`]).

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::proto::http::Head;
use crate::step::{Channel, ConnId, Dir, Field, Finding, Frames, Step, Timestamp};
use crate::tcp::ConnMeta;

use super::budget::{self, Budget};
use super::eio::{EndKind, RequestCtx, Tracker, WsMessage};
use super::stream::ByteMap;
use super::ws::Delivered;
use super::{CaptureInfo, Detail, Rendered, Renderer, Sink};

/// A step's number, filled in when the back emits the step (a ping's, for
/// the pong that answers it).
#[derive(Debug, Clone, Default)]
pub struct StepSlot(Arc<AtomicU64>);

impl StepSlot {
    fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What an HTTP request told Engine.IO, filled in by the back when it
/// handles the request (unset: not an Engine.IO request).
pub type CtxSlot = Arc<OnceLock<RequestCtx>>;

/// An HTTP request for Engine.IO to annotate, emit, and decode the body of.
#[derive(Debug)]
pub struct Request {
    pub step: Step,
    pub head: Head,
    pub body: Arc<[u8]>,
    /// Which packets carried which bytes of the body.
    pub body_map: ByteMap,
    pub frames: Frames,
    pub time: Timestamp,
    pub ctx: CtxSlot,
}

/// An HTTP response as Engine.IO reads it.
#[derive(Debug)]
pub struct Exchange {
    pub conn: ConnId,
    pub head: Head,
    pub body: Arc<[u8]>,
    /// Which packets carried which bytes of the body.
    pub body_map: ByteMap,
    pub frames: Frames,
    pub time: Timestamp,
    /// The request's slot, when the response answers a known request.
    pub ctx: Option<CtxSlot>,
}

impl Exchange {
    fn ctx(&self) -> Option<&RequestCtx> {
        self.ctx.as_ref().and_then(|c| c.get())
    }
}

/// An HTTP response: Engine.IO annotates its step, then it is emitted.
#[derive(Debug)]
pub struct Response {
    pub step: Step,
    /// Findings of the connection layer, added after Engine.IO's.
    pub findings: Vec<Finding>,
    pub ex: Exchange,
    /// Decode the body as Engine.IO packets right after the step (otherwise
    /// a later [`Cmd::ResponseBody`] may).
    pub body_now: bool,
}

/// One thing the front hands the back, in trace order.
#[derive(Debug)]
pub enum Cmd {
    /// The capture's first TCP packet was read.
    Capture(Box<CaptureInfo>),
    /// A connection, before its first step.
    Connection(Box<ConnMeta>),
    Step(Box<Step>),
    /// A step rendered on the front ([`super::Interest::renderer`]).
    Rendered(Box<RenderedStep>),
    /// Steps the sink does not read ([`super::Interest`]): only
    /// numbered.
    Skipped(u64),
    /// A ping frame: its number goes in the slot.
    Ping(Box<Step>, StepSlot),
    /// A pong frame that answers the ping whose number is in the slot.
    Pong(Box<Step>, StepSlot),
    Request(Box<Request>),
    Response(Box<Response>),
    /// A response's body, decoded after steps of the connection layer.
    ResponseBody(Box<Exchange>),
    /// An Engine.IO request's WebSocket upgrade succeeded.
    WsOpened {
        channel: Channel,
        target: String,
    },
    /// A complete WebSocket message, its payload at `at` in the batch's
    /// [`Batch::data`].
    WsMessage {
        channel: Channel,
        dir: Dir,
        text: bool,
        at: Range<usize>,
        frames: Frames,
        time: Timestamp,
    },
    /// The capture ended at this time: what only the end completes.
    End(Timestamp),
    /// The step just sent ended a direction of a connection (FIN, RST)
    /// or carried a WebSocket Close: Engine.IO sessions end on these.
    Ending {
        conn: ConnId,
        dir: Dir,
        kind: EndKind,
        time: Timestamp,
    },
}

/// A step rendered on the front: what the back still needs of it (to count
/// its findings and hand it over), and where its rendering is in the
/// batch's [`Batch::data`] (`None`: not shown).
#[derive(Debug)]
pub struct RenderedStep {
    step: Step,
    at: Option<Range<usize>>,
}

impl RenderedStep {
    fn of(s: Step, at: Option<Range<usize>>) -> RenderedStep {
        let mut step = Step::new(s.conn, s.dir, s.kind, s.time);
        step.frames = s.frames;
        step.session = s.session;
        step.findings = s.findings;
        RenderedStep { step, at }
    }
}

/// A batch of commands on its way to the back, and the payload bytes it
/// holds (batches are sent when either is large, so memory stays bounded
/// by bytes as well as by count).
///
/// Message payloads are copied into one buffer per batch, and batches go
/// back to the front to be reused: a payload allocated on one thread and
/// freed on the other costs the allocator far more than the copy.
#[derive(Debug, Default)]
pub struct Batch {
    pub cmds: Vec<Cmd>,
    /// The payloads of the batch's [`Cmd::WsMessage`]s and the renderings
    /// of its [`Cmd::Rendered`] steps.
    pub data: Vec<u8>,
    /// The capture's origin, for renderings (set by [`Cmd::Capture`],
    /// which comes before every step).
    pub origin: Timestamp,
    /// Bytes held by the commands themselves (step buffers, HTTP bodies).
    pub bytes: usize,
    /// The run's decoded-content budget: a step holding more is not
    /// rendered here but handed to the back, which gives it as digests.
    pub keep_limit: u64,
}

impl Batch {
    /// Commands per batch.
    pub const CMDS: usize = 1024;
    /// Payload bytes past which a batch is sent.
    pub const BYTES: usize = 1 << 20;

    pub fn full(&self) -> bool {
        self.cmds.len() >= Batch::CMDS || self.bytes + self.data.len() >= Batch::BYTES
    }

    /// Empties a batch for reuse, keeping its allocations, but not the
    /// room of a payload or rendering far larger than a batch: batches are
    /// recycled for the whole run, and a 16 MiB message's 50 MB ndjson
    /// line kept that much resident in each.
    pub fn clear(&mut self) {
        self.cmds.clear();
        self.data.clear();
        if self.data.capacity() > 4 * Batch::BYTES {
            self.data = Vec::new();
        }
        self.bytes = 0;
    }

    fn push(&mut self, cmd: Cmd) {
        if let Cmd::Capture(info) = &cmd {
            self.origin = info.origin;
        }
        self.bytes += match &cmd {
            Cmd::Step(s) | Cmd::Ping(s, _) | Cmd::Pong(s, _) => step_bytes(s),
            Cmd::Request(r) => step_bytes(&r.step) + r.body.len(),
            Cmd::Response(r) => step_bytes(&r.step) + r.ex.body.len(),
            Cmd::ResponseBody(ex) => ex.body.len(),
            Cmd::Skipped(_)
            | Cmd::Rendered(_)
            | Cmd::Capture(_)
            | Cmd::Connection(_)
            | Cmd::WsOpened { .. }
            | Cmd::WsMessage { .. }
            | Cmd::Ending { .. }
            | Cmd::End(_) => 0,
        };
        self.cmds.push(cmd);
    }
}

fn step_bytes(s: &Step) -> usize {
    s.buffers.iter().map(|b| b.data.len()).sum()
}

/// Where the front's commands go.
pub enum Up<'a> {
    /// Applied at once (a sequential run).
    Now(&'a mut Back, &'a mut dyn Sink),
    /// Queued for the back's thread (a pipelined run), steps rendered here
    /// when the sink has a [`Renderer`].
    Queue(&'a mut Batch, Option<&'a dyn Renderer>),
}

impl Up<'_> {
    /// An HTTP request, for Engine.IO to read (it fills the request's
    /// slot), then its step.
    pub fn request(&mut self, r: Request) {
        self.send(Cmd::Request(Box::new(r)));
    }

    /// An HTTP response, for Engine.IO to read, then its step.
    pub fn response(&mut self, r: Response) {
        self.send(Cmd::Response(Box::new(r)));
    }

    /// A response's body, for Engine.IO, after the connection's steps.
    pub fn response_body(&mut self, ex: Exchange) {
        self.send(Cmd::ResponseBody(Box::new(ex)));
    }

    /// An Engine.IO request's WebSocket upgrade succeeded on `channel`.
    pub fn ws_opened(&mut self, channel: Channel, target: String) {
        self.send(Cmd::WsOpened { channel, target });
    }

    /// The run's own commands (the capture, connections, the end); the
    /// layers use the methods above.
    pub(super) fn send(&mut self, cmd: Cmd) {
        match self {
            Up::Now(back, sink) => back.apply(&mut { cmd }, &[], &mut **sink),
            Up::Queue(batch, _) => batch.push(cmd),
        }
    }

    /// A complete WebSocket message for Engine.IO.
    pub fn ws_message(&mut self, channel: Channel, dir: Dir, m: Delivered) {
        match self {
            Up::Now(back, sink) => {
                let m = WsMessage {
                    channel,
                    dir,
                    text: m.text,
                    payload: &m.payload,
                    frames: m.frames,
                    time: m.time,
                };
                back.ws_message(m, &mut **sink)
            }
            Up::Queue(batch, _) => {
                let start = batch.data.len();
                batch.data.extend_from_slice(&m.payload);
                batch.push(Cmd::WsMessage {
                    channel,
                    dir,
                    text: m.text,
                    at: start..batch.data.len(),
                    frames: m.frames,
                    time: m.time,
                });
            }
        }
    }

    pub fn step(&mut self, s: Step) {
        let ending = ending(&s);
        self.step_only(s);
        if let Some(cmd) = ending {
            self.send(cmd);
        }
    }

    fn step_only(&mut self, s: Step) {
        match self {
            Up::Now(back, sink) => {
                back.out(&mut **sink).1.emit(&s);
            }
            // Rendered here, for a sink that can have it so: the step is
            // freed where it was built, and the output's work is shared.
            Up::Queue(batch, Some(r)) if budget::decoded_bytes(&s) <= batch.keep_limit => {
                let start = batch.data.len();
                let shown = r.render(&s, batch.origin, &mut batch.data);
                let at = start..batch.data.len();
                batch.push(Cmd::Rendered(Box::new(RenderedStep::of(
                    s,
                    shown.then_some(at),
                ))));
            }
            // Boxed, so a command is a few cache lines: batches cross from
            // one core to the other.
            Up::Queue(batch, _) => batch.push(Cmd::Step(Box::new(s))),
        }
    }

    /// A ping frame's step; its number goes in `slot`.
    pub fn ping(&mut self, s: Step, slot: StepSlot) {
        self.send(Cmd::Ping(Box::new(s), slot));
    }

    /// A pong frame's step, answering the ping whose number is in `slot`.
    pub fn pong(&mut self, s: Step, slot: StepSlot) {
        self.send(Cmd::Pong(Box::new(s), slot));
    }

    /// A lean step the sink reads only if it has findings (`unremarkable`:
    /// [`Detail`]'s flag for its kind); otherwise it is only numbered.
    pub fn lean_step(&mut self, s: Step, unremarkable: bool) {
        if unremarkable || !s.findings.is_empty() {
            return self.step(s);
        }
        match self {
            Up::Now(back, sink) => back.skip(1, &mut **sink),
            Up::Queue(batch, _) => match batch.cmds.last_mut() {
                Some(Cmd::Skipped(n)) => *n += 1,
                _ => batch.push(Cmd::Skipped(1)),
            },
        }
    }
}

/// The back of a run: Engine.IO / Socket.IO across connections, step
/// numbers, finding counts, and the first output error.
#[derive(Debug, Default)]
pub struct Back {
    pub eio: Tracker,
    /// Steps emitted so far (the number of the last one).
    pub steps: u64,
    pub findings: BTreeMap<&'static str, u64>,
    pub output_error: Option<io::Error>,
    /// The decoded content the sink holds (`--limit decoded-total`).
    pub budget: Budget,
}

impl Clone for Back {
    /// A snapshot between packets, when no output error is pending (a run
    /// stops at its first one).
    fn clone(&self) -> Back {
        Back {
            eio: self.eio.clone(),
            steps: self.steps,
            findings: self.findings.clone(),
            output_error: None,
            budget: self.budget.clone(),
        }
    }
}

/// Step numbering and counting, apart from the tracker so both can be
/// borrowed at once.
struct Out<'a> {
    steps: &'a mut u64,
    findings: &'a mut BTreeMap<&'static str, u64>,
    output_error: &'a mut Option<io::Error>,
    budget: &'a mut Budget,
    sink: &'a mut dyn Sink,
}

impl Out<'_> {
    /// Hands a step to the sink and returns its number (1-based, in
    /// emission order, the number every output shows).
    fn emit(&mut self, step: &Step) -> u64 {
        self.emit_with(step, Rendered::No)
    }

    /// [`Out::emit`] for a step the sink's renderer rendered.
    fn emit_rendered(&mut self, step: &Step, rendered: Option<&[u8]>) {
        self.emit_with(step, rendered.map_or(Rendered::Hidden, Rendered::Yes));
    }

    /// Numbers `step`, counts its findings and hands it over.
    fn emit_with(&mut self, step: &Step, rendered: Rendered<'_>) -> u64 {
        *self.steps += 1;
        let number = *self.steps;
        if self.output_error.is_some() {
            return number;
        }
        // A step rendered on the front held its content only while it was
        // rendered (and fitted the budget alone).
        let digested = match rendered {
            Rendered::No => self.budget.admit(step),
            Rendered::Yes(_) | Rendered::Hidden => None,
        };
        let step = digested.as_ref().unwrap_or(step);
        for f in &step.findings {
            *self.findings.entry(f.rule.id).or_default() += 1;
        }
        if let Err(e) = self.sink.step(number, step, rendered) {
            *self.output_error = Some(e);
        }
        number
    }

    /// Numbers `n` steps the sink does not read.
    fn skip(&mut self, n: u64) {
        *self.steps += n;
    }

    /// Runs a sink call unless output already failed.
    fn call(&mut self, f: impl FnOnce(&mut dyn Sink) -> io::Result<()>) {
        if self.output_error.is_none()
            && let Err(e) = f(&mut *self.sink)
        {
            *self.output_error = Some(e);
        }
    }
}

impl Back {
    pub fn new(eio: Tracker, budget: Budget) -> Back {
        Back {
            eio,
            budget,
            ..Back::default()
        }
    }

    pub fn set_detail(&mut self, detail: Detail) {
        self.eio.set_detail(detail);
        self.budget.set_kept(detail.kept);
    }

    fn out<'a>(&'a mut self, sink: &'a mut dyn Sink) -> (&'a mut Tracker, Out<'a>) {
        (
            &mut self.eio,
            Out {
                steps: &mut self.steps,
                findings: &mut self.findings,
                output_error: &mut self.output_error,
                budget: &mut self.budget,
                sink,
            },
        )
    }

    fn skip(&mut self, n: u64, sink: &mut dyn Sink) {
        self.out(sink).1.skip(n);
    }

    /// A complete WebSocket message on a connection.
    fn ws_message(&mut self, m: WsMessage<'_>, sink: &mut dyn Sink) {
        let (eio, mut out) = self.out(sink);
        eio.ws_message(m, &mut |s| out.emit(s));
    }

    /// Carries out one command of the front; `data` is its batch's
    /// [`Batch::data`]. Taken by reference, so a batch's commands are
    /// dropped where they were (on the back's thread, in one go).
    pub fn apply(&mut self, cmd: &mut Cmd, data: &[u8], sink: &mut dyn Sink) {
        if let Cmd::WsMessage {
            channel,
            dir,
            text,
            at,
            frames,
            time,
        } = cmd
        {
            let m = WsMessage {
                channel: *channel,
                dir: *dir,
                text: *text,
                payload: data.get(at.clone()).unwrap_or_default(),
                frames: std::mem::take(frames),
                time: *time,
            };
            return self.ws_message(m, sink);
        }
        let (eio, mut out) = self.out(sink);
        match cmd {
            Cmd::Capture(info) => {
                eio.set_origin(info.origin);
                out.call(|s| s.capture(info))
            }
            Cmd::Connection(meta) => {
                eio.connection(meta.id, meta.client.ip());
                out.call(|s| s.connection(meta))
            }
            Cmd::Step(s) => {
                out.emit(s);
            }
            Cmd::Rendered(r) => {
                let rendered = r.at.clone().and_then(|at| data.get(at));
                out.emit_rendered(&r.step, rendered);
            }
            Cmd::Skipped(n) => out.skip(*n),
            Cmd::Ping(s, slot) => slot.set(out.emit(s)),
            Cmd::Pong(s, slot) => {
                answers_ping(s, slot.get());
                out.emit(s);
            }
            Cmd::Request(r) => {
                let Request {
                    step,
                    head,
                    body,
                    body_map,
                    frames,
                    time,
                    ctx: slot,
                } = &mut **r;
                let ctx = eio.request(head, step);
                let conn = step.conn;
                out.emit(step);
                if let Some(ctx) = ctx {
                    let content_type = head.header("content-type").map(|h| h.value.as_str());
                    eio.request_body(
                        &ctx,
                        body,
                        body_map,
                        content_type,
                        (conn, std::mem::take(frames), *time),
                        &mut |s| out.emit(s),
                    );
                    let _ = slot.set(ctx);
                }
            }
            Cmd::Response(r) => {
                let Response {
                    step,
                    findings,
                    ex,
                    body_now,
                } = &mut **r;
                if let Some(ctx) = ex.ctx() {
                    eio.response(ctx, &ex.head, &ex.body, step);
                }
                step.findings.append(findings);
                let n = out.emit(step);
                if let Some(ctx) = ex.ctx() {
                    eio.response_emitted(ctx, &ex.head, &ex.body, step, n);
                }
                if *body_now {
                    response_body(eio, &mut out, ex);
                }
            }
            Cmd::ResponseBody(ex) => response_body(eio, &mut out, ex),
            Cmd::WsOpened { channel, target } => eio.websocket_opened(*channel, target),
            Cmd::End(capture_end) => eio.end(*capture_end, &mut |s| out.emit(s)),
            Cmd::Ending {
                conn,
                dir,
                kind,
                time,
            } => eio.ending(*conn, *dir, *kind, *time, *out.steps),
            Cmd::WsMessage { .. } => {}
        }
    }
}

/// The [`Cmd::Ending`] a step implies, if it ends a transport: a FIN, a
/// RST, a WebSocket Close frame.
fn ending(s: &Step) -> Option<Cmd> {
    let kind = match s.kind {
        "tcp.fin" => EndKind::Fin,
        "tcp.rst" => EndKind::Rst,
        "websocket.frame" => {
            let op = s.fields.iter().find(|f| f.name == "websocket.opcode")?;
            if op.value != crate::step::Value::UInt(8) {
                return None;
            }
            let code = s
                .field("websocket.payload.close.status_code")
                .and_then(|f| match f.value {
                    crate::step::Value::UInt(c) => u16::try_from(c).ok(),
                    _ => None,
                });
            EndKind::WsClose(code)
        }
        _ => return None,
    };
    Some(Cmd::Ending {
        conn: s.conn,
        dir: s.dir,
        kind,
        time: s.time,
    })
}

/// A response body: a GET's carries Engine.IO packets.
fn response_body(eio: &mut Tracker, out: &mut Out<'_>, ex: &Exchange) {
    if let Some(ctx) = ex.ctx() {
        eio.response_body(
            ctx,
            &ex.head,
            &ex.body,
            &ex.body_map,
            (ex.conn, ex.frames.clone(), ex.time),
            &mut |s| out.emit(s),
        );
    }
}

/// A pong's fields and summary for the ping it answers (RFC 6455 §5.5.3).
fn answers_ping(s: &mut Step, ping_step: u64) {
    s.fields.push(
        Field::new("websocket.pong.answers", ping_step)
            .show(format!("answers the ping of step {ping_step}")),
    );
    s.summary.push_str(&format!(" (answers step {ping_step})"));
}
