//! Engine.IO and Socket.IO as steps, across connections.
//!
//! One Engine.IO session spans several TCP connections — each long-poll may
//! be a connection of its own, and the WebSocket is another — so this layer
//! is global to the run: it stitches requests and WebSocket messages into
//! sessions by `sid`, follows the upgrade dance (`2probe`, `3probe`, the `6`
//! noop, `5`), checks the heartbeat, and decodes each message as Socket.IO:
//! namespaces, acks correlated both ways, binary attachments joined to the
//! packet that announced them.
//!
//! Sources: the Engine.IO protocol (v3, v4) and Socket.IO protocol (v4, v5)
//! specifications, and `shared/PROTOCOLS.md` §4–5 where their examples err.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value as J;

use crate::proto::engineio::{
    self as eio, OpenInfo, PacketType, Payload, Problem as EioProblem, Query, Version,
};
use crate::proto::http::Head;
use crate::proto::socketio::{self as sio, Protocol};
use crate::rules;
use crate::sanitize::escape;
use crate::step::{Channel, ConnId, Dir, Field, Finding, Frames, Step, Timestamp, Value};

use super::Detail;
use super::stream::ByteMap;

mod fields;
mod heartbeat;
mod session;
mod socketio;

use fields::{PayloadNote, binary_len, describe, packet_fields, side};
use socketio::Sio;

pub use session::EndKind;

type Emit<'a> = dyn FnMut(&Step) -> u64 + 'a;

/// What an HTTP request told about Engine.IO, kept until its response.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    query: Query,
    version: Option<Version>,
    method: String,
    session: Option<u32>,
}

/// A complete WebSocket message, as the connection layer hands it over.
#[derive(Debug)]
pub struct WsMessage<'a> {
    /// The WebSocket's channel (today: its connection).
    pub channel: Channel,
    pub dir: Dir,
    pub text: bool,
    pub payload: &'a [u8],
    pub frames: Frames,
    pub time: Timestamp,
}

/// Transport switches remembered per session for its summary.
const MAX_TRANSPORTS: usize = 16;

/// A packet's place in the capture.
#[derive(Debug, Clone)]
struct Where {
    conn: ConnId,
    dir: Dir,
    frames: Frames,
    time: Timestamp,
    transport: &'static str,
}

#[derive(Debug, Clone)]
struct Session {
    index: u32,
    sid: String,
    version: Version,
    open: Option<OpenInfo>,
    conns: BTreeSet<ConnId>,
    transports: Vec<&'static str>,
    packets: u64,
    first: Timestamp,
    last: Timestamp,
    last_frames: Frames,
    last_conn: ConnId,
    /// The client's `5`: polling must stop after this.
    upgraded_at: Option<Timestamp>,
    /// The last heartbeat ping (not probes): time and step.
    last_ping: Option<(Timestamp, u64)>,
    /// When the heartbeat clock started (the open packet).
    heartbeat_from: Option<Timestamp>,
    sio: Sio,
    /// How it ends, for its summary (see [`session`]).
    life: session::Life,
}

/// A WebSocket connection that carries Engine.IO.
#[derive(Debug, Clone, Copy)]
struct WsLink {
    version: Version,
    session: Option<u32>,
}

/// The Engine.IO / Socket.IO layer of a run.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    limits: eio::Limits,
    detail: Detail,
    max_sessions: usize,
    /// Open packets that found the session limit reached.
    sessions_skipped: u64,
    sessions: Vec<Session>,
    by_sid: HashMap<String, u32>,
    ws: HashMap<Channel, WsLink, foldhash::fast::RandomState>,
    /// The capture's first packet time (for times in sentences).
    origin: Timestamp,
    /// Each connection's client address.
    clients: Vec<Option<std::net::IpAddr>>,
    /// Handshakes answered with an error: no session opened.
    attempts: Vec<session::Attempt>,
    /// The sessions each connection carried requests or a WebSocket of.
    watched: HashMap<ConnId, Vec<u32>>,
}

impl Tracker {
    pub fn new(limits: eio::Limits, max_sessions: usize, detail: Detail) -> Tracker {
        Tracker {
            limits,
            detail,
            max_sessions,
            ..Tracker::default()
        }
    }

