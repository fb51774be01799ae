//! WebSocket frames as steps (RFC 6455 §5), message assembly, unmasking,
//! permessage-deflate (RFC 7692), Close frames and what follows them.
//!
//! Every frame is a step whose fields point at its bits; every completed data
//! message is a step; a compressed message's inflation is a step of its own.
//! Violations become findings and decoding goes on — except when the bytes no
//! longer parse as frames at all (a desynchronised stream), which is said
//! once, after which the direction stops.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::proto::ws::{
    Assembler, AssemblerConfig, AssemblyEvent, FrameHeader, Inflater, LengthForm, Message, OpCode,
    Sender, Violation, close_code_label, parse_close, text_problem,
};
use crate::rules;
use crate::sanitize::escape;
use crate::step::{ConnId, Dir, Field, Finding, Frames, Origin, Span, Step, Timestamp, Value};

use super::Detail;
use super::stream::StreamBuf;
use super::up::{StepSlot, Up};

/// Caps of the WebSocket layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame payload buffered to become a step; a larger frame is
    /// shown by its header and its payload skipped.
    pub max_frame: usize,
    /// Largest message assembled.
    pub max_message: usize,
    /// Largest inflated message (RFC 7692 bombs stop here).
    pub max_inflate: usize,
    /// Total inflated bytes per connection direction.
    pub max_inflate_total: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 16 * 1024 * 1024,
            max_message: 16 * 1024 * 1024,
            max_inflate: 16 * 1024 * 1024,
            max_inflate_total: 1024 * 1024 * 1024,
        }
    }
}

/// The messages one pump completed: almost always none or one, kept inline
/// (a vector per pump was an allocation per WebSocket frame).
pub type Deliveries = smallvec::SmallVec<[Delivered; 2]>;

/// A completed data message, handed to the layer above (Engine.IO).
#[derive(Debug)]
pub struct Delivered {
    pub text: bool,
    pub payload: Vec<u8>,
    pub frames: Frames,
    pub time: Timestamp,
}

/// A frame whose length lost its high bits (see `WsDir::truncated_length`).
struct Truncated {
    declared: u64,
    actual: u64,
    modulus: usize,
    bits: u8,
    frames: Frames,
}

/// Negotiated permessage-deflate for one direction.
#[derive(Debug, Clone)]
struct Deflate {
    inflater: Inflater,
    context_takeover: bool,
    inflated_total: u64,
    /// Compressed messages inflated so far.
    messages: u64,
}

#[derive(Debug, Clone, Default)]
enum Mode {
    #[default]
    Frames,
    /// Skipping the payload of a frame too large to buffer.
    Skip { remaining: u64 },
    /// This side sent Close; bytes that do not parse as a frame are shown
    /// as what they are.
    AfterCloseRaw,
    /// The stream desynchronised or hit a gap.
    Stopped,
}

/// One direction of a WebSocket connection.
#[derive(Debug, Clone)]
pub struct WsDir {
    conn: ConnId,
    dir: Dir,
    assembler: Assembler,
    deflate: Option<Deflate>,
    limits: Limits,
    mode: Mode,
    /// Packets and steps of the message being assembled.
    msg_frames: Frames,
    /// A wrong mask bit already seen on this direction: a consistent bug,
    /// not a sign of desynchronisation.
    mask_bug_seen: bool,
    after_close_reported: bool,
    frame_count: u64,
    /// The last frame decoded: its declared payload length, the length
    /// form, and its packets (to name it if the stream desynchronises
    /// right after it).
    last_frame: Option<(u64, LengthForm, Frames)>,
    detail: Detail,
    /// Where a lean frame's payload is unmasked (reused: no allocation per
    /// frame).
    scratch: Vec<u8>,
}

/// What the two directions of a connection share: the pings waiting for
/// their pong, per sending direction (payload, the slot of its step
/// number), indexed like an array by `Dir::index`, and how many Close
/// frames each direction has sent (who started the closing handshake).
#[derive(Debug, Clone, Default)]
pub struct Pings {
    waiting: [VecDeque<(Vec<u8>, StepSlot)>; 2],
    closes: [u32; 2],
}

impl std::ops::Index<usize> for Pings {
    type Output = VecDeque<(Vec<u8>, StepSlot)>;
    fn index(&self, i: usize) -> &Self::Output {
        &self.waiting[i]
    }
}

impl std::ops::IndexMut<usize> for Pings {
    fn index_mut(&mut self, i: usize) -> &mut Self::Output {
        &mut self.waiting[i]
    }
}

/// A Close frame's place in the closing handshake (RFC 6455 §5.5.1), in
/// capture order: the first Close of the connection starts it, the peer's
/// first Close answers it, and any later Close from a side that already
/// sent one repeats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseRole {
    Starts,
    Answers,
    Repeats,
}

impl CloseRole {
    /// The role of a Close from a side that had sent `mine` Close frames
    /// while its peer had sent `theirs`.
    pub fn of(mine: u32, theirs: u32) -> CloseRole {
        match (mine, theirs) {
            (0, 0) => CloseRole::Starts,
            (0, _) => CloseRole::Answers,
            _ => CloseRole::Repeats,
        }
    }

