//! How each Engine.IO session ended, and why: its transports and upgrade,
//! who ended it and how (a close packet, a Socket.IO DISCONNECT, a
//! WebSocket Close, the transport closing, a ping timeout, an HTTP error),
//! and whether it reconnects after an earlier one.
//!
//! Signals are gathered while the capture runs (the hooks below) and judged
//! at its end, in [`Tracker::end`], where each session's summary step gets
//! the `engineio.session.*` fields this module computes. Handshakes
//! answered with an error never open a session: each gets a summary step of
//! its own ([`Attempt`]).

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::proto::engineio::{PacketType, Version};
use crate::rules::{self, Rule};
use crate::step::{ConnId, Dir, Field, Finding, Frames, Step, Timestamp};

use crate::proto::socketio as sio;

use super::{Session, Tracker, Where, side};

/// A new session or attempt from the same client this soon after an
/// abnormal end is taken as its reconnection.
const RECONNECT_WINDOW_MS: i64 = 60_000;

/// How the end of a session came, in the stable vocabulary
/// (`engineio.session.end.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    ClosePacket,
    Disconnect,
    WebsocketClose,
    TransportClose,
    PingTimeout,
    SessionUnknown,
    PayloadTooLarge,
    OriginRefused,
    HttpError,
    CaptureEnded,
}

impl Cause {
    pub(super) fn name(self) -> &'static str {
        match self {
            Cause::ClosePacket => "close-packet",
            Cause::Disconnect => "disconnect",
            Cause::WebsocketClose => "websocket-close",
            Cause::TransportClose => "transport-close",
            Cause::PingTimeout => "ping-timeout",
            Cause::SessionUnknown => "session-unknown",
            Cause::PayloadTooLarge => "payload-too-large",
            Cause::OriginRefused => "origin-refused",
            Cause::HttpError => "http-error",
            Cause::CaptureEnded => "capture-ended",
        }
    }

    /// An end the application did not ask for: the client library
    /// reconnects after one of these.
    fn abnormal(self) -> bool {
        !matches!(
            self,
            Cause::ClosePacket | Cause::Disconnect | Cause::CaptureEnded
        )
    }
}

/// A transport event the connection layers report: the end of a
/// direction, or a WebSocket Close frame (see `up::Cmd::Ending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    Fin,
    Rst,
    /// A WebSocket Close frame, with its status code if it had one.
    WsClose(Option<u16>),
}

/// One signal that may end a session.
#[derive(Debug, Clone)]
pub(super) struct Signal {
    cause: Cause,
    by: Dir,
    time: Timestamp,
    /// The step that carried it.
    step: u64,
    close_code: Option<u16>,
    http_status: Option<u16>,
    /// A transport-level signal (a Close, a FIN or RST, a refused
    /// upgrade) that later session traffic shows was not the end: a
    /// failed probe, a long-poll connection closed.
    provisional: bool,
    /// A Socket.IO DISCONNECT's namespace.
    nsp: Option<String>,
}

/// What is known about one session's life, for its summary.
#[derive(Debug, Clone, Default)]
pub(super) struct Life {
    /// The open packet came over a WebSocket (no polling first).
    pub(super) websocket_only: bool,
    /// A `transport=websocket` request of this session: its connection,
    /// and the status its answer had (None: not answered yet).
    ws_request: Option<(ConnId, Option<u16>)>,
    /// The WebSocket connections of this session.
    ws_conns: BTreeSet<ConnId>,
    /// The WebSocket its last packet came on: already watched and in
    /// `ws_conns` (packets after the first on a connection skip both).
    last_ws: Option<ConnId>,
    probe_ping: bool,
    probe_pong: bool,
    /// The WebSocket ended before the upgrade completed.
    probe_ended: bool,
    /// Polling requests of this session still waiting for their answer.
    pending: Vec<ConnId>,
    /// The last heartbeat ping (not a probe) before the end: time, step.
    last_ping: Option<(Timestamp, u64)>,
    /// The last heartbeat pong (not a probe) before the end.
    last_pong: Option<Timestamp>,
    /// The last packet from each side (client, server).
    last_from: [Option<Timestamp>; 2],
    /// Namespaces connected (a CONNECT seen either way), and those
    /// disconnected with who sent the DISCONNECT.
    namespaces: Vec<(String, Option<Dir>)>,
    end: Option<Signal>,
    /// The client's address (for reconnection links).
    pub(super) client: Option<IpAddr>,
}

