//! TCP reassembly as a passive observer.
//!
//! Per connection and per direction, segments are placed by sequence number
//! (relative to the initial sequence number, with 32-bit wraparound) and
//! delivered in order. Out-of-order segments wait in a bounded buffer;
//! retransmissions, conflicting overlaps and capture gaps are reported, never
//! silently merged. Memory is proportional to what is genuinely pending, not
//! to the capture.
//!
//! An observer cannot know everything a peer knows: a hole in the stream is
//! declared lost (a gap) when the receiver acknowledges bytes beyond it, when
//! the connection ends, when the capture ends, or when the pending buffer
//! reaches its cap — whichever comes first.
//!
//! Sources: RFC 9293 §3.4 (sequence numbers), §3.10.7.4 (segment
//! acceptance); Wireshark's `tcp.stream` numbering and relative sequence
//! numbers, which this module reproduces so students can cross-reference.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::link::Segment;
use crate::rules::{self, Rule};
use crate::step::{ConnId, Dir, FrameNo, Timestamp};

/// Reassembly limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Out-of-order bytes held per direction before the hole is given up.
    pub max_pending_bytes: usize,
    /// Out-of-order segments held per direction.
    pub max_pending_segments: usize,
    /// Out-of-order bytes held over all connections together: past it, the
    /// direction that just grew gives up its hole.
    pub max_pending_total: usize,
    /// Connections tracked in one run. Segments of further connections
    /// are counted ([`Reassembler::skipped`]) and otherwise ignored, so a
    /// SYN flood costs bounded memory.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pending_bytes: 4 * 1024 * 1024,
            max_pending_segments: 4096,
            max_pending_total: 64 * 1024 * 1024,
            max_connections: 10_000,
        }
    }
}

/// Where a packet sits in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    pub frame: FrameNo,
    pub time: Timestamp,
}

/// A connection as first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnMeta {
    pub id: ConnId,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Client and server were guessed from the ports (no SYN seen).
    pub role_guessed: bool,
    pub first: Provenance,
}

/// A TCP control event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Syn,
    SynAck,
    Fin,
    Rst,
}

/// What the reassembler tells its consumer, in capture order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A new connection (before any other event of it).
    Open(&'a ConnMeta),
    /// A SYN, SYN-ACK, in-order FIN or RST, with the segment that carried it.
    Control {
        dir: Dir,
        control: Control,
        at: Provenance,
        segment: &'a Segment<'a>,
        /// Relative sequence and acknowledgement numbers, as Wireshark shows.
        rel_seq: u64,
        rel_ack: Option<u64>,
    },
    /// In-order stream bytes starting at stream `offset`.
    Data {
        dir: Dir,
        offset: u64,
        data: &'a [u8],
        at: Provenance,
    },
    /// Stream bytes `[offset, offset + len)` will never be delivered.
    Gap {
        dir: Dir,
        offset: u64,
        len: u64,
        at: Provenance,
        why: GapReason,
    },
    /// Something worth a finding about one segment.
    Anomaly {
        dir: Dir,
        at: Provenance,
        rule: &'static Rule,
        message: String,
    },
}

/// Why a gap was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// The receiver acknowledged bytes the capture does not have.
    AckedButNotCaptured,
    /// The capture cut the packet short (snap length).
    SnapLength,
    /// The connection or the capture ended with a hole before later bytes.
    EndedWithHole,
    /// Too much out-of-order data was waiting for the hole to fill.
    PendingCap,
}

impl GapReason {
    pub fn describe(self) -> &'static str {
        match self {
            GapReason::AckedButNotCaptured => {
                "the receiver acknowledged these bytes, so they were sent, but the capture missed them"
            }
            GapReason::SnapLength => "the capture's snap length cut these bytes off the packet",
            GapReason::EndedWithHole => "the stream ended while these bytes were still missing",
            GapReason::PendingCap => {
                "too much later data was waiting for these bytes; dispel gave up on them"
            }
        }
    }
}

/// How a connection ended, for `dispel streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ending {
    /// Still open when the capture ended.
    #[default]
    Open,
    /// Only one side sent a FIN.
    HalfClosed,
    /// Both sides sent FIN.
    Fin,
    /// A RST ended it.
    Rst,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Open => "open",
            Ending::HalfClosed => "half-closed",
            Ending::Fin => "fin",
            Ending::Rst => "rst",
        }
    }
}

/// Per-direction counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HalfStats {
    pub packets: u64,
    /// Payload bytes delivered in order.
    pub bytes: u64,
    pub retransmissions: u64,
    pub out_of_order: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
}

/// What `dispel streams` reports about a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnStats {
    pub meta: ConnMeta,
    pub last: Provenance,
    pub dirs: [HalfStats; 2],
    pub ending: Ending,
    pub overlap_conflicts: u64,
}