    /// The field value (`websocket.close.role`).
    pub fn as_str(self) -> &'static str {
        match self {
            CloseRole::Starts => "starts",
            CloseRole::Answers => "answers",
            CloseRole::Repeats => "repeats",
        }
    }

    /// The field's display text.
    pub fn show(self) -> &'static str {
        match self {
            CloseRole::Starts => "starts the closing handshake",
            CloseRole::Answers => "answers the peer's Close",
            CloseRole::Repeats => "repeats a Close this side already sent",
        }
    }
}

impl WsDir {
    pub fn new(
        conn: ConnId,
        dir: Dir,
        deflate: Option<(bool, bool)>,
        limits: Limits,
        detail: Detail,
    ) -> WsDir {
        let sender = match dir {
            Dir::C2s => Sender::Client,
            Dir::S2c => Sender::Server,
        };
        let mut config = AssemblerConfig::new(sender);
        config.deflate = deflate.is_some();
        config.max_message = limits.max_message;
        WsDir {
            conn,
            dir,
            assembler: Assembler::new(config),
            deflate: deflate.map(|(_, no_takeover)| Deflate {
                inflater: Inflater::new(no_takeover),
                context_takeover: !no_takeover,
                inflated_total: 0,
                messages: 0,
            }),
            limits,
            mode: Mode::Frames,
            msg_frames: Frames::new(),
            mask_bug_seen: false,
            after_close_reported: false,
            frame_count: 0,
            last_frame: None,
            detail,
            scratch: Vec::new(),
        }
    }

    /// Changes which steps are built in full from here on.
    pub fn set_detail(&mut self, detail: Detail) {
        self.detail = detail;
    }

    /// Whether decoding stopped (gap or desync).
    pub fn stopped(&self) -> bool {
        matches!(self.mode, Mode::Stopped)
    }

    /// A gap: nothing after it can be trusted to start on a frame boundary.
    pub fn stop(&mut self) {
        self.mode = Mode::Stopped;
    }

    /// Decodes every complete frame in `buf`.
    pub fn pump(
        &mut self,
        buf: &mut StreamBuf,
        pings: &mut Pings,
        up: &mut Up<'_>,
        out: &mut Deliveries,
    ) {
        loop {
            match self.mode {
                Mode::Stopped => {
                    buf.clear();
                    return;
                }
                Mode::Skip { remaining } => {
                    let n = (buf.len() as u64).min(remaining);
                    buf.consume(n as usize);
                    if n < remaining {
                        self.mode = Mode::Skip {
                            remaining: remaining - n,
                        };
                        return;
                    }
                    self.mode = Mode::Frames;
                }
                Mode::AfterCloseRaw => {
                    if buf.is_empty() {
                        return;
                    }
                    let s = self.after_close_step(buf, buf.len());
                    buf.consume(buf.len());
                    up.step(s);
                    return;
                }
                Mode::Frames => {
                    if buf.is_empty() {
                        return;
                    }
                    let Some(h) = FrameHeader::parse(buf.bytes()) else {
                        // A partial header can already be implausible.
                        if self.assembler.closed() && looks_like_text(buf.bytes()) {
                            self.mode = Mode::AfterCloseRaw;
                            continue;
                        }
                        return;
                    };
                    if let Some(why) = self.implausible(&h, buf.bytes()) {
                        if self.assembler.closed() {
                            self.mode = Mode::AfterCloseRaw;
                            continue;
                        }
                        let s = self.desync_step(buf, &why);
                        up.step(s);
                        self.mode = Mode::Stopped;
                        continue;
                    }
                    if h.payload_len > self.limits.max_frame as u64 {
                        let s = self.oversized_step(buf, &h);
                        up.step(s);
                        buf.consume(h.header_len);
                        self.mode = Mode::Skip {
                            remaining: h.payload_len,
                        };
                        continue;
                    }
                    let total = h.header_len + h.payload_len as usize;
                    if buf.len() < total {
                        return;
                    }
                    self.frame(buf, &h, total, pings, up, out);
                    buf.consume(total);
                }
            }
        }
    }

    /// A reason the header cannot be a real frame, if it looks like garbage:
    /// two or more independent violations at once, an impossible length, or
    /// readable text where a header should be.
    fn implausible(&mut self, h: &FrameHeader, bytes: &[u8]) -> Option<String> {
        if looks_like_text(bytes) && (h.rsv != 0 || h.opcode.is_reserved()) {
            return Some(format!(
                "the bytes read as text (\"{}\"), not as a frame header",
                crate::sanitize::preview(&bytes[..bytes.len().min(24)], 24)
            ));
        }
        let mut reasons = Vec::new();
        if h.length_msb_set {
            reasons.push("a 64-bit length with its top bit set".to_string());
        }
        if h.opcode.is_reserved() {
            reasons.push(format!("reserved opcode 0x{:X}", h.opcode.as_u8()));
        }
        let allowed_rsv = if self.deflate.is_some() { 4 } else { 0 };
        if h.rsv & !allowed_rsv != 0 {
            reasons.push(format!("RSV bits {:03b}", h.rsv));
        }
        if h.opcode.is_control() && (!h.fin || h.payload_len > 125) {
            reasons.push("a fragmented or oversized control frame".into());
        }
        let mask_wrong = match self.dir {
            Dir::C2s => !h.masked,
            Dir::S2c => h.masked,
        };
        if mask_wrong && !self.mask_bug_seen {
            reasons.push("a wrong MASK bit".into());
        }
        if reasons.len() >= 2 {
            Some(reasons.join(", "))
        } else {
            if mask_wrong {
                self.mask_bug_seen = true;
            }
            None
        }
    }

