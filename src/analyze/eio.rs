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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value as J;

use crate::proto::engineio::{
    self as eio, Data, OpenInfo, PacketType, Payload, Problem as EioProblem, Query, Version,
};
use crate::proto::http::Head;
use crate::proto::socketio::{self as sio, LogicalPacket, Protocol};
use crate::rules;
use crate::sanitize::escape;
use crate::step::{ConnId, Dir, Field, Finding, Frames, Origin, Span, Step, Timestamp, Value};

use super::Detail;

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
    pub conn: ConnId,
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
struct Sio {
    protocol: Protocol,
    assemblers: [sio::BinaryAssembler; 2],
    /// Step numbers of the Engine.IO packets fed to each assembler, by
    /// input index (a window: attachments follow their header closely).
    inputs: [VecDeque<(usize, u64)>; 2],
    next_input: [usize; 2],
    /// Events waiting for their ack: (sender, nsp, id) → (step, event name).
    acks: BTreeMap<(Dir, Cow<'static, str>, u64), (u64, String)>,
    /// Namespaces the client sent CONNECT for.
    connected: BTreeSet<String>,
    connect_missing_reported: BTreeSet<String>,
    /// The text of a binary packet's header while its attachments arrive:
    /// its spans index this text.
    pending_text: [Option<String>; 2],
    /// Problems found in a binary packet's header, held until the packet
    /// completes and has a step of its own.
    held: [Vec<Finding>; 2],
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
    ws: HashMap<ConnId, WsLink, foldhash::fast::RandomState>,
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
            let s = &mut self.sessions[i as usize];
            s.conns.insert(step.conn);
            let polling = query.transport.as_deref() != Some("websocket");
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
    pub fn request_body(
        &mut self,
        ctx: &RequestCtx,
        body: &[u8],
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
            body,
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

    /// A response body: a GET's carries server packets; a POST's is `ok`.
    pub fn response_body(
        &mut self,
        ctx: &RequestCtx,
        head: &Head,
        body: &[u8],
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
            body,
            content_type.as_deref(),
            eio::unwrap_jsonp_response,
            emit,
        );
    }

    /// A polling body: JSONP-wrapped when the request asked for JSONP
    /// (`j=`), then decoded as a payload.
    #[allow(clippy::too_many_arguments)]
    fn polling_payload(
        &mut self,
        w: &Where,
        version: Version,
        ctx: &RequestCtx,
        body: &[u8],
        content_type: Option<&str>,
        unwrap_jsonp: fn(&[u8]) -> Result<String, EioProblem>,
        emit: &mut Emit<'_>,
    ) {
        if ctx.query.jsonp_index.is_none() {
            self.payload(w, version, ctx.session, body, content_type, false, emit);
            return;
        }
        match unwrap_jsonp(body) {
            Ok(text) => self.payload(
                w,
                version,
                ctx.session,
                text.as_bytes(),
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
    pub fn websocket_opened(&mut self, conn: ConnId, target: &str) {
        let Some(query) = eio::parse_request_target(target) else {
            return;
        };
        let Some(version) = query.version() else {
            return;
        };
        let session = self.session_of(query.sid.as_deref());
        if let Some(i) = session {
            self.sessions[i as usize].conns.insert(conn);
        }
        self.ws.insert(conn, WsLink { version, session });
    }

    /// A WebSocket message on an Engine.IO connection: one packet.
    pub fn ws_message(&mut self, m: WsMessage<'_>, emit: &mut Emit<'_>) {
        let WsMessage {
            conn,
            dir,
            text,
            payload,
            frames,
            time,
        } = m;
        let Some(link) = self.ws.get(&conn).copied() else {
            return;
        };
        let w = Where {
            conn,
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
                    && let Some(l) = self.ws.get_mut(&conn)
                {
                    l.session = Some(s);
                }
            }
            Err(p) => {
                emit(&self.problem_step(&w, link.session, &p));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn payload(
        &mut self,
        w: &Where,
        version: Version,
        session: Option<u32>,
        body: &[u8],
        content_type: Option<&str>,
        jsonp: bool,
        emit: &mut Emit<'_>,
    ) {
        let data: Arc<[u8]> = Arc::from(body);
        let payload: Payload = eio::decode_payload(version, body, content_type, &self.limits);
        for p in &payload.problems {
            emit(&self.problem_step(w, session, p));
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
                w,
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
        if sess.transports.last() != Some(&w.transport) && sess.transports.len() < MAX_TRANSPORTS {
            sess.transports.push(w.transport);
        }
        if p.ptype == PacketType::Upgrade && w.dir == Dir::C2s {
            sess.upgraded_at.get_or_insert(w.time);
        }
        let step_no = emit(&s);
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
            },
        });
        Some(index)
    }

    /// Heartbeat rules: who pings (v3: the client; v4: the server) and
    /// whether pings and pongs keep to pingInterval / pingTimeout.
    fn heartbeat(&mut self, si: u32, ptype: PacketType, text: &str, w: &Where, s: &mut Step) {
        let sess = &mut self.sessions[si as usize];
        if text == "probe" {
            return;
        }
        let pinger = match sess.version {
            Version::V3 => Dir::C2s,
            Version::V4 => Dir::S2c,
        };
        let (interval, timeout) = sess
            .open
            .as_ref()
            .map_or((None, None), |o| (o.ping_interval, o.ping_timeout));
        let ms = |a: Timestamp, b: Timestamp| ((b.as_nanos() - a.as_nanos()) / 1_000_000) as i64;
        match ptype {
            PacketType::Ping => {
                if w.dir != pinger {
                    s.findings.push(Finding::new(
                        &rules::ENGINEIO_PING_DIRECTION,
                        format!(
                            "in Engine.IO {} the {} sends pings, but this ping comes from the {}",
                            sess.version.number(),
                            side(pinger),
                            side(w.dir)
                        ),
                    ));
                    return;
                }
                let from = sess.last_ping.map(|p| p.0).or(sess.heartbeat_from);
                if let (Some(from), Some(iv), Some(to)) = (from, interval, timeout) {
                    let gap = ms(from, w.time);
                    s.fields.push(
                        Field::new("engineio.heartbeat.since_last_ms", gap.max(0) as u64)
                            .show(format!("pingInterval is {iv} ms")),
                    );
                    if gap > (iv + to) as i64 {
                        s.findings.push(Finding::new(
                            &rules::ENGINEIO_HEARTBEAT_LATE,
                            format!(
                                "this ping comes {gap} ms after the previous one (or the open packet); pingInterval is {iv} ms and pingTimeout {to} ms, so the peer would already have given up"
                            ),
                        ));
                    }
                }
            }
            PacketType::Pong => {
                if w.dir == pinger {
                    s.findings.push(Finding::new(
                        &rules::ENGINEIO_PING_DIRECTION,
                        format!(
                            "in Engine.IO {} the {} answers pings, but this pong comes from the {}",
                            sess.version.number(),
                            side(pinger.reverse()),
                            side(w.dir)
                        ),
                    ));
                    return;
                }
                if let Some((ping_time, ping_step)) = sess.last_ping {
                    let delay = ms(ping_time, w.time);
                    s.fields
                        .push(
                            Field::new("engineio.heartbeat.answers", ping_step).show(format!(
                                "answers the ping of step {ping_step}, {delay} ms later"
                            )),
                        );
                    if let Some(to) = timeout
                        && delay > to as i64
                    {
                        s.findings.push(Finding::new(
                            &rules::ENGINEIO_HEARTBEAT_LATE,
                            format!(
                                "this pong comes {delay} ms after its ping, more than pingTimeout ({to} ms)"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    /// The Socket.IO packet inside an Engine.IO message (or an attachment).
    fn socketio(
        &mut self,
        si: u32,
        w: &Where,
        p: &eio::Packet<'_>,
        eio_step: u64,
        emit: &mut Emit<'_>,
    ) {
        // (Disjoint borrows: the limits are read while a session changes.)
        let limits = &self.limits;
        let sess = &mut self.sessions[si as usize];
        let d = w.dir.index();
        let input = sess.sio.next_input[d];
        sess.sio.next_input[d] += 1;
        let inputs = &mut sess.sio.inputs[d];
        inputs.push_back((input, eio_step));
        if inputs.len() > 64 {
            inputs.pop_front();
        }
        let protocol = sess.sio.protocol;
        let keep = if self.detail.socketio {
            sio::Payload::Whole
        } else {
            sio::Payload::Sketch
        };
        let mut decode_problem = None;
        let mut assembled = match &p.data {
            Data::Text(t) => match sio::decode_with(t, protocol, limits, keep) {
                Ok(packet) => sess.sio.assemblers[d].push_packet(packet),
                Err(pr) => {
                    decode_problem = Some(pr);
                    sess.sio.assemblers[d].push_undecodable()
                }
            },
            Data::Empty => match sio::decode("", protocol, limits) {
                Ok(packet) => sess.sio.assemblers[d].push_packet(packet),
                Err(pr) => {
                    decode_problem = Some(pr);
                    sess.sio.assemblers[d].push_undecodable()
                }
            },
            Data::Binary(b) => sess.sio.assemblers[d].push_binary(b),
            Data::Undecoded(_) => sess.sio.assemblers[d].push_undecodable(),
        };
        let mut pending_problems: Vec<Finding> = assembled
            .problems
            .iter()
            .map(|pr| Finding::new(pr.rule(), pr.message()))
            .collect();
        if let Some(pr) = decode_problem {
            let mut s = Step::new(w.conn, w.dir, "socketio.packet", w.time);
            s.frames = Frames::from_slice(&w.frames);
            s.session = Some(si);
            let text = p.text().unwrap_or("");
            let b = s.add_buffer("socket.io", Origin::Derived, Arc::from(text.as_bytes()));
            s.fields
                .push(Field::new("socketio.raw", text).span(Span::bytes(b, 0, text.len())));
            s.summary = format!(
                "SIO undecodable: \"{}\"",
                crate::sanitize::preview(text.as_bytes(), 60)
            );
            s.findings.push(Finding::new(pr.rule(), pr.message()));
            s.findings.append(&mut pending_problems);
            emit(&s);
        }
        let current = p.text().unwrap_or("");
        let waiting = assembled.packets.is_empty()
            && self.sessions[si as usize].sio.assemblers[d]
                .awaiting()
                .is_some();
        if waiting {
            // The header's own problems wait with it for its step.
            self.sessions[si as usize].sio.held[d].append(&mut pending_problems);
        }
        // (By reference: a logical packet is a few hundred bytes, and
        // moving each out of the list was a copy per packet.)
        for lp in assembled.packets.iter_mut() {
            let sio = &mut self.sessions[si as usize].sio;
            let (earlier, mut findings) = if lp.input == input {
                (None, Vec::new())
            } else {
                (
                    Some(sio.pending_text[d].take().unwrap_or_default()),
                    std::mem::take(&mut sio.held[d]),
                )
            };
            findings.append(&mut pending_problems);
            let text = earlier.as_deref().unwrap_or(current);
            let s = self.sio_step(si, w, lp, text, findings);
            let awaits_ack = matches!(
                lp.packet.ptype,
                sio::PacketType::Event | sio::PacketType::BinaryEvent
            );
            let step_no = emit(&s);
            if awaits_ack && let Some(id) = lp.packet.ack_id {
                // (A clone of the usual borrowed "/" is free.)
                self.note_event_step(si, w.dir, lp.packet.nsp.clone(), id, step_no);
            }
        }
        let sess = &mut self.sessions[si as usize];
        if sess.sio.assemblers[d].awaiting().is_some() && matches!(p.data, Data::Text(_)) {
            sess.sio.pending_text[d] = Some(current.to_owned());
        }
        if !pending_problems.is_empty() {
            // Problems with no packet to attach to (an orphan attachment):
            // they belong to the Engine.IO message that carried them.
            let mut s = Step::new(w.conn, w.dir, "socketio.attachment", w.time);
            s.frames = Frames::from_slice(&w.frames);
            s.session = Some(si);
            if let Data::Binary(b) = &p.data {
                let bb = s.add_buffer("attachment", Origin::Derived, Arc::from(b.as_ref()));
                s.fields.push(
                    Field::new("socketio.attachment.data", Value::SpanBytes).span(Span::bytes(
                        bb,
                        0,
                        b.len(),
                    )),
                );
            }
            s.summary = "binary message with no Socket.IO packet waiting for it".into();
            s.findings = pending_problems;
            emit(&s);
        }
    }

    fn sio_step(
        &mut self,
        si: u32,
        w: &Where,
        lp: &mut LogicalPacket,
        text: &str,
        mut findings: Vec<Finding>,
    ) -> Step {
        let sess = &mut self.sessions[si as usize];
        let protocol = sess.sio.protocol;
        let d = w.dir.index();
        let pk = &lp.packet;
        let mut s = Step::new(w.conn, w.dir, "socketio.packet", w.time);
        s.frames = Frames::from_slice(&w.frames);
        s.session = Some(si);
        let event = sio::event_name(pk);
        let full = self.detail.socketio;
        for pr in sio::check_payload(pk, protocol) {
            findings.push(Finding::new(pr.rule(), pr.message()));
        }
        // Namespace connection (protocol 5: the client must CONNECT first).
        use sio::PacketType as T;
        if w.dir == Dir::C2s && pk.ptype == T::Connect {
            sess.sio.connected.insert(pk.nsp.to_string());
        }
        if protocol == Protocol::V5
            && w.dir == Dir::C2s
            && matches!(pk.ptype, T::Event | T::BinaryEvent | T::Ack | T::BinaryAck)
            && !sess.sio.connected.contains(pk.nsp.as_ref())
            && sess.sio.connect_missing_reported.insert(pk.nsp.to_string())
        {
            findings.push(Finding::new(
                &rules::SOCKETIO_CONNECT_MISSING,
                format!(
                    "in Socket.IO protocol 5 the client must send CONNECT for namespace {} before using it, and it has not",
                    pk.nsp
                ),
            ));
        }
        // Acks: correlate by (direction, namespace, id).
        let mut answers = None;
        match pk.ptype {
            T::Event | T::BinaryEvent => {
                if let Some(id) = pk.ack_id {
                    // The step number is not known until emitted: use the
                    // next one, which this step will get.
                    if sess.sio.acks.len() >= self.limits.max_pending_acks {
                        // Forget one (the smallest key) to stay bounded.
                        sess.sio.acks.pop_first();
                    }
                    sess.sio.acks.insert(
                        (w.dir, pk.nsp.clone(), id),
                        (0, event.unwrap_or_default().to_owned()),
                    );
                }
            }
            T::Ack | T::BinaryAck => {
                let key = (
                    w.dir.reverse(),
                    pk.nsp.clone(),
                    pk.ack_id.unwrap_or(u64::MAX),
                );
                match sess.sio.acks.remove(&key) {
                    Some((st, ev)) => answers = Some((st, ev)),
                    None => findings.push(Finding::new(
                        &rules::SOCKETIO_ACK_UNMATCHED,
                        format!(
                            "this ACK (id {}) answers no event with that id sent by the {} in namespace {}",
                            pk.ack_id.map_or("none".into(), |i| i.to_string()),
                            side(w.dir.reverse()),
                            pk.nsp
                        ),
                    )),
                }
            }
            _ => {}
        }
        if full {
            s.summary = sio_summary(pk, protocol, event, &lp.attachments, answers.as_ref());
            // Last: the fields take the packet's data rather than copy it.
            let inputs = &self.sessions[si as usize].sio.inputs[d];
            sio_fields(&mut s, inputs, lp, text, protocol);
            if let Some((st, ev)) = &answers {
                s.fields.push(
                    Field::new("socketio.ack.answers", *st)
                        .show(format!("answers the \"{}\" event of step {st}", escape(ev))),
                );
            }
        }
        s.findings = findings;
        s
    }

    /// Records the step number of an event awaiting an ack (called after the
    /// step is emitted).
    fn note_event_step(&mut self, si: u32, dir: Dir, nsp: Cow<'static, str>, id: u64, step: u64) {
        if let Some(e) = self.sessions[si as usize].sio.acks.get_mut(&(dir, nsp, id))
            && e.0 == 0
        {
            e.0 = step;
        }
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
                findings.extend(
                    done.problems
                        .iter()
                        .map(|pr| Finding::new(pr.rule(), pr.message())),
                );
                for mut lp in done.packets {
                    let text = self.sessions[si].sio.pending_text[d]
                        .take()
                        .unwrap_or_default();
                    let s =
                        self.sio_step(si as u32, &w, &mut lp, &text, std::mem::take(&mut findings));
                    emit(&s);
                }
            }
        }
        for sess in &mut self.sessions {
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
            emit(&s);
        }
    }
}

/// A Socket.IO packet step's buffers and fields. `inputs` maps the
/// direction's Engine.IO inputs to their steps (for attachments). The
/// packet's data moves into its field.
fn sio_fields(
    s: &mut Step,
    inputs: &VecDeque<(usize, u64)>,
    lp: &mut LogicalPacket,
    text: &str,
    protocol: Protocol,
) {
    let reconstructed = if lp.attachments.is_empty() {
        None
    } else {
        lp.reconstruct()
    };
    let data = lp.packet.data.take();
    let pk = &lp.packet;
    let event = match (pk.ptype, &data) {
        (sio::PacketType::Event | sio::PacketType::BinaryEvent, Some(d)) => {
            d.get(0).and_then(J::as_str)
        }
        _ => None,
    };
    // The packet's text (the Engine.IO message's data, after its `4`):
    // the decoder's spans index it. A binary packet's text came in the
    // message that announced its attachments.
    s.fields.reserve(8);
    let b = s.add_buffer("socket.io", Origin::Derived, Arc::from(text.as_bytes()));
    let sp =
        |r: &Option<std::ops::Range<usize>>| r.clone().map(|r| Span::bytes(b, r.start, r.len()));
    let mut f = Field::new("socketio.type", pk.ptype.name(protocol)).show(super::name_and_digit(
        pk.ptype.name(protocol),
        pk.ptype.digit(),
    ));
    f.span = Some(Span::bytes(b, pk.type_span.start, pk.type_span.len()));
    s.fields.push(f);
    s.fields
        .push(Field::new("socketio.protocol", protocol.number()));
    let mut nsp = Field::new("socketio.nsp", pk.nsp.as_ref());
    nsp.span = sp(&pk.nsp_span);
    if pk.nsp_span.is_none() {
        nsp.show = Some("the default namespace: not written on the wire".into());
    }
    s.fields.push(nsp);
    if let Some(id) = pk.ack_id {
        let mut f = Field::new("socketio.ack_id", id);
        f.span = sp(&pk.ack_span);
        s.fields.push(f);
    }
    if let Some(n) = pk.attachments {
        let mut f = Field::new("socketio.attachments", n);
        f.span = sp(&pk.attachments_span);
        s.fields.push(f);
    }
    if let Some(e) = event {
        s.fields.push(Field::new("socketio.event", e));
    }
    let args = match (event, &data) {
        (Some(_), Some(J::Array(a))) => Some(J::Array(a[1..].to_vec())),
        _ => None,
    };
    if let Some(data) = data {
        let mut f = Field::new("socketio.data", Value::Json(data));
        f.span = sp(&pk.data_span);
        s.fields.push(f);
        if let Some(args) = args {
            s.fields
                .push(Field::new("socketio.args", Value::Json(args)));
        }
    }
    for (i, att) in lp.attachments.iter().enumerate() {
        let ab = s.add_buffer(
            "attachment",
            Origin::Derived,
            Arc::from(att.bytes.as_slice()),
        );
        let carried = inputs
            .iter()
            .find(|(inp, _)| *inp == att.input)
            .map(|(_, st)| *st);
        let mut f = Field::new("socketio.attachment", Value::SpanBytes).span(Span::bytes(
            ab,
            0,
            att.bytes.len(),
        ));
        f.show = Some(match carried {
            Some(st) => format!(
                "attachment {i}: {} bytes, carried by step {st}",
                att.bytes.len()
            )
            .into(),
            None => format!("attachment {i}: {} bytes", att.bytes.len()).into(),
        });
        s.fields.push(f);
    }
    if let Some(full) = reconstructed {
        s.fields
            .push(Field::new("socketio.data.reconstructed", Value::Json(full)));
    }
}

/// An Engine.IO packet step's buffer and fields.
fn packet_fields(
    s: &mut Step,
    w: &Where,
    version: Version,
    p: &eio::Packet<'_>,
    data: Arc<[u8]>,
    note: Option<&PayloadNote>,
) {
    let buf_name = if w.transport == "websocket" {
        "message"
    } else if note.is_some_and(|n| n.jsonp) {
        "jsonp"
    } else {
        "body"
    };
    s.fields.reserve(6);
    let b = s.add_buffer(buf_name, Origin::Derived, data);
    let sp = |r: &std::ops::Range<usize>| Span::bytes(b, r.start, r.len());
    s.fields.push(
        Field::new("engineio.type", p.ptype.name())
            .span(sp(&p.type_span))
            .show(super::name_and_digit(p.ptype.name(), p.ptype.digit())),
    );
    s.fields
        .push(Field::new("engineio.version", version.number()));
    s.fields.push(Field::new("engineio.transport", w.transport));
    if let Some(n) = note {
        s.fields.push(
            Field::new("engineio.payload.index", n.index + 1).show(format!(
                "packet {} of {} in this payload",
                n.index + 1,
                n.count
            )),
        );
        if let Some(rule) = n.rule {
            s.fields
                .push(Field::new("engineio.payload.length_rule", rule).show(
                    if rule == "utf16-units" {
                        "the length prefix counts UTF-16 code units, as JavaScript does"
                    } else {
                        "the length prefix counts UTF-8 bytes, as python-engineio 3.x did"
                    },
                ));
        }
        s.fields
            .push(Field::new("engineio.payload.record", Value::SpanBytes).span(sp(&n.record)));
    }
    match &p.data {
        Data::Empty => {}
        Data::Text(t) => s
            .fields
            .push(Field::new("engineio.data", *t).span(sp(&p.data_span))),
        Data::Binary(bytes) => {
            if p.base64 {
                let bb = s.add_buffer("base64-decoded", Origin::Derived, Arc::from(bytes.as_ref()));
                s.fields.push(
                    Field::new("engineio.data", Value::SpanBytes)
                        .span(Span::bytes(bb, 0, bytes.len()))
                        .show("binary, sent as base64"),
                );
            } else {
                s.fields
                    .push(Field::new("engineio.data", Value::SpanBytes).span(sp(&p.data_span)));
            }
        }
        Data::Undecoded(_) => s
            .fields
            .push(Field::new("engineio.data", Value::SpanBytes).span(sp(&p.data_span))),
    }
}

fn binary_len(d: &Data<'_>) -> Option<usize> {
    match d {
        Data::Binary(b) => Some(b.len()),
        Data::Undecoded(b) => Some(b.len()),
        _ => None,
    }
}

struct PayloadNote {
    index: usize,
    count: usize,
    rule: Option<&'static str>,
    record: std::ops::Range<usize>,
    too_many: bool,
    jsonp: bool,
}

fn side(d: Dir) -> &'static str {
    match d {
        Dir::C2s => "client",
        Dir::S2c => "server",
    }
}

/// A summary line, and the upgrade stage this packet is, if any.
fn describe(
    ptype: PacketType,
    text: &str,
    dir: Dir,
    version: Version,
) -> (String, Option<&'static str>) {
    let shown = || crate::sanitize::preview(text.as_bytes(), 60);
    match (ptype, text) {
        (PacketType::Ping, "probe") => (
            "EIO ping \"probe\" (2probe): the client tests the new WebSocket before switching to it".into(),
            Some("probe ping"),
        ),
        (PacketType::Pong, "probe") => (
            "EIO pong \"probe\" (3probe): the server confirms the WebSocket works".into(),
            Some("probe pong"),
        ),
        (PacketType::Noop, _) => (
            "EIO noop (6): releases the pending long-poll so the client can finish switching".into(),
            Some("noop"),
        ),
        (PacketType::Upgrade, _) => (
            "EIO upgrade (5): the client switches to the WebSocket; polling stops".into(),
            Some("upgrade"),
        ),
        (PacketType::Open, _) => (format!("EIO open (0): the handshake {}", shown()), None),
        (PacketType::Close, _) => ("EIO close (1): the session ends".into(), None),
        (PacketType::Ping, _) => (
            format!(
                "EIO ping (2): heartbeat from the {}{}",
                side(dir),
                match version {
                    Version::V3 => " (in v3 the client pings)",
                    Version::V4 => " (in v4 the server pings)",
                }
            ),
            None,
        ),
        (PacketType::Pong, _) => (format!("EIO pong (3): heartbeat answer from the {}", side(dir)), None),
        (PacketType::Message, _) => {
            // One per message: built without the formatting machinery.
            let mut s = String::with_capacity(80);
            s.push_str("EIO message (4) \"");
            crate::sanitize::push_preview(&mut s, text.as_bytes(), 60);
            s.push('"');
            (s, None)
        }
        (PacketType::Unknown(b), _) => (format!("EIO unknown packet type {:?}", b as char), None),
    }
}

fn sio_summary(
    pk: &sio::Packet,
    protocol: Protocol,
    event: Option<&str>,
    attachments: &[sio::Attachment],
    answers: Option<&(u64, String)>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(96);
    s.push_str("SIO ");
    s.push_str(pk.ptype.name(protocol));
    if pk.nsp != "/" {
        s.push(' ');
        s.push_str(&escape(&pk.nsp));
    }
    if let Some(e) = event {
        let _ = write!(s, " \"{}\"", escape(e));
    }
    if let Some(id) = pk.ack_id {
        let _ = write!(s, " ack id {id}");
    }
    if let Some(data) = &pk.data {
        // An event's name is shown already: show its arguments, written as
        // the compact JSON of the array without it.
        let mut shown = Vec::with_capacity(64);
        match (event, data) {
            (Some(_), J::Array(a)) => {
                shown.push(b'[');
                for (i, v) in a.iter().skip(1).enumerate() {
                    if i > 0 {
                        shown.push(b',');
                    }
                    crate::output::jsonw::value(&mut shown, v);
                }
                shown.push(b']');
            }
            _ => crate::output::jsonw::value(&mut shown, data),
        }
        s.push(' ');
        s.push_str(&crate::sanitize::preview(&shown, 60));
    }
    if !attachments.is_empty() {
        let _ = write!(s, " + {} binary attachment(s)", attachments.len());
    }
    if let Some((st, _)) = answers {
        let _ = write!(s, " (answers step {st})");
    }
    s
}
