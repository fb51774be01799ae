//! Binary attachments: placeholders in the JSON, bytes in later messages.
//!
//! A sender replaces each binary value with `{"_placeholder":true,"num":i}`,
//! numbering depth-first, announces the count (`451-[…]`), and sends the
//! bytes as that many Engine.IO binary messages right after the packet.
//! [`BinaryAssembler`] watches one direction of one session and pairs them
//! up again, as socket.io-parser's `BinaryReconstructor` does, but reports
//! instead of throwing.

use serde_json::{Map, Value};
use smallvec::SmallVec;

use super::{Limits, Packet, Problem};

/// One placeholder found in a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The `num` field when it is a whole number ≥ 0 (`1.0` counts, as in
    /// JavaScript), possibly out of range; `None` for anything else, which no
    /// attachment can match.
    pub num: Option<u64>,
    /// Where the placeholder sits, as a JSON pointer (`/1` is the second
    /// element of the event array; `""` is the payload itself).
    pub path: String,
}

/// The placeholders in a payload, in depth-first order (object members in
/// the order `serde_json` keeps them, which is sorted by key).
///
/// A placeholder is an object whose `_placeholder` is `true`, as
/// socket.io-parser tests it; its inside is not searched further.
pub fn placeholders(value: &Value) -> Vec<Placeholder> {
    let mut found = Vec::new();
    // An explicit stack, so any depth of input is safe. Each entry is a
    // value, its depth and the step that reached it; `path` holds the steps
    // down to the value being visited, and a pointer is only written out
    // for a placeholder (building one per node was most of the cost of a
    // small event).
    // Inline room for a small event's tree: no allocation unless it is big.
    let mut stack: SmallVec<[(&Value, usize, Option<Step<'_>>); 8]> =
        smallvec::smallvec![(value, 0, None)];
    let mut path: SmallVec<[Step<'_>; 8]> = SmallVec::new();
    while let Some((v, depth, step)) = stack.pop() {
        path.truncate(depth.saturating_sub(1));
        if let Some(step) = step {
            path.push(step);
        }
        match v {
            Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
                found.push(Placeholder {
                    num: map.get("num").and_then(whole_number),
                    path: pointer(&path),
                });
            }
            Value::Object(map) => {
                for (key, child) in map.iter().rev() {
                    stack.push((child, depth + 1, Some(Step::Key(key))));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate().rev() {
                    stack.push((child, depth + 1, Some(Step::Index(i))));
                }
            }
            _ => {}
        }
    }
    found
}

/// Whether `placeholders` could find anything: only an object can be a
/// placeholder, so a payload of scalars, or an array of them (a sketched
/// event, most events), holds none.
fn may_hold_placeholder(data: Option<&Value>) -> bool {
    match data {
        None => false,
        Some(Value::Object(_)) => true,
        Some(Value::Array(items)) => items
            .iter()
            .any(|v| matches!(v, Value::Object(_) | Value::Array(_))),
        Some(_) => false,
    }
}

/// One step of a JSON pointer.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The JSON pointer (RFC 6901) of a path.
fn pointer(path: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in path {
        s.push('/');
        match step {
            Step::Key(k) => s.push_str(&escape_pointer(k)),
            Step::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

/// JavaScript checks `typeof num === "number"` and a range, so `0.0` is as
/// good as `0`.
fn whole_number(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // 2^53: beyond it f64 no longer holds every integer exactly.
    (f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0).then_some(f as u64)
}

/// RFC 6901: `~` is written `~0` and `/` is written `~1`.
fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// One attachment and the input that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Index of the input, counting every call to
    /// [`BinaryAssembler::push_packet`] and [`BinaryAssembler::push_binary`]
    /// from 0.
    pub input: usize,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A packet with its attachments: what the application actually sent.
#[derive(Debug, Clone, PartialEq)]
pub struct LogicalPacket {
    /// The packet as decoded from text.
    pub packet: Packet,
    /// Input index of the packet.
    pub input: usize,
    /// Its attachments, in arrival order (attachment `i` is `num: i`).
    pub attachments: Vec<Attachment>,
    /// Whether every announced attachment arrived (always true for packets
    /// that announce none).
    pub complete: bool,
}

impl LogicalPacket {
    /// A packet handed on without attachments.
    fn alone(packet: Packet, input: usize, complete: bool) -> LogicalPacket {
        LogicalPacket {
            packet,
            input,
            attachments: Vec::new(),
            complete,
        }
    }

    /// The payload with each in-range placeholder replaced by
    /// `{"_binary": "<hex>"}`, for display.
    pub fn reconstruct(&self) -> Option<Value> {
        self.packet
            .data
            .as_ref()
            .map(|data| reconstruct(data, &self.attachments))
    }
}

/// Replaces each placeholder whose `num` indexes `attachments` by
/// `{"_binary": "<hex of the bytes>"}`; others are left as they are.
pub fn reconstruct(data: &Value, attachments: &[Attachment]) -> Value {
    let mut out = data.clone();
    for ph in placeholders(data) {
        let Some(att) = ph
            .num
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| attachments.get(n))
        else {
            continue;
        };
        if let Some(slot) = out.pointer_mut(&ph.path) {
            let mut shown = Map::new();
            shown.insert("_binary".to_owned(), Value::String(hex::encode(&att.bytes)));
            *slot = Value::Object(shown);
        }
    }
    out
}

/// What one input produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assembled {
    /// Logical packets finished by this input, in order: almost always
    /// one, kept inline.
    pub packets: SmallVec<[LogicalPacket; 1]>,
    /// Problems found on this input.
    pub problems: Vec<Problem>,
}

/// A packet still waiting for attachments.
#[derive(Debug, Clone)]
struct Pending {
    packet: Packet,
    input: usize,
    expected: u64,
    attachments: Vec<Attachment>,
}

impl Pending {
    fn finish(self, complete: bool) -> LogicalPacket {
        LogicalPacket {
            packet: self.packet,
            input: self.input,
            attachments: self.attachments,
            complete,
        }
    }
}

/// Pairs binary packets with their attachments, for one direction of one
/// session. Feed it every decoded Socket.IO packet and every binary message,
/// in the order they were seen; it hands back logical packets as they
/// complete. Packets without attachments pass straight through, so its
/// output is the full sequence of what the application sent.
#[derive(Debug, Clone)]
pub struct BinaryAssembler {
    max_attachments: u64,
    pending: Option<Pending>,
    next_input: usize,
}

impl BinaryAssembler {
    /// A new assembler; only [`Limits::max_attachments`] is used.
    pub fn new(limits: &Limits) -> BinaryAssembler {
        BinaryAssembler {
            max_attachments: limits.max_attachments,
            pending: None,
            next_input: 0,
        }
    }

    /// The announced and received attachment counts of the packet being
    /// assembled, if any.
    pub fn awaiting(&self) -> Option<(u64, usize)> {
        self.pending
            .as_ref()
            .map(|p| (p.expected, p.attachments.len()))
    }

    fn take_input(&mut self) -> usize {
        let input = self.next_input;
        self.next_input = self.next_input.saturating_add(1);
        input
    }

    /// Feeds a decoded Socket.IO packet.
    pub fn push_packet(&mut self, packet: Packet) -> Assembled {
        let input = self.take_input();
        let expected = if packet.ptype.is_binary() {
            packet.attachments.unwrap_or(0)
        } else {
            0
        };
        // Almost every packet: nothing waiting, nothing announced, and no
        // object in the payload that could be a placeholder. It passes
        // straight through (the general path below gives the same).
        if self.pending.is_none() && expected == 0 && !may_hold_placeholder(packet.data.as_ref()) {
            let mut out = Assembled::default();
            out.packets.push(LogicalPacket::alone(packet, input, true));
            return out;
        }
        let mut out = self.finish();
        if expected > self.max_attachments {
            // socket.io-parser refuses the header outright, so the binary
            // messages that follow are orphans there too.
            out.problems.push(Problem::TooManyAttachments {
                claimed: expected,
                cap: self.max_attachments,
            });
            out.packets.push(LogicalPacket::alone(packet, input, false));
            return out;
        }
        if let Some(data) = &packet.data {
            for ph in placeholders(data) {
                if ph.num.is_none_or(|n| n >= expected) {
                    out.problems.push(Problem::PlaceholderOutOfRange {
                        path: ph.path,
                        num: ph.num,
                        attachments: expected,
                    });
                }
            }
        }
        let pending = Pending {
            packet,
            input,
            expected,
            attachments: Vec::new(),
        };
        if expected == 0 {
            out.packets.push(pending.finish(true));
        } else {
            self.pending = Some(pending);
        }
        out
    }

    /// Feeds a text message that did not decode as a Socket.IO packet. It
    /// still counts as an input and, like any text message, cuts short a
    /// packet waiting for attachments (socket.io-parser refuses text while
    /// reconstructing).
    pub fn push_undecodable(&mut self) -> Assembled {
        let _ = self.take_input();
        self.finish()
    }

    /// Feeds one binary message (a WebSocket binary frame, or a binary packet
    /// of a polling payload).
    pub fn push_binary(&mut self, bytes: &[u8]) -> Assembled {
        let input = self.take_input();
        let mut out = Assembled::default();
        let Some(pending) = self.pending.as_mut() else {
            out.problems.push(Problem::OrphanAttachment { input });
            return out;
        };
        pending.attachments.push(Attachment {
            input,
            bytes: bytes.to_vec(),
        });
        if pending.attachments.len() as u64 >= pending.expected
            && let Some(done) = self.pending.take()
        {
            out.packets.push(done.finish(true));
        }
        out
    }

    /// Ends the stream: a packet still waiting is handed back incomplete.
    pub fn finish(&mut self) -> Assembled {
        let mut out = Assembled::default();
        if let Some(pending) = self.pending.take() {
            out.problems.push(Problem::MissingAttachments {
                expected: pending.expected,
                received: pending.attachments.len(),
                header_input: pending.input,
            });
            out.packets.push(pending.finish(false));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::socketio::{Protocol, decode};
    use serde_json::json;

    fn dec(text: &str) -> Packet {
        decode(text, Protocol::V5, &Limits::default()).unwrap()
    }

    /// The pass-through shortcut never skips a payload that holds a
    /// placeholder, and does not take the ones that could.
    #[test]
    fn the_shortcut_skips_only_payloads_without_placeholders() {
        for (json, may) in [
            (r#"["chat",1,"x",null,true]"#, false),
            (r#""just a string""#, false),
            ("42", false),
            ("[]", false),
            (r#"["chat",{"_placeholder":true,"num":0}]"#, true),
            (r#"["chat",[{"_placeholder":true,"num":0}]]"#, true),
            (r#"{"_placeholder":true,"num":0}"#, true),
            (r#"["chat",{"n":1}]"#, true),
            (r#"["chat",[1,2]]"#, true),
        ] {
            let v: Value = serde_json::from_str(json).unwrap();
            assert_eq!(may_hold_placeholder(Some(&v)), may, "{json}");
            if !may {
                assert!(placeholders(&v).is_empty(), "{json}");
            }
        }
        assert!(!may_hold_placeholder(None));
        // A placeholder out of range is still reported with the shortcut
        // in place, and a plain packet still passes through at once.
        let mut asm = BinaryAssembler::new(&Limits::default());
        let out = asm.push_packet(dec(r#"2["chat",{"_placeholder":true,"num":0}]"#));
        assert_eq!(out.packets.len(), 1);
        assert!(matches!(
            out.problems.as_slice(),
            [Problem::PlaceholderOutOfRange { num: Some(0), .. }]
        ));
        let out = asm.push_packet(dec(r#"2["chat","hi"]"#));
        assert_eq!((out.packets.len(), out.problems.len()), (1, 0));
        assert_eq!(out.packets[0].input, 1);
        assert!(out.packets[0].complete);
    }

    #[test]
    fn spec_binary_event() {
        // PROTOCOLS.md §5: `451-["upload",{"_placeholder":true,"num":0}]` +
        // one binary message.
        let mut asm = BinaryAssembler::new(&Limits::default());
        let out = asm.push_packet(dec(r#"51-["upload",{"_placeholder":true,"num":0}]"#));
        assert_eq!(out, Assembled::default());
        assert_eq!(asm.awaiting(), Some((1, 0)));
        let out = asm.push_binary(&[1, 2, 3]);
        assert!(out.problems.is_empty());
        let [logical] = out.packets.as_slice() else {
            panic!("{out:?}")
        };
        assert!(logical.complete);
        assert_eq!(logical.input, 0);
        assert_eq!(
            logical.attachments,
            vec![Attachment {
                input: 1,
                bytes: vec![1, 2, 3]
            }]
        );
        assert_eq!(
            logical.reconstruct(),
            Some(json!(["upload", {"_binary": "010203"}]))
        );
        assert_eq!(asm.finish(), Assembled::default());
    }

    #[test]
    fn placeholders_depth_first() {
        // Synthetic: nested placeholders, one with a key needing escaping.
        let v = json!([
            "x",
            {"_placeholder": true, "num": 0},
            {"a/b": [{"_placeholder": true, "num": 1.0}], "c": {"_placeholder": true, "num": -1}}
        ]);
        assert_eq!(
            placeholders(&v),
            vec![
                Placeholder {
                    num: Some(0),
                    path: "/1".into()
                },
                Placeholder {
                    num: Some(1),
                    path: "/2/a~1b/0".into()
                },
                Placeholder {
                    num: None,
                    path: "/2/c".into()
                },
            ]
        );
        let atts = [
            Attachment {
                input: 1,
                bytes: vec![0xab],
            },
            Attachment {
                input: 2,
                bytes: vec![],
            },
        ];
        assert_eq!(
            reconstruct(&v, &atts),
            json!([
                "x",
                {"_binary": "ab"},
                {"a/b": [{"_binary": ""}], "c": {"_placeholder": true, "num": -1}}
            ])
        );
    }

    #[test]
    fn plain_packets_pass_through() {
        let mut asm = BinaryAssembler::new(&Limits::default());
        let out = asm.push_packet(dec(r#"2["chat","hi"]"#));
        assert_eq!(out.packets.len(), 1);
        assert!(out.packets[0].complete && out.problems.is_empty());
    }

    #[test]
    fn missing_attachments() {
        // Synthetic: two announced, one sent, then a text packet.
        let mut asm = BinaryAssembler::new(&Limits::default());
        asm.push_packet(dec(
            r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        ));
        asm.push_binary(&[1]);
        let out = asm.push_packet(dec(r#"2["b"]"#));
        assert_eq!(
            out.problems,
            vec![Problem::MissingAttachments {
                expected: 2,
                received: 1,
                header_input: 0
            }]
        );
        assert_eq!(out.packets.len(), 2);
        assert!(!out.packets[0].complete);
        assert_eq!(
            out.packets[0].reconstruct(),
            Some(json!(["a", {"_binary": "01"}, {"_placeholder": true, "num": 1}]))
        );
        assert!(out.packets[1].complete);
        // The stream ending early is the same problem.
        asm.push_packet(dec(r#"51-["a",{"_placeholder":true,"num":0}]"#));
        let out = asm.finish();
        assert!(matches!(
            out.problems.as_slice(),
            [Problem::MissingAttachments {
                expected: 1,
                received: 0,
                header_input: 3
            }]
        ));
    }

    #[test]
    fn undecodable_text_cuts_attachments_short() {
        let mut asm = BinaryAssembler::new(&Limits::default());
        asm.push_packet(dec(r#"51-["a",{"_placeholder":true,"num":0}]"#));
        let out = asm.push_undecodable();
        assert!(matches!(
            out.problems.as_slice(),
            [Problem::MissingAttachments {
                expected: 1,
                received: 0,
                header_input: 0
            }]
        ));
        assert_eq!(
            asm.push_binary(&[1]).problems,
            vec![Problem::OrphanAttachment { input: 2 }]
        );
    }

    #[test]
    fn orphan_attachment() {
        let mut asm = BinaryAssembler::new(&Limits::default());
        asm.push_packet(dec(r#"2["a"]"#));
        let out = asm.push_binary(&[1]);
        assert_eq!(out.problems, vec![Problem::OrphanAttachment { input: 1 }]);
        assert!(out.packets.is_empty());
    }

    #[test]
    fn placeholder_out_of_range() {
        // Synthetic: num 1 with one attachment, and a non-number num.
        let mut asm = BinaryAssembler::new(&Limits::default());
        let out = asm.push_packet(dec(
            r#"51-["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":"0"}]"#,
        ));
        assert_eq!(
            out.problems,
            vec![
                Problem::PlaceholderOutOfRange {
                    path: "/1".into(),
                    num: Some(1),
                    attachments: 1
                },
                Problem::PlaceholderOutOfRange {
                    path: "/2".into(),
                    num: None,
                    attachments: 1
                },
            ]
        );
    }

    #[test]
    fn too_many_attachments_refused_without_waiting() {
        // Synthetic: a header claiming a billion attachments.
        let mut asm = BinaryAssembler::new(&Limits::default());
        let out = asm.push_packet(dec(r#"51000000000-["a"]"#));
        assert_eq!(
            out.problems,
            vec![Problem::TooManyAttachments {
                claimed: 1_000_000_000,
                cap: 10
            }]
        );
        assert_eq!(out.packets.len(), 1);
        assert!(!out.packets[0].complete);
        assert_eq!(asm.awaiting(), None);
        let out = asm.push_binary(&[1]);
        assert_eq!(out.problems, vec![Problem::OrphanAttachment { input: 1 }]);
        let big = decode(
            &format!("5{}-[\"a\"]", u64::MAX),
            Protocol::V5,
            &Limits::default(),
        )
        .unwrap();
        assert!(matches!(
            asm.push_packet(big).problems.as_slice(),
            [Problem::TooManyAttachments { .. }]
        ));
    }
}