#[derive(Debug, Clone)]
struct Pending {
    data: Vec<u8>,
    at: Provenance,
}

/// One direction of a connection.
#[derive(Debug, Clone, Default)]
struct Half {
    /// Raw sequence number of stream offset 0 (ISN + 1).
    base: Option<u32>,
    /// Next stream offset to deliver.
    next: u64,
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_at: Option<u64>,
    fin_delivered: bool,
    stats: HalfStats,
}

impl Half {
    /// Stream offset of a raw sequence number, relative to `next` so that
    /// wraparound past 4 GiB streams stays exact.
    fn offset_of(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let next_raw = base.wrapping_add(self.next as u32);
        let delta = i64::from(seq.wrapping_sub(next_raw) as i32);
        let off = self.next as i64 + delta;
        (off >= 0).then_some(off as u64)
    }
}

#[derive(Debug, Clone)]
struct Conn {
    stats: ConnStats,
    halves: [Half; 2],
    rst: bool,
}

impl Conn {
    fn pending_bytes(&self) -> usize {
        self.halves[0].pending_bytes + self.halves[1].pending_bytes
    }

    fn finished(&self) -> bool {
        self.rst || (self.halves[0].fin_delivered && self.halves[1].fin_delivered)
    }

    fn dir_of(&self, src: &SocketAddr) -> Dir {
        if *src == self.stats.meta.client {
            Dir::C2s
        } else {
            Dir::S2c
        }
    }
}

/// The reassembler: feed it segments in capture order.
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    limits: Limits,
    conns: Vec<Conn>,
    /// The latest connection of each address pair (normalised order).
    /// Keyed with foldhash (seeded per run): SipHash on every packet's
    /// address pair was 6% of a run on small messages.
    by_flow: HashMap<(SocketAddr, SocketAddr), ConnId, foldhash::fast::RandomState>,
    /// Out-of-order bytes held, over all connections.
    pending_total: usize,
    skipped: Skipped,
}

/// What the connection cap left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Segments not analysed because the connection cap was reached.
    pub segments: u64,
    /// The first of them (its capture packet number).
    pub first_frame: Option<FrameNo>,
}

fn flow_key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Reassembler {
    pub fn new(limits: Limits) -> Reassembler {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    /// Statistics of every connection so far, in `tcp.stream` order.
    pub fn stats(&self) -> impl Iterator<Item = ConnStats> + '_ {
        self.conns.iter().map(|c| {
            let mut s = c.stats.clone();
            s.dirs = [c.halves[0].stats, c.halves[1].stats];
            s
        })
    }

    /// Segments left out by [`Limits::max_connections`].
    pub fn skipped(&self) -> Skipped {
        self.skipped
    }

    /// Bytes currently waiting out of order, over all connections.
    pub fn pending_bytes(&self) -> usize {
        self.conns
            .iter()
            .flat_map(|c| c.halves.iter())
            .map(|h| h.pending_bytes)
            .sum()
    }

    /// Processes one segment.
    pub fn push(&mut self, seg: &Segment<'_>, at: Provenance, out: &mut dyn FnMut(ConnId, Event)) {
        let Some(id) = self.conn_for(seg, at, out) else {
            self.skipped.segments += 1;
            self.skipped.first_frame.get_or_insert(at.frame);
            return;
        };
        let limits = self.limits;
        let conn = &mut self.conns[id as usize];
        conn.stats.last = at;
        let dir = conn.dir_of(&seg.src);
        let before = conn.pending_bytes();
        let mut emit = |e: Event| out(id, e);
        process(conn, dir, seg, at, &limits, &mut emit);
        let after = conn.pending_bytes();
        self.pending_total = self.pending_total + after - before;
        if self.pending_total > limits.max_pending_total {
            // Over the run-wide budget: this direction gives up its hole.
            let held = conn.halves[dir.index()].pending_bytes;
            emit(Event::Anomaly {
                dir,
                at,
                rule: &rules::TCP_PENDING_CAP,
                message: format!(
                    "{} bytes were waiting out of order over all connections (limit: {} bytes); this direction's hole at relative sequence {} is declared lost",
                    self.pending_total,
                    limits.max_pending_total,
                    conn.halves[dir.index()].next + 1
                ),
            });
            flush_hole(conn, dir, at, GapReason::PendingCap, &mut emit);
            self.pending_total -= held - conn.halves[dir.index()].pending_bytes;
        }
    }

    /// Ends the capture: holes still open become gaps and everything waiting
    /// behind them is delivered.
    pub fn finish(&mut self, out: &mut dyn FnMut(ConnId, Event)) {
        self.pending_total = 0;
        for (id, conn) in self.conns.iter_mut().enumerate() {
            let at = conn.stats.last;
            for dir in [Dir::C2s, Dir::S2c] {
                flush_hole(conn, dir, at, GapReason::EndedWithHole, &mut |e| {
                    out(id as ConnId, e)
                });
            }
        }
    }

    /// Finds or creates the connection a segment belongs to.
    fn conn_for(
        &mut self,
        seg: &Segment<'_>,
        at: Provenance,
        out: &mut dyn FnMut(ConnId, Event),
    ) -> Option<ConnId> {
        let key = flow_key(seg.src, seg.dst);
        if let Some(&id) = self.by_flow.get(&key) {
            let conn = &self.conns[id as usize];
            // A fresh SYN on a finished connection, or with a different ISN
            // than the one seen, is port reuse: a new connection.
            let reuse = seg.flags.syn
                && !seg.flags.ack
                && (conn.finished()
                    || matches!(conn.halves[Dir::C2s.index()].base,
                        Some(b) if b != seg.seq.wrapping_add(1)));
            if !reuse {
                return Some(id);
            }
        }
        if self.conns.len() >= self.limits.max_connections {
            return None;
        }
        let id = self.conns.len() as ConnId;
        let (client, server, role_guessed) = if seg.flags.syn && !seg.flags.ack {
            (seg.src, seg.dst, false)
        } else if seg.flags.syn && seg.flags.ack {
            (seg.dst, seg.src, false)
        } else if seg.src.port() > seg.dst.port() {
            // Mid-connection: the lower (usually well-known) port is the server.
            (seg.src, seg.dst, true)
        } else {
            (seg.dst, seg.src, true)
        };
        let meta = ConnMeta {
            id,
            client,
            server,
            role_guessed,
            first: at,
        };
        self.conns.push(Conn {
            stats: ConnStats {
                meta,
                last: at,
                dirs: [HalfStats::default(); 2],
                ending: Ending::Open,
                overlap_conflicts: 0,
            },
            halves: [Half::default(), Half::default()],
            rst: false,
        });
        self.by_flow.insert(key, id);
        let conn = &self.conns[id as usize];
        out(id, Event::Open(&conn.stats.meta));
        if role_guessed {
            let dir = conn.dir_of(&seg.src);
            out(
                id,
                Event::Anomaly {
                    dir,
                    at,
                    rule: &rules::TCP_ROLE_GUESSED,
                    message: format!(
                        "the capture starts mid-connection: no SYN was seen, so {} (the lower port) is taken to be the server",
                        server
                    ),
                },
            );
        }
        Some(id)
    }
}