/// An Engine.IO handshake answered with an error: no session opened.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    conn: ConnId,
    time: Timestamp,
    transport: String,
    status: u16,
    cause: Cause,
    body: String,
    client: Option<IpAddr>,
    /// The step of the response, and its packets.
    step: u64,
    frames: Frames,
}

/// The verdict on one session or attempt.
struct Verdict {
    upgrade: Option<&'static str>,
    upgrade_why: String,
    by: Option<Dir>,
    cause: Cause,
    end_time: Option<Timestamp>,
    end_step: Option<u64>,
    close_code: Option<u16>,
    http_status: Option<u16>,
    detail: String,
    /// The heartbeat deadlines both sides were keeping when it ended.
    deadlines: Option<String>,
    finding: Option<(&'static Rule, String)>,
}

fn ms(a: Timestamp, b: Timestamp) -> i64 {
    // (Saturating: a capture's timestamps are untrusted.)
    let d = (b.as_nanos() - a.as_nanos()) / 1_000_000;
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn secs(t: Timestamp, origin: Timestamp) -> String {
    format!("{:.3} s", t.since(origin))
}

fn duration(ms: i64) -> String {
    if ms.unsigned_abs() < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// What an HTTP error answering an Engine.IO request means.
fn http_cause(status: u16, body: &str) -> Cause {
    let lower = body.to_ascii_lowercase();
    if lower.contains("session id unknown") {
        Cause::SessionUnknown
    } else if status == 413 || lower.contains("too large") {
        Cause::PayloadTooLarge
    } else if status == 403 || lower.contains("origin") {
        Cause::OriginRefused
    } else {
        Cause::HttpError
    }
}

impl Life {
    /// Whether an upgrade is under way: a WebSocket asked for and not
    /// refused, or probed. (A server may send the noop that releases the
    /// long-poll as soon as the WebSocket request arrives, before the
    /// probe.)
    pub(super) fn upgrading(&self) -> bool {
        (matches!(self.ws_request, Some((_, None | Some(101)))) || self.probe_ping)
            && !self.probe_ended
    }

    pub(super) fn of_client(client: Option<IpAddr>) -> Life {
        Life {
            client,
            ..Life::default()
        }
    }

    fn signal(&mut self, sig: Signal) {
        // The first decisive signal wins; a provisional one stands only
        // until a decisive one (or later traffic) replaces it.
        match &self.end {
            Some(e) if !e.provisional => {}
            Some(_) if sig.provisional => {}
            _ => self.end = Some(sig),
        }
    }
}

impl Tracker {
    /// The capture's first packet time, for the sentences' times.
    pub fn set_origin(&mut self, origin: Timestamp) {
        self.origin = origin;
    }

    /// A connection: its client address, for reconnection links.
    pub fn connection(&mut self, conn: ConnId, client: IpAddr) {
        if self.clients.len() <= conn as usize {
            self.clients.resize(conn as usize + 1, None);
        }
        self.clients[conn as usize] = Some(client);
    }

    pub(super) fn client_of(&self, conn: ConnId) -> Option<IpAddr> {
        self.clients.get(conn as usize).copied().flatten()
    }

    /// An Engine.IO request of a session was sent on `conn`.
    pub(super) fn life_request(&mut self, si: u32, conn: ConnId, websocket: bool) {
        self.watch(conn, si);
        let life = &mut self.sessions[si as usize].life;
        if websocket {
            life.ws_request = Some((conn, None));
        }
        if life.pending.len() < 64 {
            life.pending.push(conn);
        }
    }

    /// The answer to a request (`step`: the response's step number).
    pub(super) fn life_response(
        &mut self,
        session: Option<u32>,
        ctx_transport: Option<&str>,
        response: &Step,
        status: u16,
        body: &[u8],
        step: u64,
    ) {
        let (conn, time) = (response.conn, response.time);
        let websocket = ctx_transport == Some("websocket");
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let Some(si) = session else {
            // A handshake (no sid) answered with an error.
            if status >= 400 && self.attempts.len() < self.max_sessions {
                let client = self.client_of(conn);
                self.attempts.push(Attempt {
                    conn,
                    time,
                    transport: ctx_transport.unwrap_or("polling").to_string(),
                    status,
                    cause: http_cause(status, &text),
                    body: crate::sanitize::preview(text.trim().trim_matches('"').as_bytes(), 80),
                    client,
                    step,
                    frames: response.frames.clone(),
                });
            }
            return;
        };
        let life = &mut self.sessions[si as usize].life;
        if let Some(i) = life.pending.iter().position(|&c| c == conn) {
            life.pending.remove(i);
        }
        if websocket && let Some((c, st)) = &mut life.ws_request {
            if *c == conn && st.is_none() {
                *st = Some(status);
            }
            if status == 101 {
                life.ws_conns.insert(conn);
            }
        }
        if status >= 400 {
            let cause = http_cause(status, &text);
            life.signal(Signal {
                cause,
                by: Dir::S2c,
                time,
                step,
                close_code: None,
                http_status: Some(status),
                // A refused upgrade leaves polling to go on.
                provisional: websocket,
                nsp: None,
            });
        }
    }

    /// An Engine.IO packet of session `si` (after its step, `step`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn life_packet(
        &mut self,
        si: u32,
        ptype: PacketType,
        text: &str,
        (dir, conn): (Dir, ConnId),
        websocket: bool,
        time: Timestamp,
        step: u64,
    ) {
        let new_ws = websocket && self.sessions[si as usize].life.last_ws != Some(conn);
        if new_ws {
            self.watch(conn, si);
        }
        let sess = &mut self.sessions[si as usize];
        let life = &mut sess.life;
        if life.end.as_ref().is_some_and(|e| !e.provisional) {
            // What comes after the end does not change why it ended.
            return;
        }
        life.last_from[dir.index()] = Some(time);
        if new_ws && life.ws_conns.len() < 64 {
            life.ws_conns.insert(conn);
            life.last_ws = Some(conn);
        }
        if websocket && ptype == PacketType::Open {
            life.websocket_only = true;
        }
        match (ptype, text) {
            (PacketType::Ping, "probe") => life.probe_ping = true,
            (PacketType::Pong, "probe") => life.probe_pong = true,
            (PacketType::Pong, _) => life.last_pong = Some(time),
            (PacketType::Ping, _) => life.last_ping = Some((time, step)),
            _ => {}
        }
        if ptype == PacketType::Close {
            life.signal(Signal {
                cause: Cause::ClosePacket,
                by: dir,
                time,
                step,
                close_code: None,
                http_status: None,
                provisional: false,
                nsp: None,
            });
        }
        // Traffic after a transport-level signal: it was not the end.
        if matches!(
            ptype,
            PacketType::Message | PacketType::Ping | PacketType::Pong | PacketType::Upgrade
        ) && life
            .end
            .as_ref()
            .is_some_and(|e| e.provisional && e.time <= time)
        {
            life.end = None;
        }
    }

    /// A Socket.IO packet of session `si` was emitted as step `step`: a
    /// CONNECT or DISCONNECT changes which namespaces are open. (Every
    /// decoder of Socket.IO packets calls this after its step.)
    pub(super) fn life_sio(&mut self, si: u32, pk: &sio::Packet, w: &Where, step: u64) {
        if let sio::PacketType::Connect | sio::PacketType::Disconnect = pk.ptype {
            let connect = pk.ptype == sio::PacketType::Connect;
            self.life_namespace(si, connect, &pk.nsp, w.dir, w.time, step);
        }
    }

    /// A Socket.IO CONNECT or DISCONNECT of session `si`.
    fn life_namespace(
        &mut self,
        si: u32,
        connect: bool,
        nsp: &str,
        dir: Dir,
        time: Timestamp,
        step: u64,
    ) {
        let life = &mut self.sessions[si as usize].life;
        let known = life.namespaces.iter().position(|(n, _)| n == nsp);
        if connect {
            match known {
                Some(i) => life.namespaces[i].1 = None,
                None if life.namespaces.len() < 64 => life.namespaces.push((nsp.to_string(), None)),
                None => {}
            }
            return;
        }
        match known {
            Some(i) => life.namespaces[i].1 = Some(dir),
            None if life.namespaces.len() < 64 => {
                life.namespaces.push((nsp.to_string(), Some(dir)))
            }
            None => {}
        }
        // The whole connection ends when no namespace is left.
        if life.namespaces.iter().all(|(_, d)| d.is_some()) {
            life.signal(Signal {
                cause: Cause::Disconnect,
                by: dir,
                time,
                step,
                close_code: None,
                http_status: None,
                provisional: false,
                nsp: Some(nsp.to_string()),
            });
        }
    }

    /// Session `si` uses `conn` (a request, a WebSocket): an end of the
    /// connection may end the session.
    fn watch(&mut self, conn: ConnId, si: u32) {
        let v = self.watched.entry(conn).or_default();
        if !v.contains(&si) && v.len() < 16 {
            v.push(si);
        }
    }

    /// A FIN, RST or WebSocket Close on `conn` (`step`: its step).
    pub fn ending(&mut self, conn: ConnId, dir: Dir, kind: EndKind, time: Timestamp, step: u64) {
        let Some(watching) = self.watched.get(&conn) else {
            return;
        };
        for &si in watching {
            let sess = &mut self.sessions[si as usize];
            let life = &mut sess.life;
            let on_ws = life.ws_conns.contains(&conn);
            let pending = life.pending.contains(&conn);
            if !on_ws && !pending {
                continue;
            }
            // A WebSocket that never carried the upgrade, beside polling
            // that goes on, is a failed probe (later traffic says so).
            let upgraded = sess.upgraded_at.is_some() || life.websocket_only;
            let provisional = !(on_ws && upgraded);
            if on_ws && !upgraded {
                life.probe_ended = true;
            }
            let (cause, close_code) = match kind {
                EndKind::WsClose(Some(1009)) => (Cause::PayloadTooLarge, Some(1009)),
                EndKind::WsClose(code) => (Cause::WebsocketClose, code),
                EndKind::Fin | EndKind::Rst => (Cause::TransportClose, None),
            };
            if matches!(kind, EndKind::Fin | EndKind::Rst) && !on_ws {
                // A long-poll whose connection closed before its answer.
                if let Some(i) = life.pending.iter().position(|&c| c == conn) {
                    life.pending.remove(i);
                }
            }
            life.signal(Signal {
                cause,
                by: dir,
                time,
                step,
                close_code,
                http_status: None,
                provisional,
                nsp: None,
            });
        }
    }

    /// The summary fields, sentence and findings of session `si`'s step.
    pub(super) fn session_verdict(
        &self,
        si: usize,
        follows: Option<(&str, i64, u32)>,
        s: &mut Step,
    ) -> String {
        let sess = &self.sessions[si];
        let v = self.verdict(sess);
        s.fields
            .push(Field::new("engineio.session.sid", sess.sid.as_str()));
        push_verdict(s, &v, follows);
        let end = match (v.cause, v.by) {
            (Cause::CaptureEnded, _) | (_, None) => "still open when the capture ends".to_string(),
            (c, Some(by)) => format!("ended by the {} ({}){}", side(by), c.name(), {
                if v.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.detail)
                }
            }),
        };
        let namespaces = sess
            .life
            .namespaces
            .iter()
            .map(|(n, d)| match d {
                None => format!("{n} open"),
                Some(d) => format!("{n} disconnected by the {}", side(*d)),
            })
            .collect::<Vec<_>>()
            .join(", ");
        if !namespaces.is_empty() {
            s.fields.push(Field::new(
                "engineio.session.namespaces",
                namespaces.as_str(),
            ));
        }
        let mut sentence = format!("{}; {}", v.upgrade_why, end);
        if let Some((prev, after, attempt)) = follows {
            sentence.push_str(&format!(
                "; reconnected after {}, attempt {attempt}, following session {prev}",
                duration(after)
            ));
        }
        if let Some((rule, msg)) = v.finding {
            s.findings.push(Finding::new(
                rule,
                format!("session {}: {msg}", sess.index + 1),
            ));
        }
        sentence
    }