    /// Changes which steps are built in full from here on.
    pub fn set_detail(&mut self, detail: Detail) {
        self.detail = detail;
    }

    /// How many open packets found the session limit reached, if any did.
    pub fn sessions_skipped(&self) -> Option<u64> {
        (self.sessions_skipped > 0).then_some(self.sessions_skipped)
    }

    fn session_of(&self, sid: Option<&str>) -> Option<u32> {
        sid.and_then(|s| self.by_sid.get(s).copied())
    }

    /// A request: is it Engine.IO? Annotates its step (session, polling
    /// after the upgrade) and returns what its response will need.
    pub fn request(&mut self, head: &Head, step: &mut Step) -> Option<RequestCtx> {
        let target = match &head.start {
            crate::proto::http::StartLine::Request { target, .. } => target,
            _ => return None,
        };
        let query = eio::parse_request_target(target)?;
        let version = query.version();
        let session = self.session_of(query.sid.as_deref());
        step.session = session;
        if let Some(i) = session {
            let polling = query.transport.as_deref() != Some("websocket");
            self.life_request(i, step.conn, !polling);
            let s = &mut self.sessions[i as usize];
            s.conns.insert(step.conn);
            if polling && s.upgraded_at.is_some_and(|t| step.time > t) {
                step.findings.push(Finding::new(
                    &rules::ENGINEIO_AFTER_UPGRADE,
                    format!(
                        "this polling request comes after the client sent `5` (upgrade) on the WebSocket; once upgraded, session {} must use only the WebSocket",
                        s.sid
                    ),
                ));
            }
        }
        let mut fields = vec![Field::new(
            "engineio.version",
            Value::UInt(u64::from(query.eio.unwrap_or(0))),
        )];
        if let Some(t) = &query.transport {
            fields.push(Field::new("engineio.transport", t.as_str()));
        }
        if let Some(sid) = &query.sid {
            fields.push(Field::new("engineio.sid", sid.as_str()));
        }
        step.fields.extend(fields);
        Some(RequestCtx {
            version,
            method: head.method().unwrap_or("").to_string(),
            session,
            query,
        })
    }

    /// A request body: a POST carries client packets.
    #[allow(clippy::too_many_arguments)]
    pub fn request_body(
        &mut self,
        ctx: &RequestCtx,
        body: &[u8],
        map: &ByteMap,
        content_type: Option<&str>,
        at: (ConnId, Frames, Timestamp),
        emit: &mut Emit<'_>,
    ) {
        if ctx.method != "POST" || body.is_empty() {
            return;
        }
        let Some(version) = ctx.version else { return };
        let w = Where {
            conn: at.0,
            dir: Dir::C2s,
            frames: at.1,
            time: at.2,
            transport: "polling",
        };
        self.polling_payload(
            &w,
            version,
            ctx,
            (body, map),
            content_type,
            eio::unwrap_jsonp_post,
            emit,
        );
    }

    /// A response: version mismatches, session bookkeeping.
    pub fn response(&mut self, ctx: &RequestCtx, head: &Head, body: &[u8], step: &mut Step) {
        step.session = ctx.session;
        let status = head.status().unwrap_or(0);
        if status == 400 && ctx.version == Some(Version::V3) {
            let detail = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            step.findings.push(Finding::new(
                &rules::ENGINEIO_VERSION_MISMATCH,
                format!(
                    "the client speaks Engine.IO 3 (EIO=3: a socket.io 1.x/2.x client) and the server refused it with 400 ({}); python-engineio 4.x and socket.io 3+ without allowEIO3 accept only EIO=4",
                    escape(detail.trim())
                ),
            ));
        }
    }

    /// A response was emitted as step `step`: its session's bookkeeping
    /// (pending requests, the upgrade's answer, HTTP errors).
    pub fn response_emitted(
        &mut self,
        ctx: &RequestCtx,
        head: &Head,
        body: &[u8],
        step: &Step,
        n: u64,
    ) {
        self.life_response(
            ctx.session,
            ctx.query.transport.as_deref(),
            step,
            head.status().unwrap_or(0),
            body,
            n,
        );
    }