fn process(
    conn: &mut Conn,
    dir: Dir,
    seg: &Segment<'_>,
    at: Provenance,
    limits: &Limits,
    mut out: impl FnMut(Event),
) {
    let d = dir.index();
    conn.halves[d].stats.packets += 1;

    if seg.flags.syn {
        let base = seg.seq.wrapping_add(1);
        let half = &mut conn.halves[d];
        match half.base {
            Some(b) if b == base => {
                half.stats.retransmissions += 1;
                out(Event::Anomaly {
                    dir,
                    at,
                    rule: &rules::TCP_RETRANSMISSION,
                    message: "the SYN was sent again (its first copy went unanswered in time)"
                        .into(),
                });
            }
            Some(_) if half.next > 0 || !half.pending.is_empty() => {
                // A SYN with another ISN after this direction carried data:
                // a live connection does not restart its sequence numbers
                // (RFC 9293 §3.10.7.4 answers it with a challenge ACK), so
                // the segment is not used to place bytes.
                out(Event::Anomaly {
                    dir,
                    at,
                    rule: &rules::TCP_UNEXPECTED_SYN,
                    message: format!(
                        "a SYN with a new initial sequence number (raw {}) arrived after {} bytes of this direction; it is ignored",
                        seg.seq, half.next
                    ),
                });
                return;
            }
            _ => {
                half.base = Some(base);
                half.next = 0;
            }
        }
        let rel_ack = seg
            .flags
            .ack
            .then(|| conn.halves[1 - d].offset_of(seg.ack))
            .flatten()
            .map(|o| o + 1);
        out(Event::Control {
            dir,
            control: if seg.flags.ack {
                Control::SynAck
            } else {
                Control::Syn
            },
            at,
            segment: seg,
            rel_seq: 0,
            rel_ack,
        });
    } else if conn.halves[d].base.is_none() {
        // First segment of a direction whose SYN was not captured: its first
        // byte becomes offset 0 (relative sequence number 1, as Wireshark).
        conn.halves[d].base = Some(seg.seq);
    }

    // An acknowledgement past a hole in the other direction proves the hole's
    // bytes were sent and received: the capture lost them.
    if seg.flags.ack && !seg.flags.rst {
        ack_confirms_gap(conn, dir.reverse(), seg.ack, at, &mut out);
    }

    let data_seq = if seg.flags.syn {
        seg.seq.wrapping_add(1)
    } else {
        seg.seq
    };
    let Some(start) = conn.halves[d].offset_of(data_seq) else {
        return;
    };
    let len = seg.payload.len() as u64;
    let end = start + len + u64::from(seg.missing);

    if let Some(fin_at) = conn.halves[d].fin_at
        && len > 0
        && end > fin_at
        && !seg.flags.fin
    {
        out(Event::Anomaly {
            dir,
            at,
            rule: &rules::TCP_DATA_AFTER_FIN,
            message: format!(
                "{} bytes arrived after this side's FIN at relative sequence {}",
                end - fin_at,
                fin_at + 1
            ),
        });
    }

    if len > 0 || seg.missing > 0 {
        accept_data(conn, dir, start, seg, at, limits, &mut out);
    }

    if seg.flags.fin && conn.halves[d].fin_at.is_none() {
        conn.halves[d].fin_at = Some(end);
    }
    deliver_fin_if_due(conn, dir, at, seg, &mut out);

    if seg.flags.rst {
        // Whatever is still waiting will never be completed.
        flush_hole(conn, dir, at, GapReason::EndedWithHole, &mut out);
        conn.rst = true;
        conn.stats.ending = Ending::Rst;
        let rel_seq = conn.halves[d].offset_of(seg.seq).unwrap_or(0) + 1;
        out(Event::Control {
            dir,
            control: Control::Rst,
            at,
            segment: seg,
            rel_seq,
            rel_ack: None,
        });
    }
}

