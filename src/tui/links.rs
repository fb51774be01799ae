//! Links between steps: the fields that name another step (an ack's event,
//! a pong's ping, an attachment's carrying packet) and the relations the
//! timeline already knows or can read off neighbouring rows (a message and
//! its frames, an Engine.IO packet and the message or HTTP body that carried
//! it, a Socket.IO packet and its Engine.IO packet, a session and its open
//! packet). The fields pane shows them; Enter follows one, `b` comes back.
//!
//! Nothing here changes the analysis: every relation comes from the step's
//! own fields or from rows of the timeline, looked up within bounded windows
//! so a link costs no more than a few hundred rows however large the capture.
//! Other steps are read only if at hand: on an indexed timeline a relation
//! that needs a step not read back yet (an event's ack) is left out rather
//! than making the store read chunks for it.

use crate::step::{Step, Value};

use super::timeline::Timeline;

/// How far back or forward a relation is looked for, in steps.
const NEAR: usize = 512;
/// How far forward an answer (an ack, a pong) is looked for.
const ANSWER: usize = 4096;
/// At most this many links of one relation (a message of many frames).
const MANY: usize = 8;

/// One link from the selected step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The field that names the target, if one does.
    pub field: Option<usize>,
    /// The target step (an index into the timeline).
    pub target: usize,
    /// What the target is to this step, e.g. `answers the event`.
    pub label: String,
}

/// The fields whose value is the number of the step they answer.
const ANSWERS: [&str; 3] = [
    "socketio.ack.answers",
    "websocket.pong.answers",
    "engineio.heartbeat.answers",
];

/// A step number (1-based, as shown) as a timeline index.
fn step_index(n: u64, len: usize) -> Option<usize> {
    let i = usize::try_from(n).ok()?.checked_sub(1)?;
    (i < len).then_some(i)
}

/// `carried by step N` in a field's rendering.
fn carried_by(show: &str) -> Option<u64> {
    let rest = &show[show.find("carried by step ")? + "carried by step ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn uint(step: &Step, name: &str) -> Option<u64> {
    match step.field(name).map(|f| &f.value) {
        Some(Value::UInt(v)) => Some(*v),
        _ => None,
    }
}

fn text<'s>(step: &'s Step, name: &str) -> Option<&'s str> {
    match step.field(name).map(|f| &f.value) {
        Some(Value::Str(v)) => Some(v),
        _ => None,
    }
}

/// Whether a step carries Engine.IO packets: a WebSocket message or an HTTP
/// message with a body.
fn is_carrier(kind: &str) -> bool {
    matches!(kind, "websocket.message" | "http.request" | "http.response")
}

/// Every link from step `i`.
pub fn links(tl: &dyn Timeline, i: usize, step: &Step) -> Vec<Link> {
    let mut f = Finder {
        tl,
        i,
        len: tl.len(),
        out: Vec::new(),
    };
    f.named_in_fields(step);
    let Some(row) = tl.row_for_filter(i) else {
        return f.out;
    };
    let way = (row.conn, row.dir);
    if let Some(p) = row.parent {
        f.parent(p);
    }
    match step.kind {
        "websocket.message" => f.frames_of_message(),
        "engineio.packet" => f.engineio_packet(step, way),
        "socketio.packet" => f.socketio_packet(step, way),
        "websocket.frame" if uint(step, "websocket.opcode") == Some(9) => answered_by(
            tl,
            i,
            step,
            "websocket.frame",
            "websocket.pong.answers",
            &mut f.out,
        ),
        "engineio.session" => f.open_of_session(step),
        _ => {}
    }
    if is_carrier(step.kind) {
        f.packets_carried(way);
    }
    f.out
}

/// The links of step `i` as they are found.
struct Finder<'t> {
    tl: &'t dyn Timeline,
    i: usize,
    len: usize,
    out: Vec<Link>,
}

