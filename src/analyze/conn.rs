//! One connection's decoders: which layer reads each direction's bytes, and
//! the hand-over between layers — HTTP until an upgrade succeeds, then
//! WebSocket frames from the exact byte after the `101` response (frames may
//! share a TCP segment with it). What the handshake checks and shows lives
//! in [`super::handshake`]; this module only swaps the layers it decides.

use std::collections::VecDeque;

use crate::proto::http;
use crate::proto::ws::RequestCheck;
use crate::step::{Channel, Dir};
use crate::tcp::{ConnMeta, Control, Event};

use super::Detail;
use super::handshake;
use super::http as httpstep;
use super::layer::{Cx, Layer, Next};
use super::stream::StreamBuf;
use super::tcpsteps;
use super::tls::{self, TlsConn};
use super::up::{CtxSlot, Exchange, Request, Response, Up};
use super::ws::{self, Pings, WsDir};

/// Caps of the protocol layers, so a hostile capture cannot make a run
/// allocate without bound. Defaults fit a laptop; every one can be raised.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest raw data step (bytes); longer deliveries are split.
    pub max_raw_step: usize,
    pub http: http::Limits,
    pub ws: ws::Limits,
    pub engineio: crate::proto::engineio::Limits,
    /// Engine.IO sessions tracked in one run; later open packets are shown
    /// but start no session.
    pub engineio_sessions: usize,
    /// HTTP requests waiting for their response on one connection
    /// (pipelining); past it the oldest is forgotten.
    pub max_pending_requests: usize,
    /// TLS secrets (`--keylog` files and the capture's Decryption Secrets
    /// Blocks), looked up by each ClientHello's random.
    pub keylog: tls::SharedKeyLog,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_raw_step: 64 * 1024,
            http: http::Limits::default(),
            ws: ws::Limits::default(),
            engineio: crate::proto::engineio::Limits::default(),
            engineio_sessions: 10_000,
            max_pending_requests: 1024,
            keylog: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
struct DirState {
    buf: StreamBuf,
    /// The top of the direction's layer stack (see [`super::layer`]).
    layer: Layer,
}

/// A request waiting for its response.
#[derive(Debug, Clone)]
struct PendingRequest {
    method: String,
    target: String,
    /// The upgrade checks, when the request asks for a WebSocket.
    upgrade: Option<RequestCheck>,
    /// What Engine.IO made of the request (filled in when it handled it).
    eio: CtxSlot,
}

/// A connection being decoded.
#[derive(Debug, Clone)]
pub struct ConnState {
    meta: ConnMeta,
    limits: Limits,
    dirs: [DirState; 2],
    requests: VecDeque<PendingRequest>,
    pings: Pings,
    /// Which directions have ended (FIN, or RST for both).
    ended: [bool; 2],
    detail: Detail,
    /// The WebSocket was opened by an Engine.IO request: its messages go to
    /// the Engine.IO layer (which ignores any other connection's).
    engineio: bool,
    /// The TLS layer below the stacks, once a direction started with a
    /// handshake record.
    tls: Option<Box<TlsConn>>,
}

impl ConnState {
    pub fn new(meta: ConnMeta, limits: Limits, detail: Detail) -> ConnState {
        let dir = || DirState {
            buf: StreamBuf::default(),
            layer: Layer::Detect,
        };
        ConnState {
            meta,
            limits,
            dirs: [dir(), dir()],
            requests: VecDeque::new(),
            pings: Default::default(),
            ended: [false; 2],
            detail,
            engineio: false,
            tls: None,
        }
    }

    /// Changes which steps are built in full from here on (a run resumed
    /// from a checkpoint of a lean run).
    pub fn set_detail(&mut self, detail: Detail) {
        self.detail = detail;
        for d in &mut self.dirs {
            if let Layer::WebSocket(w) = &mut d.layer {
                w.set_detail(detail);
            }
        }
    }