fn accept_data(
    conn: &mut Conn,
    dir: Dir,
    start: u64,
    seg: &Segment<'_>,
    at: Provenance,
    limits: &Limits,
    out: &mut impl FnMut(Event),
) {
    let d = dir.index();
    let captured_end = start + seg.payload.len() as u64;
    let end = captured_end + u64::from(seg.missing);
    let next = conn.halves[d].next;

    if end <= next {
        conn.halves[d].stats.retransmissions += 1;
        out(Event::Anomaly {
            dir,
            at,
            rule: &rules::TCP_RETRANSMISSION,
            message: format!(
                "retransmission of {} bytes already delivered (relative sequence {}–{})",
                end - start,
                start + 1,
                end
            ),
        });
        return;
    }

    if start > next {
        // Ahead of a hole: hold it until the hole fills or is given up.
        store_pending(conn, dir, start, seg.payload, at, out);
        if seg.missing > 0 {
            // Rare: a cut packet ahead of a hole. Its tail is lost for good;
            // record the loss when the stream gets there.
            let half = &mut conn.halves[d];
            half.pending.entry(captured_end).or_insert(Pending {
                data: Vec::new(),
                at,
            });
        }
        enforce_cap(conn, dir, at, limits, out);
        return;
    }

    // start <= next < end: in order, possibly overlapping what was delivered.
    let skip = (next - start) as usize;
    if skip > 0 {
        conn.halves[d].stats.retransmissions += 1;
        out(Event::Anomaly {
            dir,
            at,
            rule: &rules::TCP_RETRANSMISSION,
            message: format!(
                "the first {skip} bytes of this segment were already delivered; the rest is new"
            ),
        });
    }
    if !conn.halves[d].pending.is_empty() {
        conn.halves[d].stats.out_of_order += 1;
        out(Event::Anomaly {
            dir,
            at,
            rule: &rules::TCP_OUT_OF_ORDER,
            message: format!(
                "this segment fills a hole at relative sequence {}: later bytes had arrived first",
                next + 1
            ),
        });
    }
    let fresh = seg
        .payload
        .get(skip.min(seg.payload.len())..)
        .unwrap_or(&[]);
    deliver(conn, dir, fresh, at, out);
    if seg.missing > 0 {
        let half = &mut conn.halves[d];
        let gap_start = half.next;
        let len = end - gap_start;
        emit_gap(conn, dir, gap_start, len, at, GapReason::SnapLength, out);
    }
    drain(conn, dir, out);
}