impl Finder<'_> {
    /// A link to `target`, unless it is the step itself or already linked.
    fn push(&mut self, field: Option<usize>, target: usize, label: String) {
        if target != self.i && !self.out.iter().any(|l| l.target == target) {
            self.out.push(Link {
                field,
                target,
                label,
            });
        }
    }

    /// Step `j`'s row, if it is on the same connection and direction.
    fn same_way(
        &self,
        j: usize,
        (conn, dir): (u32, crate::step::Dir),
    ) -> Option<super::timeline::Row<'_>> {
        self.tl
            .row_for_filter(j)
            .filter(|r| r.conn == conn && r.dir == dir)
    }

    /// Fields that name a step: an answer's question, an attachment's
    /// carrying packet.
    fn named_in_fields(&mut self, step: &Step) {
        for (fi, f) in step.fields.iter().enumerate() {
            if ANSWERS.contains(&f.name.as_ref())
                && let Value::UInt(n) = f.value
                && let Some(t) = step_index(n, self.len)
            {
                let what = if f.name.starts_with("socketio") {
                    "answers the event of step"
                } else {
                    "answers the ping of step"
                };
                self.push(Some(fi), t, format!("{what} {n}"));
            }
            if f.name == "socketio.attachment"
                && let Some(n) = f.show.as_deref().and_then(carried_by)
                && let Some(t) = step_index(n, self.len)
            {
                self.push(Some(fi), t, format!("attachment carried by step {n}"));
            }
        }
    }

    /// What this step folds under: a frame's message, a packet's session.
    fn parent(&mut self, p: usize) {
        let Some(pr) = self.tl.row_for_filter(p) else {
            return;
        };
        let label = match pr.kind {
            "websocket.message" => "the message this frame belongs to",
            "engineio.session" => "the session's summary",
            _ => "the step this one folds under",
        };
        self.push(None, p, format!("{label}: step {}", p + 1));
    }

    /// A message's frames: the steps before it that fold under it.
    fn frames_of_message(&mut self) {
        let i = self.i;
        let mut frames: Vec<usize> = (i.saturating_sub(NEAR)..i)
            .filter(|&j| {
                self.tl
                    .row_for_filter(j)
                    .is_some_and(|r| r.parent == Some(i))
            })
            .collect();
        frames.truncate(MANY);
        for j in frames {
            self.push(None, j, format!("one of its frames: step {}", j + 1));
        }
    }

    /// An Engine.IO packet: the message or HTTP body that carried it, the
    /// Socket.IO packet it carries, and a ping's pong.
    fn engineio_packet(&mut self, step: &Step, way: (u32, crate::step::Dir)) {
        let (i, len, tl) = (self.i, self.len, self.tl);
        // The message or HTTP body that carried it: the nearest carrier
        // before it on the same connection and direction.
        if let Some(j) = (i.saturating_sub(NEAR)..i)
            .rev()
            .find(|&j| self.same_way(j, way).is_some_and(|r| is_carrier(r.kind)))
        {
            let what = if tl.row_for_filter(j).is_some_and(|r| r.layer() == "http") {
                "the HTTP message that carried it"
            } else {
                "the WebSocket message that carried it"
            };
            self.push(None, j, format!("{what}: step {}", j + 1));
        }
        // The Socket.IO packet it carries (or carries an attachment of).
        for j in (i + 1)..len.min(i + NEAR) {
            let Some(r) = self.same_way(j, way) else {
                continue;
            };
            if r.kind == "engineio.packet" || is_carrier(r.kind) {
                // Another packet: this one carried an attachment if a
                // later Socket.IO packet says so, else nothing.
                continue;
            }
            if r.kind == "socketio.packet" {
                let carries = tl.step_at_hand(j).is_some_and(|s| {
                    s.fields.iter().any(|f| {
                        f.name == "socketio.attachment"
                            && f.show.as_deref().and_then(carried_by) == Some(i as u64 + 1)
                    })
                });
                let next = (i + 1..j).all(|k| {
                    self.same_way(k, way)
                        .is_none_or(|r| r.kind != "engineio.packet" && !is_carrier(r.kind))
                });
                if carries || next {
                    self.push(
                        None,
                        j,
                        format!("the Socket.IO packet it carries: step {}", j + 1),
                    );
                    break;
                }
            }
        }
        if text(step, "engineio.type") == Some("ping") {
            answered_by(
                tl,
                i,
                step,
                "engineio.packet",
                "engineio.heartbeat.answers",
                &mut self.out,
            );
        }
    }

    /// A Socket.IO packet: its own Engine.IO packet (before its
    /// attachments' packets), and an event's ack.
    fn socketio_packet(&mut self, step: &Step, way: (u32, crate::step::Dir)) {
        let i = self.i;
        let skip = uint(step, "socketio.attachments").unwrap_or(0);
        let mut seen = 0u64;
        for j in (i.saturating_sub(NEAR)..i).rev() {
            if self
                .same_way(j, way)
                .is_some_and(|r| r.kind == "engineio.packet")
            {
                if seen == skip {
                    self.push(
                        None,
                        j,
                        format!("the Engine.IO packet that carried it: step {}", j + 1),
                    );
                    break;
                }
                seen += 1;
            }
        }
        if step.field("socketio.ack_id").is_some() && step.field("socketio.ack.answers").is_none() {
            answered_by(
                self.tl,
                i,
                step,
                "socketio.packet",
                "socketio.ack.answers",
                &mut self.out,
            );
        }
    }

    /// A session's open packet: its first Engine.IO packet.
    fn open_of_session(&mut self, step: &Step) {
        let i = self.i;
        if let Some(s) = step.session
            && let Some(j) = (0..i.min(1 << 20)).find(|&j| {
                self.tl
                    .row_for_filter(j)
                    .is_some_and(|r| r.session == Some(s) && r.kind == "engineio.packet")
            })
        {
            self.push(
                None,
                j,
                format!("its first packet (the open): step {}", j + 1),
            );
        }
    }

    /// The Engine.IO packets a message or body carried.
    fn packets_carried(&mut self, way: (u32, crate::step::Dir)) {
        let i = self.i;
        let mut n = 0;
        for j in (i + 1)..self.len.min(i + NEAR) {
            let Some(r) = self.same_way(j, way) else {
                continue;
            };
            if is_carrier(r.kind) || n >= MANY {
                break;
            }
            if r.kind == "engineio.packet" {
                n += 1;
                self.push(
                    None,
                    j,
                    format!("an Engine.IO packet it carried: step {}", j + 1),
                );
            }
        }
    }
}