    /// Handles one reassembler event, emitting the steps it completes.
    pub fn event(&mut self, ev: Event<'_>, up: &mut Up<'_>) {
        let id = self.meta.id;
        match ev {
            Event::Open(_) => {}
            Event::Control {
                dir,
                control,
                at,
                segment,
                rel_seq,
                rel_ack,
            } => {
                if matches!(control, Control::Fin | Control::Rst) {
                    // The end of a direction completes a body read to close.
                    self.pump(dir, true, up);
                }
                up.step(tcpsteps::control(
                    id, dir, control, at, segment, rel_seq, rel_ack,
                ));
                match control {
                    Control::Fin => self.ended[dir.index()] = true,
                    Control::Rst => {
                        self.pump(dir.reverse(), true, up);
                        self.ended = [true, true];
                    }
                    _ => {}
                }
                if self.ended == [true, true] {
                    self.release();
                }
            }
            Event::Anomaly {
                dir,
                at,
                rule,
                message,
            } => {
                up.step(tcpsteps::anomaly(id, dir, at, rule, message));
            }
            Event::Gap {
                dir,
                offset,
                len,
                at,
                why,
            } => {
                let state = &mut self.dirs[dir.index()];
                if matches!(state.layer, Layer::Detect) {
                    // Too few bytes were seen to tell the protocol, and after
                    // a hole nothing can be told: show the bytes as they are.
                    state.layer = Layer::Raw;
                    flush_raw(id, dir, &mut state.buf, self.limits.max_raw_step, up);
                }
                let mut stops = self.stop_decoder(dir);
                if let Some(t) = self.tls.as_mut()
                    && t.reads(dir)
                {
                    t.gap(dir);
                    stops = Some("TLS");
                }
                up.step(tcpsteps::gap(id, dir, offset, len, at, why, stops));
            }
            Event::Data {
                dir,
                offset,
                data,
                at,
            } => {
                if let Some(t) = self.tls.as_mut()
                    && t.reads(dir)
                {
                    t.push(dir, offset, data, at);
                    self.tls_read(dir, false, up);
                    return;
                }
                let state = &mut self.dirs[dir.index()];
                match state.layer {
                    Layer::Raw => {
                        let max = self.limits.max_raw_step.max(1);
                        for (i, chunk) in data.chunks(max).enumerate() {
                            up.step(tcpsteps::data(
                                id,
                                dir,
                                offset + (i * max) as u64,
                                chunk,
                                smallvec::smallvec![at.frame],
                                at.time,
                                "no higher layer recognised",
                            ));
                        }
                    }
                    Layer::Stopped => {}
                    _ => {
                        state.buf.push(offset, data, at);
                        self.pump(dir, false, up);
                    }
                }
            }
        }
    }

    /// Runs the layer of a direction over its buffered bytes, acting on its
    /// answers until it needs more.
    fn pump(&mut self, dir: Dir, at_end: bool, up: &mut Up<'_>) {
        let d = dir.index();
        loop {
            let method = match dir {
                Dir::S2c => self.requests.front().map(|r| r.method.as_str()),
                Dir::C2s => None,
            };
            let state = &mut self.dirs[d];
            let mut cx = Cx {
                channel: Channel::of(self.meta.id),
                dir,
                at_end,
                request_method: method,
                limits: &self.limits,
                pings: &mut self.pings,
                deliver: self.engineio,
                up,
            };
            match state.layer.read(&mut state.buf, &mut cx) {
                Next::NeedMore => return,
                Next::Switch(layer) => state.layer = layer,
                Next::Stop => {
                    state.layer = Layer::Stopped;
                    state.buf.clear();
                    return;
                }
                Next::Up(m) => match dir {
                    Dir::C2s => self.request(*m, up),
                    Dir::S2c => self.response(*m, up),
                },
                Next::Tls => {
                    if self.tls.as_ref().is_some_and(|t| t.reads(dir)) {
                        // TLS inside TLS is not decoded: shown as data.
                        state.layer = Layer::Raw;
                        continue;
                    }
                    let records = std::mem::take(&mut state.buf);
                    state.layer = Layer::Detect;
                    let keylog = &self.limits.keylog;
                    self.tls
                        .get_or_insert_with(|| Box::new(TlsConn::new(self.meta.id, keylog.clone())))
                        .start(dir, records);
                    self.tls_read(dir, at_end, up);
                    return;
                }
            }
        }
    }

    /// Reads the TLS records buffered for a direction; what they decrypt to
    /// becomes the buffer of the direction's stack, which then reads it.
    fn tls_read(&mut self, dir: Dir, at_end: bool, up: &mut Up<'_>) {
        let Some(t) = self.tls.as_mut() else {
            return;
        };
        let out = t.read(dir, up);
        let state = &mut self.dirs[dir.index()];
        if t.alpn() == Some("h2") {
            // HTTP/2 frames are not HTTP/1.1: the records show the bytes.
            state.layer = Layer::Stopped;
            state.buf.clear();
            return;
        }
        for p in out.plain {
            state.buf.push(p.offset, &p.data, p.at);
        }
        self.pump(dir, at_end || out.stopped, up);
    }

    fn request(&mut self, m: httpstep::Message, up: &mut Up<'_>) {
        let id = self.meta.id;
        let mut s = httpstep::step(id, Dir::C2s, &m);
        let method = m.head.method().unwrap_or("").to_string();
        let target = match &m.head.start {
            http::StartLine::Request { target, .. } => target.clone(),
            _ => String::new(),
        };
        let upgrade = handshake::request(&mut s, &m.head);
        let ctx = CtxSlot::default();
        up.request(Request {
            step: s,
            head: m.head,
            body: m.body,
            body_map: m.body_map,
            frames: m.frames,
            time: m.time,
            ctx: ctx.clone(),
        });
        let is_upgrade = upgrade.is_some();
        if self.requests.len() >= self.limits.max_pending_requests {
            self.requests.pop_front();
        }
        self.requests.push_back(PendingRequest {
            method,
            target,
            upgrade,
            eio: ctx,
        });
        if is_upgrade {
            // RFC 6455 §4.1: the client waits for the server's answer before
            // sending frames; until then its bytes are neither HTTP nor WS.
            self.dirs[0].layer = Layer::AwaitUpgrade;
        }
    }

