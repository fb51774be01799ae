//! Steps of the TCP layer: connection control (SYN, SYN-ACK, FIN, RST),
//! segments worth a finding, gaps, and raw data no higher layer claimed.

use std::sync::Arc;

use crate::rules::{self, Rule};
use crate::step::{ConnId, Dir, Field, Finding, Origin, Span, Step};
use crate::tcp::{Control, GapReason, Provenance};

use crate::link::Segment;

/// A control step, with the TCP header as its buffer so every field points
/// at its bytes.
pub fn control(
    conn: ConnId,
    dir: Dir,
    control: Control,
    at: Provenance,
    seg: &Segment<'_>,
    rel_seq: u64,
    rel_ack: Option<u64>,
) -> Step {
    let kind = match control {
        Control::Syn => "tcp.syn",
        Control::SynAck => "tcp.syn-ack",
        Control::Fin => "tcp.fin",
        Control::Rst => "tcp.rst",
    };
    let mut s = Step::new(conn, dir, kind, at.time);
    s.frames.push(at.frame);
    let hdr = s.add_buffer("tcp header", Origin::Derived, Arc::from(seg.header));
    let what = match control {
        Control::Syn => "SYN: the client opens the connection",
        Control::SynAck => "SYN-ACK: the server accepts",
        Control::Fin => "FIN: this side has nothing more to send",
        Control::Rst => "RST: the connection is aborted",
    };
    s.summary = format!("{} → {}  {what}", seg.src.port(), seg.dst.port());
    s.fields
        .push(Field::new("tcp.srcport", seg.src.port()).span(Span::bytes(hdr, 0, 2)));
    s.fields
        .push(Field::new("tcp.dstport", seg.dst.port()).span(Span::bytes(hdr, 2, 2)));
    s.fields
        .push(Field::new("tcp.seq", rel_seq).span(Span::bytes(hdr, 4, 4)));
    s.fields
        .push(Field::new("tcp.seq_raw", seg.seq).span(Span::bytes(hdr, 4, 4)));
    if seg.flags.ack {
        if let Some(a) = rel_ack {
            s.fields
                .push(Field::new("tcp.ack", a).span(Span::bytes(hdr, 8, 4)));
        }
        s.fields
            .push(Field::new("tcp.ack_raw", seg.ack).span(Span::bytes(hdr, 8, 4)));
    }
    let flag_bits: [(&'static str, bool, u64); 5] = [
        ("tcp.flags.syn", seg.flags.syn, 0x02),
        ("tcp.flags.ack", seg.flags.ack, 0x10),
        ("tcp.flags.fin", seg.flags.fin, 0x01),
        ("tcp.flags.reset", seg.flags.rst, 0x04),
        ("tcp.flags.push", seg.flags.psh, 0x08),
    ];
    for (name, set, mask) in flag_bits {
        s.fields
            .push(Field::new(name, set).span(Span::bits(hdr, 13, 1, mask)));
    }
    s.fields
        .push(Field::new("tcp.window_size_value", seg.window).span(Span::bytes(hdr, 14, 2)));
    s.fields
        .push(Field::new("tcp.len", seg.payload.len() as u64));
    s
}

/// The Wireshark analysis flag that matches a finding rule, if any.
fn analysis_field(rule: &Rule) -> Option<&'static str> {
    Some(match rule.id {
        "tcp.retransmission" => "tcp.analysis.retransmission",
        "tcp.out-of-order" => "tcp.analysis.out_of_order",
        "tcp.gap" => "tcp.analysis.lost_segment",
        _ => return None,
    })
}

/// A segment that earned a finding (retransmission, out of order, overlap).
pub fn anomaly(
    conn: ConnId,
    dir: Dir,
    at: Provenance,
    rule: &'static Rule,
    message: String,
) -> Step {
    let mut s = Step::new(conn, dir, "tcp.segment", at.time);
    s.frames.push(at.frame);
    s.summary = format!("TCP {}", rule.title);
    if let Some(name) = analysis_field(rule) {
        s.fields.push(Field::new(name, true));
    }
    s.findings.push(Finding::new(rule, message));
    s
}

/// Bytes of the stream that will never arrive.
pub fn gap(
    conn: ConnId,
    dir: Dir,
    offset: u64,
    len: u64,
    at: Provenance,
    why: GapReason,
    stops: Option<&str>,
) -> Step {
    let mut s = Step::new(conn, dir, "tcp.gap", at.time);
    s.frames.push(at.frame);
    s.summary = format!(
        "TCP gap: {len} bytes missing at relative sequence {}",
        offset + 1
    );
    s.fields.push(Field::new("tcp.seq", offset + 1));
    s.fields.push(Field::new("tcp.analysis.lost_segment", true));
    s.fields.push(Field::new("dispel.gap.len", len));
    let mut msg = format!(
        "{len} bytes at relative sequence {}–{} are missing: {}",
        offset + 1,
        offset + len,
        why.describe()
    );
    if let Some(layer) = stops {
        msg.push_str(&format!(
            "; {layer} decoding of this direction stops here rather than guess at the bytes after the hole"
        ));
    }
    s.findings.push(Finding::new(&rules::TCP_GAP, msg));
    s
}

/// Stream bytes that no higher layer decodes.
pub fn data(
    conn: ConnId,
    dir: Dir,
    offset: u64,
    bytes: &[u8],
    frames: crate::step::Frames,
    time: crate::step::Timestamp,
    why: &str,
) -> Step {
    let mut s = Step::new(conn, dir, "tcp.data", time);
    s.frames = frames;
    let b = s.add_buffer("stream", Origin::Stream { offset }, Arc::from(bytes));
    s.summary = format!("{} bytes of TCP data ({why})", bytes.len());
    s.fields.push(Field::new("tcp.seq", offset + 1));
    s.fields.push(Field::new("tcp.len", bytes.len()));
    s.fields.push(
        Field::new("tcp.payload", crate::step::Value::SpanBytes).span(Span::bytes(
            b,
            0,
            bytes.len(),
        )),
    );
    s
}