/// The later step of `kind` whose field `name` names step `i`: the ack of an
/// event, the pong of a ping.
fn answered_by(
    tl: &dyn Timeline,
    i: usize,
    step: &Step,
    kind: &str,
    name: &str,
    out: &mut Vec<Link>,
) {
    let me = i as u64 + 1;
    for j in (i + 1)..tl.len().min(i + ANSWER) {
        let Some(r) = tl.row_for_filter(j) else {
            continue;
        };
        let related = match step.session {
            Some(s) => r.session == Some(s),
            None => r.conn == step.conn,
        };
        if !related || r.kind != kind || r.dir == step.dir {
            continue;
        }
        if tl
            .step_at_hand(j)
            .is_some_and(|s| uint(&s, name) == Some(me))
        {
            let what = if name.starts_with("socketio") {
                "the ack that answers it"
            } else {
                "the pong that answers it"
            };
            out.push(Link {
                field: None,
                target: j,
                label: format!("{what}: step {}", j + 1),
            });
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_by_reads_the_step_number() {
        assert_eq!(
            carried_by("attachment 0: 20 bytes, carried by step 88"),
            Some(88)
        );
        assert_eq!(carried_by("attachment 0: 20 bytes"), None);
        assert_eq!(carried_by("carried by step x"), None);
        assert_eq!(step_index(0, 10), None);
        assert_eq!(step_index(10, 10), Some(9));
        assert_eq!(step_index(11, 10), None);
    }
}