    fn response(&mut self, m: httpstep::Message, up: &mut Up<'_>) {
        let id = self.meta.id;
        let status = m.head.status().unwrap_or(0);
        // 1xx other than 101 are interim: the request still waits.
        let req = if (100..200).contains(&status) && status != 101 {
            None
        } else {
            self.requests.pop_front()
        };
        let s = httpstep::step(id, Dir::S2c, &m);
        let ctx = req.as_ref().map(|r| r.eio.clone());
        let Some(PendingRequest {
            upgrade: Some(check),
            target,
            ..
        }) = req
        else {
            up.response(Response {
                step: s,
                findings: Vec::new(),
                ex: exchange(id, m, ctx),
                body_now: true,
            });
            return;
        };
        let handshake::Answer {
            findings,
            accept,
            handshake,
            upgraded,
            deflate,
        } = handshake::answer(id, &m, &check);
        let ex = exchange(id, m, ctx);
        // The body of a refused upgrade comes after the handshake's steps.
        let body = (!upgraded).then(|| Exchange {
            head: ex.head.clone(),
            body: ex.body.clone(),
            body_map: ex.body_map.clone(),
            frames: ex.frames.clone(),
            ctx: ex.ctx.clone(),
            ..ex
        });
        up.response(Response {
            step: s,
            findings,
            ex,
            body_now: false,
        });
        if let Some(a) = accept {
            up.step(a);
        }
        up.step(handshake);
        if let Some(body) = body {
            up.response_body(body);
        }
        if upgraded {
            // The test `Tracker::websocket_opened` makes: a plain WebSocket's
            // messages are not handed over at all.
            self.engineio = crate::proto::engineio::parse_request_target(&target)
                .and_then(|q| q.version())
                .is_some();
            up.ws_opened(Channel::of(id), target);
            let c2s = deflate.map(|(c, _)| (true, c));
            let s2c = deflate.map(|(_, srv)| (true, srv));
            self.dirs[1].layer = Layer::WebSocket(Box::new(WsDir::new(
                id,
                Dir::S2c,
                s2c,
                self.limits.ws,
                self.detail,
            )));
            self.dirs[0].layer = Layer::WebSocket(Box::new(WsDir::new(
                id,
                Dir::C2s,
                c2s,
                self.limits.ws,
                self.detail,
            )));
            // The client's bytes that waited for this answer are frames.
            self.pump(Dir::C2s, false, up);
        } else if matches!(self.dirs[0].layer, Layer::AwaitUpgrade) {
            self.dirs[0].layer = Layer::Http(Box::default());
            self.pump(Dir::C2s, false, up);
        }
    }

    /// A gap: the higher layer of that direction cannot continue. Returns the
    /// layer's name when one was stopped.
    fn stop_decoder(&mut self, dir: Dir) -> Option<&'static str> {
        let state = &mut self.dirs[dir.index()];
        let layer = state.layer.name();
        state.layer.stop();
        state.buf.clear();
        layer
    }

    /// The connection is over: its decoders' memory (buffers, inflater
    /// windows) goes back; a finished connection costs only its stats.
    fn release(&mut self) {
        for d in &mut self.dirs {
            d.layer = Layer::Stopped;
            d.buf = StreamBuf::default();
        }
        if let Some(t) = self.tls.as_mut() {
            t.release();
        }
        self.requests.clear();
        self.pings = Default::default();
    }

    /// The capture ended: finish what can be finished.
    pub fn end_of_capture(&mut self, up: &mut Up<'_>) {
        for dir in [Dir::C2s, Dir::S2c] {
            self.pump(dir, true, up);
        }
    }
}

/// What Engine.IO reads of a response.
fn exchange(conn: u32, m: httpstep::Message, ctx: Option<CtxSlot>) -> Exchange {
    Exchange {
        conn,
        head: m.head,
        body: m.body,
        body_map: m.body_map,
        frames: m.frames,
        time: m.time,
        ctx,
    }
}

/// Shows a direction's buffered bytes as TCP data, in steps of at most
/// `max` bytes.
pub(super) fn flush_raw(conn: u32, dir: Dir, buf: &mut StreamBuf, max: usize, up: &mut Up<'_>) {
    let max = max.max(1);
    while !buf.is_empty() {
        let n = buf.len().min(max);
        let (frames, time) = buf.provenance(n);
        let s = tcpsteps::data(
            conn,
            dir,
            buf.offset(),
            &buf.bytes()[..n],
            frames,
            time,
            "no higher layer recognised",
        );
        buf.consume(n);
        up.step(s);
    }
}