    /// One frame as a step: built in full, or lean (kind, packets,
    /// findings) when the sink reads no frame fields — one path, the
    /// fields and buffers skipped when not wanted.
    #[allow(clippy::too_many_arguments)]
    fn frame(
        &mut self,
        buf: &StreamBuf,
        h: &FrameHeader,
        total: usize,
        pings: &mut Pings,
        up: &mut Up<'_>,
        out: &mut Deliveries,
    ) {
        self.frame_count += 1;
        let raw = &buf.bytes()[..total];
        let (frames, time) = buf.provenance(total);
        self.last_frame = Some((
            h.payload_len,
            h.length_form,
            Frames::from_slice(frames.as_slice()),
        ));
        let mut s = Step::new(self.conn, self.dir, "websocket.frame", time);
        s.frames = Frames::from_slice(frames.as_slice());
        let payload_range = h.header_len..total;
        // Control frames are rare and carry the ping/pong and Close logic:
        // always built in full.
        let full = self.detail.frame || h.opcode.is_control();
        // A lean frame is unmasked into a reused buffer; a full one straight
        // into the buffer its step shows. (Copies were the largest cost on
        // bulk traffic.)
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut stream = 0;
        let mut unmasked: Option<Arc<[u8]>> = None;
        let payload: &[u8] = if full {
            stream = s.add_buffer(
                "stream",
                Origin::Stream {
                    offset: buf.offset(),
                },
                Arc::from(raw),
            );
            unmasked = h.mask.map(|key| {
                let mut u: Arc<[u8]> = Arc::from(&raw[payload_range.clone()]);
                match Arc::get_mut(&mut u) {
                    Some(m) => crate::proto::ws::apply_mask(m, key, 0),
                    // A fresh Arc is never shared; unmask a copy if it were.
                    None => {
                        let mut v = u.to_vec();
                        crate::proto::ws::apply_mask(&mut v, key, 0);
                        u = Arc::from(v);
                    }
                }
                u
            });
            match &unmasked {
                Some(u) => u,
                None => &raw[payload_range.clone()],
            }
        } else {
            match h.mask {
                Some(key) => {
                    scratch.clear();
                    scratch.extend_from_slice(&raw[payload_range.clone()]);
                    crate::proto::ws::apply_mask(&mut scratch, key, 0);
                    &scratch
                }
                None => &raw[payload_range.clone()],
            }
        };
        let events = self.assembler.push(h, payload);
        for e in &events {
            if let AssemblyEvent::Violation(v) = e {
                s.findings.push(Finding::new(v.rule(), v.message()));
            }
        }
        let mut answers = None;
        if full {
            header_fields(&mut s, stream, h);
            payload_fields(&mut s, stream, h, payload_range.clone(), unmasked.clone());
            let pb = if h.masked { 1 } else { stream };
            let poff = if h.masked { 0 } else { payload_range.start };
            let mut summary = frame_summary(h, payload);
            match h.opcode {
                OpCode::Close => {
                    self.close_fields(&mut s, pb, poff, payload, &mut summary);
                    self.close_role(&mut s, pings);
                }
                OpCode::Ping => {
                    s.fields.push(
                        Field::new("websocket.payload.ping", Value::SpanBytes).span(Span::bytes(
                            pb,
                            poff,
                            payload.len(),
                        )),
                    );
                }
                OpCode::Pong => answers = self.pong_fields(&mut s, pb, poff, payload, pings),
                _ => {}
            }
            s.summary = summary;
        }
        // A message's packets are those of its data frames only: a control
        // frame (ping, pong, Close) before or between its fragments is no
        // part of it (the frame-list rule, `tests/frame_list.rs`).
        // (`extend`, not `extend_from_slice`: SmallVec's slice insert
        // costs several times a push for the usual one frame.)
        if !h.opcode.is_control() {
            self.msg_frames.extend(frames.iter().copied());
        }
        if h.opcode == OpCode::Ping {
            let slot = StepSlot::default();
            let q = &mut pings[self.dir.index()];
            if q.len() >= 64 {
                q.pop_front();
            }
            q.push_back((payload.to_vec(), slot.clone()));
            up.ping(s, slot);
        } else if let Some(slot) = answers {
            up.pong(s, slot);
        } else if full {
            up.step(s);
        } else {
            up.lean_step(s, self.detail.frame_unremarkable);
        }
        self.scratch = scratch;
        self.after_frame(h, events, time, up, out);
    }

