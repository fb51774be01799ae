//! Socket.IO on top of Engine.IO: each message packet decoded as a
//! Socket.IO packet, binary attachments joined to the packet that announced
//! them, acks correlated with their events both ways, and namespaces checked
//! against the client's CONNECTs.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value as J;

use crate::proto::engineio::{self as eio, Data};
use crate::proto::socketio::{self as sio, LogicalPacket, Protocol};
use crate::rules;
use crate::sanitize::escape;
use crate::step::{Dir, Field, Finding, Frames, Origin, Span, Step, Value};

use super::{Emit, Tracker, Where, side};

#[derive(Debug, Clone)]
pub(super) struct Sio {
    pub(super) protocol: Protocol,
    pub(super) assemblers: [sio::BinaryAssembler; 2],
    /// Step numbers of the Engine.IO packets fed to each assembler, by
    /// input index (a window: attachments follow their header closely).
    pub(super) inputs: [VecDeque<(usize, u64)>; 2],
    pub(super) next_input: [usize; 2],
    /// Events waiting for their ack: (sender, nsp, id) → (step, event name).
    pub(super) acks: BTreeMap<(Dir, Cow<'static, str>, u64), (u64, String)>,
    /// Namespaces the client sent CONNECT for.
    pub(super) connected: BTreeSet<String>,
    pub(super) connect_missing_reported: BTreeSet<String>,
    /// The text of a binary packet's header while its attachments arrive:
    /// its spans index this text.
    pub(super) pending_text: [Option<String>; 2],
    /// Problems found in a binary packet's header, held until the packet
    /// completes and has a step of its own.
    pub(super) held: [Vec<Finding>; 2],
    /// The parser the session's packets are written with: fixed by its
    /// first Socket.IO payload (`None` before it).
    pub(super) encoding: Option<sio::Encoding>,
    /// Whether binary messages that fit no known parser were reported (once
    /// per session).
    pub(super) unknown_reported: bool,
}

impl Tracker {
    /// The Socket.IO packet inside an Engine.IO message (or an attachment).
    pub(super) fn socketio(
        &mut self,
        si: u32,
        w: &Where,
        p: &eio::Packet<'_>,
        eio_step: u64,
        emit: &mut Emit<'_>,
    ) {
        // The session's parser, decided by its first Socket.IO payload (the
        // CONNECT): a binary message that is a MessagePack packet map means
        // socket.io-msgpack-parser; any other binary one, a parser dispel
        // does not know; text, the default parser.
        let encoding = match self.sessions[si as usize].sio.encoding {
            Some(e) => e,
            None => {
                let e = match &p.data {
                    Data::Binary(b) => match sio::decode_msgpack(b, &self.limits) {
                        Ok(mp) if mp.packet.ptype == sio::PacketType::Connect => {
                            sio::Encoding::Msgpack
                        }
                        _ => sio::Encoding::Unknown,
                    },
                    _ => sio::Encoding::Json,
                };
                self.sessions[si as usize].sio.encoding = Some(e);
                e
            }
        };
        if let Data::Binary(b) = &p.data {
            match encoding {
                sio::Encoding::Msgpack => return self.msgpack_packet(si, w, b, emit),
                sio::Encoding::Unknown => return self.unknown_binary(si, w, b, emit),
                sio::Encoding::Json => {}
            }
        }
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
        // Attachment problems name the Engine.IO message's step.
        let step_of = |i: usize| {
            self.sessions[si as usize].sio.inputs[d]
                .iter()
                .find(|(inp, _)| *inp == i)
                .map(|(_, st)| *st)
        };
        let mut pending_problems: Vec<Finding> = assembled
            .problems
            .iter()
            .map(|pr| Finding::new(pr.rule(), pr.message_with_steps(step_of)))
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
            let s = self.sio_step(si, w, lp, text.as_bytes(), findings);
            let awaits_ack = matches!(
                lp.packet.ptype,
                sio::PacketType::Event | sio::PacketType::BinaryEvent
            );
            let step_no = emit(&s);
            self.life_sio(si, &lp.packet, w, step_no);
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

    pub(super) fn sio_step(
        &mut self,
        si: u32,
        w: &Where,
        lp: &mut LogicalPacket,
        wire: &[u8],
        mut findings: Vec<Finding>,
    ) -> Step {
        let sess = &mut self.sessions[si as usize];
        let protocol = sess.sio.protocol;
        let encoding = sess.sio.encoding.unwrap_or(sio::Encoding::Json);
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
            if encoding == sio::Encoding::Msgpack {
                s.summary.push_str(" (MessagePack)");
            }
            // Last: the fields take the packet's data rather than copy it.
            let inputs = &self.sessions[si as usize].sio.inputs[d];
            sio_fields(&mut s, inputs, lp, wire, protocol, encoding);
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

    /// A binary message of a socket.io-msgpack-parser session: one packet.
    fn msgpack_packet(&mut self, si: u32, w: &Where, b: &[u8], emit: &mut Emit<'_>) {
        match sio::decode_msgpack(b, &self.limits) {
            Ok(mp) => {
                let mut lp = LogicalPacket {
                    packet: mp.packet,
                    input: 0,
                    attachments: Vec::new(),
                    complete: true,
                };
                let s = self.sio_step(si, w, &mut lp, b, Vec::new());
                let awaits_ack = lp.packet.ptype == sio::PacketType::Event;
                let step_no = emit(&s);
                if awaits_ack && let Some(id) = lp.packet.ack_id {
                    self.note_event_step(si, w.dir, lp.packet.nsp.clone(), id, step_no);
                }
                self.life_sio(si, &lp.packet, w, step_no);
            }
            Err(pr) => {
                let mut s = self.binary_step(si, w, b, sio::Encoding::Msgpack);
                s.summary = format!(
                    "SIO undecodable MessagePack packet: {}",
                    crate::analyze::ws::hex_preview(b, 16)
                );
                s.findings.push(Finding::new(
                    &rules::SOCKETIO_BAD_PAYLOAD,
                    format!(
                        "this session's packets are socket.io-msgpack-parser maps {{type, data, nsp, id}}, and this binary message is not one: {pr}"
                    ),
                ));
                emit(&s);
            }
        }
    }

    /// A binary message of a session whose packets no known parser reads:
    /// said once per session, on its first such message.
    fn unknown_binary(&mut self, si: u32, w: &Where, b: &[u8], emit: &mut Emit<'_>) {
        let sess = &mut self.sessions[si as usize];
        if std::mem::replace(&mut sess.sio.unknown_reported, true) {
            return;
        }
        let mut s = self.binary_step(si, w, b, sio::Encoding::Unknown);
        s.summary = format!(
            "SIO binary packet in an unknown encoding: {}",
            crate::analyze::ws::hex_preview(b, 16)
        );
        s.findings.push(Finding::new(
            &rules::SOCKETIO_UNKNOWN_ENCODING,
            "this session's first Socket.IO packet came as a binary message that is neither text (the default parser) nor a socket.io-msgpack-parser map: its application uses a parser dispel does not know, so its binary messages are not decoded (said once for the session)",
        ));
        emit(&s);
    }

    /// A step for a binary message that is not decoded as a packet.
    fn binary_step(&self, si: u32, w: &Where, b: &[u8], encoding: sio::Encoding) -> Step {
        let mut s = Step::new(w.conn, w.dir, "socketio.packet", w.time);
        s.frames = Frames::from_slice(&w.frames);
        s.session = Some(si);
        let bb = s.add_buffer("binary", Origin::Derived, Arc::from(b));
        s.fields
            .push(Field::new("socketio.encoding", encoding.name()));
        s.fields.push(
            Field::new("socketio.binary", Value::SpanBytes).span(Span::bytes(bb, 0, b.len())),
        );
        s
    }

    /// Records the step number of an event awaiting an ack (called after the
    /// step is emitted).
    pub(super) fn note_event_step(
        &mut self,
        si: u32,
        dir: Dir,
        nsp: Cow<'static, str>,
        id: u64,
        step: u64,
    ) {
        if let Some(e) = self.sessions[si as usize].sio.acks.get_mut(&(dir, nsp, id))
            && e.0 == 0
        {
            e.0 = step;
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
    wire: &[u8],
    protocol: Protocol,
    encoding: sio::Encoding,
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
    // message that announced its attachments. A MessagePack packet's bytes
    // are the whole binary message.
    s.fields.reserve(9);
    let name = match encoding {
        sio::Encoding::Msgpack => "msgpack",
        _ => "socket.io",
    };
    let b = s.add_buffer(name, Origin::Derived, Arc::from(wire));
    let sp =
        |r: &Option<std::ops::Range<usize>>| r.clone().map(|r| Span::bytes(b, r.start, r.len()));
    let mut f = Field::new("socketio.type", pk.ptype.name(protocol)).show(
        crate::analyze::name_and_digit(pk.ptype.name(protocol), pk.ptype.digit()),
    );
    f.span = Some(Span::bytes(b, pk.type_span.start, pk.type_span.len()));
    s.fields.push(f);
    s.fields
        .push(Field::new("socketio.protocol", protocol.number()));
    s.fields.push(
        Field::new("socketio.encoding", encoding.name()).show(match encoding {
            sio::Encoding::Msgpack => "msgpack: socket.io-msgpack-parser, a MessagePack map",
            _ => "json: the default parser, text",
        }),
    );
    if encoding == sio::Encoding::Msgpack {
        s.fields.push(
            Field::new("socketio.binary", Value::SpanBytes).span(Span::bytes(b, 0, wire.len())),
        );
    }
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
                    crate::jsonw::value(&mut shown, v);
                }
                shown.push(b']');
            }
            _ => crate::jsonw::value(&mut shown, data),
        }
        s.push(' ');
        s.push_str(&crate::sanitize::preview(&shown, 60));
    }
    if !attachments.is_empty() {
        let n = attachments.len();
        let _ = write!(
            s,
            " + {n} binary attachment{}",
            if n == 1 { "" } else { "s" }
        );
    }
    if let Some((st, _)) = answers {
        let _ = write!(s, " (answers step {st})");
    }
    s
}