    fn verdict(&self, sess: &Session) -> Verdict {
        let life = &sess.life;
        let o = self.origin;
        let open = sess.open.as_ref();
        let offered = open.is_none_or(|o| !o.upgrades.is_empty());
        let (upgrade, upgrade_why) = if life.websocket_only {
            (
                "websocket-only",
                "opened directly over a WebSocket (no polling)".to_string(),
            )
        } else if sess.upgraded_at.is_some() {
            (
                "upgraded",
                "upgraded from polling to WebSocket (probe answered, `5` sent)".to_string(),
            )
        } else {
            match life.ws_request {
                Some((_, Some(st))) if st != 101 => (
                    "refused",
                    format!(
                        "stayed on polling: the client asked for a WebSocket and the server answered {st}, not 101"
                    ),
                ),
                Some((_, None)) => (
                    "no-answer",
                    "stayed on polling: the client asked for a WebSocket and no answer came".to_string(),
                ),
                Some((_, Some(_))) => (
                    "probe-failed",
                    format!(
                        "stayed on polling: the WebSocket opened but the upgrade never completed ({})",
                        if !life.probe_ping {
                            "no `2probe` was sent"
                        } else if !life.probe_pong {
                            "`2probe` got no `3probe`"
                        } else {
                            "`3probe` came but the client sent no `5`"
                        }
                    ),
                ),
                None if !offered => (
                    "not-offered",
                    "stayed on polling: the open packet's `upgrades` list is empty, so the server never offered a WebSocket".to_string(),
                ),
                None => (
                    "not-tried",
                    "stayed on polling: the server offered a WebSocket and the client never asked for one (its transports exclude it, or the session ended first)".to_string(),
                ),
            }
        };
        let mut v = Verdict {
            upgrade: Some(upgrade),
            upgrade_why,
            by: None,
            cause: Cause::CaptureEnded,
            end_time: None,
            end_step: None,
            close_code: None,
            http_status: None,
            detail: String::new(),
            deadlines: None,
            finding: None,
        };
        let Some(sig) = &life.end else {
            return v;
        };
        v.by = Some(sig.by);
        v.cause = sig.cause;
        v.end_time = Some(sig.time);
        v.end_step = Some(sig.step);
        v.close_code = sig.close_code;
        v.http_status = sig.http_status;
        v.deadlines = self.deadlines(sess, sig.time);
        let who = side(sig.by);
        let at = secs(sig.time, o);
        // The heartbeat arithmetic: did the side that ended it give up
        // waiting for a heartbeat?
        let pinger = match sess.version {
            Version::V3 => Dir::C2s,
            Version::V4 => Dir::S2c,
        };
        let (iv, to) = open.map_or((None, None), |o| (o.ping_interval, o.ping_timeout));
        if let (Some(iv), Some(to)) = (iv, to)
            && matches!(
                sig.cause,
                Cause::ClosePacket | Cause::WebsocketClose | Cause::TransportClose
            )
        {
            // (The open packet's numbers are untrusted: no overflow.)
            let (iv, to) = (
                i64::try_from(iv).unwrap_or(i64::MAX),
                i64::try_from(to).unwrap_or(i64::MAX),
            );
            let both = iv.saturating_add(to);
            if sig.by == pinger
                && let Some((p, pstep)) = life.last_ping
                && life.last_pong.is_none_or(|g| g < p)
                && ms(p, sig.time) >= to / 10 * 9
            {
                let other = pinger.reverse();
                let last = life.last_from[other.index()];
                let silent = last.map_or(String::new(), |l| {
                    format!(
                        "; the {}'s last packet was at {}, {} before",
                        side(other),
                        secs(l, o),
                        duration(ms(l, sig.time))
                    )
                });
                v.cause = Cause::PingTimeout;
                v.detail = format!(
                    "its ping of step {pstep} at {} went unanswered; pingTimeout is {to} ms, so it waited until {:.3} s and gave up at {at}{silent}",
                    secs(p, o),
                    p.since(o) + to as f64 / 1000.0,
                );
                let gap = last.map_or(ms(p, sig.time), |l| ms(l, sig.time));
                v.finding = Some((
                    &rules::ENGINEIO_PING_TIMEOUT,
                    format!(
                        "ended by ping timeout — the {} stopped answering pings {} before the {who} closed (ping of step {pstep} at {}, pingTimeout {to} ms, closed at {at})",
                        side(other),
                        duration(gap),
                        secs(p, o)
                    ),
                ));
                return v;
            }
            if sig.by != pinger {
                let from = life.last_ping.map(|p| p.0).or(sess.heartbeat_from);
                if let Some(from) = from
                    && ms(from, sig.time) >= both / 10 * 9
                {
                    let what = match life.last_ping {
                        Some((_, st)) => format!("the last ping (step {st}) came at"),
                        None => "the session opened at".to_string(),
                    };
                    v.cause = Cause::PingTimeout;
                    v.detail = format!(
                        "{what} {}; pingInterval + pingTimeout = {iv} + {to} = {} ms, so the {who} waited until {:.3} s for the next ping and gave up at {at}",
                        secs(from, o),
                        both,
                        from.since(o) + both as f64 / 1000.0
                    );
                    v.finding = Some((
                        &rules::ENGINEIO_PING_TIMEOUT,
                        format!(
                            "ended by ping timeout — the {} sent no ping for {} (pingInterval + pingTimeout is {} ms) and the {who} closed at {at}",
                            side(pinger),
                            duration(ms(from, sig.time)),
                            both
                        ),
                    ));
                    return v;
                }
            }
        }
        v.detail = match sig.cause {
            Cause::ClosePacket => format!("it sent an Engine.IO close packet (step {})", sig.step),
            Cause::Disconnect => format!(
                "it sent a Socket.IO DISCONNECT for namespace {} (step {}), the last one open",
                sig.nsp.as_deref().unwrap_or("/"),
                sig.step
            ),
            Cause::WebsocketClose => format!(
                "it sent a WebSocket Close{} (step {}) with no Engine.IO close before it",
                sig.close_code
                    .map_or(String::new(), |c| format!(" with code {c}")),
                sig.step
            ),
            Cause::TransportClose => format!(
                "its TCP connection closed (step {}) with no close packet, DISCONNECT or WebSocket Close before it: a \"transport close\" (a process killed, a network cut, a proxy timeout)",
                sig.step
            ),
            Cause::SessionUnknown => format!(
                "it answered a request with {} \"Session ID unknown\" (step {}): it does not know this sid (restarted, or another server behind a load balancer without sticky sessions)",
                sig.http_status.unwrap_or(400),
                sig.step
            ),
            Cause::PayloadTooLarge => match sig.close_code {
                Some(c) => format!(
                    "it closed the WebSocket with {c} (message too big, step {})",
                    sig.step
                ),
                None => format!(
                    "it refused a payload over its size limit with {} (step {})",
                    sig.http_status.unwrap_or(413),
                    sig.step
                ),
            },
            Cause::OriginRefused => format!(
                "it refused the request's Origin with {} (step {})",
                sig.http_status.unwrap_or(403),
                sig.step
            ),
            Cause::HttpError => format!(
                "it answered a request with HTTP {} (step {})",
                sig.http_status.unwrap_or(0),
                sig.step
            ),
            Cause::PingTimeout | Cause::CaptureEnded => String::new(),
        };
        v.finding = match sig.cause {
            Cause::SessionUnknown => Some((
                &rules::ENGINEIO_SESSION_UNKNOWN,
                format!(
                    "ended by \"Session ID unknown\" — the server answered step {} at {at} with {}: it no longer knows session {}",
                    sig.step,
                    sig.http_status.unwrap_or(400),
                    sess.sid
                ),
            )),
            Cause::PayloadTooLarge => Some((
                &rules::ENGINEIO_PAYLOAD_TOO_LARGE,
                format!(
                    "ended by a payload over the server's limit — step {} at {at}{}",
                    sig.step,
                    match (sig.close_code, open.and_then(|o| o.max_payload)) {
                        (Some(c), _) => format!(", WebSocket Close {c}"),
                        (None, Some(m)) => format!(", the open packet's maxPayload is {m} bytes"),
                        (None, None) => String::new(),
                    }
                ),
            )),
            _ => None,
        };
        v
    }