    /// A Pong's fields; the slot of the Ping it answers, if one waits.
    fn pong_fields(
        &mut self,
        s: &mut Step,
        pb: u16,
        poff: usize,
        payload: &[u8],
        pings: &mut Pings,
    ) -> Option<StepSlot> {
        s.fields.push(
            Field::new("websocket.payload.pong", Value::SpanBytes).span(Span::bytes(
                pb,
                poff,
                payload.len(),
            )),
        );
        let waiting = &mut pings[self.dir.reverse().index()];
        match waiting.iter().position(|(p, _)| p.as_slice() == payload) {
            Some(i) => {
                // The ping's number is known once it is emitted;
                // `answers_ping` adds it then.
                let answers = waiting.remove(i).map(|(_, slot)| slot);
                waiting.drain(..i);
                answers
            }
            None => {
                s.fields.push(
                    Field::new("websocket.pong.answers", Value::Str("none".into()))
                        .show("unsolicited: a pong may be sent as a heartbeat (RFC 6455 §5.5.3)"),
                );
                None
            }
        }
    }

    /// What a frame's assembly completed: messages go on as steps and to
    /// the layer above.
    fn after_frame(
        &mut self,
        h: &FrameHeader,
        events: crate::proto::ws::assemble::Events,
        time: Timestamp,
        up: &mut Up<'_>,
        out: &mut Deliveries,
    ) {
        for e in events {
            match e {
                AssemblyEvent::Message(m) => self.message(m, time, up, out, None),
                AssemblyEvent::Abandoned(m) => self.message(
                    m,
                    time,
                    up,
                    out,
                    Some("abandoned: a new message started before this one's final frame"),
                ),
                AssemblyEvent::Started { .. } | AssemblyEvent::Continued { .. } => {}
                AssemblyEvent::Violation(_) | AssemblyEvent::Passthrough { .. } => {}
            }
        }
        if !h.opcode.is_control() && h.fin {
            self.msg_frames.clear();
        }
    }

    /// Whether this Close starts, answers or repeats the closing handshake;
    /// a repeat is a finding.
    fn close_role(&self, s: &mut Step, pings: &mut Pings) {
        let (me, peer) = (self.dir.index(), self.dir.reverse().index());
        let role = CloseRole::of(pings.closes[me], pings.closes[peer]);
        pings.closes[me] = pings.closes[me].saturating_add(1);
        s.fields
            .push(Field::new("websocket.close.role", role.as_str()).show(role.show()));
        if role == CloseRole::Repeats {
            s.findings.push(Finding::new(
                &rules::FRAME_CLOSE_REPEATED,
                format!(
                    "the {} already sent a Close frame; the closing handshake takes one Close from each side, and this one changes nothing",
                    match self.dir {
                        Dir::C2s => "client",
                        Dir::S2c => "server",
                    }
                ),
            ));
        }
    }

    fn close_fields(
        &mut self,
        s: &mut Step,
        pb: u16,
        poff: usize,
        payload: &[u8],
        summary: &mut String,
    ) {
        match parse_close(payload) {
            Err(p) => {
                if let Some(rule) = p.rule() {
                    s.findings.push(Finding::new(rule, p.message()));
                }
            }
            Ok(c) => {
                if let (Some(code), Some(span)) = (c.code, c.code_span.clone()) {
                    let name = close_code_label(code);
                    s.fields.push(
                        Field::new("websocket.payload.close.status_code", code)
                            .show(name)
                            .span(Span::bytes(pb, poff + span.start, span.len())),
                    );
                    summary.push_str(&format!(" {code} {name}"));
                } else {
                    summary.push_str(" (no status code)");
                }
                if !c.reason.is_empty() {
                    let reason = String::from_utf8_lossy(c.reason).into_owned();
                    summary.push_str(&format!(" \"{}\"", escape(&reason)));
                    s.fields
                        .push(Field::new("websocket.payload.close.reason", reason).span(
                            Span::bytes(pb, poff + c.reason_span.start, c.reason_span.len()),
                        ));
                }
                for p in c.problems() {
                    if let Some(rule) = p.rule() {
                        s.findings.push(Finding::new(rule, p.message()));
                    }
                }
            }
        }
    }

    fn message(
        &mut self,
        m: Message,
        time: Timestamp,
        up: &mut Up<'_>,
        out: &mut Deliveries,
        abandoned: Option<&str>,
    ) {
        let frames = std::mem::take(&mut self.msg_frames);
        let mut frames_sorted = Frames::from_slice(frames.as_slice());
        frames_sorted.sort_unstable();
        frames_sorted.dedup();
        let mut s = Step::new(self.conn, self.dir, "websocket.message", time);
        s.frames = Frames::from_slice(&frames_sorted);
        let text = m.opcode == OpCode::Text;
        let lean = !self.detail.message;
        if !lean {
            self.message_detail(&mut s, &m, text, abandoned);
        }
        if m.truncated {
            s.findings.push(Finding::new(
                &rules::FRAME_TOO_LARGE,
                format!(
                    "the message has {} bytes; dispel keeps the first {} (the message cap)",
                    m.len,
                    m.payload.len()
                ),
            ));
        }
        if lean {
            up.lean_step(s, self.detail.message_unremarkable);
        } else {
            up.step(s);
        }
        if abandoned.is_some() {
            return;
        }
        self.deliver(m, text, frames_sorted, time, up, out);
    }