/// Delivers bytes at the half's `next`, checking them against overlapping
/// pending copies first.
fn deliver(conn: &mut Conn, dir: Dir, data: &[u8], at: Provenance, out: &mut impl FnMut(Event)) {
    if data.is_empty() {
        return;
    }
    let d = dir.index();
    let start = conn.halves[d].next;
    let end = start + data.len() as u64;
    // Pending segments this delivery overlaps: compare, then drop the
    // overlapped part (the first copy to be delivered wins).
    loop {
        let half = &mut conn.halves[d];
        let Some((&p_start, _)) = half.pending.range(..end).next() else {
            break;
        };
        let p = half
            .pending
            .remove(&p_start)
            .unwrap_or_else(|| unreachable!());
        half.pending_bytes -= p.data.len();
        let p_end = p_start + p.data.len() as u64;
        let ov_start = p_start.max(start);
        let ov_end = p_end.min(end);
        if ov_start < ov_end {
            let a = &data[(ov_start - start) as usize..(ov_end - start) as usize];
            let b = &p.data[(ov_start - p_start) as usize..(ov_end - p_start) as usize];
            if a != b {
                conn.stats.overlap_conflicts += 1;
                out(Event::Anomaly {
                    dir,
                    at,
                    rule: &rules::TCP_OVERLAP_CONFLICT,
                    message: format!(
                        "two copies of relative sequence {}–{} differ (packets {} and {}); dispel keeps packet {}'s bytes",
                        ov_start + 1,
                        ov_end,
                        at.frame,
                        p.at.frame,
                        at.frame
                    ),
                });
            }
        }
        if p_end > end {
            let rest = p.data[(end - p_start) as usize..].to_vec();
            let half = &mut conn.halves[d];
            half.pending_bytes += rest.len();
            half.pending.insert(
                end,
                Pending {
                    data: rest,
                    at: p.at,
                },
            );
        }
    }
    let half = &mut conn.halves[d];
    half.next = end;
    half.stats.bytes += data.len() as u64;
    out(Event::Data {
        dir,
        offset: start,
        data,
        at,
    });
}

/// Delivers pending segments that have become in order.
fn drain(conn: &mut Conn, dir: Dir, out: &mut impl FnMut(Event)) {
    let d = dir.index();
    loop {
        let half = &mut conn.halves[d];
        let Some(entry) = half.pending.first_entry() else {
            return;
        };
        let p_start = *entry.key();
        if p_start > half.next {
            return;
        }
        let p = entry.remove();
        half.pending_bytes -= p.data.len();
        let p_end = p_start + p.data.len() as u64;
        if p.data.is_empty() && p_start == half.next {
            // The marker of a snap-length cut that followed this data: the
            // rest of that packet is lost. Its size is unknown here, so the
            // hole runs to the next pending segment (or stays open).
            continue;
        }
        if p_end <= half.next {
            continue;
        }
        let skip = (half.next - p_start) as usize;
        let rest = p.data[skip..].to_vec();
        deliver(conn, dir, &rest, p.at, out);
    }
}

fn store_pending(
    conn: &mut Conn,
    dir: Dir,
    start: u64,
    data: &[u8],
    at: Provenance,
    out: &mut impl FnMut(Event),
) {
    let d = dir.index();
    let half = &mut conn.halves[d];
    let end = start + data.len() as u64;
    // Keep only the parts not already pending; report differing overlaps.
    let mut pieces: Vec<(u64, u64)> = vec![(start, end)];
    let overlapping: Vec<u64> = half
        .pending
        .range(..end)
        .filter(|(s, p)| **s + p.data.len() as u64 > start)
        .map(|(s, _)| *s)
        .collect();
    let mut retransmitted = false;
    for p_start in overlapping {
        let p = &half.pending[&p_start];
        let p_end = p_start + p.data.len() as u64;
        let ov_start = p_start.max(start);
        let ov_end = p_end.min(end);
        let a = &data[(ov_start - start) as usize..(ov_end - start) as usize];
        let b = &p.data[(ov_start - p_start) as usize..(ov_end - p_start) as usize];
        retransmitted = true;
        if a != b {
            conn.stats.overlap_conflicts += 1;
            out(Event::Anomaly {
                dir,
                at,
                rule: &rules::TCP_OVERLAP_CONFLICT,
                message: format!(
                    "two copies of relative sequence {}–{} differ (packets {} and {}); dispel keeps packet {}'s bytes",
                    ov_start + 1,
                    ov_end,
                    p.at.frame,
                    at.frame,
                    p.at.frame
                ),
            });
        }
        pieces = pieces
            .into_iter()
            .flat_map(|(s, e)| {
                let mut v = Vec::new();
                if s < p_start.min(e) {
                    v.push((s, p_start.min(e)));
                }
                if e > p_end.max(s) {
                    v.push((p_end.max(s), e));
                }
                v
            })
            .collect();
    }
    let half = &mut conn.halves[d];
    if retransmitted {
        half.stats.retransmissions += 1;
        out(Event::Anomaly {
            dir,
            at,
            rule: &rules::TCP_RETRANSMISSION,
            message: "retransmission of bytes still waiting behind a hole".into(),
        });
    }
    for (s, e) in pieces {
        if s < e {
            let bytes = data[(s - start) as usize..(e - start) as usize].to_vec();
            half.pending_bytes += bytes.len();
            half.pending.insert(s, Pending { data: bytes, at });
        }
    }
}

