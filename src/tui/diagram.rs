//! The sequence (ladder) view's content: the arrows of the selected step's
//! connection or Engine.IO session, as timeline indexes. The arrows are the
//! ones `dispel explain --format mermaid` draws (`output::mermaid`), so the
//! terminal and the course page show the same picture.

use crate::output::mermaid::{Lane, is_arrow, lane};
use crate::step::Step;

use super::timeline::Timeline;

/// At most this many arrows in one diagram (a capture of millions of
/// messages on one connection shows its first ones).
const MAX_ARROWS: usize = 100_000;

/// The diagram a step belongs to.
pub fn lane_of(step: &Step) -> Lane {
    lane(step)
}

/// The steps drawn as arrows in `lane`, in capture (time) order.
pub fn arrows(tl: &dyn Timeline, which: Lane) -> Vec<usize> {
    let mut out = Vec::new();
    extend(tl, which, 0, &mut out);
    out
}

/// Appends to `out` the arrows of `lane` from step `from` on (the steps
/// that arrived since `out` was made).
pub fn extend(tl: &dyn Timeline, which: Lane, from: usize, out: &mut Vec<usize>) {
    for j in from..tl.len() {
        if out.len() >= MAX_ARROWS {
            break;
        }
        let Some(r) = tl.row_for_filter(j) else {
            continue;
        };
        let packet = matches!(r.layer(), "engineio" | "socketio");
        let member = match which {
            Lane::Session(s) => r.session == Some(s) && packet,
            Lane::Conn(c) => r.conn == c && !(packet && r.session.is_some()),
        };
        if !member {
            continue;
        }
        let drawn = match r.kind {
            "tcp.syn" | "tcp.syn-ack" | "tcp.fin" | "tcp.rst" | "http.request"
            | "http.response" | "websocket.message" | "engineio.packet" | "socketio.packet" => true,
            // Only control frames: the step says which (if it is at hand;
            // an indexed timeline is not made to read chunks for it).
            "websocket.frame" => tl.step_at_hand(j).is_some_and(|s| is_arrow(&s)),
            _ => false,
        };
        if drawn {
            out.push(j);
        }
    }
}

/// The arrow that stands for step `i` in its diagram: itself, else the
/// message it belongs to, else the last arrow before it.
pub fn anchor(arrows: &[usize], i: usize, parent: Option<usize>) -> Option<usize> {
    if arrows.binary_search(&i).is_ok() {
        return Some(i);
    }
    if let Some(p) = parent
        && arrows.binary_search(&p).is_ok()
    {
        return Some(p);
    }
    match arrows.binary_search(&i) {
        Ok(k) => Some(arrows[k]),
        Err(0) => arrows.first().copied(),
        Err(k) => Some(arrows[k - 1]),
    }
}