    /// A message step's fields, buffer and summary.
    fn message_detail(&self, s: &mut Step, m: &Message, text: bool, abandoned: Option<&str>) {
        s.fields.reserve(6);
        let b = s.add_buffer("message", Origin::Derived, Arc::from(m.payload.as_slice()));
        s.fields
            .push(Field::new("websocket.message.opcode", m.opcode.as_u8()).show(m.opcode.name()));
        s.fields
            .push(Field::new("websocket.message.frames", m.frames));
        s.fields.push(Field::new("websocket.message.length", m.len));
        s.fields
            .push(Field::new("websocket.message.compressed", m.compressed));
        let shown_text = text && !m.compressed;
        push_data(s, b, &m.payload, shown_text, "websocket.message");
        // `WS [compressed ]text|binary message, N byte(s) in N frame(s):
        // "preview"|hex`, built without the formatting machinery (one per
        // message).
        let mut sum = String::with_capacity(128);
        sum.push_str(if m.compressed {
            "WS compressed "
        } else {
            "WS "
        });
        sum.push_str(if text { "text" } else { "binary" });
        sum.push_str(" message, ");
        sum.push_str(itoa::Buffer::new().format(m.len));
        sum.push_str(if m.len == 1 {
            " byte in "
        } else {
            " bytes in "
        });
        sum.push_str(itoa::Buffer::new().format(m.frames));
        sum.push_str(if m.frames == 1 {
            " frame: "
        } else {
            " frames: "
        });
        if shown_text {
            sum.push('"');
            crate::sanitize::push_preview(&mut sum, &m.payload, 60);
            sum.push('"');
        } else {
            sum.push_str(&hex_preview(&m.payload, 16));
        }
        if let Some(why) = abandoned {
            sum.push_str(" — ");
            sum.push_str(why);
        }
        s.summary = sum;
    }

    /// A complete message goes up (inflated first when compressed).
    fn deliver(
        &mut self,
        m: Message,
        text: bool,
        frames_sorted: Frames,
        time: Timestamp,
        up: &mut Up<'_>,
        out: &mut Deliveries,
    ) {
        if !m.compressed {
            out.push(Delivered {
                text,
                payload: m.payload,
                frames: frames_sorted,
                time,
            });
            return;
        }
        // RFC 7692 §7.2.2: append 00 00 ff ff and inflate with the
        // direction's inflater (its window carries over between messages
        // unless context takeover is off).
        let Some(d) = self.deflate.as_mut() else {
            return;
        };
        let room = self
            .limits
            .max_inflate_total
            .saturating_sub(d.inflated_total);
        let cap = (self.limits.max_inflate as u64).min(room) as usize;
        let mut s = Step::new(self.conn, self.dir, "websocket.inflate", time);
        s.frames = Frames::from_slice(&frames_sorted);
        let first = d.messages == 0;
        d.messages = d.messages.saturating_add(1);
        let window = d.inflater.has_window();
        let (data, ok) = match d.inflater.inflate_message(&m.payload, cap) {
            Ok(inf) => {
                if inf.truncated {
                    s.findings.push(Finding::new(
                        &rules::DEFLATE_TOO_LARGE,
                        format!(
                            "{} compressed bytes inflate past the {cap}-byte cap; dispel keeps the first {cap} bytes (a decompression bomb is a finding, not an out-of-memory)",
                            m.payload.len()
                        ),
                    ));
                }
                (inf.data, true)
            }
            Err(e) => {
                s.findings
                    .push(Finding::new(&rules::DEFLATE_INFLATE_FAILED, e.to_string()));
                (e.partial, false)
            }
        };
        d.inflated_total = d.inflated_total.saturating_add(data.len() as u64);
        if text && let Some(v) = text_problem(&data, false) {
            s.findings.push(Finding::new(v.rule(), v.message()));
        }
        if self.detail.inflate {
            // Whether this message used the window is only a question when
            // there was one; then inflating it alone (same cap) answers it.
            let used_window = match (ok, window) {
                (false, _) => None,
                (true, false) => Some(false),
                (true, true) => Some(Inflater::needs_window(&m.payload, &data, cap)),
            };
            Self::inflate_detail(&mut s, &m, d, &data, text, first, used_window);
        }
        up.step(s);
        if ok {
            out.push(Delivered {
                text,
                payload: data,
                frames: frames_sorted,
                time,
            });
        }
    }