fn enforce_cap(
    conn: &mut Conn,
    dir: Dir,
    at: Provenance,
    limits: &Limits,
    out: &mut impl FnMut(Event),
) {
    let half = &conn.halves[dir.index()];
    if half.pending_bytes <= limits.max_pending_bytes
        && half.pending.len() <= limits.max_pending_segments
    {
        return;
    }
    out(Event::Anomaly {
        dir,
        at,
        rule: &rules::TCP_PENDING_CAP,
        message: format!(
            "{} bytes in {} segments were waiting for a hole at relative sequence {} (limits: {} bytes, {} segments); the hole is declared lost",
            half.pending_bytes,
            half.pending.len(),
            half.next + 1,
            limits.max_pending_bytes,
            limits.max_pending_segments
        ),
    });
    flush_hole(conn, dir, at, GapReason::PendingCap, out);
}

/// Declares the hole before the first pending segment lost and delivers
/// everything behind it, hole by hole.
fn flush_hole(
    conn: &mut Conn,
    dir: Dir,
    at: Provenance,
    why: GapReason,
    out: &mut impl FnMut(Event),
) {
    let d = dir.index();
    while let Some((&p_start, _)) = conn.halves[d].pending.first_key_value() {
        let next = conn.halves[d].next;
        if p_start > next {
            emit_gap(conn, dir, next, p_start - next, at, why, out);
        }
        let before = conn.halves[d].pending.len();
        drain(conn, dir, out);
        if conn.halves[d].pending.len() == before {
            // Only an empty snap-length marker at `next` is left.
            conn.halves[d].pending.pop_first();
        }
    }
    deliver_fin_if_due_quiet(conn, dir, at, out);
}

fn emit_gap(
    conn: &mut Conn,
    dir: Dir,
    offset: u64,
    len: u64,
    at: Provenance,
    why: GapReason,
    out: &mut impl FnMut(Event),
) {
    let half = &mut conn.halves[dir.index()];
    half.next = offset + len;
    half.stats.gaps += 1;
    half.stats.gap_bytes += len;
    out(Event::Gap {
        dir,
        offset,
        len,
        at,
        why,
    });
}

fn ack_confirms_gap(
    conn: &mut Conn,
    dir: Dir,
    ack: u32,
    at: Provenance,
    out: &mut impl FnMut(Event),
) {
    let d = dir.index();
    let half = &conn.halves[d];
    let Some(acked) = half.offset_of(ack) else {
        return;
    };
    let Some((&p_start, _)) = half.pending.first_key_value() else {
        return;
    };
    // A receiver acknowledges only contiguous bytes: an ack at or past the
    // first pending segment means the hole before it was received.
    if acked >= p_start && p_start > half.next {
        let next = half.next;
        emit_gap(
            conn,
            dir,
            next,
            p_start - next,
            at,
            GapReason::AckedButNotCaptured,
            out,
        );
        drain(conn, dir, out);
    }
}

fn deliver_fin_if_due(
    conn: &mut Conn,
    dir: Dir,
    at: Provenance,
    seg: &Segment<'_>,
    out: &mut impl FnMut(Event),
) {
    let d = dir.index();
    let half = &conn.halves[d];
    if half.fin_delivered || half.fin_at != Some(half.next) {
        return;
    }
    let rel_seq = half.next + 1;
    let rel_ack = seg
        .flags
        .ack
        .then(|| conn.halves[1 - d].offset_of(seg.ack))
        .flatten()
        .map(|o| o + 1);
    mark_fin(conn, dir);
    out(Event::Control {
        dir,
        control: Control::Fin,
        at,
        segment: seg,
        rel_seq,
        rel_ack,
    });
}

/// A FIN that becomes due when a hole is flushed at the end: no segment to
/// show, so it only updates the state.
fn deliver_fin_if_due_quiet(
    conn: &mut Conn,
    dir: Dir,
    _at: Provenance,
    _out: &mut impl FnMut(Event),
) {
    let half = &conn.halves[dir.index()];
    if !half.fin_delivered && half.fin_at.is_some_and(|f| f <= half.next) {
        mark_fin(conn, dir);
    }
}