    /// A response body: a GET's carries server packets; a POST's is `ok`.
    #[allow(clippy::too_many_arguments)]
    pub fn response_body(
        &mut self,
        ctx: &RequestCtx,
        head: &Head,
        body: &[u8],
        map: &ByteMap,
        at: (ConnId, Frames, Timestamp),
        emit: &mut Emit<'_>,
    ) {
        let Some(version) = ctx.version else { return };
        if head.status() != Some(200) || body.is_empty() {
            return;
        }
        if ctx.method == "POST" {
            // The server acknowledges a POST with `ok` (python-engineio
            // writes `OK`); nothing to decode.
            return;
        }
        let w = Where {
            conn: at.0,
            dir: Dir::S2c,
            frames: at.1,
            time: at.2,
            transport: "polling",
        };
        let content_type = head.header("content-type").map(|h| h.value.clone());
        self.polling_payload(
            &w,
            version,
            ctx,
            (body, map),
            content_type.as_deref(),
            eio::unwrap_jsonp_response,
            emit,
        );
    }

    /// A polling body: JSONP-wrapped when the request asked for JSONP
    /// (`j=`), then decoded as a payload. `map` says which packets carried
    /// which bytes of the body (a JSONP body's packets are not mapped: its
    /// text is unescaped first).
    #[allow(clippy::too_many_arguments)]
    fn polling_payload(
        &mut self,
        w: &Where,
        version: Version,
        ctx: &RequestCtx,
        (body, map): (&[u8], &ByteMap),
        content_type: Option<&str>,
        unwrap_jsonp: fn(&[u8]) -> Result<String, EioProblem>,
        emit: &mut Emit<'_>,
    ) {
        if ctx.query.jsonp_index.is_none() {
            self.payload(
                w,
                version,
                ctx.session,
                (body, map),
                content_type,
                false,
                emit,
            );
            return;
        }
        match unwrap_jsonp(body) {
            Ok(text) => self.payload(
                w,
                version,
                ctx.session,
                (text.as_bytes(), &ByteMap::default()),
                content_type,
                true,
                emit,
            ),
            Err(p) => {
                emit(&self.problem_step(w, ctx.session, &p));
            }
        }
    }

    /// The WebSocket upgrade of an Engine.IO request succeeded.
    pub fn websocket_opened(&mut self, channel: Channel, target: &str) {
        let Some(query) = eio::parse_request_target(target) else {
            return;
        };
        let Some(version) = query.version() else {
            return;
        };
        let session = self.session_of(query.sid.as_deref());
        if let Some(i) = session {
            self.sessions[i as usize].conns.insert(channel.conn);
        }
        self.ws.insert(channel, WsLink { version, session });
    }

    /// A WebSocket message on an Engine.IO connection: one packet.
    pub fn ws_message(&mut self, m: WsMessage<'_>, emit: &mut Emit<'_>) {
        let WsMessage {
            channel,
            dir,
            text,
            payload,
            frames,
            time,
        } = m;
        let Some(link) = self.ws.get(&channel).copied() else {
            return;
        };
        let w = Where {
            conn: channel.conn,
            dir,
            frames,
            time,
            transport: "websocket",
        };
        let decoded = if text {
            match std::str::from_utf8(payload) {
                Ok(t) => eio::decode_ws_text(link.version, t),
                Err(_) => Err(EioProblem::NotUtf8 {
                    span: 0..payload.len(),
                }),
            }
        } else {
            eio::decode_ws_binary(link.version, payload)
        };
        match decoded {
            Ok(p) => {
                let session = self.packet(
                    &w,
                    link.version,
                    link.session,
                    &p,
                    payload,
                    None,
                    None,
                    emit,
                );
                if link.session.is_none()
                    && let Some(s) = session
                    && let Some(l) = self.ws.get_mut(&channel)
                {
                    l.session = Some(s);
                }
            }
            Err(p) => {
                emit(&self.problem_step(&w, link.session, &p));
            }
        }
    }