    /// An inflation step's fields and summary (when its detail is wanted).
    fn inflate_detail(
        s: &mut Step,
        m: &Message,
        d: &Deflate,
        data: &[u8],
        text: bool,
        first: bool,
        used_window: Option<bool>,
    ) {
        s.fields.push(Field::new(
            "websocket.inflate.compressed_length",
            m.payload.len(),
        ));
        s.fields.push(
            Field::new("websocket.inflate.context_takeover", d.context_takeover).show(
                if d.context_takeover {
                    "negotiated: a message may refer back to earlier messages"
                } else {
                    "negotiated off: each message is compressed on its own"
                },
            ),
        );
        s.fields
            .push(Field::new("websocket.inflate.first", first).show(if first {
                "the first compressed message this side sent"
            } else {
                "earlier compressed messages came from this side"
            }));
        if let Some(used) = used_window {
            s.fields.push(
                Field::new("websocket.inflate.used_window", used).show(if used {
                    "it does not inflate alone: it refers back to earlier messages"
                } else {
                    "it inflates alone, without earlier messages"
                }),
            );
        }
        s.fields
            .push(Field::new("websocket.inflate.length", data.len()));
        let ib = s.add_buffer("inflated", Origin::Derived, Arc::from(data));
        push_data(s, ib, data, text, "websocket.inflate");
        s.summary = format!(
            "inflated {} → {} bytes{}: {}",
            m.payload.len(),
            data.len(),
            if used_window == Some(true) {
                " (using earlier messages' window)"
            } else {
                ""
            },
            if text {
                format!("\"{}\"", crate::sanitize::preview(data, 60))
            } else {
                hex_preview(data, 16)
            }
        );
    }

    fn after_close_step(&mut self, buf: &StreamBuf, len: usize) -> Step {
        let mut s = self.raw_step("websocket.after-close", buf, len);
        let b = 0;
        let raw = &buf.bytes()[..len];
        let looks = if raw.starts_with(b"HTTP/") {
            let line = raw
                .split(|&c| c == b'\r' || c == b'\n')
                .next()
                .unwrap_or(raw);
            format!(
                " — they look like an HTTP response: `{}`",
                crate::sanitize::preview(line, 60)
            )
        } else if looks_like_text(raw) {
            format!(
                " — they read as text: \"{}\"",
                crate::sanitize::preview(raw, 40)
            )
        } else {
            String::new()
        };
        s.summary = format!("{len} bytes after Close{looks}");
        s.fields
            .push(Field::new("websocket.after_close.length", len));
        s.fields.push(
            Field::new("websocket.after_close.data", Value::SpanBytes).span(Span::bytes(b, 0, len)),
        );
        if !self.after_close_reported {
            self.after_close_reported = true;
            s.findings.push(Finding::new(
                &rules::FRAME_AFTER_CLOSE,
                format!(
                    "{len} bytes followed this side's Close frame{looks}; after a Close an endpoint sends nothing more, and these bytes are not frames"
                ),
            ));
        }
        s
    }

    /// When the bytes after the last frame show its length was written in
    /// too few bits: the real payload is the declared length plus a whole
    /// number of 2^7 (or 2^16) bytes, after which a well-formed header
    /// starts (or the bytes end). Only then is the arithmetic claimed.
    fn truncated_length(&self, after: &[u8]) -> Option<Truncated> {
        let (declared, form, frames) = self.last_frame.as_ref()?;
        let (modulus, bits) = match form {
            LengthForm::Seven => (128usize, 7),
            LengthForm::Sixteen => (65536usize, 16),
            LengthForm::SixtyFour => return None,
        };
        let mut k = modulus;
        while k <= after.len() {
            if k == after.len() || self.well_formed_at(&after[k..]) {
                return Some(Truncated {
                    declared: *declared,
                    actual: *declared + k as u64,
                    modulus,
                    bits,
                    frames: frames.clone(),
                });
            }
            k += modulus;
        }
        None
    }

    /// Whether a frame header that breaks no rule starts here (a partial
    /// header counts: the bytes may end inside it).
    fn well_formed_at(&self, b: &[u8]) -> bool {
        let Some(h) = FrameHeader::parse(b) else {
            return b.len() < 2;
        };
        let allowed_rsv = if self.deflate.is_some() { 4 } else { 0 };
        let mask_right = match self.dir {
            Dir::C2s => h.masked,
            Dir::S2c => !h.masked,
        };
        !h.length_msb_set
            && !h.opcode.is_reserved()
            && h.rsv & !allowed_rsv == 0
            && !(h.opcode.is_control() && (!h.fin || h.payload_len > 125))
            && !h.length_not_minimal
            && mask_right
    }