    /// The heartbeat deadline each side was keeping at `at` (the end), from
    /// the open packet's pingInterval and pingTimeout.
    fn deadlines(&self, sess: &Session, at: Timestamp) -> Option<String> {
        let o = self.origin;
        let open = sess.open.as_ref()?;
        let (iv, to) = (open.ping_interval?, open.ping_timeout?);
        let pinger = match sess.version {
            Version::V3 => Dir::C2s,
            Version::V4 => Dir::S2c,
        };
        let life = &sess.life;
        let from = life.last_ping.map(|p| p.0).or(sess.heartbeat_from)?;
        let deadline = |base: Timestamp, plus: u64| base.since(o) + plus as f64 / 1000.0;
        let what = match life.last_ping {
            Some((t, st)) => format!("the last ping, step {st} at {}", secs(t, o)),
            None => format!("the open packet at {}", secs(from, o)),
        };
        let pinger_side = match life.last_ping {
            Some((p, st)) if life.last_pong.is_none_or(|g| g < p) => format!(
                "the {} was waiting for the pong to its ping of step {st} until {:.3} s ({} + pingTimeout {to} ms)",
                side(pinger),
                deadline(p, to),
                secs(p, o)
            ),
            Some((p, _)) => format!(
                "the {} had its pong and was due to ping again at {:.3} s ({} + pingInterval {iv} ms)",
                side(pinger),
                deadline(p, iv),
                secs(p, o)
            ),
            None => format!(
                "the {} was due to send its first ping at {:.3} s (the open packet + pingInterval {iv} ms)",
                side(pinger),
                deadline(from, iv)
            ),
        };
        Some(format!(
            "at {}: {pinger_side}; the {} was waiting for the next ping until {:.3} s ({what} + pingInterval {iv} ms + pingTimeout {to} ms)",
            secs(at, o),
            side(pinger.reverse()),
            deadline(from, iv.saturating_add(to))
        ))
    }