fn mark_fin(conn: &mut Conn, dir: Dir) {
    conn.halves[dir.index()].fin_delivered = true;
    if !conn.rst {
        conn.stats.ending = if conn.halves[1 - dir.index()].fin_delivered {
            Ending::Fin
        } else {
            Ending::HalfClosed
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Flags;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Synthetic segments for unit tests.
    struct Conv {
        r: Reassembler,
        frame: u64,
        log: Vec<String>,
        streams: [Vec<u8>; 2],
    }

    impl Conv {
        fn new() -> Conv {
            Conv {
                r: Reassembler::new(Limits::default()),
                frame: 0,
                log: vec![],
                streams: [vec![], vec![]],
            }
        }

        fn seg(&mut self, c2s: bool, seq: u32, ack: u32, flags: &str, payload: &[u8]) {
            let (src, dst) = if c2s {
                (addr("10.0.0.1:40000"), addr("10.0.0.2:80"))
            } else {
                (addr("10.0.0.2:80"), addr("10.0.0.1:40000"))
            };
            let s = Segment {
                src,
                dst,
                seq,
                ack,
                flags: Flags {
                    syn: flags.contains('S'),
                    ack: flags.contains('A'),
                    fin: flags.contains('F'),
                    rst: flags.contains('R'),
                    psh: false,
                },
                window: 0,
                header: &[],
                payload,
                missing: 0,
            };
            self.frame += 1;
            let at = Provenance {
                frame: self.frame,
                time: Timestamp::default(),
            };
            let log = &mut self.log;
            let streams = &mut self.streams;
            self.r
                .push(&s, at, &mut |id, e| record(log, streams, id, e));
        }

        fn finish(&mut self) {
            let log = &mut self.log;
            let streams = &mut self.streams;
            self.r.finish(&mut |id, e| record(log, streams, id, e));
        }
    }

    fn record(log: &mut Vec<String>, streams: &mut [Vec<u8>; 2], id: ConnId, e: Event) {
        match e {
            Event::Open(m) => log.push(format!("open {id} {}", m.role_guessed)),
            Event::Control { dir, control, .. } => {
                log.push(format!("{control:?} {}", dir.as_str()))
            }
            Event::Data {
                dir, offset, data, ..
            } => {
                assert_eq!(
                    offset,
                    streams[dir.index()].len() as u64,
                    "data out of order"
                );
                streams[dir.index()].extend_from_slice(data);
            }
            Event::Gap {
                dir, offset, len, ..
            } => {
                log.push(format!("gap {} {offset}+{len}", dir.as_str()));
                streams[dir.index()].extend(std::iter::repeat_n(b'?', len as usize));
            }
            Event::Anomaly { rule, .. } => log.push(rule.id.to_string()),
        }
    }

    #[test]
    fn handshake_data_and_fin_in_order() {
        let mut c = Conv::new();
        c.seg(true, 100, 0, "S", b"");
        c.seg(false, 500, 101, "SA", b"");
        c.seg(true, 101, 501, "A", b"GET /");
        c.seg(false, 501, 106, "A", b"HTTP/1.1");
        c.seg(true, 106, 509, "AF", b"");
        c.seg(false, 509, 107, "AF", b"");
        assert_eq!(c.streams[0], b"GET /");
        assert_eq!(c.streams[1], b"HTTP/1.1");
        assert_eq!(
            c.log,
            [
                "open 0 false",
                "Syn c2s",
                "SynAck s2c",
                "Fin c2s",
                "Fin s2c"
            ]
        );
        let st = c.r.stats().next().unwrap();
        assert_eq!(st.ending, Ending::Fin);
        assert_eq!((st.dirs[0].packets, st.dirs[0].bytes), (3, 5));
        assert_eq!((st.dirs[1].packets, st.dirs[1].bytes), (3, 8));
    }

    #[test]
    fn out_of_order_is_buffered_and_reported() {
        let mut c = Conv::new();
        c.seg(true, 100, 0, "S", b"");
        c.seg(true, 106, 0, "A", b"world");
        c.seg(true, 101, 0, "A", b"hello");
        assert_eq!(c.streams[0], b"helloworld");
        assert!(c.log.contains(&"tcp.out-of-order".to_string()));
    }

    #[test]
    fn conflicting_overlap_first_copy_wins() {
        let mut c = Conv::new();
        c.seg(true, 100, 0, "S", b"");
        c.seg(true, 104, 0, "A", b"XYZ");
        c.seg(true, 104, 0, "A", b"ABC");
        c.seg(true, 101, 0, "A", b"abc");
        assert_eq!(c.streams[0], b"abcXYZ");
        assert!(c.log.contains(&"tcp.overlap-conflict".to_string()));
    }

    #[test]
    fn ack_past_a_hole_declares_the_gap() {
        let mut c = Conv::new();
        c.seg(true, 100, 0, "S", b"");
        c.seg(false, 500, 101, "SA", b"");
        c.seg(true, 111, 501, "A", b"later");
        c.seg(false, 501, 116, "A", b"");
        assert_eq!(c.streams[0], b"??????????later");
        assert!(c.log.contains(&"gap c2s 0+10".to_string()));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut c = Conv::new();
        let isn = u32::MAX - 2;
        c.seg(true, isn, 0, "S", b"");
        c.seg(true, isn.wrapping_add(1), 0, "A", b"abcd");
        c.seg(true, isn.wrapping_add(5), 0, "A", b"efgh");
        assert_eq!(c.streams[0], b"abcdefgh");
    }

    #[test]
    fn port_reuse_after_close_is_a_new_connection() {
        let mut c = Conv::new();
        c.seg(true, 100, 0, "S", b"");
        c.seg(false, 500, 101, "SA", b"");
        c.seg(true, 101, 501, "AF", b"");
        c.seg(false, 501, 102, "AF", b"");
        c.seg(true, 9000, 0, "S", b"");
        assert_eq!(c.r.stats().count(), 2);
        assert!(c.log.contains(&"open 1 false".to_string()));
    }

    #[test]
    fn mid_connection_start_guesses_the_server_by_port() {
        let mut c = Conv::new();
        c.seg(false, 7000, 0, "A", b"HTTP/1.1 200 OK");
        let m = c.r.stats().next().unwrap().meta;
        assert_eq!(m.server, addr("10.0.0.2:80"));
        assert!(m.role_guessed);
        assert!(c.log.contains(&"tcp.role-guessed".to_string()));
        assert_eq!(c.streams[1], b"HTTP/1.1 200 OK");
    }

    #[test]
    fn end_of_capture_flushes_holes() {
        let mut c = Conv::new();
        c.seg(true, 100, 0, "S", b"");
        c.seg(true, 106, 0, "A", b"tail");
        c.finish();
        assert_eq!(c.streams[0], b"?????tail");
    }

    /// A SYNTHETIC segment from client port `port` to 10.0.0.2:80.
    fn syn_from(port: u16, seq: u32, syn: bool, payload: &[u8]) -> Segment<'_> {
        Segment {
            src: addr(&format!("10.0.0.1:{port}")),
            dst: addr("10.0.0.2:80"),
            seq,
            ack: 0,
            flags: Flags {
                syn,
                ..Flags::default()
            },
            window: 0,
            header: &[],
            payload,
            missing: 0,
        }
    }

    #[test]
    fn connections_past_the_cap_are_skipped_and_counted() {
        let mut r = Reassembler::new(Limits {
            max_connections: 3,
            ..Limits::default()
        });
        let at = Provenance {
            frame: 1,
            time: Timestamp::default(),
        };
        let mut opened = 0;
        for port in 1000..1010 {
            r.push(&syn_from(port, 7, true, b""), at, &mut |_, e| {
                opened += usize::from(matches!(e, Event::Open(_)));
            });
        }
        assert_eq!(opened, 3);
        assert_eq!(r.stats().count(), 3);
        assert_eq!(r.skipped().segments, 7);
        assert_eq!(r.skipped().first_frame, Some(1));
        // A tracked connection still gets its segments.
        let mut data = 0;
        r.push(&syn_from(1000, 8, false, b"hi"), at, &mut |_, e| {
            data += usize::from(matches!(e, Event::Data { .. }));
        });
        assert_eq!(data, 1);
    }

    #[test]
    fn the_run_wide_pending_cap_gives_up_a_hole() {
        let mut r = Reassembler::new(Limits {
            max_pending_total: 20,
            ..Limits::default()
        });
        let at = Provenance {
            frame: 1,
            time: Timestamp::default(),
        };
        let mut log = Vec::new();
        for port in [1000, 1001, 1002] {
            r.push(&syn_from(port, 100, true, b""), at, &mut |_, _| {});
            // 8 bytes behind a 1-byte hole, on each connection.
            r.push(
                &syn_from(port, 102, false, b"01234567"),
                at,
                &mut |id, e| {
                    if let Event::Anomaly { rule, .. } = e {
                        log.push((id, rule.id));
                    }
                },
            );
            assert!(r.pending_bytes() <= 20, "{} held", r.pending_bytes());
        }
        // The third connection crossed 20 bytes and gave up its hole.
        assert_eq!(
            log.iter().filter(|(_, r)| *r == "tcp.pending-cap").count(),
            1
        );
        assert!(log.contains(&(2, "tcp.pending-cap")));
        assert_eq!(r.pending_bytes(), 16);
    }

    #[test]
    fn pending_cap_gives_up_the_hole() {
        let mut c = Conv::new();
        c.r = Reassembler::new(Limits {
            max_pending_bytes: 10,
            max_pending_segments: 100,
            ..Limits::default()
        });
        c.seg(true, 100, 0, "S", b"");
        c.seg(true, 111, 0, "A", b"0123456");
        c.seg(true, 118, 0, "A", b"789ab");
        assert!(c.log.contains(&"tcp.pending-cap".to_string()));
        assert_eq!(c.streams[0], b"??????????0123456789ab");
        assert_eq!(c.r.pending_bytes(), 0);
    }
}