    fn desync_step(&self, buf: &StreamBuf, why: &str) -> Step {
        let len = buf.len().min(256);
        let mut s = self.raw_step("websocket.desync", buf, len);
        let b = 0;
        let raw = &buf.bytes()[..len];
        s.fields.push(
            Field::new("websocket.desync.data", Value::SpanBytes).span(Span::bytes(b, 0, len)),
        );
        let message = if raw.starts_with(b"HTTP/") {
            let line = raw
                .split(|&c| c == b'\r' || c == b'\n')
                .next()
                .unwrap_or(raw);
            let line = crate::sanitize::preview(line, 60);
            s.summary =
                format!("not a frame: an HTTP response written onto the WebSocket: `{line}`");
            format!(
                "after {} frames, where the next frame header should be, {} wrote an HTTP response (`{line}`) onto the WebSocket connection; these bytes are not frames, so dispel stops decoding this direction",
                self.frame_count,
                match self.dir {
                    Dir::S2c => "the server",
                    Dir::C2s => "the client",
                }
            )
        } else {
            s.summary = format!("frames lost sync: {why}");
            match self.truncated_length(buf.bytes()) {
                Some(t) => format!(
                    "after {} frames, the next header cannot be right ({why}). The frame before it ({}) declared {} bytes; {} followed — {} mod {} = {}: the length was written in {} bits, its high bits lost. dispel stops decoding this direction instead of showing garbage frames",
                    self.frame_count,
                    match t.frames.first() {
                        Some(p) => format!("its header in packet {p}"),
                        None => "the last one".into(),
                    },
                    t.declared,
                    t.actual,
                    t.actual,
                    t.modulus,
                    t.declared,
                    t.bits
                ),
                None => format!(
                    "after {} frames, the next header cannot be right ({why}); a length written wrong earlier usually causes this. dispel stops decoding this direction instead of showing garbage frames",
                    self.frame_count
                ),
            }
        };
        s.findings.push(Finding::new(&rules::FRAME_DESYNC, message));
        s
    }

    fn oversized_step(&self, buf: &StreamBuf, h: &FrameHeader) -> Step {
        let mut s = self.raw_step("websocket.frame", buf, h.header_len);
        let b = 0;
        header_fields(&mut s, b, h);
        s.summary = format!(
            "{} frame header claiming {} payload bytes (payload skipped)",
            h.opcode.name(),
            h.payload_len
        );
        // The payload never reaches the assembler, so the header's own rules
        // are checked here.
        if h.length_msb_set {
            let v = Violation::LengthMsbSet;
            s.findings.push(Finding::new(v.rule(), v.message()));
        }
        if h.length_not_minimal {
            let v = Violation::LengthNotMinimal {
                len: h.payload_len,
                form: h.length_form,
            };
            s.findings.push(Finding::new(v.rule(), v.message()));
        }
        s.findings.push(Finding::new(
            &rules::FRAME_TOO_LARGE,
            format!(
                "the frame announces {} payload bytes, over the {}-byte frame cap; its header is shown and its payload skipped",
                h.payload_len, self.limits.max_frame
            ),
        ));
        s
    }

    /// A step over the first `len` buffered bytes, with them as its
    /// "stream" buffer (index 0).
    fn raw_step(&self, kind: &'static str, buf: &StreamBuf, len: usize) -> Step {
        let raw = &buf.bytes()[..len];
        let (frames, time) = buf.provenance(len);
        let mut s = Step::new(self.conn, self.dir, kind, time);
        s.frames = frames;
        s.add_buffer(
            "stream",
            Origin::Stream {
                offset: buf.offset(),
            },
            Arc::from(raw),
        );
        s
    }

    /// The capture ended mid-frame: show what is left.
    pub fn end(&mut self, buf: &mut StreamBuf, up: &mut Up<'_>) {
        if buf.is_empty() || matches!(self.mode, Mode::Stopped) {
            return;
        }
        let len = buf.len().min(4096);
        let mut s = self.raw_step("websocket.incomplete", buf, len);
        let b = 0;
        s.summary = format!(
            "{} bytes of an incomplete frame when the capture or connection ended",
            buf.len()
        );
        s.fields.push(
            Field::new("websocket.incomplete.data", Value::SpanBytes).span(Span::bytes(b, 0, len)),
        );
        buf.clear();
        up.step(s);
    }
}

/// The payload's fields: the wire bytes, and for a masked frame the
/// unmasked bytes in a buffer of their own.
fn payload_fields(
    s: &mut Step,
    b: u16,
    h: &FrameHeader,
    payload_range: std::ops::Range<usize>,
    unmasked: Option<Arc<[u8]>>,
) {
    if h.masked {
        s.fields.push(
            Field::new("websocket.masked_payload", Value::SpanBytes).span(Span::bytes(
                b,
                payload_range.start,
                payload_range.len(),
            )),
        );
        let u = s.add_buffer("unmasked", Origin::Derived, unmasked.unwrap_or_default());
        s.fields.push(
            Field::new("websocket.payload", Value::SpanBytes).span(Span::bytes(
                u,
                0,
                payload_range.len(),
            )),
        );
    } else {
        s.fields.push(
            Field::new("websocket.payload", Value::SpanBytes).span(Span::bytes(
                b,
                payload_range.start,
                payload_range.len(),
            )),
        );
    }
}