    /// Reconnection links: for each session and attempt (in time order),
    /// the earlier abnormal end from the same client it follows, if any:
    /// (the earlier's sid or "attempt", ms after, attempt number).
    fn links(&self) -> Vec<(Timestamp, Entry)> {
        let mut all: Vec<(Timestamp, Entry)> = Vec::new();
        for (i, s) in self.sessions.iter().enumerate() {
            all.push((s.first, Entry::Session(i)));
        }
        for (i, a) in self.attempts.iter().enumerate() {
            all.push((a.time, Entry::Attempt(i)));
        }
        all.sort_by_key(|(t, _)| *t);
        all
    }

    /// Emits the summary steps of every session and attempt, in the order
    /// they began. `session_step` builds a session's base step.
    pub(super) fn summaries(&mut self, capture_end: Timestamp, emit: &mut super::Emit<'_>) {
        let order = self.links();
        // The last abnormal end per client: (end time, label, attempt count).
        // (One per client, the latest: a lookup per session, so thousands
        // of sessions stay linear.)
        let mut last_end: std::collections::HashMap<Option<IpAddr>, (Timestamp, String, u32)> =
            std::collections::HashMap::new();
        for (start, e) in order {
            let client = match e {
                Entry::Session(i) => self.sessions[i].life.client,
                Entry::Attempt(i) => self.attempts[i].client,
            };
            let follows = last_end
                .get(&client)
                .filter(|(t, _, _)| *t <= start && ms(*t, start) <= RECONNECT_WINDOW_MS)
                .map(|(t, label, n)| (label.clone(), ms(*t, start), n + 1));
            let (abnormal_end, label) = match e {
                Entry::Session(i) => {
                    let mut s = self.session_base(i, capture_end);
                    let sentence = self.session_verdict(
                        i,
                        follows.as_ref().map(|(l, a, n)| (l.as_str(), *a, *n)),
                        &mut s,
                    );
                    s.summary.push_str("; ");
                    s.summary.push_str(&sentence);
                    let v = self.verdict(&self.sessions[i]);
                    emit(&s);
                    (
                        v.cause
                            .abnormal()
                            .then(|| v.end_time.unwrap_or(capture_end)),
                        self.sessions[i].sid.clone(),
                    )
                }
                Entry::Attempt(i) => {
                    let s = self.attempt_step(i, follows.as_ref(), capture_end);
                    emit(&s);
                    (Some(self.attempts[i].time), String::new())
                }
            };
            let attempts = follows.as_ref().map_or(0, |f| f.2);
            if let Some(t) = abnormal_end {
                // An attempt keeps the label of the session it retries.
                let label = if label.is_empty() {
                    follows
                        .as_ref()
                        .map_or("a failed handshake".to_string(), |f| f.0.clone())
                } else {
                    label
                };
                let n = if matches!(e, Entry::Attempt(_)) {
                    attempts
                } else {
                    0
                };
                last_end.insert(client, (t, label, n));
            }
        }
    }