    /// The packets of a polling body, each step naming the packets that
    /// carried its own record when `map` knows them (else the body's).
    #[allow(clippy::too_many_arguments)]
    fn payload(
        &mut self,
        w: &Where,
        version: Version,
        session: Option<u32>,
        (body, map): (&[u8], &ByteMap),
        content_type: Option<&str>,
        jsonp: bool,
        emit: &mut Emit<'_>,
    ) {
        let data: Arc<[u8]> = Arc::from(body);
        let payload: Payload = eio::decode_payload(version, body, content_type, &self.limits);
        let at = |span: Option<std::ops::Range<usize>>| -> Where {
            match span.and_then(|r| map.frames(r)) {
                Some(frames) => Where {
                    frames,
                    ..w.clone()
                },
                None => w.clone(),
            }
        };
        for p in &payload.problems {
            emit(&self.problem_step(&at(p.span()), session, p));
        }
        let count = payload.packets.len();
        let mut session = session;
        for (i, pp) in payload.packets.iter().enumerate() {
            let note = PayloadNote {
                index: i,
                count,
                rule: pp.length_rule.map(|r| match r {
                    eio::LengthRule::Utf16Units => "utf16-units",
                    eio::LengthRule::Utf8Bytes => "utf8-bytes",
                }),
                record: pp.record.clone(),
                too_many: i == 0 && payload.exceeds_python_engineio_limit(),
                jsonp,
            };
            let s = self.packet(
                &at(Some(pp.record.clone())),
                version,
                session,
                &pp.packet,
                body,
                Some(&data),
                Some(note),
                emit,
            );
            session = session.or(s);
        }
    }