/// The header's fields, each pointing at its bits.
fn header_fields(s: &mut Step, b: u16, h: &FrameHeader) {
    // Room for these and the payload's, at once rather than by doubling.
    s.fields.reserve(14);
    s.fields
        .push(Field::new("websocket.fin", h.fin).span(Span::bits(b, 0, 1, 0x80)));
    s.fields
        .push(Field::new("websocket.rsv", h.rsv).span(Span::bits(b, 0, 1, 0x70)));
    for (name, bit, mask) in [
        ("websocket.rsv1", 4, 0x40),
        ("websocket.rsv2", 2, 0x20),
        ("websocket.rsv3", 1, 0x10),
    ] {
        s.fields.push(
            Field::new(name, h.rsv & bit != 0)
                .span(Span::bits(b, 0, 1, mask))
                .depth(1),
        );
    }
    s.fields.push(
        Field::new("websocket.opcode", h.opcode.as_u8())
            .show(h.opcode.name())
            .span(Span::bits(b, 0, 1, 0x0f)),
    );
    s.fields
        .push(Field::new("websocket.mask", h.masked).span(Span::bits(b, 1, 1, 0x80)));
    let seven = match h.length_form {
        LengthForm::Seven => h.payload_len,
        LengthForm::Sixteen => 126,
        LengthForm::SixtyFour => 127,
    };
    s.fields
        .push(Field::new("websocket.payload_length", seven).span(Span::bits(b, 1, 1, 0x7f)));
    let form = match h.length_form {
        LengthForm::Seven => "7-bit",
        LengthForm::Sixteen => "16-bit",
        LengthForm::SixtyFour => "64-bit",
    };
    s.fields.push(
        Field::new("websocket.payload_length.form", form)
            .show(match h.length_form {
                LengthForm::Seven => "the length fits in the 7 bits of byte 1 (0–125)",
                LengthForm::Sixteen => "126 in byte 1: the length follows in 2 bytes",
                LengthForm::SixtyFour => "127 in byte 1: the length follows in 8 bytes",
            })
            .depth(1),
    );
    let ext = &h.ext_len_span;
    match h.length_form {
        LengthForm::Seven => {}
        LengthForm::Sixteen => s.fields.push(
            Field::new("websocket.payload_length_ext_16", h.payload_len)
                .span(Span::bytes(b, ext.start, ext.len()))
                .depth(1),
        ),
        LengthForm::SixtyFour => s.fields.push(
            Field::new("websocket.payload_length_ext_64", h.payload_len)
                .span(Span::bytes(b, ext.start, ext.len()))
                .depth(1),
        ),
    }
    if let (Some(key), Some(span)) = (h.mask, h.mask_span.clone()) {
        s.fields.push(
            Field::new("websocket.masking_key", Value::Bytes(key.to_vec())).span(Span::bytes(
                b,
                span.start,
                span.len(),
            )),
        );
    }
}

/// Text (when valid UTF-8) or bytes of a message or inflation.
fn push_data(s: &mut Step, b: u16, data: &[u8], text: bool, prefix: &'static str) {
    let (text_name, data_name) = match prefix {
        "websocket.inflate" => ("websocket.inflate.text", "websocket.inflate.data"),
        _ => ("websocket.message.text", "websocket.message.data"),
    };
    match std::str::from_utf8(data) {
        Ok(t) if text => {
            s.fields
                .push(Field::new(text_name, t).span(Span::bytes(b, 0, data.len())))
        }
        _ => s
            .fields
            .push(Field::new(data_name, Value::SpanBytes).span(Span::bytes(b, 0, data.len()))),
    }
}

/// Whether the start of `payload` (what a summary previews) is UTF-8; a
/// character cut by the end of the sample counts as UTF-8. Validating a
/// whole 70 KB payload for a 60-character preview was measurable.
fn utf8_head(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(256)];
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() < payload.len(),
    }
}

fn frame_summary(h: &FrameHeader, payload: &[u8]) -> String {
    let kind = match h.opcode {
        OpCode::Text => "text",
        OpCode::Binary => "binary",
        OpCode::Continuation => "continuation",
        OpCode::Close => "Close",
        OpCode::Ping => "Ping",
        OpCode::Pong => "Pong",
        OpCode::ReservedData(_) | OpCode::ReservedControl(_) => "reserved-opcode",
    };
    let mut s = String::with_capacity(96);
    s.push_str("WS ");
    s.push_str(kind);
    if !h.fin {
        s.push_str(" (FIN=0)");
    }
    if h.rsv & 4 != 0 {
        s.push_str(" RSV1");
    }
    if h.masked {
        s.push_str(" masked");
    }
    match h.opcode {
        OpCode::Text | OpCode::Continuation if h.rsv == 0 && utf8_head(payload) => {
            s.push_str(" \"");
            crate::sanitize::push_preview(&mut s, payload, 60);
            s.push('"');
        }
        OpCode::Close => {}
        _ => {
            s.push_str(&format!(" {} bytes", payload.len()));
        }
    }
    s
}

pub(crate) fn hex_preview(b: &[u8], n: usize) -> String {
    let mut s = hex::encode(&b[..b.len().min(n)]);
    if b.len() > n {
        s.push('…');
    }
    s
}

/// Printable ASCII where a frame header would be (e.g. an HTTP response
/// written onto a WebSocket).
fn looks_like_text(b: &[u8]) -> bool {
    let n = b.len().min(8);
    n >= 4 && b[..n].iter().all(|c| c.is_ascii_graphic() || *c == b' ')
}