    fn attempt_step(
        &self,
        i: usize,
        follows: Option<&(String, i64, u32)>,
        capture_end: Timestamp,
    ) -> Step {
        let a = &self.attempts[i];
        // (At the capture's end, with the other summaries.)
        let mut s = Step::new(
            a.conn,
            Dir::S2c,
            "engineio.session",
            capture_end.max(a.time),
        );
        s.frames = a.frames.clone();
        s.fields.push(Field::new(
            "engineio.session.transports",
            a.transport.as_str(),
        ));
        s.fields.push(Field::new("engineio.session.packets", 0u64));
        let v = Verdict {
            upgrade: None,
            upgrade_why: String::new(),
            by: Some(Dir::S2c),
            cause: a.cause,
            end_time: Some(a.time),
            end_step: Some(a.step),
            close_code: None,
            http_status: Some(a.status),
            detail: String::new(),
            deadlines: None,
            finding: None,
        };
        push_verdict(&mut s, &v, follows.map(|(l, ms, n)| (l.as_str(), *ms, *n)));
        let why = match a.cause {
            Cause::OriginRefused => "the server refused the page's Origin (CORS)",
            Cause::PayloadTooLarge => "the server refused the request as too large",
            Cause::SessionUnknown => "the server did not know the session",
            _ => "the server refused the handshake",
        };
        let mut sentence = format!(
            "handshake over {} refused with {} (step {}): {why}{}",
            a.transport,
            a.status,
            a.step,
            if a.body.is_empty() {
                String::new()
            } else {
                format!(" — \"{}\"", a.body)
            }
        );
        if let Some((prev, after, n)) = follows {
            sentence.push_str(&format!(
                "; a reconnection attempt {} after {prev} ended, attempt {n}",
                duration(*after)
            ));
        }
        s.summary = format!("Engine.IO handshake that opened no session: {sentence}");
        if a.cause == Cause::OriginRefused {
            s.findings.push(Finding::new(
                &rules::ENGINEIO_ORIGIN_REFUSED,
                format!(
                    "handshake at {} refused — the server answered step {} with {}: the page's Origin is not in the server's allowed origins",
                    secs(a.time, self.origin),
                    a.step,
                    a.status
                ),
            ));
        }
        s
    }
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Session(usize),
    Attempt(usize),
}