    /// One Engine.IO packet: its step, session bookkeeping, and the
    /// Socket.IO packet inside a message. Returns the packet's session.
    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        w: &Where,
        version: Version,
        session: Option<u32>,
        p: &eio::Packet<'_>,
        data: &[u8],
        shared: Option<&Arc<[u8]>>,
        note: Option<PayloadNote>,
        emit: &mut Emit<'_>,
    ) -> Option<u32> {
        let mut s = Step::new(w.conn, w.dir, "engineio.packet", w.time);
        s.frames = Frames::from_slice(&w.frames);
        // Message packets are the hot path; every other type is rare and
        // carries session logic, so it is always built in full.
        let full = self.detail.engineio || p.ptype != PacketType::Message;
        if full {
            let data = shared.cloned().unwrap_or_else(|| Arc::from(data));
            packet_fields(&mut s, w, version, p, data, note.as_ref());
        }
        if let Some(n) = &note
            && n.too_many
        {
            s.findings.push(Finding::new(
                &rules::ENGINEIO_TOO_MANY_PACKETS,
                format!(
                    "this polling payload carries {} packets; python-engineio refuses payloads of more than 16",
                    n.count
                ),
            ));
        }
        for pr in &p.problems {
            s.findings.push(Finding::new(pr.rule(), pr.message()));
        }

        // The open packet creates the session (over polling, or over a
        // WebSocket opened without polling first).
        let mut session = session;
        if p.ptype == PacketType::Open {
            match eio::parse_open(p.text().unwrap_or("")) {
                Ok(open) => {
                    s.fields
                        .push(Field::new("engineio.open.sid", open.sid.as_str()));
                    s.fields.push(Field::new(
                        "engineio.open.upgrades",
                        Value::Json(J::from(open.upgrades.clone())),
                    ));
                    if let Some(v) = open.ping_interval {
                        s.fields
                            .push(Field::new("engineio.open.ping_interval", v).show("ms"));
                    }
                    if let Some(v) = open.ping_timeout {
                        s.fields
                            .push(Field::new("engineio.open.ping_timeout", v).show("ms"));
                    }
                    if let Some(v) = open.max_payload {
                        s.fields
                            .push(Field::new("engineio.open.max_payload", v).show("bytes"));
                    }
                    session = self.open_session(version, open, w);
                }
                Err(pr) => s
                    .findings
                    .push(Finding::new(&rules::ENGINEIO_BAD_OPEN, pr.message())),
            }
        }
        s.session = session;

        let text = p.text().unwrap_or("");
        if full {
            let (mut summary, stage) = describe(p.ptype, text, w.dir, version);
            if let Some(n) = binary_len(&p.data) {
                summary = format!(
                    "EIO {} ({}), binary: {n} bytes{}",
                    p.ptype.name(),
                    p.ptype.digit().map_or("?".into(), |d| d.to_string()),
                    if p.base64 { ", sent as base64" } else { "" }
                );
            }
            let mut stage = stage;
            // A noop with no upgrade under way only answers a long-poll.
            if p.ptype == PacketType::Noop
                && session.is_none_or(|i| !self.sessions[i as usize].life.upgrading())
            {
                stage = None;
                summary = "EIO noop (6): answers the pending long-poll with nothing (no upgrade is under way)".into();
            }
            if let Some(stage) = stage {
                s.fields.push(Field::new("engineio.upgrade_stage", stage));
            }
            s.summary = summary;
        }

        let Some(si) = session else {
            emit(&s);
            return None;
        };
        self.heartbeat(si, p.ptype, text, w, &mut s);
        let sess = &mut self.sessions[si as usize];
        sess.packets += 1;
        sess.last = w.time;
        // (Reusing the vector: this runs for every packet.)
        sess.last_frames.clear();
        sess.last_frames.extend(w.frames.iter().copied());
        sess.last_conn = w.conn;
        sess.conns.insert(w.conn);
        // (Bounded: a session that switches transport on every packet is
        // hostile, and the summary needs only the first switches.)
        // Probes and noops belong to the upgrade, not to a switch: a
        // packet polled during the probe does not make the session go
        // back to polling.
        let probe = text == "probe" && matches!(p.ptype, PacketType::Ping | PacketType::Pong);
        let switches = !(probe || p.ptype == PacketType::Noop);
        if switches
            && sess.transports.last() != Some(&w.transport)
            && sess.transports.len() < MAX_TRANSPORTS
        {
            sess.transports.push(w.transport);
        }
        if p.ptype == PacketType::Upgrade && w.dir == Dir::C2s {
            sess.upgraded_at.get_or_insert(w.time);
        }
        let step_no = emit(&s);
        self.life_packet(
            si,
            p.ptype,
            text,
            (w.dir, w.conn),
            w.transport == "websocket",
            w.time,
            step_no,
        );
        if p.ptype == PacketType::Ping && text != "probe" {
            self.sessions[si as usize].last_ping = Some((w.time, step_no));
        }
        if p.ptype == PacketType::Message {
            self.socketio(si, w, p, step_no, emit);
        }
        Some(si)
    }

    fn open_session(&mut self, version: Version, open: OpenInfo, w: &Where) -> Option<u32> {
        if let Some(&i) = self.by_sid.get(&open.sid) {
            return Some(i);
        }
        if self.sessions.len() >= self.max_sessions {
            self.sessions_skipped += 1;
            return None;
        }
        let index = self.sessions.len() as u32;
        let limits = self.limits.clone();
        self.by_sid.insert(open.sid.clone(), index);
        self.sessions.push(Session {
            index,
            sid: open.sid.clone(),
            version,
            open: Some(open),
            conns: BTreeSet::from([w.conn]),
            transports: Vec::new(),
            packets: 0,
            first: w.time,
            last: w.time,
            last_frames: Frames::from_slice(&w.frames),
            last_conn: w.conn,
            upgraded_at: None,
            last_ping: None,
            heartbeat_from: Some(w.time),
            life: session::Life::of_client(self.client_of(w.conn)),
            sio: Sio {
                protocol: Protocol::for_engineio(version),
                assemblers: [
                    sio::BinaryAssembler::new(&limits),
                    sio::BinaryAssembler::new(&limits),
                ],
                inputs: [VecDeque::new(), VecDeque::new()],
                next_input: [0, 0],
                acks: BTreeMap::new(),
                connected: BTreeSet::new(),
                connect_missing_reported: BTreeSet::new(),
                pending_text: [None, None],
                held: [Vec::new(), Vec::new()],
                encoding: None,
                unknown_reported: false,
            },
        });
        Some(index)
    }

    fn problem_step(&self, w: &Where, session: Option<u32>, p: &EioProblem) -> Step {
        let mut s = Step::new(w.conn, w.dir, "engineio.error", w.time);
        s.frames = Frames::from_slice(&w.frames);
        s.session = session;
        s.summary = format!("Engine.IO payload problem: {}", p.message());
        s.findings.push(Finding::new(p.rule(), p.message()));
        s
    }

    /// The end of the capture: one summary step per session, carrying what
    /// can only be judged at the end (acks never answered).
    /// `capture_end` is the time of the capture's last packet: summaries
    /// come after everything, so they carry that time.
    pub fn end(&mut self, capture_end: Timestamp, emit: &mut Emit<'_>) {
        // Binary packets still waiting for attachments: the capture ended
        // before they came.
        for si in 0..self.sessions.len() {
            for dir in [Dir::C2s, Dir::S2c] {
                let d = dir.index();
                let sess = &mut self.sessions[si];
                let done = sess.sio.assemblers[d].finish();
                if done.packets.is_empty() {
                    continue;
                }
                let w = Where {
                    conn: sess.last_conn,
                    dir,
                    frames: Frames::from_slice(&sess.last_frames),
                    time: capture_end.max(sess.last),
                    transport: sess.transports.last().copied().unwrap_or("polling"),
                };
                let mut findings = std::mem::take(&mut sess.sio.held[d]);
                let inputs = &sess.sio.inputs[d];
                let step_of =
                    |i: usize| inputs.iter().find(|(inp, _)| *inp == i).map(|(_, st)| *st);
                findings.extend(
                    done.problems
                        .iter()
                        .map(|pr| Finding::new(pr.rule(), pr.message_with_steps(step_of))),
                );
                for mut lp in done.packets {
                    let text = self.sessions[si].sio.pending_text[d]
                        .take()
                        .unwrap_or_default();
                    let s = self.sio_step(
                        si as u32,
                        &w,
                        &mut lp,
                        text.as_bytes(),
                        std::mem::take(&mut findings),
                    );
                    emit(&s);
                }
            }
        }
        self.summaries(capture_end, emit);
    }

    /// A session's summary step before its verdict: what it used.
    fn session_base(&mut self, i: usize, capture_end: Timestamp) -> Step {
        let sess = &mut self.sessions[i];
        let time = capture_end.max(sess.last);
        let mut s = Step::new(sess.last_conn, Dir::S2c, "engineio.session", time);
        s.frames = Frames::from_slice(&sess.last_frames);
        s.session = Some(sess.index);
        s.fields.push(Field::new("engineio.sid", sess.sid.as_str()));
        s.fields
            .push(Field::new("engineio.version", sess.version.number()));
        let conns: Vec<String> = sess.conns.iter().map(|c| c.to_string()).collect();
        s.fields.push(
            Field::new("engineio.session.connections", conns.join(", "))
                .show("tcp.stream numbers of the connections this session used"),
        );
        s.fields.push(Field::new(
            "engineio.session.transports",
            sess.transports.join(" → "),
        ));
        s.fields
            .push(Field::new("engineio.session.packets", sess.packets));
        s.fields.push(Field::new(
            "engineio.session.upgraded",
            sess.upgraded_at.is_some(),
        ));
        s.fields.push(Field::new(
            "engineio.session.duration_ms",
            ((sess.last.as_nanos() - sess.first.as_nanos()) / 1_000_000).max(0) as u64,
        ));
        for ((dir, nsp, id), (st, ev)) in std::mem::take(&mut sess.sio.acks) {
            s.findings.push(Finding::new(
                &rules::SOCKETIO_ACK_UNMATCHED,
                format!(
                    "the \"{}\" event of step {st} (sent by the {} in namespace {nsp}, ack id {id}) asked for an ack that never came",
                    escape(&ev),
                    side(dir)
                ),
            ));
        }
        s.summary = format!(
            "Engine.IO session {} (v{}): {} packets over {} on connections {}",
            sess.sid,
            sess.version.number(),
            sess.packets,
            if sess.transports.is_empty() {
                "nothing".to_string()
            } else {
                sess.transports.join(" → ")
            },
            conns.join(", ")
        );
        s
    }
}