/// The verdict's fields, in the documented order.
fn push_verdict(s: &mut Step, v: &Verdict, follows: Option<(&str, i64, u32)>) {
    if let Some(u) = v.upgrade {
        s.fields.push(Field::new("engineio.session.upgrade", u));
    }
    s.fields.push(Field::new(
        "engineio.session.end.by",
        v.by.map_or("none", side),
    ));
    s.fields
        .push(Field::new("engineio.session.end.cause", v.cause.name()));
    if let Some(st) = v.end_step {
        s.fields
            .push(Field::new("engineio.session.end.step", st).show("the step that ended it"));
    }
    if let Some(c) = v.close_code {
        s.fields
            .push(Field::new("engineio.session.end.close_code", c));
    }
    if let Some(c) = v.http_status {
        s.fields
            .push(Field::new("engineio.session.end.http_status", c));
    }
    if !v.detail.is_empty() {
        s.fields
            .push(Field::new("engineio.session.end.detail", v.detail.as_str()));
    }
    if let Some(d) = &v.deadlines {
        s.fields
            .push(Field::new("engineio.session.end.deadlines", d.as_str()));
    }
    if let Some((prev, after, n)) = follows {
        s.fields.push(Field::new("engineio.session.follows", prev));
        s.fields.push(Field::new(
            "engineio.session.reconnect_after_ms",
            after.max(0) as u64,
        ));
        s.fields.push(Field::new("engineio.session.attempt", n));
    }
}
